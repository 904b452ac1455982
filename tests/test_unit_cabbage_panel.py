"""The <Cabbage> section as the panel model (csws.protocol.cabbage_panel), without Csound:
Cabbage 2's text syntax and Cabbage 3's JSON, every widget type, skew, colours, nested
groups, and hostile input (never raises; what it does not know becomes a placeholder).
test_panels_cabbage.py renders the same pieces in Chromium against a real Csound.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from csws.protocol.cabbage_panel import colour_of_args, panel_of_cabbage

PIECES = Path(__file__).resolve().parent / "pieces"
WIDGET_KEYS = {"id", "type", "kind", "x", "y", "width", "height", "channel", "channel2", "label", "min", "max",
               "value", "min2", "max2", "value2", "step", "skew", "text", "items", "button", "style", "extra"}
STYLE_KEYS = {"color", "background", "border", "border_width", "radius", "font", "font_size", "bold", "align",
              "valign"}
# The extra keys docs/panels.md documents for this reader, and no others.
EXTRA_KEYS = {"text_on", "background_on", "color_on", "thumb", "text_color", "outline", "file", "channel_type",
              "instrument", "first_note", "keys", "cabbage_id"}
KINDS = {"label", "display", "button", "hslider", "vslider", "knob", "spinbox", "scrollnumber", "dropdown",
         "checkbox", "lineedit", "controller", "scope", "graph", "groupbox", "image", "keyboard", "placeholder"}


def cabbage(section: str) -> dict:
    panel = panel_of_cabbage(f"<Cabbage>\n{section}\n</Cabbage>\n<CsoundSynthesizer></CsoundSynthesizer>".encode())
    assert panel is not None
    check_model(panel)
    return panel


def check_model(panel: dict) -> None:
    """The panel is the contract's shape, and plain JSON (no NaN: the page could not read it)."""
    json.dumps(panel, allow_nan=False)
    assert panel["face"] == "cabbage"
    assert set(panel) == {"face", "title", "width", "height", "background", "widgets", "unknown"}
    ids = [w["id"] for w in panel["widgets"]]
    assert ids == [f"w{i}" for i in range(len(ids))]
    for w in panel["widgets"]:
        assert set(w) == WIDGET_KEYS and set(w["style"]) == STYLE_KEYS, w
        assert w["kind"] in KINDS
        assert w["width"] >= 0 and w["height"] >= 0 and w["skew"] > 0 and w["step"] >= 0
        assert all(isinstance(v, (str, int, float, bool)) for v in w["extra"].values())
        assert set(w["extra"]) <= EXTRA_KEYS, w["extra"]


def by_channel(panel: dict) -> dict[str, dict]:
    return {w["channel"]: w for w in panel["widgets"] if w["channel"]}


def geometry(w: dict) -> tuple:
    return w["x"], w["y"], w["width"], w["height"]


def test_a_csd_without_a_cabbage_section_has_no_cabbage_panel():
    assert panel_of_cabbage(b"<CsoundSynthesizer><CsInstruments>instr 1\nendin</CsInstruments></CsoundSynthesizer>") is None
    assert panel_of_cabbage(b"") is None
    empty = cabbage("")
    assert empty["widgets"] == [] and empty["unknown"] == {} and (empty["width"], empty["height"]) == (0, 0)


