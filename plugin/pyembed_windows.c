/*
 * pyembed_windows.c - on Windows: where csws and the Python that installed it
 * are, and loading that Python (see pyembed_platform.h).
 *
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
#ifdef _WIN32

#include "pyembed_platform.h"

#include <stdlib.h>
#include <string.h>
#include <windows.h>

void *csws_lib_symbol(void *lib, const char *name)
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

int csws_find_places(csws_places *pl, char *err, size_t errlen)
{
    HMODULE self;
    wchar_t plugin[CSWS_WPATH], side[CSWS_WPATH + 16], site[CSWS_WPATH], cfg[CSWS_WPATH + 16];
    char home[CSWS_SITE_MAX];
    DWORD n;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                            | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR)&csws_python_api, &self)
        || (n = GetModuleFileNameW(self, plugin, CSWS_WPATH)) == 0 || n >= CSWS_WPATH) {
        csws_set_err(err, errlen, "cannot tell where the csws plugin was loaded from");
        return -1;
    }
    if (!(wjoin(side, CSWS_WPATH + 16, plugin, L"" CSWS_SITE_SUFFIX)
          && csws_first_line(_wfopen(side, L"rb"), pl->site, sizeof pl->site)
          && from_utf8(pl->site, site, CSWS_WPATH))) {
        if (!real_path(plugin, site, CSWS_WPATH))
            wcscpy(site, plugin);
        wup(site, 2);                     /* ...\site-packages */
    }
    wtrim(site);
    if (!to_utf8(site, pl->site, sizeof pl->site)) {
        csws_set_err(err, errlen, "the csws plugin's path is too long");
        return -1;
    }
    wcscpy(pl->prefix, site);
    wup(pl->prefix, 2);                   /* <prefix>\Lib\site-packages -> <prefix> */
    if (wjoin(cfg, CSWS_WPATH + 16, pl->prefix, L"\\pyvenv.cfg")
        && csws_cfg_value(_wfopen(cfg, L"rb"), "home", home, sizeof home)
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

int csws_python_library(const csws_places *pl, void **lib, char *err, size_t errlen)
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
        csws_set_err(err, errlen, "CSWS_LIBPYTHON=%s: %s", shown(env, where, sizeof where),
                     win_error(code, why, sizeof why));
        return -1;
    }
    if (!wjoin(path, CSWS_WPATH + 32, pl->base, L"\\") || !wjoin(path, CSWS_WPATH + 32, path, name)
        || !exists(path)) {
        csws_set_err(err, errlen,
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
        csws_set_err(err, errlen,
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
void csws_set_program_name(const csws_places *pl)
{
    static wchar_t exe[CSWS_WPATH + 32];   /* kept: Python keeps the pointer */
    if ((wjoin(exe, CSWS_WPATH + 32, pl->prefix, L"\\Scripts\\python.exe") && exists(exe))
        || (wjoin(exe, CSWS_WPATH + 32, pl->base, L"\\python.exe") && exists(exe)))
        csws_py.SetProgramName(exe);
}

#endif /* _WIN32 */
