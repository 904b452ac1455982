"""Csound's own thread-safe calls on a running Csound, made from the I/O thread.

The plugin tells which library hosts it (csws_host.library: the file that
holds Csound's functions) and its major; ctypes opens that same library again
(the loader hands back the copy already loaded, whether the host loaded it
globally, as the csound command does, or privately, as ctcsound does) and
calls its public API: channels, score events, orchestra code, score time.

Every difference between Csound 6 and 7 in these calls is here (the host side
of `csws run` has its own, in csws/hosting/library.py): 7 folds the
asynchronous variants into an `async` argument, gave csoundReadScore's job to
csoundEventString, and csoundGetNchnls's to csoundGetChannels.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

from csws._shared import load_myflt, store_myflt

CONTROL, STRING, TYPE_MASK = 1, 3, 15  # csound.h: CSOUND_CONTROL_CHANNEL, ...STRING..., ...TYPE_MASK
INPUT, OUTPUT = 16, 32  # CSOUND_INPUT_CHANNEL (Csound reads it), CSOUND_OUTPUT_CHANNEL (Csound writes it)
BEHAVIOURS = {1: "integer", 2: "linear", 3: "exponential"}  # controlChannelBehavior; 0: none
STRING_ROOM = 8192  # bytes first given to a string channel's copy (more if Csound says it holds more)


class Ended(RuntimeError):
    """Csound is cleaning up (or gone): its channels may be freed, nothing may call it."""


class TooLong(ValueError):
    """A string longer than its channel's buffer: writing it would reallocate under Csound's feet."""


class _Hints(ctypes.Structure):
    _fields_ = [("behav", ctypes.c_int), ("dflt", ctypes.c_double), ("min", ctypes.c_double),
                ("max", ctypes.c_double), ("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int),
                ("height", ctypes.c_int), ("attributes", ctypes.c_char_p)]


class _Info(ctypes.Structure):  # controlChannelInfo_t, the same in 6 and 7
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("hints", _Hints)]


@dataclass(frozen=True)
class Channel:
    """A named channel of Csound's software bus, as a page sees it."""

    name: str
    type: str  # "control" or "string"
    mode: int  # INPUT | OUTPUT bits as Csound reported them before csws touched the channel
    behaviour: str | None = None
    default: float | None = None
    min: float | None = None
    max: float | None = None
    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0
    attributes: str | None = None

    @property
    def direction(self) -> str:
        """In the variables' words: from_web (Csound reads it), to_web, or both."""
        if self.mode & INPUT and self.mode & OUTPUT:
            return "both"
        return "to_web" if self.mode & OUTPUT else "from_web"

    def describe(self) -> dict:
        return {"name": self.name, "type": self.type, "direction": self.direction, "default": self.default,
                "min": self.min, "max": self.max, "behaviour": self.behaviour, "x": self.x, "y": self.y,
                "width": self.width, "height": self.height, "attributes": self.attributes}


