"""A .csd's <Cabbage> section as the panel model of docs/panels.md.

Two syntaxes: Cabbage 2's text, one widget a line (`rslider bounds(10, 10, 60, 60),
channel("gain"), range(0, 1, 0.5, 1, 0.01)`), with `{ }` blocks whose children sit relative
to their parent (`plant`), and Cabbage 3's JSON (an array of widgets, or {"widgets": [...]}).
Never raises on any input: what it does not understand becomes a placeholder or is ignored.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

_SECTION = re.compile(rb"<Cabbage>(.*?)(?:</Cabbage\s*>|\Z)", re.IGNORECASE | re.DOTALL)
# A trailing comma before ] or }, which Cabbage 3's hand-written files sometimes carry.
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")
_MAX_DEPTH = 32  # nested containers; deeper ones are flattened at this depth

# Source type (lower case) -> the model's kind.  Cabbage 2's names and Cabbage 3's.
_KINDS = {
    "rslider": "knob", "rotaryslider": "knob", "encoder": "knob",
    "hslider": "hslider", "hslider2": "hslider", "hslider3": "hslider", "horizontalslider": "hslider",
    "vslider": "vslider", "vslider2": "vslider", "vslider3": "vslider", "verticalslider": "vslider",
    "nslider": "scrollnumber", "numberslider": "scrollnumber",
    "button": "button", "checkbox": "checkbox", "combobox": "dropdown",
    "label": "label", "groupbox": "groupbox", "image": "image", "keyboard": "keyboard",
    "xypad": "controller", "line": "label", "texteditor": "lineedit",
}
# Cabbage 2's default geometry per type (its CabbageWidgetData), used where bounds() is missing.
_DEFAULT_SIZE = {
    "knob": (60, 60), "hslider": (160, 40), "vslider": (40, 160), "scrollnumber": (60, 20),
    "button": (80, 40), "checkbox": (100, 20), "dropdown": (80, 22), "label": (80, 16),
    "groupbox": (200, 150), "image": (160, 120), "keyboard": (400, 100), "controller": (200, 200),
    "lineedit": (100, 22),
    "placeholder": (60, 30),
}
_SLIDERS = ("knob", "hslider", "vslider", "scrollnumber")


def panel_of_cabbage(csd: bytes) -> dict | None:
    """The <Cabbage> section of a .csd as a panel model (docs/panels.md), None when it has none."""
    m = _SECTION.search(csd)
    if m is None:
        return None
    text = m.group(1).decode("utf-8", "replace")
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        return _json_panel(stripped)
    return _text_panel(text)


# ---------------------------------------------------------------------------------------------
# The model


def _finite(v: Any, default: float) -> float:
    """v as a finite number (a numeric string too), else default."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return default
    else:
        return default
    return f if math.isfinite(f) else default


def _new_widget(type_: str, kind: str) -> dict:
    w, h = _DEFAULT_SIZE.get(kind, _DEFAULT_SIZE["placeholder"])
    return {
        "id": "", "type": type_, "kind": kind, "x": 10.0, "y": 10.0, "width": float(w), "height": float(h),
        "channel": "", "channel2": "", "label": "",
        "min": 0.0, "max": 1.0, "value": 0.0, "min2": 0.0, "max2": 0.0, "value2": 0.0,
        "step": 0.0, "skew": 1.0, "text": "", "items": [], "button": None,
        "style": {"color": None, "background": None, "border": None, "border_width": 0.0, "radius": 0.0,
                  "font": None, "font_size": 12.0, "bold": False, "align": "center", "valign": "center"},
        "extra": {},
    }


def _set_range(w: dict, lo: Any, hi: Any, value: Any, skew: Any, step: Any) -> None:
    """Cabbage's range(min, max, value, skew, increment): value clamped into the range; a skew that
    is not a positive number is 1 (linear), as Cabbage treats it."""
    w["min"] = _finite(lo, w["min"])
    w["max"] = _finite(hi, w["max"])
    w["value"] = _finite(value, w["min"])
    s = _finite(skew, 1.0)
    w["skew"] = s if s > 0 else 1.0
    w["step"] = max(0.0, _finite(step, w["step"]))
    low, high = sorted((w["min"], w["max"]))
    w["value"] = min(max(w["value"], low), high)


