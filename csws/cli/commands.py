"""`csws ls`, `csws tail`, `csws send`: look at and feed a running piece from a shell.

Each takes the port's address first, optionally (ws://host:port, host:port or
a port number; default ws://127.0.0.1:8888): a Csound variable name cannot
look like one, so `csws tail kval` and `csws tail 9000 kval` both work.  The
token comes from --token or CSWS_TOKEN, as for `csws run`.  With --channel,
tail and send take one of Csound's named channels instead of a variable.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client (numpy, websockets) loads when a command runs, not with every `csws run`
    import wave

    import numpy as np

    from csws.client import Channel, Client, Variable

DEFAULT_URL = "ws://127.0.0.1:8888"
COMMANDS = ("ls", "tail", "send")
WAV_CHUNK_BLOCKS = 64  # blocks read from a sound file at a time
_NAME = re.compile(r"[A-Za-z_]\w*")  # a Csound variable name; anything else is an address
# A channel may be named anything: with --channel, an address is what looks like one (a port
# number, a URL, host:port).
_ADDRESS = re.compile(r"\d+|[A-Za-z][\w+.-]*://.*|[^\s:/]+:\d+|\[[0-9A-Fa-f:.]+\]:\d+")


class CommandError(Exception):
    """A message for the user, printed as `csws CMD: ...` with exit status 1."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ls, tail and send subcommands, for csws.cli's parser."""
    token = {"default": os.environ.get("CSWS_TOKEN"), "help": "the server's token (default: $CSWS_TOKEN)"}
    channel = {"action": "store_true", "help": "NAME is one of Csound's named channels, not a variable"}
    p = sub.add_parser("ls", help="list what a running piece offers on a port: its variables (name, direction, "
                                  "type, shape), then Csound's channels (name, direction, type, hints)")
    p.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"the port's address ({DEFAULT_URL})")
    p.add_argument("--token", **token)
    p = sub.add_parser("tail", help="print a variable's frames as they arrive (--channel: a channel's values "
                                    "as it changes)")
    p.add_argument("where", nargs="+", metavar="[URL] NAME")
    p.add_argument("--channel", **channel)
    p.add_argument("--count", type=int, metavar="N", help="stop after N frames (values)")
    p.add_argument("--json", action="store_true", help="one JSON value a line (arrays nested as shaped)")
    p.add_argument("--token", **token)
    p = sub.add_parser("send", help="send a number, an array (several values), a string, or a .wav file "
                                    "(--channel: write a channel)")
    p.add_argument("where", nargs="*", metavar="[URL] NAME VALUE")
    p.add_argument("--channel", **channel)
    p.add_argument("--wav", metavar="FILE", help="stream a PCM .wav file into an a-rate input in real time")
    p.add_argument("--scale", type=float, default=1.0, metavar="FULL",
                   help="the value of full scale for --wav: the piece's 0dbfs (1)")
    p.add_argument("--token", **token)