@pytest.mark.parametrize("piece", ["cabbage2.csd", "cabbage3.csd"])
def test_both_syntaxes_give_the_same_panel_for_the_same_instrument(piece):
    panel = panel_of_cabbage((PIECES / piece).read_bytes())
    check_model(panel)
    assert panel["unknown"] == {}
    assert (panel["width"], panel["height"]) == (460, 400)
    assert panel["title"] == ("Cabbage 2 panel" if piece == "cabbage2.csd" else "Cabbage 3 panel")
    assert panel["background"] == "#282c34"
    kinds = [(w["type"].lower(), w["kind"]) for w in panel["widgets"]]
    assert [k for _, k in kinds] == ["label", "knob", "hslider", "vslider", "scrollnumber", "button", "button",
                                     "checkbox", "dropdown", "groupbox", "knob", "image", "label", "keyboard"]
    ch = by_channel(panel)
    assert sorted(ch) == ["cutoff", "freq", "gain", "hold", "level", "mute", "play", "steps", "wave"]
    gain, freq, level, steps, cutoff = ch["gain"], ch["freq"], ch["level"], ch["steps"], ch["cutoff"]
    assert (gain["min"], gain["max"], gain["value"], gain["skew"], gain["step"], gain["label"]) == (0, 1, 0.5, 1, 0.01, "Gain")
    assert (freq["min"], freq["max"], freq["value"], freq["skew"], freq["step"]) == (20, 20000, 1000, 0.5, 1)
    assert (level["min"], level["max"], level["value"], level["step"]) == (0, 10, 5, 0.1)
    assert (steps["min"], steps["max"], steps["value"], steps["step"]) == (0, 100, 10, 1)
    assert geometry(gain) == (10, 30, 70, 70) and geometry(freq) == (90, 30, 250, 40)
    # The group's children: relative to the group box (10, 140), the label relative to the image.
    assert geometry(cutoff) == (20, 170, 70, 70) and cutoff["skew"] == 0.3
    image, inner = panel["widgets"][11], panel["widgets"][12]
    assert geometry(image) == (110, 170, 200, 70) and geometry(inner) == (120, 180, 180, 16)
    assert inner["label"] == "inside the image" and panel["widgets"][9]["label"] == "Filter"
    play, hold = ch["play"], ch["hold"]
    assert play["label"] == "Play" and play["extra"]["text_on"] == "Stop" and hold["extra"]["text_on"] == "Held"
    assert play["button"]["mode"] == "value" and (play["button"]["pressed"], play["button"]["released"]) == (1, 0)
    assert play["button"]["latch"] is True
    assert ch["mute"]["label"] == "Mute" and (ch["mute"]["min"], ch["mute"]["max"], ch["mute"]["value"]) == (0, 1, 0)
    assert [i["text"] for i in ch["wave"]["items"]] == ["Saw", "Square", "Triangle"]
    keyboard = panel["widgets"][13]
    # 440 pixels hold 27 white keys of Cabbage's 16: from C3 (48) to A6 (93), 46 keys.
    assert geometry(keyboard) == (10, 280, 440, 100)
    assert {k: keyboard["extra"][k] for k in ("instrument", "first_note", "keys")} == \
        {"instrument": 1, "first_note": 48, "keys": 46}
    assert keyboard["channel"] == ""


def test_cabbage2_combobox_values_are_1_based_and_cabbage3_follows_index_offset():
    two = by_channel(cabbage('combobox bounds(0, 0, 90, 20), channel("w"), text("a", "b", "c"), value(3)'))["w"]
    assert [(i["text"], i["value"]) for i in two["items"]] == [("a", 1), ("b", 2), ("c", 3)]
    assert (two["min"], two["max"], two["value"], two["step"]) == (1, 3, 3, 1)
    items = by_channel(cabbage('combobox channel("w") items("x", "y")'))["w"]
    assert [(i["text"], i["value"]) for i in items["items"]] == [("x", 1), ("y", 2)] and items["value"] == 1
    zero = by_channel(cabbage('[{"type": "comboBox", "channel": "w", "items": ["a", "b"]}]'))["w"]
    assert [i["value"] for i in zero["items"]] == [0, 1] and zero["value"] == 0
    offset = by_channel(cabbage('{"widgets": [{"type": "comboBox", "channels": [{"id": "w"}], "items": "a, b, c",'
                                ' "indexOffset": true}]}'))["w"]
    assert [(i["text"], i["value"]) for i in offset["items"]] == [("a", 1), ("b", 2), ("c", 3)]
    string = by_channel(cabbage('combobox channel("f") text("x") channeltype("string")'))["f"]
    assert string["extra"]["channel_type"] == "string"


