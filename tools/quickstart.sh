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
[ "$what" = test ] && packages+=(chromium binutils libcsnd-dev git)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --upgrade pip >/dev/null
.venv/bin/python -m pip install ".[test]"

case "$what" in
  demo) exec .venv/bin/csws demo ;;
  test)
    # From outside the checkout, so that the tests use the installed package.
    cd tests && exec ../.venv/bin/python -m pytest -p no:cacheprovider -ra "${@:2}" ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
