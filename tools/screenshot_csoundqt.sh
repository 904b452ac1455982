#!/usr/bin/env bash
# The CsoundQt panel of a .csd as CsoundQt draws it and as csws's page does, side by side
# (docs/panels.md).  Needs Debian's csoundqt, xvfb, xdotool, imagemagick, gcc, chromium, and the
# csws venv (.venv).  Not part of the tests: CsoundQt's own window is driven by pixel positions.
#   tools/screenshot_csoundqt.sh PIECE.csd OUT.png [WIDTHxHEIGHT of the panel area]
set -euo pipefail
piece=$(realpath "$1"); out=$(realpath -m "$2"); size=${3:-680x640}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
export DISPLAY=:${CSWS_SHOT_DISPLAY:-57}

# RtMidi aborts CsoundQt when ALSA's sequencer is missing (containers, CI): its constructors are
# pointed at JACK instead, whose client only connects later (and quietly fails to).
cat > "$work/midi.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#define IN "_ZN8RtMidiInC1EN6RtMidi3ApiERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEj"
#define OUT "_ZN9RtMidiOutC1EN6RtMidi3ApiERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"
enum { UNIX_JACK = 3 };
void _ZN8RtMidiInC1EN6RtMidi3ApiERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEj(void *s, int a, const void *n, unsigned q) {
  ((void (*)(void *, int, const void *, unsigned))dlsym(RTLD_NEXT, IN))(s, UNIX_JACK, n, q); (void)a;
}
void _ZN9RtMidiOutC1EN6RtMidi3ApiERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE(void *s, int a, const void *n) {
  ((void (*)(void *, int, const void *))dlsym(RTLD_NEXT, OUT))(s, UNIX_JACK, n); (void)a;
}
C
gcc -shared -fPIC -o "$work/midi.so" "$work/midi.c" -ldl

Xvfb "$DISPLAY" -screen 0 1400x1000x24 >/dev/null 2>&1 &
sleep 2
mkdir -p "$work/home"
LD_PRELOAD="$work/midi.so" HOME="$work/home" csoundqt "$piece" >"$work/csoundqt.log" 2>&1 &
sleep 12
xdotool mousemove 433 238 click 1                    # the toolbar's Widgets button
sleep 2
xdotool mousemove 880 265 click --repeat 2 --delay 80 1  # double-click the dock's title: float it
sleep 2
win=$(xdotool search --name '^Widgets$' | tail -1)
xdotool windowmove "$win" 0 0 windowsize "$win" 1400 1000
sleep 2
import -window root -crop "${size}+0+20" +repage "$work/csoundqt.png"   # below the dock's title

# csws's page of the same piece, at the same size (its header above the panel).
port=${CSWS_SHOT_PORT:-28888}
cd "$work"  # not the checkout: python -m csws would import its uncompiled tree
"$root/.venv/bin/python" -m csws run --port "$port" "$piece" -odac -+rtaudio=null -d >"$work/csws.log" 2>&1 &
for _ in $(seq 100); do grep -q "websocket server on" "$work/csws.log" && break; sleep 0.3; done
grep -q "websocket server on" "$work/csws.log" || { cat "$work/csws.log"; exit 1; }
"$root/.venv/bin/python" - "$port" "$size" "$work/csws.png" <<'PY'
import sys
from playwright.sync_api import sync_playwright
port, size, out = sys.argv[1], sys.argv[2], sys.argv[3]
w, h = (int(x) for x in size.split("x"))
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
    page = b.new_page(viewport={"width": w, "height": h + 60})
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => window.cswsPanel")
    page.evaluate("() => window.cswsPanel.panel.zoom(1 / window.cswsPanel.panel.scale)")  # scale 1, as CsoundQt
    page.wait_for_timeout(1500)
    page.screenshot(path=out, clip={"x": 0, "y": page.evaluate("() => document.querySelector('#panel').offsetTop"),
                                    "width": w, "height": h})
    b.close()
PY
convert "$work/csoundqt.png" "$work/csws.png" -bordercolor white -border 4 +append -resize '1400x>' \
  -colors 256 "$out"
echo "$out: CsoundQt (left), csws in Chromium (right)"