def main(ns: argparse.Namespace) -> int:
    """Run the subcommand ns.command; the exit status."""
    import asyncio

    from csws.client import CswsError

    try:
        if ns.command == "ls":
            return asyncio.run(ls(ns.url, ns.token))
        url, rest = _split(ns.where, ns.channel)
        what = "channel" if ns.channel else "variable"
        if not rest:
            raise CommandError(f"name a {what}" + (", then the values to send" if ns.command == "send" else ""))
        if ns.command == "tail":
            if len(rest) > 1:
                raise CommandError(f"one {what} at a time (got {' '.join(rest)})")
            if ns.count is not None and ns.count < 1:
                raise CommandError("--count: at least 1")
            watch = tail_channel if ns.channel else tail
            return asyncio.run(watch(url, rest[0], ns.token, ns.count, ns.json))
        if ns.channel:
            if ns.wav is not None:
                raise CommandError("--wav streams into a-rate variables, not channels")
            return asyncio.run(send_channel(url, rest[0], rest[1:], ns.token))
        return asyncio.run(send(url, rest[0], rest[1:], ns.token, ns.wav, ns.scale))
    except (CommandError, CswsError, ValueError) as e:
        print(f"csws {ns.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `csws tail ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _split(args: list[str], channel: bool = False) -> tuple[str, list[str]]:
    """(address, the rest) of `[URL] NAME ...`."""
    if args and (_ADDRESS.fullmatch(args[0]) if channel else not _NAME.fullmatch(args[0])):
        return args[0], args[1:]
    return DEFAULT_URL, args


def shape_text(var: Variable) -> str:
    """A frame's shape as the client hands it over: 3x32; '-' for a number or a string."""
    shape = var.frame_shape()
    return "x".join(map(str, shape)) if shape else "-"


def _hint(value: float | str | None) -> str:
    """A channel's hint as text: 440, 0.5; '-' when it has none."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return repr(float(value)).removesuffix(".0")


def channel_row(ch: Channel) -> list[str]:
    """name, direction, type, default, min, max, behaviour."""
    return [ch.name, ch.direction, ch.type, *map(_hint, (ch.default, ch.min, ch.max, ch.behaviour))]


def _print_table(sections: list[list[list[str]]]) -> None:
    """Rows in columns two spaces apart: name, direction and type as wide as in any section, the
    other columns as in their own section; the last unpadded."""
    lead = [max((len(r[c]) for rows in sections for r in rows), default=0) for c in range(3)]
    for rows in sections:
        widths = lead + [max(len(r[c]) for r in rows) for c in range(3, len(rows[0]) - 1)] if rows else []
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


async def ls(url: str, token: str | None) -> int:
    from csws.client import connect

    async with connect(url, token=token) as cs:
        variables = [[v.name, v.direction, v.type, shape_text(v)] for v in cs.variables.values()]
        channels = [channel_row(ch) for ch in await cs.channels()]
    if not variables and not channels:
        print(f"csws ls: nothing on offer at {cs.url} (yet)", file=sys.stderr)
    _print_table([variables, channels])
    return 0


def format_frame(frame: Any, as_json: bool) -> str:
    """One line: numbers as Python writes them (shortest exact), arrays row-major, strings as text."""
    import json

    import numpy as np

    if isinstance(frame, np.ndarray):
        values = frame.tolist()
        return json.dumps(values) if as_json else " ".join(map(repr, frame.ravel().tolist()))
    if as_json:
        return json.dumps(frame, ensure_ascii=False)
    return repr(frame) if isinstance(frame, float) else frame


async def tail(url: str, name: str, token: str | None, count: int | None, as_json: bool) -> int:
    from csws.client import connect

    async with connect(url, token=token) as cs:
        seen = 0
        async with cs.subscribe(name) as sub:
            async for frame in sub:
                print(format_frame(frame, as_json), flush=True)
                seen += 1
                # An i-rate variable sends its one value on connecting, and nothing after.
                if seen == count or (sub.variable is not None and sub.variable.rate == "i"):
                    break
    return 0


async def tail_channel(url: str, name: str, token: str | None, count: int | None, as_json: bool) -> int:
    from csws.client import connect

    async with connect(url, token=token) as cs:
        seen = 0
        async with cs.watch(name) as changes:
            async for values in changes:  # the first: the current value
                print(format_frame(values[name], as_json), flush=True)
                seen += 1
                if seen == count:
                    break
    return 0


async def send_channel(url: str, name: str, values: list[str], token: str | None) -> int:
    from csws.client import connect

    async with connect(url, token=token) as cs:
        channels = {ch.name: ch for ch in await cs.channels()}
        ch = channels.get(name)
        if ch is None:
            raise CommandError(f"no channel named {name!r} at {cs.url}; Csound's channels: "
                               f"{', '.join(sorted(channels)) or 'none yet'}")
        if not values:
            raise CommandError(f"give a value to send to channel {name}")
        if ch.type == "string":
            await cs.set_channel(name, " ".join(values))
            return 0
        if len(values) != 1:
            raise CommandError(f"channel {name} (control) takes 1 number; got {len(values)} values")
        try:
            number = float(values[0])
        except ValueError as e:
            raise CommandError(f"channel {name} (control) takes a number: {e}") from None
        await cs.set_channel(name, number)
    return 0


async def send(url: str, name: str, values: list[str], token: str | None, wav_path: str | None,
               scale: float) -> int:
    import numpy as np

    from csws.client import connect

    async with connect(url, token=token) as cs:
        var = await cs.variable(name)
        if wav_path is not None:
            if values:
                raise CommandError("--wav or values, not both")
            await cs.play(name, wav_chunks(wav_path, var, cs, scale))
            return 0
        if not values:
            raise CommandError(f"give a value to send to {name}")
        if var.rate == "S":
            await cs.send(name, " ".join(values))
            return 0
        try:
            numbers = np.array([float(v) for v in values])
        except ValueError as e:
            raise CommandError(f"{name} ({var.type}) takes numbers: {e}") from None
        want = var.frame_shape()
        size = int(np.prod(want))
        if numbers.size != size:
            what = "1 value" if not want else f"{size} values (shape {want}, row-major)"
            raise CommandError(f"{name} ({var.type}) takes {what}; got {numbers.size}")
        await cs.send(name, numbers.reshape(want))
    return 0


def wav_chunks(path: str, var: Variable, cs: Client, scale: float) -> Iterator[np.ndarray]:
    """The file's samples, a few blocks at a time, shaped for `var`: (samples,) or (channels, samples).

    Checked before the first chunk (this is not a generator), so a wrong rate or channel
    count is refused before anything is sent.
    """
    import wave

    try:
        w = wave.open(path, "rb")
    except (wave.Error, EOFError) as e:
        raise CommandError(f"{path}: {e}; only PCM .wav files (8, 16, 24 or 32-bit integers) are read: "
                           f"convert with e.g. sox {path} -b 16 out.wav") from None
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror}") from None
    channels = var.elements if var.type == "a[]" else 1
    rate, nch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
    if var.rate != "a":
        w.close()
        raise CommandError(f"{var.name} ({var.type}) is not an a-rate input: --wav needs an a or a[] variable")
    if rate != cs.sr:
        w.close()
        # No resampling: the standard library has no resampler, and a naive one would alias.
        raise CommandError(f"{path} is {rate} Hz but the piece runs at sr={cs.sr:g}; resample it first, "
                           f"e.g. sox {path} -r {cs.sr:g} out.wav")
    if nch != channels:
        w.close()
        raise CommandError(f"{path} has {nch} channel{'s' * (nch != 1)}; {var.name} ({var.type}) "
                           f"takes {channels}")
    return _read_wav(w, var, cs.ksmps * WAV_CHUNK_BLOCKS, width, nch, scale)


def _read_wav(w: wave.Wave_read, var: Variable, frames: int, width: int, nch: int,
              scale: float) -> Iterator[np.ndarray]:
    import numpy as np

    with w:
        while data := w.readframes(frames):
            if width == 1:  # 8-bit WAV is unsigned
                samples = (np.frombuffer(data, np.uint8).astype(np.float64) - 128) / 128
            elif width == 3:  # 24-bit: put each sample in the top of an int32
                raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
                padded = np.zeros((raw.shape[0], 4), np.uint8)
                padded[:, 1:] = raw
                samples = padded.view("<i4").ravel() / 2.0**31
            else:
                samples = np.frombuffer(data, f"<i{width}") / 2.0 ** (8 * width - 1)
            samples = samples.reshape(-1, nch).T * scale
            yield samples.reshape(*var.shape, -1) if var.type == "a[]" else samples[0]
