/*
 * pyembed.c - find the Python interpreter that installed csws and get the
 * bridge's function table from it (see pyembed.h).
 *
 * The Python C API is reached through dlsym() / GetProcAddress() only, so
 * the plugin neither links nor needs the headers of any particular libpython.
 *
 * Each platform section below provides the same four things: a `places`
 * record (with `site`, csws's site-packages directory as the bytes Python
 * reads in a string literal), find_places(), python_library() (the
 * interpreter already in the process, else the one that installed csws) and
 * set_program_name().  Starting Python, importing the bridge and checking it
 * are written once, at the end.
 */
#define _GNU_SOURCE 1 /* dladdr, realpath, PATH_MAX */
#include "pyembed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#ifndef CSWS_PY_VERSION
#error "meson passes CSWS_PY_VERSION, e.g. \"3.11\""
#endif

#ifdef _WIN32
#include <windows.h>
#define CSWS_WPATH 2048                  /* UTF-16 units of a path we handle */
#define CSWS_SITE_MAX (3 * CSWS_WPATH)   /* UTF-8 bytes of such a path, at most */
#else
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>
#define CSWS_SITE_MAX PATH_MAX
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

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The value of `key = value` in a pyvenv.cfg, or 0 if absent.  Takes f (NULL:
   no such file) and closes it. */
static int cfg_value(FILE *f, const char *key, char *out, size_t outlen)
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

/* The first line of a text file, without its line end (or a UTF-8 byte order
   mark, which Windows editors add); 0 if unreadable or empty.  Takes f (NULL:
   no such file) and closes it. */
static int first_line(FILE *f, char *out, size_t outlen)
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

#ifdef _WIN32

/*
 * Where things are, worked out from this plugin's own path:
 *   <prefix>\Lib\site-packages\csws\<plugin>.dll
 * or, for a copy (csws install --copy), from <plugin>.dll.site beside it,
 * which names that site-packages directory.  prefix may be a virtual
 * environment, whose pyvenv.cfg `home` is the directory of the base
 * interpreter's python.exe and pythonXY.dll.
 *
 * Paths are UTF-16 throughout (user profiles' names are often not ASCII);
 * only `site`, for Python, and error messages are UTF-8.
 */
typedef struct {
    wchar_t prefix[CSWS_WPATH];   /* the environment's prefix */
    wchar_t base[CSWS_WPATH];     /* the base interpreter's directory */
    char site[CSWS_SITE_MAX];     /* the site-packages directory holding csws, UTF-8 */
} places;

static void *lib_symbol(void *lib, const char *name)
{
    FARPROC f = GetProcAddress((HMODULE)lib, name);
    void *p;
    memcpy(&p, &f, sizeof p);   /* a function pointer as data, without a cast warning */
    return p;
}

static int to_utf8(const wchar_t *w, char *out, size_t outlen)
{
    if (WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)outlen, NULL, NULL) > 0)
        return 1;
    out[0] = '\0';
    return 0;
}

static int from_utf8(const char *s, wchar_t *out, size_t outlen)
{
    return MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out, (int)outlen) > 0;
}

/* A path for an error message. */
static const char *shown(const wchar_t *w, char *buf, size_t buflen)
{
    return to_utf8(w, buf, buflen) ? buf : "(a path not shown)";
}

/* The system's words for an error code, e.g. "The specified module could
   not be found (error 126)". */
static const char *win_error(DWORD code, char *out, size_t outlen)
{
    wchar_t msg[256];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                             code, 0, msg, sizeof msg / sizeof *msg, NULL);
    char text[768];
    while (n > 0 && (msg[n - 1] == L'\r' || msg[n - 1] == L'\n' || msg[n - 1] == L' '
                     || msg[n - 1] == L'.'))
        msg[--n] = L'\0';
    if (n > 0 && to_utf8(msg, text, sizeof text))
        snprintf(out, outlen, "%s (error %lu)", text, (unsigned long)code);
    else
        snprintf(out, outlen, "error %lu", (unsigned long)code);
    return out;
}

