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
import logging
from http import HTTPStatus

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from csws import __version__, clients, http, security
from csws.port import Port, Variable
from csws.variables import MYFLT_BYTES, BadMessage, Direction, Kind, VarSpec, decode

log = logging.getLogger("csws")

WARN_INTERVAL = 5.0  # seconds between two warnings about the same variable or client trouble
TO_WEB_MAX_MESSAGE = 1024  # clients of a variable Csound sends have nothing to say: a small cap


def _set_max_size(protocol, size: int) -> None:
    """The largest message this connection accepts from now on (websockets' own check, 1009)."""
    if hasattr(protocol, "max_message_size"):  # websockets >= 15
        protocol.max_message_size = size
    else:
        protocol.max_size = size


def message_limit(spec: VarSpec, max_string: int) -> int:
    """Bytes of the largest message a client may send to a variable (bigger: close 1009).

    A float64 frame, or the same values as JSON text (up to 25 characters a
    number, brackets and commas); strings: the max_string setting.
    """
    if spec.direction is Direction.TO_WEB:
        return TO_WEB_MAX_MESSAGE
    if spec.kind is Kind.S:
        return max_string
    return max(spec.frame_bytes, 32 * spec.values + 64)


class PortServer:
    """The websocket server on one port, shared by every instance using it."""

    def __init__(self, port: Port) -> None:
        self.port = port.number
        self.csound = port.csound
        self.log = port.log
        self.ksmps = port.ksmps
        self.sr = port.sr
        self.settings = port.settings
        self.max_string = port.max_string
        self.variables = port.variables  # the port's own table: instances come and go in it
        self.wake = port.wake
        self._sockets = port.sockets
        self._servers: list[Server] = []
        self._nclients = 0
        self._throttle = security.Throttle(WARN_INTERVAL)

    # ---- lifecycle (on the loop) ----

    async def start(self) -> None:
        """Serve on the port's sockets (bound already, clients maybe waiting)."""
        for sock in self._sockets:
            self._servers.append(await serve(
                self._handle,
                sock=sock,
                select_subprotocol=self._select,
                process_request=self._process_request,
                compression=None,  # audio does not deflate; browsers ask by default
                # Until the variable is known, the largest message any variable here takes;
                # after the handshake, the connection's own variable's (_handle).
                create_connection=self._new_connection,
                open_timeout=self.settings.handshake_timeout,
                server_header=f"csws/{__version__}",
                close_timeout=0.5,
                logger=log,
            ))
        asyncio.get_running_loop().add_reader(self.wake.reader, self._on_wake)

    async def close(self) -> None:
        """Stop serving and close the sockets; the Port closes its wake-up."""
        asyncio.get_running_loop().remove_reader(self.wake.reader)
        for server in self._servers:
            server.close()
        await asyncio.gather(*(s.wait_closed() for s in self._servers))
        for sock in self._sockets:
            sock.close()  # asyncio closes what it served; none of them if start failed

    async def remove(self, variables: list[Variable]) -> None:
        closing = []
        for var in variables:
            self.variables.pop(var.spec.name, None)
            closing += [ws.close(1001, "the instrument ended") for ws in var.clients]
        await asyncio.gather(*closing, return_exceptions=True)

    # ---- HTTP and handshake ----

    def _new_connection(self, protocol, server, **kw) -> ServerConnection:
        limits = [message_limit(v.spec, self.max_string) for v in self.variables.values()]
        _set_max_size(protocol, max(limits, default=TO_WEB_MAX_MESSAGE))
        return ServerConnection(protocol, server, **kw)

    def _warn(self, key: str, text: str) -> None:
        """A Csound warning, at most one per key per WARN_INTERVAL (the rest counted)."""
        suppressed = self._throttle(key)
        if suppressed is not None:
            more = f" ({suppressed} more like it since the last warning)" if suppressed else ""
            self.log(text + more, True)

    def _select(self, connection: ServerConnection, offered) -> str | None:
        return next((p for p in offered if p in self.variables), None)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        refusal = security.check(
            self.port, request.headers, request.path, upgrade,
            listen_host=self.settings.host, token=self.settings.token, origins=self.settings.origins,
            public_paths=http.PACKAGED,
        )
        if refusal is not None:
            if refusal.warning:
                self._warn(refusal.key, refusal.warning)
            return connection.respond(refusal.status, refusal.body)
        if not upgrade:
            response = self._http(connection, request)
            if self.settings.token and "token=" in request.path and response.status_code == 200:
                # The page's own requests (scripts, websockets) then carry the token too.
                response.headers["Set-Cookie"] = security.token_cookie(self.settings.token)
            return response
        if self._nclients >= self.settings.max_clients:
            self._warn("full", f"csws: port {self.port}: {self._nclients} clients, the most "
                               f"CSWS_MAX_CLIENTS allows; refused another (HTTP 503)")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"csws: too many clients on this port (at most {self.settings.max_clients})\n")
        offered = [
            p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")
        ]
        if not any(p in self.variables for p in offered):
            asked = ", ".join(offered) or "none"
            on_offer = ", ".join(sorted(self.variables)) or "nothing yet"
            body = f"csws: no variable named by the subprotocol ({asked}); on offer: {on_offer}\n"
            # A browser sees only 1006, never this body: Csound's console has to say it.
            self._warn("subprotocol", f"csws: port {self.port}: refused a websocket asking for {asked} "
                                      f"(HTTP 400): no such variable; on offer: {on_offer}")
            return connection.respond(HTTPStatus.BAD_REQUEST, body)
        return None

    def _http(self, connection: ServerConnection, request: Request) -> Response:
        return http.respond(self, connection, request)  # /csws.json, /csws.js, pages: csws/http.py

    def describe(self) -> dict:
        return {
            "server": f"csws/{__version__}",
            "sr": self.sr,
            "ksmps": self.ksmps,
            "myflt_bytes": MYFLT_BYTES,
            "port": self.port,
            "variables": [v.spec.describe(self.ksmps) for v in self.variables.values()],
        }

    # ---- clients ----

    async def _handle(self, ws: ServerConnection) -> None:
        var = self.variables.get(ws.subprotocol or "")
        if var is None:  # the instrument ended during the handshake
            await ws.close(1001, "the variable went away")
            return
        if self._nclients >= self.settings.max_clients:  # handshakes that raced past the check
            await ws.close(1013, "too many clients, try again later")
            return
        limit = message_limit(var.spec, self.max_string)
        _set_max_size(ws.protocol, limit)
        self._join(var, ws)
        try:
            async for message in ws:
                # Only the first message can get past _set_max_size (the parser had begun it).
                if len(message) > limit or (isinstance(message, str) and len(message.encode()) > limit):
                    self._oversized(var, len(message), limit)
                    await ws.close(1009, f"message too big (at most {limit} bytes)")
                    break
                if var.spec.direction is Direction.TO_WEB:
                    await self._wrong_way(var, ws)
                    break
                if var.ring is not None:
                    self._receive(var, message)
        except ConnectionClosed as e:
            if e.sent is not None and e.sent.code == 1009:
                self._oversized(var, None, limit)
        finally:
            self._leave(var, ws)

    async def _wrong_way(self, var: Variable, ws: ServerConnection) -> None:
        """A message to a variable Csound only sends: close that client, saying so, rather than drop it."""
        var.rejected += 1
        self._warn(var.spec.name, f"csws: port {self.port}: a client sent a message to {var.spec.name}, which "
                                  "goes from Csound to the web; closed that client (1008)")
        await ws.close(1008, f"{var.spec.name} goes from Csound to the web: it takes no messages"[:120])

    def _oversized(self, var: Variable, size: int | None, limit: int) -> None:
        var.rejected += 1
        what = f"{size} bytes" if size is not None else "a message too big"
        self._warn(var.spec.name, f"csws: port {self.port}: {var.spec.name}: {what}, at most {limit}; "
                                  "closed that client (1009)")

    def _join(self, var: Variable, ws: ServerConnection) -> None:
        try:
            opts = clients.join(ws, var.spec)  # ?dtype=float32&frames=M (csws/clients.py)
        except clients.BadOption as e:
            self._warn(f"option:{var.spec.name}", f"csws: port {self.port}: {var.spec.name}: {e}; "
                                                  "closed that client (1008)")
            asyncio.ensure_future(ws.close(1008, str(e)[:120]))
            return
        if var.spec.direction is Direction.TO_WEB:
            if not var.clients and var.ring is not None:
                var.ring.skip_to_head()  # a first reader wants fresh data, not a backlog
            elif var.ring is not None:
                # Others read on: hand them what is pending first, so that the newcomer's
                # latest value is the last frame read and its stream goes on from there.
                for frame in var.ring.read_new():
                    self._fan_out(var, frame)
            first = var.latest_message()
            if first is not None:
                broadcast([ws], clients.convert(var.spec, first, opts.dtype))
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
            var.ring.write(decode(var.spec, message, self.max_string))
            var.received += 1
        except BadMessage as e:
            var.rejected += 1
            # Rate-limited per variable: a broken client must not flood Csound's messages.
            self._warn(var.spec.name, f"csws: port {self.port}: {e} (dropped)")

    # ---- data to the web ----

    def _on_wake(self) -> None:
        self.wake.clear()
        for var in self.variables.values():
            if var.clients and var.ring is not None and var.spec.direction is Direction.TO_WEB:
                for frame in var.ring.read_new():
                    self._fan_out(var, frame)

    def _fan_out(self, var: Variable, frame: bytes) -> None:
        message = frame.decode("utf-8", "replace") if var.spec.kind is Kind.S else frame
        sent, dropped = clients.deliver(var.spec, var.clients, message, var.send_limit)
        var.sent += sent
        var.dropped += dropped
