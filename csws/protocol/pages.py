"""A piece's own page: the <html> element a .csd carries (CsoundQt's convention),
and the ports a piece's websocket lines name.

Apart from csws.serve.http, which serves the page, so that `csws run` can look
for one without loading the server's modules (asyncio, websockets) before a
client comes.
"""
from __future__ import annotations

import re
from pathlib import Path

_HTML_ELEMENT = re.compile(rb"<html[\s>].*?</html\s*>", re.IGNORECASE | re.DOTALL)
_WEBSOCKET = re.compile(r"\bwebsocket(?:_ui)?\b(?:\s*\(?\s*(\d+))?")  # websocket, websocket_ui: not _config
# Every page of a piece finds Csound's `csound` object (csws-csound.js), as in CsoundQt: a classic
# script, so that it is there before the page's own scripts run.
CSOUND_OBJECT = b'<script src="/csws-csound.js?connect"></script>'
_HEAD = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)
_OPTIONS = re.compile(rb"<CsOptions>(.*?)</CsOptions>", re.DOTALL)


def html_of_csd(data: bytes) -> bytes | None:
    """The <html> element a .csd carries (CsoundQt's convention), or None."""
    m = _HTML_ELEMENT.search(data)
    if m is None:
        return None
    page = m.group(0)
    head = _HEAD.search(page)
    if head is not None:
        page = page[:head.end()] + CSOUND_OBJECT + page[head.end():]
    else:  # straight after <html ...>
        start = page.index(b">") + 1
        page = page[:start] + CSOUND_OBJECT + page[start:]
    # Without a doctype the page would render in quirks mode (the element never carries one).
    return b"<!DOCTYPE html>\n" + page


def _pieces(args: list[str], suffixes: tuple[str, ...] = (".csd",)):
    """(path, contents) of the piece's files among `csws run` arguments (options start with -)."""
    for arg in args:
        if arg.lower().endswith(suffixes) and not arg.startswith("-"):
            try:
                yield Path(arg), Path(arg).read_bytes()
            except OSError:
                continue


def piece_csd(args: list[str]) -> str | None:
    """The piece's .csd among `csws run` arguments (the first readable one), as an absolute path:
    the port serves its faces (csws/protocol/faces.py)."""
    for path, _ in _pieces(args):
        return str(path.resolve())
    return None


def websocket_ports(args: list[str]) -> list[int] | None:
    """The ports the piece's websocket lines name (as numbers), lowest first; None when the piece
    (its .csd or .orc among `csws run` arguments) has no websocket line at all."""
    found: list[int] | None = None
    for _, data in _pieces(args, (".csd", ".orc")):
        text = _HTML_ELEMENT.sub(b"", data).decode("utf-8", "replace")
        for m in _WEBSOCKET.finditer(text):
            found = found or []
            if m.group(1) and 1 <= int(m.group(1)) <= 65535:
                found.append(int(m.group(1)))
    return sorted(set(found)) if found is not None else None


def uses_sound_card(args: list[str]) -> bool:
    """Does the piece ask for the sound card (-odac, -iadc), on the command line or in its <CsOptions>?"""
    options = list(args)
    for _, data in _pieces(args):
        m = _OPTIONS.search(data)
        options += m.group(1).decode("utf-8", "replace").split() if m else []
    return any(a.startswith(("-odac", "-iadc")) for a in options)
