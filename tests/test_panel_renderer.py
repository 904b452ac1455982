"""The panel renderer (csws-panel.js) on the kinds only Cabbage has (groupbox, image, keyboard), on
Cabbage's skew and on a scope fed by a websocket variable, with a panel model written here, against a
real Csound under `csws run`."""
from __future__ import annotations

import time

from conftest import patience
from test_browser import browser, open_page, patience_ms  # noqa: F401 - the fixture; skips without Chromium
from test_panels_csoundqt import MISPLACED, channel_becomes

ORC = """
chn_k "gain", 3
instr 1
prints "note %d velocity %d\\n", p4, p5
endin
instr 2
ascope oscili 0.8, 50
kd websocket PORT, ascope
endin
"""
STYLE = {"color": None, "background": None, "border": None, "border_width": 0, "radius": 0, "font": None,
         "font_size": 12, "bold": False, "align": "left", "valign": "top"}


def widget(i: int, kind: str, x: float, y: float, w: float, h: float, **fields) -> dict:
    base = {"id": f"w{i}", "type": kind, "kind": kind, "x": x, "y": y, "width": w, "height": h, "channel": "",
            "channel2": "", "label": "", "min": 0, "max": 1, "value": 0, "min2": 0, "max2": 0, "value2": 0,
            "step": 0, "skew": 1, "text": "", "items": [], "button": None, "style": STYLE, "extra": {}}
    return {**base, **fields}


MODEL = {
    "face": "cabbage", "title": "made here", "width": 600, "height": 300, "background": "rgb(40, 40, 40)",
    "unknown": {},
    "widgets": [
        widget(0, "groupbox", 0, 0, 600, 300, label="Group"),
        widget(1, "image", 10, 30, 50, 50),
        widget(2, "knob", 80, 30, 80, 80, channel="gain", min=0, max=1000, value=0, skew=0.5),
        widget(3, "keyboard", 10, 150, 580, 120, extra={"first_note": 60, "keys": 13, "instrument": 1}),
        widget(4, "scope", 200, 30, 150, 100, channel="ascope"),
        widget(5, "scope", 400, 30, 150, 100, channel="nothing"),
    ],
}


def test_cabbage_kinds_drawn_and_played(browser, perform, port, tmp_path):  # noqa: F811
    orc = ORC.replace("chn_k", f"websocket_ui {port}\nchn_k").replace("PORT", str(port))
    p = perform(orc, "i2 0 60", env={"CSWS_ALLOW_CODE": "1"})
    p.wait_for("websocket server on")
    ctx, page = open_page(browser, viewport={"width": 800, "height": 600})
    try:
        page.goto(f"http://127.0.0.1:{port}/csws/surface")
        page.evaluate("""async (model) => {
          const { connect } = await import('/csws.js');
          const { renderPanel } = await import('/csws-panel.js');
          const box = document.createElement('div');
          document.body.prepend(box);
          window.cswsPanel = { model, panel: renderPanel(model, box, connect()) };
        }""", MODEL)
        assert page.evaluate(MISPLACED) == {"drawn": 6, "bad": []}
        panel = page.locator(".csws-panel")  # (the surface around it has a gain slider too)
        assert panel.get_by_role("group", name="Group").count() == 1
        # Skew 0.5: half way along the knob is 1000 * 0.5 ** 2 = 250.
        knob = panel.get_by_role("slider", name="gain", exact=True)
        knob.focus()
        for _ in range(50):  # a hundredth of the way each
            page.keyboard.press("ArrowUp")
        channel_becomes(port, "gain", lambda v: abs(v - 250) < 1e-6)
        # A key held plays its note (p4 the MIDI note, p5 the velocity) until let go.
        key = panel.get_by_role("button", name="E4", exact=True)
        box = key.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8)
        page.mouse.down()
        p.wait_for(r"note 64 velocity 100")
        from csws.client import connect_sync

        with connect_sync(f"ws://127.0.0.1:{port}") as cs:
            assert cs.eval_code("ival active 1\nreturn ival") == 1
            page.mouse.up()
            deadline = time.monotonic() + patience(10)
            while cs.eval_code("ival active 1\nreturn ival") != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cs.eval_code("ival active 1\nreturn ival") == 0, "the note ends when the key is let go"
        # A scope draws the websocket variable of its channel's name; without one it says so.
        page.wait_for_function("() => !document.querySelector('[data-id=w4] canvas').hidden", timeout=patience_ms(10))
        first = page.evaluate("() => document.querySelector('[data-id=w4] canvas').toDataURL()")
        page.wait_for_function("(first) => document.querySelector('[data-id=w4] canvas').toDataURL() !== first",
                               arg=first, timeout=patience_ms(10))
        assert "not available" in page.locator("[data-id=w5]").text_content()
        # The keyboard works from the keyboard too.
        panel.get_by_role("button", name="C5", exact=True).press("Space")
        p.wait_for(r"note 72 velocity 100")
        assert page.errors == [], page.errors
    finally:
        ctx.close()
