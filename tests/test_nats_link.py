"""Csound's side of NATS (csws/serve/nats_link.py) against a real Csound and real
nats-server processes (bench/natscluster.py); the "edge" is a plain nats-py
client here, so that these tests hold whatever csws/serve/edge.py does.

Each test reads what arrives on `csws.NAME.*` and what Csound's own report
and /csws.json say; the fault tests also measure, from the piece's own clock
(rtclock once a k-cycle), the longest k-cycle while NATS misbehaves: Csound
must never wait for it.
"""
from __future__ import annotations

import asyncio
import json
import math
import re
import struct
import sys
import time
import urllib.request

import nats

from conftest import REALTIME, SOURCE, Performance, make_csd, patience
from csws.protocol import nats_subjects as ns
from csws.protocol.combine import Tally, exact_sum
from orchestra import COUNTER, KSMPS, RAMP
from wsclient import connect_var

sys.path.insert(0, str(SOURCE / "bench"))  # the checkout's, also for tools/check_wheel.sh's copy of tests/
from natscluster import Cluster  # noqa: E402

# The longest time between two k-cycles, by Csound's own clock, printed by instr 99 at the end.
GAPS = """
instr 98
  kprev init -1
  kmax init 0
  know rtclock
  if kprev >= 0 then
    kmax = max(kmax, know - kprev)
  endif
  kgap = know - kprev
  klong = (kprev >= 0 && kgap > 0.05) ? 1 : 0
  printf "k-cycle gap %f s at %f s\\n", klong, kgap, know
  kprev = know
  gkmaxgap = kmax
endin
instr 99
  printks "longest k-cycle gap %f s\\n", 1, gkmaxgap
endin
"""
# Seconds: a k-cycle is 0.67 ms, but a 2-core machine running other tests preempts Csound for
# a few hundred; a wait on NATS would be seconds (the outages here last 1.5 and 4 s).
MAX_GAP = 1.0


def run(coro):
    return asyncio.run(coro)


def csws_json(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/csws.json", timeout=patience(5)) as r:
        return json.load(r)


def nats_report(output: str, port: int) -> dict[str, int]:
    """The last `csws: port P csws.nats (nats): published 1, ...` line's counters."""
    lines = re.findall(rf"csws: port {port} csws\.nats \(nats\): ([^\n]*)", output)
    assert lines, f"no NATS report:\n{output[-2000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", lines[-1])}


def var_report(output: str, port: int, name: str) -> dict[str, int]:
    lines = re.findall(rf"csws: port {port} {name} \(to web\): ([^\n]*)", output)
    assert lines, f"no report for {name}:\n{output[-2000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", lines[-1])}


def longest_gap(p) -> float:
    gap = float(p.wait_for(r"longest k-cycle gap ([\d.]+) s", 30).group(1))
    print(f"longest k-cycle gap: {gap * 1000:.1f} ms")
    return gap


class Listener:
    """A plain nats-py client on csws.NAME.>: every message, in arrival order, by subject."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[tuple[str, bytes, float]] = []
        self.nc: nats.NATS | None = None

    async def start(self, url: str) -> Listener:
        async def got(msg) -> None:
            self.messages.append((msg.subject, msg.data, time.monotonic()))

        async def quiet(e: Exception) -> None:  # the server's outages are the tests' own doing
            pass

        self.nc = await nats.connect(url, reconnect_time_wait=0.1, max_reconnect_attempts=-1,
                                     ping_interval=1, max_outstanding_pings=2, error_cb=quiet)
        await self.nc.subscribe(f"{ns.ROOT}.{self.name}.>", cb=got)
        await self.nc.flush()
        return self

    def of(self, kind: str, var: str | None = None) -> list[bytes]:
        subject = ns.subject(self.name, kind, var)
        return [d for s, d, _ in self.messages if s == subject]

    def counts(self, var: str) -> list[int]:
        return [int(struct.unpack_from("<d", d)[0]) for d in self.of(ns.OUT, var)]

    async def wait(self, pred, what: str, timeout: float = 10.0):
        deadline = time.monotonic() + patience(timeout)
        while not (found := pred()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)
        return found

    async def publish(self, kind: str, payload: bytes, var: str | None = None) -> None:
        await self.nc.publish(ns.subject(self.name, kind, var), payload)
        await self.nc.flush()

    async def close(self) -> None:
        await self.nc.close()


def consecutive(values: list[int]) -> bool:
    return values == list(range(values[0], values[0] + len(values)))


# ----------------------------------------------------------------- Csound -> NATS


def test_every_frame_arrives_in_order_with_no_websocket_client(perform, port, monkeypatch, tmp_path):
    """k, a, k[] and S frames on out.VAR, every one, in order, bit-exact; i-rate values with the
    describe; describe and hello carry what an edge needs; the counters add up."""
    orc = f"""{RAMP}
