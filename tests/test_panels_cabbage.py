"""Cabbage panels in a browser, as a user meets them: `csws run piece.csd` on a piece with a
<Cabbage> section (tests/pieces: the same instrument in Cabbage 2's text syntax and in Cabbage 3's
JSON), its page opened in headless Chromium, every widget operated with the mouse, the keyboard
or touch, and Csound saying what it got: the orchestra prints each channel when it changes and
each note the panel's keyboard plays.  Once per Csound major.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from conftest import REALTIME, Performance, patience
from csws.protocol.cabbage_panel import panel_of_cabbage
from test_browser import browser, open_page, patience_ms, wait_js  # noqa: F401 - the fixture; skips without Chromium

PIECES = Path(__file__).resolve().parent / "pieces"
SYNTAXES = ["cabbage2.csd", "cabbage3.csd"]


class Console:
    """What the piece's orchestra prints, read line by line as it comes."""

    def __init__(self, p: Performance) -> None:
        self.p = p
        self.seen = 0

    def next(self, pattern: str, timeout: float = 15) -> re.Match:
        """The first match of `pattern` after everything matched so far."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + patience(timeout)
        while True:
            m = rx.search(self.p.output, self.seen)
            if m:
                self.seen = m.end()
                return m
            if self.p.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Csound did not print {pattern!r}:\n{self.p.output[self.seen:][-3000:]}")
            time.sleep(0.02)

    def value(self, channel: str, timeout: float = 15) -> float:
        """The next value the orchestra prints for `channel`."""
        return float(self.next(rf"cabbage: {re.escape(channel)}=(\S+)", timeout).group(1))


def start_piece(piece: str, tmp_path: Path, port: int) -> tuple[Performance, str, dict]:
    csd = tmp_path / piece
    csd.write_bytes((PIECES / piece).read_bytes())
    p = Performance([sys.executable, "-m", "csws", "run", "--port", str(port), str(csd), *REALTIME],
                    tmp_path / "piece.log")
    url = p.wait_for(r"csws: the piece's page: (http://\S+/)").group(1)
    return p, url, panel_of_cabbage(csd.read_bytes())


def skewed(lo: float, hi: float, skew: float, pos: float) -> float:
    """Cabbage's value at a slider position 0..1: min + (max - min) * pos ** (1 / skew)."""
    return lo + (hi - lo) * pos ** (1 / skew)


def finger_drag(page, locator, start: tuple[float, float], end: tuple[float, float], moves: int = 8) -> None:
    """Drag a finger across `locator` between two points given as fractions of its box: touch
    events sent through Chromium's DevTools protocol (Playwright's own touch API only taps)."""
    box = locator.bounding_box()
    cdp = page.context.new_cdp_session(page)

    def point(fx: float, fy: float) -> dict:
        return {"x": box["x"] + fx * box["width"], "y": box["y"] + fy * box["height"]}

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point(*start)]})
    for i in range(1, moves + 1):
        f = i / moves
        at = (start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point(*at)]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


