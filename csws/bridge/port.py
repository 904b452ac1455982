"""A port and its variables, from the moment an instance asks for them.

The listening sockets are bound here, with the standard library, at init
time: a port in use is an init error at once.  The websocket server that
answers on them (csws.serve.server.PortServer, asyncio and websockets) is only
started when a first client knocks, so a piece nobody connects to costs
neither their memory nor their start-up time.  Nothing here imports them.
"""
from __future__ import annotations

import dataclasses
import math
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from csws._ring import Ring
from csws._shared import Share, Wake
from csws.protocol.policy import is_loopback
from csws.protocol.settings import Settings
from csws.protocol.variables import MYFLT_BYTES, Direction, Kind, VarSpec

if TYPE_CHECKING:
    import ssl

    from csws.serve.server import PortServer

BACKLOG = 100  # as asyncio's create_server
RING_MAX_BYTES = 4 << 20  # a ring's frames never take more than this per variable
CONTROL_SLOTS = 4  # rings from the web for control data: the newest wins
ARRAY_HEADER = 8  # an array frame's length, padded (csws_plugin.c)


@dataclass(eq=False)
class Variable:
    """A variable on offer, with its ring and what happened to its data.

    Every live note of one opcode line shares it (`members`, in the order
    they started); when the last one ends it lingers a moment with its
    clients, for the next note of that line."""

    spec: VarSpec  # as at the first note's init (arrays: see current_spec)
    ring: Ring | None  # None for i-rate inputs: sent once, on connect
    send_limit: int  # bytes a client may have queued before it loses frames
    line: int = 0  # the opcode line (its address in Csound) whose notes share it
    insno: int = 0  # that line's instrument
    members: dict[int, bytes | None] = field(default_factory=dict)  # handle -> init value, oldest first
    retired: list[Ring] = field(default_factory=list)  # rings an array outgrew: C may hold one a moment
    sent: int = 0  # messages delivered to clients
    dropped: int = 0  # messages a slow client lost
    rejected: int = 0  # messages from clients that did not fit, and clients of the wrong way round
    received: int = 0  # messages from clients written to the ring
    clients: set[Any] = field(default_factory=set)  # websockets' ServerConnection

    def __post_init__(self) -> None:
        self.share = Share(self.ring)  # what the notes' perf routines reach from C
        self._current = self.spec

    def current_spec(self) -> VarSpec:
        """The spec with an array's size as Csound last saw it (it may resize the array)."""
        values = self.share.values if self.spec.kind.is_array else 0
        if values and values != self._current.values:
            self._current = resized(self.spec, values)
        return self._current

    def use(self, ring: Ring) -> None:
        """Frames go through a bigger ring from now on (an array grew)."""
        if self.ring is not None:
            self.retired.append(self.ring)
        self.ring = ring
        self.share.use(ring)

    def counters(self) -> dict[str, int]:
        """What a user sees at the end of the performance."""
        ring = self.ring
        lost = ring.lost if ring is not None else 0
        if self.spec.direction is Direction.TO_WEB:
            # rejected: clients closed for sending to (or saying they send to) a variable that only goes to the web
            return {"sent": self.sent, "dropped": self.dropped + lost, "rejected": self.rejected}
        counts = {"received": self.received, "rejected": self.rejected, "dropped": lost}
        if self.spec.kind.is_audio:  # only audio can run dry
            counts["underruns"] = ring.underruns if ring is not None else 0
        return counts

    def latest_message(self) -> bytes | str | None:
        """What a client joining now gets at once (control data only)."""
        newest = list(self.members.values())[-1] if self.members else self.spec.init
        initial = dataclasses.replace(self.spec, init=newest).initial_message()
        if self.spec.kind.is_init or self.ring is None:
            return initial
        if self.spec.kind.is_audio:
            return None
        frame = self.ring.latest()
        if frame is None:
            return initial
        return frame.decode("utf-8", "replace") if self.spec.kind is Kind.S else frame


