"""CsoundQt's widget panel: the <bsbPanel> element of a .csd as the panel model of docs/panels.md.

CsoundQt writes one <bsbObject type="BSB..."> per widget, with its channel
(<objectName>), geometry, range, colours and font as child elements.  The
reader is tolerant: an element or value it does not understand is ignored or
becomes a placeholder, a section it cannot parse gives an empty panel saying
so; it never raises on any input.

Keys a CsoundQt widget sets in `extra` (docs/panels.md):
  precision    display, label: decimals a number is shown with
  reserved     button, lineedit, display...: a CsoundQt reserved channel (_Play, _Browse1...)
  mode         controller: fill, llif, line, crosshair or point; scope: scope, lissajou, poincare
  point_size   controller: the point's size
  scope_channel scope: the output channel CsoundQt shows (-255: all)
  color2       knob: its value text's colour
  show_value   knob: whether it shows its value
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

_SECTION = re.compile(rb"<bsbPanel\b.*?</bsbPanel\s*>", re.DOTALL)
# XML 1.0 forbids these; CsoundQt writes what a label holds, control characters included.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
FAR = 32767  # CsoundQt keeps widgets moved out of sight at coordinates like -1684370995
_CHANNEL_RESERVED = re.compile(r"_(Play|Stop|Pause|Render|M?Browse\d*|GetPreset\w*|SetPreset\w*|Mouse\w*)$")

# CsoundQt's types and the model's kinds (docs/panels.md).
KINDS = {
    "BSBLabel": "label", "BSBDisplay": "display", "BSBButton": "button", "BSBHSlider": "hslider",
    "BSBVSlider": "vslider", "BSBKnob": "knob", "BSBSpinBox": "spinbox", "BSBScrollNumber": "scrollnumber",
    "BSBDropdown": "dropdown", "BSBCheckBox": "checkbox", "BSBLineEdit": "lineedit",
    "BSBController": "controller", "BSBScope": "scope", "BSBGraph": "graph",
}


def panel_of_bsb(csd: bytes) -> dict | None:
    """The .csd's CsoundQt panel as the panel model, or None when it has no <bsbPanel>."""
    m = _SECTION.search(csd)
    if m is None:
        return None
    try:
        root = ET.fromstring(_CONTROL.sub(" ", m.group(0).decode("utf-8", "replace")))
    except ET.ParseError:
        return _panel("", 0, 0, None, [], {"(unreadable)": 1}, 0)
    widgets: list[dict] = []
    unknown: dict[str, int] = {}
    hidden = 0
    for obj in root.iter("bsbObject"):
        kind = KINDS.get(obj.get("type", ""))
        if kind is None:
            name = obj.get("type") or "(no type)"
            unknown[name] = unknown.get(name, 0) + 1
        widget = _widget(obj, kind or "placeholder", len(widgets))
        if _text(obj, "visible", "true") == "false" or not _on_panel(widget):
            hidden += 1
        else:
            widgets.append(widget)
    right = max((w["x"] + w["width"] for w in widgets), default=0)
    bottom = max((w["y"] + w["height"] for w in widgets), default=0)
    return _panel(_text(root, "label"), right, bottom, _colour(root.find("bgcolor")), widgets, unknown, hidden)


def _panel(title: str, width: float, height: float, background: str | None, widgets: list[dict],
           unknown: dict[str, int], hidden: int) -> dict:
    return {"face": "csoundqt", "title": title, "width": width, "height": height, "background": background,
            "widgets": widgets, "unknown": unknown, "hidden": hidden}


def _on_panel(w: dict) -> bool:
    """Can CsoundQt's window show the widget at all (x, y >= 0 is its panel's corner)?"""
    return w["x"] + w["width"] > 0 and w["y"] + w["height"] > 0 and w["x"] < FAR and w["y"] < FAR


def _text(el: ET.Element, tag: str, default: str = "") -> str:
    child = el.find(tag)
    return default if child is None or child.text is None else child.text


def _number(el: ET.Element, tag: str, default: float = 0.0) -> float:
    try:
        x = float(_text(el, tag))
    except ValueError:
        return default
    return x if math.isfinite(x) else default


def _colour(el: ET.Element | None) -> str | None:
    """rgb() of an element holding <r>, <g>, <b>, or None (absent, or mode="nobackground")."""
    if el is None or el.get("mode") == "nobackground":
        return None
    try:
        r, g, b = (min(255, max(0, int(float(_text(el, c))))) for c in "rgb")
    except ValueError:
        return None
    return f"rgb({r}, {g}, {b})"