instr 1
{COUNTER}
  aramp ramp kcount
  kArr[] init 3
  kArr[0] = kcount
  kArr[1] = -kcount
  kArr[2] = kcount / 3
  Sc sprintfk "n%d", kcount
  ivalue = 2.5
  kecho websocket {port}, kcount, aramp, kArr, Sc, ivalue
endin"""
    with Cluster(1) as cluster:
        monkeypatch.setenv("CSWS_NATS", cluster.url)
        monkeypatch.setenv("CSWS_NATS_NAME", "linktest")
        monkeypatch.setenv("CSWS_BUFFER_SECONDS", "3")  # the rings ride out a loaded machine's stalls
        page = tmp_path / "page.csd"  # a .csd page: its text goes with describe, for edges to serve
        page.write_text("<CsoundSynthesizer><html>é</html></CsoundSynthesizer>")
        monkeypatch.setenv("CSWS_INDEX_HTML", str(page))

        async def main():
            listener = await Listener("linktest").start(cluster.url)
            p = perform(orc, "i1 0 3")
            describe = json.loads((await listener.wait(lambda: listener.of(ns.DESCRIBE), "a describe"))[-1])
            status = await asyncio.to_thread(csws_json, port)
            answer = await listener.nc.request(ns.subject("linktest", ns.HELLO), b"", timeout=patience(5))
            await asyncio.to_thread(p.wait, 20)
            await listener.wait(lambda: listener.of(ns.BYE), "bye")
            await listener.close()
            return p, listener, describe, status, json.loads(answer.data)

        p, listener, describe, status, hello = run(main())

    assert len(listener.of(ns.DESCRIBE)) >= 2, "no heartbeat"  # 3 s, every HEARTBEAT second
    names = {v["name"] for v in describe["variables"]}
    assert {"kcount", "aramp", "kArr", "Sc", "ivalue", "kecho"} <= names
    assert describe["engine"] == {"nchnls": 1, "0dbfs": 1.0}
    assert describe["port"] == port and describe["ksmps"] == KSMPS and "channels" in describe
    assert isinstance(describe["time"], float) and re.fullmatch(r"[0-9a-f]{32}", describe["run"])
    assert describe["csd"] == page.read_text()
    assert hello["run"] == describe["run"] and hello["variables"] == describe["variables"]
    assert json.loads(listener.of(ns.BYE)[0]) == {"run": describe["run"]}
    assert status["nats"]["connected"] is True and status["nats"]["name"] == "linktest"
    assert status["nats"]["servers"] == [cluster.url]

    counts = listener.counts("kcount")
    assert len(counts) > 3000 and consecutive(counts), "k frames lost or out of order"
    first = counts[0]
    ramps = listener.of(ns.OUT, "aramp")
    assert len(ramps) == len(counts)
    for i, frame in enumerate(ramps):
        expect = struct.pack(f"<{KSMPS}d", *((first + i) * KSMPS + s for s in range(KSMPS)))
        assert frame == expect, f"a-rate frame {i} differs"
    arrays = listener.of(ns.OUT, "kArr")
    assert arrays == [struct.pack("<3d", k, -k, k / 3) for k in range(first, first + len(arrays))]
    strings = listener.of(ns.OUT, "Sc")
    assert strings == [f"n{k}".encode() for k in range(first, first + len(strings))]
    assert struct.pack("<d", 2.5) in listener.of(ns.OUT, "ivalue"), "no i-rate value with the describe"

    rep = nats_report(p.output, port)
    frames_out = sum(len(listener.of(ns.OUT, v)) for v in ("kcount", "aramp", "kArr", "Sc"))
    # Everything nats-py took arrived. The report comes as the last note ends: the frames of the
    # wakes still under way then (a k-cycle or a few, one frame per variable each) go out after it.
    assert 0 <= frames_out - rep["published"] <= 4 * 8, (rep, frames_out)
    # What came before the connection was dropped, counted: a frame of each variable per k-cycle,
    # by the link once it reads the rings, by the rings before (their overflow, the variables' report).
    lost = sum(var_report(p.output, port, v)["dropped"] for v in ("kcount", "aramp", "kArr", "Sc"))
    assert rep["dropped"] + lost == 4 * (first - 1), (rep, lost, first)


# ----------------------------------------------------------------- NATS -> Csound


def test_edges_input_reaches_csound(perform, port, monkeypatch):
    """in.VAR frames (a bad one rejected), set, score, and edges' tallies combined exactly with a
    local websocket client; an edge that stops sending stops counting after GONE_AFTER."""
    orc = f"""websocket_config "combine.kvote", "mean"
