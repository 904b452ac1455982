/*
 * pyembed_platform.h - between pyembed.c (starting Python, importing the
 * bridge and checking it, the same everywhere) and the file for this
 * platform, pyembed_posix.c or pyembed_windows.c (where csws and its Python
 * are, and loading that Python).
 */
#ifndef CSWS_PYEMBED_PLATFORM_H
#define CSWS_PYEMBED_PLATFORM_H

#include <stddef.h>
#include <stdio.h>
#include <wchar.h>
#include "pyembed.h"

#ifndef CSWS_PY_VERSION
#error "meson passes CSWS_PY_VERSION, e.g. \"3.11\""
#endif

#ifdef _WIN32
#define CSWS_WPATH 2048                  /* UTF-16 units of a path we handle */
#define CSWS_SITE_MAX (3 * CSWS_WPATH)   /* UTF-8 bytes of such a path, at most */
#else
#include <limits.h>
#define CSWS_SITE_MAX PATH_MAX
#endif

/* Where csws and the Python that installed it are (each platform's file
   says how it finds them). */
typedef struct {
    char site[CSWS_SITE_MAX];      /* the site-packages directory holding csws, as
                                      the bytes Python reads in a string literal */
#ifdef _WIN32
    wchar_t prefix[CSWS_WPATH];    /* the environment's prefix, UTF-16 */
    wchar_t base[CSWS_WPATH];      /* the base interpreter's directory, UTF-16 */
#else
    char prefix[PATH_MAX];         /* the environment's prefix */
    char base[PATH_MAX];           /* the base interpreter's prefix */
#endif
} csws_places;

/* ---- each platform's file provides ---- */

int csws_find_places(csws_places *pl, char *err, size_t errlen);
/* The interpreter already in the process, else the one that installed csws. */
int csws_python_library(const csws_places *pl, void **lib, char *err, size_t errlen);
void *csws_lib_symbol(void *lib, const char *name);
/* Before Python starts: the program it takes itself to be decides its prefix. */
void csws_set_program_name(const csws_places *pl);

/* ---- pyembed.c provides ---- */

typedef void PyObject;

/* The Python C API, from the library csws_python_library() found. */
typedef struct {
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
} csws_python;

extern csws_python csws_py;

void csws_set_err(char *err, size_t errlen, const char *fmt, ...);
/* The value of `key = value` in a pyvenv.cfg, or 0 if absent.  Takes f (NULL:
   no such file) and closes it. */
int csws_cfg_value(FILE *f, const char *key, char *out, size_t outlen);
/* The first line of a text file, without its line end (or a UTF-8 byte order
   mark, which Windows editors add); 0 if unreadable or empty.  Takes f (NULL:
   no such file) and closes it. */
int csws_first_line(FILE *f, char *out, size_t outlen);

#endif /* CSWS_PYEMBED_PLATFORM_H */
