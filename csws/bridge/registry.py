"""The registry behind the plugin: opcode instances, ports and the I/O thread.

Called by csws._bridge from Csound's threads (init and deinit time, holding
the GIL).  Ports are bound at init; their servers run on one asyncio loop in
the I/O thread (csws/bridge/iothread.py), which only starts the loop when a first
client knocks.  Everything Csound's thread asks is done at once, under _lock,
and never waits for the loop: a port's table of variables is replaced, not
changed in place, so the loop reads it without a lock.

Notes share variables: every live instance of one opcode line may offer the
same names on a port.  When the last of them ends, the variable (and a port
left without instances) lingers for LINGER seconds with its clients: a next
note of that line - back to back, a reinit, a tie - takes them over.
"""
from __future__ import annotations

import errno
import itertools
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass

from csws.bridge.iothread import IOThread
from csws.bridge.port import Port, Variable
from csws.protocol import combine, policy
from csws.protocol.settings import Settings
from csws.protocol.variables import Direction, VarSpec

LINGER = 0.1  # seconds an ended note's variables keep their clients, for the next note
SHUTDOWN_TIMEOUT = 0.5  # the most Csound's end waits for the loop to let go of its ports


@dataclass(eq=False)
class Instance:
    handle: int
    csound: int
    port: Port
    variables: list[Variable]


_lock = threading.RLock()
_io: IOThread | None = None
_ports: dict[int, Port] = {}
_instances: dict[int, Instance] = {}
_totals: dict[int, dict[tuple[int, str], dict[str, int]]] = defaultdict(dict)  # withdrawn variables'
_loggers: dict[int, object] = {}
_reported: dict[int, dict] = {}  # per Csound: the counters last reported
_config: dict[int, dict[str, str]] = {}  # per Csound: websocket_config's settings
_handles = itertools.count(1)


def _awake(loop) -> bool:
    """In the I/O thread, when a first client knocks: serve every port on the new loop."""
    try:  # before taking _lock: a note starting meanwhile must not wait for this import (~50 ms)
        from csws.serve.server import PortServer
        error = None
    except Exception as e:  # noqa: BLE001 - a broken install: refuse clients rather than hang them
        error = e
    with _lock:
        if _io is None or _io.stopping:
            return False
        if error is not None:
            for port in _ports.values():
                port.log(f"csws: port {port.number}: the websocket server cannot start: {error!r}", True)
                for sock in port.sockets:
                    sock.close()
            return False
        for port in _ports.values():
            port.server = PortServer(port)
            try:
                loop.run_until_complete(_serve(port.server))
            except Exception as e:  # noqa: BLE001 - the other ports must still be served
                port.log(f"csws: port {port.number}: the websocket server did not start: {e}", True)
        _io.loop = loop
        return True


async def _serve(server) -> None:
    """Start a port's server, and its link to NATS with the nats setting (on the loop)."""
    await server.start()
    if server.settings.nats:
        server.link_to_nats()


def _shares(var: Variable, spec: VarSpec) -> bool:
    """May a note with this spec take over the variable (and its clients)?"""
    same = var.spec.kind is spec.kind and var.spec.direction is spec.direction
    return same and (spec.kind.is_array or var.spec.frame_bytes == spec.frame_bytes)


def _refusal(number: int, var: Variable, spec: VarSpec, insno: int, line: int) -> str | None:
    if line != var.line:
        where = f"instr {var.insno}" if insno != var.insno else f"another websocket line of instr {insno}"
        return (f"variable {spec.name} is already on offer on port {number} by {where}; notes of one "
                f"opcode line share a name, other lines cannot: to send one value from several "
                f"instruments, write it to a global variable (gk...) that one instrument sends, "
                f"or let one instrument own the websocket and pass values to it through globals")
    if not _shares(var, spec):
        return (f"variable {spec.name} on port {number} is a {var.spec.kind.csound_type} of "
                f"{var.spec.frame_bytes} bytes a frame in the notes playing, a {spec.kind.csound_type} "
                f"of {spec.frame_bytes} in this one (a local ksmps?)")
    return None


