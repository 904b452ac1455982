"""A Python client for a running piece: frames as numpy arrays shaped as Csound holds them.

    from csws.client import connect

    async with connect("ws://127.0.0.1:8888") as cs:
        async for block in cs.subscribe("aArr"):   # a[3]: float64 (3, ksmps)
            ...
        await cs.send("kfreq", 440)
        await cs.set_channel("cutoff", 2000)       # Csound's named channels
        await cs.score("i 2 0 1")

    with connect_sync() as cs:                     # scripts and notebooks
        for value in cs.subscribe("klfo"):
            ...

The wire (docs/protocol.md): one websocket per variable, named by its
subprotocol; numbers as little-endian floats, strings as text.  /csws.json
tells each variable's type and shape, which decides how a frame is decoded
and what send() accepts.  Csound's named channels, score events and code go
over one more websocket, subprotocol csws.control: JSON requests matched to
their answers by id.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import math
import numbers
import random
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, Self, TypeVar, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from csws.cli import commands
from csws._frames import deinterleave_frame, interleave_array
from csws.protocol.control import MAX_MESSAGE as CONTROL_MAX_MESSAGE
from csws.protocol.control import SUBPROTOCOL as CONTROL

__all__ = [
    "DEFAULT_URL", "Channel", "Client", "Closed", "ControlError", "CswsError", "Frame", "Refused",
    "Subscription", "SyncClient", "SyncSubscription", "SyncWatch", "Unreachable", "Variable", "Watch",
    "connect", "connect_sync",
]

DEFAULT_URL = commands.DEFAULT_URL  # defined there so that `csws run` need not load this module
DTYPES = ("float64", "float32")
MAX_FRAMES = 4096  # the server's limit on ?frames=M
OPEN_TIMEOUT = 10.0  # seconds for /csws.json or a websocket handshake
QUEUE_SECONDS = 0.25  # messages a slow reader may have waiting here, like the server's own ring
RETRY_MIN, RETRY_MAX = 0.25, 5.0  # reconnect back-off, seconds (as csws.js)
# Closes that say "this server is going or gone": the next address of a list is tried.  1008 (a bad
# request) and 1009 (too big) would be the same anywhere; 1000 is a close that was meant.
FAILOVER_CODES = frozenset({1001, 1006, 1011, 1012, 1013})

Frame = Union[float, np.ndarray, str]
Address = Union[str, int]  # ws://host:port, host:port, or a port on 127.0.0.1
ChannelValue = Union[float, str]
T = TypeVar("T")


class CswsError(Exception):
    """Something went wrong talking to a csws server."""


class Unreachable(CswsError):
    """No server answers at the address (the piece is not running, or has ended)."""


class Refused(CswsError):
    """The server answered with an HTTP error instead of the data: 400, 401, 403, 503..."""

    def __init__(self, url: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{url}: HTTP {status}: {body.strip() or 'refused'}")


class Closed(CswsError):
    """The server closed a variable's websocket (the instrument ended, a bad option...)."""

    def __init__(self, name: str, code: int, reason: str) -> None:
        self.name = name
        self.code = code
        self.reason = reason
        if code == 1006:
            text = f"{name}: the server went away (the connection dropped without a close)"
        else:
            text = f"{name}: the server closed the connection ({code}{' ' + reason if reason else ''})"
        super().__init__(text)


class ControlError(CswsError):
    """The server refused a control request: an unknown channel, a value of the wrong type, a
    refused score statement, code while code is not allowed...  The text is the server's."""

    def __init__(self, op: str, reason: str) -> None:
        self.op = op
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Variable:
    """One variable as /csws.json describes it."""

    name: str
    direction: str  # "to_web": subscribe to it; "from_web": send to it
    type: str  # k a i S k[] a[] i[]
    rate: str  # k a i S
    shape: tuple[int, ...]  # an array's dimensions; () for scalars and strings
    values: int  # numbers in one frame (0 for strings)
    frame_samples: int  # ksmps for a-rate, else 1
    layout: str  # scalar, block, row-major, interleaved

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Variable:
        return cls(d["name"], d["direction"], d["type"], d["rate"], tuple(d["shape"]), d["values"],
                   d["frame_samples"], d["layout"])

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    def frame_shape(self, frames: int = 1) -> tuple[int, ...]:
        """The numpy shape of a frame as subscribe() yields it and send() takes it; () for a number."""
        if self.rate == "a":
            return (*self.shape, frames * self.frame_samples)
        return self.shape


