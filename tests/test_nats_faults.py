"""Faults between one Csound, a nats-server cluster and two edges, with clients on both edges.

A 3-server cluster (bench/natscluster.py) on loopback: Csound (`csws run --nats`) on server 0,
edge A (`csws edge`, given all three servers, first on server 1) and edge B (server 2).  Then:
server 1 is killed mid-stream (edge A's NATS client fails over), or stopped (SIGSTOP: only
pings can tell a stalled server; edge B's clients must not notice), edge A itself is killed (its
clients, given [A, B] or only A, go on at B, which A's /csws.json lists in edge.also; so does a
page served by A), Csound is killed and started again (the edges tell their control sockets
"gone" then "running"; variable clients keep their sockets).  Every kill is a SIGKILL: no
goodbye.  Each client's longest gap is measured, printed and bounded, and so is Csound's longest
k-cycle, which the piece measures itself (rtclock) and sends as kworst.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from websockets.asyncio.client import connect as ws_connect

from conftest import SOURCE, Performance, free_ports, patience
from csws.client import connect
from csws.protocol.nats_subjects import GONE_AFTER, HEARTBEAT

sys.path.insert(0, str(SOURCE / "bench"))  # the checkout's, also for tools/check_wheel.sh's copy of tests/
from natscluster import NATS_SERVER, Cluster  # noqa: E402

pytest.importorskip("nats", reason="nats-py is not installed (pip install 'csound-websocket[nats]')")
if not os.path.exists(NATS_SERVER):
    pytest.skip(f"no nats-server at {NATS_SERVER} (apt-get install nats-server)", allow_module_level=True)

NAME = "piece"  # the Csound's stream name on NATS
KSMPS = 480  # kr 100: frames enough to see a gap, little load on a shared machine
RT = ["-odac", "-+rtaudio=null", f"-b{KSMPS}", f"-B{2 * KSMPS}", "-d"]
CHROMIUM = os.environ.get("CSWS_CHROMIUM", "/usr/bin/chromium")
GAP_LIMIT = 3.0  # seconds a client may go without frames through a fault (NATS reconnects in 0.25 s)
STALL_LIMIT = 6.0  # seconds an edge's clients may wait while its NATS client finds its server stalled
# Seconds: Csound's longest k-cycle (kr 100: 0.01 s) through every fault.  A 2-core machine running
# other tests preempts Csound for a few hundred ms (0.6 s seen at a load of 10); a wait on NATS or an
# edge would be seconds (as test_nats_link's MAX_GAP).
CYCLE_LIMIT = 1.0

# kworst: the longest k-cycle since the first second (start-up), by the real-time clock; kwhen: when
# it ended, in seconds of that clock.
ORC = """
instr 1
  kcount init 0
  kcount += 1
  kt rtclock
  kprev init -1
  kworst init 0
  kwhen init 0
  if kprev >= 0 && kt > 1 && kt - kprev > kworst then
    kworst = kt - kprev
    kwhen = kt
  endif
  kprev = kt
  kd websocket {port}, kcount, kworst, kwhen
endin
"""


# Served by both edges; it names only its own edge: the other comes from /csws.json's edge.also.
PAGE = """<!DOCTYPE html>
<script type="module">
  import { connect } from "/csws.js";
  const cs = connect();
  window.frames = [];  // [performance.now() in seconds, value]
  window.failovers = [];
  cs.subscribe("kcount", (data) => window.frames.push([performance.now() / 1000, data[0]]));
  cs.addEventListener("failover", (e) => window.failovers.push(e.detail));
  window.cs = cs;
