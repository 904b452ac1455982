"""NATS: one Csound, a 3-server nats-server cluster, two edges, an audience split over them.

    python bench/run.py --only nats      # with the other sections' tables
    python bench/natsbench.py [--quick]  # alone (not nats.py: bench/ is on the tests' sys.path,
                                         # where it would hide nats-py)

One `csws run --nats` (Csound 6 unless --csound 7) plays a counter, k-rate at kr 100 and a-rate (sr
48000, ksmps 480: 100 frames/s of 480 samples, each sample the counter: upsamp, not a(), which
interpolates), connected to server 0 of a local cluster (bench/natscluster.py); edge A (`csws edge`)
to server 1 and edge B to server 2, so that every frame crosses a route.  Phases, one after the other
in the same run: no client at all; for each N of AUDIENCES, N k-rate clients split over the two edges
and A_CLIENTS a-rate clients on each edge; then the same audiences on Csound's own port, the
comparison (the same Csound, NATS still on).
bench/fanload.py counts every frame at every client (whole: no gap, nothing out of order, never
closed) over the window once all are connected; each process's CPU (utime + stime, /proc) and each
nats-server's message counts (/varz) are read at the window's two ends.  Before that, two shorter
measurements: the cluster alone (nats-py publisher and subscribers, no csws), for the nats-servers'
CPU per message; and Csound alone with no client, without and with NATS, at ksmps 480 and 32, for
what publishing costs Csound.  All of it shares this machine's cores with the load generators: the
load average is given beside each phase.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import fanload  # bench/, beside this file
from natscluster import Cluster, free_port

SR, KSMPS = 48000, 480  # kr 100
AUDIENCES = (1000, 2000)
A_CLIENTS = 16  # a-rate clients on each edge (and twice as many on Csound's own port)
K_PROCESSES = 2  # load processes per group of k-rate clients
TICK = os.sysconf("SC_CLK_TCK")


def piece(port: int, ksmps: int = KSMPS) -> str:
    return (f"<CsoundSynthesizer>\n<CsInstruments>\nsr = {SR}\nksmps = {ksmps}\nnchnls = 1\n0dbfs = 1\n"
            f"instr 1\n  kcount init 0\n  kcount += 1\n  asig upsamp kcount\n  kd websocket {port}, kcount, asig\n"
            f"endin\n</CsInstruments>\n<CsScore>\ni1 0 36000\n</CsScore>\n</CsoundSynthesizer>\n")


def cpu_seconds(pid: int) -> float:
    """A process's CPU so far: utime + stime of all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def wait_json(url: str, ready, what: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> dict:
    """Poll `url` until ready(body) holds; RuntimeError (with the end of the log) if `proc` exits or
    time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = get_json(url)
            if ready(body):
                return body
        except (OSError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{what} not ready at {url} (exit {proc.poll()}); its output ends:\n{tail}")
        time.sleep(0.1)


def has_variables(body: dict) -> bool:
    return {"kcount", "asig"} <= {v.get("name") for v in body.get("variables", [])}


@dataclass
class Group:
    """Clients of one variable at one port."""

    where: str  # "A", "B" or "csound"
    port: int
    var: str  # "kcount" or "asig"
    n: int

    @property
    def payload(self) -> int:
        return 8 if self.var == "kcount" else 8 * KSMPS

    def clients(self, seconds: float, at_go) -> list[dict]:
        k = self.var == "kcount"
        return fanload.clients(self.port, self.var, self.n, payload=self.payload, seconds=seconds,
                               processes=K_PROCESSES if k else 1, pace=0.1 if k else 0.05, at_go=at_go)


class Bench:
    """The cluster, Csound and the two edges; measure() runs one phase."""

    def __init__(self, major: str, work: Path) -> None:
        self.major, self.work = major, work
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def __enter__(self) -> Bench:
        self.cluster = Cluster(3).__enter__()
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _spawn(self, label: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.logs[label] = self.work / f"{label}.log"
        with open(self.logs[label], "wb") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=self.work, start_new_session=True, env={**os.environ, **(env or {})})
        self.procs[label] = p
        return p

    def _start(self) -> None:
        csws = [sys.executable, "-m", "csws"]
        most = 2 * max(AUDIENCES) + 64
        self.port = free_port()
        csd = self.work / "nats-bench.csd"
        csd.write_text(piece(self.port))
        urls = self.cluster.urls
        cs = self._spawn("csound", [*csws, "run", "--csound", self.major, "--nats", urls[0], str(csd),
                                    "-odac", "-+rtaudio=null", f"-b{KSMPS}", f"-B{2 * KSMPS}", "-d"],
                         env={"CSWS_MAX_CLIENTS": str(most)})
        wait_json(f"http://127.0.0.1:{self.port}/csws.json", has_variables, "Csound", cs, self.logs["csound"])
        self.edges = {}
        for label, url in (("A", urls[1]), ("B", urls[2])):
            port = free_port()
            p = self._spawn(f"edge {label}", [*csws, "edge", "--nats", url, "--port", f"{port}:{self.port}",
                                              "--max-clients", str(most)])
            wait_json(f"http://127.0.0.1:{port}/csws.json", has_variables, f"edge {label}", p,
                      self.logs[f"edge {label}"])
            self.edges[label] = port

    def __exit__(self, *exc: object) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # Csound's end-of-performance report, edges' goodbye
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # its own session, started here
                p.wait()
        self.cluster.__exit__()

    def log(self, label: str) -> str:
        return self.logs[label].read_text(errors="replace")

    def snapshot(self) -> dict:
        """Now: each process's CPU so far, each nats-server's message counts."""
        cpu = {label: cpu_seconds(p.pid) for label, p in self.procs.items()}
        for s in self.cluster.servers:
            cpu[f"nats {s.index}"] = cpu_seconds(s.proc.pid)
        now = time.monotonic()  # the CPU's; the counts below come over HTTP, from busy processes
        varz = [get_json(f"http://127.0.0.1:{s.monitor}/varz") for s in self.cluster.servers]
        link = get_json(f"http://127.0.0.1:{self.port}/csws.json").get("nats") or {}
        return {"t": now, "cpu": cpu, "link": link,
                "in_msgs": sum(v["in_msgs"] for v in varz), "out_msgs": sum(v["out_msgs"] for v in varz),
                "out_bytes": sum(v["out_bytes"] for v in varz)}

    def audiences(self, n: int, on_edges: bool) -> list[Group]:
        if on_edges:
            return [g for label, port in self.edges.items()
                    for g in (Group(label, port, "kcount", n // 2), Group(label, port, "asig", A_CLIENTS))]
        return [Group("csound", self.port, "kcount", n), Group("csound", self.port, "asig", 2 * A_CLIENTS)]

    def measure(self, groups: list[Group], seconds: float) -> dict:
        """Every group's clients connected, then counted over the same `seconds` (none: just wait)."""
        marks: dict[str, dict] = {}
        timer: list[threading.Timer] = []

        def go() -> None:  # the barrier's action: all connected, GO follows at once
            marks["start"] = self.snapshot()
            timer.append(threading.Timer(seconds, lambda: marks.setdefault("end", self.snapshot())))
            timer[0].start()

        counts: list[list[dict] | None] = [None] * len(groups)
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(groups), action=go)

        def run(i: int, g: Group) -> None:
            try:
                counts[i] = g.clients(seconds, lambda: barrier.wait(600))
            except BaseException as e:  # noqa: BLE001 - reported below, the others released
                errors.append(e)
                barrier.abort()

        if groups:
            threads = [threading.Thread(target=run, args=(i, g)) for i, g in enumerate(groups)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise RuntimeError(f"a load group failed: {errors[0]!r}") from errors[0]
            timer[0].join()
        else:
            go()
            timer[0].join()
        a, b = marks["start"], marks["end"]
        wall = b["t"] - a["t"]
        result = {"wall": wall, "load": os.getloadavg()[0],
                  "cpu": {k: (b["cpu"][k] - a["cpu"][k]) / wall for k in a["cpu"]},
                  "nats_in": (b["in_msgs"] - a["in_msgs"]) / wall, "nats_out": (b["out_msgs"] - a["out_msgs"]) / wall,
                  "nats_out_bytes": (b["out_bytes"] - a["out_bytes"]) / wall, "groups": [],
                  "link": {k: b["link"].get(k, 0) - a["link"].get(k, 0) for k in ("published", "dropped")}}
        for g, c in zip(groups, counts):
            received = sorted(x["received"] for x in c)
            result["groups"].append({
                "where": g.where, "var": g.var, "clients": len(c), "delivered": sum(received) / seconds,
                "whole": sum(x["gaps"] == 0 and x["backwards"] == 0 and x["bad"] == 0 and not x["closed"] for x in c),
                "per_s": received[len(received) // 2] / seconds,
                "gaps": sum(x["gaps"] for x in c), "lost": sum(x["lost"] for x in c)})
        return result


def bench_nats(major: str = "6", seconds: float = 5.0, audiences=AUDIENCES) -> dict:
    """Every phase; {"phases": [(title, result)], "csound_nats": /csws.json's "nats", "logs": each
    process's output, "cluster": [cluster_alone()...]}."""
    print(f"  the cluster alone, {CLUSTER_SUBSCRIBERS} subscribers...", flush=True)
    cluster = [cluster_alone(rate, size, seconds) for rate, size in CLUSTER_LOADS]
    with tempfile.TemporaryDirectory(prefix="csws-bench-nats-") as tmp:
        print("  Csound alone, no client, without and with NATS...", flush=True)
        with Cluster(1) as one:
            alone = {(k, nats): csound_alone(major, k, one.url if nats else None, seconds, Path(tmp))
                     for k in (KSMPS, 32) for nats in (False, True)}
        with Bench(major, Path(tmp)) as b:
            report = run_phases(b, seconds, audiences)
        report["logs"] = {label: b.log(label) for label in b.procs}  # with the end-of-performance reports
    report["cluster"], report["alone"] = cluster, alone
    return report


def csound_alone(major: str, ksmps: int, url: str | None, seconds: float, work: Path) -> float:
    """Csound's process CPU (s/s) with the bench's piece at `ksmps` and no client, linked to NATS at
    `url` or not: what publishing every frame costs Csound."""
    port = free_port()
    csd = work / f"alone-{ksmps}.csd"
    csd.write_text(piece(port, ksmps))
    log = work / f"alone-{ksmps}.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([sys.executable, "-m", "csws", "run", "--csound", major, *(["--nats", url] if url else []),
                              str(csd), "-odac", "-+rtaudio=null", f"-b{ksmps}", f"-B{2 * ksmps}", "-d"],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    try:
        wait_json(f"http://127.0.0.1:{port}/csws.json", has_variables, "Csound", p, log)
        time.sleep(1.0)  # past the start
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(p.pid) - c0) / (time.monotonic() - t0)
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# The cluster's own cost per message, at rates like those of tens of edges: one publisher on server
# 0, subscribers on servers 1 and 2 (nats-py, in this process); (messages/s, bytes): a-rate frames
# of ksmps 32 and of ksmps 480 (float64).
CLUSTER_LOADS = [(10000, 256), (2000, 3840)]
CLUSTER_SUBSCRIBERS = 4


