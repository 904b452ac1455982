"""The generated control surface (csws/web/index.html, csws-surface.js) as a user meets it.

A piece without a page of its own gets, at / and at /csws/surface, a control for every channel
and websocket variable it offers.  Here headless Chromium (Playwright, Debian's /usr/bin/chromium)
finds each control the way a screen reader does, by its role and accessible name, which is the
channel's or variable's name exactly; moves it with the keyboard, by filling it in and by touch;
and a real Csound prints what it got, which must be what the page shows.  Skipped only when
Chromium or Playwright is missing.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import SOURCE, patience

CHROMIUM = os.environ.get("CSWS_CHROMIUM", "/usr/bin/chromium")
# The fake devices give capture() a microphone (a beeping tone) without asking anyone.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required"]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
expect = sync_api.expect


# 100 k-cycles a second: a panel's pace, and every page gets every k-cycle of every variable it
# shows, which at ksmps 32 (1500 a second) keeps a loaded 2-core machine busy with three pages open.
KSMPS = 480


def ms(seconds: float) -> float:
    return patience(seconds) * 1000


# Channels of every kind chn_k declares (itype 1 integer, 2 linear, 3 exponential; mode 1 in,
# 2 out, 3 both), ones outvalue and chnset write (Csound marks a control channel chnset writes as
# read too: both ways), and websocket variables of every type and direction.
# Csound prints every value it gets with %.10g, as JavaScript's String() writes these numbers.
def piece(port: int) -> str:
    return f"""
websocket_config "range.kpitch", "20 20000 exponential"
websocket_config "range.kvoices", "1 8 integer"
chn_k "freq", 1, 3, 440, 20, 20000
chn_k "gain", 1, 2, 0.5, 0, 1
chn_k "steps", 1, 1, 3, 0, 12
chn_k "mute", 1, 1, 0, 0, 1
chn_k "pan", 3, 2, 0, -1, 1
chn_k "twice", 2, 2, 0, 0, 2
chn_S "title", 1
chn_S "summary", 2

opcode said, 0, Sk
  Sname, kv xin
  kcount init 0
  kcount += 1
  printf "%s=%.10g\\n", kcount * changed2(kv), Sname, kv
endop

opcode saidS, 0, SS
  Sname, Sv xin
  Sold init ""
  kcount init 0
  kcount += 1
  if strcmpk(Sv, Sold) != 0 then
    printf "%s <%s>\\n", kcount, Sname, Sv
    Sold strcpyk Sv
  endif
endop

instr 1
  kcount init 0
  kcount += 1
  kfreq chnget "freq"
  kgain chnget "gain"
  ksteps chnget "steps"
  kmute chnget "mute"
  kpan chnget "pan"
  Stitle chnget "title"
  said "freq", kfreq
  said "gain", kgain
  said "steps", ksteps
  said "mute", kmute
  said "pan", kpan
  saidS "title", Stitle
  outvalue "twice", kgain * 2
  Ssummary sprintfk "%d steps", ksteps
  chnset Ssummary, "summary"
  outvalue "count", kcount
  chnset int(kcount / 10) % 10, "meter"

  klevels[] fillarray 0.25, 0.5, 0.75, 1
  Sclock sprintfk "k-cycle %d", kcount
  ibase = 42
  aout oscili 0.5, 220
  kshape[] init 4
  Sname init ""
  kpitch, kvoices, kdepth, Sname, kshape, ain websocket {port}, kcount, klevels, Sclock, ibase, aout
  said "kpitch", kpitch
  said "kvoices", kvoices
  said "kdepth", kdepth
  saidS "Sname", Sname
  printf "kshape %.10g %.10g %.10g %.10g\\n", kcount * changed2(kshape), kshape[0], kshape[1], kshape[2], kshape[3]
  kheard init 0
  if rms(ain) > 0.01 && kheard == 0 then
    printks "heard the microphone\\n", 0
    kheard = 1
  endif
