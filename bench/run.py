"""Benchmarks: our `websocket` opcode on Csound 6 and on Csound 7, and the
original, side by side.

    python bench/run.py            # everything, about 5-6 minutes
    python bench/run.py --quick    # shorter runs, for a smoke test

Every column runs the same orchestras.  Ours runs under `csws run --csound 6`
and `csws run --csound 7` (one host for both majors, so that the two compare
directly); the original (Debian's csound-plugins, libwebsocketIO.so, Csound 6
only) under the stock `csound` command, which loads it by itself.  Memory
and CPU are given above the same host running the orchestra without the
opcode.

Real-time runs use sr=48000, ksmps=32, `-odac -+rtaudio=null -b32 -B64`:
real-time pacing without a sound card.  Clients are Python websockets
clients over loopback, in this process.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

SR, KSMPS = 48000, 32
KR = SR / KSMPS
REALTIME = ["-odac", "-+rtaudio=null", "-b32", "-B64", "-d"]
CSOUND = shutil.which("csound") or "csound"
SCORE_END = r"Score finished|^\S*end of score\.\s|^end of Performance"  # 6; 7
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time (Debian: time)
WORK = Path(tempfile.mkdtemp(prefix="csws-bench-"))
IMPLS = ["ours6", "ours7", "original"]
HOSTED = {"ours6": "6", "ours7": "7", "none6": "6", "none7": "7"}  # under csws run --csound N
NONE = {"ours6": "none6", "ours7": "none7", "original": "none"}  # the same host without the opcode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csd(orc: str, score: str) -> str:
    return (f"<CsoundSynthesizer>\n<CsInstruments>\nsr = {SR}\nksmps = {KSMPS}\nnchnls = 1\n0dbfs = 1\n"
            f"{orc}\n</CsInstruments>\n<CsScore>\n{score}\n</CsScore>\n</CsoundSynthesizer>\n")


@dataclass
class Run:
    """A Csound child: its output lines with arrival times, and its rusage."""

    impl: str  # "ours6" | "ours7" | "original", or a NONE[...] baseline
    orc: str
    score: str
    options: list[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    exit_time: float = 0.0
    cpu: float = 0.0
    maxrss_kib: int = 0
    returncode: int = 0
    score_end: float | None = None

    def start(self) -> "Run":
        path = WORK / f"piece-{id(self)}.csd"
        path.write_text(csd(self.orc, self.score))
        if self.impl in HOSTED:
            cmd = [sys.executable, "-m", "csws", "run", "--csound", HOSTED[self.impl], str(path), *self.options]
        else:
            cmd = [CSOUND, *self.options, str(path)]
        # Peak memory: a child started straight from this process gets a bogus ru_maxrss.
        # Python starts children with vfork, and exec() records the outgoing address
        # space's high-water mark (this interpreter's, numpy and all) as the child's
        # maxrss.  GNU time forks Csound from its own ~1 MiB image and reports
        # Csound's own peak; without it, VmHWM is sampled from /proc instead.
        self._time_out = WORK / f"time-{id(self)}.txt"
        if TIME:
            cmd = [TIME, "-f", "%M", "-o", str(self._time_out), *cmd]
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=WORK, start_new_session=True)
        if not TIME:
            threading.Thread(target=self._sample_hwm, daemon=True).start()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _sample_hwm(self) -> None:
        """Fallback: poll Csound's VmHWM (its own address space's peak) until it exits."""
        status = Path(f"/proc/{self.proc.pid}/status")
        while True:
            try:
                m = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.M)
            except OSError:
                return
            if m is None:  # a zombie: no address space left
                return
            self.maxrss_kib = max(self.maxrss_kib, int(m.group(1)))
            time.sleep(0.02)

    def _read(self) -> None:
        for raw in self.proc.stdout:
            now, line = time.monotonic(), raw.decode("utf-8", "replace")
            # The original prints a line per k-cycle once its buffer is full (millions in
            # the offline run): keep none of its repeats.
            if self.lines and line == self.lines[-1][1] and len(self.lines) > 1000:
                continue
            self.lines.append((now, line))
            if self.score_end is None and re.search(SCORE_END, line):
                self.score_end = now
        # The pipe closes when the process exits.  wait4 on `time` includes its reaped
        # child's CPU (Csound's); time's own share is negligible.
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.exit_time = time.monotonic()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.returncode = self.proc.returncode
        self.cpu = usage.ru_utime + usage.ru_stime
        if TIME:
            try:  # the last line: time writes "Command exited with non-zero status" first
                self.maxrss_kib = int(self._time_out.read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                self.maxrss_kib = 0

    hung: bool = False

    def wait(self, timeout: float = 120.0, grace: float = 5.0) -> "Run":
        """Wait for the exit; a process still there `grace` s after its score ended hung: killed."""
        deadline = time.monotonic() + timeout
        while self._reader.is_alive() and time.monotonic() < deadline:
            self._reader.join(0.05)
            t = self.score_end
            if t is not None and time.monotonic() - t > grace and self._reader.is_alive():
                self.hung = True
                break
        if self._reader.is_alive():
            self.hung = True
            self.kill()
        return self

    def kill(self) -> None:
        """Kill Csound; under GNU time, Csound alone, so that time still reaps it and reports."""
        if self._reader.is_alive() and TIME:
            try:
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
                for kid in kids:
                    os.kill(int(kid), 9)
            except (OSError, ValueError):
                pass
            self._reader.join(5)
        if self._reader.is_alive():
            os.killpg(self.proc.pid, 9)  # the whole session (a new one each run)
        self._reader.join()

    def when(self, pattern: str) -> float | None:
        for t, line in self.lines:
            if re.search(pattern, line):
                return t
        return None

    def wait_for(self, pattern: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.when(pattern) is not None:
                return
            if not self._reader.is_alive():
                break
            time.sleep(0.01)
        raise RuntimeError(f"{self.impl}: no {pattern!r} in:\n" + "".join(l for _, l in self.lines[-40:]))

    def exit_after_score(self) -> float | None:
        """Seconds from Csound's end-of-score message to the process's exit."""
        t = self.score_end
        if self.hung:
            return float("inf")
        return None if t is None else self.exit_time - t

    @property
    def output(self) -> str:
        return "".join(l for _, l in self.lines)


async def connect_var(port: int, name: str, query: str = "", timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(f"ws://127.0.0.1:{port}/{query}", subprotocols=[name],
                                 compression=None, max_size=None, max_queue=None)
        except Exception:  # noqa: BLE001 - the server is not up yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def ms(x: float) -> str:
    return f"{x * 1e3:.2f} ms"


# ------------------------------------------------------------- round trip


def bench_round_trip(impl: str, n: int, separate: bool) -> dict:
    """web -> Csound -> web, k-rate echo: a client sends a value and waits for it back.

    The original serves one opcode per port, with inputs and outputs on the
    same line, so its echo leaves on the next k-cycle (`kin websocket P, kout`
    then `kout = kin`).  `separate` runs ours with a receive-only opcode and
    a send opcode after it: the echo leaves in the same k-cycle.
    """
    port = free_port()
    if separate:
        orc = f"instr 1\n  kin websocket {port}\n  kout = kin\n  kd websocket {port}, kout\nendin"
    else:
        orc = f"instr 1\n  kout init 0\n  kin websocket {port}, kout\n  kout = kin\nendin"
    dur = round(4 + n / 150)
    run = Run(impl, orc, f"i1 0 {dur}", REALTIME).start()

    async def main() -> list[float]:
        tx = await connect_var(port, "kin")
        rx = await connect_var(port, "kout")
        lat = []
        for i in range(1, n + 21):
            v = float(i)
            t0 = time.perf_counter()
            await tx.send(np.array([v]).tobytes())
            while np.frombuffer(await rx.recv(), np.float64)[0] != v:
                pass
            if i > 20:  # warm-up
                lat.append(time.perf_counter() - t0)
            # Land anywhere in the k-cycle.  Not asyncio.sleep: its timers round up to the
            # next whole millisecond and then fire with the next network event, here the
            # next echo frame, so every send would follow Csound's k-cycle burst (the
            # worst phase, a full pacing period of wait).  A blocking sleep is exact.
            time.sleep(0.002 * np.random.random())
        await tx.close()
        await rx.close()
        return lat

    try:
        lat = asyncio.run(main())
    finally:
        run.wait(dur + 10)
    return {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "exit": run.exit_after_score()}


# ------------------------------------------------------------ a-rate arrays


def stream_orc(port: int, kind: str) -> str:
    """A counter in every frame: element 0 (a[]), or the signal itself (a)."""
    if kind == "a64":
        return f"""instr 1
  kcount init 0
  kcount += 1
  kd init 0
  aArr[] init 64
  kI = 0
  while kI < 64 do
    aArr[kI] = a(kcount)
    kI += 1
  od
  kd websocket {port}, aArr
