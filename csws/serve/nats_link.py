"""Csound's side of NATS: one port's link, on the I/O thread's loop.

With the `nats` setting, the port publishes every frame of its to-web
variables, its description and its channels under `csws.NAME.*`
(csws/protocol/nats_subjects.py), and takes frames, edges' tallies, channel
values and score lines from edges (csws/serve/edge.py).  Nothing here runs
on Csound's thread, and nothing waits for NATS where a frame is concerned:
the wake-up hands frames to a bounded outbox and returns; a task drains it
into nats-py, whose own buffer (small: PENDING_SIZE) holds what comes while
it reconnects.  What cannot go is dropped and counted.
"""
from __future__ import annotations

import asyncio
import importlib.util
import time
import uuid
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from csws.bridge.csound_api import Ended
from csws.protocol import control as control_protocol
from csws.protocol import nats_subjects as ns
from csws.protocol.combine import Tally
from csws.protocol.control import BadRequest
from csws.protocol.variables import BadMessage, Direction, Kind, decode

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from csws.bridge.csound_api import CsoundAPI
    from csws.bridge.port import Variable
    from csws.serve.server import PortServer

OUTBOX_BYTES = 1 << 20  # frames waiting for nats-py; beyond, new ones are dropped (counted)
PENDING_SIZE = 64 << 10  # bytes nats-py buffers while it reconnects (stale audio is of no use)
RECONNECT_WAIT = 0.25  # seconds between two attempts on one server
CONNECT_TIMEOUT = 1.0  # a stalled server (SIGSTOP) accepts the TCP connection and never answers
PING_INTERVAL = 1.0  # seconds; MAX_PINGS unanswered ones and the server is taken for stalled
MAX_PINGS = 2
FLUSH_TIMEOUT = 1.0  # seconds a publish waits on a full buffer (the drain task, never Csound)
CLOSE_TIMEOUT = 0.2  # the most the port's close waits for the bye and nats-py's close
YIELD_EVERY = 256  # frames published between two turns of the loop for everything else
CHECK_EVERY = 0.1  # seconds between two looks for a changed description

_UNSEEN = object()  # a channel's value before its first look
_names: set[str] = set()  # the stream names of this process's links (on the loop only)


