#!/usr/bin/env bash
# Set up csound-websocket on a fresh Debian machine, then run the demo or the tests.
#   bash tools/quickstart.sh demo    # install, then run the demo (Ctrl-C stops it)
#   bash tools/quickstart.sh test    # install, then run the test suite
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(csound libcsound64-dev csound-plugins pkg-config gcc python3-venv python3-dev)
[ "$what" = test ] && packages+=(chromium binutils libcsnd-dev git valgrind gcc-aarch64-linux-gnu libc6-dev-arm64-cross
                               gcc-mingw-w64-x86-64 wine wine64 nats-server)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --upgrade pip >/dev/null
# Csound 7.0's plugin headers, from a public source package (never kept in this repository),
# so that the plugin is built for both majors; the `csound` extra brings Csound 7 itself.
h7="$PWD/.cache/csound7/include"
[ -f "$h7/csound/csdl.h" ] || .venv/bin/python tools/csound_headers.py "${h7%/include}" --version 7.0.0 --source pypi
extras=csound,tls,opus
[ "$what" = test ] && extras=csound,tls,opus,nats,test
.venv/bin/python -m pip install ".[$extras]" -Csetup-args=-Dcsound7_include="$h7"
.venv/bin/csws --version

case "$what" in
  demo) exec .venv/bin/csws demo ;;
  test)
    # From outside the checkout, so that the tests use the installed package.
    export CSWS_CSOUND7_INCLUDE="$h7"  # the test that builds a rival Csound 7 plugin compiles against them
    cd tests && exec ../.venv/bin/python -m pytest -p no:cacheprovider -ra "${@:2}" ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
