"""The control socket on one port (subprotocol csws.control): Csound's channels,
score events and code, for pages and programs (docs/protocol.md).

Runs on the I/O thread's loop.  Csound is reached only through its own
thread-safe calls (csws/bridge/csound_api.py): a page's write is one atomic
store into the channel, which Csound's performance thread reads at its next
k-cycle, latest wins.  While anyone watches, a poll reads the watched channels
once a k-cycle (at most every POLL_FLOOR seconds) and sends each watcher the
channels that changed since it was last sent them, newest values only: a
watcher that reads slowly skips values, never holds anyone up.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.connection import broadcast
from websockets.exceptions import ConnectionClosed

from csws import __version__
from csws.bridge.csound_api import Channel, CsoundAPI, Ended, TooLong
from csws.protocol import control
from csws.protocol.control import BadRequest, Request

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from csws.bridge.port import Port
    from csws.serve.server import PortServer

POLL_FLOOR = 0.002  # seconds: the fastest poll, whatever the k-rate
LIST_EVERY = 0.5  # seconds between two looks for channels made since (a new note's chnget)
SEND_LIMIT = 64 << 10  # bytes a watcher may have queued before it is skipped until it catches up
RATE = 1000.0  # requests a second a page may keep up ...
BURST = 2000.0  # ... after this many at once; beyond: closed with 1008


@dataclass(eq=False)
class Watcher:
    """One page on the control socket: what it watches, and what it is owed."""

    ws: Any
    names: set[str] = field(default_factory=set)
    everything: bool = False  # watching "*"
    owed: set[str] = field(default_factory=set)  # changed since last sent to it
    tokens: float = BURST
    refilled: float = field(default_factory=time.monotonic)

    def watches(self, name: str) -> bool:
        return self.everything or name in self.names

    def take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.refilled) * RATE)
        self.refilled = now
        self.tokens -= 1
        return self.tokens >= 0


def _same(a: float | str, b: float | str) -> bool:
    return a == b or (a != a and b != b)  # a nan stays a nan: no news


def _jsonable(value: float | str) -> float | str | None:
    """JSON has no nan or inf: a channel holding one shows null."""
    return value if isinstance(value, str) or math.isfinite(value) else None


class Control:
    """The port's control socket: every page on it, and the poll while any watches."""

    def __init__(self, server: PortServer, port: Port) -> None:
        self.server = server
        self.port = port
        self.counters = port.control
        self.unavailable: str | None = None
        self.watchers: dict[Any, Watcher] = {}
        self.channels: dict[str, Channel] = {}
        self.last: dict[str, float | str] = {}  # each channel's value as last sent to the web
        self._listed = 0.0
        self._poll: asyncio.Task | None = None

    @property
    def api(self) -> CsoundAPI:
        """Csound's API; Ended, saying why, when it is not here or Csound is ending."""
        if self.unavailable is None:
            try:
                api = self.port.csound_api()
            except (OSError, AttributeError) as e:  # no such library, or not Csound's
                self.unavailable = f"Csound's channels are not available here: {e}"
                self.server.log(f"csws: port {self.server.port}: {self.unavailable}", True)
            else:
                if api is not None:
                    return api
                raise Ended("Csound has ended")
        raise Ended(self.unavailable)

    @property
    def period(self) -> float:
        return max(self.server.ksmps / self.server.sr, POLL_FLOOR)

    def code_refusal(self) -> str | None:
        """Why orchestra code from the web is refused on this port, or None."""
        if not self.server.settings.allow_code:
            return ("orchestra code from the web is off: start with csws run --allow-code, or "
                    "websocket_config \"allow_code\", \"1\" (docs/settings.md)")
        if not self.server.loopback and not self.server.settings.token:
            return "orchestra code from the web needs a token on a port open to the network (CSWS_TOKEN)"
        return None

    # ---- the channel table ----

    def refresh(self, force: bool = False) -> bool:
        """Look for new channels (at most every LIST_EVERY unless forced); True if the list changed."""
        now = time.monotonic()
        if not force and now - self._listed < LIST_EVERY:
            return False
        self._listed = now
        fresh = self.api.channels()
        changed, self.channels = fresh != self.channels, fresh
        return changed

    def describe(self) -> list[dict]:
        try:
            self.refresh()
        except Ended:
            pass  # the channels as last seen
        return self.describe_all()

    def describe_all(self) -> list[dict]:
        return [c.describe() for c in self.channels.values()]

    def channel(self, name: str, rid: Any) -> Channel:
        if name not in self.channels:
            self.refresh(force=True)
        ch = self.channels.get(name)
        if ch is None:
            known = ", ".join(sorted(self.channels)) or "none yet"
            raise BadRequest(f"no channel named {name!r}; Csound's channels: {known}"[:400], rid)
        return ch

    def set_values(self, values: dict[str, Any], rid: Any) -> list[tuple[Channel, float | str]]:
        """Write channels, all or none: every value is checked first (BadRequest saying what is
        wrong); the values as written.  For pages here and, over NATS, edges' pages."""
        channels = [(self.channel(n, rid), v) for n, v in values.items()]
        checked = [(ch, control.check_value(ch, v, rid)) for ch, v in channels]
        try:
            for ch, v in checked:
                self.api.check_fits(ch, v)
        except TooLong as e:
            raise BadRequest(str(e), rid) from None
        for ch, v in checked:
            self.api.set(ch, v)
        return checked

    # ---- a page ----

    async def handle(self, ws: ServerConnection) -> None:
        w = self.watchers[ws] = Watcher(ws)
        try:
            hello = {"server": f"csws/{__version__}", "sr": self.server.sr, "ksmps": self.server.ksmps,
                     "nchnls": None, "0dbfs": None, "code": self.code_refusal() is None}
            try:
                self.refresh(force=True)
                engine = self.api.engine()
                hello.update(nchnls=engine["nchnls"], **{"0dbfs": engine["0dbfs"]})
            except Ended as e:
                hello["error"] = str(e)
            hello["channels"] = self.describe_all()
            await ws.send(control.push("hello", **hello))
            async for message in ws:
                if not w.take_token():
                    self._refuse("flood", "a page sent more than 1000 requests a second; closed it (1008)")
                    await ws.close(1008, "too many requests")
                    break
                await self._request(w, message)
        except ConnectionClosed:
            pass
        finally:
            del self.watchers[ws]

    def _refuse(self, key: str, text: str) -> None:
        self.counters.rejected += 1
        self.server._warn(f"control {key}", f"csws: port {self.server.port}: csws.control: {text}")

    async def _request(self, w: Watcher, message: str | bytes) -> None:
        rid = None
        try:
            req = control.parse(message)
            rid = req.rid
            try:
                ok = await self._do(w, req)
            except Ended as e:
                raise BadRequest(str(e), rid) from None
            self.counters.received += 1
            if rid is not None:
                await w.ws.send(control.answer(rid, ok))
                self.counters.sent += 1
        except BadRequest as e:
            self._refuse("request", f"{e} (refused)")
            await w.ws.send(control.error(e.rid if e.rid is not None else rid, str(e)))
            self.counters.sent += 1

    async def _do(self, w: Watcher, req: Request) -> Any:
        op, rid = req.op, req.rid
        if op == "set":
            values = req.body.get("values")
            if not isinstance(values, dict) or not values:
                raise BadRequest("set needs \"values\": {name: value, ...}", rid)
            for ch, v in self.set_values(values, rid):
                self.last[ch.name] = v
                for other in self.watchers.values():
                    if other is not w and other.watches(ch.name):
                        other.owed.add(ch.name)
            self._start_poll()
            return None
        if op == "get":
            return {n: _jsonable(self.api.get(self.channel(n, rid))) for n in control.names(req)}
        if op == "watch":
            wanted = control.names(req, wildcard=True)
            if wanted is None:
                w.everything = True
                wanted = list(self.channels)
            for n in wanted:
                self.channel(n, rid)
            w.names.update(wanted)
            now = {n: self.api.get(self.channels[n]) for n in wanted}
            for n, v in now.items():
                self.last.setdefault(n, v)
            await w.ws.send(control.push("values", values={n: _jsonable(v) for n, v in now.items()}))
            self.counters.sent += 1
            self._start_poll()
            return None
        if op == "unwatch":
            wanted = control.names(req, wildcard=True)
            if wanted is None:
                w.everything = False
                w.names.clear()
            else:
                w.names.difference_update(wanted)
            w.owed.intersection_update(w.names)
            return None
        if op == "list":
            self.refresh(force=True)
            return self.describe_all()
        if op == "score":
            self.api.score(control.check_score(control.text(req), rid))
            return None
        if op in ("orc", "eval"):
            refusal = self.code_refusal()
            if refusal:
                raise BadRequest(refusal, rid)
            code = control.text(req)
            self._name_page(w, "orchestra code" if op == "orc" else "code to evaluate", len(code.encode()))
            call = self.api.compile_orc if op == "orc" else self.api.eval_code
            result = await asyncio.get_running_loop().run_in_executor(None, call, code)  # Csound compiles
            if op == "orc" and result != 0:
                raise BadRequest(f"Csound could not compile the code (error {result}): its console says why", rid)
            return _jsonable(result)
        if op == "message":
            line = control.text(req)[:control.MAX_MESSAGE_TEXT].replace("\n", " ")
            self.server._warn("page message", f"csws page: {line}")  # rate-limited like warnings
            return None
        return self.api.score_time()  # time

    def _name_page(self, w: Watcher, what: str, size: int) -> None:
        """Csound's console says which page sent code (it runs with Csound's rights)."""
        peer = w.ws.remote_address
        where = f"{peer[0]}:{peer[1]}" if peer else "an unknown address"
        origin = w.ws.request.headers.get("Origin") if w.ws.request is not None else None
        self.server.log(f"csws: port {self.server.port}: {what} ({size} bytes) from {where}"
                        + (f", page {origin}" if origin else ""))

    # ---- the poll ----

    def _start_poll(self) -> None:
        if self._poll is None or self._poll.done():
            self._poll = asyncio.ensure_future(self._polling())

    async def _polling(self) -> None:
        loop = asyncio.get_running_loop()
        while any(w.names or w.everything for w in self.watchers.values()):
            start = loop.time()
            try:
                self.tick()
            except Ended:
                return  # Csound is ending: its channels may be gone
            # Once a period, the tick included; a tick longer than that still leaves the loop a
            # quarter period for everything else (pages, variables' streams).
            await asyncio.sleep(max(self.period - (loop.time() - start), self.period / 4))

    def tick(self) -> None:
        """One look at the watched channels; each watcher is sent what changed for it."""
        if self.refresh():
            everyone = [w for w in self.watchers.values() if w.everything]
            for w in everyone:
                w.names.update(self.channels)
            broadcast([w.ws for w in everyone], control.push("channels", channels=self.describe_all()))
            self.counters.sent += len(everyone)
        watched = set().union(*(w.names for w in self.watchers.values()))
        changed = []
        for name in watched:
            ch = self.channels.get(name)
            if ch is None:
                continue
            value = self.api.get(ch)
            if name not in self.last or not _same(self.last[name], value):
                self.last[name] = value
                changed.append(name)
        due: dict[frozenset[str], list[Any]] = {}  # pages owed the same channels get one message
        for w in self.watchers.values():
            w.owed.update(n for n in changed if n in w.names)
            if w.owed and w.ws.transport.get_write_buffer_size() < SEND_LIMIT:
                due.setdefault(frozenset(w.owed), []).append(w.ws)
                w.owed.clear()
        for names, conns in due.items():
            values = {n: _jsonable(self.last[n]) for n in names if n in self.last}
            broadcast(conns, control.push("values", values=values))  # written once, sent to each
            self.counters.sent += len(conns)
