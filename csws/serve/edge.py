"""An edge: a Csound port's websocket protocol served from NATS (csws edge, docs/edges.md).

A Csound with the `nats` setting publishes its port's description, frames and
channel changes (csws/serve/nats_link.py, subjects in
csws/protocol/nats_subjects.py).  Here an `EdgePort` stands in for the bridge's
Port: its variables are made from Csound's description, NATS frames are
written into their rings (the edge's loop is both ends of them), and the
unchanged PortServer machinery serves them: fan-out, fresh join, per-client
options, Opus (encoded here, once per variable and setting), pages, security.
`EdgeServer` changes only what goes the other way: a client's frame, a
crowd's tally, a channel or a score line is published for Csound instead of
written into its memory.
"""
from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import signal
import tempfile
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.connection import broadcast

from csws import __version__
from csws.bridge.csound_api import INPUT, OUTPUT, Channel, Ended
from csws.bridge.port import Port, Variable, resized
from csws.bridge.registry import add_counters, report_line
from csws.protocol import control as control_protocol
from csws.protocol import policy
from csws.protocol import nats_subjects as subjects
from csws.protocol.combine import Crowd
from csws.protocol.settings import Settings
from csws.protocol.variables import MAX_STRING, MYFLT_BYTES, Direction, Kind, VarSpec
from csws.serve import opus
from csws.serve.control import Control
from csws.serve.crowd import Crowds
from csws.serve.server import WARN_INTERVAL, PortServer

WAITING, RUNNING, GONE = "waiting", "running", "gone"  # Csound as an edge sees it
NO_CODE = "orchestra code is not taken through an edge: send it to Csound's own port"
_MODES = {"both": INPUT | OUTPUT, "to_web": OUTPUT, "from_web": INPUT}

Publish = Callable[[str, bytes], None]  # a message to NATS, never awaited (dropped and counted if it cannot go)


class RemoteCsoundAPI:
    """The calls the control socket makes (csws/bridge/csound_api.CsoundAPI's), answered from what
    Csound publishes and sent to it over NATS: an edge never waits for Csound."""

    def __init__(self, port: EdgePort) -> None:
        self._port = port
        self._channels: dict[str, Channel] = {}
        self.values: dict[str, float | str] = {}  # each channel's newest value Csound published

    def update(self, described: list[dict]) -> None:
        """Csound's channels, as its description lists them."""
        channels = {}
        for d in described:
            try:
                hints = {k: d.get(k) for k in ("behaviour", "default", "min", "max", "attributes")}
                channels[d["name"]] = Channel(d["name"], d["type"], _MODES.get(d.get("direction"), INPUT | OUTPUT),
                                              **{k: v for k, v in hints.items() if v is not None},
                                              **{k: int(d.get(k) or 0) for k in ("x", "y", "width", "height")})
            except (KeyError, TypeError, ValueError):
                continue  # not a channel's description: Csound would not send one
        self._channels = channels

    def _running(self) -> None:
        if self._port.state != RUNNING:
            raise Ended(f"Csound is {self._port.state} (this edge serves it once it runs)")

    def channels(self) -> dict[str, Channel]:
        return dict(self._channels)

    def get(self, channel: Channel) -> float | str:
        value = self.values.get(channel.name)
        if value is None:
            return "" if channel.type == "string" else (channel.default or 0.0)
        return value

    def set(self, channel: Channel, value: float | str) -> None:
        self._running()
        value = str(value) if channel.type == "string" else float(value)
        self.values[channel.name] = value
        self._port.publish(subjects.subject(self._port.name, subjects.SET),
                           subjects.encode_values({channel.name: value}))

    def check_fits(self, channel: Channel, value: float | str) -> None:
        """Csound checks a string's room itself (and warns): an edge cannot know it."""

    def score(self, text: str) -> None:
        self._running()
        self._port.publish(subjects.subject(self._port.name, subjects.SCORE), text.encode())

    def compile_orc(self, text: str) -> int:
        raise Ended(NO_CODE)

    def eval_code(self, text: str) -> float:
        raise Ended(NO_CODE)

    def score_time(self) -> float:
        desc = self._port.description or {}
        since = time.monotonic() - self._port.described_at if self._port.state == RUNNING else 0.0
        return float(desc.get("time", 0.0)) + since

    def engine(self) -> dict:
        engine = (self._port.description or {}).get("engine") or {}
        return {"sr": self._port.sr, "ksmps": self._port.ksmps, "nchnls": engine.get("nchnls"),
                "0dbfs": engine.get("0dbfs")}


