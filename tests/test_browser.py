"""The web side as a user sees it: pages in Debian's headless Chromium.

Playwright for Python drives /usr/bin/chromium (no browser downloads).  The
pages talk to a real Csound over real websockets; what a slider sends is
checked on the Csound side, in what Csound prints.  Skipped only when
Chromium or Playwright is missing.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REALTIME, Performance, patience

CHROMIUM = os.environ.get("CSWS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PRINTK2 = r"i1(?:\s|\x1b\[m)+"  # printk2's line, colour codes and all

if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


def patience_ms(seconds: float) -> float:
    """patience(seconds) in the milliseconds Playwright counts in."""
    return patience(seconds) * 1000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=patience_ms(30))
        yield b
        b.close()


def new_context(browser, **options):
    """A browser context whose every wait is Playwright's default 30 s, stretched."""
    context = browser.new_context(**options)
    context.set_default_timeout(patience_ms(30))
    return context


def open_page(browser, **context_options):
    """A page in a context of its own, collecting its uncaught errors in page.errors."""
    context = new_context(browser, **context_options)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    return context, pg


@pytest.fixture
def page(browser):
    context, pg = open_page(browser, viewport={"width": 1280, "height": 640})
    yield pg
    context.close()


def start(cmd: list[str], tmp_path: Path, name: str) -> Performance:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSWS_")}
    return Performance(cmd, tmp_path / f"{name}.log", env=env)


def wait_js(page, expression: str, arg=None, timeout: float = 30) -> None:
    """page.wait_for_function, saying what the page had when it times out (timeout: seconds)."""
    try:
        page.wait_for_function(expression, arg=arg, timeout=patience_ms(timeout))
    except sync_api.TimeoutError:
        state = page.evaluate("() => JSON.stringify(window.demo || null)")
        raise AssertionError(f"timed out on {expression} ({arg!r}); page state {state}; errors {page.errors}") from None


def frames(page) -> dict:
    return page.evaluate("() => ({...window.demo.frames})")


def test_demo_page_live_and_slider_reaches_csound(page, tmp_path, port):
    p = start([sys.executable, "-m", "csws", "demo", "--port", str(port)], tmp_path, "demo")
    try:
        m = p.wait_for(r"open (http://127\.0\.0\.1:\d+/)")
        p.wait_for("websocket server on")
        page.goto(m.group(1))
        # Every signal from Csound arrives: scope (a, a[]), meters (k[]), spectrum (k[]).
        wait_js(
            page, "() => ['aout', 'aosc', 'klevels', 'kspectrum'].every(n => (window.demo.frames[n] || 0) > 20)",
            timeout=20)
        wait_js(page, "() => window.demo.levels[0] > 0.001 && window.demo.levels[1] > 0.01")
        first = frames(page)
        scope1 = page.evaluate("() => document.getElementById('scope').toDataURL()")
        level_text = page.locator("#level0").text_content()
        assert re.fullmatch(r"-?\d+\.\d dB", level_text), level_text
        wait_js(
            page, "(before) => Object.keys(before).every(n => window.demo.frames[n] > before[n] + 20)", arg=first)
        wait_js(page, "(old) => document.getElementById('scope').toDataURL() !== old", arg=scope1)
        width = page.evaluate("() => parseFloat(document.getElementById('meter0').style.width)")
        assert width > 0, "the level meter does not show the level"
        assert page.locator("#status").text_content().startswith("live")

        # A slider moved in the page reaches Csound: it prints what it received.
        page.fill("#kfreq", "523")
        p.wait_for(r"csws demo: freq 523\.00 Hz")
        page.fill("#kcutoff", "3210")
        p.wait_for(r"csws demo: freq 523\.00 Hz, cutoff 3210\.0 Hz")
        page.fill("#kres", "0.8")
        p.wait_for(r"resonance 0\.800")

        # The screenshot the README shows (CSWS_DEMO_SCREENSHOT=docs/demo.png refreshes it;
        # otherwise it goes to a temporary directory): a slower wave reads better.
        page.fill("#kfreq", "147")
        page.fill("#kres", "0.6")
        p.wait_for(r"freq 147\.00 Hz, cutoff 3210\.0 Hz, resonance 0\.600")
        page.evaluate("() => document.activeElement.blur()")
        wait_js(page, "(n) => window.demo.frames.aout > n + 50", arg=frames(page)["aout"])
        # (a relative path is the checkout's: the tests run from tests/)
        shot = ROOT / os.environ.get("CSWS_DEMO_SCREENSHOT", tmp_path / "demo.png")
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10000
        assert page.errors == []
    finally:
        p.stop()


