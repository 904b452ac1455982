"""One Csound, a 3-server NATS cluster, two edges (issue 23), end to end.

Csound (`csws run`, CSWS_NATS) is connected to server 0; edge A (`csws edge`) to
server 1, edge B to server 2: every frame crosses the cluster's routes.  Clients
of both edges get every frame bit-exact and in order, Opus decodes, a late
joiner gets fresh data; what pages and programs send through an edge
(a variable, a channel, a score line, a crowd's votes) reaches Csound.
"""
from __future__ import annotations

import asyncio
import json
import math
import struct
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import SOURCE, Performance, free_ports, patience
from wsclient import connect_var, f64, frames, recv_until

sys.path.insert(0, str(SOURCE / "bench"))  # the checkout's, also for tools/check_wheel.sh's copy of tests/
from natscluster import Cluster  # noqa: E402

pytest.importorskip("nats")

FREQ = 441.0
ORC = """websocket_config "combine.kvote", "mean"
instr 1
  kcount init 0
  kcount += 1
  asig = kcount
  aArr[] init 2
  aArr[0] = asig
  aArr[1] = -asig
  Smsg sprintfk "n%d", kcount
  asine oscili 0.5, {freq}
  ival = 2.5
  kvote websocket {port}
  kin websocket {port}
  kslider chnget "slider"
  knoted chnget "noted"
  kread[] init 4
  kread[0] = kvote
  kread[1] = kin
  kread[2] = kslider
  kread[3] = knoted
  kd websocket {port}, kcount, asig, aArr, Smsg, asine, ival, kread
endin
instr 2
  chnset p4, "noted"
endin"""


