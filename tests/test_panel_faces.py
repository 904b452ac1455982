"""The faces of a piece's .csd over HTTP (docs/panels.md): which one `/` serves, each at its own
path, the panel model, and the pictures beside the .csd, under `csws run` on both majors."""
from __future__ import annotations

import json
import sys

from conftest import REALTIME, Performance, make_csd
from test_http import get

ORC = """
instr 1
kgain chnget "gain"
printk2 kgain
endin
"""
PANEL = b"""<bsbPanel><label>Widgets</label>
<bsbObject type="BSBKnob" version="2"><objectName>gain</objectName><x>5</x><y>6</y><width>70</width>
<height>71</height><minimum>0</minimum><maximum>1</maximum><value>0.3</value><resolution>0.01</resolution>
</bsbObject>
<bsbObject type="BSBConsole" version="2"><objectName/><x>90</x><y>6</y><width>100</width><height>50</height>
</bsbObject>
</bsbPanel>
"""
PAGE = b"<html><head><title>mine</title></head><body>my page</body></html>\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def run(tmp_path, port: int, *sections: bytes) -> Performance:
    csd = tmp_path / "piece.csd"
    csd.write_bytes(make_csd(ORC, "i1 0 30").encode() + b"".join(sections))
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "go.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / ".hidden.png").write_bytes(PNG)
    p = Performance([sys.executable, "-m", "csws", "run", "--port", str(port), str(csd), *REALTIME],
                    tmp_path / "csound.log")
    p.wait_for("websocket server on")
    return p


def test_html_wins_and_every_face_has_its_path(tmp_path, port):
    p = run(tmp_path, port, PAGE, PANEL)
    try:
        status, _, body = get(port, "/")
        assert status == 200 and b"my page" in body
        assert get(port, "/csws/html")[2] == body
        status, headers, page = get(port, "/csws/csoundqt")
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert b'data-face="csoundqt"' in page and b"/csws/html" in page, "the page knows its face and the others"
        status, headers, model = get(port, "/csws/csoundqt.json")
        panel = json.loads(model)
        assert (status, headers["content-type"]) == (200, "application/json")
        assert [(w["kind"], w["channel"], w["x"], w["y"], w["width"], w["height"]) for w in panel["widgets"]] == [
            ("knob", "gain", 5, 6, 70, 71), ("placeholder", "", 90, 6, 100, 50)]
        assert get(port, "/csws/cabbage")[0] == 404
        assert get(port, "/csws/cabbage.json")[0] == 404
        assert get(port, "/csws/surface")[0] == 200
        # The panel's start value reached Csound before the performance: instr 1 prints it.
        p.wait_for(r"(i1|instr 1:)\s+(\x1b\[m\s*)*0\.30000")  # printk2, as 6 and 7 write it
        # Csound's console names what the page shows as placeholders, once per port.
        get(port, "/csws/csoundqt.json")
        p.wait_for("the csoundqt panel shows placeholders for what csws cannot draw: 1 BSBConsole")
        assert p.output.count("shows placeholders") == 1
    finally:
        p.stop()


def test_a_panel_without_html_is_the_page_and_pictures_beside_it(tmp_path, port):
    p = run(tmp_path, port, PANEL)
    try:
        status, _, body = get(port, "/")
        assert status == 200 and b'data-face="csoundqt"' in body
        assert get(port, "/csws/html")[0] == 404
        status, headers, picture = get(port, "/csws/files/pics/go.png")
        assert (status, headers["content-type"], picture) == (200, "image/png", PNG)
        assert get(port, "/csws/files/notes.txt")[0] == 404, "only pictures"
        assert get(port, "/csws/files/piece.csd")[0] == 404
        assert get(port, "/csws/files/.hidden.png")[0] == 404
        assert get(port, "/csws/files/%2e%2e/secret.png")[0] == 403
    finally:
        p.stop()


def test_a_piece_without_a_face_gets_the_surface(tmp_path, port):
    p = run(tmp_path, port)
    try:
        status, _, body = get(port, "/")
        assert status == 200 and b"csws control surface" in body
        assert [get(port, f"/csws/{f}")[0] for f in ("html", "csoundqt", "cabbage", "files/pics/go.png")] == [
            404, 404, 404, 404]
    finally:
        p.stop()
