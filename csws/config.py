"""Settings of the websocket servers, one table for every way of setting them.

Each setting is read from an environment variable when a port's server
starts.  `csws run` flags set these variables for the Csound it hosts; the
stock `csound` command and Python hosts set them in the environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"  # CSWS_HOST: the address to listen on
    buffer_seconds: float = 0.25  # CSWS_BUFFER_SECONDS: streamed data a ring holds, in time

    @classmethod
    def from_env(cls) -> "Settings":
        """The settings in force now (environment over defaults)."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get("CSWS_" + f.name.upper())
            if raw is not None:
                values[f.name] = type(f.default)(raw) if not isinstance(f.default, str) else raw
        return cls(**values)