def run(coro):
    """asyncio.run on a thread of its own: Playwright's sync API holds this one's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def cluster():
    with Cluster(3) as c:
        yield c


@pytest.fixture
def edge(tmp_path, cluster):
    """edge(server, (port, name), ...) -> Performance: a `csws edge` on cluster server `server`."""
    started: list[Performance] = []

    def start(server: int, *ports: tuple[int, str], extra: tuple[str, ...] = ()) -> Performance:
        flags = [a for n, name in ports for a in ("--port", f"{n}:{name}")]
        cmd = [sys.executable, "-m", "csws", "edge", "--nats", cluster.urls[server], *flags, *extra]
        p = Performance(cmd, tmp_path / f"edge{len(started)}.log")
        started.append(p)
        for n, name in ports:
            p.wait_for(rf"port {n}: Csound \({name}\) is running", timeout=20)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def setup(perform, port, cluster, edge):
    """Csound on `port` (stream "main", NATS server 0) and edges A (server 1), B (server 2)."""
    a, b = free_ports(2)
    p = perform(ORC.format(port=port, freq=FREQ), "i1 0 120",
                env={"CSWS_NATS": cluster.urls[0], "CSWS_NATS_NAME": "main"})
    p.wait_for(rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")
    edge(1, (a, "main"))
    edge(2, (b, "main"))
    return p, a, b


def consecutive(values: list) -> bool:
    return all(y == x + 1 for x, y in zip(values, values[1:]))


def get_json(port: int, path: str = "/csws.json") -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=patience(10)) as r:
        return json.loads(r.read())


async def read_all(port: int, n: int) -> dict[str, list]:
    """n frames of each streamed variable at one port, as the values that make them."""
    socks = {name: await connect_var(port, name) for name in ("kcount", "asig", "aArr", "Smsg")}
    got = await asyncio.gather(*(frames(ws, n) for ws in socks.values()))
    for ws in socks.values():
        await ws.close()
    out: dict[str, list] = {}
    k = [f64(m) for m in got[0]]
    assert all(len(x) == 1 for x in k)
    out["kcount"] = [x[0] for x in k]
    out["asig"] = []
    for m in got[1]:
        x = f64(m)
        assert len(x) == 32 and np.all(x == x[0]), x  # the k-cycle's count, 32 times
        out["asig"].append(x[0])
    out["aArr"] = []
    for m in got[2]:
        x = f64(m).reshape(32, 2)  # interleaved: ksmps frames of 2 channels
        assert np.all(x[:, 0] == x[0, 0]) and np.all(x[:, 1] == -x[0, 0]), x
        out["aArr"].append(x[0, 0])
    out["Smsg"] = []
    for m in got[3]:
        assert isinstance(m, str) and m.startswith("n"), m
        out["Smsg"].append(float(m[1:]))
    return out


def test_frames_reach_both_edges_exactly_and_in_order(setup, port):
    """k, a, a[] and S: every frame, bit-exact and in order, at clients of both edges; a late
    joiner gets the latest value at once and the stream from there; i-rate at once; Opus decodes."""
    _, a, b = setup

    async def main():
        both = await asyncio.gather(read_all(a, 300), read_all(b, 300))
        live = await connect_var(b, "kcount")
        first = f64((await frames(live, 1))[0])[0]
        late = await connect_var(b, "kcount")  # beside a live reader at the same edge
        joined = [f64(m)[0] for m in await frames(late, 50)]
        ival = await connect_var(a, "ival")
        i = (await frames(ival, 1, timeout=2))[0]
        return both, first, joined, i

    both, first, joined, ival = run(main())
    for got in both:
        for name, values in got.items():
            assert consecutive(values), (name, values[:10])  # none lost, none twice, in order
            assert all(v == int(v) for v in values)
    assert joined[0] >= first and consecutive(joined), joined[:10]
    assert f64(ival)[0] == 2.5

    from csws.client import connect_sync

    with connect_sync(f"ws://127.0.0.1:{a}") as cs:
        sub = cs.subscribe("asine", codec="opus")
        blocks = []
        for block in sub:
            blocks.append(block)
            if len(blocks) == 200:  # 2 s of 10 ms packets
                break
        assert sub.lost == 0
    y = np.concatenate(blocks)[9600:]
    i = np.nonzero((y[:-1] < 0) & (y[1:] >= 0))[0]
    t = i + y[i] / (y[i] - y[i + 1])
    assert abs((len(t) - 1) / ((t[-1] - t[0]) / 48000) - FREQ) < 1.0
    assert abs(np.max(np.abs(y)) - 0.5) < 0.03


def test_edge_describes_csound_and_itself(setup, port):
    _, a, b = setup
    direct, at_a = get_json(port), get_json(a)
    assert at_a["port"] == a and at_a["sr"] == direct["sr"] and at_a["ksmps"] == direct["ksmps"]
    strip = ("range", "combine")
    assert [{k: v for k, v in x.items() if k not in strip} for x in at_a["variables"]] == \
        [{k: v for k, v in x.items() if k not in strip} for x in direct["variables"]]
    assert at_a["edge"]["csound"] == "running" and at_a["edge"]["name"] == "main"
    assert get_json(b)["edge"]["id"] != at_a["edge"]["id"]
    assert at_a["edge"]["nats"]["connected"] is True and "nats" not in at_a
    assert {c["name"] for c in at_a["channels"]} >= {"slider", "noted"}
    page = urllib.request.urlopen(f"http://127.0.0.1:{a}/csws.js", timeout=patience(10)).read()
    assert b"export" in page


async def csound_reads(port: int, index: int, want, timeout: float = 10.0) -> float:
    """Wait until Csound's kread[index] (read on Csound's own port) is want (or want(x) is true)."""
    ws = await connect_var(port, "kread")
    test = want if callable(want) else (lambda x: x == want)
    try:
        m = await recv_until(ws, lambda m: test(f64(m)[index]), timeout=timeout)
    finally:
        await ws.close()
    return f64(m)[index]


def test_what_edges_send_reaches_csound(setup, port):
    """A variable, a channel (control socket), a score line through an edge; the crowd's mean
    over clients of both edges and Csound's own port, exact; someone leaving changes it."""
    from csws.client import connect as client

    _, a, b = setup

    async def main():
        kin = await connect_var(a, "kin")
        await kin.send(struct.pack("<d", 0.625))
        await csound_reads(port, 1, 0.625)
        async with client(f"ws://127.0.0.1:{b}") as cs:
            await cs.set_channel("slider", 0.375)
            await csound_reads(port, 2, 0.375)
            await cs.score("i 2 0 0.1 42")
            await csound_reads(port, 3, 42.0)
            with pytest.raises(Exception, match="not taken through an edge"):
                await cs.compile_orc("instr 9\nendin")
        values = {a: [0.1, 0.2, 1e16, 0.3], b: [-1e16, 0.7, 1 / 3], port: [2.5]}
        voters = {}
        for p, vs in values.items():
            for v in vs:
                ws = await connect_var(p, "kvote", query="direction=from_web")
                await ws.send(struct.pack("<d", v))
                voters[ws] = v
        every = list(voters.values())
        await csound_reads(port, 0, math.fsum(every) / len(every))
        leaving = next(ws for ws, v in voters.items() if v == 1e16)
        await leaving.close()
        rest = [v for ws, v in voters.items() if ws is not leaving]
        await csound_reads(port, 0, math.fsum(rest) / len(rest))

    run(main())


