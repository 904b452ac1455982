"""Settings of the websocket servers, one table for every way of setting them.

Each setting is read when a port's server starts: from the orchestra
(`websocket_config "name", "value"`, which wins), else from an environment
variable.  `csws run` flags set these variables for the Csound it hosts; the
stock `csound` command and Python hosts set them in the environment.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from csws.protocol import combine
from csws.protocol.nats_subjects import check_name
from csws.protocol.variables import MAX_STRING

# The numbers a setting may take (both ends included): beyond them a port
# would refuse everyone (nan, 0), close clients at once, or outgrow the
# plugin's string slots, so they are refused at start with this range.
RANGES: dict[str, tuple[float, float, str]] = {
    "buffer_seconds": (0.001, 60.0, " seconds"),  # rings hold at least 4 blocks anyway
    "max_clients": (1, 10000, ""),
    "max_string": (1, MAX_STRING, " bytes"),
    "handshake_timeout": (0.01, 3600.0, " seconds"),
    "allow_code": (0, 1, ""),
}
BEHAVIOURS = ("integer", "linear", "exponential")  # a range's mapping, as chn_k's hints name them
RANGE_PREFIX = "range."  # websocket_config "range.kfreq", "20 20000 exponential"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"  # CSWS_HOST: the address to listen on
    buffer_seconds: float = 0.25  # CSWS_BUFFER_SECONDS: streamed data a ring holds, in time
    static_dir: str = ""  # CSWS_STATIC_DIR: a directory served over HTTP on every port ("": none)
    index_html: str = ""  # CSWS_INDEX_HTML: the page at / (an .html file, or a .csd whose <html> is served)
    # Who may connect, and how much they may send (csws/protocol/policy.py, docs/security.md).
    origins: tuple[str, ...] = ()  # CSWS_ORIGINS: comma-separated origins allowed besides the defaults; * any, null files
    token: str = ""  # CSWS_TOKEN: clients must present ?token=... ("": no token)
    max_clients: int = 64  # CSWS_MAX_CLIENTS: websocket clients per port (more get HTTP 503)
    max_string: int = MAX_STRING  # CSWS_MAX_STRING: bytes of UTF-8 in one string message from a client
    handshake_timeout: float = 5.0  # CSWS_HANDSHAKE_TIMEOUT: seconds a client may take to open its websocket
    # https and wss (csws/serve/tls.py): a PEM certificate file, or "self-signed"; its key ("": in the same file)
    tls_cert: str = ""  # CSWS_TLS_CERT ("": plain http and ws)
    tls_key: str = ""  # CSWS_TLS_KEY
    # Orchestra code from pages (the control socket's orc and eval): 1 allows it, on a loopback
    # port or one with a token (docs/security.md).
    allow_code: int = 0  # CSWS_ALLOW_CODE
    # NATS (csws/serve/nats_link.py, docs/protocol.md): comma-separated server URLs ("": off), and the
    # port's stream name in subjects ("": the port number).
    nats: str = ""  # CSWS_NATS
    nats_name: str = ""  # CSWS_NATS_NAME
    # The range the generated page gives a websocket variable: websocket_config "range.NAME", "min max
    # [behaviour]" (the orchestra only); as ((name, min, max, behaviour), ...).
    ranges: tuple = ()

    @classmethod
    def from_env(cls, overrides: Mapping[str, str] | None = None) -> "Settings":
        """The settings in force now: the orchestra's (websocket_config) over
        the environment's over the defaults."""
        values = {}
        ranges = tuple(_range(k[len(RANGE_PREFIX):], v) for k, v in (overrides or {}).items()
                       if k.startswith(RANGE_PREFIX))
        if ranges:
            values["ranges"] = ranges
        for f in fields(cls):
            if f.name == "ranges":
                continue
            raw = (overrides or {}).get(f.name, os.environ.get("CSWS_" + f.name.upper()))
            if raw is None:
                continue
            if isinstance(f.default, str):
                values[f.name] = raw
            elif isinstance(f.default, tuple):  # a list: comma-separated
                values[f.name] = tuple(x.strip() for x in raw.split(",") if x.strip())
            else:
                values[f.name] = _number(f.name, raw, type(f.default))
        return cls(**values)

    def range_of(self, name: str) -> dict | None:
        """A variable's range as /csws.json gives it, or None."""
        for var, low, high, behaviour in self.ranges:
            if var == name:
                return {"min": low, "max": high, "behaviour": behaviour}
        return None

    @classmethod
    def check(cls, name: str, value: str) -> None:
        """ValueError unless name is a setting and value reads as one."""
        if name.startswith(RANGE_PREFIX):
            _range(name[len(RANGE_PREFIX):], value)
            return
        # A from-web variable's crowd (csws/protocol/combine.py): read live by the server, like ranges.
        if name.startswith(combine.PREFIX):
            combine.parse_rule(name[len(combine.PREFIX):], value)
            return
        if name.startswith(combine.WINDOW_PREFIX):
            combine.parse_window(name[len(combine.WINDOW_PREFIX):], value)
            return
        if name not in {f.name for f in fields(cls)} - {"ranges"}:
            known = (", ".join(f.name for f in fields(cls) if f.name != "ranges")
                     + ", range.NAME, combine.NAME, combine_window.NAME")
            raise ValueError(f"no setting named {name!r}; the settings are: {known}")
        if name == "nats_name" and value:
            check_name(value)
        cls.from_env({name: value})


def _number(name: str, raw: str, kind: type) -> float:
    """A numeric setting's value, or ValueError naming the setting and its range."""
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} = {raw!r}: not a number") from None
    low, high, unit = RANGES[name]
    if not (math.isfinite(value) and low <= value <= high):  # nan compares false: refused too
        raise ValueError(f"{name} (CSWS_{name.upper()}) = {raw!r}: must be from {low:g} to {high:g}{unit}")
    return value


def _range(name: str, raw: str) -> tuple[str, float, float, str]:
    """websocket_config "range.NAME", "min max [behaviour]": ValueError saying what is wrong."""
    parts = raw.split()
    try:
        low, high = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise ValueError(f"range.{name} = {raw!r}: give \"min max\", then optionally one of "
                         f"{', '.join(BEHAVIOURS)}") from None
    behaviour = parts[2] if len(parts) > 2 else "linear"
    if not name or behaviour not in BEHAVIOURS or len(parts) > 3 or not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"range.{name} = {raw!r}: give a variable's name, \"min max\", then optionally one of "
                         f"{', '.join(BEHAVIOURS)}")
    if low >= high or (behaviour == "exponential" and low * high <= 0):
        raise ValueError(f"range.{name} = {raw!r}: min must be below max"
                         + (", both of one sign and not 0 for exponential" if behaviour == "exponential" else ""))
    return (name, low, high, behaviour)
