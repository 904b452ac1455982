"""CsoundQt's <bsbPanel> as the panel model (csws/protocol/bsb_panel.py), and a .csd's faces.

The widgets here are as CsoundQt writes them; the last tests read every panel of
Debian's csoundqt-examples (fetched by name at test time, like test_html_pieces).
"""
from __future__ import annotations

import collections
import re

from csws.protocol.bsb_panel import panel_of_bsb
from csws.protocol.faces import chnset_code, faces_of_csd, start_values
from test_html_pieces import examples  # noqa: F401 - the fixture

COLOUR = "<r>{}</r><g>{}</g><b>{}</b>"


def obj(kind: str, body: str, x: int = 10, y: int = 20, w: int = 30, h: int = 40, name: str = "") -> str:
    return (f'<bsbObject type="{kind}" version="2"><objectName>{name}</objectName><x>{x}</x><y>{y}</y>'
            f"<width>{w}</width><height>{h}</height><uuid>{{x}}</uuid><visible>true</visible>{body}</bsbObject>")


def csd(*objects: str, extra: str = "") -> bytes:
    return (f"<CsoundSynthesizer><CsInstruments>instr 1\nendin</CsInstruments></CsoundSynthesizer>\n"
            f"<bsbPanel><label>Widgets</label><bgcolor mode=\"background\">{COLOUR.format(1, 2, 3)}</bgcolor>"
            f"{''.join(objects)}{extra}</bsbPanel>\n<bsbPresets>\n</bsbPresets>\n").encode()


def only(panel: dict) -> dict:
    assert len(panel["widgets"]) == 1, panel["widgets"]
    return panel["widgets"][0]


def test_no_panel_is_none_and_a_broken_one_is_empty():
    assert panel_of_bsb(b"<CsoundSynthesizer></CsoundSynthesizer>") is None
    broken = panel_of_bsb(b"<bsbPanel><bsbObject type='BSBKnob'><x>1</bsbObject></bsbPanel>")
    assert broken["widgets"] == [] and broken["unknown"] == {"(unreadable)": 1}


def test_the_panel_its_size_and_colour():
    p = panel_of_bsb(csd(obj("BSBLabel", "<label>a</label>", x=100, y=50, w=20, h=10),
                         obj("BSBLabel", "<label>b</label>", x=5, y=300, w=40, h=25)))
    assert (p["face"], p["title"], p["background"]) == ("csoundqt", "Widgets", "rgb(1, 2, 3)")
    assert (p["width"], p["height"]) == (120, 325), "the widgets' extent"
    assert [w["id"] for w in p["widgets"]] == ["w0", "w1"]


def test_a_label_with_its_style():
    w = only(panel_of_bsb(csd(obj("BSBLabel", "<label>Gain\nin dB</label><alignment>center</alignment>"
                                  "<valignment>bottom</valignment><font>Arial</font><fontsize>14</fontsize>"
                                  f"<color>{COLOUR.format(255, 0, 0)}</color>"
                                  f'<bgcolor mode="nobackground">{COLOUR.format(9, 9, 9)}</bgcolor>'
                                  "<bordermode>border</bordermode><borderradius>4</borderradius>"
                                  "<borderwidth>2</borderwidth>"))))
    assert (w["kind"], w["label"], w["x"], w["y"], w["width"], w["height"]) == ("label", "Gain\nin dB", 10, 20, 30, 40)
    assert w["style"] == {"color": "rgb(255, 0, 0)", "background": None, "border": "rgb(255, 0, 0)",
                          "border_width": 2, "radius": 4, "font": "Arial", "font_size": 14, "bold": False,
                          "align": "center", "valign": "bottom"}


