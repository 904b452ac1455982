"""Opus for the room: a-rate variables sent as Opus packets (``?codec=opus``).

Each variable is encoded once per setting (bitrate, frame_ms) on the I/O
thread, from the frames the fan-out reads out of its ring, and every client
of that setting gets the same packets.  The encoder is libopus as PyAV
(``av``, the ``opus`` extra) bundles it; PyAV's encoder also resamples a sr
Opus does not take (44100, 96000...) to 48 kHz with libswresample and
re-blocks Csound's ksmps into Opus frames.  The wire format is in
docs/protocol.md and csws/protocol/opus.py: a text header on joining, then
one binary message per packet, a 4-byte little-endian sequence number first.
"""
from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import weakref
from typing import Any

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import ServerConnection

from csws.protocol.options import BadOption, Options
from csws.protocol.opus import SEQUENCE
from csws.protocol.variables import MYFLT, Kind, VarSpec
from csws.serve.fanout import Outbox, writable

RATES = (8000, 12000, 16000, 24000, 48000)  # what an Opus encoder takes; others are resampled to 48 kHz
MIN_SEND_LIMIT = 8192  # bytes an Opus client may have queued, at the least
PRE_SKIP = 312  # libopus's look-ahead for application=audio, 6.5 ms, in 48 kHz samples


@functools.cache
def missing() -> str | None:
    """Why this Python cannot encode Opus, or None if it can."""
    try:
        import av
        import numpy  # noqa: F401 - the encoder's: loaded here, off the loop when load() calls this
    except ImportError:
        return "the server has no Opus encoder: pip install 'csound-websocket[opus]' (PyAV)"
    if "libopus" not in av.codecs_available:
        return f"the server's PyAV {av.__version__} has no libopus: install a PyAV wheel, which bundles it"
    return None


def codecs() -> list[str]:
    """The codecs a port offers, for /csws.json: whether PyAV is installed, without importing it
    on the loop (missing() says at a client's join if it lacks libopus)."""
    return ["pcm", "opus"] if importlib.util.find_spec("av") is not None else ["pcm"]


async def load() -> None:
    """Import PyAV and numpy in a worker thread, before a codec=opus client joins: imported on
    the loop, they would stall every stream on it for a tenth of a second or more."""
    await asyncio.get_running_loop().run_in_executor(None, missing)


class Encoder:
    """One variable's stream at one setting, and the clients that get its packets."""

    def __init__(self, spec: VarSpec, sr: float, opts: Options, send_limit: int) -> None:
        import av
        import numpy

        self._np = numpy
        self.channels = spec.values // spec.ksmps if spec.kind is Kind.AARR else 1
        self.sr = int(sr)
        self.rate = self.sr if self.sr in RATES else 48000
        self.frame_ms = opts.frame_ms
        self.bitrate = opts.bitrate
        self.layout = "mono" if self.channels == 1 else "stereo"
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = self.rate
        ctx.layout = self.layout
        ctx.format = "flt"
        ctx.bit_rate = opts.bitrate
        # application=audio: tuned for music, at 6.5 ms of look-ahead (PRE_SKIP).  Constrained VBR: a room
        # shares one access point, so bitrate is what a client gets (plain VBR spends a third more on a sine).
        ctx.options = {"frame_duration": f"{opts.frame_ms:g}", "application": "audio", "vbr": "constrained"}
        ctx.open()
        self._ctx = ctx
        self._av = av
        self.spec = spec
        # Csound's blocks are gathered into about one packet's worth before PyAV sees them:
        # one AudioFrame per packet, not one per k-cycle.
        self._block = max(1, round(self.sr * opts.frame_ms / 1000))
        self._pending: list = []  # numpy arrays
        self._have = 0
        self.sequence = 0  # of the next packet
        pcm_per_second = spec.frame_bytes * sr / max(spec.ksmps, 1)
        self.send_limit = max(MIN_SEND_LIMIT, int(send_limit * opts.bitrate / 8 / pcm_per_second))
        self.clients: set[ServerConnection] = set()

    def header(self) -> str:
        """The text message a client gets first: what its decoder needs."""
        return json.dumps({
            "codec": "opus", "sample_rate": self.rate, "channels": self.channels, "frame_ms": self.frame_ms,
            "frame_samples": round(self.rate * self.frame_ms / 1000), "bitrate": self.bitrate,
            "pre_skip": PRE_SKIP, "csound_sr": self.sr, "sequence": self.sequence,
        })

    def encode(self, frame: bytes) -> list[bytes]:
        """A frame of Csound's (native MYFLT, interleaved) in; the packets it completes out."""
        np = self._np
        samples = np.frombuffer(frame, MYFLT).astype(np.float32)
        ksmps = self.spec.ksmps or samples.size // self.channels
        elements = samples.size // ksmps
        if elements != self.channels:  # an a[] the orchestra resized: the channels the stream began with
            grid = np.zeros((ksmps, self.channels), np.float32)
            keep = min(elements, self.channels)
            grid[:, :keep] = samples[: ksmps * elements].reshape(ksmps, elements)[:, :keep]
            samples = grid.ravel()
        self._pending.append(samples)
        self._have += ksmps
        if self._have < self._block:
            return []
        block = np.concatenate(self._pending)[None, :]
        self._pending.clear()
        self._have = 0
        audio = self._av.AudioFrame.from_ndarray(block, format="flt", layout=self.layout)
        audio.sample_rate = self.sr
        out = []
        for packet in self._ctx.encode(audio):
            out.append(SEQUENCE.pack(self.sequence & 0xFFFFFFFF) + bytes(packet))
            self.sequence += 1
        return out