/* out = a + b; 0 if it does not fit.  out may be a. */
static int wjoin(wchar_t *out, size_t outlen, const wchar_t *a, const wchar_t *b)
{
    size_t na = wcslen(a), nb = wcslen(b);
    if (na + nb + 1 > outlen)
        return 0;
    memmove(out, a, na * sizeof *out);
    memcpy(out + na, b, (nb + 1) * sizeof *out);
    return 1;
}

static int is_sep(wchar_t c) { return c == L'\\' || c == L'/'; }

/* dirname() in place, n times. */
static void wup(wchar_t *path, int n)
{
    while (n-- > 0) {
        wchar_t *sep = NULL, *c;
        for (c = path; *c; c++)
            if (is_sep(*c))
                sep = c;
        if (sep == NULL || sep == path)
            return;
        *sep = L'\0';
    }
}

/* A directory named by hand may end in a separator: drop it (not a root's). */
static void wtrim(wchar_t *path)
{
    size_t n = wcslen(path);
    while (n > 3 && is_sep(path[n - 1]))
        path[--n] = L'\0';
}

static int exists(const wchar_t *path)
{
    return GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES;
}

/* The file's path through symbolic links (csws install links the plugin where
   Windows lets it), without the \\?\ prefix; 0 if it cannot be told. */
static int real_path(const wchar_t *path, wchar_t *out, size_t outlen)
{
    HANDLE h = CreateFileW(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    DWORD n;
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    n = GetFinalPathNameByHandleW(h, out, (DWORD)outlen, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
    CloseHandle(h);
    if (n == 0 || n >= outlen)
        return 0;
    if (wcsncmp(out, L"\\\\?\\UNC\\", 8) == 0)            /* \\?\UNC\srv\share -> \\srv\share */
        memmove(out + 2, out + 8, (n - 8 + 1) * sizeof *out);
    else if (wcsncmp(out, L"\\\\?\\", 4) == 0)            /* \\?\C:\... -> C:\... */
        memmove(out, out + 4, (n - 4 + 1) * sizeof *out);
    return 1;
}

static int find_places(places *pl, char *err, size_t errlen)
{
    HMODULE self;
    wchar_t plugin[CSWS_WPATH], side[CSWS_WPATH + 16], site[CSWS_WPATH], cfg[CSWS_WPATH + 16];
    char home[CSWS_SITE_MAX];
    DWORD n;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                            | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR)&csws_python_api, &self)
        || (n = GetModuleFileNameW(self, plugin, CSWS_WPATH)) == 0 || n >= CSWS_WPATH) {
        set_err(err, errlen, "cannot tell where the csws plugin was loaded from");
        return -1;
    }
    if (!(wjoin(side, CSWS_WPATH + 16, plugin, L"" CSWS_SITE_SUFFIX)
          && first_line(_wfopen(side, L"rb"), pl->site, sizeof pl->site)
          && from_utf8(pl->site, site, CSWS_WPATH))) {
        if (!real_path(plugin, site, CSWS_WPATH))
            wcscpy(site, plugin);
        wup(site, 2);                     /* ...\site-packages */
    }
    wtrim(site);
    if (!to_utf8(site, pl->site, sizeof pl->site)) {
        set_err(err, errlen, "the csws plugin's path is too long");
        return -1;
    }
    wcscpy(pl->prefix, site);
    wup(pl->prefix, 2);                   /* <prefix>\Lib\site-packages -> <prefix> */
    if (wjoin(cfg, CSWS_WPATH + 16, pl->prefix, L"\\pyvenv.cfg")
        && cfg_value(_wfopen(cfg, L"rb"), "home", home, sizeof home)
        && from_utf8(home, pl->base, CSWS_WPATH))
        wtrim(pl->base);                  /* home is the base's own directory */
    else
        wcscpy(pl->base, pl->prefix);
    return 0;
}

