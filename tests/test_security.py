"""Who may connect: listen address, Origin, Host, token, client limits.

The rules themselves (csws/security.py) are checked directly; then a real
Csound shows that its ports apply them, with real sockets on loopback.
"""
from __future__ import annotations

import asyncio
import http.client
import shutil
import socket
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conftest import REALTIME, Performance, make_csd
from csws import security
from wsclient import connect_var, frames

ORC = "instr 1\n  kcount init 0\n  kcount += 1\n  kecho websocket {port}, kcount\nendin"


def run(coro):
    return asyncio.run(coro)


def started(perform, port, env=None, score="i1 0 30", pattern=None):
    p = perform(ORC.format(port=port), score, env=env)
    p.wait_for(pattern or rf"csws: websocket server on ws://(\[[0-9a-f:]+\]|[^:/]+):{port}/")
    return p


async def refused(port: int, **kw) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://127.0.0.1:{port}/" + kw.pop("query", ""), subprotocols=["kcount"], **kw)
    return info.value


def http_get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
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
    assert security.origin_allowed(origin, "127.0.0.1:8888", True, ())


@pytest.mark.parametrize("origin", [
    "http://evil.example", "null", "file://", "http://localhost.evil.example", "http://127.0.0.2.evil.example",
    "chrome-extension://abc",
])
def test_other_origins_refused(origin):
    assert not security.origin_allowed(origin, "127.0.0.1:8888", True, ())


def test_own_pages_allowed_but_not_rebound_names():
    # A page this server served over the network, seen by its address.
    assert security.origin_allowed("http://192.168.1.5:8888", "192.168.1.5:8888", False, ())
    assert security.origin_allowed("http://mybox.local:8888", "mybox.local:8888", False, ())
    # On loopback, a name that is not ours is a DNS rebinding attempt.
    assert not security.origin_allowed("http://evil.example:8888", "evil.example:8888", True, ())
    assert not security.host_allowed("evil.example:8888", True, ())
    assert security.host_allowed("evil.example:8888", False, ())
    assert security.host_allowed("localhost:8888", True, ())
    assert security.host_allowed("mybox.local:8888", True, ("http://mybox.local:8888",))


def test_listed_origins():
    allowed = ("http://mybox.local:8000/", "null")
    assert security.origin_allowed("http://mybox.local:8000", None, True, allowed)
    assert security.origin_allowed("null", None, True, allowed)
    assert not security.origin_allowed("http://mybox.local:8001", None, True, allowed)
    assert security.origin_allowed("http://anything.example", None, True, ("*",))
    assert security.origin_allowed("https://site.example", None, True, ("https://site.example:443",))


def test_token_rules():
    assert security.token_ok("", None)
    assert not security.token_ok("s3cret", None)
    assert not security.token_ok("s3cret", "s3cre")
    assert security.token_ok("s3cret", security.presented_token("/?a=1&token=s3cret"))
    assert security.presented_token("/csws.json") is None


def test_throttle_counts_what_it_suppresses():
    now = [0.0]
    throttle = security.Throttle(5.0, clock=lambda: now[0])
    assert throttle("kin") == 0
    assert throttle("kin") is None and throttle("kin") is None
    assert throttle("other") == 0
    now[0] = 5.0
    assert throttle("kin") == 2


def test_listen_warning():
    assert security.listen_warning("127.0.0.1", 8888, "", True) is None
    assert security.listen_warning("0.0.0.0", 8888, "tok", False) is None
    assert "without a token" in security.listen_warning("0.0.0.0", 8888, "", False)


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("fe80::1%eth0", False),
])
def test_bound_address_is_loopback(address, loopback):
    assert security.is_loopback(address) is loopback


# ---------------------------------------------------------------- a real port


def test_listens_on_loopback_only_by_default(perform, port):
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("no ss command")
    started(perform, port, pattern=rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")
    out = subprocess.run([ss, "-ltnH"], capture_output=True, text=True, check=True).stdout
    local = [line.split()[3] for line in out.splitlines() if line.split()[3].endswith(f":{port}")]
    assert local == [f"127.0.0.1:{port}"], out


def test_other_site_refused(perform, port):
    p = started(perform, port)

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


def test_origin_null_refused_with_hint(perform, port):
    p = started(perform, port)

    async def main():
        await connect_var(port, "kcount")
        e = await refused(port, origin="null")
        assert e.response.status_code == 403
        assert b"CSWS_ORIGINS=null" in e.response.body and b"csws run --static" in e.response.body

    run(main())
    p.wait_for(r"refused a websocket from Origin null: .*CSWS_ORIGINS=null")


def test_allowed_origins_accepted(perform, port):
    started(perform, port, env={"CSWS_ORIGINS": "http://mybox.local:8000, null"})

    async def main():
        for origin in (None, "http://localhost:3000", "http://127.0.0.1:9", "http://[::1]:8000",
                       f"http://127.0.0.1:{port}", "http://mybox.local:8000", "null"):
            ws = await connect_var(port, "kcount", origin=origin)
            assert len(await frames(ws, 2)) == 2
            await ws.close()
        e = await refused(port, origin="http://evil.example")
        assert e.response.status_code == 403

    run(main())


def test_token_required_once_set(perform, port):
    started(perform, port, env={"CSWS_TOKEN": "s3cret"})

    async def main():
        for attempt in range(200):  # wait for the server (a refusal means it is up)
            try:
                e = await refused(port)
                break
            except OSError:
                await asyncio.sleep(0.05)
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


def test_most_clients_per_port(perform, port):
    started(perform, port, env={"CSWS_MAX_CLIENTS": "2"})

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
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
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
        with socket.create_connection((address, port), timeout=5):
            pass
