/*
 * pyembed.c - find the Python interpreter that installed csws and get the
 * bridge's function table from it (see pyembed.h).
 *
 * The Python C API is reached through dlsym() / GetProcAddress() only, so
 * the plugin neither links nor needs the headers of any particular libpython.
 *
 * Where csws and that Python are, and loading it, differ by platform:
 * pyembed_posix.c and pyembed_windows.c (pyembed_platform.h says what each
 * provides).  Starting Python, importing the bridge and checking it are here,
 * written once.
 */
#define _GNU_SOURCE 1 /* PATH_MAX */
#include "pyembed_platform.h"

#include <stdarg.h>
#include <string.h>

csws_python csws_py;

static const csws_api *api;

void csws_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int csws_cfg_value(FILE *f, const char *key, char *out, size_t outlen)
{
    char line[CSWS_SITE_MAX + 64];
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        char *k = line, *v, *end;
        if (eq == NULL)
            continue;
        *eq = '\0';
        while (*k == ' ' || *k == '\t') k++;
        end = k + strlen(k);
        while (end > k && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
        if (strcmp(k, key) != 0)
            continue;
        v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        end = v + strlen(v);
        while (end > v && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) *--end = '\0';
        snprintf(out, outlen, "%s", v);
        found = 1;
    }
    fclose(f);
    return found;
}

int csws_first_line(FILE *f, char *out, size_t outlen)
{
    int ok;
    if (f == NULL)
        return 0;
    ok = fgets(out, (int)outlen, f) != NULL;
    fclose(f);
    if (!ok)
        return 0;
    if (strncmp(out, "\xEF\xBB\xBF", 3) == 0)
        memmove(out, out + 3, strlen(out + 3) + 1);
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] != '\0';
}

static int resolve(void *lib, char *err, size_t errlen)
{
#define SYM(field, name)                                                  \
    if (!(*(void **)&csws_py.field = csws_lib_symbol(lib, name))) {       \
        csws_set_err(err, errlen, "libpython lacks %s", name);            \
        return -1;                                                        \
    }
    SYM(IsInitialized, "Py_IsInitialized")
    SYM(InitializeEx, "Py_InitializeEx")
    SYM(EvalSaveThread, "PyEval_SaveThread")
    SYM(GILStateEnsure, "PyGILState_Ensure")
    SYM(GILStateRelease, "PyGILState_Release")
    SYM(GetVersion, "Py_GetVersion")
    SYM(RunSimpleString, "PyRun_SimpleString")
    SYM(ImportModule, "PyImport_ImportModule")
    SYM(GetAttrString, "PyObject_GetAttrString")
    SYM(CapsuleGetPointer, "PyCapsule_GetPointer")
    SYM(DecRef, "Py_DecRef")
    SYM(ErrPrint, "PyErr_Print")
    SYM(DecodeLocale, "Py_DecodeLocale")
    SYM(SetProgramName, "Py_SetProgramName")
#undef SYM
    return 0;
}

/* The bridge is compiled for one X.Y: a Python of another cannot import it. */
static int check_version(char *err, size_t errlen)
{
    const char *v = csws_py.GetVersion();
    size_t n = strlen(CSWS_PY_VERSION);
    if (strncmp(v, CSWS_PY_VERSION, n) != 0 || (v[n] != '.' && v[n] != ' ')) {
        csws_set_err(err, errlen,
                     "this process already runs Python %.8s (Csound's libpy.so "
                     "plugin loads the system's), but csws was built for Python "
                     CSWS_PY_VERSION "; omit that plugin with "
                     "CS_OMIT_LIBS=libpy,libwebsocketIO, or run the piece with "
                     "`csws run`", v);
        return -1;
    }
    return 0;
}

/* Append a Python string literal of s to buf (at most doubling s). */
static void py_quote(char *buf, size_t buflen, const char *s)
{
    size_t n = strlen(buf);
    if (n + 2 >= buflen)
        return;
    buf[n++] = '\'';
    for (; *s && n + 4 < buflen; s++) {
        if (*s == '\\' || *s == '\'')
            buf[n++] = '\\';
        buf[n++] = *s;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
}

/* With Python running: put site first on sys.path (with its .pth files),
   import the bridge and take its table. */
static const csws_api *import_bridge(const char *site, int started, char *err, size_t errlen)
{
    char code[2 * CSWS_SITE_MAX + 256];
    PyObject *mod, *cap;
    int gil = csws_py.GILStateEnsure();
    snprintf(code, sizeof code, "import sys, site\np = ");
    py_quote(code, sizeof code, site);
    snprintf(code + strlen(code), sizeof code - strlen(code),
             "\nif p not in sys.path:\n    site.addsitedir(p)\n"
             "    sys.path.remove(p)\n    sys.path.insert(0, p)\n");
    csws_py.RunSimpleString(code);
    mod = csws_py.ImportModule("csws._bridge");
    if (mod == NULL) {
        csws_py.ErrPrint();
        csws_set_err(err, errlen, "cannot import csws._bridge from %s (Python %s%s)",
                     site, CSWS_PY_VERSION, started ? ", started by the plugin" : "");
    } else {
        cap = csws_py.GetAttrString(mod, "_C_API");
        if (cap != NULL) {
            const csws_api *a = (const csws_api *)csws_py.CapsuleGetPointer(cap, CSWS_CAPSULE_NAME);
            if (a != NULL && a->version == CSWS_API_VERSION)
                api = a;
            csws_py.DecRef(cap);
        }
        if (api == NULL) {
            csws_py.ErrPrint();
            csws_set_err(err, errlen, "csws._bridge at %s does not match this plugin "
                         "(reinstall csound-websocket)", site);
        }
        csws_py.DecRef(mod);
    }
    csws_py.GILStateRelease(gil);
    return api;
}

const csws_api *csws_python_api(char *err, size_t errlen)
{
    csws_places pl;
    void *lib;
    int started = 0;
    if (api != NULL)
        return api;
    if (csws_find_places(&pl, err, errlen) != 0 || csws_python_library(&pl, &lib, err, errlen) != 0
        || resolve(lib, err, errlen) != 0 || check_version(err, errlen) != 0)
        return NULL;
    if (!csws_py.IsInitialized()) {
        csws_set_program_name(&pl);
        csws_py.InitializeEx(0);          /* 0: Csound keeps its signal handlers */
        csws_py.EvalSaveThread();
        started = 1;
    }
    return import_bridge(pl.site, started, err, errlen);
}