@dataclass(frozen=True)
class Channel:
    """One of Csound's named channels, with the hints chn_k (or chnparams) gave it."""

    name: str
    type: str  # "control" (a number) or "string"
    direction: str  # "from_web" (Csound reads it), "to_web" (Csound writes it) or "both"
    default: float | None = None  # the hints: None (all four) when the channel has none
    min: float | None = None
    max: float | None = None
    behaviour: str | None = None  # "integer", "linear" or "exponential"
    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0
    attributes: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Channel:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def _channel_value(name: str, value: Any) -> ChannelValue:
    """A value for set_channel() as the wire takes it: a str, or a finite number as a float."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(value)
    raise ValueError(f"channel {name} takes a finite number or a str; got {value!r:.80}")


def _from_wire(value: float | str | None) -> ChannelValue:
    """A channel's value as the server sent it; null (a nan or inf, which JSON lacks) is nan."""
    return value if isinstance(value, str) else math.nan if value is None else float(value)


def _normalise(url: str | int) -> str:
    """ws[s]:// URL from the forms people type: 8888 (a number or text), host:8888, http://host:8888/."""
    url = str(url).strip()
    if url.isdigit():
        return f"ws://127.0.0.1:{url}"
    if "://" not in url:
        return "ws://" + url
    scheme, rest = url.split("://", 1)
    return {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower()) + "://" + rest


def _addresses(url: Address | Sequence[Address]) -> list[str]:
    """The ws[s]:// URLs of one address or of a list of them (a client fails over along it)."""
    given = [url] if isinstance(url, (str, int)) else list(url)
    if not given:
        raise ValueError("url: give an address, or a list of at least one")
    return [_normalise(u) for u in given]


