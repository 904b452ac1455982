"""Fuzzing: property-based tests of the wire formats and the rings, and a
hostile-client test against a running Csound.

The property tests are bounded (max_examples) so that they run in CI in a
few seconds; the hostile test runs for a fixed few seconds while a
well-behaved client checks that its k-rate data stays exact and consecutive.
"""
from __future__ import annotations

import asyncio
import json
import os
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from csws._frames import deinterleave_frame, interleave_array
from csws._ring import Ring
from csws.protocol.variables import MAX_STRING, BadMessage, Direction, Kind, VarSpec, decode

from wsclient import connect_var, f64, frames

# database=None: no .hypothesis directory left in the tree
BOUNDED = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- decode

NUMERIC_KINDS = [Kind.K, Kind.A, Kind.I, Kind.KARR, Kind.AARR, Kind.IARR]


@st.composite
def numeric_specs(draw) -> VarSpec:
    kind = draw(st.sampled_from(NUMERIC_KINDS))
    n = draw(st.integers(1, 64))
    shape = (n,) if kind.is_array else ()
    return VarSpec(name="v", kind=kind, direction=Direction.FROM_WEB, shape=shape, frame_bytes=8 * n)


STRING_SPEC = VarSpec(name="s", kind=Kind.S, direction=Direction.FROM_WEB, shape=(), frame_bytes=MAX_STRING)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=20,
)


def accepted_numeric(spec: VarSpec, out: bytes) -> None:
    assert isinstance(out, bytes) and len(out) == spec.frame_bytes


@BOUNDED
@given(spec=numeric_specs(), message=st.binary(max_size=700))
def test_decode_any_binary_to_numbers(spec, message):
    """Any bytes: one frame of the right size, or BadMessage - nothing else."""
    try:
        out = decode(spec, message)
    except BadMessage:
        assert len(message) not in (spec.frame_bytes, spec.values * 4)
        return
    accepted_numeric(spec, out)


@BOUNDED
@given(spec=numeric_specs(), message=st.text(max_size=300) | json_values.map(lambda v: json.dumps(v)))
@example(spec=VarSpec("v", Kind.K, Direction.FROM_WEB, (), 8), message="1" + "0" * 400)  # int beyond float
@example(spec=VarSpec("v", Kind.K, Direction.FROM_WEB, (), 8), message="[" * 5000 + "]" * 5000)
@example(spec=VarSpec("v", Kind.K, Direction.FROM_WEB, (), 8), message="[" * 70 + "1" + "]" * 70)  # > 64 dims
@example(spec=VarSpec("v", Kind.K, Direction.FROM_WEB, (), 8), message="NaN")
@example(spec=VarSpec("v", Kind.K, Direction.FROM_WEB, (), 8), message="true")
def test_decode_any_text_to_numbers(spec, message):
    """Any text: a JSON number or array of the right size and finite values, or BadMessage."""
    try:
        out = decode(spec, message)
    except BadMessage:
        return
    accepted_numeric(spec, out)
    assert np.all(np.isfinite(np.frombuffer(out, np.float64)))


@BOUNDED
@given(data=st.data(), spec=numeric_specs())
def test_decode_round_trips(data, spec):
    """float64 frames pass bit-exact; float32 and JSON arrive as their float64 values."""
    values = np.array(data.draw(st.lists(st.floats(allow_nan=False, allow_infinity=False),
                                         min_size=spec.values, max_size=spec.values)), dtype=np.float64)
    assert decode(spec, values.tobytes()) == values.tobytes()
    if np.all(np.abs(values) < 3e38):  # float32 can hold them
        as32 = values.astype(np.float32)
        assert decode(spec, as32.tobytes()) == as32.astype(np.float64).tobytes()
    text = json.dumps(values.tolist() if spec.values > 1 or data.draw(st.booleans()) else values[0].item())
    assert decode(spec, text) == values.tobytes()