chn_k "gain", 1
instr 1
  kin, kvote websocket {port}
  kgain chnget "gain"
  kback = kin
  kmean = kvote
  kecho websocket {port}, kback, kmean, kgain
endin
instr 2
  prints "score line over NATS played %d\\n", p4
endin"""
    name = str(port)  # the default stream name
    local, a, b = 0.4, (0.1, 0.2), (0.3,)

    def tally(values) -> Tally:
        return Tally(len(values), (tuple(exact_sum(values)),), (min(values),), (max(values),))

    with Cluster(1) as cluster:
        monkeypatch.setenv("CSWS_NATS", cluster.url)

        async def main():
            listener = await Listener(name).start(cluster.url)
            p = perform(orc, "i1 0 30")
            await listener.wait(lambda: listener.of(ns.DESCRIBE), "a describe")

            def latest(var):
                frames = listener.of(ns.OUT, var)
                return struct.unpack("<d", frames[-1])[0] if frames else None

            await listener.publish(ns.IN, struct.pack("<d", 42.5), "kin")
            await listener.wait(lambda: latest("kback") == 42.5, "kin's frame in Csound")
            await listener.publish(ns.IN, b"abc", "kin")  # 3 bytes: no float64 frame
            await listener.publish(ns.IN, struct.pack("<d", 1.0), "kback")  # a to-web variable
            await listener.publish(ns.SET, ns.encode_values({"gain": 0.25}))
            await listener.wait(lambda: latest("kgain") == 0.25, "set")
            await listener.wait(lambda: any(ns.decode_values(m).get("gain") == 0.25 for m in listener.of(ns.CHAN)),
                                "the channel's new value on chan")
            await listener.publish(ns.SET, ns.encode_values({"nosuch": 1}))
            await listener.publish(ns.SCORE, b"i2 0 0.01 7")
            await asyncio.to_thread(p.wait_for, "score line over NATS played 7")
            await listener.publish(ns.SCORE, b"e")  # ends the performance: refused

            ws = await connect_var(port, "kvote")
            await ws.send(struct.pack("<d", local))
            for edge, values in (("A", a), ("B", b)):
                t = tally(values)
                await listener.publish(ns.TALLY, ns.encode_json({"edge": edge, "tally": t.to_json()}), "kvote")
            mean = math.fsum((local, *a, *b)) / 4
            await listener.wait(lambda: latest("kmean") == mean, f"the mean of four clients, {mean!r}")
            counted = (await asyncio.to_thread(csws_json, port))["variables"]
            counted = next(v for v in counted if v["name"] == "kvote")["combine"]["counted"]
            # The edges say nothing more: after GONE_AFTER only the local client counts.
            gone = time.monotonic()
            await listener.wait(lambda: latest("kmean") == local, "the edges' tallies to expire", 15)
            waited = time.monotonic() - gone
            status = await asyncio.to_thread(csws_json, port)
            await ws.close()
            p.stop()
            await listener.close()
            return p, counted, waited, status

        p, counted, waited, status = run(main())

    assert counted == 4
    assert ns.GONE_AFTER - 0.5 < waited < ns.GONE_AFTER + patience(3), waited
    assert status["nats"]["received"] == 5, status["nats"]  # in, set, score, two tallies
    assert status["nats"]["rejected"] == 4, status["nats"]  # a short frame, a to-web one, a channel, e
    assert "score line over NATS played 7" in p.output


# ----------------------------------------------------------------- faults


def test_server_killed_restarted_and_stalled(perform, port, monkeypatch):
    """The nats-server killed mid-performance and started again on its port, then stopped
    (SIGSTOP) and resumed: Csound keeps time throughout, frames meanwhile are dropped and
    counted, publishing resumes by itself."""
    orc = f"""instr 1
{COUNTER}
  kecho websocket {port}, kcount
