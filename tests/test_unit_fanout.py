"""Fan-out without Csound or sockets: csws.serve.fanout, which decides what each
client of a variable gets of a frame Csound produced, and writes it.

Each connection has a real websockets ServerProtocol (it frames the messages
as on the wire) over a stand-in transport that records each write; a real
ClientProtocol reads those bytes back into messages.  Run once, not per
Csound major.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

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
        self.writes: list[bytes] = []  # one entry per write call

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.queued

    def writelines(self, chunks) -> None:
        self.writes.append(b"".join(chunks))


class Peer:
    """A client connection as the fan-out sees one: websockets' own protocol, a recording transport."""

    def __init__(self, query: str) -> None:
        self.request = SimpleNamespace(path="/?" + query)
        self.protocol = ServerProtocol(state=State.OPEN)
        self.send_in_progress = None
        self.transport = Transport()

    def received(self) -> list[bytes | str]:
        """The messages a websocket client reads from every byte written so far."""
        client = ClientProtocol(None, state=State.OPEN)  # uri unused once open
        client.extensions = [deflate() for _ in self.protocol.extensions]
        client.receive_data(b"".join(self.transport.writes))
        frames = [e for e in client.events_received() if isinstance(e, Frame)]
        return [f.data.decode() if f.opcode is Opcode.TEXT else f.data for f in frames]


def deflate() -> PerMessageDeflate:
    return PerMessageDeflate(remote_no_context_takeover=False, local_no_context_takeover=False,
                             remote_max_window_bits=15, local_max_window_bits=15)


def joined(spec: VarSpec, query: str = "") -> Peer:
    peer = Peer(query)
    fanout.join(peer, spec)
    return peer


def deliver(spec: VarSpec, peers, frame) -> tuple[int, int]:
    """One frame at one wake: queued, then written."""
    outbox = fanout.Outbox()
    counts = fanout.deliver(spec, peers, [frame], LIMIT, outbox)
    outbox.flush()
    return counts


def block(n: int) -> bytes:
    """The n-th k-cycle's frame: KSMPS samples counting on from n * KSMPS."""
    return np.arange(n * KSMPS, (n + 1) * KSMPS, dtype=np.float64).tobytes()


def test_every_client_gets_every_frame_in_its_own_dtype():
    a, b, narrow = joined(AUDIO), joined(AUDIO), joined(AUDIO, "dtype=float32")
    assert deliver(AUDIO, [a, b, narrow], block(0)) == (3, 0)
    assert a.received() == b.received() == [block(0)]
    assert narrow.received() == [np.arange(KSMPS, dtype=np.float32).tobytes()]


def test_a_frame_is_narrowed_once_however_many_clients_want_float32(monkeypatch):
    calls = []

    def narrow(frame):
        calls.append(frame)
        return b"narrowed"

    monkeypatch.setattr(options, "narrow", narrow)
    peers = [joined(AUDIO, "dtype=float32") for _ in range(5)]
    deliver(AUDIO, peers, block(0))
    assert calls == [block(0)] and all(p.received() == [b"narrowed"] for p in peers)


def test_strings_reach_float32_clients_as_text():
    narrow = joined(TEXT, "dtype=float32")
    deliver(TEXT, [narrow], "été")
    assert narrow.received() == ["été"]


def test_a_client_over_the_send_limit_loses_only_its_own_frame():
    slow, full, fast = joined(AUDIO), joined(AUDIO), joined(AUDIO)
    slow.transport.queued = LIMIT + 1
    full.transport.queued = LIMIT  # at the limit, not over it
    assert deliver(AUDIO, [slow, full, fast], block(0)) == (2, 1)
    assert slow.transport.writes == [] and full.received() == fast.received() == [block(0)]


def test_a_connection_reset_by_its_peer_is_skipped_and_counted():
    gone, alive = joined(AUDIO), joined(AUDIO)
    gone.transport.closing = True
    assert deliver(AUDIO, [gone, alive], block(0)) == (1, 1)
    assert gone.transport.writes == [] and alive.received() == [block(0)]


