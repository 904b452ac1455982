"""Combining the clients of from-web `k` and `k[]` variables, on the I/O thread's loop.

`websocket_config "combine.NAME", "mean"` (and `"combine_window.NAME", "10"`)
are read live from the orchestra's settings, as ranges are.  Messages update a
Crowd (csws/protocol/combine.py); the combination is written into the
variable's ring once per loop pass at most, and only when it changed, so
Csound's thread reads one value per k-cycle exactly as with a single client.
Combining is O(clients): with thousands of them, it waits COST_RATIO times
its last cost between two runs, so it never takes more than a small share of
the I/O thread, whatever the message rate (a 10000-client mean: ~10 ms late).
"""
from __future__ import annotations

import asyncio
import time
import weakref
from array import array
from collections.abc import Callable, Hashable, Mapping

from csws.bridge.port import Variable
from csws.protocol import combine
from csws.protocol.combine import Crowd, Tally
from csws.protocol.variables import Direction, Kind

COMBINABLE = (Kind.K, Kind.KARR)
COST_RATIO = 10  # a combination waits this many times its last run's time after it: <= 1/11 of the thread


class Crowds:
    """The combined variables of one port: their crowds, pending writes and window timers."""

    def __init__(self, config: Mapping[str, str], variables: Callable[[], Mapping[str, Variable]],
                 write: Callable[[Variable, bytes], None], warn: Callable[[str, str], None], port: int) -> None:
        self._config = config  # the orchestra's websocket_config settings, as they are now
        self._variables = variables  # the port's table as it is now
        self._write = write  # a frame into the variable's ring (growing an array's)
        self._warn = warn
        self._port = port
        self._crowds: weakref.WeakKeyDictionary[Variable, Crowd] = weakref.WeakKeyDictionary()
        self._written: weakref.WeakKeyDictionary[Variable, bytes] = weakref.WeakKeyDictionary()
        self._pending: set[Variable] = set()  # a combination is due
        self._next: weakref.WeakKeyDictionary[Variable, float] = weakref.WeakKeyDictionary()  # not before (loop time)
        self._timers: weakref.WeakKeyDictionary[Variable, asyncio.TimerHandle] = weakref.WeakKeyDictionary()

    def _rule(self, var: Variable) -> tuple[str, float]:
        """The variable's rule and window now (checked already by websocket_config)."""
        name = var.spec.name
        rule = self._config.get(combine.PREFIX + name, "latest")
        window = self._config.get(combine.WINDOW_PREFIX + name, "0")
        return combine.parse_rule(name, rule), combine.parse_window(name, window)

    def check(self, var: Variable) -> None:
        """A client joins: say (rate-limited) if the variable has a rule it cannot follow."""
        rule, _ = self._rule(var)
        if rule != "latest" and not self._combinable(var):
            self._warn(f"combine:{var.spec.name}",
                       f"csws: port {self._port}: combine.{var.spec.name} = {rule!r} ignored: only k and k[] "
                       f"variables from the web combine their clients")

    @staticmethod
    def _combinable(var: Variable) -> bool:
        return var.spec.kind in COMBINABLE and var.spec.direction is Direction.FROM_WEB

    def receive(self, var: Variable, client: Hashable, frame: bytes) -> bool:
        """A client's checked frame; False if the variable is latest-wins (the caller writes it)."""
        crowd = self._crowd(var)
        if crowd is None:
            return False
        crowd.update(client, array("d", frame), asyncio.get_running_loop().time())
        self._due(var)
        return True

    def count_tally(self, var: Variable, edge: Hashable, tally: Tally) -> bool:
        """An edge's tally of its own clients (over NATS, csws/serve/nats_link.py): they count as if
        they were here, replacing the edge's last tally; False if the variable does not combine."""
        crowd = self._crowd(var)
        if crowd is None:
            return False
        crowd.update(edge, tally, asyncio.get_running_loop().time())
        self._due(var)
        return True

    def leave(self, var: Variable, client: Hashable) -> None:
        """A client gone: it stops counting at once."""
        crowd = self._crowds.get(var)
        if crowd is not None and len(crowd):
            crowd.leave(client)
            self._due(var)

    def reconsider(self, name: str) -> None:
        """The orchestra changed a variable's rule or window: apply it now, not at the next message."""
        var = self._variables().get(name)
        if var is not None and self._crowd(var) is not None:
            self._due(var)

    def describe(self, var: Variable) -> dict | None:
        """/csws.json's "combine" of a variable: its rule, window and the clients counted now."""
        if not self._combinable(var):
            return None
        rule, window = self._rule(var)
        crowd = self._crowds.get(var) if rule != "latest" else None
        counted = crowd.count(var.current_spec().values) if crowd is not None else None
        return {"rule": rule, "window": window, "counted": counted}

    def _crowd(self, var: Variable) -> Crowd | None:
        """The variable's crowd under its rule now (None: latest wins); a changed rule applies at once."""
        if not self._combinable(var):
            return None
        rule, window = self._rule(var)
        crowd = self._crowds.get(var)
        if rule == "latest":
            if crowd is not None:  # the orchestra went back to latest-wins
                del self._crowds[var]
                self._written.pop(var, None)
            return None
        if crowd is None:
            crowd = self._crowds[var] = Crowd(rule, window)
        elif (crowd.rule, crowd.window) != (rule, window):
            crowd.rule, crowd.window = rule, window
            timer = self._timers.pop(var, None)
            if timer is not None:  # a shorter window expires sooner
                timer.cancel()
            self._due(var)
        return crowd

    def _due(self, var: Variable) -> None:
        """Combine at the loop's next pass, or once the last combination's cost allows: a burst of
        messages costs one combination and at most one write."""
        if var not in self._pending:
            self._pending.add(var)
            loop = asyncio.get_running_loop()
            at = self._next.get(var, 0.0)
            if at <= loop.time():
                loop.call_soon(self._flush, var)
            else:
                loop.call_at(at, self._flush, var)

    def _flush(self, var: Variable) -> None:
        self._pending.discard(var)
        crowd = self._crowds.get(var)
        if crowd is None:
            return
        loop = asyncio.get_running_loop()
        expiry = crowd.expire(loop.time())
        if expiry is not None and var not in self._timers:
            # The oldest client's expiry only moves later, so one timer at a time will do.
            self._timers[var] = loop.call_at(expiry, self._expired, var)
        began = time.thread_time()  # CPU time: being preempted meanwhile is not its cost
        self._settle(var, crowd)
        self._next[var] = loop.time() + COST_RATIO * (time.thread_time() - began)

    def _settle(self, var: Variable, crowd: Crowd) -> None:
        """The crowd's word goes on: its combination into the ring, when it changed (an edge
        sends its tally to Csound instead: csws/serve/edge.py)."""
        values = crowd.combine(var.current_spec().values)
        if values is None:
            return  # nobody counts: the variable keeps its value
        frame = array("d", values).tobytes()
        if frame != self._written.get(var):
            self._write(var, frame)
            self._written[var] = frame

    def _expired(self, var: Variable) -> None:
        self._timers.pop(var, None)
        self._flush(var)
