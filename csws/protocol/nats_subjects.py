"""The NATS subjects a Csound port and its edges share, and what their messages hold.

Protocol only: no connection, no clock (csws/serve/nats_link.py is Csound's
side, csws/serve/edge.py an edge's).  A port is published under a stream
name, its number unless the `nats_name` setting gives another, so that two
machines' port 8888 can share one NATS.  docs/protocol.md ("NATS") is the user's copy of
this table:

    csws.NAME.describe     Csound -> edges  JSON: /csws.json's body, plus "run", "engine" and
                                            "time"; on every change and every HEARTBEAT seconds
    csws.NAME.hello        edge -> Csound   a request: the answer is a describe message at once
    csws.NAME.bye          Csound -> edges  JSON {"run": ...}: the performance ended
    csws.NAME.out.VAR      Csound -> edges  one frame of VAR: the websocket message's own bytes
                                            (float64 values; S: UTF-8 text)
    csws.NAME.chan         Csound -> edges  JSON {"values": {channel: value}}: channels that changed
    csws.NAME.in.VAR       edges -> Csound  one checked frame for VAR (latest wins)
    csws.NAME.tally.VAR    edges -> Csound  JSON {"edge": id, "tally": Tally}: an edge's clients of a
                                            combined VAR (csws/protocol/combine.py), on change and
                                            every HEARTBEAT seconds
    csws.NAME.set          edges -> Csound  JSON {"values": {channel: value}}
    csws.NAME.score        edges -> Csound  a score line (UTF-8)

VAR and NAME are single subject tokens: Csound variable names are letters,
digits and underscores; a name with other characters is refused.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

ROOT = "csws"
HEARTBEAT = 1.0  # seconds between two describe (and tally) messages when nothing changes
GONE_AFTER = 3.5 * HEARTBEAT  # seconds without a describe after which an edge takes Csound for gone
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

OUT, IN, TALLY = "out", "in", "tally"
DESCRIBE, HELLO, BYE, CHAN, SET, SCORE = "describe", "hello", "bye", "chan", "set", "score"


def check_name(name: str) -> str:
    """A stream name (the nats_name setting): ValueError unless it is one subject token."""
    if not _TOKEN.fullmatch(name or ""):
        raise ValueError(f"nats_name = {name!r}: give letters, digits, - or _ (one NATS subject token)")
    return name


def subject(name: str, kind: str, var: str | None = None) -> str:
    """The subject of one kind of message of stream `name` (and variable `var`)."""
    return f"{ROOT}.{name}.{kind}" + (f".{var}" if var is not None else "")


def wildcard(name: str, kind: str) -> str:
    """Every variable's subject of one kind: what the other side subscribes to."""
    return f"{ROOT}.{name}.{kind}.*"


def parse(subject_: str) -> tuple[str, str, str | None]:
    """(name, kind, var or None) of a subject of ours; ValueError for anything else."""
    parts = subject_.split(".")
    if len(parts) not in (3, 4) or parts[0] != ROOT:
        raise ValueError(f"not a csws subject: {subject_!r}")
    return parts[1], parts[2], parts[3] if len(parts) == 4 else None


def _finite(value: Any) -> Any:
    """JSON has no nan or inf: a channel holding one travels as null (as on the control socket)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def encode_values(values: dict[str, float | str]) -> bytes:
    """A chan or set message."""
    return json.dumps({"values": {k: _finite(v) for k, v in values.items()}}, allow_nan=False).encode()


def decode_values(payload: bytes) -> dict[str, float | str | None]:
    """A chan or set message's values; ValueError if it is not one."""
    try:
        values = json.loads(payload)["values"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"not a values message: {e!r}") from None
    if not isinstance(values, dict) or not all(
            isinstance(v, (int, float, str)) or v is None for v in values.values()):
        raise ValueError("not a values message: values must map names to numbers or strings")
    return values


def encode_json(message: dict) -> bytes:
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode()


def decode_json(payload: bytes) -> dict:
    """A describe, bye or tally message; ValueError if it is not a JSON object."""
    try:
        message = json.loads(payload)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message
