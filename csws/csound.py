"""A minimal ctypes binding to libcsound64: just what `csws run` needs.

ctypes releases the GIL around every foreign call, so Csound's performance
runs without it and the I/O thread keeps going.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_lib: ctypes.CDLL | None = None
CSOUNDINIT_NO_SIGNAL_HANDLER = 1  # csound.h
CSOUNDINIT_NO_ATEXIT = 2


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("csound64") or "libcsound64.so.6.0"
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise RuntimeError(
                f"cannot load Csound's library ({name}): install Csound 6 (Debian: apt-get install csound)"
            ) from e
        # Python, not Csound, handles SIGINT/SIGTERM in this process: csws run turns
        # them into csoundStop() and a clean exit (Csound's own handlers would end the
        # performance in a way that deadlocks csoundDestroy).
        lib.csoundInitialize.argtypes = [ctypes.c_int]
        lib.csoundInitialize.restype = ctypes.c_int
        lib.csoundInitialize(CSOUNDINIT_NO_SIGNAL_HANDLER | CSOUNDINIT_NO_ATEXIT)
        lib.csoundCreate.restype = ctypes.c_void_p
        lib.csoundCreate.argtypes = [ctypes.c_void_p]
        for fn in ("csoundPerform", "csoundCleanup"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
            getattr(lib, fn).restype = ctypes.c_int
        lib.csoundCompile.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        lib.csoundCompile.restype = ctypes.c_int
        lib.csoundStop.argtypes = [ctypes.c_void_p]
        lib.csoundStop.restype = None
        lib.csoundDestroy.argtypes = [ctypes.c_void_p]
        lib.csoundDestroy.restype = None
        _lib = lib
    return _lib


class Csound:
    """One Csound instance, compiled from command-line style arguments."""

    def __init__(self) -> None:
        self._lib = _load()
        self._cs = self._lib.csoundCreate(None)

    def compile(self, args: list[str]) -> int:
        """Like the csound command's arguments (without the program name)."""
        argv = [b"csws"] + [a.encode() for a in args]
        arr = (ctypes.c_char_p * len(argv))(*argv)
        return self._lib.csoundCompile(self._cs, len(argv), arr)

    def perform(self) -> int:
        """Run to the end of the score or until stop(); GIL released meanwhile."""
        return self._lib.csoundPerform(self._cs)

    def stop(self) -> None:
        self._lib.csoundStop(self._cs)

    def destroy(self) -> None:
        if self._cs:
            self._lib.csoundDestroy(self._cs)
            self._cs = None
