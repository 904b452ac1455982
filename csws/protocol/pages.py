"""A piece's own page: the <html> element a .csd carries (CsoundQt's convention).

Apart from csws.serve.http, which serves it, so that `csws run` can look for one
without loading the server's modules (asyncio, websockets) before a client
comes.
"""
from __future__ import annotations

import re
from pathlib import Path

_HTML_ELEMENT = re.compile(rb"<html[\s>].*?</html\s*>", re.IGNORECASE | re.DOTALL)


def html_of_csd(data: bytes) -> bytes | None:
    """The <html> element a .csd carries (CsoundQt's convention), or None."""
    m = _HTML_ELEMENT.search(data)
    if m is None:
        return None
    # Without a doctype the page would render in quirks mode (the element never carries one).
    return b"<!DOCTYPE html>\n" + m.group(0)


def csd_with_html(args: list[str]) -> str | None:
    """The .csd among `csws run` arguments, if it has an <html> element."""
    for arg in args:
        if arg.lower().endswith(".csd") and not arg.startswith("-"):
            try:
                data = Path(arg).read_bytes()
            except OSError:
                return None
            return str(Path(arg).resolve()) if html_of_csd(data) is not None else None
    return None