def _widget(obj: ET.Element, kind: str, index: int) -> dict:
    channel = _text(obj, "objectName").strip()
    border = _text(obj, "bordermode") in ("border", "true")
    color = _colour(obj.find("color"))
    w = {
        "id": f"w{index}", "type": obj.get("type") or "", "kind": kind,
        "x": _number(obj, "x"), "y": _number(obj, "y"),
        "width": max(0.0, _number(obj, "width")), "height": max(0.0, _number(obj, "height")),
        "channel": channel, "channel2": "", "label": _text(obj, "label"),
        "min": _number(obj, "minimum"), "max": _number(obj, "maximum", 1.0), "value": _number(obj, "value"),
        "min2": 0.0, "max2": 0.0, "value2": 0.0,
        "step": max(0.0, _number(obj, "resolution")), "skew": 1.0, "text": "", "items": [], "button": None,
        "style": {
            "color": color, "background": _colour(obj.find("bgcolor")),
            "border": (color or "rgb(0, 0, 0)") if border else None,
            "border_width": _number(obj, "borderwidth", 1.0) if border else 0.0,
            "radius": _number(obj, "borderradius"),
            "font": _text(obj, "font") or None, "font_size": _number(obj, "fontsize", 10.0),
            "bold": False,
            "align": a if (a := _text(obj, "alignment", "left")) in ("left", "center", "right") else "left",
            "valign": v if (v := _text(obj, "valignment", "top")) in ("top", "center", "bottom") else "top",
        },
        "extra": {},
    }
    if _CHANNEL_RESERVED.match(channel):
        w["extra"]["reserved"] = channel
    if obj.find("precision") is not None:
        w["extra"]["precision"] = int(_number(obj, "precision", 3))
    _KIND_READERS.get(kind, lambda o, w: None)(obj, w)
    return w


def _display(obj: ET.Element, w: dict) -> None:
    w["text"] = w["label"]


def _button(obj: ET.Element, w: dict) -> None:
    kind = _text(obj, "type", "value").lower()
    image = _text(obj, "image").strip()
    latch = _text(obj, "latch") == "true"
    pressed = _number(obj, "pressedValue", 1.0)
    w["label"] = _text(obj, "text")
    w["button"] = {
        "mode": "event" if "event" in kind else "value",
        "pressed": pressed, "released": 0.0, "latch": latch,
        "event": _text(obj, "eventLine").strip(),
        "image": image if "pict" in kind and image not in ("", "/") else "",
    }
    w["value"] = pressed if latch and _text(obj, "latched") == "true" else 0.0
    w["min"], w["max"] = 0.0, pressed
    if kind == "pict":  # a picture only: CsoundQt's decoration
        w["button"]["mode"] = "value"
        w["channel"] = ""


def _knob(obj: ET.Element, w: dict) -> None:
    if obj.find("textcolor") is not None:
        w["extra"]["color2"] = _text(obj, "textcolor")
    if obj.find("showvalue") is not None:
        w["extra"]["show_value"] = _text(obj, "showvalue") == "true"


def _dropdown(obj: ET.Element, w: dict) -> None:
    items = []
    for i, item in enumerate(obj.iter("bsbDropdownItem")):
        items.append({"text": _text(item, "name"), "value": _number(item, "value", float(i))})
    w["items"] = items
    index = int(_number(obj, "selectedIndex"))
    w["value"] = items[index]["value"] if 0 <= index < len(items) else 0.0
    w["min"], w["max"], w["step"] = 0.0, float(max(len(items) - 1, 0)), 1.0


def _checkbox(obj: ET.Element, w: dict) -> None:
    pressed = _number(obj, "pressedValue", 1.0)
    w["min"], w["max"] = 0.0, pressed
    w["value"] = pressed if _text(obj, "selected") == "true" else 0.0


def _lineedit(obj: ET.Element, w: dict) -> None:
    w["text"] = w["label"]
    w["label"] = ""


def _controller(obj: ET.Element, w: dict) -> None:
    w["channel2"] = _text(obj, "objectName2").strip()
    w["min"], w["max"], w["value"] = _number(obj, "xMin"), _number(obj, "xMax", 1.0), _number(obj, "xValue")
    w["min2"], w["max2"], w["value2"] = _number(obj, "yMin"), _number(obj, "yMax", 1.0), _number(obj, "yValue")
    w["extra"]["mode"] = _text(obj, "type", "point")
    w["extra"]["point_size"] = _number(obj, "pointsize", 7.0)
    w["style"]["background"] = _colour(obj.find("bgcolor")) if _text(obj, "bgcolormode", "true") != "false" \
        else None


def _scope(obj: ET.Element, w: dict) -> None:
    w["extra"]["mode"] = _text(obj, "type", "scope")
    w["extra"]["scope_channel"] = int(w["value"])


def _graph(obj: ET.Element, w: dict) -> None:
    w["channel2"] = _text(obj, "objectName2").strip()


def _placeholder(obj: ET.Element, w: dict) -> None:
    w["label"] = w["type"] or "(no type)"


_KIND_READERS = {"display": _display, "label": _display, "button": _button, "knob": _knob,
                 "dropdown": _dropdown, "checkbox": _checkbox, "lineedit": _lineedit,
                 "controller": _controller, "scope": _scope, "graph": _graph,
                 "placeholder": _placeholder}
