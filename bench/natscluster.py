"""A local nats-server cluster for tests and the bench: N servers on loopback,
each with its own client, route and monitoring port, routes to all the others.

    with Cluster(3) as c:
        c.url        # "nats://127.0.0.1:P1,nats://127.0.0.1:P2,..."
        c.kill(0)    # SIGKILL server 0; c.start(0) brings it back on the same ports
        c.stop(1)    # SIGSTOP (a stalled server); c.cont(1) resumes it

Servers are ready once each accepts clients (its INFO line) and, with n > 1,
its /routez shows a route to every other server.  Logs go to a temp dir
(`Cluster.logdir`); everything is stopped on exit.

    python natscluster.py [N]   # runs a cluster until interrupted, printing its URL
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

NATS_SERVER = os.environ.get("NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    index: int
    port: int  # clients
    route: int  # cluster routes
    monitor: int  # http monitoring (/routez, /varz)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, n: int = 3, *, timeout: float = 15.0) -> None:
        if n < 1:
            raise ValueError("a cluster has at least one server")
        self.n = n
        self.timeout = timeout
        self.logdir = Path(tempfile.mkdtemp(prefix="csws-nats-"))
        self.servers = [Server(i, free_port(), free_port(), free_port()) for i in range(n)]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def __enter__(self) -> Cluster:
        try:
            for i in range(self.n):
                self._spawn(i)
            self.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, i: int) -> None:
        s = self.servers[i]
        cmd = [NATS_SERVER, "-a", HOST, "-p", str(s.port), "-m", str(s.monitor),
               "-n", f"csws-{i}", "-l", str(self.logdir / f"nats-{i}.log")]
        if self.n > 1:
            routes = ",".join(f"nats://{HOST}:{o.route}" for o in self.servers if o is not s)
            cmd += ["--cluster", f"nats://{HOST}:{s.route}", "--routes", routes,
                    "--cluster_name", "csws"]
        s.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

    def start(self, i: int, *, wait: bool = True) -> None:
        """(Re)start server i on its same ports, after kill(i)."""
        if self.servers[i].running:
            raise RuntimeError(f"nats-server {i} is running")
        self._spawn(i)
        if wait:
            self.wait_ready([i])

    def kill(self, i: int) -> None:
        """SIGKILL server i (no goodbye to its clients or routes) and reap it."""
        p = self.servers[i].proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def stop(self, i: int) -> None:
        """SIGSTOP server i: its sockets stay open, nothing answers (a stalled server)."""
        self._signal(i, signal.SIGSTOP)

    def cont(self, i: int) -> None:
        self._signal(i, signal.SIGCONT)

    def _signal(self, i: int, sig: int) -> None:
        p = self.servers[i].proc
        if p is None or p.poll() is not None:
            raise RuntimeError(f"nats-server {i} is not running")
        p.send_signal(sig)

    def routes(self, i: int) -> int:
        """How many routes server i has up now (its /routez)."""
        with urllib.request.urlopen(f"http://{HOST}:{self.servers[i].monitor}/routez", timeout=1) as r:
            return int(json.load(r).get("num_routes", 0))

    def _accepts(self, i: int) -> bool:
        try:
            with socket.create_connection((HOST, self.servers[i].port), timeout=1) as c:
                return c.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def wait_ready(self, which: list[int] | None = None) -> None:
        """Wait until the servers in `which` (default: all running ones) accept clients and,
        in a cluster, each of them has a route to every other running server."""
        idx = which if which is not None else [s.index for s in self.servers if s.running]
        want = sum(1 for s in self.servers if s.running) - 1
        deadline = time.monotonic() + self.timeout
        pending = list(idx)
        while pending:
            i = pending[0]
            if not self.servers[i].running:
                raise RuntimeError(f"nats-server {i} exited; see {self.logdir / f'nats-{i}.log'}")
            try:
                ok = self._accepts(i) and (self.n == 1 or self.routes(i) >= want)
            except OSError:
                ok = False
            if ok:
                pending.pop(0)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {i} not ready in {self.timeout} s; see {self.logdir}")
            else:
                time.sleep(0.05)

    def close(self) -> None:
        for s in self.servers:
            p = s.proc
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGCONT)  # a stopped server cannot act on SIGTERM
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.logdir, ignore_errors=True)


if __name__ == "__main__":
    with Cluster(int(sys.argv[1]) if len(sys.argv) > 1 else 3) as cluster:
        print(cluster.url, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
