/*
 * pyembed_posix.c - on Linux and macOS: where csws and the Python that
 * installed it are, and loading that Python (see pyembed_platform.h).
 *
 * Where things are, worked out from this plugin's own path:
 *   <prefix>/lib/pythonX.Y/site-packages/csws/<plugin>
 * or, for a copy (csws install --copy), from <plugin>.site beside it, which
 * names that site-packages directory.
 * prefix may be a virtual environment (pyvenv.cfg names its base's bin/).
 */
#ifndef _WIN32

#define _GNU_SOURCE 1 /* dladdr, realpath, RTLD_DEFAULT, PATH_MAX */
#include "pyembed_platform.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __APPLE__
#define LIBPY_SUFFIXES { ".dylib", NULL }
#else
#define LIBPY_SUFFIXES { ".so.1.0", ".so", NULL }
#endif

void *csws_lib_symbol(void *lib, const char *name)
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

int csws_find_places(csws_places *pl, char *err, size_t errlen)
{
    Dl_info info;
    char cfg[PATH_MAX + 16], home[PATH_MAX];
    if (!dladdr((void *)&csws_python_api, &info) || info.dli_fname == NULL) {
        csws_set_err(err, errlen, "cannot tell where the csws plugin was loaded from");
        return -1;
    }
    snprintf(cfg, sizeof cfg, "%s" CSWS_SITE_SUFFIX, info.dli_fname);
    if (!csws_first_line(fopen(cfg, "r"), pl->site, sizeof pl->site)) {
        if (realpath(info.dli_fname, pl->site) == NULL)
            snprintf(pl->site, sizeof pl->site, "%s", info.dli_fname);
        up(pl->site, 2);                      /* .../site-packages */
    }
    snprintf(pl->prefix, sizeof pl->prefix, "%s", pl->site);
    up(pl->prefix, 3);                        /* <prefix> */
    snprintf(cfg, sizeof cfg, "%s/pyvenv.cfg", pl->prefix);
    if (csws_cfg_value(fopen(cfg, "r"), "home", home, sizeof home)) {
        snprintf(pl->base, sizeof pl->base, "%s", home);
        up(pl->base, 1);                      /* <base>/bin -> <base> */
    } else {
        snprintf(pl->base, sizeof pl->base, "%s", pl->prefix);
    }
    return 0;
}

/* dlopen the interpreter that installed csws, by full path where we can. */
static void *open_libpython(const csws_places *pl, char *err, size_t errlen)
{
    static const char *suffixes[] = LIBPY_SUFFIXES;
    const char *env = getenv("CSWS_LIBPYTHON");
    char path[PATH_MAX + 64];
    const char **sfx;
    void *lib;
    if (env && *env) {
        if ((lib = dlopen(env, RTLD_NOW | RTLD_GLOBAL)))
            return lib;
        csws_set_err(err, errlen, "CSWS_LIBPYTHON=%s: %s", env, dlerror());
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
    csws_set_err(err, errlen,
                 "cannot find libpython" CSWS_PY_VERSION " for the Python at %s "
                 "(csws was installed there); set CSWS_LIBPYTHON to its full path, "
                 "or run the piece with `csws run`", pl->base);
    return NULL;
}

int csws_python_library(const csws_places *pl, void **lib, char *err, size_t errlen)
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
static int foreign_program(const csws_places *pl, char *out, size_t outlen)
{
    Dl_info info;
    char lib[PATH_MAX], base[PATH_MAX], landmark[PATH_MAX + 64];
    size_t n;
    int level;
    if (!dladdr((void *)csws_py.GetVersion, &info) || info.dli_fname == NULL
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
void csws_set_program_name(const csws_places *pl)
{
    char exe[PATH_MAX + 32];
    wchar_t *wexe;
    int foreign = foreign_program(pl, exe, sizeof exe);
    if (!foreign)
        snprintf(exe, sizeof exe, "%s/bin/python" CSWS_PY_VERSION, pl->prefix);
    /* A foreign build finds its prefix from the name even if that binary is not installed. */
    if ((foreign || access(exe, X_OK) == 0) && (wexe = csws_py.DecodeLocale(exe, NULL)))
        csws_py.SetProgramName(wexe); /* kept: Python keeps the pointer */
}

#endif /* !_WIN32 */
