"""The registry behind the plugin: opcode instances, ports and the I/O thread.

Called by csws._bridge from Csound's threads (init and deinit time, holding
the GIL).  Ports are bound at init; their servers run on one asyncio loop in
the I/O thread (csws/iothread.py), which only starts the loop when a first
client knocks.  Until then everything here happens right away, under _lock.
"""
from __future__ import annotations

import errno
import itertools
import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from csws import security
from csws._ring import Ring
from csws.config import Settings
from csws.iothread import STOP_TIMEOUT, IOThread
from csws.port import Port, Variable
from csws.variables import MAX_STRING, Direction, Kind, VarSpec

if TYPE_CHECKING:
    from concurrent.futures import Future

RING_MAX_BYTES = 4 << 20  # ... but never more than this per variable
CONTROL_SLOTS = 4  # rings from the web for control data: the newest wins
START_TIMEOUT = 5.0


@dataclass(eq=False)
class Instance:
    handle: int
    csound: int
    port: Port
    variables: list[Variable]


_lock = threading.RLock()
_io: IOThread | None = None
_ports: dict[int, Port] = {}
_closing: dict[int, Future] = {}  # ports whose last instance ended: their server's close, under way
_instances: dict[int, Instance] = {}
# Ended instances whose clients the loop is still closing: they may send a last
# frame, so their counters are added to _totals only once that is done.
_ending: dict[int, tuple[Instance, Future]] = {}
_totals_lock = threading.Lock()  # never held while waiting for the loop
_totals: dict[int, dict[tuple[int, str], dict[str, int]]] = defaultdict(dict)
_loggers: dict[int, object] = {}
_config: dict[int, dict[str, str]] = {}  # per Csound: websocket_config's settings
_handles = itertools.count(1)


def _awake(loop) -> bool:
    """In the I/O thread, when a first client knocks: serve every port on the new loop."""
    with _lock:
        if _io is None or _io.stopping:
            return False
        try:
            from csws.server import PortServer
        except Exception as e:  # noqa: BLE001 - a broken install: refuse clients rather than hang them
            for port in _ports.values():
                port.log(f"csws: port {port.number}: the websocket server cannot start: {e!r}", True)
                for sock in port.sockets:
                    sock.close()
            return False
        for port in _ports.values():
            port.server = PortServer(port)
            try:
                loop.run_until_complete(port.server.start())
            except Exception as e:  # noqa: BLE001 - the other ports must still be served
                port.log(f"csws: port {port.number}: the websocket server did not start: {e}", True)
        _io.loop = loop
        return True


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


def attach(csound: int, logger, number: int, ksmps: int, sr: float, specs: list[VarSpec]) -> Instance:
    """Offer one opcode instance's variables on a port (opening it if need be)."""
    global _io
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"variable {dupes[0]} is given twice on port {number}")
    with _lock:
        settings = Settings.from_env(_config.get(csound))
        _loggers[csound] = logger
        port = _ports.get(number)
        if port is not None and port.csound != csound:
            raise OSError(f"port {number} is already used by another Csound instance in this process")
        variables = [
            Variable(s, _ring_for(s, ksmps, sr, settings.buffer_seconds),
                     _send_limit(s, ksmps, sr, settings.buffer_seconds))
            for s in specs
        ]
        if port is None:
            port = _open(csound, logger, number, ksmps, sr, settings)
            port.add(variables)  # on offer before a client can be served: none finds the port empty
            if _io is None:
                _io = IOThread(_awake)
            if _io.loop is None:
                _io.watch(port.sockets)
            else:
                from csws.server import PortServer

                port.server = PortServer(port)
                try:
                    _io.run(port.server.start(), START_TIMEOUT)
                except Exception:
                    port.close()
                    raise
            _ports[number] = port
            # An IPv6 address in brackets, as URLs write it
            shown = f"[{settings.host}]" if ":" in settings.host else settings.host
            page = f", page on http://{shown}:{number}/" if settings.static_dir or settings.index_html else ""
            logger(f"csws: websocket server on ws://{shown}:{number}/{page}")
        else:
            taken = [n for n in names if n in port.variables]
            if taken:
                which = f"variable {taken[0]} is" if len(taken) == 1 else f"variables {', '.join(taken)} are"
                raise ValueError(f"{which} already on offer on port {number} (by another instance)")
            if port.server is None:
                port.add(variables)
            else:  # registered before the perf routine can run: on the loop, waited for
                _io.run(_call(port.add, variables), START_TIMEOUT)
        inst = Instance(next(_handles), csound, port, variables)
        _instances[inst.handle] = inst
        return inst