def _finish(widgets: list[dict], unknown: dict[str, int], title: str, size: tuple[float, float] | None,
            background: str | None) -> dict:
    for i, w in enumerate(widgets):
        w["id"] = f"w{i}"
        _default_colours(w)
        w["width"], w["height"] = max(0.0, w["width"]), max(0.0, w["height"])
    if size is None:
        width = max((w["x"] + w["width"] for w in widgets), default=0.0)
        height = max((w["y"] + w["height"] for w in widgets), default=0.0)
    else:
        width, height = size
    return {"face": "cabbage", "title": title, "width": max(0.0, width), "height": max(0.0, height),
            "background": background or _DEFAULTS["form"], "widgets": widgets, "unknown": unknown}


# The colours a panel does not give: Cabbage 3's defaults (its widgets' source), for both syntaxes.
_DEFAULTS = {"form": "#004c6b", "text": "#dddddd", "tracker": "#93d200", "box": "#0295cf", "button": "#3d800a"}


def _default_colours(w: dict) -> None:
    """Cabbage's colours where the panel gives none.  A slider's or knob's colour() is its thumb
    (extra.thumb), not a background; its tracker colour is the model's colour, its text's colour
    (fontcolour) extra.text_color and its outline colour extra.outline."""
    st, extra = w["style"], w["extra"]
    tracker = extra.pop("tracker", None)  # only sliders and knobs have one
    if w["kind"] in ("knob", "hslider", "vslider"):
        if st["background"]:
            extra.setdefault("thumb", st["background"])
        extra["text_color"] = st["color"] or _DEFAULTS["text"]
        if st["border"]:  # outlinecolour: the knob's or thumb's outline, not a frame around the widget
            extra["outline"] = st["border"]
        st["background"], st["border"], st["border_width"] = None, None, 0.0
        st["color"] = tracker or _DEFAULTS["tracker"]
    st["color"] = st["color"] or _DEFAULTS["text"]
    if w["kind"] in ("dropdown", "scrollnumber"):
        st["background"] = st["background"] or _DEFAULTS["box"]
    elif w["kind"] == "button":
        st["background"] = st["background"] or _DEFAULTS["button"]


def _unreadable() -> dict:
    return _finish([], {"(unreadable)": 1}, "", None, None)


# ---------------------------------------------------------------------------------------------
# Colours


def _hex(n: float) -> str:
    return f"{int(min(max(n, 0), 255)):02x}"


def colour_of_args(args: list) -> str | None:
    """Cabbage 2's colour(...) arguments as a CSS colour: r, g, b[, a] (0..255 each), a name
    ("red"), or hex ("#rrggbb"; JUCE's 8 digits are aarrggbb); None when not a colour."""
    if len(args) >= 3 and all(isinstance(a, float) for a in args[:4]):
        r, g, b = (_hex(a) for a in args[:3])
        alpha = _hex(args[3]) if len(args) >= 4 else ""
        return f"#{r}{g}{b}{alpha if alpha != 'ff' else ''}"
    if len(args) == 1 and isinstance(args[0], str):
        s = args[0].strip().lower()
        digits = s[1:] if s.startswith("#") else s[2:] if s.startswith("0x") else s
        if re.fullmatch(r"[0-9a-f]{8}", digits):
            return f"#{digits[2:]}{digits[:2] if digits[:2] != 'ff' else ''}"
        if re.fullmatch(r"[0-9a-f]{6}|[0-9a-f]{3}", digits) and (s.startswith(("#", "0x")) or not s.isalpha()):
            return f"#{digits}"
        if re.fullmatch(r"[a-z]+", s):
            return s  # JUCE's colour names are CSS's (X11's)
    return None


