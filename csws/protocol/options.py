"""Per-client options: what each client asks for in its URL.

A client may add options to the query string of the websocket URL, e.g.
``ws://host:8888/?dtype=float32&frames=4``:

* ``dtype=float32`` - numbers to the web arrive as float32 instead of the
  native MYFLT (float64).  Each frame is converted once per dtype, however
  many clients want it.
* ``frames=M`` - a-rate variables to the web only: one message carries M
  consecutive k-cycles (M times the usual frame, in order), which cuts the
  per-message cost at small ksmps.  Each client collects its own M.
* ``direction=to_web`` (the client receives) or ``direction=from_web`` (it
  sends), /csws.json's words: a client that says which way it expects the
  variable to go is closed at once when the variable goes the other way,
  instead of waiting for data that never comes.

Other query parameters (``token=...``) are not ours and are ignored.  A bad
value of ours closes the connection with 1008 and says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from csws._frames import narrow
from csws.protocol.variables import MYFLT, Direction, Kind, VarSpec

DTYPES = ("float64", "float32")  # numpy's names, as /csws.json and typed arrays use them
MAX_FRAMES = 4096  # k-cycles in one message
MAX_MESSAGE = 16 << 20  # bytes in one accumulated message: frames=M is capped by this too


class BadOption(ValueError):
    """A query option the server cannot honour."""


class WrongWay(BadOption):
    """direction= names the other way than the variable goes."""


@dataclass(frozen=True)
class Options:
    dtype: str = MYFLT
    frames: int = 1


DEFAULT = Options()


def parse(path: str, spec: VarSpec) -> Options:
    """The options in a request path's query string, checked against the variable."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    dtype = MYFLT
    frames = 1
    if "direction" in query:
        _check_direction(query["direction"][-1].strip().lower(), spec)
    if "dtype" in query:
        name = query["dtype"][-1].strip().lower()
        if name not in DTYPES:
            raise BadOption(f"dtype={name!r}: use float64 or float32")
        dtype = name
    if "frames" in query:
        raw = query["frames"][-1].strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_FRAMES:
            raise BadOption(f"frames={raw!r}: a whole number from 1 to {MAX_FRAMES}")
        frames = int(raw)
        if frames > 1 and not (spec.kind.is_audio and spec.direction is Direction.TO_WEB):
            raise BadOption(f"frames= is for a-rate variables sent to the web; {spec.name} is not one")
        if frames * spec.frame_bytes > MAX_MESSAGE:
            raise BadOption(f"frames={frames}: messages of more than {MAX_MESSAGE >> 20} MiB")
    return Options(dtype, frames)


def _check_direction(expected: str, spec: VarSpec) -> None:
    if expected not in (d.label for d in Direction):
        raise BadOption(f"direction={expected!r}: use to_web (to receive) or from_web (to send)")
    if expected == spec.direction.label:
        return
    if spec.direction is Direction.FROM_WEB:
        raise WrongWay(f"{spec.name} goes from the web to Csound (from_web): send to it, it sends nothing")
    raise WrongWay(f"{spec.name} goes from Csound to the web (to_web): receive it, it takes no messages")


def convert(spec: VarSpec, message: bytes | str, dtype: str) -> bytes | str:
    """A native frame in the dtype a client asked for (strings stay text)."""
    if isinstance(message, str) or spec.kind is Kind.S or dtype == MYFLT:
        return message
    return narrow(message)  # float32, the only other dtype
