"""The faces of a piece's .csd (docs/panels.md): its <html> element, its CsoundQt panel, its
Cabbage panel, and the generated control surface, which every piece has.

Reading a big panel takes tens of milliseconds (Stria_30a's 40 ms), and a port
answers pages on the loop that streams to its clients: a .csd is read once for
as long as its file stays the same (path, size and modification time), and
`csws run` reads it before the performance starts, in the same process.
"""
from __future__ import annotations

import functools
import html
import json
import os
from dataclasses import dataclass
from importlib import resources

from csws.protocol.bsb_panel import panel_of_bsb
from csws.protocol.cabbage_panel import panel_of_cabbage
from csws.protocol.pages import html_of_csd

ORDER = ("html", "csoundqt", "cabbage", "surface")  # which face `/` serves: the first the piece has
PATHS = {"html": "/csws/html", "csoundqt": "/csws/csoundqt", "cabbage": "/csws/cabbage", "surface": "/csws/surface"}
NAMES = {"html": "the piece's own page", "csoundqt": "CsoundQt panel", "cabbage": "Cabbage panel",
         "surface": "control surface"}


@dataclass(frozen=True)
class Faces:
    html: bytes | None
    csoundqt: dict | None
    cabbage: dict | None

    @property
    def present(self) -> list[str]:
        """The faces this piece has, in the order `/` prefers them."""
        return [f for f in ORDER if f == "surface" or getattr(self, f) is not None]

    @property
    def first(self) -> str:
        return self.present[0]

    def panel(self, face: str) -> dict | None:
        return self.csoundqt if face == "csoundqt" else self.cabbage if face == "cabbage" else None


def faces_of_csd(data: bytes) -> Faces:
    return Faces(html_of_csd(data), panel_of_bsb(data), panel_of_cabbage(data))


def faces_of_file(path: str) -> Faces | None:
    """The faces of the .csd at `path`; None when it is not a .csd or cannot be read."""
    if not path.lower().endswith(".csd"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _cached(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _cached(path: str, size: int, mtime_ns: int) -> Faces | None:
    try:
        with open(path, "rb") as f:
            return faces_of_csd(f.read())
    except OSError:
        return None


SEEDED = ("hslider", "vslider", "knob", "spinbox", "scrollnumber", "dropdown", "checkbox", "controller", "button",
          "lineedit")


def start_values(panel: dict) -> dict[str, float | str]:
    """The channels a panel's controls start with, as CsoundQt and Cabbage set them before the
    performance: numbers (a button's is 0 unless latched down), and the text of line edits.
    Reserved channels (_Play...) are left out, and so is what Csound writes (displays)."""
    values: dict[str, float | str] = {}
    for w in panel["widgets"]:
        if w["kind"] not in SEEDED or w["channel"].startswith("_"):
            continue
        if w["channel"]:
            values[w["channel"]] = w["text"] if w["kind"] == "lineedit" else w["value"]
        if w["channel2"] and not w["channel2"].startswith("_"):
            values[w["channel2"]] = w["value2"]
    return values


def chnset_code(values: dict[str, float | str]) -> str:
    """Orchestra code (instr 0, runs once when compiled) giving the channels these values."""
    def literal(x: str) -> str:
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    return "".join(f"chnset {literal(v) if isinstance(v, str) else repr(float(v))}, {literal(k)}\n"
                   for k, v in values.items())


def panel_page(face: str, faces: Faces) -> bytes:
    """The packaged panel page (csws/web/panel.html), told which face it shows and which there are."""
    page = (resources.files("csws") / "web" / "panel.html").read_text("utf-8")
    links = [{"face": f, "path": PATHS[f], "name": NAMES[f]} for f in faces.present]
    attrs = f'data-face="{face}" data-faces="{html.escape(json.dumps(links))}"'
    return page.replace('data-face=""', attrs, 1).encode()
