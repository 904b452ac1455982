/*
 * python_standin.c - a stand-in for Windows' pythonXY.dll, for
 * tools/check_windows_wine.sh: it exports the part of Python's C API that
 * plugin/pyembed.c looks up and says on stdout what it was asked, so that the
 * plugin's search for Python can be run under Wine without a Windows Python.
 * Environment variables steer it down the paths a real Python may take:
 *   STANDIN_VERSION=X.Y.Z   what Py_GetVersion answers (default: the version built for)
 *   STANDIN_INITIALIZED=1   Python is already running, as in a Python host
 *   STANDIN_NO_BRIDGE=1     importing csws._bridge fails
 *   STANDIN_OLD_BRIDGE=1    the bridge's table is of another version
 * Built with -DSTANDIN_WITHOUT_SETPROGRAMNAME it lacks Py_SetProgramName; with
 * -DSTANDIN_NEEDS_DEP it imports a function from standin_dep.dll.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>

#include "bridge.h"

#define EXPORT __declspec(dllexport)

#ifdef STANDIN_NEEDS_DEP
__declspec(dllimport) int standin_dep(void);
#endif

static int initialized;
static csws_api table;
static int object;   /* what every call that returns a PyObject * points to */

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v;
}

static void print_wide(const char *what, const wchar_t *w)
{
    char buf[4 * MAX_PATH];
    if (WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, sizeof buf, NULL, NULL) <= 0)
        strcpy(buf, "(unconvertible)");
    printf("standin: %s %s\n", what, buf);
    fflush(stdout);
}

/* Which file was loaded: the test tells apart the stand-ins by their paths. */
BOOL WINAPI DllMain(HINSTANCE self, DWORD reason, LPVOID reserved)
{
    wchar_t path[MAX_PATH];
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH && GetModuleFileNameW(self, path, MAX_PATH) > 0)
        print_wide("loaded from", path);
    return TRUE;
}

EXPORT int Py_IsInitialized(void)
{
#ifdef STANDIN_NEEDS_DEP
    (void)standin_dep();
#endif
    return initialized || env_set("STANDIN_INITIALIZED");
}

EXPORT void Py_InitializeEx(int signals)
{
    initialized = 1;
    printf("standin: Py_InitializeEx(%d)\n", signals);
    fflush(stdout);
}

EXPORT void *PyEval_SaveThread(void) { return NULL; }
EXPORT int PyGILState_Ensure(void) { return 0; }
EXPORT void PyGILState_Release(int state) { (void)state; }

EXPORT const char *Py_GetVersion(void)
{
    const char *v = getenv("STANDIN_VERSION");
    return v != NULL && *v ? v : CSWS_PY_VERSION ".0 (stand-in)";
}

EXPORT int PyRun_SimpleString(const char *code)
{
    printf("standin: run<<%s>>\n", code);
    fflush(stdout);
    return 0;
}

EXPORT void *PyImport_ImportModule(const char *name)
{
    printf("standin: import %s\n", name);
    fflush(stdout);
    return env_set("STANDIN_NO_BRIDGE") ? NULL : &object;
}

EXPORT void *PyObject_GetAttrString(void *o, const char *name)
{
    (void)o;
    (void)name;
    return &object;
}

EXPORT void *PyCapsule_GetPointer(void *o, const char *name)
{
    (void)o;
    if (strcmp(name, CSWS_CAPSULE_NAME) != 0)
        return NULL;
    table.version = env_set("STANDIN_OLD_BRIDGE") ? CSWS_API_VERSION - 1 : CSWS_API_VERSION;
    return &table;
}

EXPORT void Py_DecRef(void *o) { (void)o; }

EXPORT void PyErr_Print(void)
{
    printf("standin: PyErr_Print\n");
    fflush(stdout);
}

EXPORT wchar_t *Py_DecodeLocale(const char *s, size_t *n)
{
    (void)s;
    if (n != NULL)
        *n = 0;
    return NULL;
}

#ifndef STANDIN_WITHOUT_SETPROGRAMNAME
EXPORT void Py_SetProgramName(const wchar_t *name)
{
    print_wide("program", name);
}
#endif