def test_a_connection_closing_its_websocket_is_skipped_and_counted():
    closing, alive = joined(AUDIO), joined(AUDIO)
    closing.protocol.state = State.CLOSING  # its close frame came in: no data after it
    assert deliver(AUDIO, [closing, alive], block(0)) == (1, 1)
    assert closing.transport.writes == [] and alive.received() == [block(0)]


def test_frames_m_sends_m_consecutive_frames_in_one_message():
    plain, grouped = joined(AUDIO), joined(AUDIO, "frames=3")
    counts = [deliver(AUDIO, [plain, grouped], block(n)) for n in range(7)]
    assert plain.received() == [block(n) for n in range(7)]
    assert grouped.received() == [block(0) + block(1) + block(2), block(3) + block(4) + block(5)]
    assert sum(sent for sent, _ in counts) == 7 + 6  # frame 6 waits for two more
    assert not any(dropped for _, dropped in counts)


def test_frames_m_in_float32():
    grouped = joined(AUDIO, "frames=2&dtype=float32")
    for n in range(2):
        deliver(AUDIO, [grouped], block(n))
    assert grouped.received() == [np.arange(2 * KSMPS, dtype=np.float32).tobytes()]


def test_a_full_client_with_frames_m_loses_the_whole_message_and_starts_afresh():
    grouped = joined(AUDIO, "frames=2")
    grouped.transport.queued = LIMIT + 1
    assert [deliver(AUDIO, [grouped], block(n)) for n in range(2)] == [(0, 0), (0, 2)]
    grouped.transport.queued = 0  # it caught up
    assert [deliver(AUDIO, [grouped], block(n)) for n in range(2, 4)] == [(0, 0), (2, 0)]
    assert grouped.received() == [block(2) + block(3)]


# ------------------------------------------------------------ batched writes


def wake(spec: VarSpec, peers, frames) -> tuple[int, int]:
    """One wake of the I/O thread that found several frames in the ring."""
    outbox = fanout.Outbox()
    counts = fanout.deliver(spec, peers, frames, LIMIT, outbox)
    outbox.flush()
    return counts


def test_a_wake_writes_each_client_once_with_one_message_per_frame():
    plain, narrow, grouped = joined(AUDIO), joined(AUDIO, "dtype=float32"), joined(AUDIO, "frames=2")
    assert wake(AUDIO, [plain, narrow, grouped], [block(n) for n in range(5)]) == (5 + 5 + 4, 0)
    assert [len(p.transport.writes) for p in (plain, narrow, grouped)] == [1, 1, 1]
    assert plain.received() == [block(n) for n in range(5)]
    assert narrow.received() == [np.arange(n * KSMPS, (n + 1) * KSMPS, dtype=np.float32).tobytes()
                                 for n in range(5)]
    assert grouped.received() == [block(0) + block(1), block(2) + block(3)]


def test_the_send_limit_counts_what_this_wake_queued_already():
    """A wake with a ring's worth of frames must not hand a client more than send_limit at once."""
    peer = joined(AUDIO)
    per = len(block(0))
    fits = LIMIT // per + 1  # queued bytes go over the limit with this many: the next ones are dropped
    frames = [block(n) for n in range(fits + 3)]
    assert wake(AUDIO, [peer], frames) == (fits, 3)
    assert peer.received() == frames[:fits]


def test_a_connection_with_an_extension_gets_frames_of_its_own():
    """Frames are shared between connections without extensions only: one that negotiated
    compression (we serve none, but a connection is websockets' to make) gets its own."""
    plain, deflated = joined(AUDIO), joined(AUDIO)
    deflated.protocol.extensions = [deflate()]
    frames = [bytes(8 * KSMPS)] * 3  # zeros: they deflate
    assert wake(AUDIO, [plain, deflated], frames) == (6, 0)
    assert plain.received() == deflated.received() == frames
    assert len(deflated.transport.writes[0]) < len(plain.transport.writes[0])


def test_nothing_due_writes_nothing():
    peer = joined(AUDIO)
    fanout.Outbox().flush()
    assert wake(AUDIO, [peer], []) == (0, 0) and peer.transport.writes == []