def attach(csound: int, logger, number: int, ksmps: int, sr: float, specs: list[VarSpec],
           insno: int = 1, line: int = 0, host: tuple[str, int] = ("", 6)) -> Instance:
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
        if port is not None:
            for spec in specs:
                var = port.variables.get(spec.name)
                why = var is not None and var.members and _refusal(number, var, spec, insno, line)
                if why:
                    raise ValueError(why)
        fresh = port is None
        if fresh:
            port = _open(csound, logger, number, ksmps, sr, settings, host)
        else:
            port.resume_csound_api()
        handle = next(_handles)
        table = dict(port.variables)
        variables, replaced = [], []
        for spec in specs:
            var = table.get(spec.name)
            if var is None or not _shares(var, spec):
                if var is not None:
                    replaced.append(var)
                var = table[spec.name] = port.variable(spec, line, insno)
            var.line, var.insno = line, insno
            var.members[handle] = spec.init
            variables.append(var)
        port.variables = table  # on offer before a client can be served: none finds the port empty
        inst = _instances[handle] = Instance(handle, csound, port, variables)
        if replaced:
            _withdraw(port, replaced)
        if fresh:
            _ports[number] = port
            if _io is None:
                _io = IOThread(_awake)
            if _io.loop is None:
                _io.watch(port.sockets)
                if settings.nats:  # published from the start, whoever knocks
                    _io.knock()
            else:
                from csws.serve.server import PortServer

                port.server = PortServer(port)
                _io.submit(_serve(port.server)).add_done_callback(lambda f: _started(port, f))
            # An IPv6 address in brackets, as URLs write it
            shown = f"[{settings.host}]" if ":" in settings.host else settings.host
            page = f", page on {'https' if port.ssl else 'http'}://{shown}:{number}/" \
                if settings.static_dir or settings.index_html else ""
            logger(f"csws: websocket server on {'wss' if port.ssl else 'ws'}://{shown}:{number}/{page}")
        elif port.server is not None:
            news = [v for v in variables if v.spec.kind.is_init and v.spec.direction is Direction.TO_WEB
                    and len(v.members) > 1]
            if news:  # the newest note's i-rate values, to the clients already there
                _io.loop.call_soon_threadsafe(port.server.announce, news)
        return inst


def _started(port: Port, future) -> None:
    if future.exception() is not None:
        port.log(f"csws: port {port.number}: the websocket server did not start: {future.exception()}", True)


def _open(csound: int, logger, number: int, ksmps: int, sr: float, settings: Settings,
          host: tuple[str, int] = ("", 6)) -> Port:
    try:
        port = Port(number, csound, logger, ksmps, sr, settings, host)
        port.config = _config.setdefault(csound, {})
    except OSError as e:
        why = e.strerror or str(e)  # also a name lookup's ("Name or service not known")
        if e.errno == errno.EADDRINUSE:
            why += " (another program, or another Csound, listens on it)"
        elif e.errno == errno.EACCES and number < 1024:
            why += " (ports below 1024 need administrator rights: use a port from 1024 up, e.g. 8888)"
        raise OSError(f"cannot listen on {settings.host}:{number}: {why}") from None
    warning = policy.listen_warning(settings.host, number, settings.token, port.loopback)
    if warning:
        logger(warning, True)
    return port


def add_counters(into: dict[tuple[int, str], dict[str, int]], number: int, var: Variable) -> None:
    """Add a variable's counters into a table keyed by (port, name) (an edge's report too)."""
    acc = into.setdefault((number, var.spec.name), {"direction": var.spec.direction.label})
    for k, v in var.counters().items():
        acc[k] = acc.get(k, 0) + v


def _withdraw(port: Port, gone: list[Variable]) -> None:
    """Take variables off the port (under _lock); their clients get 1001 from the loop."""
    port.variables = {n: v for n, v in port.variables.items() if all(v is not g for g in gone)}
    for var in gone:
        add_counters(_totals[port.csound], port.number, var)
        var.share.release()
    if port.server is not None:
        _io.loop.call_soon_threadsafe(port.server.close_clients, gone, 1001, "the instrument ended")


def _in_use(port: Port) -> bool:
    return any(i.port is port for i in _instances.values())


async def _linger(port: Port) -> None:
    """On the loop, LINGER after a note ended: what no next note took goes."""
    import asyncio  # here: a piece nobody connects to never loads it

    await asyncio.sleep(LINGER)
    with _lock:
        gone = [v for v in port.variables.values() if not v.members]
        if gone:
            _withdraw(port, gone)
        last = _ports.get(port.number) is port and not _in_use(port)
        if last:
            del _ports[port.number]
            _add_control(_totals[port.csound], port)
            port.server.stop_listening()  # the port is free for a new note from now on
    if last:
        try:  # its clients' variables went with the port's last note (not the performance)
            await port.server.close("the instrument ended")
        finally:  # also when the loop stops meanwhile (cancelled)
            port.close()


def configure(csound: int, name: str, value: str) -> None:
    """websocket_config: a setting for the ports this Csound opens from now on."""
    Settings.check(name, value)
    with _lock:
        _config.setdefault(csound, {})[name] = value
        if name.startswith((combine.PREFIX, combine.WINDOW_PREFIX)):  # a crowd's rule: at once, on open ports too
            for port in _ports.values():
                if port.csound == csound and port.server is not None:
                    _io.loop.call_soon_threadsafe(port.server.crowds.reconsider, name.split(".", 1)[1])


