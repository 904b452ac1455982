"""Clients given several addresses fail over: csws.client and csws.js (headless Chromium).

Two `csws run` of one piece on two ports stand for two edges of one Csound.  A Python
subscriber and a page subscribe to a k variable and watch a channel on the first; the first is
killed (SIGKILL: no close, as a crash or a pulled cable), and both must carry on from the second
within a bounded time; what they send then reaches the second.  Each value says which Csound made it (its port times a million, plus a
count), so the gap is measured from the last value of the first to the first of the second.
Skipped (the page's part) only when Chromium or Playwright is missing.
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from conftest import patience
from csws.client import connect
from test_browser import browser, patience_ms, sync_api  # noqa: F401 - the fixture; skips without Chromium

PRINTK2 = r"(?:i1|instr 1:)(?:\s|\x1b\[m)+"  # printk2's line (Csound 6, Csound 7), colour codes and all
TAG = 1_000_000  # value // TAG: the port of the Csound that made it
GAP_LIMIT = 3.0  # seconds a client may go without data while it fails over (back-off 0.25 s, then a connect)

ORC = """
chn_k "tick", 2

instr 1
  kcount init 0
  kcount += 1
  kval = {port} * {tag} + kcount
  ktick init 0
  ktick += metro(20)
  chnset {port} * {tag} + ktick, "tick"
  kd websocket {port}, kval
  printk2 kd
endin
"""

PAGE = """<!DOCTYPE html>
<script type="module">
  import { connect } from "/csws.js";
  const cs = connect(JSON.parse(new URLSearchParams(location.search).get("urls")));
  window.frames = [];  // [performance.now() in seconds, value]
  window.ticks = [];
  window.failovers = [];
  cs.subscribe("kval", (data) => window.frames.push([performance.now() / 1000, data[0]]));
  cs.control().watch("tick", (v) => window.ticks.push([performance.now() / 1000, v.tick]));
  cs.addEventListener("failover", (e) => window.failovers.push(e.detail));
  window.cs = cs;
</script>
"""


def start(perform, port: int, tmp_path):
    """The piece on `port`, serving PAGE at /page.html."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "page.html").write_text(PAGE)
    p = perform(ORC.format(port=port, tag=TAG), "i1 0 120", env={"CSWS_STATIC_DIR": str(site)})
    p.wait_for("websocket server on")
    return p


class Listener:
    """csws.client on a thread of its own: (time, value) of every frame of kval and tick."""

    def __init__(self, urls: list[str], reconnect: bool = True) -> None:
        self.urls = urls
        self.reconnect = reconnect
        self.frames: list[tuple[float, float]] = []
        self.ticks: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self.outbox: list[float] = []  # values to send to kd
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # noqa: BLE001 - the test reports it
            self.error = e

    async def _main(self) -> None:
        async with connect(self.urls, reconnect=self.reconnect) as cs:

            async def frames() -> None:
                async for v in cs.subscribe("kval"):
                    self.frames.append((time.monotonic(), v))

            async def ticks() -> None:
                async for values in cs.watch("tick"):
                    self.ticks.append((time.monotonic(), values["tick"]))

            tasks = [asyncio.ensure_future(frames()), asyncio.ensure_future(ticks())]
            while not self._stop.is_set():
                for t in tasks:
                    if t.done():
                        t.result()  # raises what ended it
                while self.outbox:
                    await cs.send("kd", self.outbox.pop(0))
                await asyncio.sleep(0.05)
            for t in tasks:
                t.cancel()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(patience(10))
        if self.error is not None:
            raise self.error


def source(value: float) -> int:
    return int(value // TAG)


def gap(arrivals: list[tuple[float, float]], dead: int, alive: int) -> float:
    """Seconds from the last value from port `dead` to the first from port `alive`; after that,
    only `alive`'s."""
    sources = [source(v) for _, v in arrivals]
    assert dead in sources and alive in sources, sorted(set(sources))
    first = sources.index(alive)
    assert set(sources[:first]) == {dead} and set(sources[first:]) == {alive}, "one server, then the other"
    return arrivals[first][0] - arrivals[first - 1][0]


def wait(what: str, condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + patience(timeout)
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def page_data(page) -> tuple[list, list]:
    return [tuple(x) for x in page.evaluate("() => window.frames")], \
        [tuple(x) for x in page.evaluate("() => window.ticks")]


def from_port(arrivals, port: int) -> int:
    return sum(source(v) == port for _, v in arrivals)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(patience_ms(30))
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def test_kill_the_first_both_clients_carry_on_from_the_second(perform, port, port2, tmp_path, page):
    a, b = start(perform, port, tmp_path), start(perform, port2, tmp_path)
    urls = [f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{port2}"]
    listener = Listener(urls)
    page.goto(f"http://127.0.0.1:{port}/page.html?urls=" + f'["http://127.0.0.1:{port}","127.0.0.1:{port2}"]')
    try:
        def flowing(p: int, n: int = 20) -> bool:
            frames, ticks = page_data(page)
            return all(from_port(x, p) >= n for x in (listener.frames, listener.ticks, frames, ticks))

        wait("frames and ticks from the first Csound", lambda: flowing(port))
        # Their senders open on the first Csound...
        page.evaluate("() => window.cs.send('kd', 1)")
        a.wait_for(PRINTK2 + r"1\.00000")
        listener.outbox.append(2)  # after the page's value: in one k-cycle, the newer would hide the other
        a.wait_for(PRINTK2 + r"2\.00000")
        a.proc.kill()  # no close handshake: the sockets just drop
        a.proc.wait()
        wait("frames and ticks from the second Csound", lambda: flowing(port2, 5))
        # ... and go on at the second.
        page.evaluate("() => window.cs.send('kd', 3)")
        b.wait_for(PRINTK2 + r"3\.00000")
        listener.outbox.append(4)
        b.wait_for(PRINTK2 + r"4\.00000")
        frames, ticks = page_data(page)
        gaps = {"python kval": gap(listener.frames, port, port2), "python tick": gap(listener.ticks, port, port2),
                "page kval": gap(frames, port, port2), "page tick": gap(ticks, port, port2)}
        print("failover gaps (s):", {k: round(v, 3) for k, v in gaps.items()})
        assert all(g < patience(GAP_LIMIT) for g in gaps.values()), gaps
        assert page.evaluate("() => window.failovers") == [
            {"from": f"http://127.0.0.1:{port}", "to": f"http://127.0.0.1:{port2}"}]
        assert page.errors == []
    finally:
        listener.stop()


def test_a_dead_first_address_is_passed_over(perform, port, port2, tmp_path, page):
    start(perform, port2, tmp_path)  # nothing listens on `port`
    urls = [f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{port2}"]
    listener = Listener(urls, reconnect=False)  # connect() itself passes over what does not answer
    page.goto(f"http://127.0.0.1:{port2}/page.html?urls=" + f'["127.0.0.1:{port}","127.0.0.1:{port2}"]')
    try:
        def flowing() -> bool:
            frames, ticks = page_data(page)
            return all(from_port(x, port2) >= 10 for x in (listener.frames, listener.ticks, frames, ticks))

        wait("frames and ticks from the second address", flowing)
        frames, ticks = page_data(page)
        assert all(source(v) == port2 for _, v in [*listener.frames, *listener.ticks, *frames, *ticks])
        assert page.errors == []
    finally:
        listener.stop()
