"""Every argument type, both directions, in a real Csound over real websockets.

To the web: Csound computes values from a k-cycle counter, so the client can
check each frame bit-exact and that consecutive frames are consecutive
cycles.  From the web: Csound sends what it received back on a second
variable, so the client sees that every value arrived.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from wsclient import connect_var, f64, frames, recv_until

KSMPS = 32
CYCLES = 120  # consecutive k-cycles checked per type

COUNTER = """
  kcount init 0
  kcount += 1
"""

# Fills an a-rate variable with count*1000 + offset + sample index.
FILL_AUDIO = """
opcode fill, a, kk
  kbase, koff xin
  asig init 0
  kS = 0
  while kS < ksmps do
    vaset kbase * 1000 + koff + kS, kS, asig
    kS += 1
  od
  xout asig
endop
"""


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- to the web


def test_k_to_web(perform, port):
    p = perform(f"instr 1\n{COUNTER}\n  kval = kcount / 7\n  kecho websocket {port}, kval\nendin", "i1 0 60")

    async def main():
        ws = await connect_var(port, "kval")
        got = [f64(m) for m in await frames(ws, CYCLES)]
        await ws.close()
        return got

    got = run(main())
    assert all(g.shape == (1,) for g in got)
    counts = [round(g[0] * 7) for g in got]
    assert counts == list(range(counts[0], counts[0] + CYCLES)), "frames missing or out of order"
    assert all(g[0] == c / 7 for g, c in zip(got, counts)), "not bit-exact"
    p.stop()


def test_a_to_web(perform, port):
    orc = FILL_AUDIO + f"instr 1\n{COUNTER}\n  asig fill kcount, 0\n  kecho websocket {port}, asig\nendin"
    perform(orc, "i1 0 60")

    async def main():
        ws = await connect_var(port, "asig")
        return [f64(m) for m in await frames(ws, CYCLES)]

    got = run(main())
    first = int(got[0][0] // 1000)
    for i, g in enumerate(got):
        assert g.shape == (KSMPS,)
        np.testing.assert_array_equal(g, (first + i) * 1000 + np.arange(KSMPS))


def test_karray_to_web(perform, port):
    orc = f"""instr 1
{COUNTER}
  kArr[] init 2, 3
  kI = 0
  while kI < 2 do
    kJ = 0
    while kJ < 3 do
      kArr[kI][kJ] = kcount * 10 + kI * 3 + kJ
      kJ += 1
    od
    kI += 1
  od
  kecho websocket {port}, kArr
endin"""
    perform(orc, "i1 0 60")

    async def main():
        ws = await connect_var(port, "kArr")
        return [f64(m) for m in await frames(ws, CYCLES)]

    got = run(main())
    first = int(got[0][0] // 10)
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, (first + i) * 10 + np.arange(6))  # row-major


def test_aarray_to_web_is_interleaved(perform, port):
    """Sample 0 of every element, then sample 1...: the planar layout fails this."""
    orc = FILL_AUDIO + f"""instr 1
{COUNTER}
  aArr[] init 3
  aArr[0] fill kcount, 0
  aArr[1] fill kcount, 100
  aArr[2] fill kcount, 200
  kecho websocket {port}, aArr
endin"""
    perform(orc, "i1 0 60")

    async def main():
        ws = await connect_var(port, "aArr")
        return [f64(m) for m in await frames(ws, CYCLES)]

    got = run(main())
    first = int(got[0][0] // 1000)
    s = np.arange(KSMPS)[:, None]
    e = np.arange(3)[None, :]
    for i, g in enumerate(got):
        assert g.shape == (KSMPS * 3,)
        expected = ((first + i) * 1000 + e * 100 + s).ravel()  # interleaved: [s][e]
        np.testing.assert_array_equal(g, expected)


def test_string_to_web(perform, port):
    orc = f"""instr 1
{COUNTER}
  Sval sprintfk "count %d", kcount
  kecho websocket {port}, Sval