@pytest.mark.parametrize("piece", SYNTAXES)
def test_every_cabbage_widget_operated_in_a_browser_reaches_csound(browser, piece, tmp_path, port):
    p, url, model = start_piece(piece, tmp_path, port)
    context, page = open_page(browser, viewport={"width": 1000, "height": 900})
    console = Console(p)
    try:
        page.goto(url)
        page.wait_for_selector("#status.live", timeout=patience_ms(15))
        title = "Cabbage 2 panel" if piece == "cabbage2.csd" else "Cabbage 3 panel"
        assert page.text_content("h1") == f"Cabbage panel: {title}", "/ serves the Cabbage panel, and says so"

        # Before the performance csws gives the channels the panel's start values, as Cabbage does.
        starts = {"gain": 0.5, "freq": 1000, "level": 5, "steps": 10, "cutoff": 1000}
        if piece == "cabbage2.csd":
            starts["wave"] = 1  # value(1): the first item; Cabbage 3's first item is 0, no change to print
        for name in ("gain", "freq", "level", "steps", "wave", "cutoff"):  # the order instr 2 prints in
            if name in starts:
                assert console.value(name) == starts[name], name

        # Every widget drawn, none a placeholder, each at its place: the panel's own pixels, scaled.
        assert page.locator(".widget").count() == len(model["widgets"])
        assert page.locator(".kind-placeholder").count() == 0
        stage = page.locator(".stage").bounding_box()
        scale = stage["width"] / model["width"]
        for w in model["widgets"]:
            box = page.locator(f'[data-id="{w["id"]}"]').bounding_box()
            got = (box["x"] - stage["x"], box["y"] - stage["y"], box["width"], box["height"])
            want = tuple(v * scale for v in (w["x"], w["y"], w["width"], w["height"]))
            assert all(abs(g - e) <= 1 for g, e in zip(got, want)), f"{w['type']} {w['channel']}: {got} != {want}"

        # Knobs, sliders and the check box show their text() beside them, as Cabbage does.
        for text in ("Gain", "Freq", "Level", "Mute", "Cutoff"):
            assert page.get_by_text(text, exact=True).is_visible(), text

        # The knob: dragged up it turns up; End and Home take it to its ends.
        knob = page.get_by_role("slider", name="gain", exact=True)
        kb = knob.bounding_box()
        page.mouse.move(kb["x"] + kb["width"] / 2, kb["y"] + kb["height"] / 2)
        page.mouse.down()
        page.mouse.move(kb["x"] + kb["width"] / 2, kb["y"] + kb["height"] / 2 - 60, steps=6)
        page.mouse.up()
        shown = float(knob.get_attribute("aria-valuenow"))
        assert shown > 0, "dragging the knob up turned it up"
        value = console.value("gain")
        while abs(value - shown) > 1e-4:  # the drag's intermediate values come first
            value = console.value("gain")
        knob.press("End")
        assert console.value("gain") == 1
        knob.press("Home")
        assert console.value("gain") == 0

        # The skewed slider: a click a quarter of the way along gives Cabbage's skewed value
        # (20 + 19980 * 0.25 ** 2, about 1269), not the linear 5015 (the window allows for the
        # slider's ends, where its thumb stops short of the edge).
        freq = page.get_by_role("slider", name="freq", exact=True)
        fb = freq.bounding_box()
        freq.click(position={"x": fb["width"] * 0.25, "y": fb["height"] / 2})
        value = console.value("freq")
        # The pieces' range(20, 20000, 1000, 0.5, 1), written out: not the reader's model, which
        # the renderer draws from.
        assert skewed(20, 20000, 0.5, 0.2) <= value <= skewed(20, 20000, 0.5, 0.3), value
        assert value == float(freq.get_attribute("aria-valuenow"))

        # The vertical slider, clicked near its top; its step is 0.1.
        level = page.get_by_role("slider", name="level", exact=True)
        lb = level.bounding_box()
        level.click(position={"x": lb["width"] / 2, "y": lb["height"] * 0.1})
        value = console.value("level")
        assert 8.7 <= value <= 9.3 and abs(value * 10 - round(value * 10)) < 1e-9, value

        # The number slider: three steps up with the arrow key, from its start value 10.
        steps = page.get_by_role("spinbutton", name="steps", exact=True)
        steps.focus()
        for expected in (11, 12, 13):
            page.keyboard.press("ArrowUp")
            assert console.value("steps") == expected

        # The latched button toggles; the momentary one (Cabbage 2's latched(0)) holds 1 while held.
        play = page.get_by_role("button", name="play", exact=True)
        play.click()
        assert console.value("play") == 1 and play.get_attribute("aria-pressed") == "true"
        assert play.text_content() == "Stop", "a Cabbage button shows its on text when on"
        play.click()
        assert console.value("play") == 0 and play.get_attribute("aria-pressed") == "false"
        assert play.text_content() == "Play"
        hold = page.get_by_role("button", name="hold", exact=True)
        if piece == "cabbage3.csd":  # Cabbage 3's buttons all toggle
            hold.click()
            assert console.value("hold") == 1
        else:
            hb = hold.bounding_box()
            page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
            page.mouse.down()
            assert console.value("hold") == 1
            page.mouse.up()
            assert console.value("hold") == 0

        # The checkbox, and the combo box: Cabbage 2 gives the 1-based index, Cabbage 3 the 0-based.
        page.get_by_role("checkbox", name="mute", exact=True).click()
        assert console.value("mute") == 1
        page.get_by_role("combobox", name="wave", exact=True).select_option(label="Triangle")
        assert console.value("wave") == (3 if piece == "cabbage2.csd" else 2)

        # The group box's knob (skew 0.3), by keyboard: one step of its increment 1.
        cutoff = page.get_by_role("slider", name="cutoff", exact=True)
        cutoff.focus()
        page.keyboard.press("End")
        assert console.value("cutoff") == 10000
        page.keyboard.press("ArrowDown")
        assert console.value("cutoff") == 9999

        # The keyboard: a key held plays its note until let go.
        key = page.get_by_role("button", name="E3", exact=True)
        key.hover()
        page.mouse.down()
        assert console.next(r"cabbage: note on (\d+) velocity (\d+)").groups() == ("52", "100")
        page.mouse.up()
        assert console.next(r"cabbage: note off (\d+)").group(1) == "52"
        assert page.errors == []
    finally:
        context.close()
        p.stop()