/* "3.11" -> L"python311.dll", the name of that version's DLL. */
static void python_dll(wchar_t out[32])
{
    const char *v = CSWS_PY_VERSION;
    wchar_t *p = out + 6;
    wcscpy(out, L"python");
    for (; *v && p < out + 24; v++)
        if (*v != '.')
            *p++ = (wchar_t)*v;
    wcscpy(p, L".dll");
}

static int python_library(const places *pl, void **lib, char *err, size_t errlen)
{
    const wchar_t *env = _wgetenv(L"CSWS_LIBPYTHON");
    wchar_t name[32], path[CSWS_WPATH + 32];
    char name8[32], where[CSWS_SITE_MAX], why[CSWS_SITE_MAX];
    HMODULE h;
    DWORD code;
    python_dll(name);
    to_utf8(name, name8, sizeof name8);
    /* A Python host (csws run, ctcsound): use its interpreter. */
    if ((h = GetModuleHandleW(name)) != NULL) {
        *lib = h;
        return 0;
    }
    if (env != NULL && *env) {
        /* ALTERED_SEARCH_PATH wants a full path: it finds the DLL's own
           dependencies (vcruntime140.dll) in its directory. */
        DWORD n = GetFullPathNameW(env, CSWS_WPATH + 32, path, NULL);
        if (n > 0 && n < CSWS_WPATH + 32
            && (h = LoadLibraryExW(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH)) != NULL) {
            *lib = h;
            return 0;
        }
        code = GetLastError();
        set_err(err, errlen, "CSWS_LIBPYTHON=%s: %s", shown(env, where, sizeof where),
                win_error(code, why, sizeof why));
        return -1;
    }
    if (!wjoin(path, CSWS_WPATH + 32, pl->base, L"\\") || !wjoin(path, CSWS_WPATH + 32, path, name)
        || !exists(path)) {
        set_err(err, errlen,
                "cannot find %s for the Python at %s (csws was installed there; looked "
                "for %s); set CSWS_LIBPYTHON to the full path of Python " CSWS_PY_VERSION
                "'s %s, or run the piece with `csws run`", name8,
                shown(pl->base, where, sizeof where), shown(path, why, sizeof why), name8);
        return -1;
    }
    if ((h = LoadLibraryExW(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH)) == NULL) {
        code = GetLastError();
        if (code == ERROR_MOD_NOT_FOUND)  /* the file is there: a DLL it needs is not */
            snprintf(why, sizeof why, "a DLL it needs (vcruntime140.dll?) was not found "
                     "beside it or on PATH (error 126)");
        else
            win_error(code, why, sizeof why);
        set_err(err, errlen,
                "cannot load %s: %s; set CSWS_LIBPYTHON to the full path of another "
                "Python " CSWS_PY_VERSION "'s %s, or run the piece with `csws run`",
                shown(path, where, sizeof where), why, name8);
        return -1;
    }
    *lib = h;
    return 0;
}

/*
 * The program Python takes itself to be decides its prefix: a venv's
 * Scripts\python.exe makes it read pyvenv.cfg (sys.prefix = the venv, the
 * base's standard library); else the base's python.exe.  The standard library
 * itself is found beside the DLL that was loaded, so another build keeps its own.
 */
static void set_program_name(const places *pl)
{
    static wchar_t exe[CSWS_WPATH + 32];   /* kept: Python keeps the pointer */
    if ((wjoin(exe, CSWS_WPATH + 32, pl->prefix, L"\\Scripts\\python.exe") && exists(exe))
        || (wjoin(exe, CSWS_WPATH + 32, pl->base, L"\\python.exe") && exists(exe)))
        py.SetProgramName(exe);
}

#else /* POSIX */

#ifdef __APPLE__
#define LIBPY_SUFFIXES { ".dylib", NULL }
#else
#define LIBPY_SUFFIXES { ".so.1.0", ".so", NULL }
#endif

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