def _css_colour(v: Any) -> str | None:
    """A Cabbage 3 colour (already CSS: "#rrggbb", "rgb(...)", a name) or None."""
    if isinstance(v, str) and re.fullmatch(r"[#\w(),.%\s-]{1,64}", v.strip()):
        return v.strip()
    if isinstance(v, list):
        return colour_of_args([_finite(a, 0.0) for a in v])
    return None


# ---------------------------------------------------------------------------------------------
# Cabbage 2: the text syntax

_TOKEN = re.compile(r"""
    (?P<comment>;[^\n]*|//[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>"[^"\n]*"?)
  | (?P<newline>\n)
  | (?P<brace>[{}])
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_][\w]*(?::\d+)?)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<other>[^\s"(){};/A-Za-z_]+|/)
""", re.VERBOSE | re.DOTALL)
_CALL = re.compile(r"[ \t]*\(")  # a word followed by "(" is an identifier
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _args(tokens: list[tuple[str, str]]) -> list:
    """The arguments between an identifier's parentheses: strings as str, numbers as float,
    anything else as its text (bare words)."""
    out: list = []
    for kind, text in tokens:
        if kind == "string":
            out.append(text[1:-1] if text.endswith('"') and len(text) > 1 else text[1:])
        elif kind in ("word", "other", "number"):
            for piece in re.split(r"\s*,\s*", text):
                piece = piece.strip()
                if not piece:
                    continue
                if _NUMBER.fullmatch(piece):
                    f = float(piece)
                    out.append(f if math.isfinite(f) else 0.0)
                elif kind == "word" or re.fullmatch(r"[\w.#-]+", piece):
                    out.append(piece)
    return out


def _statements(text: str):
    """(kind, payload) events: ("widget", (type, {identifier: [args...]})), ("open",), ("close",).
    A widget starts at a bare word first on its line (or after a brace); identifiers are word(args)
    and may continue on the following lines, so that a declaration can span several."""
    current: tuple[str, dict] | None = None
    line_start = True
    ident: str | None = None  # the identifier whose arguments are being read
    depth = 0  # parentheses open
    arg_tokens: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()
        if kind == "comment":
            line_start = line_start or "\n" in tok
            continue
        if depth > 0:
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
                if depth == 0:
                    if current is not None and ident is not None:
                        current[1][ident] = _args(arg_tokens)
                    ident, arg_tokens = None, []
                continue
            elif kind not in ("newline", "brace"):
                arg_tokens.append((kind, tok))
                continue
            else:  # an unclosed parenthesis ends with its line: that identifier is dropped
                depth, ident, arg_tokens = 0, None, []
        if kind == "newline":
            line_start = True
        elif kind == "brace":
            if current is not None:
                yield "widget", current
                current = None
            yield ("open",) if tok == "{" else ("close",)
            line_start = True
        elif kind == "word":
            if _CALL.match(text, m.end()):
                ident = tok.lower()
            elif line_start:
                if current is not None:
                    yield "widget", current
                current = (tok.lower(), {})
            line_start = False
        elif kind == "open":
            depth, arg_tokens = 1, []
        elif kind == "close":
            ident = None
    if current is not None:
        yield "widget", current


_DEFINE = re.compile(r"^[ \t]*#define[ \t]+(\w+)[ \t]*(.*)$", re.MULTILINE)
_MACRO = re.compile(r"\$(\w+)\.?")


def _expand_macros(text: str) -> str:
    """Cabbage 2's `#define NAME identifiers` lines (the body may be wrapped in #...#), taken out,
    and each `$NAME` expanded once.  Expansion stops at a few times the section's size, so that a
    hostile section cannot make it grow without bound."""
    macros: dict[str, str] = {}

    def define(m: re.Match) -> str:
        body = m.group(2).strip()
        macros[m.group(1)] = body[1:-1] if len(body) >= 2 and body[0] == body[-1] == "#" else body
        return ""

    text = _DEFINE.sub(define, text)
    if not macros:
        return text
    budget = [4 * len(text) + 65536]

    def expand(m: re.Match) -> str:
        body = macros.get(m.group(1))
        if body is None or budget[0] < len(body):
            return m.group(0)
        budget[0] -= len(body)
        return body

    return _MACRO.sub(expand, text)