def test_cabbage2_buttons_latch_unless_latched_0_and_checkboxes_start_at_their_value():
    p = by_channel(cabbage('button bounds(1, 2, 3, 4) channel("a") text("Go")\n'
                           'button channel("b") text("Off", "On") latched(0) value(1)\n'
                           'checkbox channel("c") value(1) text("C")'))
    assert p["a"]["button"]["latch"] is True and p["a"]["label"] == "Go" and "text_on" not in p["a"]["extra"]
    assert p["b"]["button"]["latch"] is False and p["b"]["value"] == 1 and p["b"]["extra"]["text_on"] == "On"
    assert p["c"]["kind"] == "checkbox" and p["c"]["value"] == 1 and p["c"]["label"] == "C"
    # Without bounds, Cabbage's defaults: 10, 10 and the type's size.
    assert geometry(p["b"]) == (10, 10, 80, 40)


@pytest.mark.parametrize("declaration, expected", [
    ('rslider channel("k") range(0, 1, 0.5)', (0, 1, 0.5, 1, 0.001)),        # skew and increment default
    ('hslider channel("k") range(20, 20000, 440, 0.25, 1)', (20, 20000, 440, 0.25, 1)),
    ('vslider channel("k") range(0, 1, 0.5, 0, 0.1)', (0, 1, 0.5, 1, 0.1)),   # no skew of 0: linear
    ('vslider channel("k") range(0, 1, 0.5, -2)', (0, 1, 0.5, 1, 0.001)),
    ('nslider channel("k") range(-10, 10, 50, 1, 1)', (-10, 10, 10, 1, 1)),  # a start value outside clamps
    ('rslider channel("k") range(0, 1, 0.2) value(0.7)', (0, 1, 0.7, 1, 0.001)),
    ('rslider channel("k")', (0, 1, 0, 1, 0.001)),
    ('rslider channel("k") range("a", 1, nan)', (0, 1, 0, 1, 0.001)),
])
def test_range_and_skew_as_cabbage_reads_them(declaration, expected):
    k = by_channel(cabbage(declaration))["k"]
    assert (k["min"], k["max"], k["value"], k["skew"], k["step"]) == expected


@pytest.mark.parametrize("args, css", [
    ([255.0, 0.0, 0.0], "#ff0000"),
    ([0.0, 128.0, 255.0, 128.0], "#0080ff80"),
    ([10.0, 20.0, 30.0, 255.0], "#0a141e"),
    ([300.0, -5.0, 0.0], "#ff0000"),
    (["red"], "red"),
    (["DarkGrey"], "darkgrey"),
    (["#3366CC"], "#3366cc"),
    (["80ff0000"], "#ff000080"),  # JUCE's aarrggbb
    (["ff00ff00"], "#00ff00"),
    ([], None), ([1.0, 2.0], None), (["not a colour!"], None), (["url(x)"], None),
])
def test_colours_become_css(args, css):
    assert colour_of_args(args) == css


def test_colours_and_text_style_of_the_text_syntax():
    p = by_channel(cabbage('button channel("b") colour:0(10, 20, 30) colour:1("lime") fontcolour:0("white") '
                           'fontcolour:1(0, 0, 0) outlinecolour(1, 2, 3) outlinethickness(2) corners(4)\n'
                           'checkbox channel("c") colour(255, 0, 0) trackercolour("red")\n'
                           'rslider channel("r") colour(1, 1, 1) trackercolour(0, 255, 0) fontcolour(9, 9, 9) '
                           'outlinecolour(5, 5, 5)\n'
                           'label bounds(0, 0, 100, 20) text("L") align("left") fontstyle("bold") channel("l")'))
    b = p["b"]
    assert (b["style"]["background"], b["extra"]["background_on"]) == ("#0a141e", "lime")
    assert (b["style"]["color"], b["extra"]["color_on"]) == ("white", "#000000")
    assert (b["style"]["border"], b["style"]["border_width"], b["style"]["radius"]) == ("#010203", 2, 4)
    assert p["c"]["extra"] == {"background_on": "#ff0000"} and p["c"]["style"]["background"] is None
    # A knob's colour is its thumb, its tracker the model's colour, its font colour its text's.
    r = p["r"]
    assert (r["style"]["color"], r["style"]["background"]) == ("#00ff00", None)
    assert (r["extra"]["thumb"], r["extra"]["text_color"], r["extra"]["outline"]) == ("#010101", "#090909", "#050505")
    assert (r["style"]["border"], r["style"]["border_width"]) == (None, 0)
    label = p["l"]
    assert label["style"]["align"] == "left" and label["style"]["bold"] is True and label["style"]["font_size"] == 16


