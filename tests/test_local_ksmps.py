"""a-rate variables in instruments and UDOs with a ksmps of their own (setksmps).

The orchestra runs at ksmps 64; an instrument with `setksmps 16` runs its
k-cycle four times per engine k-cycle, and a-rate frames of its variables
hold 16 samples per element, on the wire, from the web and in /csws.json.
Csound computes each sample from a local k-cycle counter and the sample
index, so frames are checked bit-exact and consecutive.
"""
from __future__ import annotations

import asyncio
import json
import urllib.request

import numpy as np

from orchestra import COUNTER, FILL_AUDIO
from conftest import patience
from wsclient import connect_var, f64, frames, offering, take

GLOBAL_KSMPS = 64
CYCLES = 120


def run(coro):
    return asyncio.run(coro)


def offer(port: int, *names: str) -> dict[str, dict]:
    """/csws.json's variables by name (once the port offers `names`)."""
    async def wait():
        await (await offering(port, *names)).close()
    run(wait())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/csws.json", timeout=patience(5)) as r:
        info = json.load(r)
    assert info["ksmps"] == GLOBAL_KSMPS, "the top-level ksmps is the orchestra's"
    return {v["name"]: v for v in info["variables"]}


def to_web_orc(port: int, local: int) -> str:
    return FILL_AUDIO + f"""instr 1
  setksmps {local}
{COUNTER}
  asig fill kcount, 0
  aArr[] init 3
  aArr[0] fill kcount, 0
  aArr[1] fill kcount, 100
  aArr[2] fill kcount, 200
  kd websocket {port}, asig, aArr
endin"""


def test_setksmps_frames_to_web(perform, port):
    """`a` and `a[]` of an instrument with setksmps 16: frames of 16 samples an element."""
    local = 16
    perform(to_web_orc(port, local), "i1 0 60", ksmps=GLOBAL_KSMPS)
    offered = offer(port, "asig", "aArr")
    assert offered["asig"]["frame_samples"] == local and offered["asig"]["values"] == local
    assert offered["aArr"]["frame_samples"] == local and offered["aArr"]["values"] == 3 * local

    async def main():
        a, arr = await connect_var(port, "asig"), await connect_var(port, "aArr")
        return await frames(a, CYCLES), await frames(arr, CYCLES)

    got_a, got_arr = run(main())
    first = int(f64(got_a[0])[0] // 1000)
    for i, m in enumerate(got_a):  # consecutive local k-cycles, no padding
        np.testing.assert_array_equal(f64(m), (first + i) * 1000 + np.arange(local))
    first = int(f64(got_arr[0])[0] // 1000)
    for i, m in enumerate(got_arr):  # ksmps x 3, interleaved
        planar = (first + i) * 1000 + np.arange(3)[:, None] * 100 + np.arange(local)[None, :]
        np.testing.assert_array_equal(f64(m), planar.T.ravel())


def test_setksmps_frames_through_the_client(perform, port):
    """csws.client reads the shape from /csws.json: a[3] frames come as (3, 16)."""
    perform(to_web_orc(port, 16), "i1 0 60", ksmps=GLOBAL_KSMPS)

    async def main():
        async with await offering(port, "aArr") as cs:
            async with cs.subscribe("aArr", frames=2) as sub:
                return await take(sub, 20)

    got = run(main())
    first = int(got[0][0, 0] // 1000)
    for i, block in enumerate(got):
        assert block.shape == (3, 32)
        counts = first + 2 * i + np.repeat([0, 1], 16)
        np.testing.assert_array_equal(block, counts[None, :] * 1000 + np.arange(3)[:, None] * 100
                                      + np.tile(np.arange(16), 2)[None, :])


def test_setksmps_blocks_from_web_play_once_in_order(perform, port):
    """16-sample blocks a client sends to an instrument with setksmps 16 are each played once, in order."""
    local = 16
    orc = f"""instr 1
  setksmps {local}
  ain websocket {port}
  aback = ain
  kd websocket {port}, aback
endin"""
    p = perform(orc, "i1 0 60", ksmps=GLOBAL_KSMPS)
    blocks = [(i + 1) * 1000 + np.arange(local, dtype=np.float64) for i in range(CYCLES)]

    async def main():
        tx, rx = await connect_var(port, "ain"), await connect_var(port, "aback")
        for b in blocks:
            await tx.send(b.tobytes())
            await asyncio.sleep(local / 48000)
        seen = []
        async with asyncio.timeout(patience(20)):
            while len(seen) < CYCLES:
                m = f64(await rx.recv())
                assert m.shape == (local,)
                if m.any():
                    seen.append(m)
        return seen

    seen = run(main())
    assert [int(s[0]) // 1000 for s in seen] == list(range(1, CYCLES + 1)), "blocks lost, repeated or reordered"
    for s, b in zip(seen, blocks):
        np.testing.assert_array_equal(s, b)
    p.stop()  # csws run stops cleanly and reports
    assert f"csws: port {port} ain (from web): received {CYCLES}, rejected 0, dropped 0" in p.output


def test_udo_with_setksmps_1_sends_one_sample_frames(perform, port):
    """A UDO working sample by sample (setksmps 1): a frame is one sample."""
    orc = f"""gkbase init 0
opcode Tap, 0, a
  setksmps 1
  asig xin
  kd websocket {port}, asig
endop
instr 1
  acount init 0
  kS = 0
  while kS < ksmps do
    vaset kS, kS, acount
    kS += 1
  od
  acount = acount + gkbase
  gkbase += ksmps
  Tap acount
endin"""
    perform(orc, "i1 0 60", ksmps=GLOBAL_KSMPS)
    assert offer(port, "asig")["asig"]["frame_samples"] == 1

    async def main():
        return await frames(await connect_var(port, "asig"), 3 * GLOBAL_KSMPS)

    values = [f64(m) for m in run(main())]
    assert all(v.shape == (1,) for v in values)
    counts = [int(v[0]) for v in values]
    assert counts == list(range(counts[0], counts[0] + len(counts))), "samples missing or out of order"


def test_two_instruments_with_different_ksmps_on_one_port(perform, port):
    orc = FILL_AUDIO + f"""instr 1
  setksmps 16
{COUNTER}
  a16 fill kcount, 0
  kd16 websocket {port}, a16
endin
instr 2
  setksmps 32
{COUNTER}
  a32 fill kcount, 0
  kd32 websocket {port}, a32
endin"""
    perform(orc, "i1 0 60\ni2 0 60", ksmps=GLOBAL_KSMPS)
    offered = offer(port, "a16", "a32")
    assert (offered["a16"]["frame_samples"], offered["a32"]["frame_samples"]) == (16, 32)

    async def main():
        a, b = await connect_var(port, "a16"), await connect_var(port, "a32")
        return await frames(a, CYCLES), await frames(b, CYCLES)

    for got, local in zip(run(main()), (16, 32)):
        first = int(f64(got[0])[0] // 1000)
        for i, m in enumerate(got):
            np.testing.assert_array_equal(f64(m), (first + i) * 1000 + np.arange(local))