def test_sliders_knobs_and_numbers_with_range_and_resolution():
    body = "<minimum>200</minimum><maximum>1000</maximum><value>433.5</value><resolution>{}</resolution>"
    p = panel_of_bsb(csd(obj("BSBHSlider", body.format(-1), name="freq"), obj("BSBVSlider", body.format(0)),
                         obj("BSBKnob", body.format(0.01)
                             + "<textcolor>#512900</textcolor><showvalue>true</showvalue>"),
                         obj("BSBSpinBox", body.format(1)), obj("BSBScrollNumber", body.format(0.5))))
    kinds = [(w["kind"], w["min"], w["max"], w["value"], w["step"]) for w in p["widgets"]]
    assert kinds == [("hslider", 200, 1000, 433.5, 0), ("vslider", 200, 1000, 433.5, 0),
                     ("knob", 200, 1000, 433.5, 0.01), ("spinbox", 200, 1000, 433.5, 1),
                     ("scrollnumber", 200, 1000, 433.5, 0.5)]
    assert p["widgets"][0]["channel"] == "freq"
    assert p["widgets"][2]["extra"] == {"color2": "#512900", "show_value": True}


def test_buttons_value_event_latch_picture_and_reserved():
    def button(kind, latch="false", latched="false", name="b", image="/"):
        return obj("BSBButton", f"<type>{kind}</type><pressedValue>1000</pressedValue><text>Go</text>"
                                f"<image>{image}</image><eventLine>i1 0 10</eventLine><latch>{latch}</latch>"
                                f"<latched>{latched}</latched>", name=name)

    p = panel_of_bsb(csd(button("value"), button("event"), button("value", "true", "true"),
                         button("pictevent", image="pics/go.png"), button("value", name="_Play")))
    value, event, latched, picture, play = p["widgets"]
    assert value["button"] == {"mode": "value", "pressed": 1000, "released": 0, "latch": False,
                               "event": "i1 0 10", "image": ""}
    assert value["label"] == "Go" and value["value"] == 0
    assert event["button"]["mode"] == "event"
    assert latched["button"]["latch"] and latched["value"] == 1000
    assert picture["button"]["mode"] == "event" and picture["button"]["image"] == "pics/go.png"
    assert play["extra"]["reserved"] == "_Play"


def test_dropdown_checkbox_lineedit():
    items = "".join(f"<bsbDropdownItem><name>{n}</name><value>{i}</value><stringvalue/></bsbDropdownItem>"
                    for i, n in enumerate(["sine", "saw", "square"]))
    p = panel_of_bsb(csd(
        obj("BSBDropdown", f"<bsbDropdownItemList>{items}</bsbDropdownItemList><selectedIndex>2</selectedIndex>"),
        obj("BSBCheckBox", "<selected>true</selected><label/><pressedValue>5</pressedValue>"),
        obj("BSBLineEdit", "<label>/tmp/a.wav</label>", name="_Browse1")))
    dropdown, checkbox, lineedit = p["widgets"]
    assert dropdown["items"] == [{"text": "sine", "value": 0}, {"text": "saw", "value": 1},
                                 {"text": "square", "value": 2}]
    assert dropdown["value"] == 2
    assert (checkbox["kind"], checkbox["max"], checkbox["value"]) == ("checkbox", 5, 5)
    assert (lineedit["kind"], lineedit["text"], lineedit["extra"]["reserved"]) == ("lineedit", "/tmp/a.wav", "_Browse1")