def _with_query(url: str, path: str, options: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(options)
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def _describe_shape(shape: tuple[int, ...]) -> str:
    return "a number" if shape == () else f"an array of shape {shape}"


def decode(var: Variable, message: bytes | str, dtype: str = "float64", frames: int = 1) -> Frame:
    """One message of `var` as subscribe() hands it over."""
    if var.rate == "S":
        if isinstance(message, str):
            return message
        raise CswsError(f"{var.name}: a binary message on a string variable")
    if isinstance(message, str):
        raise CswsError(f"{var.name}: a text message on a numeric variable: {message[:80]!r}")
    data = np.frombuffer(message, dtype="<f4" if dtype == "float32" else "<f8")
    count = var.values * frames
    if data.size != count or len(message) != count * data.itemsize:
        raise CswsError(f"{var.name}: a message of {len(message)} bytes; expected {count} {dtype} values")
    if var.shape == () and var.rate != "a":
        return float(data[0])
    if var.type == "a[]":
        return deinterleave_frame(data, var.elements).reshape(var.frame_shape(frames))
    return data.reshape(var.frame_shape(frames)).copy()  # a copy: frombuffer's view is read-only


def encode(var: Variable, value: Any) -> bytes | str:
    """`value` as the message `var` takes, or ValueError naming the variable and the shape it wants."""
    if var.rate == "S":
        if not isinstance(value, str):
            raise ValueError(f"{var.name} (S) takes a str, not {type(value).__name__}")
        return value
    want = var.frame_shape()
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{var.name} ({var.type}) takes {_describe_shape(want)}, not {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{var.name} ({var.type}) takes {_describe_shape(want)}; got {value!r:.80}") from None
    if arr.shape != want and not (want == () and arr.shape == (1,)):
        raise ValueError(f"{var.name} ({var.type}) takes {_describe_shape(want)}; got shape {arr.shape}")
    if var.type == "a[]":
        arr = interleave_array(arr.reshape(var.elements, var.frame_samples))
    return np.ascontiguousarray(arr, dtype="<f8").tobytes()


def _closed(name: str, e: ConnectionClosed) -> Closed:
    if e.rcvd is not None:
        return Closed(name, e.rcvd.code, e.rcvd.reason)
    return Closed(name, 1006, "")


class Client:
    """A connection to one csws port.  Use `async with connect(...)` (or `await connect(...)`).

    Given a list of addresses (edges serving one Csound, or copies of a piece), it uses one at a
    time, `url`, and moves to the next, round robin, when a socket to it fails or closes abnormally;
    the peers an edge lists in /csws.json (edge.also) join the list.
    """

    def __init__(self, url: Address | Sequence[Address] = DEFAULT_URL, *, token: str | None = None,
                 dtype: str = "float64", reconnect: bool = False) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r}: use float64 or float32")
        self.urls = _addresses(url)  # one token for them all
        self.url = self.urls[0]  # the one in use
        self.token = token
        self.dtype = dtype
        self.reconnect = reconnect
        self.info: dict[str, Any] = {}  # /csws.json as last read
        self.variables: dict[str, Variable] = {}
        self._senders: dict[str, tuple[ClientConnection, str]] = {}  # name -> (socket, its address)
        self._subscriptions: set[Subscription] = set()
        self._control: _Control | None = None  # opened on first use
        self._control_lock = asyncio.Lock()  # so that concurrent first uses open one socket
        self._watches: set[Watch] = set()

    @property
    def sr(self) -> float:
        return self.info["sr"]

    @property
    def ksmps(self) -> int:
        return self.info["ksmps"]

    def _failed(self, base: str) -> None:
        """A socket to `base` failed: if that is the address in use, the next one is from now on."""
        if base == self.url and len(self.urls) > 1:
            self.url = self.urls[(self.urls.index(base) + 1) % len(self.urls)]

    def _closed_at(self, base: str, e: ConnectionClosed) -> None:
        if (e.rcvd.code if e.rcvd is not None else 1006) in FAILOVER_CODES:
            self._failed(base)

    def _ws_url(self, base: str, options: dict[str, str]) -> str:
        return _with_query(base, "/", {**({"token": self.token} if self.token else {}), **options})

    async def refresh(self) -> dict[str, Variable]:
        """Read /csws.json again: variables come and go with their instruments.  With a list of
        addresses, those that do not answer are passed over (Unreachable if none does)."""
        for tried in range(len(self.urls)):
            base = self.url
            try:
                body = await asyncio.to_thread(self._fetch_info, base)
                break
            except Unreachable:
                self._failed(base)
                if tried == len(self.urls) - 1:
                    raise
        shown = f"{base.replace('ws', 'http', 1)}/csws.json"
        try:
            info = json.loads(body)
            variables = {v["name"]: Variable.from_json(v) for v in info["variables"]}
        except (ValueError, KeyError, TypeError) as e:
            raise CswsError(f"{shown} is not a csws server's description ({e!r:.80})") from None
        self.info, self.variables = info, variables
        self._add_urls(info.get("edge"))
        return variables

    def _add_urls(self, edge: Any) -> None:
        """An edge's peers (/csws.json's edge.also): more addresses to fail over to."""
        also = edge.get("also") if isinstance(edge, dict) else None
        for url in also if isinstance(also, list) else ():
            if isinstance(url, str) and (address := _normalise(url)) not in self.urls:
                self.urls.append(address)

    def _fetch_info(self, base: str) -> bytes:
        """/csws.json of `base` (blocking)."""
        url = _with_query(base.replace("ws", "http", 1), "/csws.json", {"token": self.token} if self.token else {})
        shown = url.split("?", 1)[0]  # never print a token
        try:
            with urllib.request.urlopen(url, timeout=OPEN_TIMEOUT) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            raise Refused(shown, e.code, e.read().decode("utf-8", "replace")) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Unreachable(f"no csws server at {base} ({reason}): is the piece running?") from None

    async def variable(self, name: str) -> Variable:
        """What /csws.json says of `name` (read again if not known yet); CswsError if not on offer."""
        var = self.variables.get(name) or (await self.refresh()).get(name)
        if var is None:
            offer = ", ".join(sorted(self.variables)) or "nothing yet"
            raise CswsError(f"{name} is not on offer at {self.url}; on offer: {offer}")
        return var

    async def _open(self, base: str, name: str, direction: str | None, options: dict[str, str],
                    queue: int = 16) -> ClientConnection:
        """The websocket at `base` to one variable going `direction` ("to_web": we receive; the
        server closes the other way round with 1008), or to the control socket (direction None);
        Refused / Unreachable with the server's words.  A server that is not there or is
        overloaded (5xx) moves the client to its next address."""
        url = self._ws_url(base, {**({"direction": direction} if direction else {}), **options})
        try:
            return await ws_connect(url, subprotocols=[name], compression=None, open_timeout=OPEN_TIMEOUT,
                                    max_size=None, max_queue=queue, close_timeout=1.0)
        except InvalidStatus as e:
            if e.response.status_code >= 500:
                self._failed(base)
            body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
            raise Refused(f"{base} ({name})", e.response.status_code, body) from None
        except (OSError, TimeoutError, InvalidHandshake) as e:
            # InvalidHandshake: a server going down mid-handshake, or not a websocket server at all.
            self._failed(base)
            raise Unreachable(f"no csws server at {base} ({str(e) or 'no answer in time'}): "
                              "is the piece running?") from None

    def subscribe(self, name: str, *, frames: int = 1, dtype: str | None = None, codec: str = "pcm",
                  bitrate: int | None = None, frame_ms: float | None = None) -> Subscription:
        """An async iterator of `name`'s frames (see Subscription).

        It connects when iterated, or at once as `async with cs.subscribe(name) as sub`.
        codec="opus" (a-rate variables, the opus extra): Opus packets decoded to float32 blocks
        of frame_ms at 48 kHz; bitrate (bit/s) and frame_ms default to the server's.
        """""
        if codec not in ("pcm", "opus"):
            raise ValueError(f"codec={codec!r}: use pcm or opus")
        if codec == "opus" and frames != 1:
            raise ValueError("frames= is for PCM: Opus packets are frame_ms long")
        wire = {"codec": "opus", **({"bitrate": str(bitrate)} if bitrate else {}),
                **({"frame_ms": f"{frame_ms:g}"} if frame_ms else {})} if codec == "opus" else {}
        dtype = dtype or self.dtype
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r}: use float64 or float32")
        if not (isinstance(frames, int) and 1 <= frames <= MAX_FRAMES):
            raise ValueError(f"frames={frames!r}: a whole number from 1 to {MAX_FRAMES}")
        var = self.variables.get(name)
        if var is not None:
            _check_subscribe(var, frames)
        sub = Subscription(self, name, frames, dtype, wire)
        self._subscriptions.add(sub)
        return sub

    async def send(self, name: str, value: Any) -> None:
        """Send one frame: a number (k, i), an array of the variable's shape (k[], i[]), a block
        of ksmps samples (a), an (elements, ksmps) array (a[]) or a str (S).

        A value of the wrong shape is a ValueError before anything is sent.  For a-rate
        streams see play(), which paces the blocks to Csound's clock.
        """
        var = await self._sending(name)
        await self._send(name, encode(var, value))

    async def play(self, name: str, signal: np.ndarray | Iterable[np.ndarray], *, lead: float = 0.1) -> None:
        """Stream a signal into an a-rate input in real time, block by block at sr/ksmps.

        `signal`: samples (a) or (elements, samples) (a[]), or an iterable of such chunks
        (a long file read piece by piece).  A chunk that is not whole blocks is padded with
        silence.  `lead` seconds are sent ahead of Csound's clock to ride out jitter; keep it
        under the server's FIFO (CSWS_BUFFER_SECONDS, 0.25 s), whose overflow drops blocks.
        Returns when Csound has had time to play the last block.
        """
        var = await self._sending(name)
        if var.rate != "a":
            raise ValueError(f"{name} ({var.type}) is not an a-rate input: use send()")
        chunks = [signal] if isinstance(signal, np.ndarray) else signal
        ksmps, period = var.frame_samples, var.frame_samples / self.sr
        block_bytes = var.values * 8
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        for chunk in chunks:
            arr = np.asarray(chunk, dtype=np.float64)
            if arr.shape[:-1] != var.shape:
                raise ValueError(f"{name} ({var.type}) plays an array of shape {(*var.shape, 'samples')}; "
                                 f"got shape {arr.shape}")
            arr = arr.reshape(var.elements, -1) if var.type == "a[]" else arr
            pad = -arr.shape[-1] % ksmps
            if pad:
                arr = np.concatenate([arr, np.zeros((*arr.shape[:-1], pad))], axis=-1)
            # Interleaving the whole chunk at once interleaves each of its blocks.
            wire = interleave_array(arr) if var.type == "a[]" else arr
            data = np.ascontiguousarray(wire, dtype="<f8").tobytes()
            for offset in range(0, len(data), block_bytes):
                wait = start + sent * period - lead - loop.time()
                if wait > 0.005:  # sleep in slices of a few blocks: timers are not sub-millisecond
                    await asyncio.sleep(wait)
                await self._send(name, data[offset:offset + block_bytes])
                sent += 1
        await asyncio.sleep(max(0.0, start + sent * period - loop.time()))

    async def _sending(self, name: str) -> Variable:
        """The variable `name` if it takes data from the web; its socket opened."""
        var = await self.variable(name)
        if var.direction != "from_web":
            raise ValueError(f"{name} goes from Csound to the web: subscribe to it, it takes nothing")
        return var

    async def _sender(self, name: str) -> tuple[ClientConnection, str]:
        sender = self._senders.get(name)
        if sender is None:
            base = self.url
            sender = self._senders[name] = (await self._open(base, name, "from_web", {}), base)
        return sender

    async def _send(self, name: str, message: bytes | str) -> None:
        for again in (False, True):
            ws, base = await self._sender(name)
            try:
                return await ws.send(message)
            except ConnectionClosed as e:
                del self._senders[name]
                self._closed_at(base, e)
                # With reconnect, open once more: the instrument may have started again.
                if not self.reconnect or again:
                    raise _closed(name, e) from None

    # ---- Csound's channels, score and code: the control socket ----

    async def _control_socket(self) -> _Control:
        async with self._control_lock:
            if self._control is None or self._control.lost is not None:
                if self._control is not None:
                    self._closed_at(self._control.base, self._control.lost)
                base = self.url
                ws = await self._open(base, CONTROL, None, {})
                try:
                    async with asyncio.timeout(OPEN_TIMEOUT):
                        hello = json.loads(await ws.recv())
                    if not isinstance(hello, dict) or hello.get("op") != "hello":
                        raise ValueError(f"{hello!r:.80}")
                except ConnectionClosed as e:
                    raise _closed(CONTROL, e) from None
                except (ValueError, TimeoutError) as e:
                    await ws.close()
                    raise CswsError(f"{base} ({CONTROL}) did not greet as a csws control socket ({e!r:.80})") \
                        from None
                self._control = _Control(ws, base)
            return self._control

    async def control(self, op: str, **fields: Any) -> Any:
        """One request on the control socket (docs/protocol.md), e.g. control("get", names=["freq"]):
        the answer's `ok`, or ControlError with the server's sentence.  The methods below use it."""
        return await (await self._control_socket()).request(op, **fields)

    async def channel(self, name: str) -> ChannelValue:
        """A channel's value now: a float (control channel) or a str (string channel)."""
        values = await self.control("get", names=[name])
        return _from_wire(values[name])

    async def set_channel(self, name: str, value: float | str) -> None:
        """Write a channel: a number to a control channel, a str to a string channel."""
        await self.set_channels({name: value})

    async def set_channels(self, values: dict[str, float | str]) -> None:
        """Write several channels at once; if any name or value is wrong, none is written."""
        await self.control("set", values={n: _channel_value(n, v) for n, v in values.items()})

    async def channels(self) -> list[Channel]:
        """Csound's control and string channels now, with their hints."""
        return [Channel.from_json(c) for c in await self.control("list")]

    def watch(self, *names: str) -> Watch:
        """An async iterator of {name: value} dicts of the channels that changed; the first holds
        every watched channel's current value.  No names: every channel, also those made later.

        It starts when iterated, or at once as `async with cs.watch(name) as changes`.
        """
        w = Watch(self, names)
        self._watches.add(w)
        return w

    async def score(self, text: str) -> None:
        """Score lines for Csound to read (i, f, a, d, q, t, b, v statements), e.g. "i 1 0 3".
        Statements that would end, jump or loop the score (e, s, x, r, m, n) or read files (#)
        are refused with ControlError."""
        await self.control("score", text=text)

    async def compile_orc(self, code: str) -> None:
        """Compile orchestra code (instruments, opcodes, globals) into the running Csound.

        The server runs code only when its user allowed it (csws run --allow-code); otherwise,
        or when the code does not compile, ControlError."""
        await self.control("orc", text=code)

    async def eval_code(self, code: str) -> float:
        """Compile and run orchestra code once; the number its `return` gives (as compile_orc)."""
        return _from_wire(await self.control("eval", text=code))

    async def score_time(self) -> float:
        """Csound's score time, in seconds."""
        return float(await self.control("time"))

    async def message(self, text: str) -> None:
        """Print a line in Csound's console (as `csws page: text`)."""
        await self.control("message", text=text)

    async def close(self) -> None:
        """Close every subscription, watch and socket."""
        for w in self._watches:
            w._end()
        self._watches.clear()
        control, self._control = self._control, None
        await asyncio.gather(*(s.close() for s in list(self._subscriptions)),
                             *(ws.close() for ws, _ in self._senders.values()),
                             *([control.close()] if control is not None else []))
        self._senders.clear()

    async def _start(self) -> Client:
        await self.refresh()
        return self

    def __await__(self):
        return self._start().__await__()

    async def __aenter__(self) -> Client:
        return await self._start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _check_subscribe(var: Variable, frames: int) -> None:
    if var.direction != "to_web":
        raise ValueError(f"{var.name} goes from the web to Csound: send() to it, there is nothing to subscribe to")
    if frames > 1 and var.rate != "a":
        raise ValueError(f"frames={frames} is for a-rate variables; {var.name} is {var.type}")