def report_line(key: tuple[int, str], acc: dict) -> str:
    """One line of the report: a (port, name)'s counters (an edge's report too)."""
    parts = ", ".join(f"{k} {v}" for k, v in acc.items() if k != "direction")
    return f"csws: port {key[0]} {key[1]} ({acc['direction'].replace('_', ' ')}): {parts}"


def _report(csound: int) -> None:
    """Each variable's counters that changed since this Csound's last report, one line each (under _lock)."""
    logger = _loggers.get(csound)
    if logger is None:
        return
    last = _reported.setdefault(csound, {})
    for key, acc in sorted(stats(csound).items()):
        if last.get(key) != acc:
            logger(report_line(key, acc))
            last[key] = acc


def detach(handle: int) -> None:
    """An instance ended: variables no other note uses, and a port left without
    instances, go after LINGER unless a next note takes them over.

    When it was its Csound's last, the counters are reported at once: the
    performance may be ending, and this is the last moment a host surely shows
    Csound's messages (CsoundQt stops before shutdown())."""
    with _lock:
        inst = _instances.pop(handle, None)
        if inst is None:
            return
        if not any(i.csound == inst.csound for i in _instances.values()):
            _report(inst.csound)
            for port in _ports.values():  # Csound may be resetting: it frees its channels next
                if port.csound == inst.csound:
                    port.end_csound_api()
        port = inst.port
        for var in inst.variables:
            init = var.members.pop(handle, None)
            if var.members and port.server is not None and var.spec.kind.is_init \
                    and var.spec.direction is Direction.TO_WEB and init != list(var.members.values())[-1]:
                _io.loop.call_soon_threadsafe(port.server.announce, [var])
        if port.server is None:  # no client ever came: nothing to keep
            gone = [v for v in port.variables.values() if not v.members]
            if gone:
                _withdraw(port, gone)
            if not _in_use(port) and _ports.get(port.number) is port:
                del _ports[port.number]
                _io.unwatch(port.sockets)
                port.close()
            return
        if any(not v.members for v in inst.variables) or not _in_use(port):
            _io.submit(_linger(port))  # never wait here: deinit runs in Csound's performance thread


def stats(csound: int | None = None) -> dict[tuple[int, str], dict[str, int]]:
    """Counters per (port, variable): withdrawn variables' and those on offer, together."""
    with _lock:
        out: dict[tuple[int, str], dict[str, int]] = {}
        for cs, totals in _totals.items():
            if csound is None or cs == csound:
                for key, acc in totals.items():
                    out[key] = dict(acc)
        for port in _ports.values():
            if csound is None or port.csound == csound:
                for var in port.variables.values():
                    add_counters(out, port.number, var)
                _add_control(out, port)
        return out


def _add_control(into: dict[tuple[int, str], dict[str, int]], port: Port) -> None:
    """The port's control socket's counters, once it was used, under (port, "csws.control");
    its link's to NATS, if any, under (port, "csws.nats")."""
    counts = port.control.counters()
    if any(counts.values()):
        acc = into.setdefault((port.number, "csws.control"), {"direction": "channels"})
        for k, v in counts.items():
            acc[k] = acc.get(k, 0) + v
    link = port.server.link if port.server is not None else None
    if link is not None:
        acc = into.setdefault((port.number, "csws.nats"), {"direction": "nats"})
        for k, v in link.counters().items():
            acc[k] = acc.get(k, 0) + v


async def _close_all(ports: list[Port]) -> None:
    import asyncio
    async def close(port: Port) -> None:
        port.server.stop_listening()
        await port.server.close()

    await asyncio.gather(*(close(p) for p in ports), return_exceptions=True)


def shutdown(csound: int) -> None:
    """Csound is cleaning up: report, close its ports (at once, whatever the
    clients do), stop the thread if idle."""
    global _io
    with _lock:
        _report(csound)
        _reported.pop(csound, None)
        logger = _loggers.pop(csound, None)
        for handle in [h for h, i in _instances.items() if i.csound == csound]:
            _instances.pop(handle)
        _totals.pop(csound, None)
        _config.pop(csound, None)
        ports = [_ports.pop(n) for n, p in list(_ports.items()) if p.csound == csound]
        for port in ports:
            port.end_csound_api()
            for var in port.variables.values():
                var.share.release()
            if port.server is None:
                _io.unwatch(port.sockets)
                port.close()
        served = [p for p in ports if p.server is not None]
        io = _io
    # Outside _lock: the loop takes it (_linger).  Not while Python exits (a
    # script that never reset its Csound): its daemon threads, ours too, are
    # stopped then, and waiting on the loop would only delay the exit.
    if served and not sys.is_finalizing():
        try:
            io.run(_close_all(served), SHUTDOWN_TIMEOUT)
        except Exception:  # noqa: BLE001 - closing must not keep Csound from ending
            pass
        for port in served:
            port.close()
    with _lock:
        if _io is not None and not _ports:
            _io.stop()
            _io = None
        if logger is not None:
            logger.close()
