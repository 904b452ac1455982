"""csws.client against a real Csound: every type's frames and shapes, sends echoed back, errors.

Csound computes each frame from a k-cycle counter, so a frame is checked
bit-exact and consecutive frames must be consecutive cycles.
"""
from __future__ import annotations

import asyncio
from itertools import islice

import numpy as np
import pytest

from csws.client import Closed, CswsError, Refused, Unreachable, connect, connect_sync
from orchestra import COUNTER, FILL_AUDIO, KARRAY_2X3, KSMPS
from conftest import patience
from wsclient import offering, take, until

CYCLES = 60

TO_WEB = FILL_AUDIO + """instr 1
{counter}
  kval = kcount / 7
  asig fill kcount, 0
{karray}  aArr[] init 3
  aArr[0] fill kcount, 0
  aArr[1] fill kcount, 100
  aArr[2] fill kcount, 200
  Sval sprintfk "count %d", kcount
  ival = 1/3
  iArr[] fillarray 1.5, 2.5, 3.5
  Sinit = "héllo"
  kd websocket {port}, kval, asig, kArr, aArr, Sval, ival, iArr, Sinit
endin"""


def run(coro):
    return asyncio.run(coro)


def consecutive(counts: list[int]) -> bool:
    return counts == list(range(counts[0], counts[0] + len(counts)))


