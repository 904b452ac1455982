"""Csound's channels, score lines and code from a page: csws-csound.js in headless Chromium.

A page served by the port (CSWS_STATIC_DIR) uses the global `csound` object of CsoundQt's and
Csound for Android's HTML pieces, or csws.js's connect().control(), against a real Csound; what
reaches Csound is checked in what it prints, what comes back in the page.  Skipped only when
Chromium or Playwright is missing.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

from conftest import REALTIME, Performance, make_csd, patience
from test_browser import browser, patience_ms, sync_api  # noqa: F401 - the fixture; skips without Chromium

PRINTK2 = r"(?:i1|instr 1:)(?:\s|\x1b\[m)+"  # printk2's line (Csound 6, Csound 7), colour codes and all

# freq goes into Csound (printk2 shows it), level and tick come out of it (chnset), word both ways.
ORC = """
chn_k "freq", 1
chn_k "level", 2
chn_k "tick", 2
chn_S "word", 3

instr 1
  kin websocket {port}
  kfreq chnget "freq"
  printk2 kfreq
  chnset 0.625, "level"
  ktick init 0
  ktick += metro(20)
  chnset ktick, "tick"
  Sword chnget "word"
  Sprinted init ""
  if strcmpk(Sword, Sprinted) != 0 then
    printks "word %s\\n", 0, Sword
    Sprinted = Sword
  endif
endin

instr 2
  prints "note %d\\n", p4
endin
"""

# Loaded as a .csd's <html> gets it; the first calls come before the socket is open.
OBJECT_PAGE = """<!DOCTYPE html>
<script src="/csws-csound.js?connect"></script>
<script>
  csound.setControlChannel("freq", "440.5");
  csound.readScore("i2 0 0.01 7");
</script>
"""

MODULE_PAGE = """<!DOCTYPE html>
<script type="module">
  import { connect } from "/csws.js";
  const cs = connect();
  const ctl = cs.control();
  window.same = cs.control() === ctl;
  window.globalCsound = typeof globalThis.csound === "object" && typeof csound.readScore === "function";
  window.ticks = [];
  window.opens = 0;
  window.unwatch = ctl.watch("tick", (v) => window.ticks.push(v.tick));
  ctl.addEventListener("open", () => { window.opens += 1; });
  ctl.addEventListener("close", () => { window.closes = (window.closes || 0) + 1; });
  window.ctl = ctl;
</script>
"""


# A piece written for CsoundQt (QtWebKit style): its page calls `csound` and loads nothing; the port
# puts the csound object in.
PIECE_PAGE = """
<html>
<head><title>a piece</title></head>
<body>
<input id="freq" type="range" min="100" max="1000" value="300"
       oninput='csound.setControlChannel("freq", this.value)'>
<p id="level"></p>
<script>
  setInterval(function () {
    document.getElementById("level").textContent = "level " + csound.getControlChannel("level");
  }, 50);
</script>
</body>
</html>
"""


@pytest.fixture
def page(browser):
    """A page in a context of its own, with its uncaught errors in page.errors and its console
    warnings in page.warnings."""
    context = browser.new_context()
    context.set_default_timeout(patience_ms(30))
    pg = context.new_page()
    pg.errors = []
    pg.warnings = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.warnings.append(m.text) if m.type == "warning" else None)
    yield pg
    context.close()


def wait_js(page, expression: str, arg=None, timeout: float = 30) -> None:
    """page.wait_for_function, saying what the page had when it times out (timeout: seconds)."""
    try:
        page.wait_for_function(expression, arg=arg, timeout=patience_ms(timeout))
    except sync_api.TimeoutError:
        raise AssertionError(f"timed out on {expression} ({arg!r}); errors {page.errors}; "
                             f"warnings {page.warnings}") from None


def wait_warning(page, text: str, timeout: float = 10) -> None:
    """Until a console warning of the page contains text."""
    deadline = time.monotonic() + patience(timeout)
    while not any(text in w for w in page.warnings):
        assert time.monotonic() < deadline, f"no warning with {text!r}: {page.warnings}"
        page.wait_for_timeout(50)  # Playwright delivers console messages while it waits


def serve(perform, port, tmp_path, page_html: str, env: dict | None = None):
    """The piece on `port`, with page_html at /page.html."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "page.html").write_text(page_html)
    p = perform(ORC.format(port=port), "i1 0 120", env={"CSWS_STATIC_DIR": str(site), **(env or {})})
    p.wait_for("websocket server on")
    return p


