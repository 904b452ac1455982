"""Plain HTTP on a websocket port: discovery, the JavaScript client, pages.

Requests that are not websocket upgrades land here (through
PortServer._http).  Routes:

  /csws.json            what the port offers (PortServer.describe())
  /csws.js, /csws.d.ts  the packaged JavaScript client and its types
  /                     the piece's page: Settings.index_html (an .html file,
                        or a .csd whose <html> element is served), else
                        index.html of Settings.static_dir, else a small
                        built-in page that lists the variables
  anything else         a file under Settings.static_dir

The server answers each request on its own connection and closes it (the
websockets library does not keep HTTP connections alive), which suits a
page and a few scripts.  Files are read on the I/O loop, so they are
capped in size: this is a page server, not a file server.
"""
from __future__ import annotations

import email.utils
import json
import mimetypes
import re
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from csws import security
from csws.config import Settings

if TYPE_CHECKING:  # server imports this module: no cycle at run time
    from websockets.asyncio.server import ServerConnection

    from csws.server import PortServer

MAX_FILE_BYTES = 32 << 20  # read on the I/O loop: keep it to page-sized files
PACKAGED = {"/csws.js": "csws.js", "/csws.d.ts": "csws.d.ts"}

# Browsers refuse ES modules served with a wrong type, and Python's table
# depends on the platform's mime.types: pin the ones pages need.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".csd": "text/plain; charset=utf-8",
    ".orc": "text/plain; charset=utf-8",
    ".sco": "text/plain; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",  # .d.ts: TypeScript, not MPEG transport streams
    ".woff2": "font/woff2",
}

_HTML_ELEMENT = re.compile(rb"<html[\s>].*?</html\s*>", re.IGNORECASE | re.DOTALL)


def content_type(name: str) -> str:
    """The Content-Type a browser expects for a file name."""
    suffix = Path(name).suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return "application/octet-stream"
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


def html_of_csd(data: bytes) -> bytes | None:
    """The <html> element a .csd carries (CsoundQt's convention), or None."""
    m = _HTML_ELEMENT.search(data)
    if m is None:
        return None
    page = m.group(0)
    # Without a doctype the page would render in quirks mode.
    return page if page.lstrip()[:9].lower() == b"<!doctype" else b"<!DOCTYPE html>\n" + page


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


def respond(server: PortServer, connection: ServerConnection, request: Request) -> Response:
    """The answer to a plain HTTP request on a websocket port."""
    method = getattr(request, "method", "GET")  # websockets < 14 parses GET only
    if method not in ("GET", "HEAD"):
        return _text(HTTPStatus.METHOD_NOT_ALLOWED, "csws: only GET and HEAD\n", [("Allow", "GET, HEAD")])
    path = request.path.split("?", 1)[0].split("#", 1)[0]
    if path == "/csws.json":
        body = json.dumps(server.describe(), indent=1).encode()
        # Readable by the pages the websocket Origin check allows (a local dev server), only those.
        origin = request.headers.get("Origin")
        cors = [("Access-Control-Allow-Origin", origin)] if origin and security.origin_allowed(
            origin, request.headers.get("Host"), security.is_loopback(server.settings.host),
            server.settings.origins) else []
        return _ok(body, "application/json", method, [*cors, ("Vary", "Origin")])
    if path in PACKAGED:
        body = (resources.files("csws") / "web" / PACKAGED[path]).read_bytes()
        # Any page may load the client, also one opened from a file.
        return _ok(body, content_type(PACKAGED[path]), method, [("Access-Control-Allow-Origin", "*")])
    settings = server.settings
    if path == "/":
        page = _index(settings)
        if page is not None:
            return _ok(page, "text/html; charset=utf-8", method)
    static = _static_file(settings, path)
    if isinstance(static, Response):
        return static
    if static is not None:
        return _ok(static.read_bytes(), content_type(static.name), method)
    return _text(HTTPStatus.NOT_FOUND, "csws: not found\n")


def _index(settings: Settings) -> bytes | None:
    if settings.index_html:
        path = Path(settings.index_html)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if path.suffix.lower() == ".csd":
            return html_of_csd(data)
        return data
    if settings.static_dir and (Path(settings.static_dir) / "index.html").is_file():
        return None  # the static route serves it
    return (resources.files("csws") / "web" / "index.html").read_bytes()


def _static_file(settings: Settings, path: str) -> Path | Response | None:
    """The file under static_dir a URL path names; None if there is none."""
    if not settings.static_dir:
        return None
    name = unquote(path)
    parts = [p for p in name.split("/") if p]
    # Refuse rather than normalise: no URL a page makes needs these.
    if "\0" in name or "\\" in name or any(p in (".", "..") or p.startswith("~") for p in parts):
        return _text(HTTPStatus.FORBIDDEN, "csws: forbidden\n")
    root = Path(settings.static_dir).resolve()
    target = root.joinpath(*parts).resolve() if parts else root
    if not target.is_relative_to(root):  # a symbolic link out of the directory
        return _text(HTTPStatus.FORBIDDEN, "csws: forbidden\n")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return None
    if target.stat().st_size > MAX_FILE_BYTES:
        return _text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "csws: file too large for this server\n")
    return target


def _headers(content_type: str, length: int, extra: list[tuple[str, str]] | None = None) -> Headers:
    return Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Type", content_type),
        ("Content-Length", str(length)),
        ("Cache-Control", "no-cache"),  # pages change while one works on a piece
        ("X-Content-Type-Options", "nosniff"),
        *(extra or []),
    ])


def _ok(body: bytes, ctype: str, method: str, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = _headers(ctype, len(body), extra)
    return Response(200, "OK", headers, b"" if method == "HEAD" else body)


def _text(status: HTTPStatus, text: str, extra: list[tuple[str, str]] | None = None) -> Response:
    body = text.encode()
    return Response(status.value, status.phrase, _headers("text/plain; charset=utf-8", len(body), extra), body)
