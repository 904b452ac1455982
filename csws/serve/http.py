"""Plain HTTP on a websocket port: discovery, the JavaScript client, pages.

Requests that are not websocket upgrades land here (through
PortServer._http).  Routes:

  /csws.json            what the port offers (PortServer.describe())
  /csws.js, /csws.d.ts  the packaged JavaScript client and its types
  /                     the piece's page: Settings.index_html (an .html file,
                        or a .csd: its first face of csws/protocol/faces.py,
                        docs/panels.md), else index.html of
                        Settings.static_dir, else a small built-in page: the
                        control surface generated from the channels and
                        variables on offer
  /csws/surface         that control surface, whatever / serves
  /csws/html, /csws/csoundqt(.json), /csws/cabbage(.json)
                        the .csd's other faces (404 for one it does not have)
  /csws/files/NAME      a picture beside the .csd (a button's or image's)
  anything else         a file under Settings.static_dir

The server answers each request on its own connection and closes it (the
websockets library does not keep HTTP connections alive), which suits a
page and a few scripts.

websockets answers with one Response whose body is bytes, written whole: a
big file would sit in memory once per request, for as long as its client
takes to read it.  So files of the static directory come back as a
StaticFile, which send_file() streams: the head, then CHUNK bytes at a time,
each written once the client has taken enough of the last ones (the
connection's flow control: websockets' write_limit), yielding to the loop
between chunks so that streams to websocket clients go on meanwhile.  The
whole answer must go out within the server's open_timeout
(CSWS_HANDSHAKE_TIMEOUT), after which websockets aborts the connection: that
bounds how long a client that does not read holds its request.
Dotfiles are never served (.env, .git/); every answer forbids framing by
other sites and sends no Referer (page URLs may carry ?token=).
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import mimetypes
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from csws.protocol import policy
from csws.protocol.faces import Faces, faces_of_file, panel_page

if TYPE_CHECKING:  # server imports this module: no cycle at run time
    from websockets.asyncio.server import ServerConnection

    from csws.serve.server import PortServer

CHUNK = 64 << 10  # read on the loop: from the page cache this takes microseconds
PACKAGED = {"/csws.js": "csws.js", "/csws.d.ts": "csws.d.ts",
            "/csws-player.js": "csws-player.js", "/csws-capture.js": "csws-capture.js",  # play(), capture()
            "/csws-csound.js": "csws-csound.js",  # control(), the csound object
            "/csws-surface.js": "csws-surface.js",
            "/csws-panel.js": "csws-panel.js"}  # the panel renderer
PICTURES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")  # what /csws/files/ serves of the .csd's folder
GUARDED = ("/csws.json",)  # with a token set, these need it like websockets do (csws/policy.py)
# Only this port's own pages may frame ours (clickjacking the sliders); no Referer
# leaves a page, since its URL may carry ?token=.
PAGE_HEADERS = [
    ("Content-Security-Policy", "frame-ancestors 'self'"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "no-referrer"),
]

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

def content_type(name: str) -> str:
    """The Content-Type a browser expects for a file name."""
    suffix = Path(name).suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return "application/octet-stream"
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


@dataclass
class StaticFile:
    """A file to stream (send_file): its answer's head, and the file, open already."""

    head: Response  # 200 and its headers; the body follows from `file`
    file: BinaryIO
    length: int  # as Content-Length says: a file growing meanwhile is cut there


def respond(server: PortServer, connection: ServerConnection, request: Request) -> Response | StaticFile:
    """The answer to a plain HTTP request on a websocket port.

    OSError (a name too long, no file descriptors left) is the caller's to
    turn into an HTTP error.
    """
    method = getattr(request, "method", "GET")  # websockets < 14 parses GET only
    if method not in ("GET", "HEAD"):
        return _text(HTTPStatus.METHOD_NOT_ALLOWED, "csws: only GET and HEAD\n", [("Allow", "GET, HEAD")])
    path = request.path.split("?", 1)[0].split("#", 1)[0]
    if path == "/csws.json":
        body = json.dumps(server.describe(), indent=1).encode()
        # Readable by the pages the websocket Origin check allows (a local dev server), only those.
        origin = request.headers.get("Origin")
        cors = [("Access-Control-Allow-Origin", origin)] if origin and policy.origin_allowed(
            origin, request.headers.get("Host"), policy.is_loopback(server.settings.host),
            server.settings.origins) else []
        return _ok(body, "application/json", method, [*cors, ("Vary", "Origin")])
    if path in PACKAGED:
        body = (resources.files("csws") / "web" / PACKAGED[path]).read_bytes()
        # Any page may load the client, also one opened from a file.
        return _ok(body, content_type(PACKAGED[path]), method, [("Access-Control-Allow-Origin", "*")])
    if path == "/csws/surface":  # the generated control surface, also for a piece with a page of its own
        return _ok((resources.files("csws") / "web" / "index.html").read_bytes(), "text/html; charset=utf-8", method)
    settings = server.settings
    faces = faces_of_file(settings.index_html) if settings.index_html else None
    if path.startswith("/csws/"):
        answer = _face(server, faces, path, method)
        if answer is not None:
            return answer
    if path == "/":
        page = _index(server, faces)
        if page is not None:
            return _ok(page, "text/html; charset=utf-8", method)
    static = _static_file(settings.static_dir, path)
    if isinstance(static, Response):
        return static
    if static is None:
        return _text(HTTPStatus.NOT_FOUND, "csws: not found\n")
    return _file_answer(static, method)