def _open(library: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(library or None)
    except OSError:  # Csound built into the program (no library of its own): its symbols are global
        return ctypes.CDLL(None)


class CsoundAPI:
    """The calls the control socket makes on one Csound (its CSOUND * address).

    Csound frees its channels when it resets, before csws hears of its end: so
    Csound's thread calls end() as the last note goes (csws.bridge.registry),
    waiting for a call under way, and every call after that raises Ended."""

    def __init__(self, library: str, major: int, csound: int) -> None:
        self._calls = threading.Lock()  # held for each call into Csound, and by end()
        self._ended = False
        lib = self._lib = _open(library)
        self.major = major
        self._cs = ctypes.c_void_p(csound)
        self._pointers: dict[str, int] = {}  # control channels: where Csound keeps the value
        self._modes: dict[str, int] = {}  # each channel's mode when first seen (reading marks it OUTPUT)
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        for name, res, args in (
            ("csoundListChannels", ctypes.c_int, [vp, ctypes.POINTER(ctypes.POINTER(_Info))]),
            ("csoundDeleteChannelList", None, [vp, ctypes.POINTER(_Info)]),
            ("csoundGetChannelPtr", ctypes.c_int, [vp, ctypes.POINTER(vp), cp, ctypes.c_int]),
            ("csoundGetChannelDatasize", ctypes.c_int, [vp, cp]),
            ("csoundGetStringChannel", None, [vp, cp, cp]),
            ("csoundSetStringChannel", None, [vp, cp, cp]),
            ("csoundGetScoreTime", ctypes.c_double, [vp]),
            ("csoundGetSr", ctypes.c_double, [vp]),
            ("csoundGetKsmps", ctypes.c_uint32, [vp]),
            ("csoundGet0dBFS", ctypes.c_double, [vp]),
            ("csoundEvalCode", ctypes.c_double, [vp, cp]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        if major >= 7:
            lib.csoundGetChannels.restype, lib.csoundGetChannels.argtypes = ctypes.c_uint32, [vp, ctypes.c_int32]
            lib.csoundEventString.restype, lib.csoundEventString.argtypes = None, [vp, cp, ctypes.c_int32]
            lib.csoundCompileOrc.restype, lib.csoundCompileOrc.argtypes = ctypes.c_int32, [vp, cp, ctypes.c_int32]
        else:
            lib.csoundGetNchnls.restype, lib.csoundGetNchnls.argtypes = ctypes.c_uint32, [vp]
            lib.csoundReadScoreAsync.restype, lib.csoundReadScoreAsync.argtypes = None, [vp, cp]
            lib.csoundCompileOrc.restype, lib.csoundCompileOrc.argtypes = ctypes.c_int, [vp, cp]

    def end(self) -> None:
        """From now on no call reaches Csound (waits for one under way)."""
        with self._calls:
            self._ended = True

    def _alive(self) -> None:
        if self._ended:
            raise Ended("Csound has ended")

    # ---- channels ----

    def channels(self) -> dict[str, Channel]:
        """Control and string channels by name, with their hints (csoundListChannels)."""
        with self._calls:
            self._alive()
            lst = ctypes.POINTER(_Info)()
            n = self._lib.csoundListChannels(self._cs, ctypes.byref(lst))
            out: dict[str, Channel] = {}
            try:
                for i in range(max(n, 0)):
                    info = lst[i]
                    kind = info.type & TYPE_MASK
                    if kind not in (CONTROL, STRING) or not info.name:
                        continue
                    name = info.name.decode("utf-8", "replace")
                    mode = self._modes.setdefault(name, info.type & (INPUT | OUTPUT))
                    h = info.hints
                    if kind == CONTROL and h.behav in BEHAVIOURS:
                        hints = dict(behaviour=BEHAVIOURS[h.behav], default=h.dflt, min=h.min, max=h.max, x=h.x,
                                     y=h.y, width=h.width, height=h.height,
                                     attributes=h.attributes.decode("utf-8", "replace") if h.attributes else None)
                    else:
                        hints = {}
                    out[name] = Channel(name, "control" if kind == CONTROL else "string", mode, **hints)
            finally:
                if n > 0:
                    self._lib.csoundDeleteChannelList(self._cs, lst)
            return out

    def _pointer(self, name: str) -> int:
        """Where a control channel's value lives; stable for the life of the Csound.  Asked with
        the type alone (no INPUT/OUTPUT bits), which neither makes a channel nor changes its mode."""
        address = self._pointers.get(name)
        if address is None:
            p = ctypes.c_void_p()
            if self._lib.csoundGetChannelPtr(self._cs, ctypes.byref(p), name.encode(), CONTROL) != 0 \
                    or not p.value:
                raise KeyError(name)
            address = self._pointers[name] = p.value
        return address

    def get(self, channel: Channel) -> float | str:
        """A channel's value now (only for channels Csound listed: reading never makes one)."""
        with self._calls:
            self._alive()
            if channel.type == "control":
                return load_myflt(self._pointer(channel.name))
            name = channel.name.encode()
            room = max(STRING_ROOM, 2 * self._lib.csoundGetChannelDatasize(self._cs, name) + 1)
            buf = ctypes.create_string_buffer(room)
            self._lib.csoundGetStringChannel(self._cs, name, buf)
            return buf.value.decode("utf-8", "replace")

    def set(self, channel: Channel, value: float | str) -> None:
        """Write a channel: a number as Csound's own csoundSetControlChannel does (one atomic
        store), a string under the channel's lock (csoundSetStringChannel)."""
        with self._calls:
            self._alive()
            if channel.type == "control":
                store_myflt(self._pointer(channel.name), float(value))
                return
            self._fits(channel, value)
            self._lib.csoundSetStringChannel(self._cs, channel.name.encode(), str(value).encode())

    def check_fits(self, channel: Channel, value: float | str) -> None:
        """TooLong unless set() can write value: a string must fit its channel's buffer."""
        if channel.type == "string":
            with self._calls:
                self._alive()
                self._fits(channel, value)

    def _fits(self, channel: Channel, value: float | str) -> None:
        # A longer string would make csoundSetStringChannel free the channel's buffer here while
        # Csound's thread may be reading it (Csound 6's chnget compares strings without the
        # channel's lock: a use after free, ASAN saw it): only strings that fit are written, in place.
        room = self._lib.csoundGetChannelDatasize(self._cs, channel.name.encode())
        if len(str(value).encode()) + 1 > room:
            raise TooLong(f"string channel {channel.name} holds at most {max(room - 1, 0)} bytes while Csound "
                          "performs; give it room in the orchestra first (chnset a string that long at init)")

    # ---- score, code, time ----

    def score(self, text: str) -> None:
        """Score lines, read by Csound's performance thread at its next k-cycle (never waited for)."""
        with self._calls:
            self._alive()
            if self.major >= 7:
                self._lib.csoundEventString(self._cs, text.encode(), 1)
            else:
                self._lib.csoundReadScoreAsync(self._cs, text.encode())

    def compile_orc(self, text: str) -> int:
        """Compile orchestra code into the running Csound; 0 when it compiled."""
        with self._calls:
            self._alive()
            if self.major >= 7:
                return self._lib.csoundCompileOrc(self._cs, text.encode(), 0)
            return self._lib.csoundCompileOrc(self._cs, text.encode())

    def eval_code(self, text: str) -> float:
        """Compile and run code once; what its `return` gave."""
        with self._calls:
            self._alive()
            return self._lib.csoundEvalCode(self._cs, text.encode())

    def score_time(self) -> float:
        with self._calls:
            self._alive()
            return self._lib.csoundGetScoreTime(self._cs)

    def engine(self) -> dict:
        """sr, ksmps, nchnls and 0dbfs, as pages ask for them (getSr()...)."""
        with self._calls:
            self._alive()
            nchnls = self._lib.csoundGetChannels(self._cs, 0) if self.major >= 7 else self._lib.csoundGetNchnls(self._cs)
            return {"sr": self._lib.csoundGetSr(self._cs), "ksmps": self._lib.csoundGetKsmps(self._cs),
                    "nchnls": nchnls, "0dbfs": self._lib.csoundGet0dBFS(self._cs)}