endin"""
    perform(orc, "i1 0 60")

    async def main():
        ws = await connect_var(port, "Sval")
        return await frames(ws, CYCLES)

    got = run(main())
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
        out = {}
        for name in ("ival", "iArr", "Sinit"):
            ws = await connect_var(port, name)
            out[name] = (await frames(ws, 1))[0]
            await ws.close()
        return out

    got = run(main())
    assert f64(got["ival"])[0] == 1 / 3
    np.testing.assert_array_equal(f64(got["iArr"]), [1.5, 2.5, 3.5])
    assert got["Sinit"] == "héllo"


# -------------------------------------------------------------- from the web


def echo(orc_body: str) -> str:
    return f"instr 1\n{orc_body}\nendin"


def test_k_from_web(perform, port):
    perform(echo(f"  kin websocket {port}\n  kback = kin\n  kecho websocket {port}, kback"), "i1 0 60")

    async def main():
        tx = await connect_var(port, "kin")
        rx = await connect_var(port, "kback")
        values = [np.float64(i) / 3 + 0.5 for i in range(CYCLES)]
        for v in values:
            await tx.send(np.array([v]).tobytes())
            await recv_until(rx, lambda m: f64(m)[0] == v)
        return True

    assert run(main())


def test_a_from_web_is_a_fifo(perform, port):
    perform(echo(f"  ain websocket {port}\n  aback = ain\n  kecho websocket {port}, aback"), "i1 0 60")

    async def main():
        tx = await connect_var(port, "ain")
        rx = await connect_var(port, "aback")
        blocks = [(i + 1) * 1000 + np.arange(KSMPS, dtype=np.float64) for i in range(CYCLES)]
        for b in blocks:
            await tx.send(b.tobytes())
        seen = []
        async with asyncio.timeout(10):
            while len(seen) < CYCLES:
                g = f64(await rx.recv())
                if g.any():  # silence while the FIFO is empty
                    seen.append(g)
        return blocks, seen

    blocks, seen = run(main())
    for b, s in zip(blocks, seen):
        np.testing.assert_array_equal(s, b)


def test_karray_from_web(perform, port):
    orc = echo(f"""  kin[] init 4
  kin websocket {port}
  kback[] = kin
  kecho websocket {port}, kback""")
    perform(orc, "i1 0 60")

    async def main():
        tx = await connect_var(port, "kin")
        rx = await connect_var(port, "kback")
        for i in range(CYCLES):
            v = np.arange(4, dtype=np.float64) + i * 0.25
            await tx.send(v.tobytes())
            await recv_until(rx, lambda m: np.array_equal(f64(m), v))
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
        tx = await connect_var(port, "ain")
        r0 = await connect_var(port, "a0")
        r1 = await connect_var(port, "a1")
        s = np.arange(KSMPS, dtype=np.float64)
        # interleaved: element 0 is 1000 + s, element 1 is 2000 + s
        frame = np.stack([1000 + s, 2000 + s], axis=1).ravel()
        await tx.send(frame.tobytes())
        g0 = await recv_until(r0, lambda m: f64(m).any())
        g1 = await recv_until(r1, lambda m: f64(m).any())
        return f64(g0), f64(g1), s

    g0, g1, s = run(main())
    np.testing.assert_array_equal(g0, 1000 + s)
    np.testing.assert_array_equal(g1, 2000 + s)


def test_string_from_web(perform, port):
    perform(echo(f'  Sin websocket {port}\n  Sback strcpyk Sin\n  kecho websocket {port}, Sback'), "i1 0 60")

    async def main():
        tx = await connect_var(port, "Sin")
        rx = await connect_var(port, "Sback")
        for i in range(CYCLES):
            text = f"message {i} ✓"
            await tx.send(text)
            await recv_until(rx, lambda m: m == text)
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
        tx = await connect_var(port, "iin")
        txa = await connect_var(port2, "iArr")
        rx = await connect_var(port, "kback")
        rxa = await connect_var(port, "kArr")
        await tx.send(np.array([42.5]).tobytes())
        await txa.send(np.array([1.25, -2.0]).tobytes())
        await recv_until(rx, lambda m: f64(m)[0] == 42.5)
        await recv_until(rxa, lambda m: np.array_equal(f64(m), [1.25, -2.0]))
        await tx.send(np.array([7.0]).tobytes())  # ignored: i-rate latched
        later = [f64(m)[0] for m in await frames(rx, 50)]
        return later

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
        a = await connect_var(port, "k1")
        b = await connect_var(port, "k2")
        c = await connect_var(port2, "konly")
        fa, fb = await frames(a, 5), await frames(b, 5)
        await c.send(np.array([1.0]).tobytes())
        return fa, fb

    fa, fb = run(main())
    assert all(f64(x)[0] > 0 for x in fa) and all(f64(x)[0] < 0 for x in fb)
    p.wait_for(r"csws: websocket server on ws://127\.0\.0\.1:%d/" % (port2))
