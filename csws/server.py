"""One port's websocket server, run on the I/O thread's asyncio loop.

Clients pick a variable by naming it as their websocket subprotocol.  Data to
the web is read once from the variable's ring when the performance thread
wakes us and fanned out to every subscribed client; a client whose send
buffer is full loses its own frames (counted), never anyone else's, and
never slows Csound.  Data from the web is checked and written to the ring
the performance thread reads.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from csws import __version__
from csws._bridge import Wake
from csws._ring import Ring
from csws.variables import BadMessage, Direction, Kind, VarSpec, decode

log = logging.getLogger("csws")


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
    clients: set[ServerConnection] = field(default_factory=set)

    def counters(self) -> dict[str, int]:
        """What a user sees at the end of the performance."""
        ring = self.ring
        lost = ring.lost if ring is not None else 0
        if self.spec.direction is Direction.TO_WEB:
            return {"sent": self.sent, "dropped": self.dropped + lost}
        return {
            "received": self.received,
            "rejected": self.rejected,
            "dropped": lost,
            "underruns": ring.underruns if ring is not None else 0,
        }

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


class PortServer:
    """The websocket server on one port, shared by every instance using it."""

    def __init__(self, port: int, csound: int, logger, ksmps: int, sr: float) -> None:
        self.port = port
        self.csound = csound
        self.log = logger
        self.ksmps = ksmps
        self.sr = sr
        self.variables: dict[str, Variable] = {}
        self.wake = Wake()
        self._server: Server | None = None
        self._nclients = 0
        self._warned: set[str] = set()

    # ---- lifecycle (on the loop) ----

    async def start(self, host: str) -> None:
        self._server = await serve(
            self._handle,
            host,
            self.port,
            select_subprotocol=self._select,
            process_request=self._process_request,
            compression=None,  # audio does not deflate; browsers ask by default
            max_size=None,  # each variable checks its own size
            server_header=f"csws/{__version__}",
            close_timeout=0.5,
            logger=log,
        )
        asyncio.get_running_loop().add_reader(self.wake.reader, self._on_wake)

    async def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.wake.reader)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.wake.close()

    def add(self, variables: list[Variable]) -> None:
        for var in variables:
            self.variables[var.spec.name] = var

    async def remove(self, variables: list[Variable]) -> None:
        closing = []
        for var in variables:
            self.variables.pop(var.spec.name, None)
            closing += [ws.close(1001, "the instrument ended") for ws in var.clients]
        await asyncio.gather(*closing, return_exceptions=True)

    # ---- HTTP and handshake ----

    def _select(self, connection: ServerConnection, offered) -> str | None:
        return next((p for p in offered if p in self.variables), None)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return self._http(connection, request)
        offered = [
            p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")
        ]
        if not any(p in self.variables for p in offered):
            asked = ", ".join(offered) or "none"
            body = (
                f"csws: no variable named by the subprotocol ({asked}); "
                f"on offer: {', '.join(sorted(self.variables)) or 'nothing yet'}\n"
            )
            return connection.respond(HTTPStatus.BAD_REQUEST, body)
        return None

    def _http(self, connection: ServerConnection, request: Request) -> Response:
        if request.path.split("?")[0] == "/csws.json":
            body = json.dumps(self.describe(), indent=1).encode()
            headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return Response(200, "OK", headers, body)
        return connection.respond(HTTPStatus.NOT_FOUND, "csws: not found\n")

    def describe(self) -> dict:
        return {
            "server": f"csws/{__version__}",
            "sr": self.sr,
            "ksmps": self.ksmps,
            "myflt_bytes": 8,
            "variables": [v.spec.describe(self.ksmps) for v in self.variables.values()],
        }

    # ---- clients ----

    async def _handle(self, ws: ServerConnection) -> None:
        var = self.variables.get(ws.subprotocol or "")
        if var is None:  # the instrument ended during the handshake
            await ws.close(1001, "the variable went away")
            return
        self._join(var, ws)
        try:
            async for message in ws:
                if var.spec.direction is Direction.FROM_WEB and var.ring is not None:
                    self._receive(var, message)
        except ConnectionClosed:
            pass
        finally:
            self._leave(var, ws)

    def _join(self, var: Variable, ws: ServerConnection) -> None:
        if var.spec.direction is Direction.TO_WEB:
            if not var.clients and var.ring is not None:
                var.ring.skip_to_head()  # a first reader wants fresh data, not a backlog
            first = var.latest_message()
            if first is not None:
                broadcast([ws], first)
                var.sent += 1
        var.clients.add(ws)
        self._nclients += 1
        self.wake.set_clients(self._nclients)

    def _leave(self, var: Variable, ws: ServerConnection) -> None:
        if ws in var.clients:
            var.clients.discard(ws)
            self._nclients -= 1
            self.wake.set_clients(self._nclients)

    def _receive(self, var: Variable, message: bytes | str) -> None:
        try:
            var.ring.write(decode(var.spec, message))
            var.received += 1
        except BadMessage as e:
            var.rejected += 1
            if var.spec.name not in self._warned:  # once per variable: no log floods
                self._warned.add(var.spec.name)
                self.log(f"csws: port {self.port}: {e} (dropped; further ones are only counted)", True)

    # ---- data to the web ----

    def _on_wake(self) -> None:
        self.wake.clear()
        for var in self.variables.values():
            if var.clients and var.ring is not None and var.spec.direction is Direction.TO_WEB:
                for frame in var.ring.read_new():
                    self._fan_out(var, frame)

    def _fan_out(self, var: Variable, frame: bytes) -> None:
        message = frame.decode("utf-8", "replace") if var.spec.kind is Kind.S else frame
        ready = []
        for ws in var.clients:
            if ws.transport.get_write_buffer_size() > var.send_limit:
                var.dropped += 1
            else:
                ready.append(ws)
        if ready:
            broadcast(ready, message)
            var.sent += len(ready)