endin
"""


CONTROLS = {  # role -> names: every control and display the piece above must get
    "slider": ["freq", "gain", "steps", "pan", "meter", "kpitch", "kvoices", "kdepth"],
    "spinbutton": ["freq", "gain", "steps", "pan", "meter", "kpitch", "kvoices", "kdepth"],
    "switch": ["mute"],
    "textbox": ["title", "Sname", "kshape"],
    "status": ["twice", "summary", "count", "kcount", "klevels", "Sclock", "ibase"],
    "button": ["aout", "ain"],
}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=ms(30))
        yield b
        b.close()


@pytest.fixture
def surface(browser, perform, port):
    """surface(**context_options) -> a page of the surface of the piece above, live; and the Performance."""
    p = perform(piece(port), "i1 0 300", ksmps=KSMPS)
    p.wait_for("websocket server on")
    contexts = []

    def open_page(path="/", context=None, **options):
        if context is None:
            context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
            context.set_default_timeout(ms(20))
            contexts.append(context)
        pg = context.new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.goto(f"http://127.0.0.1:{port}{path}")
        expect(pg.get_by_role("status", name="connection")).to_have_text("live")
        # The channels' values have come (watch): the controls show them.
        expect(number(pg, "gain")).not_to_have_value("")
        return pg

    yield open_page, p
    for c in contexts:
        c.close()


def slider(pg, name):
    return pg.get_by_role("slider", name=name, exact=True)


def number(pg, name):
    return pg.get_by_role("spinbutton", name=name, exact=True)


def printed(name: str, value: str) -> str:
    """The line Csound prints when it gets `value` on `name`: a number as %.10g, a string in <>."""
    return rf"^(?:\x1b\[m)*{re.escape(name)}(?:={re.escape(value)}| <{re.escape(value)}>)$"


def said(p, name: str, value: str, after: tuple[str, str] | None = None) -> None:
    """Csound printed that it got `value` on `name` (after it got after[1] on after[0])."""
    p.wait_for("(?ms)" + (printed(*after) + ".*" if after else "") + printed(name, value))


def test_every_control_found_by_its_name_with_its_declared_range(surface, port):
    open_page, p = surface
    pg = open_page()
    for role, names in CONTROLS.items():
        for name in names:
            expect(pg.get_by_role(role, name=name, exact=True)).to_have_count(1)
    expect(pg.locator("#about")).to_contain_text(f"generated control surface of 127.0.0.1:{port}")
    expect(pg.locator("#about")).to_contain_text(f"sr 48000, ksmps {KSMPS}")
    # Declared ranges: the number fields take them; linear and integer sliders hold the value itself.
    for name, lo, hi in [("freq", "20", "20000"), ("gain", "0", "1"), ("steps", "0", "12"), ("pan", "-1", "1"),
                         ("kpitch", "20", "20000"), ("kvoices", "1", "8")]:
        expect(number(pg, name)).to_have_attribute("min", lo)
        expect(number(pg, name)).to_have_attribute("max", hi)
    for name, lo, hi, step in [("gain", "0", "1", "0.001"), ("steps", "0", "12", "1"), ("pan", "-1", "1", "0.002"),
                               ("kvoices", "1", "8", "1")]:
        s = slider(pg, name)
        assert (s.get_attribute("min"), s.get_attribute("max"), s.get_attribute("step")) == (lo, hi, step), name
    # Exponential: positions, the value in aria-valuetext.
    for name in ("freq", "kpitch"):
        assert slider(pg, name).get_attribute("max") == "1000"
        expect(pg.locator(".card", has=slider(pg, name)).locator(".range")).to_have_text(re.compile("20exp20000"))
    # No range declared for kdepth: 0..1 until a value needs more.
    assert slider(pg, "kdepth").get_attribute("max") == "1"
    assert pg.errors == []


def test_keyboard_and_typed_values_reach_csound_exactly(surface):
    open_page, p = surface
    pg = open_page()
    # Keyboard on an exponential slider: End is the top of the range; each arrow a position.
    freq = slider(pg, "freq")
    freq.focus()
    pg.keyboard.press("End")
    said(p, "freq", "20000")
    for _ in range(3):
        pg.keyboard.press("ArrowLeft")
    shown = number(pg, "freq").input_value()
    assert 19500 < float(shown) < 20000 and freq.get_attribute("aria-valuetext") == shown
    said(p, "freq", shown)
    # Typed, then Enter: exactly that number.
    number(pg, "gain").fill("0.3126")
    number(pg, "gain").press("Enter")
    said(p, "gain", "0.3126")
    expect(pg.get_by_role("status", name="twice", exact=True)).to_have_text("0.62520")  # Csound's chnset
    expect(slider(pg, "gain")).to_have_value("0.313")
    # Out of a declared range: clamped, and the field shows what was sent.
    number(pg, "pan").fill("-7")
    number(pg, "pan").press("Enter")
    said(p, "pan", "-1")
    expect(number(pg, "pan")).to_have_value("-1")
    # Integer steps.
    steps = slider(pg, "steps")
    steps.focus()
    pg.keyboard.press("Home")
    pg.keyboard.press("ArrowRight")
    pg.keyboard.press("ArrowRight")
    said(p, "steps", "2")
    expect(pg.get_by_role("status", name="summary", exact=True)).to_have_text("2 steps")
    number(pg, "steps").fill("4.6")
    number(pg, "steps").press("Enter")
    said(p, "steps", "5")
    expect(number(pg, "steps")).to_have_value("5")
    # A switch: Space toggles it, 1 and 0.
    pg.get_by_role("switch", name="mute", exact=True).focus()
    pg.keyboard.press("Space")
    said(p, "mute", "1")
    pg.keyboard.press("Space")
    said(p, "mute", "0")
    pg.get_by_role("textbox", name="title", exact=True).fill("a surface")
    said(p, "title", "a surface")

    # The websocket variables.
    pitch = slider(pg, "kpitch")
    pitch.focus()
    pg.keyboard.press("End")
    said(p, "kpitch", "20000")
    pg.keyboard.press("Home")
    said(p, "kpitch", "20")
    pg.keyboard.press("ArrowUp")
    said(p, "kpitch", number(pg, "kpitch").input_value())
    number(pg, "kpitch").fill("1234.5678")
    number(pg, "kpitch").press("Enter")
    said(p, "kpitch", "1234.5678")
    slider(pg, "kvoices").focus()
    pg.keyboard.press("End")
    said(p, "kvoices", "8")
    number(pg, "kdepth").fill("3.7")  # beyond the automatic 0..1: the range grows
    number(pg, "kdepth").press("Enter")
    said(p, "kdepth", "3.7")
    assert slider(pg, "kdepth").get_attribute("max") == "10"
    pg.get_by_role("textbox", name="Sname", exact=True).fill("voice")
    said(p, "Sname", "voice")
    shape = pg.get_by_role("textbox", name="kshape", exact=True)
    shape.fill("1, 2.5, -3")  # three numbers for four elements: refused on the page
    shape.press("Enter")
    expect(shape).to_have_attribute("aria-invalid", "true")
    shape.fill("1, 2.5, -3, 0.125")
    shape.press("Enter")
    p.wait_for(r"(?m)^(?:\x1b\[m)*kshape 1 2\.5 -3 0\.125$")
    assert pg.errors == []


def test_what_csound_sends_appears(surface):
    open_page, p = surface
    pg = open_page()
    count = pg.get_by_role("status", name="count", exact=True)
    expect(count).to_have_text(re.compile(r"^\d+$"))
    first = int(count.text_content())
    expect(count).not_to_have_text(str(first))
    assert int(count.text_content()) > first
    expect(pg.get_by_role("status", name="kcount", exact=True)).to_have_text(re.compile(r"^\d+$"))
    expect(pg.get_by_role("status", name="klevels", exact=True)).to_have_text("0.25, 0.5, 0.75, 1")
    expect(pg.get_by_role("status", name="Sclock", exact=True)).to_have_text(re.compile(r"^k-cycle \d+$"))
    expect(pg.get_by_role("status", name="ibase", exact=True)).to_have_text("42")
    expect(pg.get_by_role("status", name="summary", exact=True)).to_have_text(re.compile(r"^\d+ steps$"))
    # A channel chnset writes: its control follows Csound (here every 10 k-cycles, 0 to 9).
    meter = number(pg, "meter")
    expect(meter).to_have_value(re.compile(r"^\d$"))
    expect(meter).not_to_have_value(meter.input_value())
    # The a-rate variables: Listen plays aout (play()), Microphone sends into ain (capture()).
    listen = pg.get_by_role("button", name="aout", exact=True)
    listen.click()
    expect(listen).to_have_attribute("aria-pressed", "true")
    mic = pg.get_by_role("button", name="ain", exact=True)
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "true")
    p.wait_for("heard the microphone")
    listen.click()
    expect(listen).to_have_attribute("aria-pressed", "false")
    assert pg.errors == []


def test_two_pages_follow_each_other_and_a_reload_keeps_the_values(surface):
    open_page, p = surface
    a = open_page()
    b = open_page(context=a.context)  # a second tab
    other = open_page()  # another browser (its own storage)
    number(a, "gain").fill("0.75")
    number(a, "gain").press("Enter")
    said(p, "gain", "0.75")
    for pg in (b, other):  # the server relays channel writes
        expect(number(pg, "gain")).to_have_value("0.75")
        expect(slider(pg, "gain")).to_have_value("0.75")
    number(other, "freq").fill("880")
    number(other, "freq").press("Enter")
    said(p, "freq", "880")
    expect(number(a, "freq")).to_have_value("880")
    number(a, "kpitch").fill("330")  # a variable: other tabs of the browser follow
    number(a, "kpitch").press("Enter")
    said(p, "kpitch", "330")
    expect(number(b, "kpitch")).to_have_value("330")
    # While the user holds a slider, values from elsewhere wait.
    box = slider(b, "pan").bounding_box()
    b.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    b.mouse.down()
    held = number(b, "pan").input_value()
    said(p, "pan", held)
    number(a, "pan").fill("-0.25")
    number(a, "pan").press("Enter")
    said(p, "pan", "-0.25")
    b.wait_for_timeout(300)
    expect(number(b, "pan")).to_have_value(held)
    b.mouse.up()
    # A reload shows what Csound has (channels) and what this browser sent (variables), and re-sends the latter.
    b.reload()
    expect(b.get_by_role("status", name="connection")).to_have_text("live")
    expect(number(b, "gain")).to_have_value("0.75")
    expect(number(b, "freq")).to_have_value("880")
    expect(number(b, "pan")).to_have_value("-0.25")
    expect(number(b, "kpitch")).to_have_value("330")
    # A preset keeps every control; recalling it sends them again.
    a.once("dialog", lambda d: d.accept("evening"))
    a.get_by_role("button", name="Save as…").click()
    expect(a.get_by_role("combobox", name="preset")).to_have_value("evening")
    number(a, "gain").fill("0.5")
    number(a, "gain").press("Enter")
    number(a, "kpitch").fill("440")
    number(a, "kpitch").press("Enter")
    said(p, "kpitch", "440")
    a.get_by_role("button", name="Recall").click()
    said(p, "gain", "0.75", after=("gain", "0.5"))
    said(p, "kpitch", "330", after=("kpitch", "440"))
    expect(number(a, "gain")).to_have_value("0.75")
    expect(number(b, "gain")).to_have_value("0.75")
    assert a.errors == b.errors == other.errors == []


def test_a_phone_by_touch(surface):
    open_page, p = surface
    pg = open_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=3)
    # One column, nothing wider than the screen.
    assert pg.evaluate("() => document.documentElement.scrollWidth") <= 390
    for name in CONTROLS["slider"]:
        box = slider(pg, name).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40, (name, box)
    mute = pg.get_by_role("switch", name="mute", exact=True)
    mute.tap()
    said(p, "mute", "1")
    gain = slider(pg, "gain")
    gain.scroll_into_view_if_needed()
    box = gain.bounding_box()
    gain.tap(position={"x": box["width"] * 0.8, "y": box["height"] / 2})  # a tap on the track: the thumb goes there
    value = number(pg, "gain").input_value()
    assert 0.7 < float(value) < 0.9, value
    said(p, "gain", value)
    # A drag with a finger (touch events through the DevTools protocol: Playwright taps only).
    freq = slider(pg, "freq")
    freq.scroll_into_view_if_needed()
    box = freq.bounding_box()
    y = box["y"] + box["height"] / 2
    touch = pg.context.new_cdp_session(pg)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": box["x"] + 10, "y": y}]})
    for i in range(1, 11):
        x = box["x"] + 10 + (box["width"] - 20) * 0.5 * i / 10
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    value = number(pg, "freq").input_value()
    assert 300 < float(value) < 1300, value  # about the middle of 20..20000, exponentially: 632
    said(p, "freq", value)
    assert pg.errors == []


def test_surface_beside_a_page_of_its_own(browser, perform, port, tmp_path):
    """/csws/surface serves the surface also when / serves the piece's own page; the page tells when
    Csound has gone."""
    own = tmp_path / "own.html"
    own.write_text("<!DOCTYPE html><title>my page</title><p>mine</p>")
    p = perform(piece(port), "i1 0 60", ksmps=KSMPS, env={"CSWS_INDEX_HTML": str(own)})
    p.wait_for("websocket server on")
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        assert pg.title() == "my page"
        pg.goto(f"http://127.0.0.1:{port}/csws/surface")
        expect(pg.get_by_role("status", name="connection")).to_have_text("live", timeout=ms(20))
        expect(slider(pg, "freq")).to_have_count(1)
        # Csound gone: the page says so, and why it cannot reconnect.
        p.stop()
        expect(pg.get_by_role("status", name="connection")).to_have_text("reconnecting")
        expect(pg.get_by_role("log", name="errors")).to_contain_text(f"is the server at http://127.0.0.1:{port} running?")
    finally:
        context.close()


SYNTH = """
websocket_config "range.kcutoff", "100 12000 exponential"
websocket_config "range.kres", "0 0.9"
chn_k "freq", 1, 3, 220, 55, 1760
chn_k "amp", 1, 2, 0.4, 0, 1
chn_k "voices", 1, 1, 3, 1, 7
chn_k "vibrato", 1, 1, 1, 0, 1
chn_S "patch", 1