def _open(csound: int, logger, number: int, ksmps: int, sr: float, settings: Settings) -> Port:
    _wait_closed(number)  # the port's previous server must let go of it first
    try:
        port = Port(number, csound, logger, ksmps, sr, settings)
    except OSError as e:
        why = e.strerror or str(e)  # also a name lookup's ("Name or service not known")
        if e.errno == errno.EADDRINUSE:
            why += " (another program, or another Csound, listens on it)"
        elif e.errno == errno.EACCES and number < 1024:
            why += " (ports below 1024 need administrator rights: use a port from 1024 up, e.g. 8888)"
        raise OSError(f"cannot listen on {settings.host}:{number}: {why}") from None
    warning = security.listen_warning(settings.host, number, settings.token)
    if warning:
        logger(warning, True)
    if port.max_string != settings.max_string:
        logger(f"csws: CSWS_MAX_STRING={settings.max_string} is outside 1..{MAX_STRING}; "
               f"using {port.max_string}", True)
    return port


async def _call(fn, *args):
    return fn(*args)


def _add_counters(into: dict[tuple[int, str], dict[str, int]], inst: Instance) -> None:
    """Add an instance's counters per (port, variable) into a table."""
    for var in inst.variables:
        acc = into.setdefault((inst.port.number, var.spec.name), {"direction": var.spec.direction.label})
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
        await inst.port.server.remove(inst.variables)
    finally:
        with _totals_lock:
            if _ending.pop(inst.handle, None) is not None:
                _add_counters(_totals[inst.csound], inst)
        if last:
            await _close(inst.port)


async def _close(port: Port) -> None:
    try:
        await port.server.close()
    finally:
        port.close()


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
        port = inst.port
        last = _ports.get(port.number) is port and not any(i.port is port for i in _instances.values())
        if last:
            del _ports[port.number]
        if port.server is None:  # no client ever came: nothing to wait for
            with _totals_lock:
                _add_counters(_totals[inst.csound], inst)
            for var in inst.variables:
                port.variables.pop(var.spec.name, None)
            if last:
                _io.unwatch(port.sockets)
                port.close()
            return
        # Never wait here: deinit runs in Csound's performance thread.
        with _totals_lock:
            future = _io.submit(_end(inst, last))
            _ending[inst.handle] = (inst, future)
        if last:
            for number in [n for n, f in _closing.items() if f.done()]:
                del _closing[number]  # finished closes need no waiting for
            _closing[port.number] = future


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
    ending = [f for i, f in list(_ending.values()) if i.csound == csound]
    if ending:  # ended instances' last frames belong in the report: let the loop finish them
        from concurrent.futures import wait

        wait(ending, STOP_TIMEOUT)
    with _lock:
        logger = _loggers.pop(csound, None)
        if logger is not None:
            for (number, name), acc in sorted(stats(csound).items()):
                parts = ", ".join(f"{k} {v}" for k, v in acc.items() if k != "direction")
                way = acc["direction"].replace("_", " ")
                logger(f"csws: port {number} {name} ({way}): {parts}")
        for handle in [h for h, i in _instances.items() if i.csound == csound]:
            _instances.pop(handle)
        with _totals_lock:
            for handle in [h for h, (i, _) in _ending.items() if i.csound == csound]:
                _ending.pop(handle)
            _totals.pop(csound, None)
        _config.pop(csound, None)
        for number in list(_closing):
            _wait_closed(number)
        for number in [n for n, p in _ports.items() if p.csound == csound]:
            port = _ports.pop(number)
            if port.server is None:
                _io.unwatch(port.sockets)
                port.close()
                continue
            try:
                _io.run(_close(port), STOP_TIMEOUT)
            except Exception:  # noqa: BLE001 - closing must not stop the others
                pass
        if _io is not None and not _ports:
            _io.stop()
            _io = None
        if logger is not None:
            logger.close()
