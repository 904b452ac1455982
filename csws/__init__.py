"""csound-websocket: the `websocket` opcode for Csound.

Stream Csound's signals, arrays and strings to web pages and back, live.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

__all__ = ["__version__", "plugin_path", "stats"]


def plugin_path() -> str:
    """The plugin library to give Csound (`--opcode-lib=...`)."""
    here = Path(__file__).resolve().parent
    for pattern in ("libcsws_opcodes.so", "libcsws_opcodes.dylib", "csws_opcodes.dll"):
        found = here / pattern
        if found.exists():
            return str(found)
    raise FileNotFoundError(f"the csws plugin is not installed beside {here}; reinstall csound-websocket")


def stats() -> dict[tuple[int, str], dict[str, int]]:
    """Counters per (port, variable) for this process: sent, dropped, received..."""
    from csws import host

    return host.stats()
