#!/usr/bin/env bash
# Run the Windows branch of the plugin's search for Python (plugin/pyembed.c with
# plugin/pyembed_windows.c) under Wine, since this machine has no Windows:
#   bash tools/check_windows_wine.sh             build, then run tests/test_windows_wine.py
#   bash tools/check_windows_wine.sh build DIR   only build, into DIR (what the test does)
# Built with Debian's MinGW-w64 (-Wall -Wextra -Werror), from tools/wine/:
#   csws_opcodes6.dll   pyembed.c + pyembed_windows.c + plugin_entry.c, which exports the call an
#                       opcode's init makes; the rest of the plugin needs a Csound, which Wine lacks
#   load_plugin.exe     plays Csound's part: loads that DLL by full path and asks it for the bridge
#   python311.dll       a stand-in for Python's DLL (python_standin.c) exporting what pyembed looks
#                       up; nolib/ and needsdep/ hold variants without Py_SetProgramName, and
#                       needing a DLL (standin_dep.dll) that is left out.
# No Python or Csound for Windows is involved. Installs what is missing with apt-get (as root):
# MinGW-w64 and Debian's wine (wine64). Wine's prefix is .cache/wine (made on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd -P)"
PY="${PYTHON:-python3}"
PY_VERSION=3.11   # the stand-in's version, and so its name: python311.dll

need=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v wine >/dev/null || need+=(wine wine64)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "check_windows_wine: needs: apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

build() {
  local out="$1" cc=(x86_64-w64-mingw32-gcc -std=c11 -O2 -Wall -Wextra -Werror -DUSE_DOUBLE
                     "-DCSWS_PY_VERSION=\"$PY_VERSION\"" -I"$repo/plugin" -I"$repo/csws")
  local w="$repo/tools/wine"
  mkdir -p "$out/nolib" "$out/needsdep"
  "${cc[@]}" -shared -o "$out/csws_opcodes6.dll" "$repo/plugin/pyembed.c" "$repo/plugin/pyembed_windows.c" \
    "$w/plugin_entry.c"
  "${cc[@]}" -municode -o "$out/load_plugin.exe" "$w/load_plugin.c"
  "${cc[@]}" -shared -o "$out/python311.dll" "$w/python_standin.c"
  "${cc[@]}" -shared -DSTANDIN_WITHOUT_SETPROGRAMNAME -o "$out/nolib/python311.dll" "$w/python_standin.c"
  "${cc[@]}" -shared -o "$out/needsdep/standin_dep.dll" -Wl,--out-implib,"$out/needsdep/libstandin_dep.a" \
    "$w/standin_dep.c"
  "${cc[@]}" -shared -DSTANDIN_NEEDS_DEP -o "$out/needsdep/python311.dll" "$w/python_standin.c" \
    -L"$out/needsdep" -lstandin_dep
  rm "$out/needsdep/standin_dep.dll" "$out/needsdep/libstandin_dep.a"
}

if [ "${1:-}" = build ]; then
  build "$2"
  exit 0
fi
if [ -x .venv/bin/python ]; then PY="$repo/.venv/bin/python"; fi
cd tests
exec "$PY" -m pytest -p no:cacheprovider -q test_windows_wine.py