def _text_panel(text: str) -> dict:
    text = _expand_macros(text)
    widgets: list[dict] = []
    unknown: dict[str, int] = {}
    title, size, background = "", None, None
    # The stack of containers' absolute origins; the last widget read may become one with "{".
    origins: list[tuple[float, float]] = [(0.0, 0.0)]
    too_deep = 0  # blocks opened past _MAX_DEPTH levels: what is inside stays relative to the last level
    last: dict | None = None
    for event in _statements(text):
        if event[0] == "open":
            if len(origins) <= _MAX_DEPTH:
                origins.append((last["x"], last["y"]) if last is not None else origins[-1])
            else:
                too_deep += 1
            last = None
            continue
        if event[0] == "close":
            if too_deep:
                too_deep -= 1
            elif len(origins) > 1:
                origins.pop()
            last = None
            continue
        type_, idents = event[1]
        if type_ == "form":
            title = _first_str(idents, "caption", "text") or title
            sz = idents.get("size", [])
            if len(sz) >= 2 and all(isinstance(a, float) for a in sz[:2]):
                size = (sz[0], sz[1])
            background = colour_of_args(idents.get("colour", [])) or background
            last = None
            continue
        w = _widget_of_text(type_, idents, origins[-1])
        if w["kind"] == "placeholder":
            unknown[type_] = unknown.get(type_, 0) + 1
        widgets.append(w)
        last = w
    return _finish(widgets, unknown, title, size, background)


def _first_str(idents: dict, *names: str) -> str:
    for name in names:
        for a in idents.get(name, []):
            if isinstance(a, str):
                return a
    return ""


def _nums(idents: dict, name: str) -> list[float]:
    return [a for a in idents.get(name, []) if isinstance(a, float)]


def _widget_of_text(type_: str, idents: dict, origin: tuple[float, float]) -> dict:
    kind = _KINDS.get(type_, "placeholder")
    w = _new_widget(type_, kind)
    bounds = _nums(idents, "bounds")
    if len(bounds) >= 4:
        w["x"], w["y"], w["width"], w["height"] = bounds[:4]
    else:
        pos, size = _nums(idents, "pos"), _nums(idents, "size")
        if len(pos) >= 2:
            w["x"], w["y"] = pos[:2]
        if len(size) >= 2:
            w["width"], w["height"] = size[:2]
    w["x"] += origin[0]
    w["y"] += origin[1]
    channels = [a for a in idents.get("channel", []) if isinstance(a, str)]
    w["channel"] = channels[0] if channels else ""
    w["channel2"] = channels[1] if len(channels) > 1 else ""
    texts = [a for a in idents.get("text", []) if isinstance(a, str)]
    w["label"] = texts[0] if texts else _first_str(idents, "caption")
    _text_style(w, idents)

    if kind in _SLIDERS:
        lo, hi, value, skew, step = (idents.get("range", []) + [None] * 5)[:5]
        _set_range(w, lo, hi, value, skew, 0.001 if step is None else step)  # Cabbage's default increment
        if _nums(idents, "value"):
            _set_range(w, w["min"], w["max"], _nums(idents, "value")[0], w["skew"], w["step"])
    elif kind in ("button", "checkbox"):
        start = (_nums(idents, "value") or [0.0])[0]
        w["min"], w["max"], w["value"] = 0.0, 1.0, 1.0 if start else 0.0
        w["step"] = 1.0
        if kind == "button":
            latched = (_nums(idents, "latched") or [1.0])[0]
            w["button"] = {"mode": "value", "pressed": 1.0, "released": 0.0, "latch": bool(latched),
                           "event": "", "image": ""}
            if len(texts) > 1:
                w["extra"]["text_on"] = texts[1]
    elif kind == "dropdown":
        items = [a for a in idents.get("items", idents.get("text", [])) if isinstance(a, str)]
        w["label"] = ""
        _set_items(w, items, first=1)
        start = (_nums(idents, "value") or [1.0])[0]
        w["value"] = min(max(start, w["min"]), w["max"])
        if _first_str(idents, "channeltype") == "string":
            w["extra"]["channel_type"] = "string"
    elif kind == "keyboard":
        _set_keys(w, (_nums(idents, "value") or [60.0])[0], (_nums(idents, "keywidth") or [16.0])[0])
    elif kind == "lineedit":  # texteditor: its text goes to the channel as a string
        w["text"], w["label"] = w["label"], ""
    elif type_ == "line":  # a line is a filled box, white unless coloured
        w["style"]["background"] = w["style"]["background"] or "#ffffff"
    elif kind == "image":
        source = _first_str(idents, "file")
        if source:
            w["extra"]["file"] = source
        shape = _first_str(idents, "shape").lower()
        if shape == "ellipse":
            w["style"]["radius"] = min(w["width"], w["height"]) / 2
        elif shape == "rounded":
            w["style"]["radius"] = 5.0
    elif kind == "controller":
        rx, ry = idents.get("rangex", []), idents.get("rangey", [])
        _set_range(w, *(rx + [None] * 3)[:3], 1.0, 0.0)
        lo, hi, value = (ry + [None] * 3)[:3]
        w["min2"], w["max2"] = _finite(lo, 0.0), _finite(hi, 1.0)
        w["value2"] = min(max(_finite(value, w["min2"]), min(w["min2"], w["max2"])), max(w["min2"], w["max2"]))
    if kind == "label":
        w["style"]["font_size"] = max(1.0, round(w["height"] * 0.8))
    return w


