"""The crowd's voice: many clients of one from-web `k` or `k[]` variable, combined.

Arithmetic and bookkeeping only, no sockets and no clock: the server
(csws/serve/crowd.py) passes clients as opaque keys and the time in seconds.
Each client's newest values count once, however often it sends; Csound reads
their mean, sum, min, max or count, element by element for arrays.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

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


def exact_sum(values: Sequence[float]) -> list[float]:
    """Non-overlapping floats whose exact sum is that of `values` (Shewchuk's partials, which
    math.fsum keeps inside): fsum over several groups' partials equals fsum over all their values."""
    if not all(map(math.isfinite, values)):
        return [math.fsum(values)]  # inf and nan: fsum's own answer, as one term
    partials: list[float] = []
    for x in values:
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                partials[i] = low
                i += 1
            x = high
        partials[i:] = [x]
    return partials


@dataclass(frozen=True)
class Tally:
    """What a group of clients (an edge's) says of one variable, per element: enough for the
    groups to be combined as exactly as if every client were on one port."""

    count: int  # clients counted
    sums: tuple[tuple[float, ...], ...]  # per element: exact_sum partials of their values
    mins: tuple[float, ...]
    maxs: tuple[float, ...]

    def to_json(self) -> dict:
        return {"count": self.count, "sums": self.sums, "mins": self.mins, "maxs": self.maxs}

    @classmethod
    def from_json(cls, d: dict, size: int) -> Tally:
        """A tally read from the wire; ValueError unless it is one for `size` elements."""
        try:
            count = int(d["count"])
            sums = tuple(tuple(float(x) for x in s) for s in d["sums"])
            mins, maxs = (tuple(float(x) for x in d[k]) for k in ("mins", "maxs"))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a tally: {e!r}") from None
        if count < 0 or any(len(t) != (size if count else 0) for t in (sums, mins, maxs)):
            raise ValueError(f"a tally of {count} clients for {size} elements has the wrong sizes")
        return cls(count, sums, mins, maxs)


class Crowd:
    """Each client's newest values and when they came; their combination under a rule.

    Clients are kept in the order they last sent (oldest first), so that the
    window expires them from the front and the next expiry is the first's.
    A member may also be a whole group's Tally (an edge's clients, see docs/edges.md).
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
        return [values for _, values in self._latest.values()
                if not isinstance(values, Tally) and len(values) == size]

    def _tallies(self, size: int) -> list[Tally]:
        return [t for _, t in self._latest.values() if isinstance(t, Tally) and t.count and len(t.mins) == size]

    def count(self, size: int) -> int:
        """Clients counted, those inside tallies included."""
        return len(self.counted(size)) + sum(t.count for t in self._tallies(size))

    def combine(self, size: int) -> list[float] | None:
        """The combined values (one per element), or None: nobody counts and the rule keeps
        the variable's last value (mean, min, max have nothing to say about nobody)."""
        rows = self.counted(size)
        tallies = self._tallies(size)
        n = len(rows) + sum(t.count for t in tallies)
        if self.rule == "count":
            return [float(n)] * size
        if not n:
            return [0.0] * size if self.rule == "sum" else None
        columns = [[row[j] for row in rows] for j in range(size)]  # (zip(*rows) is 3x slower on 1000 rows)
        if self.rule in ("sum", "mean"):
            for t in tallies:
                for j in range(size):
                    columns[j].extend(t.sums[j])
            # exactly rounded, whatever the clients' order or the groups they came in
            sums = [math.fsum(c) for c in columns]
            return sums if self.rule == "sum" else [s / n for s in sums]
        if self.rule in ("min", "max"):
            pick = min if self.rule == "min" else max
            for t in tallies:
                for j in range(size):
                    columns[j].append((t.mins if self.rule == "min" else t.maxs)[j])
            return [pick(c) for c in columns]
        raise ValueError(f"no combining for rule {self.rule!r}")

    def tally(self, size: int) -> Tally:
        """This crowd's clients as one group, for another crowd to count (an edge's, for Csound's)."""
        rows = self.counted(size)
        if not rows:
            return Tally(0, (), (), ())
        columns = [[row[j] for row in rows] for j in range(size)]
        return Tally(len(rows), tuple(tuple(exact_sum(c)) for c in columns), tuple(map(min, columns)),
                     tuple(map(max, columns)))
