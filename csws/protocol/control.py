"""The control socket's messages (subprotocol csws.control), without sockets.

docs/protocol.md describes them.  Here: reading a request, checking it
(names, types, score statements), and writing answers; csws/serve/control.py
runs them on the I/O thread.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

SUBPROTOCOL = "csws.control"
MAX_MESSAGE = 64 << 10  # bytes of one message from a page (bigger: 1009)
MAX_MESSAGE_TEXT = 1024  # characters of a `message` line printed in Csound's console
OPS = ("set", "get", "watch", "unwatch", "list", "score", "orc", "eval", "message", "time")
# Score statements a page may send: notes, tables, and the tempo/section-free ones that cannot end,
# jump or loop the score (e, s, x, r, m, n, {, }) or read files (#include).
SCORE_STATEMENTS = set("ifadqtbv")


class BadRequest(ValueError):
    """A request that cannot be carried out; its text is what the page is told."""

    def __init__(self, text: str, rid: Any = None) -> None:
        super().__init__(text)
        self.rid = rid


@dataclass(frozen=True)
class Request:
    op: str
    rid: Any  # the page's id, echoed in the answer (None: answer only failures)
    body: dict


def parse(message: str | bytes) -> Request:
    """A request from a text message; BadRequest unless it is a JSON object with a known op."""
    if isinstance(message, bytes):
        raise BadRequest("the control socket takes text messages (JSON), not binary ones")
    try:
        body = json.loads(message)
    except ValueError as e:
        raise BadRequest(f"not JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("a request is a JSON object with an \"op\"")
    rid = body.get("id")
    if rid is not None and not isinstance(rid, (int, float, str)) or isinstance(rid, bool):
        raise BadRequest("\"id\" must be a number or a string")
    op = body.get("op")
    if op not in OPS:
        raise BadRequest(f"unknown op {op!r}; the ops are: {', '.join(OPS)}", rid)
    return Request(op, rid, body)


def names(req: Request, wildcard: bool = False) -> list[str] | None:
    """The request's `names`: a list of strings (None: "*", where allowed)."""
    value = req.body.get("names")
    if wildcard and value == "*":
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise BadRequest("\"names\" must be a list of channel names" + (" or \"*\"" if wildcard else ""), req.rid)
    return value


def text(req: Request) -> str:
    value = req.body.get("text")
    if not isinstance(value, str):
        raise BadRequest(f"{req.op} needs a \"text\" string", req.rid)
    return value


def check_value(channel, value: Any, rid: Any = None) -> float | str:
    """A value a page wrote to a channel (csws.bridge.csound_api.Channel), as Csound takes it."""
    if channel.type == "string":
        if not isinstance(value, str):
            raise BadRequest(f"channel {channel.name} is a string channel: send a string", rid)
        if "\0" in value:
            raise BadRequest(f"channel {channel.name}: a string with a NUL character", rid)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"channel {channel.name} is a control channel: send a finite number", rid)
    return float(value)


def check_score(score: str, rid: Any = None) -> str:
    """Score text a page may send; BadRequest naming the first refused line."""
    lines = 0
    for number, line in enumerate(score.splitlines(), 1):
        stripped = line.split(";", 1)[0].strip()
        if not stripped:
            continue
        lines += 1
        if stripped[0] not in SCORE_STATEMENTS:
            what = "e ends the performance" if stripped[0] == "e" else \
                "the preprocessor (#) can read files" if stripped[0] == "#" else \
                f"{stripped[0]!r} is not a score statement pages may send"
            raise BadRequest(f"score line {number} ({stripped[:40]!r}) refused: {what}; pages may send "
                             "i, f, a, d, q, t, b and v statements", rid)
    if not lines:
        raise BadRequest("an empty score", rid)
    return score if score.endswith("\n") else score + "\n"


def answer(rid: Any, ok: Any) -> str:
    return json.dumps({"id": rid, "ok": ok}, allow_nan=False)


def error(rid: Any, text: str, op: str | None = None) -> str:
    body: dict[str, Any] = {"id": rid, "error": text} if rid is not None else {"op": "error", "error": text}
    if rid is None and op is not None:
        body["request"] = op
    return json.dumps(body)


def push(op: str, **fields: Any) -> str:
    return json.dumps({"op": op, **fields}, allow_nan=False)
