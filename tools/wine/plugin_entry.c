/* plugin_entry.c - linked with plugin/pyembed.c and plugin/pyembed_windows.c
   into a DLL named as the plugin, for tools/check_windows_wine.sh: it exports
   the call an opcode's init makes (csws_python_api), so that load_plugin.exe
   needs no Csound to make it. */
#include "pyembed.h"

__declspec(dllexport) const csws_api *csws_wine_python_api(char *err, size_t errlen)
{
    return csws_python_api(err, errlen);
}