def test_pages_hear_when_csound_goes(perform, port, cluster, edge):
    """Csound's performance ends: an edge's control-socket pages are told, variables stay open."""
    a = free_ports(1)[0]
    p = perform(ORC.format(port=port, freq=FREQ), "i1 0 4",
                env={"CSWS_NATS": cluster.urls[0], "CSWS_NATS_NAME": "short"})
    p.wait_for(rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")
    edge(1, (a, "short"))

    async def main():
        from websockets.asyncio.client import connect

        async with connect(f"ws://127.0.0.1:{a}/", subprotocols=["csws.control"]) as page:
            hello = json.loads(await page.recv())
            assert hello["op"] == "hello"
            k = await connect_var(a, "kcount")
            gone = json.loads(await asyncio.wait_for(page.recv(), patience(15)))
            assert gone == {"op": "csound", "state": "gone"}
            with pytest.raises(asyncio.TimeoutError):  # still open, nothing comes
                while True:
                    await asyncio.wait_for(k.recv(), 0.5)
            assert k.close_code is None
    run(main())
    assert get_json(a)["edge"]["csound"] == "gone"


def test_two_csound_ports_through_one_edge(perform, port, port2, cluster, edge):
    """Two Csound ports (two streams) through one edge, each on its own edge port."""
    orc = f"""instr 1
  kone = 1
  kd websocket {port}, kone
  ktwo = 2
  kd2 websocket {port2}, ktwo
endin"""
    p = perform(orc, "i1 0 60", env={"CSWS_NATS": cluster.urls[0]})
    p.wait_for(rf"csws: websocket server on ws://127\.0\.0\.1:{port2}/")
    a, b = free_ports(2)
    edge(2, (a, str(port)), (b, str(port2)))

    async def main():
        one, two = await connect_var(a, "kone"), await connect_var(b, "ktwo")
        return f64((await frames(one, 1))[0])[0], f64((await frames(two, 1))[0])[0]

    assert run(main()) == (1.0, 2.0)
    assert sorted(v["name"] for v in get_json(a)["variables"]) == ["kd", "kone"]
    assert sorted(v["name"] for v in get_json(b)["variables"]) == ["kd2", "ktwo"]


@pytest.fixture(scope="module")
def browser():
    from test_browser import ARGS, CHROMIUM  # skips (this fixture's tests only) without Chromium

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=patience(30) * 1000)
        yield b
        b.close()