endin"""
    return f"""instr 1
  kcount init 0
  kcount += 1
  kd init 0
  asig = a(kcount)
  kd websocket {port}, asig
endin"""


async def _collect(ws, seconds: float, out: list) -> None:
    """(arrival time, counter) of each message for `seconds`."""
    end = time.monotonic() + seconds
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            m = await asyncio.wait_for(ws.recv(), left)
            out.append((time.monotonic(), float(np.frombuffer(m[:8], np.float64)[0])))
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - the window ended, or the performance
        return


async def _collect_client(port: int, name: str, seconds: float, out: list) -> None:
    """_collect through csws.client: each frame decoded (a[] de-interleaved) as a user gets it."""
    from csws.client import CswsError, connect

    deadline = time.monotonic() + 15
    while True:
        try:
            cs = await connect(f"ws://127.0.0.1:{port}")
            break
        except CswsError:  # the server is not up yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    async with cs, cs.subscribe(name) as sub:
        try:
            async with asyncio.timeout(seconds):
                async for frame in sub:
                    out.append((time.monotonic(), float(frame[0, 0])))
        except (TimeoutError, CswsError):  # the window ended, or the performance
            pass


def bench_stream(impl: str, kind: str, nclients: int, seconds: float, client: bool = False) -> dict:
    """Frames each client gets out of those produced while it listened; lag.

    client=True: one csws.client subscriber instead of raw websockets clients.
    """
    port = free_port()
    run = Run(impl, stream_orc(port, kind), f"i1 0 {seconds + 4:.1f}", REALTIME).start()
    name = "aArr" if kind == "a64" else "asig"

    async def main():
        if client:
            got = [[]]
            await _collect_client(port, name, seconds, got[0])
            return got
        conns = [await connect_var(port, name) for _ in range(nclients)]
        got: list[list] = [[] for _ in conns]
        await asyncio.gather(*(_collect(ws, seconds, g) for ws, g in zip(conns, got)))
        for ws in conns:
            ws.transport.abort()
        return got

    try:
        got = asyncio.run(main())
    finally:
        run.wait(seconds + 14)
    fractions, lags, gaps = [], [], 0
    for g in got:
        if len(g) < 2:
            fractions.append(0.0)
            continue
        counts = np.array([c for _, c in g])
        gaps += int(np.count_nonzero(np.diff(counts) != 1))  # a frame lost between two received
        times = np.array([t for t, _ in g])
        # Csound produces KR frames a second, live: delivered in the window / produced in it
        # (a backlog of old frames counts as delivered, so this flatters a laggard).
        fractions.append(min(1.0, len(g) / (KR * seconds)))
        lag = times - counts / KR  # arrival minus Csound's clock, up to a constant
        lags.append(lag - lag.min())
    lag = np.concatenate(lags) if lags else np.array([np.nan])
    delivered = sum(len(g) for g in got) / max(nclients, 1) / seconds
    return {"fraction_min": min(fractions), "fraction_mean": float(np.mean(fractions)),
            "per_s": delivered, "gaps": gaps, "lag_p50": float(np.percentile(lag, 50)),
            "lag_p99": float(np.percentile(lag, 99)), "lag_end": float(lags[0][-20:].mean()) if lags else np.nan,
            "exit": run.exit_after_score()}


# ------------------------------------------------------ offline, memory, idle


def offline_orc(impl: str, instances: int) -> str:
    body = ""
    for i in range(instances):
        ws = "" if impl.startswith("none") else f"  kd websocket {free_port()}, aArr\n"
        body += f"""instr {i + 1}
  ksig = p4 + timeinsts()
  asig oscili 0.1, 220 + {i}
  aArr[] init 8
  aArr[0] = asig
  aArr[7] = -asig
{ws}  out asig * 0.1
endin
"""
    return body


def bench_offline(impl: str, instances: int, minutes: float) -> dict:
    score = "\n".join(f"i{i + 1} 0 {minutes * 60:.0f} {i}" for i in range(instances))
    run = Run(impl, offline_orc(impl, instances), score, ["-n", "-d", "-m0"]).start().wait(600)
    if run.returncode != 0:
        raise RuntimeError(f"{impl}: offline render failed:\n{run.output[-2000:]}")
    return {"cpu": run.cpu, "rss": run.maxrss_kib / 1024, "exit": run.exit_after_score()}


def bench_footprint(impl: str) -> dict:
    """Peak memory of a short offline run with one a[16] variable to the web."""
    port = free_port()
    ws = "" if impl.startswith("none") else f"  kd websocket {port}, aArr\n"
    orc = f"instr 1\n  aArr[] init 16\n  aArr[0] oscili 0.1, 220\n{ws}endin"
    run = Run(impl, orc, "i1 0 2", ["-n", "-d", "-m0"]).start().wait()
    return {"rss": run.maxrss_kib / 1024}


def bench_idle(impl: str, seconds: float) -> dict:
    """CPU of a real-time performance whose server has no client."""
    port = free_port()
    ws = "" if impl.startswith("none") else f"  kd websocket {port}, ksig\n"
    run = Run(impl, f"instr 1\n  ksig = timeinsts()\n{ws}endin", f"i1 0 {seconds}", REALTIME).start().wait(seconds + 10)
    return {"cpu_per_s": run.cpu / seconds, "exit": run.exit_after_score()}


def bench_startup(impl: str, reps: int) -> dict:
    """Process start to the server's log line (ours) and to the port accepting a connection.

    Medians over `reps` short real-time runs with one k variable to the web.
    """
    logged, accepting = [], []
    for _ in range(reps):
        port = free_port()
        run = Run(impl, f"instr 1\n  ksig = timeinsts()\n  kd websocket {port}, ksig\nendin", "i1 0 1.5",
                  REALTIME).start()
        t_accept = None
        deadline = time.monotonic() + 15
        while t_accept is None and time.monotonic() < deadline and run._reader.is_alive():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    t_accept = time.monotonic()
            except OSError:
                time.sleep(0.002)
        if impl in HOSTED and t_accept is not None:
            run.wait_for(r"csws: websocket server on", 5)
        # Only the start matters here: stop it (the original can take a while to exit).
        run.kill()
        t_log = run.when(r"csws: websocket server on")
        if t_log is not None:
            logged.append(t_log - run.t_start)
        if t_accept is not None:
            accepting.append(t_accept - run.t_start)
    med = lambda xs: float(np.median(xs)) if xs else None  # noqa: E731
    return {"logged": med(logged), "accepting": med(accepting)}


def ring_bytes() -> dict:
    """Our ring for one a[16] and one a[64] to the web, at the default settings."""
    from csws import host
    from csws.config import Settings
    from csws.variables import Direction, Kind, VarSpec

    out = {}
    for n in (16, 64):
        spec = VarSpec(f"a{n}", Kind.AARR, Direction.TO_WEB, (n,), n * KSMPS * 8)
        out[n] = host._ring_for(spec, KSMPS, SR, Settings.from_env().buffer_seconds).memory_bytes
    return out


# ------------------------------------------------------------------ table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--only", choices=["startup", "rtt", "a64", "fan", "offline", "idle", "memory"], action="append")
    args = ap.parse_args()
    q = args.quick
    want = set(args.only or ["startup", "rtt", "a64", "fan", "offline", "idle", "memory"])
    head = ("what", "ours, Csound 6", "ours, Csound 7", "original (Csound 6)", "target")
    rows: list[tuple[str, ...]] = []
    exits: dict[str, list[float]] = {i: [] for i in IMPLS}

    def row(what: str, *cells: str) -> None:
        cells = (*cells, *[""] * (len(head) - 1 - len(cells)))
        rows.append((what, *cells))
        print(f"  {what}: " + " | ".join(cells[:3]), flush=True)

    def each(fn, r) -> list[str]:
        return [fn(i, r[i]) for i in IMPLS]

    def note_exit(impl, r):
        if r.get("exit") is not None:
            exits[impl].append(r["exit"])
            print(f"    ({impl}: end of score to exit {r['exit']:.3f} s)", flush=True)

    t_start = time.monotonic()
    if "startup" in want:
        print("startup...", flush=True)
        reps = 3 if q else 5
        r = {i: bench_startup(i, reps) for i in IMPLS}
        sec = lambda x: "?" if x is None else f"{x:.3f} s"  # noqa: E731
        row(f"startup: process start to 'csws: websocket server on' (median of {reps})",
            sec(r["ours6"]["logged"]), sec(r["ours7"]["logged"]), "n/a (no such line)")
        row("startup: process start to the port accepting a connection", *each(lambda i, x: sec(x["accepting"]), r))
    if "rtt" in want:
        print("round trip...", flush=True)
        n = 150 if q else 600
        r = {i: bench_round_trip(i, n, separate=False) for i in IMPLS}
        sep = {i: bench_round_trip(i, n, separate=True) for i in ("ours6", "ours7")}
        for i in IMPLS:
            note_exit(i, r[i])
        for i in sep:
            note_exit(i, sep[i])
        row("round trip k echo, same opcode line (p50 / p99)", *each(lambda i, x: f"{ms(x['p50'])} / {ms(x['p99'])}", r))
        row("round trip k echo, receive then send opcode (p50 / p99)",
            *(f"{ms(sep[i]['p50'])} / {ms(sep[i]['p99'])}" for i in sep), "n/a (one opcode per port)",
            "<= 1.0 / 2.0 ms")
    if "a64" in want:
        print("a[64] stream...", flush=True)
        secs = 2 if q else 5
        r = {i: bench_stream(i, "a64", 1, secs) for i in IMPLS}
        for i in IMPLS:
            note_exit(i, r[i])
        row(f"a[64] ksmps=32, frames delivered of produced ({secs} s)",
            *each(lambda i, x: f"{x['fraction_min']:.1%} ({x['per_s']:.0f}/s of {KR:.0f}/s)", r), "100%")
        row("a[64] lag above the best frame (p50 / p99)",
            *each(lambda i, x: f"{ms(x['lag_p50'])} / {ms(x['lag_p99'])}", r), "bounded")
        c = {i: bench_stream(i, "a64", 1, secs, client=True) for i in ("ours6", "ours7")}
        for i in c:
            note_exit(i, c[i])
        row(f"a[64] through csws.client.subscribe, (64, 32) arrays ({secs} s)",
            *(f"{c[i]['fraction_min']:.1%} ({c[i]['per_s']:.0f}/s), {c[i]['gaps']} gaps, "
              f"lag {ms(c[i]['lag_p50'])} / {ms(c[i]['lag_p99'])}" for i in c),
            "n/a", "100%, as the raw client")
    if "fan" in want:
        print("16 clients...", flush=True)
        secs = 2 if q else 4
        r = {i: bench_stream(i, "a", 16, secs) for i in IMPLS}
        for i in IMPLS:
            note_exit(i, r[i])
        row("16 clients on one a-rate variable: fraction each gets (min / mean)",
            *each(lambda i, x: f"{x['fraction_min']:.1%} / {x['fraction_mean']:.1%}", r), "100%")
    if "memory" in want:
        print("memory...", flush=True)
        fp = {i: bench_footprint(i) for i in [*IMPLS, *NONE.values()]}
        rb = ring_bytes()
        row("one a[16] to the web: peak RSS above no opcode",
            *each(lambda i, x: f"{x['rss'] - fp[NONE[i]]['rss']:+.1f} MiB", fp), "a few MB")
        row("our ring, default 0.25 s: a[16] / a[64]", *[f"{rb[16] / 2**20:.2f} / {rb[64] / 2**20:.2f} MiB"] * 2)
    if "offline" in want:
        minutes = 1 if q else 10
        inst = 4
        print(f"offline render, {inst} instances x {minutes} min...", flush=True)
        r = {i: bench_offline(i, inst, minutes) for i in [*IMPLS, *NONE.values()]}
        row(f"offline -n, {inst} instances (a[8] to the web) x {minutes} min: CPU added",
            *each(lambda i, x: f"+{x['cpu'] - r[NONE[i]]['cpu']:.2f} s (total {x['cpu']:.2f}, "
                               f"none {r[NONE[i]]['cpu']:.2f})", r), "ours <= half the original's")
        row("  peak memory above no opcode", *each(lambda i, x: f"{x['rss'] - r[NONE[i]]['rss']:+.1f} MiB", r),
            "<= 16 MiB")
        row("  end of score to exit",
            *each(lambda i, x: f"{x['exit']:.3f} s" if x["exit"] is not None else "?", r), "<= 1 s")
    if "idle" in want:
        print("idle server...", flush=True)
        secs = 3 if q else 5
        r = {i: bench_idle(i, secs) for i in [*IMPLS, *NONE.values()]}
        for i in IMPLS:
            note_exit(i, r[i])
        row("idle server, real time, no client: CPU s per s",
            *each(lambda i, x: f"{x['cpu_per_s']:.3f} (no opcode {r[NONE[i]]['cpu_per_s']:.3f})", r), "~ no opcode")
    row("real-time runs: end of score to exit (max)",
        *(f"{max(exits[i]):.3f} s over {len(exits[i])} runs"
          + (f" ({sum(e == float('inf') for e in exits[i])} hung, killed 5 s after)" if float("inf") in exits[i] else "")
          if exits[i] else "?" for i in IMPLS), "<= 1 s")

    width = [max(len(r[c]) for r in [*rows, head]) for c in range(len(head))]
    print(f"\nResults ({time.monotonic() - t_start:.0f} s; sr={SR}, ksmps={KSMPS}, {' '.join(REALTIME[:4])})\n")
    print(" | ".join(h.ljust(w) for h, w in zip(head, width)))
    print("-+-".join("-" * w for w in width))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, width)))
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