class NatsLink:
    """A port's link to NATS: publishes its frames and description, takes the edges' input."""

    @classmethod
    def open(cls, server: PortServer) -> NatsLink | None:
        """The port's link, started; None (and one console line saying why) if it cannot be."""
        settings = server.settings
        try:
            name = ns.check_name(settings.nats_name or str(server.port))
        except ValueError as e:
            server.log(f"csws: port {server.port}: not on NATS: {e}", True)
            return None
        if name in _names:  # nats_name given, and another port of this process has it already
            name = ns.check_name(f"{name}-{server.port}")
            server.log(f"csws: port {server.port}: NATS stream name {settings.nats_name!r} is taken by "
                       f"another port here; this one is {name!r}", True)
        if importlib.util.find_spec("nats") is None:
            server.log(f"csws: port {server.port}: not on NATS: nats-py is not installed "
                       "(pip install 'csound-websocket[nats]'); websockets are served as usual", True)
            return None
        _names.add(name)
        link = cls(server, name, [u.strip() for u in settings.nats.split(",") if u.strip()])
        link._tasks.append(asyncio.ensure_future(link._run()))
        return link

    def __init__(self, server: PortServer, name: str, urls: list[str]) -> None:
        self.server = server
        self.name = name
        self.urls = urls
        self.run = uuid.uuid4().hex  # this server's life: an edge seeing a new one knows Csound restarted
        self.published = self.dropped = self.received = self.rejected = 0
        self._nc: Client | None = None
        self._up = False  # connected once: nats-py reconnects from then on
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._queued = 0  # bytes in _outbox
        self._ready = asyncio.Event()
        self._subjects: dict[str, str] = {}  # variable -> its out subject
        self._tallies: dict[tuple[str, str], float] = {}  # (variable, edge) -> monotonic time of its last tally
        self._tasks: list[asyncio.Task] = []
        self._csd = _csd_text(server.settings.index_html)
        self._described = b""  # the description last published (without the time)
        self._last_describe = 0.0  # monotonic time it was
        self._values: dict[str, float | str] = {}  # every channel's value as last published

    # ---- what the port's server calls ----

    def publish_frames(self, var: Variable, frames: list[bytes]) -> None:
        """A wake's new frames of a to-web variable (on the loop, from _on_wake): queued, never awaited."""
        if not frames:
            return
        if not self._up:
            self.dropped += len(frames)
            return
        subject = self._subjects.get(var.spec.name)
        if subject is None:
            subject = self._subjects[var.spec.name] = ns.subject(self.name, ns.OUT, var.spec.name)
        for frame in frames:
            if self._queued + len(frame) > OUTBOX_BYTES:
                self.dropped += 1
                continue
            self._outbox.append((subject, frame))
            self._queued += len(frame)
        self._ready.set()

    def counters(self) -> dict[str, int]:
        return {"published": self.published, "dropped": self.dropped,
                "received": self.received, "rejected": self.rejected}

    def describe(self) -> dict:
        """/csws.json's "nats"."""
        connected = self._nc is not None and self._nc.is_connected
        return {"servers": self.urls, "connected": connected, "name": self.name, **self.counters()}

    async def close(self) -> None:
        """The port closes (the performance, or its last note, ended): say bye, let go (bounded)."""
        _names.discard(self.name)
        for task in self._tasks:
            task.cancel()
        nc, self._up = self._nc, False
        if nc is None or nc.is_closed:
            return

        async def bye() -> None:
            if nc.is_connected:
                await self._publish_outbox(None)  # the last wake's frames, then the bye
                await nc.publish(ns.subject(self.name, ns.BYE), ns.encode_json({"run": self.run}))
                await nc.flush(timeout=1)
            await nc.close()

        task = asyncio.ensure_future(bye())
        await asyncio.wait([task], timeout=CLOSE_TIMEOUT)
        if not task.done():
            task.cancel()  # a stalled server: the loop's end reaps the rest
        elif not task.cancelled():
            task.exception()  # a lost server's error: nothing left to tell it

    # ---- the connection ----

    def _warn(self, key: str, text: str) -> None:
        self.server._warn(f"nats {key}", f"csws: port {self.server.port}: NATS: {text}")

    async def _run(self) -> None:
        import nats  # on the I/O thread: Csound's thread never imports it

        nc = self._nc = nats.NATS()
        try:
            await nc.connect(  # retried by nats-py until a server answers
                servers=self.urls, name=f"csws {self.name}", allow_reconnect=True, max_reconnect_attempts=-1,
                reconnect_time_wait=RECONNECT_WAIT, connect_timeout=CONNECT_TIMEOUT, ping_interval=PING_INTERVAL,
                max_outstanding_pings=MAX_PINGS, pending_size=PENDING_SIZE, flush_timeout=FLUSH_TIMEOUT,
                error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected)
            await nc.subscribe(ns.wildcard(self.name, ns.IN), cb=self._on_in)
            await nc.subscribe(ns.wildcard(self.name, ns.TALLY), cb=self._on_tally)
            await nc.subscribe(ns.subject(self.name, ns.SET), cb=self._on_set)
            await nc.subscribe(ns.subject(self.name, ns.SCORE), cb=self._on_score)
            await nc.subscribe(ns.subject(self.name, ns.HELLO), cb=self._on_hello)
        except Exception as e:  # noqa: BLE001 - a URL nats-py cannot use, say: one line, not a traceback
            self.server.log(f"csws: port {self.server.port}: not on NATS: {_why(e)}", True)
            return
        self.server.log(f"csws: port {self.server.port}: on NATS at {_url(nc)} as {ns.subject(self.name, '*')}")
        self._up = True
        self._tasks += [asyncio.ensure_future(self._drain()), asyncio.ensure_future(self._watch()),
                        asyncio.ensure_future(self._poll_channels())]

    async def _on_error(self, e: Exception) -> None:
        if not self._up:  # the first connect: nats-py retries in the background
            self._warn("connect", f"cannot reach {', '.join(self.urls)} ({_why(e)}); "
                                  "retrying, Csound plays on; frames are dropped until then")
        else:
            self._warn("error", _why(e))

    async def _on_disconnected(self) -> None:
        if self._up:
            self._warn("lost", "lost the server; reconnecting (frames meanwhile are dropped)")

    async def _on_reconnected(self) -> None:
        self.server.log(f"csws: port {self.server.port}: NATS: reconnected to {_url(self._nc)}")
        await self._describe(force=True)

    async def _drain(self) -> None:
        """Frames from the outbox into nats-py, in order; what it refuses is dropped (counted)."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self._publish_outbox(YIELD_EVERY)

    async def _publish_outbox(self, turn: int | None) -> None:
        """Everything in the outbox into nats-py, letting the loop turn every `turn` frames."""
        import nats.errors

        nc, n = self._nc, 0
        while self._outbox:
            subject, frame = self._outbox.popleft()
            self._queued -= len(frame)
            try:
                await nc.publish(subject, frame)  # appends to its buffer (awaits only when it is full)
                self.published += 1
            except nats.errors.Error:  # its reconnect buffer is full, the frame too big...
                self.dropped += 1
            n += 1
            if turn and n % turn == 0:
                await asyncio.sleep(0)  # a long backlog must not hold up the websocket clients

    async def _publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        """A message other than a frame: when it cannot go, the next heartbeat says it again."""
        import nats.errors

        try:
            await self._nc.publish(reply or subject, payload)
        except nats.errors.Error:
            pass

    # ---- Csound -> edges: description, i-rate values, channels ----

    def _description(self) -> tuple[dict, bytes]:
        """server.describe() without its "nats" (counters change all the time), and its JSON."""
        d = self.server.describe()
        d.pop("nats", None)
        return d, ns.encode_json(d)

    def _message(self, d: dict) -> bytes:
        """A describe message: the description and this life's run, Csound's engine and time."""
        api = self._api()
        engine, now = None, None
        if api is not None:
            try:
                e = api.engine()
                engine, now = {"nchnls": e["nchnls"], "0dbfs": e["0dbfs"]}, api.score_time()
            except Ended:
                pass
        extra = {"csd": self._csd} if self._csd is not None else {}
        return ns.encode_json({**d, "run": self.run, "engine": engine, "time": now, **extra})

    def _api(self) -> CsoundAPI | None:
        """Csound's API, or None while it is not there (ending, or not loadable here)."""
        try:
            return self.server.control.api
        except Ended:
            return None

    async def _describe(self, force: bool = False) -> None:
        """Publish the description if it changed (or force), then the i-rate variables' values and
        every channel's (a late edge has them within a heartbeat)."""
        d, key = self._description()
        if not force and key == self._described:
            return
        self._described = key
        self._last_describe = time.monotonic()
        await self._publish(ns.subject(self.name, ns.DESCRIBE), self._message(d))
        for var in self.server.variables.values():
            if var.spec.kind.is_init and var.spec.direction is Direction.TO_WEB:
                first = var.latest_message()
                if first is not None:
                    data = first.encode() if isinstance(first, str) else bytes(first)
                    await self._publish(ns.subject(self.name, ns.OUT, var.spec.name), data)
        if self._values:
            await self._publish(ns.subject(self.name, ns.CHAN), ns.encode_values(self._values))

    async def _watch(self) -> None:
        """Describe on change and every HEARTBEAT; edges' tallies stop counting GONE_AFTER their last."""
        while True:
            due = time.monotonic() - self._last_describe >= ns.HEARTBEAT
            try:
                await self._describe(force=due)
            except Exception as e:  # noqa: BLE001 - a bug must not stop the heartbeat for good
                self._warn("describe", f"describing the port failed: {e!r}")
            self._expire_tallies()
            await asyncio.sleep(CHECK_EVERY)

    async def _poll_channels(self) -> None:
        """Every channel, once a k-cycle (at most every 2 ms): the changed ones go out on chan."""
        control = self.server.control
        values = self._values
        while True:
            await asyncio.sleep(control.period)
            api = self._api()
            if api is None or not self._nc.is_connected:
                continue
            try:
                control.refresh()
                changed = {}
                for name, ch in control.channels.items():
                    v = api.get(ch)
                    old = values.get(name, _UNSEEN)
                    if old is _UNSEEN or not (old == v or (old != old and v != v)):  # a nan stays a nan
                        values[name] = changed[name] = v
            except Ended:
                continue
            if changed:
                await self._publish(ns.subject(self.name, ns.CHAN), ns.encode_values(changed))

    # ---- edges -> Csound ----

    def _reject(self, key: str, text: str) -> None:
        self.rejected += 1
        self._warn(key, f"{text} (dropped)")

    async def _on_hello(self, msg: Msg) -> None:
        if msg.reply:
            d, _ = self._description()
            await self._publish("", self._message(d), reply=msg.reply)

    async def _on_in(self, msg: Msg) -> None:
        """A frame for a from-web variable: checked as a websocket client's, then into the ring."""
        try:
            _, _, name = ns.parse(msg.subject)
        except ValueError:
            return
        var = self.server.variables.get(name or "")
        if var is None or var.spec.direction is not Direction.FROM_WEB or var.ring is None:
            why = "no such variable" if var is None else "it takes nothing from the web"
            self._reject(f"in {name}", f"a frame on {msg.subject}: {why}")
            return
        try:
            frame = decode(var.current_spec(), msg.data, self.server.max_string)
        except BadMessage as e:
            var.rejected += 1
            self._reject(f"in {name}", f"{msg.subject}: {e}")
            return
        if not self.server.crowds.receive(var, ("nats", None), frame):  # combined: counts as one client
            self.server._write(var, frame)
        var.received += 1
        self.received += 1

    async def _on_tally(self, msg: Msg) -> None:
        """An edge's tally of its clients of a combined variable: counted as if they were here."""
        try:
            _, _, name = ns.parse(msg.subject)
            var = self.server.variables.get(name or "")
            if var is None or var.spec.kind not in (Kind.K, Kind.KARR) or var.spec.direction is not Direction.FROM_WEB:
                raise ValueError("no combined variable of that name")
            message = ns.decode_json(msg.data)
            edge = str(message["edge"])
            tally = Tally.from_json(message["tally"], var.current_spec().values)
        except (ValueError, KeyError, TypeError) as e:
            self._reject("tally", f"a tally on {msg.subject}: {e}")
            return
        if not self.server.crowds.count_tally(var, ("edge", edge), tally):
            self._reject(f"tally {name}", f"a tally on {msg.subject}, but {name} does not combine its clients "
                                          f"(websocket_config \"combine.{name}\")")
            return
        self._tallies[(name, edge)] = time.monotonic()
        self.received += 1

    def _expire_tallies(self) -> None:
        now = time.monotonic()
        for key, since in list(self._tallies.items()):
            if now - since > ns.GONE_AFTER:
                del self._tallies[key]
                var = self.server.variables.get(key[0])
                if var is not None:
                    self.server.crowds.leave(var, ("edge", key[1]))

    async def _on_set(self, msg: Msg) -> None:
        """Channel values, checked as the control socket's set: all or none."""
        control = self.server.control
        try:
            values = ns.decode_values(msg.data)
            if not values:
                raise ValueError("no values")
            control.set_values(values, None)
        except (ValueError, BadRequest, Ended) as e:
            self._reject("set", f"set: {e}")
            return
        self.received += 1

    async def _on_score(self, msg: Msg) -> None:
        """A score line (never orchestra code: that is not taken over NATS)."""
        try:
            text = msg.data.decode("utf-8")
            self.server.control.api.score(control_protocol.check_score(text, None))
        except (UnicodeDecodeError, BadRequest, Ended) as e:
            self._reject("score", f"score: {e}")
            return
        self.received += 1


def _url(nc: Client) -> str:
    url = nc.connected_url
    return url.geturl() if url else "a server"


def _why(e: Exception) -> str:
    """An error as one short phrase (nats-py's timeouts say nothing of themselves)."""
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _csd_text(index_html: str) -> str | None:
    """The .csd the port's page comes from (an edge serves its faces too), or None."""
    if not index_html.lower().endswith(".csd"):
        return None
    try:
        return Path(index_html).read_text("utf-8", "replace")
    except OSError:
        return None