class Subscription:
    """The frames of one variable Csound sends, as an async iterator.

    k, i: float; a: (ksmps * frames,) array; k[], i[]: the array's shape; a[]:
    (elements..., ksmps * frames), planar as Csound holds it; S: str.  An i-rate
    variable has one frame (its value at init).  With codec="opus", a packet's
    samples at 48 kHz, float32: a: (samples,), a[]: (elements, samples); `opus`
    is the stream's header (docs/protocol.md) and `lost` counts packets that
    never came.  The iterator raises Closed when the server closes (unless the
    client reconnects), and ends when close() is called.
    """

    def __init__(self, client: Client, name: str, frames: int, dtype: str,
                 wire: dict[str, str] | None = None) -> None:
        self.client = client
        self.name = name
        self.frames = frames
        self.dtype = dtype
        self._wire = wire or {}  # codec=opus and its settings
        self._decoder: Any = None  # csws.protocol.opus.Decoder, from the stream's header
        self._lost = 0  # by decoders of earlier connections
        self.variable: Variable | None = None
        self._ws: ClientConnection | None = None
        self._base = client.url  # where _ws is open
        self._closed = False

    async def _connect(self) -> ClientConnection:
        client, delay = self.client, RETRY_MIN
        options = {"dtype": self.dtype} if self.dtype != "float64" else {}
        if self.frames > 1:
            options["frames"] = str(self.frames)
        options.update(self._wire)
        while True:
            try:
                kr = client.sr / client.ksmps
                queue = max(16, int(QUEUE_SECONDS * kr / self.frames))
                self._base = client.url
                ws = await client._open(self._base, self.name, "to_web", options, queue)
                break
            except (Unreachable, Refused) as e:
                # 400: not on offer (yet); 503: too many clients.  401/403 will not change.
                if not client.reconnect or (isinstance(e, Refused) and e.status in (401, 403)):
                    raise
            await asyncio.sleep(delay * random.uniform(0.75, 1.0))
            delay = min(RETRY_MAX, delay * 2)
        var = client.variables.get(self.name)
        if var is None or self.variable is not None:  # unknown, or a reconnection: a new instance may differ
            var = (await client.refresh()).get(self.name)
        if var is None:
            await ws.close()
            raise CswsError(f"{self.name} went away as it was opened")
        try:
            _check_subscribe(var, self.frames)
        except ValueError:
            await ws.close()
            raise
        self.variable = var
        return ws

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self

    async def __anext__(self) -> Frame:
        while not self._closed:
            if self._ws is None:
                self._ws = await self._connect()
            try:
                message = await self._ws.recv()
            except ConnectionClosed as e:
                self._ws = None
                if self._closed:
                    break
                self.client._closed_at(self._base, e)
                if not self.client.reconnect:
                    self._closed = True
                    raise _closed(self.name, e) from None
                continue
            assert self.variable is not None
            if self._wire:
                block = self._opus(message)
                if block is None:
                    continue
                return block
            return decode(self.variable, message, self.dtype, self.frames)
        raise StopAsyncIteration

    @property
    def opus(self) -> dict[str, Any] | None:
        """codec="opus": the stream's header (sample_rate, channels, frame_ms, bitrate...)."""
        return self._decoder.header if self._decoder is not None else None

    @property
    def lost(self) -> int:
        """codec="opus": packets that never came (the server dropped them for a slow reader)."""
        return self._lost + (self._decoder.lost if self._decoder is not None else 0)

    def _opus(self, message: bytes | str) -> np.ndarray | None:
        """A decoded packet, or None for the header that opens a stream."""
        from csws.protocol.opus import Decoder

        if isinstance(message, str):
            if self._decoder is not None:
                self._lost += self._decoder.lost
            self._decoder = Decoder(message)
            return None
        if self._decoder is None:
            raise CswsError(f"{self.name}: an Opus packet before the stream's header")
        block = self._decoder.decode(message)
        assert self.variable is not None
        return block[0] if self.variable.type == "a" else block

    async def close(self) -> None:
        self._closed = True
        self.client._subscriptions.discard(self)
        if self._ws is not None:
            await self._ws.close()

    async def __aenter__(self) -> Subscription:
        # Connect now: a-rate data sent after this line reaches this subscription.
        if self._ws is None and not self._closed:
            self._ws = await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