async def send_file(connection: ServerConnection, answer: StaticFile) -> None:
    """Send `answer` and close the connection; the file is closed in any case.

    Closing is what ends the answer for websockets too: it only answers
    connections still opening, so it sends nothing after this.
    """
    transport = connection.transport
    try:
        transport.write(answer.head.serialize())
        left = answer.length
        while left > 0 and not transport.is_closing():
            chunk = answer.file.read(min(CHUNK, left))
            if not chunk:  # the file shrank: the client sees a short body, as Content-Length tells it
                break
            transport.write(chunk)
            left -= len(chunk)
            await connection.drain()  # waits while the client has a full buffer to read
            await asyncio.sleep(0)  # a fast reader never waits above: let the streams run too
    except OSError:  # the client went away (drain reports a reset)
        transport.abort()
    finally:
        answer.file.close()
        transport.close()  # once what is buffered is sent
    await asyncio.shield(connection.connection_lost_waiter)


def _index(server: PortServer, faces: Faces | None) -> bytes | None:
    settings = server.settings
    if faces is not None and faces.first != "surface":
        return _page_of(server, faces, faces.first)
    if settings.index_html and faces is None and not settings.index_html.lower().endswith(".csd"):
        try:
            return Path(settings.index_html).read_bytes()
        except OSError:
            return None
    if settings.static_dir and (Path(settings.static_dir) / "index.html").is_file():
        return None  # the static route serves it
    return (resources.files("csws") / "web" / "index.html").read_bytes()


def _face(server: PortServer, faces: Faces | None, path: str, method: str) -> Response | StaticFile | None:
    """A face of the piece's .csd at its own path, or a picture beside it; None: not such a path."""
    name, _, rest = path[len("/csws/"):].partition("/")
    if name == "files":  # pictures for a panel's buttons and images
        if faces is None or (faces.csoundqt is None and faces.cabbage is None):
            return _text(HTTPStatus.NOT_FOUND, "csws: not found\n")
        picture = _static_file(str(Path(server.settings.index_html).parent), "/" + rest)
        if isinstance(picture, Response):
            return picture
        if picture is None or picture.suffix.lower() not in PICTURES:
            return _text(HTTPStatus.NOT_FOUND, "csws: not found\n")
        return _file_answer(picture, method)
    face, json_wanted = (name[:-5], True) if name.endswith(".json") else (name, False)
    if face not in ("html", "csoundqt", "cabbage") or rest:
        return None
    if faces is None or face not in faces.present:
        return _text(HTTPStatus.NOT_FOUND, f"csws: this piece has no {face} face\n")
    if json_wanted:
        if face == "html":
            return None
        _report_unknown(server, faces, face)
        return _ok(json.dumps(faces.panel(face)).encode(), "application/json", method)
    return _ok(_page_of(server, faces, face), "text/html; charset=utf-8", method)


def _page_of(server: PortServer, faces: Faces, face: str) -> bytes:
    if face == "html":
        assert faces.html is not None
        return faces.html
    _report_unknown(server, faces, face)
    return panel_page(face, faces)


def _report_unknown(server: PortServer, faces: Faces, face: str) -> None:
    """Csound's console hears of widgets shown as placeholders once per port and face."""
    panel = faces.panel(face)
    if panel is None or not panel["unknown"] or face in server.reported_faces:
        return
    server.reported_faces.add(face)
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(panel["unknown"].items()))
    server.log(f"csws: port {server.port}: the {face} panel shows placeholders for what csws cannot draw: {kinds}")


def _file_answer(target: Path, method: str) -> Response | StaticFile:
    length = target.stat().st_size
    if method == "HEAD":
        return _ok(b"", content_type(target.name), method, length=length)
    file = target.open("rb")  # here, not in send_file: failing to open is an answer of its own
    return StaticFile(Response(200, "OK", _headers(content_type(target.name), length), b""), file, length)


def _static_file(directory: str, path: str) -> Path | Response | None:
    """The file under `directory` a URL path names; None if there is none."""
    if not directory:
        return None
    name = unquote(path)
    parts = [p for p in name.split("/") if p]
    # Refuse rather than normalise: no URL a page makes needs these.
    if "\0" in name or "\\" in name or any(p in (".", "..") or p.startswith("~") for p in parts):
        return _text(HTTPStatus.FORBIDDEN, "csws: forbidden\n")
    if any(p.startswith(".") for p in parts):  # .env, .git/: secrets and history, not pages
        return _text(HTTPStatus.NOT_FOUND, "csws: not found\n")
    root = Path(directory).resolve()
    target = root.joinpath(*parts).resolve() if parts else root
    if not target.is_relative_to(root):  # a symbolic link out of the directory
        return _text(HTTPStatus.FORBIDDEN, "csws: forbidden\n")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return None
    return target


def _headers(content_type: str, length: int, extra: list[tuple[str, str]] | None = None) -> Headers:
    return Headers([
        *PAGE_HEADERS,
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Type", content_type),
        ("Content-Length", str(length)),
        ("Cache-Control", "no-cache"),  # pages change while one works on a piece
        ("X-Content-Type-Options", "nosniff"),
        *(extra or []),
    ])


def _ok(body: bytes, ctype: str, method: str, extra: list[tuple[str, str]] | None = None,
        length: int | None = None) -> Response:
    headers = _headers(ctype, len(body) if length is None else length, extra)
    return Response(200, "OK", headers, b"" if method == "HEAD" else body)


def _text(status: HTTPStatus, text: str, extra: list[tuple[str, str]] | None = None) -> Response:
    body = text.encode()
    return Response(status.value, status.phrase, _headers("text/plain; charset=utf-8", len(body), extra), body)
