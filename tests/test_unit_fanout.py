"""Fan-out without Csound or sockets: csws.serve.fanout.deliver, which decides what each
client of a variable gets of a frame Csound produced.

The connections are stand-ins with only what deliver reads (the transport's
state, the request path for the client's options), and websockets' broadcast
is replaced by a recorder: this tests our fan-out, not websockets.  Run once,
not per Csound major.
"""
from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest

from csws.protocol import options
from csws.serve import fanout
from csws.protocol.variables import Direction, Kind, VarSpec

KSMPS = 4
AUDIO = VarSpec("asig", Kind.A, Direction.TO_WEB, (), 8 * KSMPS, ksmps=KSMPS)
TEXT = VarSpec("Sout", Kind.S, Direction.TO_WEB, (), 4096)
LIMIT = 1000  # bytes a client may have queued and still get more


class Transport:
    def __init__(self) -> None:
        self.queued = 0  # bytes written and not yet taken by the peer
        self.closing = False  # reset by the peer, not yet gone

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.queued


class Peer:
    """A client connection as deliver() sees one."""

    def __init__(self, query: str) -> None:
        self.request = SimpleNamespace(path="/?" + query)
        self.transport = Transport()


@pytest.fixture
def received(monkeypatch) -> dict[Peer, list]:
    """What each peer was sent, in order."""
    got = defaultdict(list)

    def broadcast(conns, message):
        for ws in conns:
            got[ws].append(message)

    monkeypatch.setattr(fanout, "broadcast", broadcast)
    return got


def joined(spec: VarSpec, query: str = "") -> Peer:
    peer = Peer(query)
    fanout.join(peer, spec)
    return peer


def block(n: int) -> bytes:
    """The n-th k-cycle's frame: KSMPS samples counting on from n * KSMPS."""
    return np.arange(n * KSMPS, (n + 1) * KSMPS, dtype=np.float64).tobytes()


def test_every_client_gets_every_frame_in_its_own_dtype(received):
    a, b, narrow = joined(AUDIO), joined(AUDIO), joined(AUDIO, "dtype=float32")
    assert fanout.deliver(AUDIO, [a, b, narrow], block(0), LIMIT) == (3, 0)
    assert received[a] == received[b] == [block(0)]
    assert received[narrow] == [np.arange(KSMPS, dtype=np.float32).tobytes()]


def test_a_frame_is_narrowed_once_however_many_clients_want_float32(received, monkeypatch):
    calls = []

    def narrow(frame):
        calls.append(frame)
        return b"narrowed"

    monkeypatch.setattr(options, "narrow", narrow)
    peers = [joined(AUDIO, "dtype=float32") for _ in range(5)]
    fanout.deliver(AUDIO, peers, block(0), LIMIT)
    assert calls == [block(0)] and all(received[p] == [b"narrowed"] for p in peers)


def test_strings_reach_float32_clients_as_text(received):
    narrow = joined(TEXT, "dtype=float32")
    fanout.deliver(TEXT, [narrow], "été", LIMIT)
    assert received[narrow] == ["été"]


def test_a_client_over_the_send_limit_loses_only_its_own_frame(received):
    slow, full, fast = joined(AUDIO), joined(AUDIO), joined(AUDIO)
    slow.transport.queued = LIMIT + 1
    full.transport.queued = LIMIT  # at the limit, not over it
    assert fanout.deliver(AUDIO, [slow, full, fast], block(0), LIMIT) == (2, 1)
    assert received[slow] == [] and received[full] == received[fast] == [block(0)]


def test_a_connection_reset_by_its_peer_is_skipped_and_counted(received):
    gone, alive = joined(AUDIO), joined(AUDIO)
    gone.transport.closing = True
    assert fanout.deliver(AUDIO, [gone, alive], block(0), LIMIT) == (1, 1)
    assert gone not in received and received[alive] == [block(0)]


def test_frames_m_sends_m_consecutive_frames_in_one_message(received):
    plain, grouped = joined(AUDIO), joined(AUDIO, "frames=3")
    counts = [fanout.deliver(AUDIO, [plain, grouped], block(n), LIMIT) for n in range(7)]
    assert received[plain] == [block(n) for n in range(7)]
    assert received[grouped] == [block(0) + block(1) + block(2), block(3) + block(4) + block(5)]
    assert sum(sent for sent, _ in counts) == 7 + 6  # frame 6 waits for two more
    assert not any(dropped for _, dropped in counts)


def test_frames_m_in_float32(received):
    grouped = joined(AUDIO, "frames=2&dtype=float32")
    for n in range(2):
        fanout.deliver(AUDIO, [grouped], block(n), LIMIT)
    assert received[grouped] == [np.arange(2 * KSMPS, dtype=np.float32).tobytes()]


def test_a_full_client_with_frames_m_loses_the_whole_message_and_starts_afresh(received):
    grouped = joined(AUDIO, "frames=2")
    grouped.transport.queued = LIMIT + 1
    assert [fanout.deliver(AUDIO, [grouped], block(n), LIMIT) for n in range(2)] == [(0, 0), (0, 2)]
    grouped.transport.queued = 0  # it caught up
    assert [fanout.deliver(AUDIO, [grouped], block(n), LIMIT) for n in range(2, 4)] == [(0, 0), (2, 0)]
    assert received[grouped] == [block(2) + block(3)]
