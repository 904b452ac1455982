"""Small helpers for tests that talk to a running Csound over loopback.

`offering` and `take` use csws.client, for tests of values and shapes; the raw
websockets helpers above them are for tests of the wire itself (malformed
messages, handshakes, close codes), which a client library would hide.
Every `timeout` here is in seconds on an idle machine: the helpers stretch it
with conftest.patience.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from conftest import patience
from csws import client as csws_client
from csws.client import Client


async def connect_var(port: int, name: str, timeout: float = 10.0, query: str = "", url: str = "",
                      **kw) -> ClientConnection:
    """Connect to one variable (query: options such as "direction=to_web"; url: another than
    ws://127.0.0.1:port/), retrying while the server or variable comes up."""
    deadline = time.monotonic() + patience(timeout)
    url = (url or f"ws://127.0.0.1:{port}/") + (f"?{query}" if query else "")
    while True:
        try:
            return await connect(url, subprotocols=[name], compression=None, **kw)
        except Exception as e:  # noqa: BLE001 - refused, or a handshake while the server or variable comes up
            if time.monotonic() > deadline:
                raise AssertionError(f"could not connect to {name} on {port}: {e!r}") from e
            await asyncio.sleep(0.05)


async def frames(ws: ClientConnection, n: int, timeout: float = 10.0) -> list:
    """The next n messages."""
    out = []
    async with asyncio.timeout(patience(timeout)):
        while len(out) < n:
            out.append(await ws.recv())
    return out


def f64(message: bytes) -> np.ndarray:
    assert isinstance(message, bytes), f"expected a binary frame, got {message!r}"
    return np.frombuffer(message, dtype=np.float64)


async def recv_until(ws: ClientConnection, pred, timeout: float = 5.0):
    """Read messages until pred(message) is true; return that message."""
    async with asyncio.timeout(patience(timeout)):
        while True:
            m = await ws.recv()
            if pred(m):
                return m


async def offering(port: int, *names: str, timeout: float = 15.0, **kw) -> Client:
    """A csws.client Client for the port, once it offers every one of `names` (the piece starts up)."""
    deadline = time.monotonic() + patience(timeout)
    while True:
        try:
            cs = await csws_client.connect(f"ws://127.0.0.1:{port}", **kw)
            if all(n in cs.variables for n in names):
                return cs
            await cs.close()
        except csws_client.Unreachable:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} did not offer {names} within {patience(timeout)} s")
        await asyncio.sleep(0.05)


async def take(sub: AsyncIterator, n: int, timeout: float = 10.0) -> list:
    """The next n frames of a subscription."""
    out = []
    async with asyncio.timeout(patience(timeout)):
        async for frame in sub:
            out.append(frame)
            if len(out) == n:
                break
    return out


async def until(sub: AsyncIterator, pred, timeout: float = 10.0):
    """The first frame of a subscription for which pred(frame) is true."""
    async with asyncio.timeout(patience(timeout)):
        async for frame in sub:
            if pred(frame):
                return frame
    raise AssertionError("the subscription ended")
