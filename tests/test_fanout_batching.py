"""Batched fan-out against a real Csound (issue 22, point 1): many clients of one
a-rate variable, 1500 frames a second each, keep the I/O thread busy enough
that a wake finds several frames in the ring; each client must still get every
frame, in order, one message per frame, whatever its options, and a client that
stops reading loses only its own.

The clients are bench/fanload.py's (websockets' handshake, then each stream
checked in bulk, in 4 processes): websockets clients parsing frame by frame in
this process could not keep up with 128 x 1500 messages a second on 2 cores, and
the gaps would be theirs.  Nothing here is timed.
"""
from __future__ import annotations

import asyncio
import re
import socket
import sys
import time

from conftest import SOURCE, patience
from wsclient import connect_var

sys.path.insert(0, str(SOURCE / "bench"))  # the checkout's, also for tools/check_wheel.sh's copy of tests/
import fanload  # noqa: E402

KSMPS = 32
FRAME = 8 * KSMPS  # bytes of one k-cycle of an a-rate variable
# An a-rate variable whose every sample is the k-cycle's number: 1500 frames a second.
ORC = "instr 1\n  kcount init 0\n  kcount += 1\n  asig = a(kcount)\n  kd websocket {port}, asig\nendin"


def stream(perform, port: int, clients: int, seconds: float = 60):
    # A ring and send limit of a second (rather than 0.25 s): a shared test machine's hiccups
    # must not cost frames; the batching under test is the same.
    return perform(ORC.format(port=port), f"i1 0 {seconds}",
                   env={"CSWS_MAX_CLIENTS": str(clients + 8), "CSWS_BUFFER_SECONDS": str(patience(1.0))})


def report(output: str, port: int) -> dict[str, int]:
    lines = re.findall(rf"csws: port {port} asig \(to web\): ([^\n]*)", output)
    assert lines, output[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", lines[-1])}


def whole(counts: list[dict], seconds: float) -> None:
    """Every client got about every frame made in the window, none missing, none out of order."""
    for c in counts:
        assert not c["closed"] and c["bad"] == 0, c
        assert c["gaps"] == 0 and c["backwards"] == 0, c
        assert c["received"] >= 0.8 * 1500 * seconds, c  # it was fed all along, not stalled


def test_128_clients_of_an_a_rate_variable_get_every_frame_in_order(perform, port):
    p = stream(perform, port, 128)
    p.wait_for("websocket server on")
    counts = fanload.clients(port, "asig", 128, payload=FRAME, seconds=3)
    assert len(counts) == 128
    whole(counts, 3)
    p.stop()


def test_frames_m_and_float32_clients_beside_plain_ones(perform, port):
    """Three kinds of client on one variable at once, each its own stream: plain float64
    frames, float32 frames (half the bytes), and frames=4 (four k-cycles a message)."""
    p = stream(perform, port, 96)
    p.wait_for("websocket server on")

    async def main():
        kinds = [dict(payload=FRAME), dict(payload=FRAME // 2, query="dtype=float32", dtype="float32"),
                 dict(payload=4 * FRAME, query="frames=4", step=4)]
        return await asyncio.gather(*(asyncio.to_thread(fanload.clients, port, "asig", 32, seconds=3,
                                                        processes=2, **kind) for kind in kinds))

    plain, narrow, grouped = asyncio.run(main())
    whole(plain, 3)
    whole(narrow, 3)
    for c in grouped:
        assert not c["closed"] and c["bad"] == 0 and c["gaps"] == 0 and c["backwards"] == 0, c
        assert c["received"] >= 0.8 * 1500 / 4 * 3, c
    p.stop()


def test_a_client_that_stops_reading_loses_only_its_own_frames(perform, port):
    """One client never reads (a tiny receive buffer): once the kernel's buffers and its send
    limit are full (some seconds at 384 kB/s) it loses frames, counted in Csound's report;
    64 clients reading meanwhile lose none."""
    p = stream(perform, port, 65, seconds=16)
    p.wait_for("websocket server on")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))

    async def slow_client():
        return await connect_var(port, "asig", sock=sock, max_queue=1)

    slow = asyncio.run(slow_client())  # its loop is gone: it reads nothing more
    time.sleep(8)  # the slow client's buffers fill up: it is losing frames from here on
    counts = fanload.clients(port, "asig", 64, payload=FRAME, seconds=3)
    whole(counts, 3)
    assert p.wait(patience(30)) == 0
    rep = report(p.output, port)
    assert rep["dropped"] > 0, rep
    assert rep["sent"] >= sum(c["received"] for c in counts)
    sock.close()
    del slow