static void *lib_symbol(void *lib, const char *name)
{
    return dlsym(lib, name);
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

static int find_places(places *pl, char *err, size_t errlen)
{
    Dl_info info;
    char cfg[PATH_MAX + 16], home[PATH_MAX];
    if (!dladdr((void *)&csws_python_api, &info) || info.dli_fname == NULL) {
        set_err(err, errlen, "cannot tell where the csws plugin was loaded from");
        return -1;
    }
    snprintf(cfg, sizeof cfg, "%s" CSWS_SITE_SUFFIX, info.dli_fname);
    if (!first_line(fopen(cfg, "r"), pl->site, sizeof pl->site)) {
        if (realpath(info.dli_fname, pl->site) == NULL)
            snprintf(pl->site, sizeof pl->site, "%s", info.dli_fname);
        up(pl->site, 2);                      /* .../site-packages */
    }
    snprintf(pl->prefix, sizeof pl->prefix, "%s", pl->site);
    up(pl->prefix, 3);                        /* <prefix> */
    snprintf(cfg, sizeof cfg, "%s/pyvenv.cfg", pl->prefix);
    if (cfg_value(fopen(cfg, "r"), "home", home, sizeof home)) {
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

static int python_library(const places *pl, void **lib, char *err, size_t errlen)
{
    if (dlsym(RTLD_DEFAULT, "Py_IsInitialized") != NULL) {
        *lib = RTLD_DEFAULT;      /* a Python host, or Csound's libpy.so brought one */
        return 0;
    }
    /* No Python in this process yet (the stock csound command). */
    return (*lib = open_libpython(pl, err, errlen)) != NULL ? 0 : -1;
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

/* Point the interpreter at the environment that installed csws so that its
   prefix, standard library and site-packages are right; another build of
   the same version at its own standard library. */
static void set_program_name(const places *pl)
{
    char exe[PATH_MAX + 32];
    wchar_t *wexe;
    int foreign = foreign_program(pl, exe, sizeof exe);
    if (!foreign)
        snprintf(exe, sizeof exe, "%s/bin/python" CSWS_PY_VERSION, pl->prefix);
    /* A foreign build finds its prefix from the name even if that binary is not installed. */
    if ((foreign || access(exe, X_OK) == 0) && (wexe = py.DecodeLocale(exe, NULL)))
        py.SetProgramName(wexe);      /* kept: Python keeps the pointer */
}

#endif /* POSIX */

/* ---- the same on every platform ---- */

static int resolve(void *lib, char *err, size_t errlen)
{
#define SYM(field, name)                                                  \
    if (!(*(void **)&py.field = lib_symbol(lib, name))) {                 \
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

/* The bridge is compiled for one X.Y: a Python of another cannot import it. */
static int check_version(char *err, size_t errlen)
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
    int gil = py.GILStateEnsure();
    snprintf(code, sizeof code, "import sys, site\np = ");
    py_quote(code, sizeof code, site);
    snprintf(code + strlen(code), sizeof code - strlen(code),
             "\nif p not in sys.path:\n    site.addsitedir(p)\n"
             "    sys.path.remove(p)\n    sys.path.insert(0, p)\n");
    py.RunSimpleString(code);
    mod = py.ImportModule("csws._bridge");
    if (mod == NULL) {
        py.ErrPrint();
        set_err(err, errlen, "cannot import csws._bridge from %s (Python %s%s)",
                site, CSWS_PY_VERSION, started ? ", started by the plugin" : "");
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
                    "(reinstall csound-websocket)", site);
        }
        py.DecRef(mod);
    }
    py.GILStateRelease(gil);
    return api;
}

const csws_api *csws_python_api(char *err, size_t errlen)
{
    places pl;
    void *lib;
    int started = 0;
    if (api != NULL)
        return api;
    if (find_places(&pl, err, errlen) != 0 || python_library(&pl, &lib, err, errlen) != 0
        || resolve(lib, err, errlen) != 0 || check_version(err, errlen) != 0)
        return NULL;
    if (!py.IsInitialized()) {
        set_program_name(&pl);
        py.InitializeEx(0);               /* 0: Csound keeps its signal handlers */
        py.EvalSaveThread();
        started = 1;
    }
    return import_bridge(pl.site, started, err, errlen);
}