def cluster_alone(rate: int, size: int, seconds: float) -> dict:
    import asyncio

    import nats  # nats-py (the nats extra)

    async def main(c: Cluster) -> dict:
        pub = await nats.connect(c.urls[0])
        subs = [await nats.connect(c.urls[1 + i % 2]) for i in range(CLUSTER_SUBSCRIBERS)]
        got = [0] * len(subs)
        for i, nc in enumerate(subs):
            async def count(msg, i=i) -> None:
                got[i] += 1
            await nc.subscribe("bench.load", cb=count)
            await nc.flush()
        await asyncio.sleep(0.5)  # the interest reaches server 0 over the routes
        payload = bytes(size)
        before = [cpu_seconds(s.proc.pid) for s in c.servers], time.process_time(), time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - before[2]) < seconds:
            for _ in range(int(rate * elapsed) - sent):
                await pub.publish("bench.load", payload)
                sent += 1
            await asyncio.sleep(0.002)
        await pub.flush()
        drained = time.monotonic() + 5
        while sum(got) < sent * len(subs) and time.monotonic() < drained:
            await asyncio.sleep(0.01)  # the last ones on their way
        wall = time.monotonic() - before[2]
        cpu = [(cpu_seconds(s.proc.pid) - b) / wall for s, b in zip(c.servers, before[0])]
        for nc in (pub, *subs):
            await nc.close()
        return {"rate": rate, "size": size, "sent": sent / wall, "delivered": sum(got) / wall,
                "lost": sent * len(subs) - sum(got), "servers": cpu, "here": (time.process_time() - before[1]) / wall, "load": os.getloadavg()[0]}

    with Cluster(3) as c:
        return asyncio.run(main(c))


