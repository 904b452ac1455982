"""Who may connect: listen address, Origin, Host, token, client limits.

The rules themselves (csws/policy.py) are checked directly; then a real
Csound shows that its ports apply them, with real sockets on loopback.
"""
from __future__ import annotations

import asyncio
import http.client
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conftest import REALTIME, SOURCE, Performance, free_port, make_csd, patience
from csws.protocol import policy
from wsclient import connect_var, frames

ORC = "instr 1\n  kcount init 0\n  kcount += 1\n  kecho websocket {port}, kcount\nendin"


def run(coro):
    return asyncio.run(coro)


def started(perform, port, env=None, score="i1 0 30", pattern=None):
    p = perform(ORC.format(port=port), score, env=env)
    p.wait_for(pattern or rf"csws: websocket server on ws://(\[[0-9a-f:]+\]|[^:/]+):{port}/")
    return p


@pytest.fixture(params=["csound", "edge"])
def serve(request, perform, tmp_path):
    """serve(port, env=None) -> the Performance whose console tells: Csound serving the piece on
    `port` itself, or an edge (csws edge, issue 23) on `port` with the same CSWS_* settings, fed
    from the Csound through NATS: the same rules must hold at both."""
    cleanup = []

    def start(port: int, env: dict | None = None) -> Performance:
        if request.param == "csound":
            return started(perform, port, env=env)
        pytest.importorskip("nats")
        sys.path.insert(0, str(SOURCE / "bench"))
        from natscluster import Cluster

        nats = Cluster(1).__enter__()
        cleanup.append(lambda: nats.__exit__(None, None, None))
        own = free_port()
        started(perform, own, env={**(env or {}), "CSWS_NATS": nats.url, "CSWS_NATS_NAME": "piece"})
        edge = Performance([sys.executable, "-m", "csws", "edge", "--nats", nats.url, "--port", f"{port}:piece"],
                           tmp_path / "edge.log", env={**os.environ, **(env or {})})
        cleanup.append(edge.stop)
        edge.wait_for(r"Csound \(piece\) is running")
        return edge

    yield start
    for step in reversed(cleanup):
        step()


async def refused(port: int, **kw) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://127.0.0.1:{port}/" + kw.pop("query", ""), subprotocols=["kcount"], **kw)
    return info.value


def http_get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=patience(10))
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    resp.body = resp.read()
    conn.close()
    return resp


# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize("origin", [
    None, "http://localhost:3000", "https://localhost", "http://127.0.0.1:5173", "http://[::1]:8000",
    "http://LOCALHOST:1",
])
def test_default_origins_allowed(origin):
    assert policy.origin_allowed(origin, "127.0.0.1:8888", True, ())


@pytest.mark.parametrize("origin", [
    "http://evil.example", "null", "file://", "http://localhost.evil.example", "http://127.0.0.2.evil.example",
    "chrome-extension://abc",
])
def test_other_origins_refused(origin):
    assert not policy.origin_allowed(origin, "127.0.0.1:8888", True, ())


def test_own_pages_allowed_but_not_rebound_names():
    # A page this server served over the network, seen by its address.
    assert policy.origin_allowed("http://192.168.1.5:8888", "192.168.1.5:8888", False, ())
    assert policy.origin_allowed("http://mybox.local:8888", "mybox.local:8888", False, ())
    # On loopback, a name that is not ours is a DNS rebinding attempt.
    assert not policy.origin_allowed("http://evil.example:8888", "evil.example:8888", True, ())
    assert not policy.host_allowed("evil.example:8888", True, ())
    assert policy.host_allowed("evil.example:8888", False, ())
    assert policy.host_allowed("localhost:8888", True, ())
    assert policy.host_allowed("mybox.local:8888", True, ("http://mybox.local:8888",))


def test_listed_origins():
    allowed = ("http://mybox.local:8000/", "null")
    assert policy.origin_allowed("http://mybox.local:8000", None, True, allowed)
    assert policy.origin_allowed("null", None, True, allowed)
    assert not policy.origin_allowed("http://mybox.local:8001", None, True, allowed)
    assert policy.origin_allowed("http://anything.example", None, True, ("*",))
    assert policy.origin_allowed("https://site.example", None, True, ("https://site.example:443",))


def test_token_rules():
    assert policy.token_ok("", None)
    assert not policy.token_ok("s3cret", None)
    assert not policy.token_ok("s3cret", "s3cre")
    assert policy.token_ok("s3cret", policy.presented_token("/?a=1&token=s3cret"))
    assert policy.presented_token("/csws.json") is None


