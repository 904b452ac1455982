"""Every argument type, both directions, in a real Csound over real websockets.

To the web: Csound computes values from a k-cycle counter, so the client can
check each frame bit-exact and that consecutive frames are consecutive
cycles.  From the web: Csound sends what it received back on a second
variable, so the client sees that every value arrived.

The client is csws.client, which hands a[] frames over planar (element,
sample): a server that did not interleave on the wire fails these tests as
surely as one that sent wrong values.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from orchestra import COUNTER, FILL_AUDIO, KARRAY_2X3, KSMPS
from conftest import patience
from wsclient import offering, take, until

CYCLES = 120  # consecutive k-cycles checked per type


def run(coro):
    return asyncio.run(coro)


async def frames_of(port: int, name: str, n: int = CYCLES) -> list:
    """The next n frames of one variable, through csws.client."""
    async with await offering(port, name) as cs:
        async with cs.subscribe(name) as sub:
            return await take(sub, n)


# ---------------------------------------------------------------- to the web


def test_k_to_web(perform, port):
    p = perform(f"instr 1\n{COUNTER}\n  kval = kcount / 7\n  kecho websocket {port}, kval\nendin", "i1 0 60")
    got = run(frames_of(port, "kval"))
    assert all(type(g) is float for g in got)
    counts = [round(g * 7) for g in got]
    assert counts == list(range(counts[0], counts[0] + CYCLES)), "frames missing or out of order"
    assert all(g == c / 7 for g, c in zip(got, counts)), "not bit-exact"
    p.stop()


def test_a_to_web(perform, port):
    orc = FILL_AUDIO + f"instr 1\n{COUNTER}\n  asig fill kcount, 0\n  kecho websocket {port}, asig\nendin"
    perform(orc, "i1 0 60")
    got = run(frames_of(port, "asig"))
    first = int(got[0][0] // 1000)
    for i, g in enumerate(got):
        assert g.shape == (KSMPS,)
        np.testing.assert_array_equal(g, (first + i) * 1000 + np.arange(KSMPS))


def test_karray_to_web(perform, port):
    orc = f"""instr 1
{COUNTER}
{KARRAY_2X3}  kecho websocket {port}, kArr
endin"""
    perform(orc, "i1 0 60")
    got = run(frames_of(port, "kArr"))
    first = int(got[0][0, 0] // 10)
    for i, g in enumerate(got):
        assert g.shape == (2, 3)
        np.testing.assert_array_equal(g, (first + i) * 10 + np.arange(6).reshape(2, 3))  # row-major


def test_aarray_to_web_is_interleaved(perform, port):
    """Sample 0 of every element, then sample 1... on the wire: the client's planar frames are exact."""
    orc = FILL_AUDIO + f"""instr 1
{COUNTER}
  aArr[] init 3
  aArr[0] fill kcount, 0
  aArr[1] fill kcount, 100
  aArr[2] fill kcount, 200
  kecho websocket {port}, aArr
endin"""
    perform(orc, "i1 0 60")
    got = run(frames_of(port, "aArr"))
    first = int(got[0][0, 0] // 1000)
    e = np.arange(3)[:, None]
    s = np.arange(KSMPS)[None, :]
    for i, g in enumerate(got):
        assert g.shape == (3, KSMPS)
        np.testing.assert_array_equal(g, (first + i) * 1000 + e * 100 + s)


def test_string_to_web(perform, port):
    orc = f"""instr 1
{COUNTER}
  Sval sprintfk "count %d", kcount
  kecho websocket {port}, Sval
endin"""
    perform(orc, "i1 0 60")
    got = run(frames_of(port, "Sval"))
    assert all(isinstance(m, str) for m in got), "strings travel as text frames"
    counts = [int(m.split()[1]) for m in got]
    assert counts == list(range(counts[0], counts[0] + CYCLES))


def test_init_values_sent_on_connect(perform, port):
    orc = f"""instr 1
  ival = 1/3
  iArr[] fillarray 1.5, 2.5, 3.5
  Sinit = "héllo"
  kecho websocket {port}, ival, iArr, Sinit
endin"""
    perform(orc, "i1 0 60")

    async def main():
        return {name: (await frames_of(port, name, 1))[0] for name in ("ival", "iArr", "Sinit")}

    got = run(main())
    assert got["ival"] == 1 / 3
    assert got["iArr"].shape == (3,)
    np.testing.assert_array_equal(got["iArr"], [1.5, 2.5, 3.5])
    assert got["Sinit"] == "héllo"


# -------------------------------------------------------------- from the web


def echo(orc_body: str) -> str:
    return f"instr 1\n{orc_body}\nendin"


def test_k_from_web(perform, port):
    perform(echo(f"  kin websocket {port}\n  kback = kin\n  kecho websocket {port}, kback"), "i1 0 60")

    async def main():
        async with await offering(port, "kin", "kback") as cs:
            async with cs.subscribe("kback") as rx:
                for v in [np.float64(i) / 3 + 0.5 for i in range(CYCLES)]:
                    await cs.send("kin", v)
                    await until(rx, lambda f: f == v, timeout=5)
        return True

    assert run(main())


def test_a_from_web_is_a_fifo(perform, port):
    perform(echo(f"  ain websocket {port}\n  aback = ain\n  kecho websocket {port}, aback"), "i1 0 60")

    async def main():
        async with await offering(port, "ain", "aback") as cs:
            async with cs.subscribe("aback") as rx:
                blocks = [(i + 1) * 1000 + np.arange(KSMPS, dtype=np.float64) for i in range(CYCLES)]
                for b in blocks:
                    await cs.send("ain", b)
                seen = []
                async with asyncio.timeout(patience(10)):
                    async for g in rx:
                        if g.any():  # silence while the FIFO is empty
                            seen.append(g)
                        if len(seen) == CYCLES:
                            break
        return blocks, seen

    blocks, seen = run(main())
    assert len(seen) == CYCLES
    for b, s in zip(blocks, seen):
        np.testing.assert_array_equal(s, b)


def test_karray_from_web(perform, port):
    orc = echo(f"""  kin[] init 4
  kin websocket {port}
  kback[] = kin
  kecho websocket {port}, kback""")
    perform(orc, "i1 0 60")

    async def main():
        async with await offering(port, "kin", "kback") as cs:
            async with cs.subscribe("kback") as rx:
                for i in range(CYCLES):
                    v = np.arange(4, dtype=np.float64) + i * 0.25
                    await cs.send("kin", v)
                    await until(rx, lambda f: np.array_equal(f, v), timeout=5)
        return True

    assert run(main())


def test_aarray_from_web_interleaved(perform, port):
    orc = echo(f"""  ain[] init 2
  ain websocket {port}
  a0 = ain[0]
  a1 = ain[1]
  kecho websocket {port}, a0, a1""")
    perform(orc, "i1 0 60")

    async def main():
        s = np.arange(KSMPS, dtype=np.float64)
        async with await offering(port, "ain", "a0", "a1") as cs:
            async with cs.subscribe("a0") as r0, cs.subscribe("a1") as r1:
                # (elements, ksmps), which the client interleaves: element 0 is 1000 + s, element 1 2000 + s
                await cs.send("ain", np.stack([1000 + s, 2000 + s]))
                g0 = await until(r0, lambda f: f.any(), timeout=5)
                g1 = await until(r1, lambda f: f.any(), timeout=5)
        return g0, g1, s

    g0, g1, s = run(main())
    np.testing.assert_array_equal(g0, 1000 + s)
    np.testing.assert_array_equal(g1, 2000 + s)


def test_string_from_web(perform, port):
    perform(echo(f'  Sin websocket {port}\n  Sback strcpyk Sin\n  kecho websocket {port}, Sback'), "i1 0 60")

    async def main():
        async with await offering(port, "Sin", "Sback") as cs:
            async with cs.subscribe("Sback") as rx:
                for i in range(CYCLES):
                    text = f"message {i} ✓"
                    await cs.send("Sin", text)
                    await until(rx, lambda m: m == text, timeout=5)
        return True

    assert run(main())


def test_i_from_web_latches_first_value(perform, port, port2):
    orc = echo(f"""  iin websocket {port}
  iArr[] init 2
  iArr websocket {port2}
  kzero init 0
  kback = iin + kzero  ; read at k-rate: the i-variable changes when a value arrives
  kArr[] init 2
  kI = 0
  while kI < 2 do  ; a k-rate index reads the array every k-cycle
    kArr[kI] = iArr[kI]
    kI += 1
  od
  kecho websocket {port}, kback, kArr""")
    perform(orc, "i1 0 60")

    async def main():
        async with await offering(port, "iin", "kback", "kArr") as cs, await offering(port2, "iArr") as cs2:
            async with cs.subscribe("kback") as rx, cs.subscribe("kArr") as rxa:
                await cs.send("iin", 42.5)
                await cs2.send("iArr", [1.25, -2.0])
                await until(rx, lambda f: f == 42.5, timeout=5)
                await until(rxa, lambda f: np.array_equal(f, [1.25, -2.0]), timeout=5)
                await cs.send("iin", 7.0)  # ignored: i-rate latched
                return await take(rx, 50)

    assert set(run(main())) == {42.5}


@pytest.mark.parametrize("host", ["csws", "csound"])
def test_several_inputs_and_receive_only(perform, port, port2, host):
    """Our extensions: several inputs, each on its own protocol; and none."""
    orc = f"""instr 1
{COUNTER}
  k1 = kcount
  k2 = -kcount
  kreply websocket {port}, k1, k2
  konly websocket {port2}
endin"""
    p = perform(orc, "i1 0 60", host=host)

    async def main():
        async with await offering(port, "k1", "k2") as cs, await offering(port2, "konly") as cs2:
            fa, fb = await take(cs.subscribe("k1"), 5), await take(cs.subscribe("k2"), 5)
            await cs2.send("konly", 1.0)
        return fa, fb

    fa, fb = run(main())
    assert all(x > 0 for x in fa) and all(x < 0 for x in fb)
    p.wait_for(r"csws: websocket server on ws://127\.0\.0\.1:%d/" % (port2))
