"""Opus on the wire (docs/protocol.md, codec=opus): the stream's header, the
sequence number before each packet, and a decoder to numpy for clients.

A codec=opus client gets one text message first, a JSON object saying what
its decoder needs (codec, sample_rate, channels, frame_ms, frame_samples,
bitrate, pre_skip, csound_sr, sequence: the next packet's number), then one
binary message per Opus packet: a 4-byte little-endian sequence number, then
the packet.  A jump in the sequence is packets the server dropped for a slow
reader.  Decoding needs PyAV (the ``opus`` extra), imported when first used.
"""
from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where decoding starts: a server that never decodes never loads it
    import numpy as np

SEQUENCE = struct.Struct("<I")
DECODE_RATE = 48000  # decoders give Opus at 48 kHz, whatever the encoder's rate


class Decoder:
    """A codec=opus stream's messages in, float32 (channels, samples) blocks at 48 kHz out."""

    def __init__(self, header: str) -> None:
        import av  # the opus extra: csws.client asks for it only with codec="opus"
        import numpy

        self.header: dict[str, Any] = json.loads(header)
        self.channels = int(self.header["channels"])
        self.next = int(self.header["sequence"])  # the sequence number expected next
        self.lost = 0  # packets that never came
        ctx = av.CodecContext.create("opus", "r")
        ctx.sample_rate = DECODE_RATE
        ctx.layout = "mono" if self.channels == 1 else "stereo"
        self._ctx = ctx
        self._av = av
        self._np = numpy

    def decode(self, message: bytes) -> np.ndarray:
        """One packet's samples, (channels, samples), float32."""
        (seq,) = SEQUENCE.unpack_from(message)
        self.lost += (seq - self.next) & 0xFFFFFFFF
        self.next = (seq + 1) & 0xFFFFFFFF
        frames = [f.to_ndarray() for f in self._ctx.decode(self._av.Packet(message[SEQUENCE.size:]))]
        np = self._np
        if not frames:
            return np.zeros((self.channels, 0), np.float32)
        return np.concatenate(frames, axis=1).astype(np.float32, copy=False)