</script>
"""


def json_at(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/csws.json", timeout=patience(2)) as r:
        return json.load(r)


def wait(what: str, condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + patience(timeout)
    while True:
        try:
            if condition():
                return
        except OSError:
            pass  # not listening yet
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Listener:
    """csws.client on a thread of its own: (arrival time, value) of every frame of kcount."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.frames: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    async def _main(self) -> None:
        try:
            async with connect(self.urls, reconnect=True) as cs:

                async def take() -> None:
                    async for value in cs.subscribe("kcount"):
                        self.frames.append((time.monotonic(), value))

                task = asyncio.ensure_future(take())
                while not self._stop.is_set() and not task.done():
                    await asyncio.sleep(0.05)
                if task.done():
                    task.result()  # what ended it
                task.cancel()
        except BaseException as e:  # noqa: BLE001 - the test reports it
            self.error = e

    def since(self, t: float) -> int:
        return sum(1 for at, _ in self.frames if at > t)

    def longest_gap(self, start: float) -> float:
        """The longest time without a frame from `start` (the fault) until the newest frame."""
        times = [start] + [at for at, _ in self.frames if at > start]
        return max(b - a for a, b in zip(times, times[1:]))

    def lost(self, start: float) -> int:
        """Frames that never came after `start` (counts skipped: one Csound, one count)."""
        values = [v for at, v in self.frames if at > start]
        return int(sum(b - a - 1 for a, b in zip(values, values[1:]) if b > a))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(patience(10))
        if self.error is not None:
            raise self.error


class Rig:
    """The cluster, Csound on server 0, edge A on server 1 (of all three), edge B on server 2."""

    def __init__(self, perform, port: int, tmp_path) -> None:
        self.perform, self.port, self.tmp_path = perform, port, tmp_path
        self.site = tmp_path / "site"
        self.site.mkdir()
        (self.site / "page.html").write_text(PAGE)
        self.edge_a, self.edge_b = free_ports(2)
        self.cluster = Cluster(3).__enter__()
        self.edges: dict[str, Performance] = {}
        try:
            self.csound = self.start_csound()
            servers = self.cluster.servers
            self.start_edge("A", self.edge_a, [servers[1].url, servers[2].url, servers[0].url], on=1,
                            also=self.edge_b)
            self.start_edge("B", self.edge_b, [servers[2].url], on=2, also=self.edge_a)
            for edge in (self.edge_a, self.edge_b):
                wait(f"Csound's kcount at the edge on {edge}",
                     lambda e=edge: any(v["name"] == "kcount" for v in json_at(e)["variables"]))
        except BaseException:
            self.close()
            raise
        # Faults come after the first second, which kworst leaves out (start-up).
        time.sleep(max(0.0, self.started + 1.5 - time.monotonic()))

    def start_csound(self) -> Performance:
        self.started = time.monotonic()  # about when its rtclock started: to say when things happened
        p = self.perform(ORC.format(port=self.port), "i1 0 600", options=RT, ksmps=KSMPS,
                         env={"CSWS_NATS": self.cluster.servers[0].url, "CSWS_NATS_NAME": NAME})
        p.wait_for("on NATS at")
        return p

    def start_edge(self, label: str, port: int, urls: list[str], on: int, also: int) -> None:
        """`csws edge` on `port`, until its NATS client picked server `on` of `urls` (nats-py shuffles
        them: each try has a chance of 1 in len(urls))."""
        want = self.cluster.servers[on].port
        for attempt in range(20):
            p = Performance([sys.executable, "-m", "csws", "edge", "--nats", ",".join(urls), "--port",
                             f"{port}:{NAME}", "--id", label, "--also", f"http://127.0.0.1:{also}",
                             "--static", str(self.site)],
                            self.tmp_path / f"edge-{label}-{attempt}.log")
            at = int(p.wait_for(r"connected to NATS at [\d.]+:(\d+)").group(1))
            if at == want:
                self.edges[label] = p
                return
            p.stop()
        raise AssertionError(f"edge {label} never picked nats-server {on} of {urls}")

    def kworst(self) -> tuple[float, float]:
        """Csound's longest k-cycle so far, and when it ended (its own port)."""
        async def read() -> tuple[float, float]:
            async with connect(self.port) as cs:
                async with cs.subscribe("kworst") as worst, cs.subscribe("kwhen") as when:
                    return await anext(worst), await anext(when)
        # A thread of its own: Playwright's sync API keeps a loop running on this one.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, read()).result()

    def close(self) -> None:
        for p in self.edges.values():
            p.stop()
        self.cluster.close()


@pytest.fixture
def rig(perform, port, tmp_path):
    r = Rig(perform, port, tmp_path)
    yield r
    r.close()


def flowing(listeners: list[Listener], after: float, n: int = 50, timeout: float = 20) -> None:
    """Until every listener has n frames that came after `after`."""
    wait(f"{n} frames at every client", lambda: all(li.since(after) >= n for li in listeners), timeout)