def test_colours_a_panel_does_not_give_are_cabbage_3s_defaults():
    for section in ('rslider channel("k")\nhslider channel("h")\ncombobox channel("c")\nbutton channel("b")\n'
                    'label text("l") channel("l")\nnslider channel("n")',
                    '[{"type": "rotarySlider", "channel": "k"}, {"type": "horizontalSlider", "channel": "h"},'
                    ' {"type": "comboBox", "channel": "c"}, {"type": "button", "channel": "b"},'
                    ' {"type": "label", "channel": "l", "text": "l"}, {"type": "numberSlider", "channel": "n"}]'):
        p = cabbage(section)
        assert p["background"] == "#004c6b"
        styles = [w["style"] for w in p["widgets"]]
        assert [s["color"] for s in styles] == ["#93d200", "#93d200", "#dddddd", "#dddddd", "#dddddd", "#dddddd"]
        assert [s["background"] for s in styles] == [None, None, "#0295cf", "#3d800a", None, "#0295cf"]
        assert [w["extra"].get("text_color") for w in p["widgets"][:2]] == ["#dddddd", "#dddddd"]
    track = cabbage('[{"type": "rotarySlider", "channel": "k", "style": {"thumb": {"backgroundColor": "#111"},'
                    ' "track": {"fillColor": "#222"}}}]')["widgets"][0]
    assert (track["style"]["color"], track["extra"]["thumb"]) == ("#222", "#111")


def test_comments_multi_line_declarations_and_strings_with_comment_characters():
    p = cabbage('; a comment line\n'
                'form caption("T; not a comment") size(300, 200) // a comment\n'
                '/* rslider channel("commented") */\n'
                'rslider bounds(1, 2, 3, 4),\n'
                '        channel("a"),   ; the declaration goes on\n'
                '        range(0, 10, 5) text("http://x")\n'
                'hslider channel("b") /* inline */ range(0, 2, 1)\n'
                '/* a block\n'
                '   over lines */ vslider channel("c")\n')
    assert p["title"] == "T; not a comment" and (p["width"], p["height"]) == (300, 200)
    ch = by_channel(p)
    assert sorted(ch) == ["a", "b", "c"]
    assert geometry(ch["a"]) == (1, 2, 3, 4) and ch["a"]["max"] == 10 and ch["a"]["label"] == "http://x"
    assert ch["b"]["max"] == 2


def test_cabbage2_macros_expand_in_widget_lines():
    p = cabbage('#define KNOB #trackercolour(0, 255, 255), colour(100, 100, 140)#\n'
                '#define  BOX fontcolour("white") range(0, 5, 2)\n'
                'rslider bounds(0, 0, 60, 60), channel("a"), $KNOB\n'
                'rslider bounds(60, 0, 60, 60), channel("b"), $BOX. $NOPE\n')
    assert p["unknown"] == {}, "#define lines are not widgets"
    a, b = p["widgets"]
    assert (a["style"]["color"], a["extra"]["thumb"]) == ("#00ffff", "#64648c")
    assert (b["extra"]["text_color"], b["max"], b["value"]) == ("white", 5, 2)
    bomb = cabbage("#define A " + "$A " * 300 + "\n" + "rslider channel($A)\n" * 500)  # grows only so far
    assert len(bomb["widgets"]) == 500


def test_lines_and_text_editors():
    line, editor = cabbage('line bounds(0, 10, 200, 2)\ntexteditor bounds(0, 20, 100, 20) channel("t") text("hi")')["widgets"]
    assert line["kind"] == "label" and line["style"]["background"] == "#ffffff" and line["label"] == ""
    assert editor["kind"] == "lineedit" and editor["channel"] == "t" and editor["text"] == "hi"