endin
{GAPS}"""
    with Cluster(1) as cluster:
        monkeypatch.setenv("CSWS_NATS", cluster.url)

        async def main():
            listener = await Listener(str(port)).start(cluster.url)
            p = perform(orc, "i1 0 16\ni98 0 16\ni99 15.9 0.1")
            await listener.wait(lambda: len(listener.counts("kcount")) > 1000, "frames")
            before = (await asyncio.to_thread(csws_json, port))["nats"]
            cluster.kill(0)
            down = (await asyncio.to_thread(csws_json, port))["nats"]
            await asyncio.sleep(2.5)
            while_down = (await asyncio.to_thread(csws_json, port))["nats"]
            seen = len(listener.messages)
            cluster.start(0)
            await listener.wait(lambda: len(listener.messages) > seen + 1000, "frames after the restart")
            after = (await asyncio.to_thread(csws_json, port))["nats"]

            cluster.stop(0)
            await asyncio.sleep(4)  # beyond nats-py's stale-connection check
            cluster.cont(0)
            seen = len(listener.messages)
            await listener.wait(lambda: len(listener.messages) > seen + 1000, "frames after SIGCONT", 15)
            gap = await asyncio.to_thread(longest_gap, p)
            await asyncio.to_thread(p.wait, 20)
            await listener.close()
            return p, before, down, while_down, after, gap

        p, before, down, while_down, after, gap = run(main())

    assert gap < patience(MAX_GAP), f"a k-cycle took {gap} s while NATS was down or stalled"
    assert before["connected"] and after["connected"]
    assert not while_down["connected"]
    # 2.5 s at 1500 frames/s, nats-py's reconnect buffer holding about 1 s of them
    assert while_down["dropped"] > down["dropped"] + 1000, (down, while_down)
    assert after["published"] > while_down["published"]
    rep = nats_report(p.output, port)
    assert rep["dropped"] >= while_down["dropped"] and rep["published"] > after["published"]


def test_no_server_at_start(perform, port, monkeypatch):
    """No nats-server at the URL when Csound starts: it performs, warns once, and is on NATS
    as soon as the server appears."""
    orc = f"""instr 1
{COUNTER}
  kecho websocket {port}, kcount
endin
{GAPS}"""
    with Cluster(1) as cluster:
        cluster.kill(0)
        monkeypatch.setenv("CSWS_NATS", cluster.url)

        async def main():
            p = perform(orc, "i1 0 6\ni98 0 6\ni99 5.9 0.1")
            await asyncio.to_thread(p.wait_for, "NATS: cannot reach")
            status = await asyncio.to_thread(csws_json, port)  # the websockets serve meanwhile
            await asyncio.sleep(1)
            cluster.start(0)
            listener = await Listener(str(port)).start(cluster.url)
            await listener.wait(lambda: len(listener.counts("kcount")) > 500, "frames once the server is up")
            gap = await asyncio.to_thread(longest_gap, p)
            await asyncio.to_thread(p.wait, 20)
            await listener.close()
            return p, status, listener, gap

        p, status, listener, gap = run(main())

    assert gap < patience(MAX_GAP)
    assert status["nats"]["connected"] is False and status["nats"]["published"] == 0
    assert status["nats"]["dropped"] > 0
    assert p.output.count("NATS: cannot reach") == 1, p.output[-3000:]
    assert f"csws: port {port}: on NATS at" in p.output
    assert consecutive(listener.counts("kcount"))


def test_bad_stream_name_leaves_websockets_served(perform, port, monkeypatch):
    """A stream name that is no subject token: one line says why, no "nats" in /csws.json, no
    NATS line in the report, and websockets are served as usual."""
    orc = f"""instr 1
{COUNTER}
  kecho websocket {port}, kcount