instr 1
  kfreq chnget "freq"
  kamp chnget "amp"
  kvoices chnget "voices"
  kvib chnget "vibrato"
  kcutoff init 2000
  kres init 0.3
  kpitch = kfreq * (1 + kvib * oscili:k(0.006, 5.5))
  asaw vco2 kamp, kpitch
  asub vco2 kamp / 2, kpitch * (1 + kvoices / 400)
  aout moogladder asaw + asub, kcutoff, kres
  outvalue "level", rms(aout)
  klfo oscili 1, 0.25
  kbands[] init 12
  kb = 0
  while kb < 12 do
    kbands[kb] = 0.55 + 0.45 * sin(times:k() * 1.5 + kb * 0.5) * exp(-kb / 14)
    kb += 1
  od
  Spatch chnget "patch"
  Snow sprintfk "%s: %d voices at %.1f Hz", Spatch, kvoices, kfreq
  kcutoff, kres websocket {port}, aout, kbands, klfo, Snow
endin
"""


def test_screenshot_for_the_readme(browser, perform, port, tmp_path):
    """docs/surface.png: a small synth's surface (CSWS_SURFACE_SCREENSHOT=docs/surface.png refreshes it)."""
    p = perform(SYNTH.format(port=port), "i1 0 60", ksmps=KSMPS)
    p.wait_for("websocket server on")
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    try:
        context.set_default_timeout(ms(20))
        pg = context.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        expect(pg.get_by_role("status", name="connection")).to_have_text("live")
        for name, value in [("freq", "146.8"), ("amp", "0.6"), ("voices", "4"), ("kcutoff", "1800"), ("kres", "0.55")]:
            number(pg, name).fill(value)
            number(pg, name).press("Enter")
        pg.get_by_role("switch", name="vibrato", exact=True).check()
        pg.get_by_role("textbox", name="patch", exact=True).fill("warm pad")
        expect(pg.get_by_role("status", name="Snow", exact=True)).to_have_text("warm pad: 4 voices at 146.8 Hz")
        pg.evaluate("() => document.activeElement.blur()")
        shot = os.environ.get("CSWS_SURFACE_SCREENSHOT")
        pg.wait_for_timeout(8000 if shot else 1000)  # for the README: trends across the whole card
        shot = SOURCE / shot if shot else tmp_path / "surface.png"  # relative: to the checkout, not tests/
        pg.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10000
    finally:
        context.close()