def run_phases(b: Bench, seconds: float, audiences) -> dict:
    phases = [("no client", b.measure([], seconds))]
    print(f"  no client: Csound {phases[0][1]['cpu']['csound']:.2f} CPU s/s", flush=True)
    for on_edges in (True, False):
        for n in audiences:
            title = f"{n} k + {2 * A_CLIENTS} a clients " + ("on the edges" if on_edges else "on Csound's port")
            print(f"  {title}...", flush=True)
            r = b.measure(b.audiences(n, on_edges), seconds)
            phases.append((title, r))
            print("    " + " | ".join(f"{k}: {v}" for k, v in cells(r).items()), flush=True)
    return {"phases": phases, "csound_nats": get_json(f"http://127.0.0.1:{b.port}/csws.json").get("nats")}


def us(cpu: float, messages: float) -> str:
    return f"{1e6 * cpu / messages:.1f} us/msg" if messages else "-"


def cells(r: dict) -> dict[str, str]:
    """One phase's column, by row title."""
    cpu, groups = r["cpu"], r["groups"]
    delivered = sum(g["delivered"] for g in groups)
    out = {}
    for var, label in (("kcount", "k-rate clients"), ("asig", "a-rate clients")):
        gs = [g for g in groups if g["var"] == var]
        n = sum(g["clients"] for g in gs)
        out[label + ": whole / all, frames/s (median), gaps (lost)"] = (
            f"{sum(g['whole'] for g in gs)}/{n}, {min(g['per_s'] for g in gs):.0f}/s, "
            f"{sum(g['gaps'] for g in gs)} ({sum(g['lost'] for g in gs)})" if gs else "-")
    out["messages delivered to clients per s (all)"] = f"{delivered:.0f}"
    out["Csound's process: CPU s/s, per delivered message"] = f"{cpu['csound']:.3f}, {us(cpu['csound'], delivered)}"
    for edge in sorted(k for k in cpu if k.startswith("edge ")):
        mine = sum(g["delivered"] for g in groups if f"edge {g['where']}" == edge)
        out[f"{edge}: CPU s/s, per delivered message"] = f"{cpu[edge]:.3f}, {us(cpu[edge], mine)}"
    out["Csound's NATS link: frames published / dropped in the window"] = (
        f"{r['link']['published']} / {r['link']['dropped']}")
    nats = sum(v for k, v in cpu.items() if k.startswith("nats "))
    out["nats-servers (3): CPU s/s, messages in / out per s, out bytes/s"] = (
        f"{nats:.3f} ({', '.join(format(cpu['nats ' + str(i)], '.3f') for i in range(3))}), "
        f"{r['nats_in']:.0f} / {r['nats_out']:.0f}, {r['nats_out_bytes'] / 1e3:.0f} kB/s")
    out["machine's load average (1 min), window"] = f"{r['load']:.1f}, {r['wall']:.1f} s"
    return out


