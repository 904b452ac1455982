#!/usr/bin/env bash
# Compile and link the plugin for the platforms this machine cannot run, against each Csound
# major's headers, warnings as errors:
#   bash tools/check_cross_compile.sh
# Targets: windows-x86_64 (Debian's MinGW-w64 gcc), macos-arm64 and macos-x86_64 (`zig cc` from
# PyPI's ziglang wheel, at the deployment targets cibuildwheel builds the wheels for: 11.0, 10.13),
# each against Csound 6's headers (Debian's libcsound64-dev, /usr/include/csound;
# CSWS_CSOUND6_INCLUDE=DIR for another DIR/csound) and Csound 7's (.cache/csound7/include, fetched
# as tools/quickstart.sh does when missing; CSWS_CSOUND7_INCLUDE=DIR for another).
# Every plugin/*.c is compiled with meson's flags for the plugin (c11, -O3, hidden visibility) plus
# -Wall -Wextra -Werror, then linked into the plugin's DLL or dylib, so that a symbol that only
# links on Linux (a missing library) fails too; neither is run.
# No Python headers are needed: pyembed*.c reach the Python C API through dlsym/GetProcAddress
# with their own declarations (pyembed_platform.h), and include no Python.h; only
# CSWS_PY_VERSION, the X.Y meson passes, is given (this Python's).
# Installs what is missing: gcc-mingw-w64-x86-64 with apt-get (as root; else says what to
# install), ziglang into .cache/cross-venv (never committed), zig's cache in .cache/zig.
# CSWS_CROSS_INJECT_ERROR=1 compiles a scratch copy of plugin/ with an unused variable added, to
# show that a warning fails the check.
# Prints one line per target and major (`windows-x86_64 csound6: ok`), the compiler's messages
# above a failing one; exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd -P)"
PY="${PYTHON:-python3}"
ZIG_VERSION=0.17.1   # pinned: a new zig may warn anew

declare -A headers=([6]="${CSWS_CSOUND6_INCLUDE:-/usr/include}"
                    [7]="${CSWS_CSOUND7_INCLUDE:-$repo/.cache/csound7/include}")
if [ ! -f "${headers[7]}/csound/csdl.h" ] && [ -z "${CSWS_CSOUND7_INCLUDE:-}" ]; then
  "$PY" tools/csound_headers.py "${headers[7]%/include}" --version 7.0.0 --source pypi
fi
for major in 6 7; do
  if ! grep -Eq "define CS_VERSION +\($major\)" "${headers[$major]}/csound/version.h" 2>/dev/null; then
    echo "check_cross_compile: no Csound $major headers in ${headers[$major]}/csound" \
      "(Csound 6: apt-get install libcsound64-dev; or CSWS_CSOUND${major}_INCLUDE=DIR)" >&2
    exit 1
  fi
done

if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null
  else
    echo "check_cross_compile: needs MinGW-w64: apt-get install gcc-mingw-w64-x86-64" >&2
    exit 1
  fi
fi
venv="$repo/.cache/cross-venv"
if ! "$venv/bin/python" -c "from importlib.metadata import version as v; assert v('ziglang') == '$ZIG_VERSION'" \
     2>/dev/null; then
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q "ziglang==$ZIG_VERSION"
fi
export ZIG_GLOBAL_CACHE_DIR="$repo/.cache/zig" ZIG_LOCAL_CACHE_DIR="$repo/.cache/zig"

work="$(mktemp -d "${TMPDIR:-/tmp}/csws-cross.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Each major's headers alone on the include path: /usr/include itself would hand the cross
# compilers Linux's libc headers.
for major in 6 7; do
  mkdir -p "$work/csound$major"
  ln -s "${headers[$major]}/csound" "$work/csound$major/csound"
done

src="$repo/plugin"
if [ "${CSWS_CROSS_INJECT_ERROR:-0}" = 1 ]; then
  src="$work/plugin"
  mkdir "$src"
  cp "$repo"/plugin/*.c "$repo"/plugin/*.h "$src"/
  printf 'int csws_injected(void) { int unused; return 0; }\n' >>"$src/takeover.c"
fi

pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
common=(-std=c11 -O3 -DNDEBUG -Wall -Wextra -Werror -DUSE_DOUBLE "-DCSWS_PY_VERSION=\"$pyver\""
        -I"$repo/csws")
zig=("$venv/bin/python" -m ziglang cc)

# build TARGET MAJOR: compile every source, then link; the compiler's messages into a log.
build() {
  local target="$1" major="$2" out="$work/$1-$2" cc flags link f
  case "$target" in
    windows-x86_64)
      cc=(x86_64-w64-mingw32-gcc); flags=(); link=(-shared -o "$out/csws_opcodes$major.dll" -lws2_32) ;;
    macos-arm64)
      cc=("${zig[@]}" -target aarch64-macos.11.0); flags=(-fPIC -fvisibility=hidden)
      link=(-shared -o "$out/libcsws_opcodes$major.dylib") ;;
    macos-x86_64)
      cc=("${zig[@]}" -target x86_64-macos.10.13); flags=(-fPIC -fvisibility=hidden)
      link=(-shared -o "$out/libcsws_opcodes$major.dylib") ;;
  esac
  mkdir "$out"
  for f in "$src"/*.c; do
    "${cc[@]}" "${common[@]}" "${flags[@]}" -I"$work/csound$major" -c "$f" \
      -o "$out/$(basename "$f" .c).o" || return 1
  done
  # -lws2_32 (send) comes after the objects, where GNU ld looks for what they need.
  "${cc[@]}" "$out"/*.o "${link[@]}"
}

# All at once (each in its own directory), reported in order.
pids=()
for target in windows-x86_64 macos-arm64 macos-x86_64; do
  for major in 6 7; do
    build "$target" "$major" >"$work/$target-$major.log" 2>&1 &
    pids+=("$!")
  done
done
failed=0
i=0
for target in windows-x86_64 macos-arm64 macos-x86_64; do
  for major in 6 7; do
    if wait "${pids[i]}"; then
      echo "$target csound$major: ok"
    else
      cat "$work/$target-$major.log"
      echo "$target csound$major: FAILED"
      failed=1
    fi
    i=$((i + 1))
  done
done
exit "$failed"