def serve_example(name: str, tmp_path: Path, port: int) -> Performance:
    """examples/NAME.csd and NAME.html as shipped, by `csws run --static`, on a free port instead of 8888."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{name}.csd").write_text((EXAMPLES / f"{name}.csd").read_text().replace("8888", str(port)))
    shutil.copy(EXAMPLES / f"{name}.html", site / f"{name}.html")
    cmd = [sys.executable, "-m", "csws", "run", "--static", str(site), str(site / f"{name}.csd"), *REALTIME]
    return start(cmd, tmp_path, name)


def test_seed_example_end_to_end(page, tmp_path, port):
    p = serve_example("websocket", tmp_path, port)
    try:
        p.wait_for("websocket server on")
        page.goto(f"http://127.0.0.1:{port}/websocket.html")
        # The LFO comes in: the number on the page keeps changing.
        page.wait_for_function("() => document.getElementById('lfo').textContent.match(/^-?\\d\\.\\d{3}$/)")
        # Five changes in a row, each waited for; near the LFO's peak a value may come back
        # (0.998, 0.999, 0.998), so not all of them need differ.
        seen = []
        for _ in range(5):
            value = page.locator("#lfo").text_content()
            seen.append(value)
            page.wait_for_function("(v) => document.getElementById('lfo').textContent !== v", arg=value)
        assert all(-1 <= float(v) <= 1 for v in seen) and all(a != b for a, b in zip(seen, seen[1:]))
        page.wait_for_function("() => document.getElementById('state').textContent === 'connected'")
        # The slider goes back into Csound, which prints it (printk2).
        page.fill("#slider", "0.83")
        p.wait_for(PRINTK2 + r"0\.83000")
        page.fill("#slider", "0.12")
        p.wait_for(PRINTK2 + r"0\.12000")
        assert page.errors == []
    finally:
        p.stop()


def test_stream_example_audio_reaches_the_page(page, tmp_path, port):
    p = serve_example("stream", tmp_path, port)
    try:
        p.wait_for("websocket server on")
        page.goto(f"http://127.0.0.1:{port}/stream.html")
        page.wait_for_function("() => window.received > 100", timeout=patience_ms(20))
        assert page.locator("#state").text_content().startswith("sr 48000")
        page.click("#listen")  # and it plays, through play() (the browser as sound card)
        page.wait_for_function("() => window.player && window.player.stats().played > 1", timeout=patience_ms(20))
        assert page.errors == []
    finally:
        p.stop()


def test_csd_page_and_client_errors(page, tmp_path, port):
    """A .csd's own <html> at /, using /csws.js; asking for a missing variable, or sending to a
    variable Csound sends, is reported."""
    csd = tmp_path / "piece.csd"
    csd.write_text(f"""<CsoundSynthesizer>
<CsInstruments>
sr = 48000
ksmps = 64
nchnls = 1
0dbfs = 1
instr 1
  kcount init 0
  kcount += 1
  kwords[] init 3
  kwords fillarray 1, 2, 3
  kin init 0
  kin websocket {port}, kcount, kwords
  if changed2(kin) == 1 then
    printf "got kin %.3f\\n", kcount, kin
  endif
endin
</CsInstruments>
<CsScore>
i1 0 60
</CsScore>
</CsoundSynthesizer>
<html>
<body>
<p id="count">-</p><p id="err"></p>
<script type="module">
import {{ connect }} from "/csws.js";
const cs = connect();
window.errs = [];
cs.addEventListener("error", (e) => {{
  window.errs.push(e.detail.message);
  document.getElementById("err").textContent = e.detail.message;
}});
cs.subscribe("kcount", (d) => {{ document.getElementById("count").textContent = String(d[0]); }});
cs.subscribe("nosuchvar", () => {{}});
window.words = null;
cs.subscribe("kwords", (d) => {{ window.words = Array.from(d); }});
window.cs = cs;
</script>
</body>
</html>
""")
    p = start([sys.executable, "-m", "csws", "run", str(csd), *REALTIME], tmp_path, "csdpage")
    try:
        p.wait_for("websocket server on")
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => Number(document.getElementById('count').textContent) > 10")
        page.wait_for_function("() => JSON.stringify(window.words) === '[1,2,3]'")
        page.wait_for_function("() => document.getElementById('err').textContent.includes('nosuchvar is not on offer')")
        page.evaluate("() => window.cs.send('kin', 0.625)")
        p.wait_for(r"got kin 0\.625")
        page.evaluate("() => window.cs.send('kcount', 1)")  # the wrong way round
        # (every error: nosuchvar's, tried again meanwhile, may follow it within a frame)
        page.wait_for_function("() => window.errs.some((e) => e.includes('kcount goes from Csound to the web'))")
        assert page.errors == []
    finally:
        p.stop()
