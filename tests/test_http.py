"""Plain HTTP on a websocket port: /csws.json, the client, pages, static files.

Each test runs a real Csound under `csws run` and asks its port over
loopback with http.client, which sends paths exactly as given (so path
traversal attempts reach the server unnormalised).
"""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

from conftest import REALTIME, Performance, make_csd, patience
from csws.protocol.pages import CSOUND_OBJECT
from wsclient import connect_var, f64, frames


def get(port: int, path: str, timeout: float = 15.0, method: str = "GET",
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request, retrying while the server comes up."""
    deadline = time.monotonic() + patience(timeout)
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=patience(5))
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            conn.close()


ORC = """instr 1
  kcount init 0
  kcount += 1
  aout = 0
  aArr[] init 3
  kArr[] init 2, 4
  Sname = "hello"
  kin init 0
  kin, Sin websocket {port}, kcount, aout, aArr, kArr, Sname
endin
"""


def test_csws_json_matches_the_orchestra(perform, port):
    p = perform(ORC.format(port=port), "i1 0 20", ksmps=16, sr=44100)
    p.wait_for("websocket server on")
    status, headers, body = get(port, "/csws.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    info = json.loads(body)
    assert info["ksmps"] == 16 and info["sr"] == 44100 and info["myflt_bytes"] == 8 and info["port"] == port
    got = {v["name"]: v for v in info["variables"]}
    assert set(got) == {"kin", "Sin", "kcount", "aout", "aArr", "kArr", "Sname"}
    expect = {  # name: (direction, type, shape, values, layout, dtype)
        "kin": ("from_web", "k", [], 1, "scalar", "float64"),
        "Sin": ("from_web", "S", [], 0, "scalar", "utf-8"),
        "kcount": ("to_web", "k", [], 1, "scalar", "float64"),
        "aout": ("to_web", "a", [], 16, "block", "float64"),
        "aArr": ("to_web", "a[]", [3], 48, "interleaved", "float64"),
        "kArr": ("to_web", "k[]", [2, 4], 8, "row-major", "float64"),
        "Sname": ("to_web", "S", [], 0, "scalar", "utf-8"),
    }
    for name, (direction, typ, shape, values, layout, dtype) in expect.items():
        v = got[name]
        assert (v["direction"], v["type"], v["shape"], v["values"], v["layout"], v["dtype"]) == (
            direction, typ, shape, values, layout, dtype), v
        assert v["rate"] == typ[0]
        assert v["frame_samples"] == (16 if typ.startswith("a") else 1)


def test_packaged_client_and_default_page(perform, port):
    perform(ORC.format(port=port), "i1 0 20")
    status, headers, body = get(port, "/csws.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert body == (resources.files("csws") / "web" / "csws.js").read_bytes()
    assert b"export function connect" in body
    status, headers, body = get(port, "/csws.d.ts")
    assert status == 200 and b"export declare class Client" in body
    # No page configured: a built-in one that lists the variables.
    status, headers, body = get(port, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"/csws.js" in body
    status, headers, body = get(port, "/csws.js", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
    assert get(port, "/nothing-here.html")[0] == 404


def test_static_files(perform, port, tmp_path):
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>mine</title>")
    (site / "app.js").write_text("export const x = 1;\n")
    (site / "style.css").write_text("body { color: red }\n")
    (site / "sub" / "data.json").write_text('{"a": 1}')
    (site / "sub" / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    p = perform(ORC.format(port=port), "i1 0 20", env={"CSWS_STATIC_DIR": str(site)})
    p.wait_for("websocket server on")
    cases = {
        "/": ("text/html; charset=utf-8", b"<!DOCTYPE html><title>mine</title>"),
        "/index.html": ("text/html; charset=utf-8", b"<!DOCTYPE html><title>mine</title>"),
        "/app.js": ("text/javascript; charset=utf-8", b"export const x = 1;\n"),
        "/style.css?v=2": ("text/css; charset=utf-8", b"body { color: red }\n"),
        "/sub/data.json": ("application/json", b'{"a": 1}'),
        "/sub/": None,  # a directory without index.html
        "/sub/picture.png": ("image/png", (site / "sub" / "picture.png").read_bytes()),
    }
    for path, want in cases.items():
        status, headers, body = get(port, path)
        if want is None:
            assert status == 404, path
            continue
        assert status == 200, path
        assert headers["content-type"] == want[0], path
        assert body == want[1], path
    # /csws.json and /csws.js still win over files of the same name.
    (site / "csws.json").write_text("{}")
    assert json.loads(get(port, "/csws.json")[2])["port"] == port


def test_path_traversal_refused(perform, port, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.txt").write_text("fine")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (site / "link.txt").symlink_to(secret)  # a link out of the directory
    p = perform(ORC.format(port=port), "i1 0 20", env={"CSWS_STATIC_DIR": str(site)})
    p.wait_for("websocket server on")
    assert get(port, "/ok.txt")[2] == b"fine"
    for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/ok.txt/../../secret.txt",
                 "/%2E%2E%2Fsecret.txt", "/..\\secret.txt", "/..%5csecret.txt", "/link.txt",
                 "/" + "/".join([".."] * 8) + str(secret), "//" + str(secret), "/ok.txt%00.html"]:
        status, _, body = get(port, path)
        assert status in (403, 404), (path, status)
        assert b"SECRET" not in body, path


def test_csd_html_served_at_root(tmp_path, port):
    page = "<html>\n<head><title>from the csd</title></head>\n<body><p id=x>csd page</p></body>\n</html>"
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(ORC.format(port=port), "i1 0 20") + page + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CSWS_INDEX_HTML", "CSWS_STATIC_DIR")}
    p = Performance([sys.executable, "-m", "csws", "run", str(csd), *REALTIME], tmp_path / "log.txt", env=env)
    try:
        p.wait_for("websocket server on")
        status, headers, body = get(port, "/")
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        # as written, with the csound object of HTML pieces first in its head (csws-csound.js)
        assert body == b"<!DOCTYPE html>\n" + page.encode().replace(b"<head>", b"<head>" + CSOUND_OBJECT)
        assert b"CsInstruments" not in body
    finally:
        p.stop()


def test_index_html_setting(perform, port, tmp_path):
    index = tmp_path / "front.html"
    index.write_text("<!DOCTYPE html><p>front</p>")
    p = perform(ORC.format(port=port), "i1 0 20", env={"CSWS_INDEX_HTML": str(index)})
    p.wait_for("websocket server on")
    assert get(port, "/")[2] == b"<!DOCTYPE html><p>front</p>"


def test_static_flag_of_csws_run(tmp_path, port):
    site = tmp_path / "www"
    site.mkdir()
    (site / "page.html").write_text("<p>static flag</p>")
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(ORC.format(port=port), "i1 0 20"))
    cmd = [sys.executable, "-m", "csws", "run", "--static", str(site), str(csd), *REALTIME]
    p = Performance(cmd, tmp_path / "log.txt", env=dict(os.environ))
    try:
        p.wait_for("websocket server on")
        assert get(port, "/page.html")[2] == b"<p>static flag</p>"
    finally:
        p.stop()


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_big_files_do_not_starve_streams_or_memory(perform, port, tmp_path):
    """40 requests for a 30 MB file from clients that do not read (issue 15, point 3): the server's
    memory stays small, a k-rate stream meanwhile loses no frame, requests beyond the per-port cap
    get 503, and a client that reads gets the file whole."""
    site = tmp_path / "site"
    site.mkdir()
    big = site / "big.bin"
    with open(big, "wb") as f:
        for _ in range(30):
            f.write(os.urandom(1 << 20))
    p = perform(ORC.format(port=port), "i1 0 60",
                env={"CSWS_STATIC_DIR": str(site), "CSWS_HANDSHAKE_TIMEOUT": "60"})
    p.wait_for("websocket server on")
    pid = p.proc.pid
    stalled: list[socket.socket] = []

    async def main() -> tuple[list[float], int, int]:
        ws = await connect_var(port, "kcount")
        await frames(ws, 20)
        before = memory_kib(pid, "VmRSS")
        for _ in range(40):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            stalled.append(s)
        counts = []
        end = time.monotonic() + 4
        while time.monotonic() < end:
            counts.append(float(f64(await ws.recv())[0]))
        await ws.close()
        return counts, before, memory_kib(pid, "VmHWM")

    try:
        counts, before, peak = asyncio.run(main())
        statuses = []
        for s in stalled:
            s.settimeout(patience(10))
            statuses.append(s.recv(12))
    finally:
        for s in stalled:
            s.close()
    assert (peak - before) < 100 << 10, f"the server grew by {(peak - before) >> 10} MiB"
    gaps = [(a, b) for a, b in zip(counts, counts[1:]) if b != a + 1]
    assert len(counts) > 1000 and not gaps, f"{len(counts)} frames, gaps {gaps[:5]}"
    assert statuses.count(b"HTTP/1.1 200") == 32 and statuses.count(b"HTTP/1.1 503") == 8, statuses
    deadline = time.monotonic() + patience(10)
    while (answer := get(port, "/big.bin"))[0] == 503 and time.monotonic() < deadline:
        time.sleep(0.1)  # the stalled requests' places come free as the server sees them gone
    status, headers, body = answer
    assert status == 200 and int(headers["content-length"]) == len(body) == 30 << 20
    assert body == big.read_bytes()
    assert get(port, "/big.bin", method="HEAD")[1]["content-length"] == str(30 << 20)
