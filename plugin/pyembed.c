/*
 * pyembed.c - find the Python interpreter that installed csws and get the
 * bridge's function table from it (see pyembed.h).
 *
 * The Python C API is reached through dlsym() only, so the plugin neither
 * links nor needs the headers of any particular libpython.
 */
#define _GNU_SOURCE 1 /* dladdr, realpath, PATH_MAX */
#include "pyembed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CSWS_PY_VERSION
#error "meson passes CSWS_PY_VERSION, e.g. \"3.11\""
#endif

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#ifdef _WIN32

#include <windows.h>

/* On Windows only a Python host (csws run, ctcsound) is supported. */
const csws_api *csws_python_api(char *err, size_t errlen)
{
    set_err(err, errlen,
            "the stock csound command cannot start Python on Windows; "
            "run the piece with `csws run piece.csd` instead");
    return NULL;
}

#else /* POSIX */

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>
#include <wchar.h>

#ifdef __APPLE__
#define LIBPY_SUFFIXES { ".dylib", NULL }
#else
#define LIBPY_SUFFIXES { ".so.1.0", ".so", NULL }
#endif

typedef void PyObject;

static struct {
    int (*IsInitialized)(void);
    void (*InitializeEx)(int);
    void *(*EvalSaveThread)(void);
    int (*GILStateEnsure)(void);
    void (*GILStateRelease)(int);
    const char *(*GetVersion)(void);
    int (*RunSimpleString)(const char *);
    PyObject *(*ImportModule)(const char *);
    PyObject *(*GetAttrString)(PyObject *, const char *);
    void *(*CapsuleGetPointer)(PyObject *, const char *);
    void (*DecRef)(PyObject *);
    void (*ErrPrint)(void);
    wchar_t *(*DecodeLocale)(const char *, size_t *);
    void (*SetProgramName)(const wchar_t *);
} py;

static const csws_api *api;