def test_plant_groups_nest_to_absolute_geometry_with_braces_on_their_own_lines():
    p = cabbage('groupbox bounds(100, 100, 200, 200) text("Outer") plant("outer")\n'
                '{\n'
                '  image bounds(10, 10, 100, 100), plant("inner") {\n'
                '    rslider bounds(5, 5, 20, 20) channel("deep")\n'
                '  }\n'
                '  hslider bounds(0, 150, 100, 20) channel("after")\n'
                '}\n'
                'vslider bounds(1, 1, 10, 10) channel("top")\n'
                '}}} button channel("stray")\n')  # stray closing braces are ignored
    ch = by_channel(p)
    assert geometry(ch["deep"]) == (115, 115, 20, 20)
    assert geometry(ch["after"]) == (100, 250, 100, 20)
    assert geometry(ch["top"]) == (1, 1, 10, 10)
    assert "stray" in ch
    assert p["widgets"][0]["style"]["valign"] == "top"
    # Without a form, the panel is the widgets' extent.
    assert (p["width"], p["height"]) == (300, 300)


def test_groups_nested_too_deep_keep_their_parents_origin_and_close_in_step():
    deep = "".join(f"image bounds(1, 1, 10, 10) {{\n" for _ in range(40)) + 'rslider bounds(0, 0, 5, 5) channel("in")\n'
    p = cabbage(deep + "}\n" * 40 + 'rslider bounds(3, 4, 5, 5) channel("out")\n')
    ch = by_channel(p)
    assert geometry(ch["in"]) == (32, 32, 5, 5), "relative to the 32nd level: deeper ones do not move it"
    assert geometry(ch["out"]) == (3, 4, 5, 5), "every block closed: back at the panel's origin"


def test_unknown_widgets_are_placeholders_counted_and_unknown_identifiers_ignored():
    p = cabbage('gentable bounds(0, 0, 100, 50) tablenumber(1)\n'
                'gentable bounds(0, 50, 100, 50)\n'
                'soundfiler bounds(0, 100, 100, 50) channel("s")\n'
                'rslider bounds(0, 0, 60, 60) channel("k") wibble(1, 2) popup(1) identchannel("x")\n')
    assert p["unknown"] == {"gentable": 2, "soundfiler": 1}
    kinds = [(w["type"], w["kind"]) for w in p["widgets"]]
    assert kinds == [("gentable", "placeholder"), ("gentable", "placeholder"), ("soundfiler", "placeholder"),
                     ("rslider", "knob")]
    assert geometry(p["widgets"][1]) == (0, 50, 100, 50)


def test_xypad_is_a_controller_of_two_channels():
    c = cabbage('xypad bounds(0, 0, 200, 200) channel("x", "y") rangex(0, 10, 2) rangey(-1, 1, 0.5)')["widgets"][0]
    assert c["kind"] == "controller" and (c["channel"], c["channel2"]) == ("x", "y")
    assert (c["min"], c["max"], c["value"], c["min2"], c["max2"], c["value2"]) == (0, 10, 2, -1, 1, 0.5)


def test_cabbage3_earlier_array_syntax_with_channel_range_and_text():
    p = cabbage('[{"type": "form", "caption": "Old", "size": {"width": 360.0, "height": 460.0}},\n'
                ' {"type": "rotarySlider", "bounds": {"left": 20.0, "top": 20.0, "width": 80.0, "height": 80.0},'
                '  "channel": "h1", "range": {"min": 0.0, "max": 2.0, "value": 1.5, "skew": 0.5, "increment": 0.01}},\n'
                ' {"type": "checkBox", "bounds": {"left": 24, "top": 200, "width": 180, "height": 16},'
                '  "channel": "rnd", "text": "Randomise"},\n'
                ' {"type": "rslider", "channel": "legacy"},\n'
                ' {"type": "hslider", "channel": "legacy2", "range": {"min": 0, "max": 1, "defaultValue": 0.25},},\n'
                ']')
    assert p["title"] == "Old" and (p["width"], p["height"]) == (360, 460)
    ch = by_channel(p)
    assert (ch["h1"]["max"], ch["h1"]["value"], ch["h1"]["skew"], ch["h1"]["step"]) == (2, 1.5, 0.5, 0.01)
    assert ch["rnd"]["label"] == "Randomise" and ch["rnd"]["kind"] == "checkbox"
    assert ch["legacy"]["kind"] == "knob" and ch["legacy2"]["value"] == 0.25