def test_controller_scope_graph_and_what_it_cannot_draw():
    p = panel_of_bsb(csd(
        obj("BSBController", "<objectName2>y</objectName2><xMin>-1</xMin><xMax>1</xMax><yMin>0</yMin><yMax>10</yMax>"
                             f"<xValue>0.5</xValue><yValue>7</yValue><type>crosshair</type><pointsize>5</pointsize>"
                             f"<color>{COLOUR.format(0, 234, 0)}</color><bgcolormode>true</bgcolormode>"
                             f"<bgcolor>{COLOUR.format(0, 0, 0)}</bgcolor>", name="x"),
        obj("BSBScope", "<value>-255</value><type>lissajou</type>"),
        obj("BSBGraph", "<objectName2>table</objectName2>", name="ftable"),
        obj("BSBConsole", "<font>Courier</font>"), obj("BSBTableDisplay", "<range>1</range>"),
        obj("BSBConsole", "")))
    controller, scope, graph, *placeholders = p["widgets"]
    assert (controller["channel"], controller["channel2"]) == ("x", "y")
    assert (controller["min"], controller["max"], controller["value"]) == (-1, 1, 0.5)
    assert (controller["min2"], controller["max2"], controller["value2"]) == (0, 10, 7)
    assert controller["extra"] == {"mode": "crosshair", "point_size": 5}
    assert controller["style"]["background"] == "rgb(0, 0, 0)"
    assert scope["extra"] == {"mode": "lissajou", "scope_channel": -255}
    assert (graph["kind"], graph["channel"], graph["channel2"]) == ("graph", "ftable", "table")
    assert [(w["kind"], w["label"]) for w in placeholders] == [
        ("placeholder", "BSBConsole"), ("placeholder", "BSBTableDisplay"), ("placeholder", "BSBConsole")]
    assert p["unknown"] == {"BSBConsole": 2, "BSBTableDisplay": 1}


def test_widgets_out_of_sight_and_control_characters():
    # CsoundQt keeps widgets it moved away at coordinates like these; labels may hold control characters.
    p = panel_of_bsb(csd(obj("BSBHSlider", "", x=-1684370995, y=-1632653275),
                         obj("BSBLabel", "<label>print \x1d here</label>"),
                         obj("BSBLabel", "<visible>false</visible>").replace("<visible>true</visible>", "")))
    assert [w["label"] for w in p["widgets"]] == ["print   here"]
    assert p["hidden"] == 2


def test_faces_in_order_and_the_start_values():
    page = b"<html><body>mine</body></html>"
    with_all = csd(obj("BSBKnob", "<minimum>0</minimum><maximum>1</maximum><value>0.25</value>", name="k"),
                   obj("BSBLineEdit", "<label>say \"hi\"</label>", name="s"),
                   obj("BSBButton", "<type>value</type><pressedValue>1</pressedValue><latch>false</latch>", name="m"),
                   obj("BSBDisplay", "<label>3</label>", name="out"),
                   obj("BSBHSlider", "<value>1</value>", name="_Play"))
    assert faces_of_csd(with_all + page).present == ["html", "csoundqt", "surface"]
    assert faces_of_csd(with_all).first == "csoundqt"
    assert faces_of_csd(b"<CsoundSynthesizer></CsoundSynthesizer>").present == ["surface"]
    values = start_values(faces_of_csd(with_all).csoundqt)
    assert values == {"k": 0.25, "s": 'say "hi"', "m": 0}, "controls only: no display or reserved channel"
    assert chnset_code(values) == 'chnset 0.25, "k"\nchnset "say \\"hi\\"", "s"\nchnset 0.0, "m"\n'


def test_every_panel_of_csoundqt_examples_is_read(examples):  # noqa: F811 - the fixture
    kinds: collections.Counter = collections.Counter()
    unknown: collections.Counter = collections.Counter()
    panels = hidden = 0
    for path in sorted(examples.rglob("*.csd")):
        data = path.read_bytes()
        panel = panel_of_bsb(data)
        if panel is None:
            assert b"<bsbPanel" not in data, path
            continue
        panels += 1
        assert "(unreadable)" not in panel["unknown"], path
        # Every bsbObject is a widget, or out of sight.
        assert len(panel["widgets"]) + panel["hidden"] == len(re.findall(rb"<bsbObject\b", data)), path
        kinds.update(w["type"] for w in panel["widgets"])
        unknown.update(panel["unknown"])
        hidden += panel["hidden"]
    print(f"\n{panels} panels, {sum(kinds.values())} widgets ({hidden} out of sight): "
          + ", ".join(f"{t} {n}" for t, n in kinds.most_common()) + f"; placeholders: {dict(unknown)}")
    assert panels == 378
    assert set(unknown) <= {"BSBConsole", "BSBTableDisplay"}
