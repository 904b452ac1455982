/*
 * load_plugin.c - plays Csound's part for tools/check_windows_wine.sh: loads
 * a plugin DLL by its full path, as Csound loads plugins, and asks it for
 * csws's bridge, as an opcode's init does, then prints the outcome:
 *   load_plugin.exe [--preload PYTHON_DLL] PLUGIN_DLL
 * --preload loads a Python DLL first, as a Python host (ctcsound) has one.
 * Exits 0 if the plugin got the bridge, 1 with its message if not, 2 if the
 * plugin itself could not be loaded.
 */
#include <stdio.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>

typedef const void *(*python_api_fn)(char *err, size_t errlen);

int wmain(int argc, wchar_t **argv)
{
    HMODULE plugin;
    FARPROC entry;
    python_api_fn python_api;
    char err[4096] = "";
    int i = 1;
    if (argc == 4 && wcscmp(argv[1], L"--preload") == 0) {
        if (LoadLibraryExW(argv[2], NULL, LOAD_WITH_ALTERED_SEARCH_PATH) == NULL) {
            printf("driver: cannot preload (error %lu)\n", (unsigned long)GetLastError());
            return 2;
        }
        i = 3;
    }
    if (argc != i + 1) {
        printf("usage: load_plugin.exe [--preload PYTHON_DLL] PLUGIN_DLL\n");
        return 2;
    }
    plugin = LoadLibraryExW(argv[i], NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
    if (plugin == NULL) {
        printf("driver: cannot load the plugin (error %lu)\n", (unsigned long)GetLastError());
        return 2;
    }
    entry = GetProcAddress(plugin, "csws_wine_python_api");
    if (entry == NULL) {
        printf("driver: the plugin has no csws_wine_python_api\n");
        return 2;
    }
    memcpy(&python_api, &entry, sizeof python_api);
    if (python_api(err, sizeof err) == NULL) {
        printf("driver: error: %s\n", err);
        return 1;
    }
    printf("driver: got the bridge\n");
    return 0;
}
