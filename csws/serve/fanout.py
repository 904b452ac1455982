"""Fan-out: each frame to every client of a variable, in the format it asked
for (csws.protocol.options), a slow client losing its own frames only."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Iterable

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import ServerConnection

from csws.protocol.options import DEFAULT, Options, convert, parse
from csws.protocol.variables import MYFLT, VarSpec


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


def deliver(spec: VarSpec, conns: Iterable[ServerConnection], frame: bytes | str,
            send_limit: int) -> tuple[int, int]:
    """Send one frame to every client in its own format.

    Returns (frames sent, frames dropped), summed over clients.  A client with
    more than send_limit bytes queued loses this frame (or, with frames=M, the
    whole message it completes): its own loss, nobody else's.
    """
    sent = dropped = 0
    by_dtype: dict[str, list[ServerConnection]] = {}
    converted: dict[str, bytes | str] = {MYFLT: frame}
    for ws in conns:
        if ws.transport.is_closing():
            # Reset by its peer and not yet gone: writing would only make asyncio print warnings.
            dropped += 1
            continue
        client = _clients.get(ws)
        opts = client.options if client is not None else DEFAULT
        if opts.opus:  # its packets come from the variable's encoder (csws/serve/opus.py)
            continue
        if opts.frames == 1:
            if ws.transport.get_write_buffer_size() > send_limit:
                dropped += 1
            else:
                by_dtype.setdefault(opts.dtype, []).append(ws)
            continue
        data = converted.get(opts.dtype)
        if data is None:
            data = converted[opts.dtype] = convert(spec, frame, opts.dtype)
        client.pending.append(data)
        if len(client.pending) >= opts.frames:
            message = b"".join(client.pending)
            client.pending.clear()
            if ws.transport.get_write_buffer_size() > send_limit:
                dropped += opts.frames
            else:
                broadcast([ws], message)
                sent += opts.frames
    for dtype, ready in by_dtype.items():
        data = converted.get(dtype)
        if data is None:
            data = converted[dtype] = convert(spec, frame, dtype)
        broadcast(ready, data)
        sent += len(ready)
    return sent, dropped