endin"""
    monkeypatch.setenv("CSWS_NATS", "nats://127.0.0.1:1")
    monkeypatch.setenv("CSWS_NATS_NAME", "a.b")

    async def main():
        p = perform(orc, "i1 0 2")
        ws = await connect_var(port, "kcount")
        await ws.recv()
        status = await asyncio.to_thread(csws_json, port)
        await ws.close()
        await asyncio.to_thread(p.wait, 20)
        return p, status

    p, status = run(main())
    assert "nats" not in status
    assert re.search(rf"csws: port {port}: not on NATS: nats_name = 'a.b'", p.output), p.output[-2000:]
    assert "csws.nats" not in p.output


def _performance(tmp_path, orc: str, score: str, args: list[str], host: str | None = None) -> Performance:
    """`csws run ARGS piece.csd` (host: Python code run instead of csws's own __main__)."""
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(orc, score))
    entry = ["-c", host] if host else ["-m", "csws"]
    return Performance([sys.executable, *entry, "run", *args, str(csd), *REALTIME], tmp_path / "csound.log")


def test_csws_run_flags(csound, port, tmp_path):
    """csws run --nats URL --nats-name NAME: the piece's port on NATS under that name."""
    orc = f"""instr 1
{COUNTER}
  kecho websocket {port}, kcount
endin"""
    with Cluster(1) as cluster:
        async def main():
            listener = await Listener("flagged").start(cluster.url)
            p = _performance(tmp_path, orc, "i1 0 2", ["--nats", cluster.url, "--nats-name", "flagged"])
            try:
                await listener.wait(lambda: len(listener.counts("kcount")) > 100, "frames on csws.flagged.out")
                await asyncio.to_thread(p.wait, 20)
            finally:
                p.stop()
            await listener.close()
            return p

        p = run(main())
    assert nats_report(p.output, port)["published"] > 100


def test_without_nats_py(csound, port, tmp_path):
    """nats-py not installed: one line naming the extra to install; websockets are served as usual."""
    orc = f"""instr 1
{COUNTER}
  kecho websocket {port}, kcount
endin"""
    # A Python where `import nats` fails, as without the extra installed.
    host = "import sys; sys.modules['nats'] = None; from csws.cli.main import main; sys.exit(main())"
    p = _performance(tmp_path, orc, "i1 0 2", ["--nats", "nats://127.0.0.1:4222"], host=host)

    async def main():
        ws = await connect_var(port, "kcount")
        got = [await ws.recv() for _ in range(10)]
        await ws.close()
        return got

    try:
        got = run(main())
        p.wait(20)
    finally:
        p.stop()
    assert len(got) == 10
    assert p.output.count("pip install 'csound-websocket[nats]'") == 1, p.output[-2000:]
    assert "csws.nats" not in p.output


def test_two_ports_one_stream_name(perform, port, port2, monkeypatch):
    """nats_name given to a piece with two ports: the second one's stream is NAME-PORT, said once."""
    orc = f"""instr 1
{COUNTER}
  kecho websocket {port}, kcount
  kecho2 websocket {port2}, kcount
endin"""
    with Cluster(1) as cluster:
        monkeypatch.setenv("CSWS_NATS", cluster.url)
        monkeypatch.setenv("CSWS_NATS_NAME", "shared")

        async def main():
            first = await Listener("shared").start(cluster.url)
            second = await Listener(f"shared-{port2}").start(cluster.url)
            p = perform(orc, "i1 0 2")
            await first.wait(lambda: len(first.counts("kcount")) > 100, "frames of the first port")
            await second.wait(lambda: len(second.counts("kcount")) > 100, "frames of the second port")
            await asyncio.to_thread(p.wait, 20)
            await first.close()
            await second.close()
            return p, first, second

        p, first, second = run(main())
    assert {json.loads(first.of(ns.DESCRIBE)[0])["port"], json.loads(second.of(ns.DESCRIBE)[0])["port"]} \
        == {port, port2}
    assert p.output.count("NATS stream name 'shared' is taken") == 1
