"""The registry behind the plugin: opcode instances, ports and the I/O thread.

Called by csws._bridge from Csound's threads (init and deinit time, holding
the GIL); everything that touches sockets runs on one asyncio loop in a
daemon thread, started with the first server and stopped with the last.
"""
from __future__ import annotations

import asyncio
import errno
import itertools
import math
import os
import threading
from collections import defaultdict
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass

from csws._ring import Ring
from csws.config import Settings
from csws.server import PortServer, Variable
from csws.variables import Direction, Kind, VarSpec

RING_MAX_BYTES = 4 << 20  # ... but never more than this per variable
CONTROL_SLOTS = 4  # rings from the web for control data: the newest wins
START_TIMEOUT = 5.0
STOP_TIMEOUT = 1.0


@dataclass(eq=False)
class Instance:
    handle: int
    csound: int
    server: PortServer
    variables: list[Variable]


class IOThread:
    """An asyncio loop in a daemon thread, for every port of the process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="csws-io", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float):
        """Run a coroutine on the loop and wait for its result."""
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def stop(self) -> None:
        """End the thread, leaving no task, executor thread or socket behind."""
        try:
            self.run(_finish_loop(), STOP_TIMEOUT)
        except Exception:  # noqa: BLE001 - a stuck task must not keep Csound from exiting
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STOP_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


async def _finish_loop() -> None:
    # Handlers of clients that vanished may linger: cancel them, and end the
    # executor thread a name lookup (listening on "localhost") may have started.
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_default_executor()


_lock = threading.RLock()
_io: IOThread | None = None
_servers: dict[int, PortServer] = {}
_closing: dict[int, Future] = {}  # ports whose last instance ended: their close, under way
_instances: dict[int, Instance] = {}
# Ended instances whose clients the loop is still closing: they may send a last
# frame, so their counters are added to _totals only once that is done.
_ending: dict[int, tuple[Instance, Future]] = {}
_totals_lock = threading.Lock()  # never held while waiting for the loop
_totals: dict[int, dict[tuple[int, str], dict[str, int]]] = defaultdict(dict)
_loggers: dict[int, object] = {}
_config: dict[int, dict[str, str]] = {}  # per Csound: websocket_config's settings
_handles = itertools.count(1)


def _ring_for(spec: VarSpec, ksmps: int, sr: float, seconds: float) -> Ring | None:
    if spec.direction is Direction.TO_WEB and spec.kind.is_init:
        return None
    streamed = spec.direction is Direction.TO_WEB or spec.kind.is_audio
    if not streamed:
        return Ring(CONTROL_SLOTS, spec.frame_bytes, spec.kind is Kind.S)
    slots = math.ceil(seconds * sr / ksmps)
    slots = max(4, min(slots, RING_MAX_BYTES // max(spec.frame_bytes, 1)))
    return Ring(slots, spec.frame_bytes, spec.kind is Kind.S)


def _send_limit(spec: VarSpec, ksmps: int, sr: float, seconds: float) -> int:
    # A client may queue about as much of the stream as a ring holds before it loses frames.
    return max(64 << 10, int(spec.frame_bytes * sr / ksmps * seconds))


def attach(csound: int, logger, port: int, ksmps: int, sr: float, specs: list[VarSpec]) -> Instance:
    """Offer one opcode instance's variables on a port (starting its server)."""
    global _io
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"variable {dupes[0]} is given twice on port {port}")
    with _lock:
        settings = Settings.from_env(_config.get(csound))
        _loggers[csound] = logger
        server = _servers.get(port)
        if server is not None and server.csound != csound:
            raise OSError(f"port {port} is already used by another Csound instance in this process")
        variables = [
            Variable(s, _ring_for(s, ksmps, sr, settings.buffer_seconds),
                     _send_limit(s, ksmps, sr, settings.buffer_seconds))
            for s in specs
        ]
        if server is None:
            if _io is None:
                _io = IOThread()
            _wait_closed(port)  # the port's previous server must let go of it first
            server = PortServer(port, csound, logger, ksmps, sr, settings)
            # On offer before the port opens: no client can find it empty.
            server.add(variables)
            host = settings.host
            try:
                _io.run(server.start(host), START_TIMEOUT)
            except OSError as e:
                server.wake.close()
                # asyncio wraps the errno in a long sentence: say it plainly
                why = os.strerror(e.errno) if e.errno else str(e)
                if e.errno == errno.EADDRINUSE:
                    why += " (another program, or another Csound, listens on it)"
                raise OSError(f"cannot listen on {host}:{port}: {why}") from None
            _servers[port] = server
            logger(f"csws: websocket server on ws://{host}:{port}/")
        else:
            taken = [n for n in names if n in server.variables]
            if taken:
                which = f"variable {taken[0]} is" if len(taken) == 1 else f"variables {', '.join(taken)} are"
                raise ValueError(f"{which} already on offer on port {port} (by another instance)")
            # Registered before the perf routine can run: add() on the loop, waited for.
            _io.run(_call(server.add, variables), START_TIMEOUT)
        inst = Instance(next(_handles), csound, server, variables)
        _instances[inst.handle] = inst
        return inst


