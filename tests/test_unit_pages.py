"""Which page and file a port serves, without Csound or a server: a .csd's own
<html> (csws.protocol.pages), Content-Type, and the static directory's refusals
(csws.serve.http).  Run once, not per Csound major; test_http.py serves the same
over a real port.
"""
from __future__ import annotations

import os
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.http11 import Response

from csws.serve.http import _static_file, content_type
from csws.protocol.pages import CSOUND_OBJECT, html_of_csd, piece_csd, websocket_ports

CSD = b"<CsoundSynthesizer>\n<CsInstruments>\ninstr 1\nendin\n</CsInstruments>\n</CsoundSynthesizer>\n"
PAGE = b'<html lang="en">\n<body><p>sliders</p></body>\n</HTML >'


def test_a_csds_html_element_is_its_page_in_standards_mode_with_the_csound_object_first():
    page = b'<html lang="en">' + CSOUND_OBJECT + b'\n<body><p>sliders</p></body>\n</HTML >'
    assert html_of_csd(CSD + PAGE + b"\ntrailing notes") == b"<!DOCTYPE html>\n" + page
    with_head = b"<html><HEAD class='x'><title>t</title></head><body></body></html>"
    assert html_of_csd(CSD + with_head) == \
        b"<!DOCTYPE html>\n<html><HEAD class='x'>" + CSOUND_OBJECT + b"<title>t</title></head><body></body></html>"


def test_csws_run_finds_the_ports_the_pieces_websocket_lines_name(tmp_path):
    piece = tmp_path / "p.csd"
    piece.write_text("<CsInstruments>\nwebsocket_config \"token\", \"x\"\nwebsocket_ui 7000\ninstr 1\n"
                     "kin websocket 9000, k1\nk2 websocket(8890, kin)\nkx websocket giPort, k3\nendin\n"
                     "</CsInstruments>\n<html><p>websocket 1234</p></html>")
    assert websocket_ports(["-odac", str(piece)]) == [7000, 8890, 9000], "literal ports, lowest first; not the page's"
    plain = tmp_path / "plain.csd"
    plain.write_bytes(CSD)
    assert websocket_ports([str(plain)]) is None, "no websocket line: csws run opens 8888 itself"
    computed = tmp_path / "c.orc"
    computed.write_text("instr 1\nkx websocket giPort, k3\nendin\n")
    assert websocket_ports([str(computed)]) == []


def test_a_csd_without_an_html_element_has_no_page():
    assert html_of_csd(CSD) is None
    assert html_of_csd(CSD + b"<htmlish>not a page</htmlish>") is None


def test_csws_run_finds_the_piece_among_its_arguments(tmp_path):
    with_page, plain = tmp_path / "with.CSD", tmp_path / "plain.csd"
    with_page.write_bytes(CSD + PAGE)
    plain.write_bytes(CSD)
    assert piece_csd(["-odac", str(with_page), "-d"]) == str(with_page.resolve())
    assert piece_csd([str(plain), str(with_page)]) == str(plain.resolve()), "the piece is the first .csd"
    assert piece_csd([str(tmp_path / "missing.csd")]) is None
    assert piece_csd(["-odac"]) is None


@pytest.mark.parametrize("name, expected", [
    ("app.js", "text/javascript; charset=utf-8"),  # browsers refuse ES modules of another type
    ("APP.MJS", "text/javascript; charset=utf-8"),
    ("csws.d.ts", "text/plain; charset=utf-8"),  # TypeScript, not an MPEG transport stream
    ("index.html", "text/html; charset=utf-8"),
    ("dsp.wasm", "application/wasm"),
    ("notes.csv", "text/csv; charset=utf-8"),  # the platform's table, with a charset for text
    ("blob.nosuchtype", "application/octet-stream"),
])
def test_content_type_is_what_a_browser_expects(name, expected):
    assert content_type(name) == expected


@pytest.fixture
def site(tmp_path) -> str:
    """A static directory with a page, a sub-directory's index, secrets beside them and a file outside."""
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "page.html").write_text("<p>page</p>")
    (root / "sub" / "index.html").write_text("<p>sub</p>")
    (root / ".env").write_text("TOKEN=x")
    (root / ".git" / "config").write_text("[core]")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    return str(root)


def status(answer: Path | Response | None) -> int | None:
    return answer.status_code if isinstance(answer, Response) else None


def test_static_files_and_directory_indexes(site):
    root = Path(site).resolve()
    assert _static_file(site, "/page.html") == root / "page.html"
    assert _static_file(site, "/sub/") == _static_file(site, "/sub") == root / "sub" / "index.html"
    assert _static_file(site, "/nothing.html") is None
    assert _static_file("", "/page.html") is None, "no static directory, no files"


@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/sub/.hidden", "/%2Eenv"])
def test_dotfiles_are_not_found(site, path):
    """Secrets and history are never served, and their existence is not confirmed either."""
    assert status(_static_file(site, path)) == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("path", ["/../secret.txt", "/sub/%2e%2e/../secret.txt", "/./page.html", "/~root",
                                  "/sub\\..\\page.html", "/page.html%00.txt", "/link.txt"])
def test_paths_out_of_the_directory_are_forbidden(site, path):
    assert status(_static_file(site, path)) == HTTPStatus.FORBIDDEN