def _text_style(w: dict, idents: dict) -> None:
    st, extra = w["style"], w["extra"]
    off = colour_of_args(idents.get("colour:0", [])) or colour_of_args(idents.get("colour", []))
    on = colour_of_args(idents.get("colour:1", []))
    if w["kind"] == "checkbox":
        # A checkbox's colour() is its tick when on (colour:1); colour:0 the box when off.
        on = on or colour_of_args(idents.get("colour", []))
        off = colour_of_args(idents.get("colour:0", []))
    st["background"] = off
    if on:
        extra["background_on"] = on
    st["color"] = colour_of_args(idents.get("fontcolour:0", [])) or colour_of_args(idents.get("fontcolour", []))
    font_on = colour_of_args(idents.get("fontcolour:1", []))
    if font_on:
        extra["color_on"] = font_on
    tracker = colour_of_args(idents.get("trackercolour", []))
    if tracker:
        extra["tracker"] = tracker
    st["border"] = colour_of_args(idents.get("outlinecolour", []))
    st["border_width"] = max(0.0, (_nums(idents, "outlinethickness") or [1.0 if st["border"] else 0.0])[0])
    st["radius"] = max(0.0, (_nums(idents, "corners") or [0.0])[0])
    align = _first_str(idents, "align").lower()
    st["align"] = {"left": "left", "right": "right"}.get(align, "center")
    st["bold"] = "bold" in _first_str(idents, "fontstyle").lower()
    if w["kind"] == "groupbox":
        st["valign"] = "top"


def _set_keys(w: dict, first: float, key_width: float) -> None:
    """A keyboard's keys, as Cabbage shows them: from its lowest note (value()), as many white keys
    as fit its width at key_width pixels each (keywidth(), 16 by default); the keys played are
    score events of instr 1 (docs/panels.md)."""
    first_note = int(min(max(first, 0), 127))
    whites = int(min(max(w["width"] / key_width, 1), 128)) if key_width > 0 else 1
    keys = 0
    while whites > 0 and first_note + keys <= 127:
        whites -= (first_note + keys) % 12 not in (1, 3, 6, 8, 10)
        keys += 1
    w["extra"].update({"instrument": 1, "first_note": first_note, "keys": max(keys, 1)})


def _set_items(w: dict, items: list[str], first: int) -> None:
    w["items"] = [{"text": t, "value": float(i + first)} for i, t in enumerate(items)]
    w["min"] = float(first)
    w["max"] = float(first + max(len(items) - 1, 0))
    w["step"] = 1.0


