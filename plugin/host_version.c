/*
 * host_version.c - see host_version.h.  The library that asks is found from
 * the caller's address (dladdr; on Windows GetModuleHandleEx), so this works
 * whether the host loaded libcsound globally (the csound command) or
 * privately (ctypes, ctcsound).
 */
#define _GNU_SOURCE 1 /* dladdr */
#include "host_version.h"

#include <stdio.h>
#include <string.h>

static void say(int major, int version)
{
    if (version <= 0 || version / 1000 == major)
        return;
    fprintf(stderr,
            "csws: this is csound-websocket's plugin for Csound %d, and Csound %d.%d "
            "cannot load it: give --opcode-lib=\"$(csws plugin-path --csound %d)\" "
            "(or run the piece with `csws run --csound %d`).  Until then a `websocket` "
            "in the piece is another library's, if Csound has one (Debian's websocketIO, "
            "which hangs at the end of the performance), or none\n",
            major, version / 1000, (version / 10) % 100, version / 1000, version / 1000);
    fflush(stderr);
}

#ifdef _WIN32

#include <windows.h>

void csws_check_host_major(void *caller, int major)
{
    HMODULE lib;
    FARPROC fn;
    int (*get_version)(void);
    if (caller == NULL
        || !GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                               | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                               (LPCWSTR)caller, &lib)
        || (fn = GetProcAddress(lib, "csoundGetVersion")) == NULL)
        return;
    memcpy(&get_version, &fn, sizeof get_version);   /* without a cast warning */
    say(major, get_version());
}

void csws_library_path(void *address, char *out, size_t n)
{
    HMODULE lib;
    out[0] = '\0';
    if (address != NULL
        && GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                              | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                              (LPCSTR)address, &lib)
        && GetModuleFileNameA(lib, out, (DWORD)n) >= n)
        out[0] = '\0';   /* cut short: no use */
}

#else

#include <dlfcn.h>

void csws_check_host_major(void *caller, int major)
{
    Dl_info info;
    void *lib;
    int (*get_version)(void);
    int version;
    if (caller == NULL || !dladdr(caller, &info) || info.dli_fname == NULL)
        return;
    lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (lib == NULL)
        return;
    *(void **)&get_version = dlsym(lib, "csoundGetVersion");
    version = get_version ? get_version() : 0;
    dlclose(lib);
    say(major, version);
}

void csws_library_path(void *address, char *out, size_t n)
{
    Dl_info info;
    out[0] = '\0';
    if (address != NULL && dladdr(address, &info) && info.dli_fname != NULL
        && (size_t)snprintf(out, n, "%s", info.dli_fname) >= n)
        out[0] = '\0';
}

#endif