def test_throttle_counts_what_it_suppresses():
    now = [0.0]
    throttle = policy.Throttle(5.0, clock=lambda: now[0])
    assert throttle("kin") == 0
    assert throttle("kin") is None and throttle("kin") is None
    assert throttle("other") == 0
    now[0] = 5.0
    assert throttle("kin") == 2


def test_listen_warning():
    assert policy.listen_warning("127.0.0.1", 8888, "", True) is None
    assert policy.listen_warning("0.0.0.0", 8888, "tok", False) is None
    assert "without a token" in policy.listen_warning("0.0.0.0", 8888, "", False)


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("fe80::1%eth0", False),
])
def test_bound_address_is_loopback(address, loopback):
    assert policy.is_loopback(address) is loopback


# ---------------------------------------------------------------- a real port


def test_listens_on_loopback_only_by_default(perform, port):
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("no ss command")
    started(perform, port, pattern=rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")
    out = subprocess.run([ss, "-ltnH"], capture_output=True, text=True, check=True).stdout
    local = [line.split()[3] for line in out.splitlines() if line.split()[3].endswith(f":{port}")]
    assert local == [f"127.0.0.1:{port}"], out


def test_other_site_refused(serve, port):
    p = serve(port)

    async def main():
        await connect_var(port, "kcount")  # the server is up
        e = await refused(port, origin="http://evil.example")
        assert e.response.status_code == 403
        assert b"Origin http://evil.example refused" in e.response.body
        # A DNS-rebound name for 127.0.0.1 is not "this server's own page" either.
        resp = http_get(port, "/csws.json", {"Host": f"evil.example:{port}"})
        assert resp.status == 403

    run(main())
    p.wait_for(r"refused a websocket from Origin http://evil\.example .*CSWS_ORIGINS=http://evil\.example")


def test_origin_null_refused_with_hint(serve, port):
    p = serve(port)

    async def main():
        await connect_var(port, "kcount")
        e = await refused(port, origin="null")
        assert e.response.status_code == 403
        assert b"CSWS_ORIGINS=null" in e.response.body and b"csws run --static" in e.response.body

    run(main())
    p.wait_for(r"refused a websocket from Origin null: .*CSWS_ORIGINS=null")


def test_allowed_origins_accepted(serve, port):
    serve(port, env={"CSWS_ORIGINS": "http://mybox.local:8000, null"})

    async def main():
        for origin in (None, "http://localhost:3000", "http://127.0.0.1:9", "http://[::1]:8000",
                       f"http://127.0.0.1:{port}", "http://mybox.local:8000", "null"):
            ws = await connect_var(port, "kcount", origin=origin)
            assert len(await frames(ws, 2)) == 2
            await ws.close()
        e = await refused(port, origin="http://evil.example")
        assert e.response.status_code == 403

    run(main())


def test_token_required_once_set(serve, port):
    serve(port, env={"CSWS_TOKEN": "s3cret"})

    async def main():
        e = await first_refusal(port)
        assert e.response.status_code == 401
        assert (await refused(port, query="?token=wrong")).response.status_code == 401
        ws = await connect(f"ws://127.0.0.1:{port}/?token=s3cret", subprotocols=["kcount"])
        assert len(await frames(ws, 2)) == 2
        await ws.close()
        # What the orchestra offers is data too; the page and its scripts are files, public.
        assert http_get(port, "/csws.json").status == 401
        assert http_get(port, "/csws.json?token=s3cret").status == 200
        assert http_get(port, "/csws.js").status == 200
        assert http_get(port, "/").status == 200

    run(main())


def test_warning_beyond_loopback_without_token(perform, port):
    p = started(perform, port, env={"CSWS_HOST": "0.0.0.0"}, score="i1 0 3")
    p.wait_for(rf"WARNING: port {port} listens on 0\.0\.0\.0, beyond this computer, without a token")


def test_no_warning_with_token(perform, port):
    p = started(perform, port, env={"CSWS_HOST": "0.0.0.0", "CSWS_TOKEN": "t"}, score="i1 0 1")
    p.wait()
    assert "without a token" not in p.output


def test_most_clients_per_port(serve, port):
    serve(port, env={"CSWS_MAX_CLIENTS": "2"})

    async def main():
        a = await connect_var(port, "kcount")
        b = await connect_var(port, "kcount")
        e = await refused(port)
        assert e.response.status_code == 503
        await a.close()
        c = await connect_var(port, "kcount")  # a place came free
        assert len(await frames(c, 1)) == 1 and len(await frames(b, 1)) == 1

    run(main())


def test_handshake_timeout(perform, port):
    started(perform, port, env={"CSWS_HANDSHAKE_TIMEOUT": "0.5"})

    async def main():
        await connect_var(port, "kcount")

    run(main())
    with socket.create_connection(("127.0.0.1", port), timeout=patience(10)) as s:
        s.sendall(b"GET / HTTP/1.1\r\n")  # ... and nothing more
        try:
            assert s.recv(4096) == b""  # the server hung up (well before our 10 s)
        except ConnectionResetError:
            pass  # ... or reset the connection


def test_run_flags_set_the_environment(tmp_path, port):
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(ORC.format(port=port), "i1 0 30"))
    cmd = [sys.executable, "-m", "csws", "run", "--token", "flag", "--origin", "http://a.example",
           "--origin", "null", "--max-clients", "1", str(csd), *REALTIME]
    p = Performance(cmd, tmp_path / "csound.log")
    try:
        p.wait_for(rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")

        async def main():
            ws = await connect(f"ws://127.0.0.1:{port}/?token=flag", subprotocols=["kcount"],
                               origin="http://a.example")
            assert (await refused(port, query="?token=flag", origin="null")).response.status_code == 503
            await ws.close()
            assert (await refused(port, origin="null")).response.status_code == 401

        run(main())
    finally:
        p.stop()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 on this machine")
def test_host_double_colon_is_every_interface(perform, port):
    """CSWS_HOST=:: reaches IPv4 clients as well as IPv6 ones, as users of :: expect."""
    started(perform, port, env={"CSWS_HOST": "::", "CSWS_TOKEN": "t"}, score="i1 0 3")
    for address in ("127.0.0.1", "::1"):
        with socket.create_connection((address, port), timeout=patience(5)):
            pass


# ---------------------------------------------------------------- issue 15: review findings

TOKEN = "S3cretTok"


async def first_refusal(port: int, **kw) -> InvalidStatus:
    """The refusal of a first websocket, retrying while the server comes up."""
    async with asyncio.timeout(patience(10)):
        while True:
            try:
                return await refused(port, **kw)
            except OSError:
                await asyncio.sleep(0.05)


def test_token_never_leaves_in_an_answer(perform, port, tmp_path):
    """No answer carries the token, whatever token a request presents, and a cookie is no credential."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "page.html").write_text("<!DOCTYPE html><p>page</p>")
    started(perform, port, env={"CSWS_TOKEN": TOKEN, "CSWS_STATIC_DIR": str(site)})
    run(first_refusal(port))
    for path in ["/csws.js?token=wrong", "/csws.d.ts?token=", "/csws.js?token=" + TOKEN, "/?token=wrong",
                 "/?token=" + TOKEN, "/page.html?token=x", "/csws.json?token=wrong", "/csws.json?token=" + TOKEN,
                 "/nothing?token=" + TOKEN]:
        resp = http_get(port, path)
        assert resp.getheader("Set-Cookie") is None, path
        assert TOKEN not in str(resp.getheaders()) and TOKEN.encode() not in resp.body, path
    # A cookie holding the token (as older versions set) opens nothing.
    assert http_get(port, "/csws.json", {"Cookie": f"csws_token={TOKEN}"}).status == 401
    e = run(refused(port, additional_headers={"Cookie": f"csws_token={TOKEN}"}))
    assert e.response.status_code == 401


def test_host_check_also_with_a_token(serve, port):
    """A token does not switch the DNS-rebinding check off: the rebound page could use a leaked token."""
    serve(port, env={"CSWS_TOKEN": TOKEN})
    run(first_refusal(port))
    resp = http_get(port, f"/csws.json?token={TOKEN}", {"Host": f"evil.test:{port}"})
    assert resp.status == 403
    assert b" 403 " in raw_request(port, handshake(f"/?token={TOKEN}", f"evil.test:{port}"))


@pytest.mark.parametrize("alias", ["127.1", "0x7f.1"])
def test_loopback_alias_keeps_the_host_check(perform, port, alias):
    """CSWS_HOST names 127.0.0.1 another way: still this computer only, still no foreign Host."""
    p = started(perform, port, env={"CSWS_HOST": alias})
    run(first_refusal(port, origin="http://evil.example"))
    assert http_get(port, "/csws.json").status == 200
    assert http_get(port, "/csws.json", {"Host": "evil.test"}).status == 403
    assert b" 403 " in raw_request(port, handshake("/", "evil.test"))
    assert b" 101 " in raw_request(port, handshake("/", f"127.0.0.1:{port}"))
    assert "beyond this computer" not in p.output


def handshake(path: str, host: str, extra: bytes = b"") -> bytes:
    """A websocket handshake for kcount, byte for byte."""
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: kcount\r\n").encode() + extra + b"\r\n"


def raw_request(port: int, request: bytes) -> bytes:
    """The status line of the answer to a request sent byte for byte."""
    with socket.create_connection(("127.0.0.1", port), timeout=patience(10)) as s:
        s.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            more = s.recv(4096)
            if not more:
                break
            answer += more
    return answer.split(b"\r\n", 1)[0]


def test_bad_requests_get_4xx_and_one_line(perform, port, tmp_path):
    """A name too long, a header twice: 4xx, no traceback, one warning line per kind however many come."""
    site = tmp_path / "site"
    site.mkdir()
    p = started(perform, port, env={"CSWS_STATIC_DIR": str(site)})
    run(first_refusal(port, origin="http://evil.example"))
    cases = {
        b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n": b" 414 ",
        b"GET /" + b"a/" * 2100 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n": b" 414 ",  # beyond PATH_MAX
        handshake("/", "127.0.0.1", b"Origin: http://localhost\r\nOrigin: http://a.test\r\n"): b" 400 ",
        b"GET /csws.json HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.test\r\n\r\n": b" 400 ",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n\r\n": b" 400 ",
    }
    for _ in range(10):
        for request, status in cases.items():
            line = raw_request(port, request)
            assert status in line, (request[:60], line)
    kinds = ("more than one Host header", "more than one Origin header", "more than one Upgrade header",
             "File name too long")
    for kind in kinds:
        p.wait_for(kind)
    time.sleep(0.5)
    out = p.output
    assert "Traceback" not in out and "process_request" not in out
    for kind in kinds:
        assert out.count(kind) == 1, (kind, out[-3000:])


def fd_count(pid: int, settle: float = 0.3) -> int:
    """How many descriptors a process has open, once that stopped changing for `settle` s."""
    count = len(os.listdir(f"/proc/{pid}/fd"))
    deadline = time.monotonic() + patience(10)
    while time.monotonic() < deadline:
        time.sleep(settle)
        now = len(os.listdir(f"/proc/{pid}/fd"))
        if now == count:
            return count
        count = now
    raise AssertionError(f"process {pid} keeps opening and closing descriptors")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_out_of_file_descriptors(perform, port, tmp_path):
    """With no file descriptor left: 503, and one line, not a traceback per request or per second."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "page.html").write_text("<p>page</p>")
    p = started(perform, port, env={"CSWS_STATIC_DIR": str(site), "CSWS_HANDSHAKE_TIMEOUT": "60"})
    assert http_get(port, "/page.html").status == 200  # the server is up, its loop running
    pid = p.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    idle: list[socket.socket] = []
    try:
        free = 6
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (fd_count(pid) + free, hard))
        for _ in range(free - 1):  # connections that never send a request hold a descriptor each
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=patience(10)))
        assert fd_count(pid) == resource.prlimit(pid, resource.RLIMIT_NOFILE)[0] - 1
        # The last descriptor goes to this connection; opening the file finds none left.
        assert b" 503 " in raw_request(port, b"GET /page.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for _ in range(20):  # ... and these cannot even be accepted
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=patience(10)))
        time.sleep(2.5)
    finally:
        for s in idle:
            s.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    out = p.output
    assert "Traceback" not in out
    assert 1 <= out.count("Too many open files") <= 2, out[-3000:]
    assert http_get(port, "/page.html").status == 200  # and it recovers


def test_framing_refused_and_dotfiles_hidden(perform, port, tmp_path):
    site = tmp_path / "site"
    (site / ".git").mkdir(parents=True)
    (site / "sub").mkdir()
    (site / "index.html").write_text("<!DOCTYPE html><p>mine</p>")
    (site / ".env").write_text("API_KEY=SECRET")
    (site / ".git" / "config").write_text("[remote] SECRET")
    (site / "sub" / ".hidden").write_text("SECRET")
    (site / "sub" / "ok.txt").write_text("fine")
    started(perform, port, env={"CSWS_STATIC_DIR": str(site)})
    run(first_refusal(port, origin="http://evil.example"))
    for path in ["/", "/sub/ok.txt", "/csws.json", "/csws.js"]:
        resp = http_get(port, path)
        assert resp.status == 200, path
        assert resp.getheader("Content-Security-Policy") == "frame-ancestors 'self'", path
        assert resp.getheader("X-Frame-Options") == "SAMEORIGIN", path
    for path in ["/.env", "/.git/config", "/sub/.hidden", "/%2eenv", "/sub/%2Ehidden", "/.git/"]:
        resp = http_get(port, path)
        assert resp.status == 404, path
        assert b"SECRET" not in resp.body, path