# ---------------------------------------------------------------------------------------------
# Cabbage 3: JSON


def _json_panel(text: str) -> dict:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        try:
            data = json.loads(_TRAILING_COMMA.sub(r"\1", text))
        except (ValueError, RecursionError):
            return _unreadable()
    if isinstance(data, dict):
        data = data.get("widgets")
    if not isinstance(data, list):
        return _unreadable()
    widgets: list[dict] = []
    unknown: dict[str, int] = {}
    form: dict = {}
    _json_widgets(data, (0.0, 0.0), widgets, unknown, form, 0)
    size = None
    if isinstance(form.get("size"), dict):
        size = (_finite(form["size"].get("width"), 0.0), _finite(form["size"].get("height"), 0.0))
    title = form.get("caption") if isinstance(form.get("caption"), str) else ""
    style = form.get("style") if isinstance(form.get("style"), dict) else {}
    background = (_css_colour(style.get("backgroundColor")) or _css_colour(style.get("fill"))
                  or _css_colour(form.get("colour")))
    return _finish(widgets, unknown, title, size, background)


def _json_widgets(items: list, origin: tuple[float, float], widgets: list[dict], unknown: dict[str, int],
                  form: dict, depth: int) -> None:
    for item in items:
        if not isinstance(item, dict):
            unknown["(not a widget)"] = unknown.get("(not a widget)", 0) + 1
            continue
        type_ = item.get("type") if isinstance(item.get("type"), str) else "(no type)"
        if type_.lower() == "form":
            form.update(item)
            continue
        w = _widget_of_json(type_, item, origin)
        if w["kind"] == "placeholder":
            unknown[type_] = unknown.get(type_, 0) + 1
        widgets.append(w)
        children = item.get("children")
        if isinstance(children, list) and depth < _MAX_DEPTH:
            _json_widgets(children, (w["x"], w["y"]), widgets, unknown, form, depth + 1)


def _json_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        for key in ("text", "off"):
            if key in v:
                return _json_text(v[key])
    return ""


