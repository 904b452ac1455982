"""What a variable is and how its messages look on the wire.

Protocol logic only, no I/O: the server asks this module what to send a new
client and whether a message from a client fits the variable.
"""
from __future__ import annotations

import enum
import math
from array import array
from dataclasses import dataclass

from csws._frames import widen

MYFLT = "float64"  # numpy's name for Csound's MYFLT in Debian's (double) build
MYFLT_BYTES = 8
MAX_STRING = 4096  # bytes of UTF-8 in one string message


class Kind(enum.IntEnum):
    """The Csound type of a variable (values match bridge.h)."""

    K = 0
    A = 1
    I = 2  # noqa: E741 - Csound's own name for the rate
    S = 3
    KARR = 4
    AARR = 5
    IARR = 6

    @property
    def rate(self) -> str:
        return {0: "k", 1: "a", 2: "i", 3: "S", 4: "k", 5: "a", 6: "i"}[self.value]

    @property
    def is_array(self) -> bool:
        return self in (Kind.KARR, Kind.AARR, Kind.IARR)

    @property
    def is_audio(self) -> bool:
        return self in (Kind.A, Kind.AARR)

    @property
    def is_init(self) -> bool:
        return self in (Kind.I, Kind.IARR)

    @property
    def csound_type(self) -> str:
        return self.rate + ("[]" if self.is_array else "")


class Direction(enum.IntEnum):
    """Which way a variable's data goes, seen from the web page."""

    TO_WEB = 0  # an opcode input: Csound sends it
    FROM_WEB = 1  # an opcode output: Csound receives it

    @property
    def label(self) -> str:
        """The name /csws.json, csws.stats() and the clients use: "to_web" or "from_web"."""
        return self.name.lower()


class BadMessage(ValueError):
    """A client's message does not fit the variable it was sent to."""


@dataclass(frozen=True)
class VarSpec:
    name: str
    kind: Kind
    direction: Direction
    shape: tuple[int, ...]  # arrays: their dimensions; else ()
    frame_bytes: int  # one message of native MYFLT (strings: the maximum)
    init: bytes | None = None  # i, i[] and S inputs: their value at init
    ksmps: int = 0  # of the instrument or UDO instance it lives in (setksmps): a-rate frames hold as many

    @property
    def values(self) -> int:
        """MYFLT values in one frame (0 for strings)."""
        return 0 if self.kind is Kind.S else self.frame_bytes // MYFLT_BYTES

    def initial_message(self) -> bytes | str | None:
        """What a client gets on connecting, before any stream."""
        if self.init is None or self.direction is not Direction.TO_WEB:
            return None
        if self.kind is Kind.S:
            return self.init.decode("utf-8", "replace")
        return self.init

    def describe(self) -> dict:
        """This variable as /csws.json lists it."""
        layout = "interleaved" if self.kind is Kind.AARR else "row-major" if self.kind.is_array else "scalar"
        if self.kind is Kind.A:
            layout = "block"
        return {
            "name": self.name,
            "direction": self.direction.label,
            "type": self.kind.csound_type,
            "rate": self.kind.rate,
            "shape": list(self.shape),
            "values": self.values,
            "frame_samples": self.ksmps if self.kind.is_audio else 1,
            "layout": layout,
            "dtype": "utf-8" if self.kind is Kind.S else "float64",
        }

    @classmethod
    def from_json(cls, d: dict, ksmps: int, max_string: int = MAX_STRING) -> VarSpec:
        """A variable as another process's /csws.json described it (an edge's copy of Csound's);
        ValueError unless it is one.  Strings get room for max_string bytes; no init value."""
        try:
            kind = next(k for k in Kind if k.csound_type == d["type"])
            direction = next(x for x in Direction if x.label == d["direction"])
            if not isinstance(d["shape"], list):
                raise TypeError("shape is not a list")
            shape = tuple(int(n) for n in d["shape"])
            values = int(d["values"])
            samples = int(d["frame_samples"])
            name = str(d["name"])
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            raise ValueError(f"not a variable's description: {e!r}") from None
        if values < 0 or samples < 1 or any(n < 0 for n in shape):
            raise ValueError(f"{name}: a description with negative sizes")
        frame_bytes = max_string if kind is Kind.S else values * MYFLT_BYTES
        return cls(name, kind, direction, shape, frame_bytes, None, samples if kind.is_audio else ksmps)


def _json_numbers(value) -> list | None:
    """A JSON number's or (nested) array's numbers, row-major; None if anything else is in it."""
    numbers, pending = [], [value]
    while pending:
        x = pending.pop()
        if isinstance(x, list):
            pending.extend(reversed(x))
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            numbers.append(x)
        else:
            return None
    return numbers


def decode(spec: VarSpec, message: bytes | str, max_string: int = MAX_STRING) -> bytes:
    """A client's message as the bytes of one ring frame, or BadMessage.

    Binary frames are native MYFLT of exactly one frame, or float32 of the
    same count (told apart by size).  A text frame to a numeric variable may
    be a JSON number or array of the right size.  Strings are UTF-8 text.
    """
    if spec.kind is Kind.S:
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        if len(data) > max_string:
            raise BadMessage(f"{spec.name}: a string of {len(data)} bytes, at most {max_string}")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadMessage(f"{spec.name}: not UTF-8 ({e.reason})") from None
        return data
    n = spec.values
    if isinstance(message, str):
        import json  # here: only a client's text frame needs it

        try:
            value = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
            raise BadMessage(f"{spec.name}: text that is not a JSON number or array") from None
        numbers = _json_numbers(value)
        try:
            floats = array("d", numbers if numbers is not None and len(numbers) == n else ())
        except OverflowError:  # an integer beyond any float
            floats = array("d")
        if len(floats) != n or not all(map(math.isfinite, floats)):
            raise BadMessage(f"{spec.name}: expected a JSON array of {n} numbers")
        return floats.tobytes()
    size = len(message)
    if size == spec.frame_bytes:
        return bytes(message)
    if size == n * 4:
        return widen(message)
    raise BadMessage(
        f"{spec.name}: a binary message of {size} bytes; expected {spec.frame_bytes} "
        f"({n} float64) or {n * 4} ({n} float32)"
    )