def test_a_cabbage_panel_on_a_phone_by_touch_and_two_pages_following_each_other(browser, tmp_path, port):
    p, url, model = start_piece("cabbage2.csd", tmp_path, port)
    phone_ctx, phone = open_page(browser, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    laptop_ctx, laptop = open_page(browser, viewport={"width": 1000, "height": 900})
    console = Console(p)
    try:
        phone.goto(url)
        laptop.goto(url)
        for pg in (phone, laptop):
            pg.wait_for_selector("#status.live", timeout=patience_ms(15))
        # The whole panel fits the phone's width.
        stage = phone.locator(".stage").bounding_box()
        assert stage["width"] <= 390 + 1 and stage["x"] >= -1
        phone.get_by_role("checkbox", name="mute", exact=True).tap()
        assert console.value("mute") == 1
        wait_js(laptop, "() => document.querySelector('[aria-label=mute]').checked === true")
        phone.get_by_role("button", name="play", exact=True).tap()
        assert console.value("play") == 1
        wait_js(laptop, "() => document.querySelector('[aria-label=play]').getAttribute('aria-pressed') === 'true'")
        # A finger dragging the skewed slider to its middle gives Cabbage's middle value (5015), and
        # the page does not scroll under the finger.
        freq = phone.get_by_role("slider", name="freq", exact=True)
        scrolled = phone.evaluate("() => [scrollX, scrollY, document.getElementById('panel').scrollLeft]")
        finger_drag(phone, freq, (0.05, 0.5), (0.5, 0.5))
        value = console.value("freq")
        while abs(value - float(freq.get_attribute("aria-valuenow"))) > 1e-9:  # the drag's earlier values first
            value = console.value("freq")
        assert skewed(20, 20000, 0.5, 0.45) <= value <= skewed(20, 20000, 0.5, 0.55), value
        assert phone.evaluate("() => [scrollX, scrollY, document.getElementById('panel').scrollLeft]") == scrolled
        wait_js(laptop, "v => document.querySelector('[aria-label=freq]').getAttribute('aria-valuenow') === v",
                freq.get_attribute("aria-valuenow"))
        phone.get_by_role("button", name="G3", exact=True).tap()
        assert console.next(r"cabbage: note on (\d+)").group(1) == "55"
        assert console.next(r"cabbage: note off (\d+)").group(1) == "55"
        assert phone.errors == [] and laptop.errors == []
    finally:
        phone_ctx.close()
        laptop_ctx.close()
        p.stop()