class EdgeControl(Control):
    """The control socket at an edge: the same requests, Csound's side reached through NATS."""

    def code_refusal(self) -> str | None:
        return NO_CODE

    def tell(self, state: str) -> None:
        """Every page on the control socket hears that Csound went, or came back."""
        conns = [w.ws for w in self.watchers.values()]
        broadcast(conns, control_protocol.push("csound", state=state))
        self.counters.sent += len(conns)


class EdgeCrowds(Crowds):
    """An edge's crowds: each sends its tally to Csound (which counts it with the other edges' and
    its own clients') instead of writing a combination into a ring."""

    def __init__(self, port: EdgePort, variables: Callable[[], dict[str, Variable]], warn) -> None:
        super().__init__(port.config, variables, lambda var, frame: None, warn, port.number)
        self._edge = port

    def _settle(self, var: Variable, crowd: Crowd) -> None:
        tally = crowd.tally(var.current_spec().values)
        if not tally.count and var not in self._written:
            return  # nobody here has ever spoken: nothing to tell
        payload = subjects.encode_json({"edge": self._edge.edge_id, "tally": tally.to_json()})
        if payload != self._written.get(var):
            self._written[var] = payload
            self._edge.publish(subjects.subject(self._edge.name, subjects.TALLY, var.spec.name), payload)

    def heartbeat(self) -> None:
        """Every tally again: Csound forgets an edge's crowd it has not heard of for GONE_AFTER."""
        for var, payload in list(self._written.items()):
            if self._variables().get(var.spec.name) is var:
                self._edge.publish(subjects.subject(self._edge.name, subjects.TALLY, var.spec.name), payload)


class EdgeServer(PortServer):
    """PortServer, with what goes to Csound published on NATS."""

    def __init__(self, port: EdgePort) -> None:
        super().__init__(port)
        self.control = EdgeControl(self, port)
        self.crowds = EdgeCrowds(port, lambda: self.variables, self._warn)
        port.server = self

    def _write(self, var: Variable, frame: bytes) -> None:
        self._port.publish(subjects.subject(self._port.name, subjects.IN, var.spec.name), frame)

    def describe(self) -> dict:
        return self._port.describe_here()