# Per variable (csws.bridge.port.Variable): its encoders by setting.
_streams: "weakref.WeakKeyDictionary[Any, dict[Options, Encoder]]" = weakref.WeakKeyDictionary()


def join(var: Any, ws: ServerConnection, opts: Options, sr: float) -> None:
    """Add a codec=opus client to its setting's encoder (made now if it is the first), and send
    it the stream's header; BadOption if this server cannot encode Opus."""
    reason = missing()
    if reason is not None:
        raise BadOption(f"codec=opus: {reason}")
    encoders = _streams.setdefault(var, {})
    enc = encoders.get(opts)
    if enc is None:
        try:
            enc = Encoder(var.spec, sr, opts, var.send_limit)
        except Exception as e:  # noqa: BLE001 - av.error.FFmpegError and kin: the client is told why
            raise BadOption(f"codec=opus: the encoder would not start ({e})") from None
        encoders[opts] = enc
    enc.clients.add(ws)
    broadcast([ws], enc.header())


def leave(var: Any, ws: ServerConnection) -> None:
    """A client went; an encoder nobody listens to goes too."""
    encoders = _streams.get(var)
    if not encoders:
        return
    for opts, enc in list(encoders.items()):
        enc.clients.discard(ws)
        if not enc.clients:
            del encoders[opts]


def feed(var: Any, frames: list[bytes], outbox: Outbox) -> tuple[int, int]:
    """A wake's frames of the variable to each of its encoders; their packets queued for their
    clients in the wake's outbox (csws.serve.fanout: one write per client per wake).

    Returns (packets sent, packets dropped), summed over clients; a client with
    more than its encoder's send_limit queued loses the packets (its decoder sees
    the sequence jump).
    """
    encoders = _streams.get(var)
    if not encoders:
        return 0, 0
    sent = dropped = 0
    for opts, enc in list(encoders.items()):
        try:
            packets = [p for frame in frames for p in enc.encode(frame)]
        except Exception as e:  # noqa: BLE001 - av.error.FFmpegError and kin: its clients are told, Csound goes on
            del encoders[opts]
            for ws in enc.clients:
                asyncio.ensure_future(ws.close(1011, f"Opus encoding failed: {e}"[:120]))
            continue
        if not packets:
            continue
        for ws in enc.clients:
            if not writable(ws) or outbox.queued(ws) > enc.send_limit:
                dropped += len(packets)
            else:
                outbox.extend(ws, packets)  # the same objects for every client: framed once
                sent += len(packets)
    return sent, dropped