def _widget_of_json(type_: str, item: dict, origin: tuple[float, float]) -> dict:
    kind = _KINDS.get(type_.lower(), "placeholder")
    w = _new_widget(type_, kind)
    b = item.get("bounds")
    if isinstance(b, dict):
        w["x"], w["y"] = _finite(b.get("left"), w["x"]), _finite(b.get("top"), w["y"])
        w["width"], w["height"] = _finite(b.get("width"), w["width"]), _finite(b.get("height"), w["height"])
    w["x"] += origin[0]
    w["y"] += origin[1]

    # Channels: the current "channels": [{id, range}], or the earlier "channel": "name" + "range".
    channels = item.get("channels") if isinstance(item.get("channels"), list) else []
    channels = [c for c in channels if isinstance(c, dict)]
    ids = [c.get("id") for c in channels if isinstance(c.get("id"), str)]
    if not ids:
        ch = item.get("channel")
        ids = [ch] if isinstance(ch, str) else [c for c in ch if isinstance(c, str)] if isinstance(ch, list) else []
    if kind in ("label", "groupbox", "keyboard", "image") and ids:
        # Cabbage 3 names every widget by a channel; these hold no value in it (an image's mouse
        # events are not read).
        w["extra"]["cabbage_id"], ids = ids[0], []
    w["channel"] = ids[0] if ids else ""
    w["channel2"] = ids[1] if len(ids) > 1 else ""
    ranges = [c.get("range") for c in channels]
    r = ranges[0] if ranges and isinstance(ranges[0], dict) else item.get("range")
    r = r if isinstance(r, dict) else {}

    label = item.get("label")
    text = _json_text(label) or _json_text(item.get("text"))
    w["label"] = text
    style = item.get("style") if isinstance(item.get("style"), dict) else {}
    st = w["style"]
    st["background"] = _css_colour(style.get("backgroundColor")) or _css_colour(style.get("fill"))
    st["color"] = _css_colour(style.get("fontColor")) or _css_colour(style.get("textColor"))
    st["border"] = _css_colour(style.get("borderColor"))
    st["border_width"] = max(0.0, _finite(style.get("borderWidth"), 0.0))
    st["radius"] = max(0.0, _finite(style.get("borderRadius"), _finite(item.get("corners"), 0.0)))
    st["font_size"] = max(1.0, _finite(style.get("fontSize"), 12.0))  # "auto" keeps the default
    for part, key, name in (("thumb", "backgroundColor", "thumb"), ("track", "fillColor", "tracker")):
        colour = _css_colour(style[part].get(key)) if isinstance(style.get(part), dict) else None
        if colour:
            w["extra"][name] = colour
    if isinstance(style.get("fontFamily"), str):
        st["font"] = style["fontFamily"]
    align = style.get("textAlign") if isinstance(style.get("textAlign"), str) else ""
    st["align"] = {"left": "left", "right": "right"}.get(align.lower(), "center")

    value = r.get("value") if r.get("value") is not None else r.get("defaultValue")
    if kind in _SLIDERS:
        _set_range(w, r.get("min", 0), r.get("max", 1), value, r.get("skew", 1), r.get("increment", 0.001))
    elif kind in ("button", "checkbox"):
        _set_range(w, r.get("min", 0), r.get("max", 1), value, 1, 1)
        if kind == "button":
            w["button"] = {"mode": "value", "pressed": w["max"], "released": w["min"], "latch": True,
                           "event": "", "image": ""}
            on = label.get("text", {}).get("on") if isinstance(label, dict) and isinstance(label.get("text"), dict) else None
            if isinstance(on, str):
                w["extra"]["text_on"] = on
            on_style = style.get("on") if isinstance(style.get("on"), dict) else {}
            off_style = style.get("off") if isinstance(style.get("off"), dict) else {}
            st["background"] = _css_colour(off_style.get("backgroundColor")) or st["background"]
            st["color"] = _css_colour(off_style.get("textColor")) or st["color"]
            if _css_colour(on_style.get("backgroundColor")):
                w["extra"]["background_on"] = _css_colour(on_style.get("backgroundColor"))
            if _css_colour(on_style.get("textColor")):
                w["extra"]["color_on"] = _css_colour(on_style.get("textColor"))
    elif kind == "dropdown":
        items = item.get("items")
        if isinstance(items, str):
            items = [s.strip() for s in items.split(",")]
        items = [s for s in items if isinstance(s, str)] if isinstance(items, list) else []
        # Cabbage 3 sends the 0-based index, or the 1-based one with "indexOffset": true.
        _set_items(w, items, first=1 if item.get("indexOffset") is True else 0)
        w["label"] = ""
        start = _finite(value, w["min"])
        w["value"] = min(max(start, w["min"]), w["max"])
        if channels and channels[0].get("type") == "string" or item.get("channelType") == "string":
            w["extra"]["channel_type"] = "string"
    elif kind == "keyboard":
        octave = _finite(item.get("baseOctave"), 3.0)
        _set_keys(w, _finite(item.get("value"), 12 * (octave + 2)), _finite(item.get("keyWidth"), 16.0))
    elif kind == "image":
        source = item.get("file")
        if isinstance(source, str) and source:
            w["extra"]["file"] = source
    elif kind == "controller":
        r2 = ranges[1] if len(ranges) > 1 and isinstance(ranges[1], dict) else {}
        _set_range(w, r.get("min", 0), r.get("max", 1), value, 1, 0)
        w["min2"], w["max2"] = _finite(r2.get("min"), 0.0), _finite(r2.get("max"), 1.0)
        v2 = r2.get("value") if r2.get("value") is not None else r2.get("defaultValue")
        w["value2"] = min(max(_finite(v2, w["min2"]), min(w["min2"], w["max2"])), max(w["min2"], w["max2"]))
    if kind == "groupbox":
        st["valign"] = "top"
    return w
