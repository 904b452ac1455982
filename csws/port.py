"""A port and its variables, from the moment an instance asks for them.

The listening sockets are bound here, with the standard library, at init
time: a port in use is an init error at once.  The websocket server that
answers on them (csws.server.PortServer, asyncio and websockets) is only
started when a first client knocks, so a piece nobody connects to costs
neither their memory nor their start-up time.  Nothing here imports them.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from csws._bridge import Wake
from csws._ring import Ring
from csws.config import Settings
from csws.variables import MAX_STRING, Direction, Kind, VarSpec

if TYPE_CHECKING:
    from csws.server import PortServer

BACKLOG = 100  # as asyncio's create_server


@dataclass(eq=False)
class Variable:
    """A variable on offer, with its ring and what happened to its data."""

    spec: VarSpec
    ring: Ring | None  # None for i-rate inputs: sent once, on connect
    send_limit: int  # bytes a client may have queued before it loses frames
    sent: int = 0  # messages delivered to clients
    dropped: int = 0  # messages a slow client lost
    rejected: int = 0  # messages from clients that did not fit
    received: int = 0  # messages from clients written to the ring
    clients: set[Any] = field(default_factory=set)  # websockets' ServerConnection

    def counters(self) -> dict[str, int]:
        """What a user sees at the end of the performance."""
        ring = self.ring
        lost = ring.lost if ring is not None else 0
        if self.spec.direction is Direction.TO_WEB:
            # rejected: clients closed for sending to a variable that only goes to the web
            return {"sent": self.sent, "dropped": self.dropped + lost, "rejected": self.rejected}
        counts = {"received": self.received, "rejected": self.rejected, "dropped": lost}
        if self.spec.kind.is_audio:  # only audio can run dry
            counts["underruns"] = ring.underruns if ring is not None else 0
        return counts

    def latest_message(self) -> bytes | str | None:
        """What a client joining now gets at once (control data only)."""
        initial = self.spec.initial_message()
        if self.spec.kind.is_init or self.ring is None:
            return initial
        if self.spec.kind.is_audio:
            return None
        frame = self.ring.latest()
        if frame is None:
            return initial
        return frame.decode("utf-8", "replace") if self.spec.kind is Kind.S else frame


def listen(host: str, number: int) -> list[socket.socket]:
    """Listening, non-blocking sockets on every address `host` names."""
    socks: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host or None, number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        addresses = list(dict.fromkeys(infos))
        for family, kind, proto, _, address in addresses:
            s = socket.socket(family, kind, proto)
            socks.append(s)
            if os.name == "posix":  # rebind at once after a restart (Windows': share the port)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                # "::" alone means every interface, IPv4 too; beside an IPv4 address of
                # its own (host "" or a name), IPv6 only, or the two would collide.
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(len(addresses) > 1))
            s.bind(address)
            s.listen(BACKLOG)
            s.setblocking(False)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


class Port:
    """One port of one Csound: its sockets, variables and the perf routine's wake-up."""

    def __init__(self, number: int, csound: int, logger, ksmps: int, sr: float, settings: Settings) -> None:
        self.number = number
        self.csound = csound
        self.log = logger
        self.ksmps = ksmps
        self.sr = sr
        self.settings = settings  # read once, when the port opens
        self.max_string = max(1, min(settings.max_string, MAX_STRING))  # C slots hold MAX_STRING
        self.variables: dict[str, Variable] = {}
        self.sockets = listen(settings.host, number)
        self.wake = Wake()
        self.server: PortServer | None = None  # once a client has knocked

    def add(self, variables: list[Variable]) -> None:
        """Offer variables here (on the I/O loop once the server runs: it reads the table)."""
        self.variables.update((v.spec.name, v) for v in variables)

    def close(self) -> None:
        """Let go of the port (its server, if any, has closed its own sockets)."""
        for s in self.sockets:
            s.close()
        self.wake.close()
