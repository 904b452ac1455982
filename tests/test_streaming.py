"""Streaming semantics against a real Csound: fan-out, late join, latest-wins,
the audio FIFO's underrun/overrun counts, per-client options and counters.

Nothing here is timed: each test checks what arrived and what Csound's
end-of-performance report (and csws.stats()) says about it.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from conftest import make_csd, patience
from orchestra import COUNTER, KSMPS, RAMP
from wsclient import connect_var, f64, frames, recv_until


def run(coro):
    return asyncio.run(coro)


def report(output: str, port: int, name: str) -> dict[str, int]:
    """The counters of the last `csws: port P NAME (...): a 1, b 2` line (the totals)."""
    lines = re.findall(rf"csws: port {port} {re.escape(name)} \((?:to|from) web\): ([^\n]*)", output)
    assert lines, f"no report for {name}:\n{output[-2000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", lines[-1])}


def consecutive(values) -> bool:
    values = list(values)
    return values == list(range(values[0], values[0] + len(values)))


async def drain(ws) -> list:
    """Every message until the server closes the connection (the instrument ended)."""
    out = []
    try:
        async with asyncio.timeout(patience(30)):
            while True:
                out.append(await ws.recv())
    except ConnectionClosed:
        pass
    return out


HOST_PRELUDE = """
import asyncio, json, struct, sys, threading
import csws
from csws.hosting.library import create
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
open("piece.csd", "w").write({csd!r})
cs = create()
assert cs.compile(["--opcode-lib=" + csws.plugin_path(), "piece.csd"]) == 0
t = threading.Thread(target=cs.perform)
t.start()
"""


def in_python_host(csd: str, client: str, result: str) -> tuple[str, str]:
    """Perform `csd` in a fresh Python program hosting Csound (csws.hosting.library) while
    `client`, which defines `async def main()`, runs beside it; once both are done,
    the program prints the expression `result` (`value` is what main returned).
    Returns (what `result` printed, the program's whole output)."""
    script = (HOST_PRELUDE.format(csd=csd) + textwrap.dedent(client)
              + f"value = asyncio.run(main())\nt.join()\nprint('RESULT', {result}, flush=True)\ncs.destroy()\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=patience(60),
                         cwd=str(__import__("tempfile").mkdtemp()))
    text = out.stdout + out.stderr
    m = re.search(r"RESULT (.*)", text)
    assert m, text[-3000:]
    return m.group(1), text


# ------------------------------------------------------------------ fan-out


def test_every_client_gets_every_frame(perform, port):
    """Three clients on one k-rate variable: each sees the same unbroken run."""
    perform(f"instr 1\n{COUNTER}  kecho websocket {port}, kcount\nendin", "i1 0 20")

    async def main():
        conns = [await connect_var(port, "kcount") for _ in range(3)]
        return await asyncio.gather(*(frames(ws, 600) for ws in conns))

    runs = [[int(f64(m)[0]) for m in got] for got in run(main())]
    for r in runs:
        assert consecutive(r), "a client missed frames (or got them shared out)"
    common = set(runs[0]) & set(runs[1]) & set(runs[2])
    assert len(common) >= 500, "the clients did not receive the same frames"


def test_a_slow_client_loses_only_its_own_frames(perform, port, tmp_path):
    """A client that stops reading is dropped frames; the other misses none."""
    orc = f"""instr 1
{COUNTER}
  aArr[] init 8
  kI = 0
  while kI < 8 do
    aArr[kI] = a(kcount)
    kI += 1
  od
  kecho websocket {port}, aArr
endin"""
    p = perform(orc, "i1 0 4")  # the default 0.25 s ring: the fast client must not lose frames to a busy machine

    async def main():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
        slow = None
        fast = await connect_var(port, "aArr")
        async with asyncio.timeout(patience(5)):
            while True:
                try:
                    sock.connect(("127.0.0.1", port))
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        from websockets.asyncio.client import connect

        slow = await connect(f"ws://127.0.0.1:{port}/", sock=sock, subprotocols=["aArr"],
                             compression=None, max_queue=1)
        got = await drain(fast)  # `slow` never reads
        return got, slow

    got, _slow = run(main())
    counts = [int(f64(m)[0]) for m in got]
    assert len(counts) > 2000 and consecutive(counts), "the fast client lost frames"
    p.wait()
    rep = report(p.output, port, "aArr")
    assert rep["dropped"] > 0, p.output[-2000:]
    assert rep["sent"] >= len(got)


# ----------------------------------------------------------------- late join


def test_late_join_gets_fresh_data_only(perform, port):
    """Joining late: the latest k value at once, then the live stream - no backlog."""
    orc = f"""instr 1
{COUNTER}
  if kcount == 1500 then
    printks "reached 1500\\n", 0
  endif
  kecho websocket {port}, kcount
endin"""
    p = perform(orc, "i1 0 20")

    async def main():
        first = await connect_var(port, "kcount")
        reading = asyncio.ensure_future(drain(first))  # a live reader throughout
        await asyncio.to_thread(p.wait_for, "reached 1500")
        second = await connect_var(port, "kcount")  # a late joiner beside a live one
        got = [int(f64(m)[0]) for m in await frames(second, 100)]
        await first.close()
        await second.close()
        await reading
        await asyncio.sleep(0.5)
        third = await connect_var(port, "kcount")  # a late joiner when nobody reads
        got3 = [int(f64(m)[0]) for m in await frames(third, 100)]
        return got, got3

    got, got3 = run(main())
    for g in (got, got3):
        assert g[0] >= 1500, f"stale data first: {g[:5]}"
        assert consecutive(g)
    assert got3[0] > got[-1] + 100, "the third client got data buffered while nobody listened"


def test_late_join_i_rate_and_string(perform, port):
    orc = f"""instr 1
  ival = 2.5
  Sname = "late"
  kecho websocket {port}, ival, Sname
endin"""
    perform(orc, "i1 0 20")

    async def main():
        await asyncio.sleep(1.0)
        wi = await connect_var(port, "ival")
        ws = await connect_var(port, "Sname")
        return (await frames(wi, 1))[0], (await frames(ws, 1))[0]

    ival, sname = run(main())
    assert f64(ival)[0] == 2.5
    assert sname == "late"


# ----------------------------------------------------------- from the web


def test_control_from_web_is_latest_wins(perform, port):
    """A burst of k values is not replayed one per k-cycle: the newest wins."""
    orc = f"instr 1\n  kin websocket {port}\n  kback = kin\n  kecho websocket {port}, kback\nendin"
    perform(orc, "i1 0 20")
    n = 400

    async def main():
        tx = await connect_var(port, "kin")
        rx = await connect_var(port, "kback")
        await frames(rx, 5)
        for i in range(1, n + 1):
            await tx.send(np.array([float(i)]).tobytes())
        seen = []
        async with asyncio.timeout(patience(10)):
            while not seen or seen[-1] != n:
                seen.append(f64(await rx.recv())[0])
        return [v for v in seen if v]

    seen = run(main())
    assert seen[-1] == n
    # A FIFO would show all 400 values, one per k-cycle; latest-wins skips.
    assert len(set(seen)) < n / 2, f"{len(set(seen))} distinct values: replayed like a FIFO?"


AUDIO_ECHO = RAMP + """
gkplayed init 0
gkdry init 0
instr 1
  ain websocket {port}
  aback = ain
  kecho websocket {port}, aback
  kmax = 0
  kS = 0
  while kS < ksmps do
    kmax = max(kmax, abs(vaget(kS, ain)))
    kS += 1
  od
  if kmax > 0 then
    gkplayed += 1
  elseif gkplayed > 0 then
    gkdry += 1  ; silence after the stream began: an underrun
  endif
endin
instr 2
  prints "counted: played %d dry %d\\n", i(gkplayed), i(gkdry)
endin
"""


def _burst(nblocks: int) -> list[bytes]:
    s = np.arange(KSMPS, dtype=np.float64)
    return [((i + 1) * 1000 + s + 1).tobytes() for i in range(nblocks)]


def test_audio_from_web_underruns_counted(perform, port):
    p = perform(AUDIO_ECHO.format(port=port), "i1 0 3\ni2 3.05 0.01")

    async def main():
        tx = await connect_var(port, "ain")
        for b in _burst(10):
            await tx.send(b)
        await asyncio.sleep(0.5)
        await tx.close()

    run(main())
    p.wait()
    m = re.search(r"counted: played (\d+) dry (\d+)", p.output)
    assert m, p.output[-2000:]
    played, dry = int(m.group(1)), int(m.group(2))
    rep = report(p.output, port, "ain")
    assert played == 10 and rep["received"] == 10 and rep["dropped"] == 0
    assert rep["underruns"] == dry > 0


def test_audio_from_web_overrun_drops_oldest(perform, port):
    """More blocks at once than the FIFO holds: the oldest go, counted."""
    p = perform(AUDIO_ECHO.format(port=port), "i1 0 3\ni2 3.05 0.01",
                env={"CSWS_BUFFER_SECONDS": "0.005"})  # a ring of a few blocks
    nblocks = 300
    blocks = _burst(nblocks)

    async def main():
        tx = await connect_var(port, "ain")
        rx = await connect_var(port, "aback")
        for b in blocks:
            await tx.send(b)
        played = []
        async with asyncio.timeout(patience(10)):
            while not played or played[-1] != blocks[-1]:
                m = await rx.recv()
                if f64(m).any():
                    played.append(m)
        return played

    played = run(main())
    order = [blocks.index(m) for m in played]
    assert order == sorted(order), "blocks out of order"
    assert order[-1] == nblocks - 1, "the newest block was lost"
    p.wait()
    rep = report(p.output, port, "ain")
    m = re.search(r"counted: played (\d+) dry (\d+)", p.output)
    # Every block Csound played comes back, unless the echo's own ring (as tiny as the FIFO here)
    # overflowed while the I/O thread was busy taking the burst in: such losses are counted.
    lost_echoes = report(p.output, port, "aback")["dropped"]
    played_by_csound = int(m.group(1))
    assert len(played) <= played_by_csound <= len(played) + lost_echoes
    assert rep["received"] == nblocks
    assert rep["dropped"] == nblocks - played_by_csound > 0  # each block received was played or dropped


# ------------------------------------------------------- per-client options


def test_float32_both_ways(perform, port):
    orc = RAMP + f"""instr 1
{COUNTER}
  kin websocket {port}
  asig ramp kcount
  ival = 1/3
  kback = kin
  kecho websocket {port}, kback, asig, ival
endin"""
    perform(orc, "i1 0 20")

    async def main():
        q = "dtype=float32"
        tx = await connect_var(port, "kin")
        rx = await connect_var(port, "kback", query=q)
        ra = await connect_var(port, "asig", query=q)
        ri = await connect_var(port, "ival", query=q)
        ival = (await frames(ri, 1))[0]
        audio = await frames(ra, 50)
        await tx.send(np.array([0.1], dtype=np.float32).tobytes())  # float32 in: by its size
        kback = await recv_until(rx, lambda m: np.frombuffer(m, np.float32)[0] != 0)
        return ival, audio, kback

    ival, audio, kback = run(main())
    assert len(ival) == 4 and np.frombuffer(ival, np.float32)[0] == np.float32(1 / 3)
    assert all(len(m) == KSMPS * 4 for m in audio)
    samples = np.concatenate([np.frombuffer(m, np.float32) for m in audio])
    start = samples[0]
    np.testing.assert_array_equal(samples, start + np.arange(len(samples), dtype=np.float32))
    assert len(kback) == 4 and np.frombuffer(kback, np.float32)[0] == np.float32(0.1)


def test_frames_per_message(perform, port):
    """frames=M: M consecutive k-cycles a message, per client, alongside a plain client."""
    orc = RAMP + f"""instr 1
{COUNTER}
  aArr[] init 2
  aArr[0] ramp kcount
  aArr[1] ramp -kcount
  asig ramp kcount
  kecho websocket {port}, asig, aArr
endin"""
    perform(orc, "i1 0 20")

    async def main():
        plain = await connect_var(port, "asig")
        four = await connect_var(port, "asig", query="frames=4")
        f32 = await connect_var(port, "aArr", query="frames=3&dtype=float32")
        bad = await connect_var(port, "asig", query="frames=0")
        a, b, c = await asyncio.gather(frames(plain, 40), frames(four, 10), frames(f32, 10))
        with pytest.raises(ConnectionClosed) as closed:
            await bad.recv()
        return a, b, c, closed.value

    plain, four, arr, closed = run(main())
    assert all(len(m) == KSMPS * 8 for m in plain)
    assert all(len(m) == 4 * KSMPS * 8 for m in four)
    s4 = np.concatenate([f64(m) for m in four])
    np.testing.assert_array_equal(s4, s4[0] + np.arange(len(s4)))
    assert all(len(m) == 3 * KSMPS * 2 * 4 for m in arr)
    inter = np.concatenate([np.frombuffer(m, np.float32) for m in arr]).reshape(-1, 2)  # interleaved
    np.testing.assert_array_equal(inter[:, 0], inter[0, 0] + np.arange(len(inter)))
    np.testing.assert_array_equal(inter[:, 1], -inter[:, 0] + 2 * (inter[:, 0] % KSMPS))
    assert closed.rcvd is not None and closed.rcvd.code == 1008 and "frames" in closed.rcvd.reason


# ------------------------------------------------------------------ counters


def test_counters_match_what_clients_got(perform, port):
    """sent in the report and in csws.stats() equal what the client received."""
    orc = f"instr 1\n{COUNTER}  kecho websocket {port}, kcount\nendin"
    csd = make_csd(orc, "i1 0 2\ne 2.5", options="-odac -+rtaudio=null -b32 -B64 -d")
    result, text = in_python_host(csd, f"""
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from wsclient import connect_var
        async def main():
            ws = await connect_var({port}, "kcount")
            n = 0
            try:
                while True:
                    await ws.recv()
                    n += 1
            except ConnectionClosed:
                return n
    """, 'json.dumps({"received": value, "stats": {f"{p} {k}": v for (p, k), v in csws.stats().items()}})')
    res = json.loads(result)
    got = res["stats"][f"{port} kcount"]
    assert res["received"] > 1000
    assert got["sent"] == res["received"] and got["dropped"] == 0
    rep = report(text, port, "kcount")
    assert rep == {"sent": res["received"], "dropped": 0, "rejected": 0}


# ------------------------------------------------------------------ no stalls


def test_float32_and_json_clients_never_stall_the_others(perform, port):
    """Converting for a float32 or JSON client loads nothing new on the I/O loop (an
    import there, numpy's say, would stall every stream on it for a tenth of a second),
    and a client already streaming misses no frame when such clients join."""
    orc = f"instr 1\n{COUNTER}  kecho websocket {port}, kcount\nendin"
    csd = make_csd(orc, "i1 0 3\ne 3.5", options="-odac -+rtaudio=null -b32 -B64 -d")
    result, _ = in_python_host(csd, f"""
        async def main():
            loop = asyncio.get_running_loop()
            give_up = loop.time() + {patience(4)}
            while True:  # until the port listens
                try:
                    steady = await connect("ws://127.0.0.1:{port}/", subprotocols=["kcount"], compression=None)
                    break
                except OSError:
                    if loop.time() > give_up:
                        raise
                    await asyncio.sleep(0.02)
            got = [struct.unpack("d", await steady.recv())[0] for _ in range(100)]
            narrow = await connect("ws://127.0.0.1:{port}/?dtype=float32", subprotocols=["kcount"],
                                   compression=None)
            await narrow.recv()
            sender = await connect("ws://127.0.0.1:{port}/", subprotocols=["kecho"], compression=None)
            await sender.send("[2.5]")
            await sender.send(struct.pack("f", 1.5))
            got += [struct.unpack("d", await steady.recv())[0] for _ in range(600)]
            return got
    """, '"numpy" in sys.modules, sorted({b - a for a, b in zip(value, value[1:])})')
    assert result == "False [1.0]", result  # numpy never loaded; every frame, in order
