"""A load generator for fan-out: many websocket clients of one to-web variable,
spread over several processes, each client counting what it gets and the gaps.

The opening handshake goes through websockets' ClientProtocol.  After it,
each client reads its stream in bulk and checks it with numpy: every message
of a variable's stream has the same size, so the frames lie at a fixed
stride, each header is checked (a final binary frame of that length; a close
frame ends the client) and the counter in the first value of each payload
must go up by `step` from one message to the next.  One process keeps up with
tens of thousands of messages a second that way, where a websockets client
parsing frame by frame would be the bottleneck on a 2-core machine.  Clients
read every `pace` seconds, as a busy phone would: the kernel's buffers hold
what arrives meanwhile (a client over the server's send limit loses frames,
and its gaps show it).

    python fanload.py PORT NAME CLIENTS --payload BYTES [--step N] [--query Q] [--dtype float32]

prints READY once its clients are connected, counts from the line GO on its
standard input for --seconds, then prints one JSON line: a dict per client.
`clients()` runs several such processes and gathers their counts.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

HANDSHAKES = 25  # opening handshakes a process has under way at once
BINARY_FIN = 0x82
CLOSE_FIN = 0x88
PING_FIN = 0x89


def header_bytes(payload: int) -> bytes:
    """The header an unmasked final binary frame of `payload` bytes has (RFC 6455, 5.2)."""
    if payload < 126:
        return bytes([BINARY_FIN, payload])
    if payload < 1 << 16:
        return bytes([BINARY_FIN, 126]) + payload.to_bytes(2, "big")
    return bytes([BINARY_FIN, 127]) + payload.to_bytes(8, "big")


@dataclass
class Count:
    received: int = 0  # messages in the window
    gaps: int = 0  # places where one or more messages were missing
    lost: int = 0  # messages missing in those places
    backwards: int = 0  # a counter that did not go up: out of order or repeated
    bad: int = 0  # a frame that was not what the stream's frames are
    closed: bool = False  # the server closed the connection


class Stream:
    """One client's bytes after the handshake, checked frame by frame in bulk."""

    def __init__(self, payload: int, step: float, pong: Callable[[bytes], None], dtype: str = "float64") -> None:
        self.dtype = np.dtype(dtype)  # of the counter, the payload's first value
        self.head = np.frombuffer(header_bytes(payload), np.uint8)
        self.stride = len(self.head) + payload
        self.step = step
        self.pong = pong  # answers the server's keepalive pings
        self.buf = bytearray()
        self.last: float | None = None
        self.count = Count()
        self.counting = False

    def feed(self, data: bytes) -> None:
        self.buf += data
        while self.buf and not (self.count.closed or self.count.bad):
            if self.buf[0] == BINARY_FIN:
                if not self._frames():
                    return
            elif not self._control():
                return

    def _frames(self) -> bool:
        """The stream's frames at the start of buf, in bulk (False: wait for more bytes)."""
        n = len(self.buf) // self.stride
        if n == 0:
            return False
        h = len(self.head)
        rows = np.frombuffer(self.buf, np.uint8, n * self.stride).reshape(n, self.stride)
        ok = (rows[:, :h] == self.head).all(axis=1)
        good = n if ok.all() else int(np.argmin(ok))
        if good == 0:
            self.count.bad += 1  # a binary frame of another size
            return False
        first = rows[:good, h:h + self.dtype.itemsize].copy().view(self.dtype).ravel().astype(np.float64)
        del rows  # a view of buf, which cannot shrink under it
        del self.buf[:good * self.stride]
        self._count(first)
        return True

    def _control(self) -> bool:
        """A ping (answered), a close, or anything else (bad) at the start of buf."""
        if len(self.buf) < 2 or len(self.buf) < 2 + (self.buf[1] & 0x7F):
            return False
        opcode, size = self.buf[0], self.buf[1] & 0x7F
        payload = bytes(self.buf[2:2 + size])
        del self.buf[:2 + size]
        if opcode == PING_FIN:
            self.pong(payload)
        elif opcode == CLOSE_FIN:
            self.count.closed = True
        else:
            self.count.bad += 1
        return True

    def _count(self, values: np.ndarray) -> None:
        steps = np.diff(values, prepend=self.last) if self.last is not None else np.diff(values)
        self.last = float(values[-1])
        if not self.counting:
            return
        self.count.received += len(values)
        missing = steps > self.step
        self.count.gaps += int(np.count_nonzero(missing))
        self.count.lost += int(np.sum(np.rint(steps[missing] / self.step) - 1))
        self.count.backwards += int(np.count_nonzero(steps <= 0))


