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
import errno
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.http11 import Request, Response

from csws import __version__
from csws.protocol import control as control_protocol
from csws.protocol import options, policy
from csws.serve import fanout, http, opus
from csws.serve.control import Control
from csws.serve.crowd import Crowds
from csws.bridge.port import Port, Variable
from csws.protocol.settings import Settings
from csws.protocol.variables import MYFLT_BYTES, BadMessage, Direction, Kind, VarSpec, decode

if TYPE_CHECKING:
    from csws.serve.nats_link import NatsLink

log = logging.getLogger("csws")

WARN_INTERVAL = 5.0  # seconds between two warnings about the same variable or client trouble
TO_WEB_MAX_MESSAGE = 1024  # clients of a variable Csound sends have nothing to say: a small cap
MAX_HTTP = 32  # plain HTTP answers under way per port: files being streamed hold their place
# An OSError while answering plain HTTP, as an HTTP status (others: 500).
OS_ERRORS = {
    errno.ENAMETOOLONG: HTTPStatus.REQUEST_URI_TOO_LONG,
    errno.ENOENT: HTTPStatus.NOT_FOUND,
    errno.ENOTDIR: HTTPStatus.NOT_FOUND,
    errno.EACCES: HTTPStatus.FORBIDDEN,
    errno.EPERM: HTTPStatus.FORBIDDEN,
    errno.EMFILE: HTTPStatus.SERVICE_UNAVAILABLE,  # out of file descriptors: try again later
    errno.ENFILE: HTTPStatus.SERVICE_UNAVAILABLE,
}
_servers: dict[int, PortServer] = {}  # by port number, for the loop's exception handler

CLOSE_TIMEOUT = 0.05  # seconds a client has to take its close frame before it is cut off