def check_cycles(rig: Rig, fault: float | None = None) -> None:
    """Csound's longest k-cycle is short (`fault`: when the test made one, by time.monotonic())."""
    time.sleep(max(0.0, rig.started + 2.5 - time.monotonic()))  # it measures from its first second on
    worst, when = rig.kworst()
    at = f" (the fault at {fault - rig.started:.2f} s)" if fault is not None else ""
    print(f"Csound's longest k-cycle: {worst * 1000:.1f} ms, {when:.2f} s into the performance{at}")
    assert 0 < worst < patience(CYCLE_LIMIT), (worst, when, rig.csound.output[-2000:])


def test_a_nats_server_dies_under_an_edge(rig):
    a, b = f"ws://127.0.0.1:{rig.edge_a}", f"ws://127.0.0.1:{rig.edge_b}"
    listeners = [Listener([a]), Listener([b])]
    try:
        flowing(listeners, 0)
        killed = time.monotonic()
        rig.cluster.kill(1)  # edge A's server
        rig.edges["A"].wait_for("NATS connection lost")
        flowing(listeners, killed)
        gaps = [li.longest_gap(killed) for li in listeners]
        print(f"longest gaps after nats-server 1 died: edge A {gaps[0]:.3f} s, edge B {gaps[1]:.3f} s; "
              f"frames lost: {listeners[0].lost(killed)}, {listeners[1].lost(killed)}")
        assert all(g < patience(GAP_LIMIT) for g in gaps), gaps
        assert json_at(rig.edge_a)["edge"]["csound"] == "running"
    finally:
        for li in listeners:
            li.stop()
    check_cycles(rig, killed)


def test_a_nats_server_stalls_under_an_edge(rig):
    """SIGSTOP: the edge's TCP connection stays up and nothing answers, as behind a dead router;
    only its pings can tell."""
    a, b = f"ws://127.0.0.1:{rig.edge_a}", f"ws://127.0.0.1:{rig.edge_b}"
    listeners = [Listener([a]), Listener([b])]
    try:
        flowing(listeners, 0)
        stalled = time.monotonic()
        rig.cluster.stop(1)  # edge A's server
        try:
            flowing(listeners, stalled, timeout=STALL_LIMIT + GAP_LIMIT)
        except AssertionError:
            raise AssertionError(
                f"frames since nats-server 1 stalled: edge A's client {listeners[0].since(stalled)}, edge B's "
                f"{listeners[1].since(stalled)}: an edge whose NATS client does not ping (nats-py's "
                "default: every 2 minutes) waits that long to notice") from None
        gaps = [li.longest_gap(stalled) for li in listeners]
        print(f"longest gaps after nats-server 1 stalled: edge A {gaps[0]:.3f} s, edge B {gaps[1]:.3f} s")
        assert gaps[0] < patience(STALL_LIMIT) and gaps[1] < patience(GAP_LIMIT), gaps
    finally:
        rig.cluster.cont(1)
        for li in listeners:
            li.stop()
    check_cycles(rig, stalled)


def test_an_edge_dies_its_clients_go_on_at_the_other(rig):
    a, b = f"ws://127.0.0.1:{rig.edge_a}", f"ws://127.0.0.1:{rig.edge_b}"
    # Given [A, B]; given only A (B comes from A's /csws.json, edge.also); at B.
    listeners = [Listener([a, b]), Listener([a]), Listener([b, a])]
    try:
        flowing(listeners, 0)
        killed = time.monotonic()
        rig.edges["A"].proc.kill()
        rig.edges["A"].proc.wait()
        flowing(listeners, killed)
        gaps = [li.longest_gap(killed) for li in listeners]
        print(f"longest gaps after edge A died: its clients {gaps[0]:.3f} s and {gaps[1]:.3f} s, "
              f"edge B's {gaps[2]:.3f} s")
        assert all(g < patience(GAP_LIMIT) for g in gaps), gaps
        # One Csound behind both edges: the count goes on, it does not start again.
        for li in listeners[:2]:
            values = [v for _, v in li.frames]
            assert values[-1] > values[0] and values == sorted(values)
    finally:
        for li in listeners:
            li.stop()
    check_cycles(rig, killed)