class EdgePort(Port):
    """A Port whose variables and frames come from one Csound stream on NATS."""

    def __init__(self, number: int, name: str, edge_id: str, logger, settings: Settings, publish: Publish,
                 also: tuple[str, ...] = (), nats_stats: Callable[[], dict] = dict) -> None:
        super().__init__(number, 0, logger, 32, 48000.0, settings)  # sr, ksmps: Csound's, once it describes
        self.name = subjects.check_name(name)
        self.edge_id = edge_id
        self.also = list(also)
        self.publish = publish
        self.nats_stats = nats_stats  # the edge's connection: servers, connected, published, dropped
        self.api = RemoteCsoundAPI(self)
        self.state = WAITING
        self.description: dict | None = None
        self.described_at = 0.0
        self.run: str | None = None
        self._waking = False
        self._unread: dict[Variable, int] = {}  # frames written since the last fan-out
        self._csd: str | None = None  # the temp file holding Csound's .csd (its faces)
        self._csd_text: str | None = None  # what it holds
        self._totals: dict[tuple[int, str], dict] = {}  # counters of variables no longer on offer

    def csound_api(self) -> RemoteCsoundAPI:
        return self.api

    # ---- from NATS (on the edge's loop) ----

    def described(self, desc: dict) -> None:
        """Csound's description: variables, channels, engine; a new "run" is a restarted Csound."""
        try:
            sr, ksmps = float(desc["sr"]), int(desc["ksmps"])
            specs = [VarSpec.from_json(d, ksmps, self.settings.max_string or MAX_STRING) for d in desc["variables"]]
            combines = {d["name"]: d.get("combine") for d in desc["variables"]}
        except (KeyError, TypeError, ValueError) as e:
            self.log(f"csws edge: port {self.number}: a description of {self.name} that does not read: {e}", True)
            return
        server = self.server
        if (sr, ksmps) != (self.sr, self.ksmps):
            self.sr, self.ksmps = sr, ksmps
            if server is not None:
                server.sr, server.ksmps = sr, ksmps
        restarted = self.run is not None and desc.get("run") != self.run
        self.run = desc.get("run")
        table = dict(self.variables)
        gone = []
        for spec in specs:
            var = table.get(spec.name)
            if var is not None and (var.spec.kind, var.spec.direction, var.spec.ksmps) != \
                    (spec.kind, spec.direction, spec.ksmps):
                gone.append(table.pop(spec.name))
                var = None
            if var is None:
                table[spec.name] = self.variable(spec, 0, 0)
            elif spec.shape != var.spec.shape:
                self._reshape(var, spec.frame_bytes)
            elif restarted and var.ring is not None:
                var.ring.skip_to_head()  # the old run's frames are history
        names = {s.name for s in specs}
        gone += [table.pop(n) for n in list(table) if n not in names]
        for var in gone:
            self._count(var)
        # The crowds' rules as Csound has them (Crowds reads this mapping live).
        self.config.clear()
        for name, rule in combines.items():
            if isinstance(rule, dict) and rule.get("rule"):
                self.config[f"combine.{name}"] = str(rule["rule"])
                self.config[f"combine_window.{name}"] = str(rule.get("window", 0))
        self.variables = table
        self.api.update(desc.get("channels") or [])
        self.description, self.described_at = desc, time.monotonic()
        self._faces(desc.get("csd"))
        if server is not None:
            if gone:
                server.close_clients(gone, 1001, "the instrument ended")
            for name in names:  # a rule Csound changed applies at once
                server.crowds.reconsider(name)
        self._state(RUNNING)

    def _faces(self, csd: str | None) -> None:
        """A .csd Csound serves at / (its html, its panels): the edge serves it from a copy."""
        if not csd or self.server is None:
            return
        if csd == self._csd_text:
            return
        if self._csd is None:
            fd, self._csd = tempfile.mkstemp(prefix=f"csws-edge-{self.number}-", suffix=".csd")
            os.close(fd)
        with open(self._csd, "w", encoding="utf-8") as f:
            f.write(csd)
        self._csd_text = csd
        self.server.settings = dataclasses.replace(self.server.settings, index_html=self._csd)

    def _reshape(self, var: Variable, nbytes: int) -> None:
        var.spec = var._current = resized(var.spec, nbytes // MYFLT_BYTES)
        if var.ring is not None and nbytes > var.ring.capacity:
            self.grow(var, nbytes)

    def frame(self, name: str, payload: bytes) -> None:
        """One frame of a variable to the web: into its ring, and the fan-out soon (coalesced)."""
        var = self.variables.get(name)
        if var is None or var.spec.direction is not Direction.TO_WEB:
            return  # before the describe that offers it (a restarted Csound's first frames)
        if var.ring is None:  # i-rate: the value a client gets on joining
            if var.members.get(0) != payload:
                var.members = {0: payload}
                if self.server is not None:
                    self.server.announce([var])
            return
        kind = var.spec.kind
        if kind.is_array and len(payload) % MYFLT_BYTES == 0:
            if len(payload) != var.spec.frame_bytes:
                self._reshape(var, len(payload))
        elif (kind is Kind.S and len(payload) > var.ring.capacity) or \
                (kind is not Kind.S and len(payload) != var.ring.frame_bytes):
            var.dropped += 1
            return
        var.ring.write(payload)
        unread = self._unread[var] = self._unread.get(var, 0) + 1
        if unread * 2 >= var.ring.nslots:
            # nats-py hands a burst over without yielding to the loop: fan out before the ring laps.
            self._wake()
        elif not self._waking:
            self._waking = True
            asyncio.get_running_loop().call_soon(self._wake)

    def _wake(self) -> None:
        self._waking = False
        self._unread.clear()
        if self.server is not None:
            self.server._on_wake()

    def channels_changed(self, values: dict[str, float | str | None]) -> None:
        self.api.values.update({k: math.nan if v is None else v for k, v in values.items()})

    def ended(self, run: str | None) -> None:
        """Csound said bye (its performance ended); a late bye of an earlier run is history."""
        if run is None or run == self.run:
            self._state(GONE)

    def check(self) -> None:
        """Csound silent for GONE_AFTER: gone (killed, or NATS cut off)."""
        if self.state == RUNNING and time.monotonic() - self.described_at > subjects.GONE_AFTER:
            self._state(GONE)

    def _state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.log(f"csws edge: port {self.number}: Csound ({self.name}) is {state}", state != RUNNING)
        if self.server is not None:
            self.server.control.tell(state)

    # ---- what clients see ----

    def describe_here(self) -> dict:
        """/csws.json at this edge: Csound's description, this port, this edge."""
        desc = self.description
        if desc is None:
            body: dict[str, Any] = {"server": f"csws/{__version__}", "sr": self.sr, "ksmps": self.ksmps,
                                    "myflt_bytes": MYFLT_BYTES, "variables": [], "channels": []}
        else:
            body = {k: v for k, v in desc.items() if k not in ("csd", "nats")}  # Csound's own link's
        body.update(port=self.number, codecs=opus.codecs(),
                    edge={"id": self.edge_id, "name": self.name, "csound": self.state, "also": self.also,
                          "nats": self.nats_stats()})
        return body

    def _count(self, var: Variable) -> None:
        """A variable leaves the table: its counters go on into the edge's report."""
        add_counters(self._totals, self.number, var)

    def report(self) -> None:
        """Each variable's counters at this edge, in the lines Csound's own report has."""
        for var in self.variables.values():
            self._count(var)
        self.variables = {}
        for key, acc in sorted(self._totals.items()):
            self.log(report_line(key, acc))
        counts = self.control.counters()
        if any(counts.values()):
            self.log(report_line((self.number, "csws.control"), {"direction": "channels", **counts}))

    def close(self) -> None:
        super().close()
        if self._csd is not None:
            os.unlink(self._csd)
            self._csd = None


class Edge:
    """One edge process: a NATS connection and the ports it serves."""

    def __init__(self, servers: list[str], ports: list[tuple[int, str]], settings: Settings,
                 also: tuple[str, ...] = (), edge_id: str | None = None, logger=None) -> None:
        import uuid

        self.servers = servers
        self.edge_id = edge_id or uuid.uuid4().hex[:12]
        self.log = logger or _print
        self.published = 0
        self.dropped = 0  # messages for Csound that could not go (NATS unreachable, its buffer full)
        self.nc = None
        self.ports = [EdgePort(n, name, self.edge_id, self.log, settings, self.publish, also, self.stats)
                      for n, name in ports]
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._throttle = policy.Throttle(WARN_INTERVAL)

    def publish(self, subject: str, payload: bytes) -> None:
        """Never awaited by the caller: nats-py appends to its buffer (or refuses, counted)."""
        nc = self.nc
        if nc is None or nc.is_closed:
            self.dropped += 1
            return
        asyncio.ensure_future(self._send(nc, subject, payload))

    async def _send(self, nc, subject: str, payload: bytes) -> None:
        try:
            await nc.publish(subject, payload)
            self.published += 1
        except Exception:  # noqa: BLE001 - nats-py's errors while reconnecting: the message is lost, counted
            self.dropped += 1

    async def start(self) -> None:
        """Serve every port at once; NATS joins when it answers (Csound's pages say "waiting" until)."""
        for port in self.ports:
            await EdgeServer(port).start()
            self.log(f"csws edge {self.edge_id}: port {port.number} serves {port.name} "
                     f"({'https' if port.ssl else 'http'}://{port.settings.host}:{port.number}/)")
        self._tasks = [asyncio.ensure_future(self._connect()), asyncio.ensure_future(self._beat())]

    async def _connect(self) -> None:
        import nats

        wait = 0.25
        while True:
            try:
                self.nc = await nats.connect(
                    servers=self.servers, name=f"csws edge {self.edge_id}", allow_reconnect=True,
                    max_reconnect_attempts=-1, reconnect_time_wait=0.25, connect_timeout=1,
                    # A stalled server (SIGSTOP) keeps the connection open: pings notice it in ~3 s.
                    ping_interval=1, max_outstanding_pings=2,
                    pending_size=1 << 20, reconnected_cb=self._hello_all, error_cb=self._error,
                    disconnected_cb=self._disconnected)
                break
            except Exception as e:  # noqa: BLE001 - nats-py raises several kinds; all mean: try again
                await self._error(e)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)
        self.log(f"csws edge {self.edge_id}: connected to NATS at {self.nc.connected_url.netloc}")
        for port in self.ports:
            await self._subscribe(port)
        await self._hello_all()

    async def _subscribe(self, port: EdgePort) -> None:
        nc, name = self.nc, port.name

        async def describe(msg) -> None:
            try:
                port.described(subjects.decode_json(msg.data))
            except ValueError:
                pass

        async def bye(msg) -> None:
            try:
                port.ended(subjects.decode_json(msg.data).get("run"))
            except ValueError:
                port.ended(None)

        async def out(msg) -> None:
            port.frame(msg.subject.rpartition(".")[2], msg.data)

        async def chan(msg) -> None:
            try:
                port.channels_changed(subjects.decode_values(msg.data))
            except ValueError:
                pass

        await nc.subscribe(subjects.subject(name, subjects.DESCRIBE), cb=describe)
        await nc.subscribe(subjects.subject(name, subjects.BYE), cb=bye)
        await nc.subscribe(subjects.wildcard(name, subjects.OUT), cb=out, pending_msgs_limit=1 << 16)
        await nc.subscribe(subjects.subject(name, subjects.CHAN), cb=chan)

    async def _hello_all(self) -> None:
        for port in self.ports:
            asyncio.ensure_future(self._hello(port))

    async def _hello(self, port: EdgePort) -> None:
        """Ask Csound to describe itself now, rather than at its next heartbeat."""
        try:
            reply = await self.nc.request(subjects.subject(port.name, subjects.HELLO), b"", timeout=subjects.HEARTBEAT)
            port.described(subjects.decode_json(reply.data))
        except Exception:  # noqa: BLE001 - no Csound yet, or NATS away: its describe will come
            pass

    async def _error(self, e: Exception) -> None:
        """nats-py's errors, each attempt's while it reconnects: one line per kind every WARN_INTERVAL."""
        suppressed = self._throttle(type(e).__name__)
        if suppressed is not None:
            more = f" ({suppressed} more like it since)" if suppressed else ""
            self.log(f"csws edge {self.edge_id}: NATS: {e!r}{more}", True)

    async def _disconnected(self) -> None:
        if self._closing:
            return
        self.log(f"csws edge {self.edge_id}: NATS connection lost; reconnecting", True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(subjects.HEARTBEAT)
            for port in self.ports:
                port.check()
                if port.server is not None:
                    port.server.crowds.heartbeat()

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for port in self.ports:
            if port.server is not None:
                await port.server.close("the edge is closing")
            port.report()
            port.close()
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 1.0)
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    def stats(self) -> dict:
        """The edge's NATS connection, as /csws.json's "edge" shows it."""
        return {"servers": self.servers, "connected": bool(self.nc is not None and self.nc.is_connected),
                "published": self.published, "dropped": self.dropped}


def _print(text: str, warning: bool = False) -> None:
    import sys

    print(text, file=sys.stderr if warning else sys.stdout, flush=True)


def run(edge: Edge) -> None:
    """Serve until SIGINT or SIGTERM, then close (csws edge)."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await edge.start()
        await stop.wait()
        await edge.close()

    asyncio.run(serve())