async def close_bounded(conns: Iterable[ServerConnection], code: int, reason: str) -> None:
    """Close clients with a code, cutting off (abort) those that do not take it in time:
    a frozen client must not keep a port, a note or Csound's end waiting."""
    conns = list(conns)
    if not conns:
        return
    tasks = [asyncio.ensure_future(ws.close(code, reason)) for ws in conns]
    await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
    for ws in conns:
        if ws.state is not State.CLOSED:
            ws.transport.abort()
    await asyncio.gather(*tasks, return_exceptions=True)


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
    if spec.kind.is_array:  # it may grow: its current size is checked message by message
        return options.MAX_MESSAGE
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
        self.loopback = port.loopback  # every address bound is loopback: the Host check applies
        self.max_string = port.settings.max_string
        self._port = port
        self.wake = port.wake
        self._sockets = port.sockets
        self._ssl = port.ssl
        self._servers: list[Server] = []
        self._accepting: list[asyncio.Task] = []  # TLS ports accept themselves (tls.serve)
        self._nclients = 0  # of variables (the perf routine wakes the I/O thread only for them)
        self._ncontrol = 0  # on the control socket
        self._nhttp = 0  # plain HTTP answers under way
        self._throttle = policy.Throttle(WARN_INTERVAL)
        self.control = Control(self, port)  # Csound's channels, score, code
        # combine.NAME: many clients, one value
        self.crowds = Crowds(port.config, lambda: self.variables, self._write, self._warn, self.port)
        self.reported_faces: set[str] = set()  # panels whose placeholders Csound's console heard of
        self.link: NatsLink | None = None  # the port's link to NATS, with the nats setting (link_to_nats)

    @property
    def variables(self) -> dict[str, Variable]:
        """The port's table as it is now (Csound's thread replaces it as notes come and go)."""
        return self._port.variables

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
                start_serving=self._ssl is None,
            ))
            if self._ssl is not None:
                from csws.serve import tls  # here: ssl is imported only where TLS is used (an embedded
                # Python may not load the venv's _ssl: Debian's csound brings its own libpython)

                # asyncio's own accept loop cannot answer plain http on a TLS port; ours hands
                # TLS clients to the protocol asyncio's would have made (websockets' factory).
                server = self._servers[-1]
                task = asyncio.ensure_future(
                    tls.serve(sock, server.server._protocol_factory, self._ssl, self.settings.handshake_timeout))
                self._accepting.append(task)
                # websockets refuses handshakes (503) unless its server is serving: it is, while ours accepts.
                server.is_serving = lambda task=task: not task.done()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.wake.reader, self._on_wake)
        _servers[self.port] = self
        loop.set_exception_handler(_loop_error)

    def link_to_nats(self) -> None:
        """Publish the port on NATS too (csws/serve/nats_link.py): its rings are read from now on."""
        from csws.serve.nats_link import NatsLink  # here: nats-py is imported only where NATS is used

        self.link = NatsLink.open(self)  # None if it cannot be (said why)
        self.wake.set_clients(self._readers())

    def _readers(self) -> int:
        """Who reads the rings: the perf routine wakes the I/O thread only while there is anyone."""
        return self._nclients + (self.link is not None)

    def stop_listening(self) -> None:
        """Close the listening sockets now: the port is free for whoever binds it next."""
        for task in self._accepting:
            task.cancel()
        for server in self._servers:
            server.server.close()
        for sock in self._sockets:
            sock.close()  # asyncio closes what it served; none of them if start failed

    async def close(self, reason: str = "the performance ended") -> None:
        """Stop serving, close every client (bounded) with 1001 and reason; the Port closes its wake-up."""
        if _servers.get(self.port) is self:
            del _servers[self.port]
        asyncio.get_running_loop().remove_reader(self.wake.reader)
        self.stop_listening()
        if self.link is not None:
            await self.link.close()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        conns = [ws for server in self._servers for ws in server.connections]
        await close_bounded(conns, 1001, reason)
        for server in self._servers:
            server.close(close_connections=False)
        await asyncio.wait([asyncio.ensure_future(s.wait_closed()) for s in self._servers] or
                           [asyncio.ensure_future(asyncio.sleep(0))], timeout=CLOSE_TIMEOUT)

    def close_clients(self, variables: list[Variable], code: int, reason: str) -> None:
        """Close the clients of variables taken off the port."""
        asyncio.ensure_future(close_bounded([ws for v in variables for ws in v.clients], code, reason))

    def announce(self, variables: list[Variable]) -> None:
        """The newest note's i-rate value, to the clients already there."""
        for var in variables:
            first = var.latest_message()
            if first is not None and var.clients:
                for ws in var.clients:
                    broadcast([ws], options.convert(var.spec, first, fanout.options(ws).dtype))
                var.sent += len(var.clients)

    # ---- HTTP and handshake ----

    def _new_connection(self, protocol, server, **kw) -> ServerConnection:
        limits = [message_limit(v.spec, self.max_string) for v in self.variables.values()]
        _set_max_size(protocol, max(limits, default=control_protocol.MAX_MESSAGE))
        return ServerConnection(protocol, server, **kw)

    def _warn(self, key: str, text: str) -> None:
        """A Csound warning, at most one per key per WARN_INTERVAL (the rest counted)."""
        suppressed = self._throttle(key)
        if suppressed is not None:
            more = f" ({suppressed} more like it since the last warning)" if suppressed else ""
            self.log(text + more, True)

    def _offers(self, name: str) -> bool:
        return name in self.variables or name == control_protocol.SUBPROTOCOL

    def _select(self, connection: ServerConnection, offered) -> str | None:
        return next((p for p in offered if self._offers(p)), None)

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The answer to a request (None: go on with the websocket handshake).

        Never raises: websockets would answer 500 and log a traceback in
        Csound's console for each request; a bad request gets a 4xx and at
        most one warning line per kind every WARN_INTERVAL.
        """
        try:
            return await self._answer(connection, request)
        except MultipleValuesError as e:  # Upgrade (the one header read with get() before the check)
            name = e.args[0] if e.args else "such"
            self._warn(f"duplicate {name}", f"csws: port {self.port}: refused a request with more than "
                                           f"one {name} header (HTTP 400)")
            return connection.respond(HTTPStatus.BAD_REQUEST, f"csws: more than one {name} header\n")
        except OSError as e:
            status = OS_ERRORS.get(e.errno, HTTPStatus.INTERNAL_SERVER_ERROR)
            if status is not HTTPStatus.NOT_FOUND:  # a missing file is no news
                self._warn(f"os {e.errno}", f"csws: port {self.port}: cannot answer a request: "
                                            f"{e.strerror or e} (HTTP {status.value})")
            return connection.respond(status, f"csws: {status.phrase.lower()}\n")
        except Exception as e:  # noqa: BLE001 - a bug: one line, not a traceback per request
            path = request.path.split("?", 1)[0][:100]  # the query may hold the token: not in the console
            self._warn(f"error {type(e).__name__}", f"csws: port {self.port}: answering {path!r} "
                                                    f"failed: {e!r} (HTTP 500)")
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "csws: internal error\n")

    async def _answer(self, connection: ServerConnection, request: Request) -> Response | None:
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        refusal = policy.check(
            self.port, request.headers, request.path, upgrade, loopback=self.loopback,
            token=self.settings.token, origins=self.settings.origins, guarded=http.GUARDED,
            scheme="https" if self._ssl else "http",
        )
        if refusal is not None:
            if refusal.warning:
                self._warn(refusal.key, refusal.warning)
            return connection.respond(refusal.status, refusal.body)
        if not upgrade:
            return await self._http(connection, request)
        if self._nclients + self._ncontrol >= self.settings.max_clients:
            self._warn("full", f"csws: port {self.port}: {self._nclients + self._ncontrol} clients, the most "
                               f"CSWS_MAX_CLIENTS allows; refused another (HTTP 503)")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"csws: too many clients on this port (at most {self.settings.max_clients})\n")
        offered = [
            p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")
        ]
        if not any(self._offers(p) for p in offered):
            asked = ", ".join(offered) or "none"
            on_offer = ", ".join(sorted(self.variables)) or "nothing yet"  # (and csws.control, always)
            body = f"csws: no variable named by the subprotocol ({asked}); on offer: {on_offer}\n"
            # A browser sees only 1006, never this body: Csound's console has to say it.
            self._warn("subprotocol", f"csws: port {self.port}: refused a websocket asking for {asked} "
                                      f"(HTTP 400): no such variable; on offer: {on_offer}")
            return connection.respond(HTTPStatus.BAD_REQUEST, body)
        return None

    async def _http(self, connection: ServerConnection, request: Request) -> Response:
        """/csws.json, /csws.js, pages (csws/serve/http.py); at most MAX_HTTP at a time."""
        if self._nhttp >= MAX_HTTP:
            self._warn("http busy", f"csws: port {self.port}: {MAX_HTTP} HTTP requests under way; "
                                    "refused another (HTTP 503)")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "csws: busy, try again\n")
        self._nhttp += 1
        try:
            answer = http.respond(self, connection, request)
            if isinstance(answer, http.StaticFile):
                await http.send_file(connection, answer)
                return answer.head  # sent already: websockets finds the connection closed
            return answer
        finally:
            self._nhttp -= 1

    def describe(self) -> dict:
        ranges = Settings.from_env(dict(self._port.config))  # websocket_config "range.NAME" lines so far
        return {
            "server": f"csws/{__version__}",
            "sr": self.sr,
            "ksmps": self.ksmps,
            "myflt_bytes": MYFLT_BYTES,
            "port": self.port,
            "codecs": opus.codecs(),  # for a-rate variables to the web: ?codec=opus
            "variables": [{**v.current_spec().describe(), "range": ranges.range_of(name),
                           "combine": self.crowds.describe(v)}
                          for name, v in self.variables.items()],
            "channels": self.control.describe(),
            **({"nats": self.link.describe()} if self.link is not None else {}),
        }

    # ---- clients ----

    async def _handle(self, ws: ServerConnection) -> None:
        if ws.subprotocol == control_protocol.SUBPROTOCOL:
            await self._handle_control(ws)
            return
        var = self.variables.get(ws.subprotocol or "")
        if var is None:  # the instrument ended during the handshake
            await ws.close(1001, "the variable went away")
            return
        if self._nclients + self._ncontrol >= self.settings.max_clients:  # handshakes that raced past the check
            await ws.close(1013, "too many clients, try again later")
            return
        limit = message_limit(var.spec, self.max_string)
        _set_max_size(ws.protocol, limit)
        if "codec=opus" in ws.request.path:  # the usual spelling; any other still works, with a stall
            await opus.load()
        self._join(var, ws)
        try:
            async for message in ws:
                if var.spec.kind.is_array and var.spec.direction is Direction.FROM_WEB:
                    now = var.current_spec()  # the array's size now
                    limit = max(now.frame_bytes, 32 * now.values + 64)
                # Only the first message can get past _set_max_size (the parser had begun it).
                if len(message) > limit or (isinstance(message, str) and len(message.encode()) > limit):
                    self._oversized(var, len(message), limit)
                    await ws.close(1009, f"message too big (at most {limit} bytes)")
                    break
                if var.spec.direction is Direction.TO_WEB:
                    await self._wrong_way(var, ws)
                    break
                if var.ring is not None:
                    self._receive(var, ws, message)
        except ConnectionClosed as e:
            if e.sent is not None and e.sent.code == 1009:
                self._oversized(var, None, limit)
        finally:
            self._leave(var, ws)

    async def _handle_control(self, ws: ServerConnection) -> None:
        """A page on the control socket: channels, score, code (csws/serve/control.py)."""
        if self._nclients + self._ncontrol >= self.settings.max_clients:
            await ws.close(1013, "too many clients, try again later")
            return
        _set_max_size(ws.protocol, control_protocol.MAX_MESSAGE)
        self._ncontrol += 1
        try:
            await self.control.handle(ws)
        finally:
            self._ncontrol -= 1

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
            opts = fanout.join(ws, var.spec)  # ?dtype=float32&frames=M&direction=to_web (csws/protocol/options.py)
            if opts.opus:
                opus.join(var, ws, opts, self.sr)  # the stream's header first
        except options.BadOption as e:
            if isinstance(e, options.WrongWay):
                var.rejected += 1  # a client of the wrong way round: counted like a message to a to-web one
                text = f"csws: port {self.port}: a client expected the other way: {e}; closed it (1008)"
            else:
                text = f"csws: port {self.port}: {var.spec.name}: {e}; closed that client (1008)"
            self._warn(f"option:{var.spec.name}", text)
            asyncio.ensure_future(ws.close(1008, str(e)[:120]))
            return
        if var.spec.direction is Direction.TO_WEB:
            if not var.clients and self.link is None and var.ring is not None:
                var.ring.skip_to_head()  # a first reader wants fresh data, not a backlog
            elif var.ring is not None:
                # Others read on: hand them what is pending first, so that the newcomer's
                # latest value is the last frame read and its stream goes on from there.
                outbox = fanout.Outbox()
                self._read(var, outbox)
                outbox.flush()
            first = var.latest_message()
            if first is not None:
                broadcast([ws], options.convert(var.spec, first, opts.dtype))
                var.sent += 1
        self.crowds.check(var)
        var.clients.add(ws)
        self._nclients += 1
        self.wake.set_clients(self._readers())

    def _leave(self, var: Variable, ws: ServerConnection) -> None:
        self.crowds.leave(var, ws)
        if ws in var.clients:
            var.clients.discard(ws)
            opus.leave(var, ws)
            self._nclients -= 1
            self.wake.set_clients(self._readers())

    def _receive(self, var: Variable, ws: ServerConnection, message: bytes | str) -> None:
        try:
            frame = decode(var.current_spec(), message, self.max_string)
            if not self.crowds.receive(var, ws, frame):  # combined: the crowd writes (csws/serve/crowd.py)
                self._write(var, frame)
            var.received += 1
        except BadMessage as e:
            var.rejected += 1
            # Rate-limited per variable: a broken client must not flood Csound's messages.
            self._warn(var.spec.name, f"csws: port {self.port}: {e} (dropped)")

    def _write(self, var: Variable, frame: bytes) -> None:
        """A frame from the web into the ring Csound's thread reads."""
        if var.spec.kind.is_array and len(frame) > var.ring.capacity:
            self._grow(var, len(frame))
        var.share.refill()  # strings: a spare buffer for a note whose output Csound shrank
        var.ring.write(frame)

    # ---- data to the web ----

    def _on_wake(self) -> None:
        """Every new frame of every variable, then one write per client of all that is due to it."""
        self.wake.clear()
        outbox = fanout.Outbox()
        for var in self.variables.values():
            var.share.refill()  # a note took the spare string buffer, or waits for one
            if (var.clients or self.link is not None) and var.ring is not None \
                    and var.spec.direction is Direction.TO_WEB:
                self._read(var, outbox)
                if var.spec.kind.is_array and var.share.want_bytes > var.ring.frame_bytes:
                    self._grow(var, var.share.want_bytes - var.ring.header)
        outbox.flush()

    def _read(self, var: Variable, outbox: fanout.Outbox) -> None:
        """A to-web variable's new frames: to NATS (if linked) and to its clients."""
        frames = var.ring.read_new()
        if self.link is not None:
            self.link.publish_frames(var, frames)
        if var.clients:
            self._fan_out(var, frames, outbox)

    def _grow(self, var: Variable, payload: int) -> None:
        """An array outgrew its ring's frames: a bigger ring, at the cost of a frame or two."""
        self._port.grow(var, payload)
        self._warn(f"grow:{var.spec.name}", f"csws: port {self.port}: {var.spec.name} grew to "
                                            f"{var.current_spec().shape}; its frames change size")

    def _fan_out(self, var: Variable, frames: list[bytes], outbox: fanout.Outbox) -> None:
        packets, lost = opus.feed(var, frames, outbox)  # codec=opus clients: one encoder per setting
        if var.spec.kind is Kind.S:
            frames = [f.decode("utf-8", "replace") for f in frames]
        sent, dropped = fanout.deliver(var.spec, var.clients, frames, var.send_limit, outbox)
        var.sent += sent + packets
        var.dropped += dropped + lost


def _loop_error(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """The loop's exception handler: out of file descriptors, asyncio's accept()
    logs a traceback every second per socket; one line per port and interval will do."""
    exc = context.get("exception")
    sock = context.get("socket")
    server = None
    if isinstance(exc, OSError) and sock is not None:
        try:
            server = _servers.get(sock.getsockname()[1])
        except (OSError, IndexError, TypeError):
            pass
    if server is None:
        loop.default_exception_handler(context)
        return
    server._warn(f"os {exc.errno}", f"csws: port {server.port}: {context.get('message', 'error')}: "
                                    f"{exc.strerror or exc}")