@pytest.fixture
def page():
    """A page in headless Chromium (Playwright); skips only the test that wants it."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"],
                                     timeout=patience(30) * 1000)
        context = browser.new_context()
        context.set_default_timeout(patience(30) * 1000)
        pg = context.new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        yield pg
        browser.close()


def test_an_edge_dies_its_page_goes_on_at_the_edge_it_named(rig, page):
    a, b = f"http://127.0.0.1:{rig.edge_a}", f"http://127.0.0.1:{rig.edge_b}"
    page.goto(f"{a}/page.html")
    page.wait_for_function("() => window.frames.length >= 50")
    assert page.evaluate("() => window.cs.bases") == [a, b]  # B from A's /csws.json
    killed, killed_here = page.evaluate("() => performance.now() / 1000"), time.monotonic()  # page's clock, ours
    rig.edges["A"].proc.kill()
    rig.edges["A"].proc.wait()
    page.wait_for_function("(t) => window.frames.filter(([at]) => at > t).length >= 50", arg=killed)
    frames = page.evaluate("() => window.frames")
    times = [killed] + [at for at, _ in frames if at > killed]
    gap = max(y - x for x, y in zip(times, times[1:]))
    print(f"the page's longest gap after edge A died: {gap:.3f} s")
    assert gap < patience(GAP_LIMIT), gap
    assert page.evaluate("() => window.failovers") == [{"from": a, "to": b}]
    values = [v for _, v in frames]
    assert values == sorted(values), "one Csound behind both edges: its count goes on"
    assert page.errors == []
    check_cycles(rig, killed_here)


async def pushes_until(ws, state: str) -> list[str]:
    """The control socket's csound pushes until `state`."""
    seen = []
    while not seen or seen[-1] != state:
        msg = json.loads(await ws.recv())
        if msg.get("op") == "csound":
            seen.append(msg["state"])
    return seen


def restarted(counts: list[float]) -> bool:
    """The count went back: frames of a new run."""
    return any(b < a for a, b in zip(counts, counts[1:]))


def test_csound_dies_and_comes_back_the_edges_say_so(rig):
    async def main() -> None:
        edges = [rig.edge_a, rig.edge_b]
        controls = [await ws_connect(f"ws://127.0.0.1:{e}/", subprotocols=["csws.control"]) for e in edges]
        variables = [await ws_connect(f"ws://127.0.0.1:{e}/", subprotocols=["kcount"]) for e in edges]
        counts: list[list[float]] = [[], []]  # what each variable socket got, to its end

        async def drain(ws, into: list[float]) -> None:
            async for message in ws:  # a socket that closed ends this: the test wants none closed
                into.append(float(np.frombuffer(message, dtype="<f8")[0]))

        drains = [asyncio.ensure_future(drain(ws, c)) for ws, c in zip(variables, counts)]
        async with asyncio.timeout(patience(10)):
            while not all(counts):
                await asyncio.sleep(0.05)
        rig.csound.proc.kill()
        rig.csound.proc.wait()
        killed = time.monotonic()
        # No goodbye from a killed Csound: its silence for GONE_AFTER says it.
        async with asyncio.timeout(patience(GONE_AFTER + 2 * HEARTBEAT)):
            states = await asyncio.gather(*(pushes_until(ws, "gone") for ws in controls))
        print(f"edges told their pages Csound is gone {time.monotonic() - killed:.2f} s after it died")
        assert all(s == ["gone"] for s in states), states
        for e in edges:
            assert json_at(e)["edge"]["csound"] == "gone"
        rig.csound = await asyncio.to_thread(rig.start_csound)
        async with asyncio.timeout(patience(15)):
            states = await asyncio.gather(*(pushes_until(ws, "running") for ws in controls))
        assert all(s == ["running"] for s in states), states
        # The same sockets: frames of the new run, whose count starts again.
        deadline = time.monotonic() + patience(10)
        while not all(restarted(c) for c in counts):
            assert not any(d.done() for d in drains), "a variable socket closed"
            assert time.monotonic() < deadline, ("no frames of the new run: the last ones",
                                                 [c[-5:] for c in counts], rig.edges["A"].output[-1500:])
            await asyncio.sleep(0.05)
        assert not any(d.done() for d in drains), "a variable socket closed"
        for ws in [*controls, *variables]:
            await ws.close()

    asyncio.run(main())
    check_cycles(rig)  # the new Csound's, from its start: its link came up while the edges waited