def test_a_page_at_an_edge_reaches_csound(browser, setup, port):
    """The generated surface served by an edge, in Chromium: a variable's control and a channel's
    control reach Csound (read back on Csound's own port)."""
    from playwright.sync_api import expect

    _, a, _ = setup
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(patience(20) * 1000)
    try:
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"http://127.0.0.1:{a}/")
        expect(pg.get_by_role("status", name="connection")).to_have_text("live")
        for name, value, index in (("kin", "0.8125", 1), ("slider", "0.4375", 2)):
            field = pg.get_by_role("spinbutton", name=name, exact=True)
            field.fill(value)
            field.press("Enter")
            assert run(csound_reads(port, index, float(value))) == float(value)
        slider = pg.get_by_role("slider", name="kin", exact=True)
        slider.focus()
        pg.keyboard.press("End")  # the top of its range (0..1 without a declared one)
        assert run(csound_reads(port, 1, 1.0)) == 1.0
        assert not errors
    finally:
        context.close()


def test_a_flood_on_an_edges_control_socket(setup, port, tmp_path):
    """A page flooding an edge with channel writes is closed (1008) as at Csound's port; the edge's
    other clients and Csound carry on, and the next page's write reaches Csound."""
    from csws.client import connect as client
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    _, a, b = setup

    async def main():
        k = await connect_var(a, "kcount")
        ws = await connect(f"ws://127.0.0.1:{a}/", subprotocols=["csws.control"])
        await ws.recv()  # hello
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(patience(20)):
                for i in range(20000):
                    await ws.send(json.dumps({"op": "set", "values": {"slider": 100 + i}}))
                await ws.recv()
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1008
        before = f64((await frames(k, 1))[0])[0]
        await frames(k, 100)
        after = f64((await frames(k, 1))[0])[0]
        assert after > before + 50  # Csound plays on, this edge's clients get it
        async with client(f"ws://127.0.0.1:{a}") as cs:
            await cs.set_channel("slider", 0.125)
        await csound_reads(port, 2, 0.125)

    run(main())
    assert "a page sent more than 1000 requests a second; closed it" in (tmp_path / "edge0.log").read_text()


def test_a_csds_own_page_at_an_edge(tmp_path, port, cluster, edge):
    """A .csd's <html> (its faces): the edge serves the same page as Csound's port."""
    import os

    from conftest import REALTIME, make_csd

    page = "<html>\n<head><title>from the csd</title></head>\n<body><p id=x>at the edge</p></body>\n</html>"
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(f"instr 1\n  kone = 1\n  kd websocket {port}, kone\nendin", "i1 0 60") + page + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CSWS_INDEX_HTML", "CSWS_STATIC_DIR")}
    p = Performance([sys.executable, "-m", "csws", "run", "--nats", cluster.urls[0], "--nats-name", "page",
                     str(csd), *REALTIME], tmp_path / "csound.log", env=env)
    try:
        p.wait_for("websocket server on")
        a = free_ports(1)[0]
        edge(1, (a, "page"))

        def root(n: int) -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{n}/", timeout=patience(10)) as r:
                return r.read()

        assert b"at the edge" in root(a) and root(a) == root(port)
    finally:
        p.stop()


def test_the_wrong_way_at_an_edge(setup, port):
    """Sending to a variable Csound sends, or expecting to send to it: closed with 1008 as at
    Csound's port; the edge's other clients carry on."""
    from websockets.exceptions import ConnectionClosed

    _, a, _ = setup

    async def main():
        k = await connect_var(a, "kcount")
        await frames(k, 1)
        bad = await connect_var(a, "kcount")
        await bad.send(struct.pack("<d", 1.0))
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(bad.recv(), patience(5))
        assert bad.close_code == 1008
        expects = await connect_var(a, "kcount", query="direction=from_web")
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(expects.recv(), patience(5))
        assert expects.close_code == 1008 and "to_web" in expects.close_reason
        first = f64((await frames(k, 1))[0])[0]
        assert consecutive([first] + [f64(m)[0] for m in await frames(k, 20)])

    run(main())
