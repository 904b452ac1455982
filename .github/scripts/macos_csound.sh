#!/usr/bin/env bash
# macOS wheel builds: Homebrew's Csound, and its headers where meson looks (-Dcsound_include=DIR).
#   bash macos_csound.sh DIR      -> DIR/csound/csdl.h
# Homebrew ships the headers inside CsoundLib64.framework; a csound/ link to them gives the
# <csound/csdl.h> layout the plugin includes, whatever the formula links into include/.
set -euo pipefail
dir="${1:?usage: macos_csound.sh INCLUDE_DIR}"
brew list csound >/dev/null 2>&1 || brew install csound
mkdir -p "$dir"
for headers in "$(brew --prefix)/include/csound" \
               "$(brew --prefix csound)/Frameworks/CsoundLib64.framework/Headers"; do
  if [ -f "$headers/csdl.h" ]; then
    ln -sfn "$headers" "$dir/csound"
    echo "macos_csound: $dir/csound -> $headers"
    exit 0
  fi
done
echo "macos_csound: no csdl.h in Homebrew's csound" >&2
exit 1
