"""Fan-out: each frame to every client of a variable, in the format it asked
for (csws.protocol.options), a slow client losing its own frames only.

Frames are not written as they are read: an Outbox gathers, over one wake of
the I/O thread, every message due to each client, and then writes them to
each client in one go.  Still one websocket message per frame on the wire,
but one write (one send() system call) per client per wake, however many
frames the ring held: when the machine falls behind, the system calls follow
the clients, not clients x frames.
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from typing import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from csws.protocol.options import DEFAULT, Options, convert, parse
from csws.protocol.variables import MYFLT, VarSpec

log = logging.getLogger("csws")


@dataclass(eq=False)
class Client:
    """One client's options and, with frames=M, its partly filled message."""

    options: Options
    pending: list[bytes] = field(default_factory=list)


_clients: "weakref.WeakKeyDictionary[ServerConnection, Client]" = weakref.WeakKeyDictionary()


def join(ws: ServerConnection, spec: VarSpec) -> Options:
    """Record a new client's options (BadOption if they make no sense)."""
    request = getattr(ws, "request", None)
    opts = parse(request.path if request is not None else "/", spec)
    if opts != DEFAULT:
        _clients[ws] = Client(opts)
    return opts


def options(ws: ServerConnection) -> Options:
    client = _clients.get(ws)
    return client.options if client is not None else DEFAULT


def writable(ws: ServerConnection) -> bool:
    """May a message be framed for this connection now (websockets' own broadcast() checks)?"""
    return (ws.protocol.state is State.OPEN and ws.send_in_progress is None
            and not ws.transport.is_closing())  # reset by its peer and not yet gone


class Outbox:
    """The messages due to each client over one wake, written once per client by flush()."""

    def __init__(self) -> None:
        self._due: dict[ServerConnection, list[bytes | str]] = {}
        self._bytes: dict[ServerConnection, int] = {}

    def queued(self, ws: ServerConnection) -> int:
        """Bytes the client has waiting: in its transport, and here."""
        return ws.transport.get_write_buffer_size() + self._bytes.get(ws, 0)

    def extend(self, ws: ServerConnection, messages: list) -> None:
        """Messages due to the client, in order, after those it has here already."""
        size = sum(map(len, messages))
        due = self._due.get(ws)
        if due is None:
            self._due[ws] = list(messages)
            self._bytes[ws] = size
        else:
            due.extend(messages)
            self._bytes[ws] += size

    def flush(self) -> None:
        """Frame each client's messages with websockets' ServerProtocol, then write them at once.

        A message bound for many clients is framed once: a server's frames are unmasked, so
        without extensions (we serve compression=None) the bytes that one open connection's
        protocol produces for it are the bytes every such connection's would.
        """
        due, self._due, self._bytes = self._due, {}, {}
        framed: dict[int, bytes] = {}  # id(message) -> its frame (the messages live in `due` meanwhile)
        for ws, messages in due.items():
            if not writable(ws):  # it cannot have changed since extend(): nothing awaits in between
                continue
            protocol = ws.protocol
            try:
                if protocol.extensions:
                    for m in messages:
                        _send(protocol, m)
                    chunks = protocol.data_to_send()
                else:
                    chunks = []
                    for m in messages:
                        frame = framed.get(id(m))
                        if frame is None:
                            _send(protocol, m)
                            frame = framed[id(m)] = b"".join(protocol.data_to_send())
                        chunks.append(frame)
                # Frames only (an open protocol sending data adds no end-of-stream marker):
                # one write, which asyncio turns into one send() when the socket takes it.
                ws.transport.writelines(chunks)
            except Exception as e:  # noqa: BLE001 - as broadcast(): the other clients still get theirs
                log.warning("csws: skipped a write to a client: %s", e)


def _send(protocol, message: bytes | str) -> None:
    if isinstance(message, str):
        protocol.send_text(message.encode())
    else:
        protocol.send_binary(message)


def deliver(spec: VarSpec, conns: Iterable[ServerConnection], frames: list[bytes] | list[str],
            send_limit: int, outbox: Outbox) -> tuple[int, int]:
    """Queue a wake's new frames of one variable for every client, each in its own format
    (written by outbox.flush()).

    Returns (frames sent, frames dropped), summed over clients.  A client with
    more than send_limit bytes waiting (in its transport and in the outbox)
    loses the frames that come while it is over (or, with frames=M, each whole
    message they complete): its own loss, nobody else's.  The work per client
    is the same for one frame or many: a client of the variable's own format
    gets the frames that fit in one list operation.
    """
    sent = dropped = 0
    if not frames:
        return sent, dropped
    converted: dict[str, list] = {MYFLT: frames}
    for ws in conns:
        if not writable(ws):
            dropped += len(frames)
            continue
        client = _clients.get(ws)
        opts = client.options if client is not None else DEFAULT
        if opts.opus:  # its packets come from the variable's encoder (csws/serve/opus.py)
            continue
        data = converted.get(opts.dtype)
        if data is None:
            data = converted[opts.dtype] = [convert(spec, f, opts.dtype) for f in frames]
        if opts.frames == 1:
            n = _fitting(outbox.queued(ws), data, send_limit)
            if n:
                outbox.extend(ws, data if n == len(data) else data[:n])
            sent += n
            dropped += len(data) - n
            continue
        for d in data:
            client.pending.append(d)
            if len(client.pending) >= opts.frames:
                message = b"".join(client.pending)
                client.pending.clear()
                if outbox.queued(ws) > send_limit:
                    dropped += opts.frames
                else:
                    outbox.extend(ws, [message])
                    sent += opts.frames
    return sent, dropped


def _fitting(queued: int, messages: list, send_limit: int) -> int:
    """How many of messages go out, in order, to a client with `queued` bytes waiting: each
    while what waits is within send_limit (the rest come while it is over: dropped)."""
    if queued > send_limit:
        return 0
    if queued + sum(map(len, messages)) - len(messages[-1]) <= send_limit:  # the usual case: all fit
        return len(messages)
    for n, m in enumerate(messages):
        if queued > send_limit:
            return n
        queued += len(m)
    return len(messages)