def test_subscribe_every_type(perform, port):
    perform(TO_WEB.format(counter=COUNTER, karray=KARRAY_2X3, port=port), "i1 0 60")

    async def main():
        cs = await offering(port, "kval", "Sinit")
        async with cs:
            got = {}
            for name in ("kval", "asig", "kArr", "aArr", "Sval"):
                async with cs.subscribe(name) as sub:
                    got[name] = await take(sub, CYCLES)
            for name in ("ival", "iArr", "Sinit"):
                async with cs.subscribe(name) as sub:
                    got[name] = await take(sub, 1)
            return got, {n: v.frame_shape() for n, v in cs.variables.items()}

    got, shapes = run(main())
    assert shapes == {"kval": (), "asig": (KSMPS,), "kArr": (2, 3), "aArr": (3, KSMPS), "Sval": (),
                      "ival": (), "iArr": (3,), "Sinit": (), "kd": ()}

    assert all(type(v) is float for v in got["kval"])
    counts = [round(v * 7) for v in got["kval"]]
    assert consecutive(counts) and got["kval"] == [c / 7 for c in counts], "k: bit-exact, consecutive"

    first = int(got["asig"][0][0] // 1000)
    for i, block in enumerate(got["asig"]):
        assert block.shape == (KSMPS,) and block.dtype == np.float64
        np.testing.assert_array_equal(block, (first + i) * 1000 + np.arange(KSMPS))

    first = int(got["kArr"][0][0, 0] // 10)
    for i, arr in enumerate(got["kArr"]):
        assert arr.shape == (2, 3)
        np.testing.assert_array_equal(arr, (first + i) * 10 + np.arange(6).reshape(2, 3))

    # a[]: planar (element, sample), as Csound holds it, though the wire interleaves
    first = int(got["aArr"][0][0, 0] // 1000)
    planar = np.arange(3)[:, None] * 100 + np.arange(KSMPS)[None, :]
    for i, arr in enumerate(got["aArr"]):
        assert arr.shape == (3, KSMPS) and arr.dtype == np.float64
        np.testing.assert_array_equal(arr, (first + i) * 1000 + planar)

    assert consecutive([int(s.split()[1]) for s in got["Sval"]])
    assert got["ival"] == [1 / 3]
    assert got["iArr"][0].shape == (3,)
    np.testing.assert_array_equal(got["iArr"][0], [1.5, 2.5, 3.5])
    assert got["Sinit"] == ["héllo"]


def test_frames_and_float32(perform, port):
    perform(TO_WEB.format(counter=COUNTER, karray=KARRAY_2X3, port=port), "i1 0 60")

    async def main():
        async with await offering(port, "aArr", "kval") as cs:
            async with cs.subscribe("aArr", frames=4) as sub:
                four = await take(sub, 10)
            async with cs.subscribe("aArr", dtype="float32") as sub:
                narrow = await take(sub, 10)
            async with cs.subscribe("kval", dtype="float32") as sub:
                k32 = await take(sub, 10)
            async with cs.subscribe("asig", frames=3) as sub:
                a3 = await take(sub, 5)
            return four, narrow, k32, a3

    four, narrow, k32, a3 = run(main())
    s = np.arange(KSMPS)
    first = int(four[0][0, 0] // 1000)
    for i, arr in enumerate(four):  # 4 k-cycles per message, in time order, seamless
        assert arr.shape == (3, 4 * KSMPS)
        counts = first + 4 * i + np.repeat(np.arange(4), KSMPS)
        expected = counts[None, :] * 1000 + np.arange(3)[:, None] * 100 + np.tile(s, 4)[None, :]
        np.testing.assert_array_equal(arr, expected)
    first = int(narrow[0][0, 0] // 1000)
    for i, arr in enumerate(narrow):
        assert arr.shape == (3, KSMPS) and arr.dtype == np.float32
        expected = (first + i) * 1000 + np.arange(3)[:, None] * 100 + s[None, :]
        np.testing.assert_array_equal(arr, expected.astype(np.float32))
    c = round(k32[0] * 7)
    assert k32 == [float(np.float32((c + i) / 7)) for i in range(10)]
    first = int(a3[0][0] // 1000)
    for i, block in enumerate(a3):
        assert block.shape == (3 * KSMPS,)
        np.testing.assert_array_equal(block, (first + 3 * i + np.repeat(np.arange(3), KSMPS)) * 1000 + np.tile(s, 3))


ECHO = """instr 1
  kin websocket {port}
  kback = kin
  kArrIn[] init 2, 2
  kArrIn websocket {port}
  kArrBack[] = kArrIn
  ain websocket {port}
  aback = ain
  aArrIn[] init 2
  aArrIn websocket {port}
  a0 = aArrIn[0]
  a1 = aArrIn[1]
  Sin websocket {port}
  Sback strcpyk Sin
  iin websocket {port}
  kzero init 0
  kiback = iin + kzero
  kd websocket {port}, kback, kArrBack, aback, a0, a1, Sback, kiback
endin"""


def test_send_round_trips(perform, port):
    perform(ECHO.format(port=port), "i1 0 60")
    s = np.arange(KSMPS, dtype=np.float64)

    async def main():
        async with await offering(port, "kin", "kd") as cs:
            async with cs.subscribe("kback") as back:
                for v in (0.1, -2.5, 1 / 3, 1e300):
                    await cs.send("kin", v)
                    await until(back, lambda f: f == v)
            async with cs.subscribe("kArrBack") as back:
                for i in range(5):
                    v = np.array([[1.0, 2.0], [3.0, 4.0]]) + i / 4
                    await cs.send("kArrIn", v)
                    got = await until(back, lambda f: np.array_equal(f, v))
                    assert got.shape == (2, 2)
            async with cs.subscribe("aback") as back:
                blocks = [(i + 1) * 1000 + s for i in range(20)]
                for b in blocks:
                    await cs.send("ain", b)
                heard = [await until(back, lambda f: f.any()) for _ in blocks]  # silence: the FIFO ran dry
            for b, h in zip(blocks, heard):  # a FIFO: every block, in order
                np.testing.assert_array_equal(h, b)
            async with cs.subscribe("a0") as r0, cs.subscribe("a1") as r1:
                await cs.send("aArrIn", np.stack([1000 + s, 2000 + s]))  # (elements, ksmps)
                g0 = await until(r0, lambda f: f.any())
                g1 = await until(r1, lambda f: f.any())
            np.testing.assert_array_equal(g0, 1000 + s)
            np.testing.assert_array_equal(g1, 2000 + s)
            async with cs.subscribe("Sback") as back:
                for text in ("hello", "héllo wörld ✓", ""):
                    await cs.send("Sin", text)
                    await until(back, lambda f: f == text)
            async with cs.subscribe("kiback") as back:
                await cs.send("iin", 42.5)
                await until(back, lambda f: f == 42.5)

    run(main())


def test_wrong_values_are_refused_before_sending(perform, port):
    p = perform(ECHO.format(port=port), "i1 0 6")

    async def main():
        async with await offering(port, "kin", "kd") as cs:
            errors = []
            for name, value in [("kArrIn", [1.0, 2.0, 3.0]), ("kArrIn", np.zeros(4)), ("kin", [1.0, 2.0]),
                                ("kin", "3"), ("ain", np.zeros(KSMPS + 1)), ("aArrIn", np.zeros((KSMPS, 2))),
                                ("Sin", 3.0), ("kArrIn", [[1, 2], [3, "x"]])]:
                with pytest.raises(ValueError) as e:
                    await cs.send(name, value)
                errors.append(str(e.value))
            with pytest.raises(ValueError) as e:
                await cs.send("kback", 1.0)
            errors.append(str(e.value))
            with pytest.raises(ValueError) as e:
                cs.subscribe("kin")
            errors.append(str(e.value))
            async with cs.subscribe("kArrBack") as back:
                await cs.send("kArrIn", [[5, 6], [7, 8]])  # the only message that goes out
                await until(back, lambda f: np.array_equal(f, [[5, 6], [7, 8]]))
            return errors

    assert run(main()) == [
        "kArrIn (k[]) takes an array of shape (2, 2); got shape (3,)",
        "kArrIn (k[]) takes an array of shape (2, 2); got shape (4,)",
        "kin (k) takes a number; got shape (2,)",
        "kin (k) takes a number, not str",
        f"ain (a) takes an array of shape ({KSMPS},); got shape ({KSMPS + 1},)",
        f"aArrIn (a[]) takes an array of shape (2, {KSMPS}); got shape ({KSMPS}, 2)",
        "Sin (S) takes a str, not float",
        "kArrIn (k[]) takes an array of shape (2, 2); got [[1, 2], [3, 'x']]",
        "kback goes from Csound to the web: subscribe to it, it takes nothing",
        "kin goes from the web to Csound: send() to it, there is nothing to subscribe to",
    ]
    p.wait_for(r"kArrIn \(from web\): received 1, rejected 0")


def test_refusals_and_closes(perform, port, port2):
    p = perform(f"instr 1\n{COUNTER}\n  kd websocket {port}, kcount\nendin", "i1 0 60")
    # The score goes on after the note (instr 2): its clients hear that the instrument ended,
    # not the performance.
    t = perform(f"instr 1\n{COUNTER}\n  kd websocket {port2}, kcount\nendin\ninstr 2\nendin", "i1 0 5\ni2 0 8",
                env={"CSWS_TOKEN": "s3cret"})

    async def main():
        cs = await offering(port, "kcount")
        with pytest.raises(Refused) as unknown:
            await take(cs.subscribe("knope"), 1)
        with pytest.raises(CswsError) as unknown_send:
            await cs.send("knope", 1.0)
        t.wait_for(r"websocket server on ws://127\.0\.0\.1:%d/" % port2)
        with pytest.raises(Refused) as no_token:
            await connect(f"ws://127.0.0.1:{port2}")
        with pytest.raises(Refused) as bad_token:
            await connect(f"ws://127.0.0.1:{port2}", token="guess")
        async with connect(f"ws://127.0.0.1:{port2}", token="s3cret") as ts:
            sub = ts.subscribe("kcount")
            first = await take(sub, 3)
            with pytest.raises(Closed) as ended:  # the note ends after 5 s
                async with asyncio.timeout(patience(10)):
                    async for _ in sub:
                        pass
        sub = cs.subscribe("kcount")
        await take(sub, 3)
        p.stop()  # the piece goes away mid-stream
        with pytest.raises(Closed) as gone:
            async with asyncio.timeout(patience(10)):
                async for _ in sub:
                    pass
        with pytest.raises(Unreachable) as nobody:
            await connect(f"ws://127.0.0.1:{port}")
        return unknown.value, unknown_send.value, no_token.value, bad_token.value, first, ended.value, \
            gone.value, nobody.value

    unknown, unknown_send, no_token, bad_token, first, ended, gone, nobody = run(main())
    assert unknown.status == 400
    assert str(unknown) == (f"ws://127.0.0.1:{port} (knope): HTTP 400: csws: no variable named by the "
                            "subprotocol (knope); on offer: kcount, kd")
    assert str(unknown_send) == f"knope is not on offer at ws://127.0.0.1:{port}; on offer: kcount, kd"
    assert no_token.status == bad_token.status == 401
    assert str(no_token) == (f"http://127.0.0.1:{port2}/csws.json: HTTP 401: "
                             "csws: this server wants a token: add ?token=... to the address")
    assert "guess" not in str(bad_token)
    assert consecutive([int(v) for v in first])
    assert (ended.code, str(ended)) == (1001, "kcount: the server closed the connection (1001 the instrument ended)")
    assert gone.code in (1001, 1006) and str(gone).startswith("kcount: the server ")
    assert str(nobody).startswith(f"no csws server at ws://127.0.0.1:{port} (")
    assert str(nobody).endswith("): is the piece running?")


def test_reconnect_resumes(perform, port):
    """The note ends (1001, the port closes) and a later one offers the variable again."""
    orc = f"instr 1\n{COUNTER}\n  kval = p4 + kcount\n  kd websocket {port}, kval\nendin"
    perform(orc, "i1 0 3 0\ni1 5 30 100000")

    async def main():
        async with await offering(port, "kval", reconnect=True) as cs:
            seen = []
            async with asyncio.timeout(patience(20)):
                async for v in cs.subscribe("kval"):
                    seen.append(v)
                    if v > 100000 + 10:
                        return seen

    seen = run(main())
    before = [v for v in seen if v < 100000]
    after = [v for v in seen if v > 100000]
    assert before and after and consecutive([int(v) for v in after])


def test_connect_sync_inside_a_running_loop(perform, port):
    """As in a Jupyter cell: a blocking client called while an event loop runs in this thread."""
    perform(ECHO.format(port=port) + f"\ninstr 2\n{COUNTER}\n  kd2 websocket {port}, kcount\nendin",
            "i1 0 60\ni2 0 60")

    async def cell():
        await (await offering(port, "kcount", "kin")).close()
        with connect_sync(f"127.0.0.1:{port}") as cs:
            assert asyncio.get_running_loop()  # this thread's loop is busy running us
            counts = list(islice(cs.subscribe("kcount"), CYCLES))
            with cs.subscribe("kback") as back:
                cs.send("kin", 7.25)
                echoed = next(v for v in back if v == 7.25)
            shape = cs.variables["kArrBack"].frame_shape()
        return counts, echoed, shape

    counts, echoed, shape = asyncio.run(cell())
    assert consecutive([int(c) for c in counts]) and echoed == 7.25 and shape == (2, 2)