static int resolve(void *lib, char *err, size_t errlen)
{
#define SYM(field, name)                                                  \
    if (!(*(void **)&py.field = dlsym(lib, name))) {                      \
        set_err(err, errlen, "libpython lacks %s", name);                 \
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

/* dirname() in place, n times. */
static void up(char *path, int n)
{
    while (n-- > 0) {
        char *slash = strrchr(path, '/');
        if (slash == NULL || slash == path) {
            strcpy(path, "/");
            return;
        }
        *slash = '\0';
    }
}

/* The value of `key = value` in a pyvenv.cfg, or 0 if absent. */
static int read_cfg(const char *cfg, const char *key, char *out, size_t outlen)
{
    FILE *f = fopen(cfg, "r");
    char line[PATH_MAX + 64];
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

/* The first line of a text file, without its line end; 0 if unreadable or empty. */
static int read_line(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    int ok;
    if (f == NULL)
        return 0;
    ok = fgets(out, (int)outlen, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0] != '\0';
}

/*
 * Where things are, worked out from this plugin's own path:
 *   <prefix>/lib/pythonX.Y/site-packages/csws/<plugin>
 * or, for a copy (csws install --copy), from <plugin>.site beside it, which
 * names that site-packages directory.
 * prefix may be a virtual environment (pyvenv.cfg names its base's bin/).
 */
typedef struct {
    char site[PATH_MAX];       /* the site-packages directory holding csws */
    char prefix[PATH_MAX];     /* the environment's prefix */
    char base[PATH_MAX];       /* the base interpreter's prefix */
} places;

static int find_places(places *pl, char *err, size_t errlen)
{
    Dl_info info;
    char cfg[PATH_MAX + 16], home[PATH_MAX];
    if (!dladdr((void *)&csws_python_api, &info) || info.dli_fname == NULL) {
        set_err(err, errlen, "cannot tell where the csws plugin was loaded from");
        return -1;
    }
    snprintf(cfg, sizeof cfg, "%s" CSWS_SITE_SUFFIX, info.dli_fname);
    if (!read_line(cfg, pl->site, sizeof pl->site)) {
        if (realpath(info.dli_fname, pl->site) == NULL)
            snprintf(pl->site, sizeof pl->site, "%s", info.dli_fname);
        up(pl->site, 2);                      /* .../site-packages */
    }
    snprintf(pl->prefix, sizeof pl->prefix, "%s", pl->site);
    up(pl->prefix, 3);                        /* <prefix> */
    snprintf(cfg, sizeof cfg, "%s/pyvenv.cfg", pl->prefix);
    if (read_cfg(cfg, "home", home, sizeof home)) {
        snprintf(pl->base, sizeof pl->base, "%s", home);
        up(pl->base, 1);                      /* <base>/bin -> <base> */
    } else {
        snprintf(pl->base, sizeof pl->base, "%s", pl->prefix);
    }
    return 0;
}

/* dlopen the interpreter that installed csws, by full path where we can. */
static void *open_libpython(const places *pl, char *err, size_t errlen)
{
    static const char *suffixes[] = LIBPY_SUFFIXES;
    const char *env = getenv("CSWS_LIBPYTHON");
    char path[PATH_MAX + 64];
    const char **sfx;
    void *lib;
    if (env && *env) {
        if ((lib = dlopen(env, RTLD_NOW | RTLD_GLOBAL)))
            return lib;
        set_err(err, errlen, "CSWS_LIBPYTHON=%s: %s", env, dlerror());
        return NULL;
    }
    for (sfx = suffixes; *sfx; sfx++) {
        snprintf(path, sizeof path, "%s/lib/libpython" CSWS_PY_VERSION "%s", pl->base, *sfx);
        if (access(path, R_OK) == 0 && (lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL)))
            return lib;
    }
    /* A distribution's python lives in a multiarch directory: ask ld.so. */
    for (sfx = suffixes; *sfx; sfx++) {
        snprintf(path, sizeof path, "libpython" CSWS_PY_VERSION "%s", *sfx);
        if ((lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL)))
            return lib;
    }
    set_err(err, errlen,
            "cannot find libpython" CSWS_PY_VERSION " for the Python at %s "
            "(csws was installed there); set CSWS_LIBPYTHON to its full path, "
            "or run the piece with `csws run`", pl->base);
    return NULL;
}

/*
 * The python executable to name as the program of the libpython in this
 * process, found from where that library lies; 0 if it is the interpreter
 * that installed csws (pl->base), or if its prefix cannot be told.
 *
 * Another build of the same X.Y (Debian's, loaded by Csound's libpy.so or by
 * ld.so's search) must keep its own standard library: pointed at the venv's
 * base, it would load that build's extension modules (_ssl...), which may
 * need symbols it lacks.  csws's site-packages is added to sys.path either way.
 */
static int foreign_program(const places *pl, char *out, size_t outlen)
{
    Dl_info info;
    char lib[PATH_MAX], base[PATH_MAX], landmark[PATH_MAX + 64];
    size_t n;
    int level;
    if (!dladdr((void *)py.GetVersion, &info) || info.dli_fname == NULL
        || realpath(info.dli_fname, lib) == NULL)
        return 0;
    if (realpath(pl->base, base) == NULL)
        snprintf(base, sizeof base, "%s", pl->base);
    n = strlen(base);
    if (strncmp(lib, base, n) == 0 && lib[n] == '/')
        return 0;                                 /* the installing interpreter's own */
    /* <prefix>/lib[/<multiarch>]/libpythonX.Y...: look for the standard library's landmark. */
    for (level = 0; level < 3; level++) {
        up(lib, 1);
        snprintf(landmark, sizeof landmark, "%s/lib/python" CSWS_PY_VERSION "/os.py", lib);
        if (access(landmark, R_OK) == 0) {
            snprintf(out, outlen, "%s/bin/python" CSWS_PY_VERSION, lib);
            return 1;
        }
    }
    return 0;
}

/* Append a Python string literal of s to buf. */
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

const csws_api *csws_python_api(char *err, size_t errlen)
{
    places pl;
    void *lib = RTLD_DEFAULT;
    int started = 0, gil;
    char code[3 * PATH_MAX + 256];
    PyObject *mod, *cap;

    if (api != NULL)
        return api;
    if (find_places(&pl, err, errlen) != 0)
        return NULL;
    if (dlsym(RTLD_DEFAULT, "Py_IsInitialized") == NULL) {
        /* No Python in this process yet (the stock csound command). */
        if ((lib = open_libpython(&pl, err, errlen)) == NULL)
            return NULL;
    }
    if (resolve(lib, err, errlen) != 0)
        return NULL;
    {
        const char *v = py.GetVersion();
        size_t n = strlen(CSWS_PY_VERSION);
        if (strncmp(v, CSWS_PY_VERSION, n) != 0 || (v[n] != '.' && v[n] != ' ')) {
            set_err(err, errlen,
                    "this process already runs Python %.8s (Csound's libpy.so "
                    "plugin loads the system's), but csws was built for Python "
                    CSWS_PY_VERSION "; omit that plugin with "
                    "CS_OMIT_LIBS=libpy,libwebsocketIO, or run the piece with "
                    "`csws run`", v);
            return NULL;
        }
    }
    if (!py.IsInitialized()) {
        /* Point the interpreter at the environment that installed csws so
           that its prefix, standard library and site-packages are right;
           another build of the same version at its own standard library. */
        char exe[PATH_MAX + 32];
        wchar_t *wexe;
        int foreign = foreign_program(&pl, exe, sizeof exe);
        if (!foreign)
            snprintf(exe, sizeof exe, "%s/bin/python" CSWS_PY_VERSION, pl.prefix);
        /* A foreign build finds its prefix from the name even if that binary is not installed. */
        if ((foreign || access(exe, X_OK) == 0) && (wexe = py.DecodeLocale(exe, NULL)))
            py.SetProgramName(wexe);      /* kept: Python keeps the pointer */
        py.InitializeEx(0);               /* 0: Csound keeps its signal handlers */
        py.EvalSaveThread();
        started = 1;
    }
    gil = py.GILStateEnsure();
    snprintf(code, sizeof code, "import sys, site\np = ");
    py_quote(code, sizeof code, pl.site);
    snprintf(code + strlen(code), sizeof code - strlen(code),
             "\nif p not in sys.path:\n    site.addsitedir(p)\n"
             "    sys.path.remove(p)\n    sys.path.insert(0, p)\n");
    py.RunSimpleString(code);
    mod = py.ImportModule("csws._bridge");
    if (mod == NULL) {
        py.ErrPrint();
        set_err(err, errlen, "cannot import csws._bridge from %s (Python %s%s)",
                pl.site, CSWS_PY_VERSION, started ? ", started by the plugin" : "");
    } else {
        cap = py.GetAttrString(mod, "_C_API");
        if (cap != NULL) {
            const csws_api *a = (const csws_api *)py.CapsuleGetPointer(cap, CSWS_CAPSULE_NAME);
            if (a != NULL && a->version == CSWS_API_VERSION)
                api = a;
            py.DecRef(cap);
        }
        if (api == NULL) {
            py.ErrPrint();
            set_err(err, errlen, "csws._bridge at %s does not match this plugin "
                    "(reinstall csound-websocket)", pl.site);
        }
        py.DecRef(mod);
    }
    py.GILStateRelease(gil);
    return api;
}

#endif /* POSIX */