def handshake(port: int, name: str, query: str, timeout: float = 60.0) -> tuple[socket.socket, ClientProtocol]:
    """Open a TCP connection and send websockets' opening request on it (answered: opened())."""
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/" + (f"?{query}" if query else "")),
                              subprotocols=[name])
    protocol.send_request(protocol.connect())
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(b"".join(protocol.data_to_send()))
    return sock, protocol


def opened(sock: socket.socket, protocol: ClientProtocol, name: str) -> bytes:
    """Read the server's answer to handshake(); returns what came after it (frames already)."""
    got = b""
    while b"\r\n\r\n" not in got:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError(f"{name}: the server closed during the handshake")
        got += more
    end = got.index(b"\r\n\r\n") + 4
    protocol.receive_data(got[:end])
    events = protocol.events_received()
    if protocol.state is not State.OPEN or not events or not isinstance(events[0], Response):
        raise ConnectionError(f"{name}: handshake refused: {protocol.handshake_exc!r}")
    sock.setblocking(False)
    return got[end:]


def pong(sock: socket.socket, protocol: ClientProtocol, payload: bytes) -> None:
    protocol.send_pong(payload)
    try:
        sock.send(b"".join(protocol.data_to_send()))
    except OSError:  # full or gone: the server's keepalive will tell
        pass


def drain(sel: selectors.BaseSelector) -> None:
    """Read whatever is there on every client's socket, once."""
    for key, _ in sel.select(0):
        if key.data is None:
            continue
        try:
            data = key.fileobj.recv(1 << 20)
        except (BlockingIOError, ConnectionError):
            continue
        if not data:
            key.data.count.closed = True
            sel.unregister(key.fileobj)
            continue
        key.data.feed(data)


def run(port: int, name: str, n: int, payload: int, step: float, query: str, seconds: float,
        pace: float, dtype: str = "float64") -> list[dict]:
    sel = selectors.DefaultSelector()
    streams = []
    for start in range(0, n, HANDSHAKES):
        # A batch of handshakes under way at once (fewer than the listening socket's backlog),
        # and the clients already open read meanwhile.
        batch = [handshake(port, name, query) for _ in range(min(HANDSHAKES, n - start))]
        for sock, protocol in batch:
            stream = Stream(payload, step, partial(pong, sock, protocol), dtype)
            stream.feed(opened(sock, protocol, name))
            sel.register(sock, selectors.EVENT_READ, stream)
            streams.append(stream)
        drain(sel)
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    print("READY", flush=True)
    end = None
    while end is None or time.monotonic() < end:
        if end is None and sys.stdin in [k.fileobj for k, _ in sel.select(0)]:
            if sys.stdin.readline().strip() != "GO":
                raise SystemExit("no GO: the benchmark gave up")
            for s in streams:
                s.counting = True
            end = time.monotonic() + seconds
            sel.unregister(sys.stdin)
        drain(sel)
        time.sleep(pace)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return [asdict(s.count) for s in streams]


def clients(port: int, name: str, n: int, *, payload: int, step: float = 1, query: str = "", dtype: str = "float64",
            seconds: float = 5.0, processes: int = 4, pace: float = 0.05,
            ready_timeout: float = 300.0, at_go: Callable[[], None] | None = None) -> list[dict]:
    """n clients in `processes` processes, counting over the same `seconds` once all are connected
    (at_go is called as the window opens)."""
    procs = []
    share = [n // processes + (i < n % processes) for i in range(processes)]
    for k in share:
        if k:
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), str(port), name, str(k), "--payload", str(payload),
                 "--step", str(step), "--query", query, "--dtype", dtype, "--seconds", str(seconds), "--pace", str(pace)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + ready_timeout
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"a load process did not connect its clients (exit {p.poll()})")
            if time.monotonic() > deadline:
                raise RuntimeError("the load processes took too long to connect")
        if at_go is not None:
            at_go()
        for p in procs:
            p.stdin.write("GO\n")
            p.stdin.flush()
        out = []
        for p in procs:
            line = p.stdout.readline()
            out += json.loads(line)
            p.wait(30)
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("name")
    ap.add_argument("clients", type=int)
    ap.add_argument("--payload", type=int, required=True, help="bytes of each message's payload")
    ap.add_argument("--step", type=float, default=1, help="how much the counter goes up from one message to the next")
    ap.add_argument("--query", default="")
    ap.add_argument("--dtype", default="float64", help="of the counter, the first value of each payload")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pace", type=float, default=0.05, help="seconds between two reads of every socket")
    a = ap.parse_args()
    counts = run(a.port, a.name, a.clients, a.payload, a.step, a.query, a.seconds, a.pace, a.dtype)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