@BOUNDED
@given(message=st.binary(max_size=MAX_STRING + 50) | st.text(max_size=MAX_STRING // 2))
@example(message=b"\xff\xfe")
@example(message="\u00e9" * (MAX_STRING // 2))  # exactly the maximum in UTF-8
@example(message="a" * (MAX_STRING + 1))
def test_decode_strings(message):
    """UTF-8 up to the maximum passes unchanged; anything else is BadMessage."""
    raw = message.encode("utf-8") if isinstance(message, str) else message
    try:
        out = decode(STRING_SPEC, message)
    except BadMessage:
        valid = True
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            valid = False
        assert not valid or len(raw) > MAX_STRING
        return
    assert out == raw and len(out) <= MAX_STRING
    out.decode("utf-8")


# ---------------------------------------------------------------- a[] interleaving


@BOUNDED
@given(nelems=st.integers(1, 16), ksmps=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_interleave_round_trip(nelems, ksmps, seed):
    planar = np.random.default_rng(seed).standard_normal((nelems, ksmps))
    wire = interleave_array(planar)
    assert wire.shape == (nelems * ksmps,)
    # sample s of element e sits at s * nelems + e
    np.testing.assert_array_equal(wire.reshape(ksmps, nelems), planar.T)
    np.testing.assert_array_equal(deinterleave_frame(wire, nelems), planar)


@BOUNDED
@given(size=st.integers(0, 200), nelems=st.integers(0, 20))
def test_deinterleave_refuses_bad_shapes(size, nelems):
    frame = np.arange(size, dtype=np.float64)
    if nelems == 0 or size % nelems:
        with pytest.raises(ValueError):
            deinterleave_frame(frame, nelems)
    else:
        out = deinterleave_frame(frame, nelems)
        assert out.shape == (nelems, size // nelems)
        np.testing.assert_array_equal(interleave_array(out), frame)


# ---------------------------------------------------------------- rings

ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 2**31)),
        st.tuples(st.just("read_new"), st.none()),
        st.tuples(st.just("latest"), st.none()),
        st.tuples(st.just("skip"), st.none()),
    ),
    max_size=80,
)


@BOUNDED
@given(nslots=st.integers(2, 9), frame_bytes=st.sampled_from([8, 16, 24]), program=ops)
def test_ring_against_a_model(nslots, frame_bytes, program):
    """write/read_new/latest/skip_to_head against a list of everything written.

    With one thread the producer laps the reader exactly when it has written
    nslots - 1 frames beyond it (the slot being written is never readable):
    older frames are lost and counted, newer ones come out in order.
    """
    ring = Ring(nslots, frame_bytes)
    written: list[bytes] = []
    cursor = lost = 0
    for op, arg in program:
        if op == "write":
            frame = (arg.to_bytes(8, "little") * (frame_bytes // 8))
            ring.write(frame)
            written.append(frame)
        elif op == "read_new":
            head = len(written)
            oldest = max(0, head - nslots + 1)
            if cursor < oldest:
                lost += oldest - cursor
                cursor = oldest
            assert ring.read_new() == written[cursor:head]
            cursor = head
        elif op == "latest":
            # the newest frame the reader has reached (what a joining client
            # gets before the fan-out goes on), unless overwritten since
            head = len(written)
            expect = written[cursor - 1] if cursor and head < cursor - 1 + nslots else None
            assert ring.latest() == expect
        else:
            ring.skip_to_head()
            cursor = len(written)
        assert ring.head == len(written)
        assert ring.lost == lost


@BOUNDED
@given(max_bytes=st.integers(1, 64), payloads=st.lists(st.binary(max_size=80), max_size=20))
def test_string_ring(max_bytes, payloads):
    """A string ring keeps each message's length; too long ones are refused, not cut."""
    ring = Ring(4, max_bytes, True)
    unread = []
    for i, p in enumerate(payloads):
        if len(p) > max_bytes:
            with pytest.raises(ValueError):
                ring.write(p)
        else:
            ring.write(p)
            unread.append(p)
        if i % 2:  # read every other time: at most 2 frames behind, never lapped
            assert ring.read_new() == unread
            if unread:
                assert ring.latest() == unread[-1]
            unread = []
    assert ring.read_new() == unread


@BOUNDED
@given(frame_bytes=st.sampled_from([8, 16]), size=st.integers(0, 40))
def test_numeric_ring_refuses_wrong_sizes(frame_bytes, size):
    ring = Ring(4, frame_bytes)
    if size == frame_bytes:
        ring.write(bytes(size))
        assert ring.head == 1
    else:
        with pytest.raises(ValueError):
            ring.write(bytes(size))
        assert ring.head == 0


# ---------------------------------------------------------------- hostile clients

HOSTILE_SECONDS = 6.0

HOSTILE_ORC = """
instr 1
  kcount init 0
  kcount += 1
  kval = kcount / 7
  Sout sprintfk "count %d", kcount
  kArr[] init 4
  kin, aaud, Sname, kArr websocket {port}, kval, Sout
  printks "count %d\\n", 1, kcount
endin
"""


async def hostile(port: int, names: list[str], rng: random.Random, stop: float) -> dict:
    """Connects as any variable (or none, or nonsense), sends junk, vanishes."""
    seen = {"connected": 0, "refused": 0, "sent": 0}
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        choice = rng.random()
        try:
            if choice < 0.15:
                # raw TCP garbage instead of a handshake, then gone
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(os.urandom(rng.randint(1, 2000)))
                await w.drain()
                w.close()
                continue
            protos = rng.choice([[rng.choice(names)], [rng.choice(names)], [], ["nope"], rng.sample(names, 2)])
            headers = {}
            if rng.random() < 0.15:  # a raw, malformed Sec-WebSocket-Protocol header
                protos = []
                headers["Sec-WebSocket-Protocol"] = "".join(rng.choices("abkval\u00e9,; \t", k=rng.randint(1, 20)))
            ws = await asyncio.wait_for(
                connect(f"ws://127.0.0.1:{port}/", subprotocols=protos or None, compression=None,
                        additional_headers=headers, max_size=None, open_timeout=3, close_timeout=0.2), 3)
            seen["connected"] += 1
            for _ in range(rng.randint(0, 40)):
                kind = rng.random()
                if kind < 0.4:
                    msg: bytes | str = os.urandom(rng.choice([0, 1, 4, 7, 8, 16, 31, 32, 256, rng.randint(0, 70000)]))
                elif kind < 0.6:
                    msg = rng.choice(["1", "[1,2,3,4]", "[1,2]", "nan", "{}", "[[1]]", "1" + "0" * 400,
                                      "\u00e9t\u00e9", "x" * rng.randint(0, 10000)])
                elif kind < 0.8:
                    msg = np.random.default_rng(rng.randint(0, 2**32)).standard_normal(
                        rng.choice([1, 4, 32, 33])).tobytes()
                else:
                    msg = os.urandom(rng.randint(0, 64)).decode("latin-1")
                await ws.send(msg)
                seen["sent"] += 1
                if rng.random() < 0.3:
                    try:
                        await asyncio.wait_for(ws.recv(), 0.01)
                    except asyncio.TimeoutError:
                        pass
            if rng.random() < 0.5:
                ws.transport.abort()  # vanish without a close frame
            else:
                await ws.close()
        except (InvalidHandshake, ConnectionClosed, OSError, asyncio.TimeoutError, EOFError, UnicodeError):
            seen["refused"] += 1
    return seen


def test_hostile_clients_leave_data_exact(perform, port):
    p = perform(HOSTILE_ORC.format(port=port), "i1 0 120")
    names = ["kval", "Sout", "kin", "aaud", "Sname", "kArr"]

    async def main():
        good = await connect_var(port, "kval")
        loop = asyncio.get_running_loop()
        stop = loop.time() + HOSTILE_SECONDS
        rng = random.Random(1234)
        attackers = [asyncio.create_task(hostile(port, names, random.Random(rng.random()), stop)) for _ in range(6)]
        counts: list[int] = []
        while loop.time() < stop:
            for m in await frames(good, 50):
                v = f64(m)
                assert v.shape == (1,)
                c = round(v[0] * 7)
                assert v[0] == c / 7, "not bit-exact"
                counts.append(c)
        seen = await asyncio.gather(*attackers)
        # afterwards: still performing, and a fresh client is served
        again = await connect_var(port, "kval")
        later = [round(f64(m)[0] * 7) for m in await frames(again, 20)]
        return counts, seen, later

    counts, seen, later = asyncio.run(main())
    assert counts == list(range(counts[0], counts[0] + len(counts))), "frames missing or out of order"
    assert len(counts) > 1000
    assert sum(s["connected"] for s in seen) > 20, seen
    # A newcomer gets the latest value at once: the good client's last one if Csound
    # has not run a k-cycle since (it paces in bursts about 1 ms apart).
    assert later == list(range(later[0], later[0] + 20)) and later[0] >= counts[-1]
    assert p.proc.poll() is None, "Csound must still be performing"
    assert "Segmentation" not in p.output and "Traceback" not in p.output, p.output[-3000:]
