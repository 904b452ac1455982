"""csound-websocket: the `websocket` opcode for Csound.

Stream Csound's signals, arrays and strings to web pages and back, live.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

__all__ = ["__version__", "plugin_path", "plugin_majors", "stats"]

_HERE = Path(__file__).resolve().parent
_NAMES = ("libcsws_opcodes{}.so", "libcsws_opcodes{}.dylib", "csws_opcodes{}.dll")


def _plugin(major: int) -> Path | None:
    return next((p for name in _NAMES if (p := _HERE / name.format(major)).exists()), None)


def plugin_majors() -> list[int]:
    """The Csound majors this install has a plugin for."""
    return [m for m in (6, 7) if _plugin(m) is not None]


def plugin_path(csound: int | str | None = None) -> str:
    """The plugin library to give Csound (`--opcode-lib=...`), one per Csound major.

    csound: 6 or 7; default: the Csound already loaded into this process (a
    ctcsound or cycsound program), else the one `csws run` would registry."""
    from csws.hosting.library import find, loaded_major

    major = int(csound) if csound is not None else loaded_major() or find().major
    found = _plugin(major)
    if found is None:
        have = ", ".join(map(str, plugin_majors())) or "none"
        raise FileNotFoundError(
            f"this csound-websocket has no plugin for Csound {major} (it has: {have}); "
            f"reinstall it where Csound {major}'s headers are found (docs/csound-versions.md)")
    return str(found)


def stats() -> dict[tuple[int, str], dict[str, int]]:
    """Counters per (port, variable) for this process: sent, dropped, received..."""
    from csws.bridge import registry

    return registry.stats()
