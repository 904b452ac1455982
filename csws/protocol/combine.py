"""The crowd's voice: many clients of one from-web `k` or `k[]` variable, combined.

Arithmetic and bookkeeping only, no sockets and no clock: the server
(csws/serve/crowd.py) passes clients as opaque keys and the time in seconds.
Each client's newest values count once, however often it sends; Csound reads
their mean, sum, min, max or count, element by element for arrays.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

RULES = ("latest", "mean", "sum", "min", "max", "count")  # latest: no combining, the newest message wins
PREFIX = "combine."  # websocket_config "combine.kvote", "mean"
WINDOW_PREFIX = "combine_window."  # websocket_config "combine_window.kvote", "10"
MAX_WINDOW = 86400.0  # seconds; 0: a client counts for as long as it stays connected


def parse_rule(name: str, raw: str) -> str:
    """websocket_config "combine.NAME", "mean": the rule, or ValueError saying what is wrong."""
    rule = raw.strip()
    if not name or rule not in RULES:
        raise ValueError(f"{PREFIX}{name} = {raw!r}: give a variable's name and one of {', '.join(RULES)}")
    return rule


def parse_window(name: str, raw: str) -> float:
    """websocket_config "combine_window.NAME", "10": seconds, or ValueError saying what is wrong."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not name or not 0 <= seconds <= MAX_WINDOW:  # nan compares false: refused too
        raise ValueError(f"{WINDOW_PREFIX}{name} = {raw!r}: give a variable's name and seconds from 0 "
                         f"(as long as the client stays connected) to {MAX_WINDOW:g}")
    return seconds


class Crowd:
    """Each client's newest values and when they came; their combination under a rule.

    Clients are kept in the order they last sent (oldest first), so that the
    window expires them from the front and the next expiry is the first's.
    """

    def __init__(self, rule: str, window: float = 0.0) -> None:
        self.rule = rule
        self.window = window  # seconds a client counts after its last message; 0: while connected
        self._latest: dict[Hashable, tuple[float, Sequence[float]]] = {}  # client -> (time, values)

    def __len__(self) -> int:
        return len(self._latest)

    def update(self, client: Hashable, values: Sequence[float], now: float) -> None:
        """A client's message: its values replace its previous ones (it counts once)."""
        self._latest.pop(client, None)  # re-inserted last: the order stays that of the last message
        self._latest[client] = (now, values)

    def leave(self, client: Hashable) -> None:
        """A client gone: it stops counting at once."""
        self._latest.pop(client, None)

    def expire(self, now: float) -> float | None:
        """Forget clients silent for longer than the window; the time the next one would expire
        (None: no window, or nobody left)."""
        if not self.window:
            return None
        while self._latest:
            client, (since, _) = next(iter(self._latest.items()))
            if since + self.window > now:
                return since + self.window
            del self._latest[client]
        return None

    def counted(self, size: int) -> list[Sequence[float]]:
        """The values that count for a variable of `size` values: a client whose array had another
        size (the orchestra resized it since) counts again from its next message."""
        return [values for _, values in self._latest.values() if len(values) == size]

    def combine(self, size: int) -> list[float] | None:
        """The combined values (one per element), or None: nobody counts and the rule keeps
        the variable's last value (mean, min, max have nothing to say about nobody)."""
        rows = self.counted(size)
        if self.rule == "count":
            return [float(len(rows))] * size
        if not rows:
            return [0.0] * size if self.rule == "sum" else None
        columns = [[row[j] for row in rows] for j in range(size)]  # (zip(*rows) is 3x slower on 1000 rows)
        if self.rule == "sum":
            return [math.fsum(c) for c in columns]  # exactly rounded, whatever the clients' order
        if self.rule == "mean":
            return [math.fsum(c) / len(rows) for c in columns]
        if self.rule == "min":
            return [min(c) for c in columns]
        if self.rule == "max":
            return [max(c) for c in columns]
        raise ValueError(f"no combining for rule {self.rule!r}")