def table(report: dict) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(head, rows) in run.py's table form: a column per phase."""
    columns = [cells(r) for _, r in report["phases"]]
    head = ("NATS: one Csound, 3 nats-servers, 2 edges", *(t for t, _ in report["phases"]))
    rows = [(what, *(c[what] for c in columns)) for what in columns[0]]
    blank = [""] * (len(columns) - 1)
    alone = report["alone"]
    rows.append(("Csound alone, no client, another run: CPU s/s without NATS / with NATS (1 server, no edge)",
                 "; ".join(f"ksmps {k} ({SR // k} frames/s a variable): {alone[k, False]:.3f} / {alone[k, True]:.3f}"
                           for k in (KSMPS, 32)), *blank))
    for c in report["cluster"]:
        total = sum(c["servers"])
        rows.append((f"the cluster alone: {c['rate']}/s of {c['size']} B published on server 0, "
                     f"{CLUSTER_SUBSCRIBERS} subscribers on 1 and 2",
                     f"{c['sent']:.0f} in, {c['delivered']:.0f} delivered per s ({c['lost']} lost); nats-servers "
                     f"{total:.3f} CPU s/s ({', '.join(format(x, '.3f') for x in c['servers'])}), "
                     f"{us(total, c['sent'] + c['delivered'])} in or out; the clients (this process) "
                     f"{c['here']:.2f}; load {c['load']:.1f}", *blank))
    counters = report["csound_nats"]
    if counters is not None:
        rows.append(("Csound's NATS counters at the end (/csws.json)",
                     json.dumps({k: v for k, v in counters.items() if k != "servers"}), *blank))
    for label, log in report["logs"].items():  # the reports at the end: the rings' counts too
        for line in log.splitlines():
            if line.startswith("csws: port ") and ("(to web)" in line or "(nats)" in line):
                rows.append((f"{label}'s report at the end", line.split(" ", 3)[-1], *blank))
    return head, rows


def print_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    width = [max(len(r[c]) for r in [*rows, head]) for c in range(len(head))]
    print(" | ".join(c.ljust(w) for c, w in zip(head, width)))
    print("-+-".join("-" * w for w in width))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, width)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 s windows instead of 5")
    ap.add_argument("--csound", default="6", choices=["6", "7"])
    a = ap.parse_args()
    report = bench_nats(a.csound, 2.0 if a.quick else 5.0)
    print()
    print_table(*table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