async def _call(fn, *args):
    return fn(*args)


def _add_counters(into: dict[tuple[int, str], dict[str, int]], inst: Instance) -> None:
    """Add an instance's counters per (port, variable) into a table."""
    for var in inst.variables:
        acc = into.setdefault((inst.server.port, var.spec.name), {"direction": var.spec.direction.name})
        for k, v in var.counters().items():
            acc[k] = acc.get(k, 0) + v


def _wait_closed(port: int) -> None:
    closing = _closing.pop(port, None)
    if closing is not None:
        try:
            closing.result(STOP_TIMEOUT + 1.0)
        except Exception:  # noqa: BLE001 - a failed close still freed what it could
            pass


async def _end(inst: Instance, last: bool) -> None:
    """On the loop: take an ended instance's variables off its port, then count
    them in the totals, which no frame can change any more; close a last port."""
    try:
        await inst.server.remove(inst.variables)
    finally:
        with _totals_lock:
            if _ending.pop(inst.handle, None) is not None:
                _add_counters(_totals[inst.csound], inst)
        if last:
            await inst.server.close()


def configure(csound: int, name: str, value: str) -> None:
    """websocket_config: a setting for the ports this Csound opens from now on."""
    Settings.check(name, value)
    with _lock:
        _config.setdefault(csound, {})[name] = value


def detach(handle: int) -> None:
    """An instance ended: its variables go away, its clients get 1001; the
    port closes with the last instance on it."""
    with _lock:
        inst = _instances.pop(handle, None)
        if inst is None:
            return
        server = inst.server
        last = _servers.get(server.port) is server and not any(i.server is server for i in _instances.values())
        # Never wait here: deinit runs in Csound's performance thread.
        with _totals_lock:
            future = asyncio.run_coroutine_threadsafe(_end(inst, last), _io.loop)
            _ending[inst.handle] = (inst, future)
        if last:
            del _servers[server.port]
            for port in [p for p, f in _closing.items() if f.done()]:
                del _closing[port]  # finished closes need no waiting for
            _closing[server.port] = future


def stats(csound: int | None = None) -> dict[tuple[int, str], dict[str, int]]:
    """Counters per (port, variable): ended instances' and live ones' together."""
    with _lock, _totals_lock:
        out: dict[tuple[int, str], dict[str, int]] = {}
        for cs, totals in _totals.items():
            if csound is None or cs == csound:
                for key, acc in totals.items():
                    out[key] = dict(acc)
        for inst in [*_instances.values(), *(i for i, _ in _ending.values())]:
            if csound is None or inst.csound == csound:
                _add_counters(out, inst)
        return out


def shutdown(csound: int) -> None:
    """Csound is cleaning up: report, close its ports, stop the thread if idle."""
    global _io
    # Ended instances' last frames belong in the report: let the loop finish them.
    futures_wait([f for i, f in list(_ending.values()) if i.csound == csound], STOP_TIMEOUT)
    with _lock:
        logger = _loggers.pop(csound, None)
        if logger is not None:
            for (port, name), acc in sorted(stats(csound).items()):
                parts = ", ".join(f"{k} {v}" for k, v in acc.items() if k != "direction")
                way = "to web" if acc["direction"] == "TO_WEB" else "from web"
                logger(f"csws: port {port} {name} ({way}): {parts}")
        for handle in [h for h, i in _instances.items() if i.csound == csound]:
            _instances.pop(handle)
        with _totals_lock:
            for handle in [h for h, (i, _) in _ending.items() if i.csound == csound]:
                _ending.pop(handle)
            _totals.pop(csound, None)
        _config.pop(csound, None)
        for port in list(_closing):
            _wait_closed(port)
        ports = [p for p, s in _servers.items() if s.csound == csound]
        for port in ports:
            server = _servers.pop(port)
            try:
                _io.run(server.close(), STOP_TIMEOUT)
            except Exception:  # noqa: BLE001 - closing must not stop the others
                pass
        if _io is not None and not _servers:
            _io.stop()
            _io = None
        if logger is not None:
            logger.close()