def test_cabbage3_styles_and_ids_of_widgets_that_hold_no_value():
    p = cabbage('{"widgets": [\n'
                ' {"type": "label", "channels": [{"id": "title"}], "label": {"text": "Hi"},'
                '  "style": {"fontColor": "#ddd", "backgroundColor": "rgb(1, 2, 3)", "fontSize": 20,'
                '  "textAlign": "right", "borderRadius": 3}},\n'
                ' {"type": "xyPad", "channels": [{"id": "px", "range": {"min": 0, "max": 5, "defaultValue": 1}},'
                '  {"id": "py", "range": {"min": 10, "max": 20, "defaultValue": 15}}]},\n'
                ' {"type": "image", "channels": [{"id": "img"}], "file": "pic.png"},\n'
                ' {"type": "keyboard", "channels": [{"id": "kb"}]}\n'
                ']}')
    label, pad, image, keyboard = p["widgets"]
    assert label["channel"] == "" and label["extra"]["cabbage_id"] == "title" and label["label"] == "Hi"
    assert (label["style"]["color"], label["style"]["background"]) == ("#ddd", "rgb(1, 2, 3)")
    assert (label["style"]["font_size"], label["style"]["align"], label["style"]["radius"]) == (20, "right", 3)
    assert (pad["channel"], pad["channel2"], pad["value"], pad["min2"], pad["max2"], pad["value2"]) == ("px", "py", 1, 10, 20, 15)
    assert image["extra"]["file"] == "pic.png"
    assert keyboard["extra"]["first_note"] == 60 and keyboard["channel"] == ""  # baseOctave 3: C4
    assert keyboard["extra"]["cabbage_id"] == "kb"


@pytest.mark.parametrize("section", [
    "[", '{"widgets": 3}', '{"widgets": [1, "x", null, [], {"type": 5}, {"type": "rotarySlider", "bounds": "x",'
    ' "channels": "y", "range": [], "style": 7, "label": {"text": 4}}]}',
    '[{"type": "rotarySlider", "channel": "k", "range": {"min": NaN, "max": Infinity, "value": -Infinity}}]',
    '[{"type": "groupBox", "children": ' + "[" * 5000 + "]" * 5000 + "}]",
    "[" * 100000,
    '[{"type": "groupBox", "children": [' * 100 + "]}" * 100 + "]",
])
def test_broken_or_hostile_json_never_raises(section):
    p = cabbage(section)
    assert all(w["kind"] in KINDS for w in p["widgets"])


def test_unreadable_json_is_one_unreadable_entry():
    assert cabbage("[{").get("unknown") == {"(unreadable)": 1}
    assert cabbage('{"widgets": 3}')["unknown"] == {"(unreadable)": 1}
    mixed = cabbage('[1, {"type": "rotarySlider"}, {}]')
    assert mixed["unknown"] == {"(not a widget)": 1, "(no type)": 1}


@pytest.mark.parametrize("section", [
    'rslider bounds(1e308, -1e308, 1e309, nan) channel("k") range(inf, -inf, 0)',
    "rslider bounds(" * 1000, "{" * 10000 + "rslider" + "}" * 10000, ")))(((", 'button text("unterminated',
    "form size(-10, -20)", "keyboard value(1000)", "keyboard bounds(0, 0, 1e308, 10) keywidth(1e-300)", "\x00\ufffd\u202e rslider \u0000 channel(\"\u00e9\")",
    'combobox text()', 'label text(1, 2, 3)', "image {" * 300,
])
def test_broken_or_hostile_text_never_raises(section):
    p = cabbage(section)
    for w in p["widgets"]:
        if w["kind"] == "keyboard":
            assert 0 <= w["extra"]["first_note"] <= 127 and w["extra"]["first_note"] + w["extra"]["keys"] <= 128


def test_random_bytes_never_raise():
    rng = random.Random(21)
    alphabet = b'rslider hslider combobox button groupbox plant form bounds channel range text colour(){}[]",:;/*\n0123456789.-#'
    for _ in range(400):
        n = rng.randrange(0, 400)
        body = bytes(rng.choice(alphabet) for _ in range(n)) if rng.random() < 0.8 else rng.randbytes(n)
        panel = panel_of_cabbage(b"<Cabbage>" + body + b"</Cabbage>")
        check_model(panel)