_UNSEEN = object()


def _same(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)  # a nan stays a nan: no news


class _Control:
    """A client's one control socket: requests matched to their answers by id, and the
    server's `values` pushes handed to every watch on it."""

    def __init__(self, ws: ClientConnection, base: str) -> None:
        self.ws = ws
        self.base = base  # the client's address it is open at
        self.lost: ConnectionClosed | None = None  # set when the socket is gone
        self.watches: set[Watch] = set()
        self._ids = itertools.count(1)
        # id -> (op, its answer: the message, or None when the socket went first)
        self._pending: dict[int, tuple[str, asyncio.Future[dict | None]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    def error(self) -> Closed:
        assert self.lost is not None
        return _closed(CONTROL, self.lost)

    async def request(self, op: str, **fields: Any) -> Any:
        if self.lost is not None:
            raise self.error()
        rid = next(self._ids)
        text = json.dumps({"op": op, "id": rid, **fields}, ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
        if size > CONTROL_MAX_MESSAGE:  # the server would close the socket (1009)
            raise ValueError(f"{op}: a request of {size} bytes; the control socket takes at most "
                             f"{CONTROL_MAX_MESSAGE}")
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = (op, future)
        try:
            await self.ws.send(text)
            answer = await future
        except ConnectionClosed as e:
            raise _closed(CONTROL, e) from None
        finally:
            del self._pending[rid]
        if answer is None:
            raise self.error()
        if "error" in answer:
            raise ControlError(op, str(answer["error"]))
        return answer.get("ok")

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.recv()
                try:
                    msg = json.loads(message)
                    rid = msg.get("id")
                    pending = self._pending.get(rid) if isinstance(rid, int) else None
                    values = ({n: _from_wire(v) for n, v in msg["values"].items()}
                              if pending is None and msg.get("op") == "values" else None)
                except (ValueError, TypeError, AttributeError, KeyError):
                    await self.ws.close(1002, "a control message that is not what docs/protocol.md says")
                    continue
                if pending is not None:
                    if not pending[1].done():  # done: its request was cancelled
                        pending[1].set_result(msg)
                elif values is not None:
                    for w in list(self.watches):
                        w._deliver(values)
                # Nothing to do for the other pushes: `channels` (the list changed; a watch of every
                # channel gets the new ones' values anyway) and errors of requests without an id.
        except ConnectionClosed as e:
            self.lost = e
        for _, future in self._pending.values():
            if not future.done():
                future.set_result(None)
        for w in list(self.watches):
            w._wake.set()

    async def unwatch(self, names: tuple[str, ...]) -> None:
        """Tell the server what to stop sending now that a watch of `names` (() : every channel)
        has ended and left this socket; the other watches on it go on."""
        if any(not w.names for w in self.watches):
            return  # another watch wants every channel
        rest = set().union(*(w.names for w in self.watches))
        if names:
            if stop := sorted(set(names) - rest):
                await self.request("unwatch", names=stop)
        else:
            await self.request("unwatch", names="*")  # that stops every channel for this socket,
            if rest:
                await self.request("watch", names=sorted(rest))  # so ask again for the others'

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


class Watch:
    """Changes of Csound's channels as an async iterator of {name: value} dicts.

    The first dict holds every watched channel's current value; each next one the channels
    that changed since, with their newest values: a slow reader skips values, it never falls
    behind.  Raises Closed when the server closes (unless the client reconnects, which watches
    again and goes on with what changed); ends when close() is called.
    """

    def __init__(self, client: Client, names: tuple[str, ...]) -> None:
        self.client = client
        self.names = names  # (): every channel, also those made later
        self._control: _Control | None = None
        self._changed: dict[str, ChannelValue] = {}  # arrived, not handed over yet
        self._seen: dict[str, ChannelValue] = {}  # as last handed over
        self._wake = asyncio.Event()
        self._closed = False

    def _deliver(self, values: dict[str, ChannelValue]) -> None:
        mine = values if not self.names else {n: values[n] for n in self.names if n in values}
        if mine:
            self._changed.update(mine)
            self._wake.set()

    def _end(self) -> None:
        self._closed = True
        self._wake.set()

    async def _start(self) -> None:
        client, delay = self.client, RETRY_MIN
        while True:
            try:
                control = await client._control_socket()
                control.watches.add(self)  # before asking: the current values come before the answer
                try:
                    await control.request("watch", names=list(self.names) or "*")
                except BaseException:
                    control.watches.discard(self)
                    raise
                self._control = control
                return
            except (Unreachable, Refused, Closed) as e:
                # Gone or not there yet: the piece may be starting (again).  401 and 403 will not change.
                if not client.reconnect or isinstance(e, Refused) and e.status in (401, 403):
                    raise
            await asyncio.sleep(delay * random.uniform(0.75, 1.0))
            delay = min(RETRY_MAX, delay * 2)

    def __aiter__(self) -> AsyncIterator[dict[str, ChannelValue]]:
        return self

    async def __anext__(self) -> dict[str, ChannelValue]:
        while not self._closed:
            if self._control is None:
                await self._start()
                continue
            # The socket's pushes are for every watch on it (a new watch makes the server send its
            # channels' current values): hand over only what is news to this one.
            news = {n: v for n, v in self._changed.items() if not _same(self._seen.get(n, _UNSEEN), v)}
            self._changed.clear()
            if news:
                self._seen.update(news)
                return news
            if self._control.lost is not None:
                lost, self._control = self._control, None
                if not self.client.reconnect:
                    self._closed = True
                    raise lost.error()
                continue
            self._wake.clear()
            await self._wake.wait()
        raise StopAsyncIteration

    async def close(self) -> None:
        """Stop watching (the client's other watches go on)."""
        self._end()
        self.client._watches.discard(self)
        control, self._control = self._control, None
        if control is not None and control.lost is None:
            control.watches.discard(self)
            try:
                await control.unwatch(self.names)
            except Closed:  # the socket went meanwhile: nothing to stop
                pass

    async def __aenter__(self) -> Watch:
        # Start now: changes made after this line are seen.
        if self._control is None and not self._closed:
            await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def connect(url: Address | Sequence[Address] = DEFAULT_URL, *, token: str | None = None,
            dtype: str = "float64", reconnect: bool = False) -> Client:
    """A client for the port at `url`: `async with connect() as cs` (or `cs = await connect()`).

    `url`: ws://host:port (also host:port, or a port number on 127.0.0.1), or a list of them
    (edges of one Csound): one is used at a time, and a socket that fails or closes abnormally
    moves the client to the next, round robin.  `token`: the server's CSWS_TOKEN (the same
    for every address).  `dtype`: float64 (Csound's values exactly) or float32, the default for
    subscribe().  `reconnect`: subscriptions and watches reopen with back-off when closed (the
    instrument ended, the piece restarted, a server of the list went away) instead of raising Closed.
    """
    return Client(url, token=token, dtype=dtype, reconnect=reconnect)


# ---- blocking use: the client's loop runs in a thread of its own ----


class _LoopThread:
    """An event loop in a daemon thread, so blocking code (and Jupyter, whose own loop is
    busy running the cell) can drive the async client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="csws-client", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C (a notebook's interrupt): stop the coroutine too
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class _SyncIterator(Generic[T]):
    """An async iterator of the client's (a Subscription, a Watch) as a blocking one."""

    def __init__(self, runner: _LoopThread, sub: Subscription | Watch) -> None:
        self._runner = runner
        self._sub = sub

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return self._runner.run(self._sub.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        self._runner.run(self._sub.close())

    def __enter__(self) -> Self:
        self._runner.run(self._sub.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncSubscription(_SyncIterator[Frame]):
    """A Subscription as a blocking iterator of frames."""

    @property
    def variable(self) -> Variable | None:
        return self._sub.variable

    @property
    def opus(self) -> dict[str, Any] | None:
        return self._sub.opus

    @property
    def lost(self) -> int:
        return self._sub.lost


class SyncWatch(_SyncIterator[dict[str, ChannelValue]]):
    """A Watch as a blocking iterator of {name: value} dicts."""


class SyncClient:
    """Client with blocking methods (see connect_sync)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._runner = _LoopThread()
        try:
            self._runner.run(client._start())
        except BaseException:
            self._runner.stop()
            raise

    @property
    def variables(self) -> dict[str, Variable]:
        return self._client.variables

    @property
    def info(self) -> dict[str, Any]:
        return self._client.info

    @property
    def sr(self) -> float:
        return self._client.sr

    @property
    def ksmps(self) -> int:
        return self._client.ksmps

    def refresh(self) -> dict[str, Variable]:
        return self._runner.run(self._client.refresh())

    def subscribe(self, name: str, *, frames: int = 1, dtype: str | None = None, codec: str = "pcm",
                  bitrate: int | None = None, frame_ms: float | None = None) -> SyncSubscription:
        return SyncSubscription(self._runner, self._client.subscribe(
            name, frames=frames, dtype=dtype, codec=codec, bitrate=bitrate, frame_ms=frame_ms))

    def send(self, name: str, value: Any) -> None:
        self._runner.run(self._client.send(name, value))

    def play(self, name: str, signal: np.ndarray | Iterable[np.ndarray], *, lead: float = 0.1) -> None:
        self._runner.run(self._client.play(name, signal, lead=lead))

    def control(self, op: str, **fields: Any) -> Any:
        return self._runner.run(self._client.control(op, **fields))

    def channel(self, name: str) -> ChannelValue:
        return self._runner.run(self._client.channel(name))

    def set_channel(self, name: str, value: float | str) -> None:
        self._runner.run(self._client.set_channel(name, value))

    def set_channels(self, values: dict[str, float | str]) -> None:
        self._runner.run(self._client.set_channels(values))

    def channels(self) -> list[Channel]:
        return self._runner.run(self._client.channels())

    def watch(self, *names: str) -> SyncWatch:
        return SyncWatch(self._runner, self._client.watch(*names))

    def score(self, text: str) -> None:
        self._runner.run(self._client.score(text))

    def compile_orc(self, code: str) -> None:
        self._runner.run(self._client.compile_orc(code))

    def eval_code(self, code: str) -> float:
        return self._runner.run(self._client.eval_code(code))

    def score_time(self) -> float:
        return self._runner.run(self._client.score_time())

    def message(self, text: str) -> None:
        self._runner.run(self._client.message(text))

    def close(self) -> None:
        if self._runner.thread.is_alive():
            self._runner.run(self._client.close())
            self._runner.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_sync(url: Address | Sequence[Address] = DEFAULT_URL, *, token: str | None = None,
                 dtype: str = "float64", reconnect: bool = False) -> SyncClient:
    """connect() for blocking code: `with connect_sync() as cs: for v in cs.subscribe("klfo"): ...`

    The client's event loop runs in a thread of its own, so this works in scripts and in
    Jupyter (whose loop is running).  Connects at once; close() or the `with` block ends it.
    """
    return SyncClient(Client(url, token=token, dtype=dtype, reconnect=reconnect))