def resized(spec: VarSpec, values: int) -> VarSpec:
    """An array's spec holding `values` numbers a frame: the orchestra resized it (its first
    dimension changes where the rest still divide it, else it reads as one dimension)."""
    per = spec.ksmps if spec.kind.is_audio else 1
    rest = math.prod(spec.shape[1:])
    n = values // per
    shape = (n // rest, *spec.shape[1:]) if rest and n % rest == 0 else (n,)
    return dataclasses.replace(spec, shape=shape, frame_bytes=values * MYFLT_BYTES)


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


def _ssl_context(number: int, logger, settings: Settings) -> ssl.SSLContext:
    """The port's SSL context; says which certificate it shows, for users to check on their phones."""
    from csws.serve import tls  # only with TLS: ssl and asyncio stay unloaded on a port nobody joins

    try:
        cert, key = tls.certificate(settings.tls_cert, settings.tls_key)
        context = tls.server_context(cert, key)
    except (OSError, RuntimeError) as e:
        raise ValueError(f"tls_cert (CSWS_TLS_CERT) = {settings.tls_cert!r}: {e}") from None
    logger(f"csws: port {number}: https and wss with {cert}, SHA-256 fingerprint {tls.fingerprint(cert)}")
    return context


def ring_for(spec: VarSpec, sr: float, seconds: float, payload: int | None = None) -> Ring | None:
    """A ring holding `seconds` of the variable's frames at its own k-rate (sr / its ksmps)."""
    if spec.direction is Direction.TO_WEB and spec.kind.is_init:
        return None
    payload = spec.frame_bytes if payload is None else payload
    header = ARRAY_HEADER if spec.kind.is_array else 0
    streamed = spec.direction is Direction.TO_WEB or spec.kind.is_audio
    if not streamed:
        return Ring(CONTROL_SLOTS, payload, spec.kind is Kind.S, header)
    slots = math.ceil(seconds * sr / spec.ksmps)
    slots = max(4, min(slots, RING_MAX_BYTES // max(payload + header, 1)))
    return Ring(slots, payload, spec.kind is Kind.S, header)


@dataclass
class ControlCounters:
    """What happened on the port's control socket (csws/serve/control.py), reported like a variable's."""

    received: int = 0  # requests carried out
    rejected: int = 0  # requests refused
    sent: int = 0  # messages to pages (values, answers)

    def counters(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class Port:
    """One port of one Csound: its sockets, variables and the perf routine's wake-up."""

    def __init__(self, number: int, csound: int, logger, ksmps: int, sr: float, settings: Settings,
                 host: tuple[str, int] = ("", 6)) -> None:
        self.number = number
        self.csound = csound
        self.library, self.major = host  # Csound's library and major, for its API (csws/bridge/csound_api.py)
        self.control = ControlCounters()
        self._api = None  # CsoundAPI, made on first use
        self._api_ended = False
        self._api_lock = threading.Lock()
        self.log = logger
        self.ksmps = ksmps  # the orchestra's; a variable's own (setksmps) is its spec's
        self.sr = sr
        self.settings = settings  # read once, when the port opens
        # The orchestra's websocket_config settings as they are now: variables' ranges apply
        # whenever the line comes (the registry adds to it, under its lock).
        self.config: dict[str, str] = {}
        # Replaced, never changed in place (Csound's thread writes it, the I/O loop reads it).
        self.variables: dict[str, Variable] = {}
        # TLS is set up before binding: a missing certificate is an init error, the port left free.
        self.ssl = _ssl_context(number, logger, settings) if settings.tls_cert else None
        self.sockets = listen(settings.host, number)
        # What was bound, not what was asked for: "127.1" or an alias of
        # localhost is loopback too, and the Host check depends on it.
        self.loopback = all(is_loopback(s.getsockname()[0]) for s in self.sockets)
        self.wake = Wake()
        self.server: PortServer | None = None  # once a client has knocked

    def csound_api(self):
        """Csound's own API on this port's Csound (csws.bridge.csound_api.CsoundAPI), made on first
        use (on the I/O thread); None while Csound is cleaning up (end_csound_api)."""
        with self._api_lock:
            if self._api_ended:
                return None
            if self._api is None:
                from csws.bridge.csound_api import CsoundAPI  # ctypes: only once a page asks

                self._api = CsoundAPI(self.library, self.major, self.csound)
            return self._api

    def end_csound_api(self) -> None:
        """Csound's thread, as its last note goes: Csound may free its channels next, so no call
        may reach it from now on (waits for one under way, which takes microseconds)."""
        with self._api_lock:
            self._api_ended, api = True, self._api
        if api is not None:
            api.end()

    def resume_csound_api(self) -> None:
        """A new note took the port over: Csound is alive after all."""
        with self._api_lock:
            if self._api_ended:
                self._api_ended, self._api = False, None

    def ring_for(self, spec: VarSpec, payload: int | None = None) -> Ring | None:
        """A ring for the variable's frames (payload: bytes of the largest, if not the spec's)."""
        return ring_for(spec, self.sr, self.settings.buffer_seconds, payload)

    def send_limit(self, spec: VarSpec, frame_bytes: int) -> int:
        # A client may queue about as much of the stream as a ring holds before it loses frames.
        return max(64 << 10, int(frame_bytes * self.sr / spec.ksmps * self.settings.buffer_seconds))

    def variable(self, spec: VarSpec, line: int, insno: int) -> Variable:
        return Variable(spec, self.ring_for(spec), self.send_limit(spec, spec.frame_bytes), line, insno)

    def grow(self, var: Variable, payload: int) -> None:
        """A bigger ring for an array that outgrew its frames (on the I/O thread)."""
        payload = max(payload, 2 * (var.ring.capacity if var.ring is not None else 0))
        var.use(self.ring_for(var.spec, payload))
        var.send_limit = max(var.send_limit, self.send_limit(var.spec, payload))

    def close(self) -> None:
        """Let go of the port (its server, if any, has closed its own sockets)."""
        for s in self.sockets:
            s.close()
        self.wake.close()
