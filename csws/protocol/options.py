"""Per-client options: what each client asks for in its URL.

A client may add options to the query string of the websocket URL, e.g.
``ws://host:8888/?dtype=float32&frames=4``:

* ``dtype=float32`` - numbers to the web arrive as float32 instead of the
  native MYFLT (float64).  Each frame is converted once per dtype, however
  many clients want it.
* ``frames=M`` - a-rate variables to the web only: one message carries M
  consecutive k-cycles (M times the usual frame, in order), which cuts the
  per-message cost at small ksmps.  Each client collects its own M.
* ``codec=opus`` - a-rate variables (``a``, or ``a[]`` of one or two
  elements) to the web only: Opus packets instead of raw samples, with
  ``bitrate=`` (bits per second for the whole stream, default 96000 a
  channel) and ``frame_ms=`` (2.5, 5, 10, 20, 40 or 60; default 10).  The
  server encodes once per variable and setting (csws/serve/opus.py).
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
CODECS = ("pcm", "opus")  # pcm: Csound's samples as they are
OPUS_FRAME_MS = (2.5, 5.0, 10.0, 20.0, 40.0, 60.0)  # the durations an Opus packet can have
OPUS_MAX_CHANNELS = 2  # mono and stereo: what every WebCodecs Opus decoder takes without a channel map
OPUS_BITRATE = 96000  # bits per second per channel: transparent for most music
OPUS_BITRATES = (6000, 256000)  # bits per second per channel: libopus's useful range


class BadOption(ValueError):
    """A query option the server cannot honour."""


class WrongWay(BadOption):
    """direction= names the other way than the variable goes."""


@dataclass(frozen=True)
class Options:
    dtype: str = MYFLT
    frames: int = 1
    codec: str = "pcm"
    bitrate: int = 0  # Opus: bits per second of the whole stream
    frame_ms: float = 0.0  # Opus: one packet's duration

    @property
    def opus(self) -> bool:
        return self.codec == "opus"


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
    codec = query["codec"][-1].strip().lower() if "codec" in query else "pcm"
    if codec not in CODECS:
        raise BadOption(f"codec={codec!r}: use pcm or opus")
    if codec == "pcm":
        for name in ("bitrate", "frame_ms"):
            if name in query:
                raise BadOption(f"{name}= is an Opus setting: add codec=opus")
        return Options(dtype, frames)
    if frames > 1:
        raise BadOption("frames= and codec=opus do not go together: Opus packets are frame_ms long")
    return Options(MYFLT, 1, codec, *_opus_settings(query, spec))  # dtype: no effect on packets


def _opus_settings(query: dict[str, list[str]], spec: VarSpec) -> tuple[int, float]:
    """bitrate and frame_ms of a codec=opus client, checked against the variable."""
    if not (spec.kind.is_audio and spec.direction is Direction.TO_WEB):
        raise BadOption(f"codec=opus is for a-rate variables sent to the web; {spec.name} is not one")
    channels = spec.values // max(spec.ksmps, 1) if spec.kind is Kind.AARR else 1
    if not 1 <= channels <= OPUS_MAX_CHANNELS:
        raise BadOption(f"codec=opus takes one or two channels; {spec.name} has {channels}")
    low, high = (b * channels for b in OPUS_BITRATES)
    bitrate = OPUS_BITRATE * channels
    if "bitrate" in query:
        raw = query["bitrate"][-1].strip()
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise BadOption(f"bitrate={raw!r}: bits per second, from {low} to {high} for {channels} channel(s)")
        bitrate = int(raw)
    frame_ms = 10.0
    if "frame_ms" in query:
        raw = query["frame_ms"][-1].strip()
        try:
            frame_ms = float(raw)
        except ValueError:
            frame_ms = -1.0
        if frame_ms not in OPUS_FRAME_MS:
            raise BadOption(f"frame_ms={raw!r}: one of 2.5, 5, 10, 20, 40, 60")
    return bitrate, frame_ms


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