def test_csound_object_of_html_pieces(perform, port, tmp_path, page):
    p = serve(perform, port, tmp_path, OBJECT_PAGE, env={"CSWS_ALLOW_CODE": "1"})
    page.goto(f"http://127.0.0.1:{port}/page.html")

    # Called before the socket was open: queued, then sent (a slider's string value as a number).
    p.wait_for(PRINTK2 + r"440\.50000")
    p.wait_for(r"note 7")

    # getControlChannel in the three styles pieces use: at once (QtWebKit), a callback
    # (QtWebEngine), a promise.
    wait_js(page, "() => Number(csound.getControlChannel('level')) === 0.625")
    assert page.evaluate("() => 'level: ' + csound.getControlChannel('level')") == "level: 0.625"
    assert page.evaluate("() => new Promise((r) => csound.getControlChannel('level', r))") == 0.625
    assert page.evaluate("async () => { const v = await csound.getControlChannel('level'); return [typeof v, v]; }") \
        == ["number", 0.625]

    page.evaluate("() => csound.setControlChannel('freq', 523.25)")
    p.wait_for(PRINTK2 + r"523\.25000")

    # String channels, both ways.
    page.evaluate("() => csound.setStringChannel('word', 'hello')")
    p.wait_for(r"word hello")
    assert page.evaluate("async () => await csound.getStringChannel('word')") == "hello"
    assert page.evaluate("() => new Promise((r) => csound.getStringChannel('word', r))") == "hello"
    assert page.evaluate("() => 'word: ' + csound.getStringChannel('word')") == "word: hello"

    # Score lines.
    page.evaluate("() => csound.readScore('i2 0 0.01 8')")
    p.wait_for(r"note 8")
    page.evaluate("() => csound.inputMessage('i2 0 0.01 9')")
    p.wait_for(r"note 9")
    refused = page.evaluate("() => csound.readScore('e').then(() => 'accepted', (e) => e.message)")
    assert refused != "accepted" and refused, refused

    # The engine's figures: at once from the hello, awaited, or to a callback.
    assert page.evaluate("() => [csound.getSr(), csound.getKsmps(), csound.getNchnls(), csound.get0dBFS()].map(Number)") \
        == [48000, 32, 1, 1]
    assert page.evaluate("async () => [await csound.getSr(), await csound.getKsmps(), await csound.getNchnls(), "
                         "await csound.get0dBFS()]") == [48000, 32, 1, 1]
    assert page.evaluate("() => new Promise((r) => csound.getSr(r))") == 48000
    assert 0 < page.evaluate("async () => await csound.getScoreTime()") < 120

    # Orchestra code (CSWS_ALLOW_CODE=1), and a message in Csound's console.
    assert page.evaluate("() => csound.evalCode('ival = 6 * 7\\nreturn ival')") == 42
    page.evaluate("(code) => csound.compileOrc(code)", 'instr 3\n  prints "compiled %d\\n", p4\nendin\n')
    page.evaluate("() => csound.readScore('i3 0 0.01 5')")
    p.wait_for(r"compiled 5")
    page.evaluate("() => csound.message('hello from the page')")
    p.wait_for(r"csws page: hello from the page")

    # A wrong channel among others set at the same time: it alone fails, and the page is told.
    page.evaluate("() => { csound.setControlChannel('nosuch', 1); csound.setControlChannel('freq', 330); }")
    p.wait_for(PRINTK2 + r"330\.00000")
    wait_warning(page, "nosuch")

    # The hosts' own methods: one warning each, undefined, no exception.
    assert page.evaluate("() => [csound.start(), csound.isPlaying(), csound.setOption('-odac'), csound.start()]") \
        == [None, None, None, None]
    assert sum("csound.start()" in w for w in page.warnings) == 1, page.warnings
    assert any("csound.setOption()" in w for w in page.warnings), page.warnings
    assert page.errors == []


def test_module_control_watch_and_reconnect(perform, port, tmp_path, page):
    p = serve(perform, port, tmp_path, MODULE_PAGE)
    page.goto(f"http://127.0.0.1:{port}/page.html")
    assert page.evaluate("() => window.same && window.globalCsound")

    # A watch of a channel the orchestra changes: its values keep coming, rising.
    wait_js(page, "() => window.ticks.length >= 5")
    ticks = page.evaluate("() => window.ticks")
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks), ticks
    hello = page.evaluate("() => window.ctl.ready")
    assert (hello["sr"], hello["ksmps"], hello["nchnls"], hello["0dbfs"]) == (48000, 32, 1, 1)
    channels = {c["name"]: c for c in page.evaluate("() => window.ctl.list()")}
    assert channels["freq"]["direction"] == "from_web" and channels["freq"]["type"] == "control"
    assert channels["level"]["direction"] == "to_web" and channels["word"]["type"] == "string"
    assert page.evaluate("() => window.ctl.get(['level', 'word'])") == {"level": 0.625, "word": ""}
    assert page.evaluate("() => window.ctl.get('nosuch').then(() => 'found', (e) => e.message)") != "found"

    page.evaluate("() => window.ctl.setMany({freq: 261, word: 'module'})")
    p.wait_for(PRINTK2 + r"261\.00000")
    p.wait_for(r"word module")
    assert page.evaluate("() => window.ctl.values.get('freq')") == 261

    # Csound stops and starts again on the same port: the page reconnects and watches again.
    p.stop()
    wait_js(page, "() => window.closes >= 1")
    p2 = serve(perform, port, tmp_path, MODULE_PAGE)
    before = page.evaluate("() => window.ticks.length")
    wait_js(page, "(n) => window.opens >= 2 && window.ticks.length > n + 3", arg=before, timeout=40)
    restarted = page.evaluate("(n) => window.ticks.slice(n)", before)
    assert restarted == sorted(restarted), restarted

    # Unwatched: nothing more comes.
    page.evaluate("() => window.unwatch()")
    page.wait_for_timeout(200)  # messages on their way
    count = page.evaluate("() => window.ticks.length")
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.ticks.length") == count
    p2.stop()
    assert page.errors == []


def test_a_csd_page_finds_the_csound_object(csound, port, tmp_path, page):
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(ORC.format(port=port), "i1 0 120") + PIECE_PAGE)
    p = Performance([sys.executable, "-m", "csws", "run", str(csd), *REALTIME], tmp_path / "piece.log",
                    env={k: v for k, v in os.environ.items() if k not in ("CSWS_STATIC_DIR", "CSWS_INDEX_HTML")})
    try:
        p.wait_for("websocket server on")
        page.goto(f"http://127.0.0.1:{port}/")
        wait_js(page, "() => document.getElementById('level').textContent === 'level 0.625'")
        page.fill("#freq", "700")
        p.wait_for(PRINTK2 + r"700\.00000")
        assert page.errors == [] and page.warnings == []
    finally:
        p.stop()
