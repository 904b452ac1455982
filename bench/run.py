"""Benchmarks: our `websocket` opcode on Csound 6 and on Csound 7, and the
original, side by side.

    python bench/run.py            # everything, about 5-6 minutes, and 2.5 for the sound card
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

The sound card section (ours only: the original has no play()) plays a
variable with csws.js's client.play() at its defaults in headless Chromium
(Playwright; CSWS_CHROMIUM, default /usr/bin/chromium) into a recorder
worklet (connect: false), for 60 s (20 s with --quick) after a 2 s warm-up.
Csound makes a pulse about every 0.1 s whose level names it; latency is the time
from the k-cycle that made a pulse to the render quantum in which the
recorder sees it, on one clock (CLOCK_REALTIME: time.time() here, Date.now()
in the worklet).  Each k-cycle's time comes from a k-rate counter this
process receives from Csound over loopback (bench_soundcard says how).
Underruns are player.stats()'s; the audio thread's CPU is read from /proc.

The opus rows (with the soundcard section) play the same pulses with play(..., {codec: "opus"})
at its defaults in the same way, right after PCM, and compare: latency, bytes the page received
per second (player.stats().bytes), Csound's process CPU (csws run: Csound and the I/O thread,
which encodes); and time csws's encoder (csws.serve.opus.Encoder) alone on this process's CPU.

The crowd rows (ours only: the original has no combining) start 1000 websocket clients in 4
processes of this machine, each sending its value 20 times a second to one variable that
combines them (`websocket_config "combine.kcrowd", "mean"`), and the same load latest-wins.

The capacity rows (`--only capacity`, about 5 minutes; ours only) put many clients on one to-web
variable, a k-rate one at kr 100 and an a-rate one at 1500 frames/s, and count per client the
frames it got and the gaps in its counter over 5 s (bench/fanload.py: 4 processes, websockets'
handshake, streams checked in bulk), with Csound's process CPU per delivered message.  Beside ours,
the same rows run under an earlier revision of csws (--earlier REV, default df56ece: main before
batched writes), built once into .cache/bench-REV (a git worktree and a venv), and under ours on
uvloop's event loop when uvloop is installed.  The clients connect while the variable is quiet;
frames flow once all are there.

The nats rows (`--only nats`, about 2 minutes; ours only) run one Csound through a 3-server
nats-server cluster to two `csws edge` processes and count every frame at every client of both,
with each process's CPU, beside the same audience on Csound's own port (bench/natsbench.py).

The channel rows (ours only: the original has no channels) speak the control
socket (subprotocol csws.control) as pages do, from this process: JSON `set`
and `watch`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
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


def csd(orc: str, score: str, ksmps: int = KSMPS) -> str:
    return (f"<CsoundSynthesizer>\n<CsInstruments>\nsr = {SR}\nksmps = {ksmps}\nnchnls = 1\n0dbfs = 1\n"
            f"{orc}\n</CsInstruments>\n<CsScore>\n{score}\n</CsScore>\n</CsoundSynthesizer>\n")


@dataclass
class Run:
    """A Csound child: its output lines with arrival times, and its rusage."""

    impl: str  # "ours6" | "ours7" | "original", or a NONE[...] baseline
    orc: str
    score: str
    options: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to this process's
    csws: list[str] = field(default_factory=lambda: [sys.executable, "-m", "csws"])  # the command, for HOSTED
    ksmps: int = KSMPS
    lines: list[tuple[float, str]] = field(default_factory=list)
    exit_time: float = 0.0
    cpu: float = 0.0
    maxrss_kib: int = 0
    returncode: int = 0
    score_end: float | None = None

    def start(self) -> "Run":
        path = WORK / f"piece-{id(self)}.csd"
        path.write_text(csd(self.orc, self.score, self.ksmps))
        if self.impl in HOSTED:
            cmd = [*self.csws, "run", "--csound", HOSTED[self.impl], str(path), *self.options]
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
                                     stdin=subprocess.DEVNULL, cwd=WORK, start_new_session=True,
                                     env={**os.environ, **self.env})
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


# ------------------------------------------------ Csound's channels (csws.control)


async def connect_control(port: int):
    """A page on the port's control socket, past the server's hello."""
    ws = await connect_var(port, "csws.control")
    hello = json.loads(await ws.recv())
    if hello.get("op") != "hello":
        raise RuntimeError(f"no hello on the control socket: {hello}")
    return ws


def bench_channel_rtt(impl: str, n: int) -> dict:
    """web -> Csound -> web through a channel, beside a variable's k echo in the same run.

    Each k-cycle the orchestra copies channel "ping" to "pong" (chnget, chnset) and kin to
    kout (receive then send opcode: both leave in the k-cycle they arrived in).  A page
    `set`s ping and waits for the `values` push that brings pong back; a pair of variable
    clients sends kin and waits for kout.  The two alternate, under the same load.
    """
    port = free_port()
    orc = f"""instr 1
  kin websocket {port}
  kout = kin
  kd websocket {port}, kout
  kping chnget "ping"
  chnset kping, "pong"
endin"""
    dur = round(6 + n / 100)
    run = Run(impl, orc, f"i1 0 {dur}", REALTIME).start()

    async def main() -> tuple[list[float], list[float]]:
        tx = await connect_var(port, "kin")
        rx = await connect_var(port, "kout")
        page = await connect_control(port)
        await page.send(json.dumps({"op": "watch", "names": ["pong"]}))
        chan, var = [], []
        for i in range(1, n + 21):
            v = float(i)
            async with asyncio.timeout(5):
                t0 = time.perf_counter()
                await page.send(json.dumps({"op": "set", "values": {"ping": v}}))
                while (m := json.loads(await page.recv())).get("values", {}).get("pong") != v:
                    if m.get("op") == "error":
                        raise RuntimeError(f"{impl}: {m}")
                t1 = time.perf_counter()
                time.sleep(0.002 * np.random.random())  # land anywhere in the k-cycle (bench_round_trip)
                t2 = time.perf_counter()
                await tx.send(np.array([v]).tobytes())
                while np.frombuffer(await rx.recv(), np.float64)[0] != v:
                    pass
                t3 = time.perf_counter()
            if i > 20:  # warm-up
                chan.append(t1 - t0)
                var.append(t3 - t2)
            time.sleep(0.002 * np.random.random())
        for ws in (tx, rx, page):
            await ws.close()
        return chan, var

    try:
        chan, var = asyncio.run(main())
    finally:
        run.wait(dur + 10)
    pct = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    return {"p50": pct(chan, 50), "p99": pct(chan, 99), "var_p50": pct(var, 50), "var_p99": pct(var, 99),
            "exit": run.exit_after_score()}


FAN_PAGES, FAN_CHANNELS = 100, 20


def fan_orc(port: int, kcycles: int) -> str:
    """Channels c0..c19 change every k-cycle for `kcycles` k-cycles once a page sets "go" to 1
    (c<j> = 100 * count + j); "go" set to 2 ends the performance."""
    chans = range(FAN_CHANNELS)
    declare = "".join(f'chn_k "c{j}", 2\n' for j in chans)
    change = "".join(f'    chnset 100 * kcount + {j}, "c{j}"\n' for j in chans)
    return f"""websocket_ui {port}
chn_k "go", 1
{declare}instr 1
  kgo chnget "go"
  kcount init 0
  if kgo == 1 && kcount < {kcycles} then
    kcount += 1
{change}    printf "FINAL %d\\n", kcount == {kcycles} ? 1 : 0, kcount
  elseif kgo == 2 then
    event "e", 0, 0
  endif
endin"""


def _csound_pid(run: Run) -> int:
    """Csound's process: GNU time's child, when the run goes through time."""
    if not TIME:
        return run.proc.pid
    kids = Path(f"/proc/{run.proc.pid}/task/{run.proc.pid}/children").read_text().split()
    return int(kids[0])


def bench_channel_fan(impl: str, seconds: float) -> dict:
    """FAN_PAGES pages each watching FAN_CHANNELS channels that change every k-cycle.

    Csound's process CPU (utime + stime per wall second, from /proc) in three windows:
    before any page (1 s), every page watching and nothing changing (1 s), and while the
    channels change (`seconds`).  Then each page's last value of each channel is checked
    against the final one Csound printed, and its messages and values counted.
    """
    port = free_port()
    kcycles = round(seconds * KR)
    # More pages than the default CSWS_MAX_CLIENTS (64) allows on one port.
    run = Run(impl, fan_orc(port, kcycles), "i1 0 3600", REALTIME,
              env={"CSWS_MAX_CLIENTS": str(FAN_PAGES + 8)}).start()
    tick = os.sysconf("SC_CLK_TCK")
    stat = None

    def cpu() -> tuple[float, float, float]:
        """(wall, Csound's CPU, this process's CPU) now."""
        return time.monotonic(), _cpu_ticks(stat) / tick, time.process_time()

    def rate(a, b) -> tuple[float, float]:
        return (b[1] - a[1]) / (b[0] - a[0]), (b[2] - a[2]) / (b[0] - a[0])

    names = [f"c{j}" for j in range(FAN_CHANNELS)]
    final = {n: 100.0 * kcycles + j for j, n in enumerate(names)}

    async def watch(ws) -> dict:
        """A page watches every channel: the values at once."""
        await ws.send(json.dumps({"op": "watch", "names": names}))
        m = json.loads(await ws.recv())
        if m.get("op") != "values":
            raise RuntimeError(f"{impl}: {m}")
        return {"last": m["values"], "messages": 0, "values": 0}

    async def page(ws, got: dict) -> None:
        """Every `values` push until the final ones: counted, the last of each channel kept."""
        while got["last"] != final:
            m = json.loads(await ws.recv())
            if m.get("op") != "values":
                raise RuntimeError(f"{impl}: {m}")
            got["messages"] += 1
            got["values"] += len(m["values"])
            got["last"].update(m["values"])

    async def main() -> dict:
        nonlocal stat
        run.wait_for(r"csws: websocket server on|csws: the piece's page")
        stat = Path(f"/proc/{_csound_pid(run)}/stat")
        c0 = cpu()
        await asyncio.sleep(1.0)
        c1 = cpu()
        conns = [await connect_control(port) for _ in range(FAN_PAGES)]
        got = [await watch(ws) for ws in conns]
        tasks = [asyncio.ensure_future(page(ws, g)) for ws, g in zip(conns, got)]
        c2 = cpu()
        await asyncio.sleep(1.0)
        c3 = cpu()
        await conns[0].send(json.dumps({"op": "set", "values": {"go": 1}}))
        deadline = time.monotonic() + seconds + 20
        while run.when(r"FINAL \d") is None:
            if not run._reader.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{impl}: no FINAL in:\n{run.output[-2000:]}")
            await asyncio.sleep(0.005)
        c4 = cpu()
        t_final = run.when(r"FINAL \d")
        try:
            async with asyncio.timeout(5):
                await asyncio.gather(*tasks)
        except TimeoutError:
            pass
        caught = time.monotonic() - t_final
        for t in tasks:
            t.cancel()
        await conns[0].send(json.dumps({"op": "set", "values": {"go": 2}}))
        for ws in conns:
            await ws.close()
        window = c4[0] - c3[0]
        return {"alone": rate(c0, c1), "watching": rate(c2, c3), "changing": rate(c3, c4), "window": window,
                "caught": caught, "got": got, "load": os.getloadavg()[0]}

    try:
        r = asyncio.run(main())
    finally:
        run.wait(30)
    m = re.search(r"FINAL (\d+)", run.output)
    if m is None or int(m.group(1)) != kcycles:
        raise RuntimeError(f"{impl}: Csound's final count is not {kcycles}:\n{run.output[-2000:]}")
    got = r["got"]
    seen = sum(g.get("last") == final for g in got)
    per_s = np.array([g["messages"] for g in got]) / r["window"]  # with the few of the catch-up after it
    sent = re.search(r"csws\.control \(channels\): received (\d+), rejected (\d+), sent (\d+)", run.output)
    return {**r, "seen": seen, "changes": kcycles, "per_s_min": float(per_s.min()), "per_s_mean": float(per_s.mean()),
            "values_per_channel": float(np.mean([g["values"] for g in got])) / FAN_CHANNELS,
            "sent": int(sent.group(3)) if sent else None, "exit": run.exit_after_score()}


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


# ------------------------------------------------------------- the crowd's voice

CROWD, CROWD_RATE, CROWD_WORKERS, CROWD_PHASE = 1000, 20.0, 4, 4.0  # clients, Hz each, processes, s
CROWD_SETTLE = 0.25  # s after a phase change before Csound's read must equal the new true mean


def crowd_orc(port: int, rule: str) -> str:
    """kcrowd combines its clients by `rule` ("latest": as before combining existed); Csound sends
    what it reads back as kread, every k-cycle, with the k-cycle's number; a message to kstop ends
    the performance."""
    return f"""websocket_config "max_clients", "{CROWD + 16}"
websocket_config "combine.kcrowd", "{rule}"
instr 1
  kcrowd websocket {port}
  kstop websocket {port}
  kcycle init 0
  kcycle += 1
  kread[] init 2
  kread[0] = kcrowd
  kread[1] = kcycle
  kd websocket {port}, kread
  if kstop != 0 then
    event "e", 0, 0
  endif
endin"""


def crowd_value(client: int, phase: int) -> float:
    """What a client sends during a phase: known here, so the true mean is too (it rises by 2 a phase)."""
    return float((client * 37) % 100 + phase * (client % 5))


def _crowd_worker(port: int, clients: range, ready, go, seconds: float, results) -> None:
    """One load process: its clients connect, say ready, then each sends its value at
    CROWD_RATE from go's start time for `seconds`, at its own phase within the period.
    Puts (messages sent, {phase: when its last client first sent that phase's value})."""
    import random
    import struct

    from websockets.exceptions import ConnectionClosed

    async def one(i: int, ws, start: float) -> tuple[int, dict[int, float]]:
        period, n, switched = 1 / CROWD_RATE, 0, {}
        t = start + random.random() * period
        while t < start + seconds:
            await asyncio.sleep(t - time.monotonic())
            now = time.monotonic()
            phase = int((now - start) // CROWD_PHASE)
            try:
                await ws.send(struct.pack("<d", crowd_value(i, phase)))
            except ConnectionClosed:
                break
            switched.setdefault(phase, now)
            n += 1
            t += period
        return n, switched

    async def main() -> None:
        conns = []
        for chunk in range(clients.start, clients.stop, 25):  # within the server's listen backlog
            conns += await asyncio.gather(*(connect_var(port, "kcrowd", "?direction=from_web")
                                            for _ in range(chunk, min(chunk + 25, clients.stop))))
        ready.put(len(conns))
        while go.value == 0:
            await asyncio.sleep(0.01)
        done = await asyncio.gather(*(one(i, ws, go.value) for i, ws in zip(clients, conns)))
        last: dict[int, float] = {}
        for _, switched in done:
            for phase, t in switched.items():
                last[phase] = max(last.get(phase, t), t)
        results.put((sum(n for n, _ in done), last))
        for ws in conns:
            ws.transport.abort()

    asyncio.run(main())


def bench_crowd(impl: str, seconds: float, rule: str = "mean") -> dict:
    """CROWD clients, in CROWD_WORKERS processes, send to one `combine.kcrowd "mean"` variable at
    CROWD_RATE each; their values change every CROWD_PHASE s.  Csound's process CPU while they are
    connected but silent, and while they send; what Csound reads (kread, every k-cycle) against the
    true mean of the phase: its largest error once CROWD_SETTLE s into a phase, and how long after
    each phase change it reads the new mean exactly."""
    import multiprocessing

    port = free_port()
    ctx = multiprocessing.get_context("fork")  # before Csound's reader threads exist
    ready, go, results = ctx.Queue(), ctx.Value("d", 0.0), ctx.Queue()
    per = CROWD // CROWD_WORKERS
    workers = [ctx.Process(target=_crowd_worker, args=(port, range(w * per, (w + 1) * per), ready, go,
                                                       seconds, results), daemon=True)
               for w in range(CROWD_WORKERS)]
    for w in workers:
        w.start()
    run = Run(impl, crowd_orc(port, rule), "i1 0 3600", REALTIME).start()
    tick = os.sysconf("SC_CLK_TCK")
    phases = int(seconds // CROWD_PHASE)  # whole ones: a client late past the end may send the next's value
    truth = [float(np.mean([crowd_value(i, p) for i in range(CROWD)])) for p in range(phases)]

    async def main() -> dict:
        reader = await connect_var(port, "kread")
        stop = await connect_var(port, "kstop")
        for _ in workers:
            await asyncio.get_running_loop().run_in_executor(None, ready.get, True, 120)
        stat = Path(f"/proc/{_csound_pid(run)}/stat")
        t0, c0 = time.monotonic(), _cpu_ticks(stat) / tick
        await asyncio.sleep(2)  # connected, silent
        t1, c1 = time.monotonic(), _cpu_ticks(stat) / tick
        start = go.value = time.monotonic() + 0.2
        got = []  # (arrival, k-cycle, value)
        async with asyncio.timeout(seconds + 30):
            while time.monotonic() < start + seconds:
                value, cycle = np.frombuffer(await reader.recv(), np.float64)
                got.append((time.monotonic(), cycle, float(value)))
        # When Csound read each value, on this clock: its k-cycle at the real-time pace, from the
        # frame that arrived soonest (this process may fall behind under load: not Csound's doing).
        offset = min(t - cycle / KR for t, cycle, _ in got)
        reads = [(offset + cycle / KR, value) for _, cycle, value in got]
        t2, c2 = time.monotonic(), _cpu_ticks(stat) / tick
        load = os.getloadavg()[0]
        done = [await asyncio.get_running_loop().run_in_executor(None, results.get, True, 60) for _ in workers]
        await stop.send(np.array([1.0]).tobytes())
        last: dict[int, float] = {}
        for _, switched in done:
            for phase, t in switched.items():
                last[phase] = max(last.get(phase, t), t)
        return {"idle": (c1 - c0) / (t1 - t0), "load": (c2 - c1) / (t2 - t1 - 0.2), "reads": reads,
                "start": start, "sent": sum(n for n, _ in done), "last": last, "machine": load}

    try:
        r = asyncio.run(main())
    finally:
        for w in workers:
            w.join(seconds + 30)
        run.wait(30)
    errors, settle, late, missed = [], [], [], 0
    for p in range(phases):
        begin = r["start"] + p * CROWD_PHASE
        phase_reads = [(t, v) for t, v in r["reads"] if begin <= t < begin + CROWD_PHASE]
        errors += [abs(v - truth[p]) for t, v in phase_reads if t >= begin + CROWD_SETTLE]
        exact = [t for t, v in phase_reads if v == truth[p]]
        if p and p in r["last"]:  # a change of phase every client took part in
            late.append(r["last"][p] - begin)
            if exact:
                settle.append(exact[0] - r["last"][p])  # the last client's new value to Csound reading the mean
            else:
                missed += 1
    m = re.search(r"kcrowd \(from web\): received (\d+)", run.output)
    return {"idle": r["idle"], "load": r["load"], "sent": r["sent"] / seconds,
            "received": int(m.group(1)) / seconds if m else None,
            "err_max": max(errors) if errors else float("nan"),
            "err_mean": float(np.mean(errors)) if errors else float("nan"),
            "settle_p50": float(np.median(settle)) if settle else float("nan"),
            "settle_max": max(settle) if settle else float("nan"), "phases": len(settle), "missed": missed,
            "late_max": max(late) if late else float("nan"), "machine": r["machine"],
            "exit": run.exit_after_score()}

# ------------------------------------------------- fan-out capacity (issue 22)

ROOT = Path(__file__).resolve().parent.parent
# (variable, clients): a k-rate variable at kr 100, an a-rate one at 1500 frames/s (ksmps 32).
CAPACITY_ROWS = [("k", 1000), ("k", 3000), ("a", 128), ("a", 256)]
CAPACITY_TARGET = {"k": 3000, "a": 256}
# uvloop's loop for the I/O thread: csws makes it with asyncio.new_event_loop(), which asks the policy.
UVLOOP = [sys.executable, "-c", "import asyncio, runpy, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
          "runpy.run_module('csws', run_name='__main__')"]


def earlier_csws(rev: str) -> list[str]:
    """The command running csws as it was at git revision `rev`: a worktree and a venv under
    .cache/bench-REV, built the first time, reused after."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    base = ROOT / ".cache" / f"bench-{sha}"
    python = base / "venv" / "bin" / "python"
    if not (base / "built").exists():
        print(f"building csws at {sha} into {base} (once)...", flush=True)
        src = base / "src"
        if not src.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(src), sha], check=True,
                           capture_output=True)
        subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
        include = ROOT / ".cache" / "csound7" / "include"
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{src}[csound]",
                        f"-Csetup-args=-Dcsound7_include={include}"], check=True)
        (base / "built").write_text(sha + "\n")
    return [str(python), "-m", "csws"]


def capacity_orc(port: int, kind: str) -> str:
    """A counter, one per k-cycle once channel "go" is 1: k-rate itself, or a-rate (every
    sample of a frame holds it).  The variable is on offer from the start, and quiet: the
    clients connect before any frame flows."""
    out = "kcount" if kind == "k" else "asig"
    signal = "" if kind == "k" else "    asig = a(kcount)\n"
    return (f'chn_k "go", 1\ninstr 1\n  kgo chnget "go"\n  kcount init 0\n  if kgo == 1 then\n'
            f"    kcount += 1\n{signal}    kd websocket {port}, {out}\n  endif\nendin")


async def _set_go(port: int) -> None:
    page = await connect_control(port)
    await page.send(json.dumps({"op": "set", "values": {"go": 1}}))
    await page.close()


def bench_capacity(csws: list[str], kind: str, nclients: int, seconds: float, major: str) -> dict:
    """nclients on one to-web variable (bench/fanload.py, 4 processes): what each got in `seconds`
    once all were connected, and Csound's process CPU meanwhile (utime + stime, /proc)."""
    import fanload  # bench/, beside this file

    port = free_port()
    ksmps = 480 if kind == "k" else 32  # kr 100; 1500 frames/s
    options = ["-odac", "-+rtaudio=null", f"-b{ksmps}", f"-B{2 * ksmps}", "-d"]
    run = Run(f"ours{major}", capacity_orc(port, kind), "i1 0 3600", options, csws=csws, ksmps=ksmps,
              env={"CSWS_MAX_CLIENTS": str(nclients + 8)}).start()
    tick = os.sysconf("SC_CLK_TCK")
    try:
        run.wait_for(r"websocket server on")
        stat = Path(f"/proc/{_csound_pid(run)}/stat")
        at_go: list[float] = []
        counts = fanload.clients(port, "kcount" if kind == "k" else "asig", nclients,
                                 payload=8 if kind == "k" else 8 * ksmps, seconds=seconds,
                                 pace=0.1 if kind == "k" else 0.05,
                                 at_go=lambda: (asyncio.run(_set_go(port)),
                                                at_go.extend((time.monotonic(), _cpu_ticks(stat) / tick))))
        wall, cpu = time.monotonic() - at_go[0], _cpu_ticks(stat) / tick - at_go[1]
    finally:
        run.kill()
    received = np.array([c["received"] for c in counts])
    delivered = int(received.sum())
    return {"whole": sum(c["gaps"] == 0 and c["backwards"] == 0 and c["bad"] == 0 and not c["closed"]
                         for c in counts),
            "clients": len(counts), "per_s": float(np.median(received)) / seconds,
            "rate": SR / ksmps, "gaps": sum(c["gaps"] for c in counts), "lost": sum(c["lost"] for c in counts),
            "disorder": sum(c["backwards"] + c["bad"] for c in counts),
            "cpu": cpu / wall, "us_per_message": 1e6 * cpu / max(delivered, 1), "load": os.getloadavg()[0]}


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


def stall_orc(impl: str, port: int, seconds: float) -> str:
    """Notes of a websocket line start and end every 50 ms; instr 1 keeps the longest real
    time between two k-cycles (after the first second), which a note's init or end, or
    anything else the performance thread waits for, stretches."""
    ws = "" if impl.startswith("none") else f"  kin websocket {port}, kv\n"
    return f"""gkmax init 0
instr 1
  kprev init 0
  kt rtclock
  if kprev > 0 && timeinsts() > 1 then
    gkmax = max(gkmax, kt - kprev)
  endif
  kprev = kt
endin
instr 2
  kv = timeinsts()
{ws}endin
instr 3
  schedkwhen metro(20), 0, 0, 2, 0, 0.02
endin
instr 9
  prints "STALL %f\\n", i(gkmax)
endin
"""


async def _knock(port: int, seconds: float) -> int:
    """Clients come and go all along (the first one starts our server), each reading a value."""
    joined = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ws = await connect_var(port, "kv", timeout=1.0)
            async with asyncio.timeout(1.0):
                await ws.recv()
            await ws.close()
            joined += 1
        except Exception:  # noqa: BLE001 - between notes, or the original's server restarting
            pass
        await asyncio.sleep(0.2)
    return joined


def bench_stall(impl: str, seconds: float) -> dict:
    """The longest gap between k-cycles while notes of a websocket line start and end."""
    port = free_port()
    run = Run(impl, stall_orc(impl, port, seconds), f"i1 0 {seconds}\ni3 0 {seconds}\ni9 {seconds} 0",
              REALTIME).start()
    joined = 0 if impl.startswith("none") else asyncio.run(_knock(port, seconds - 0.5))
    run.wait(seconds + 20)
    m = re.search(r"STALL ([0-9.]+)", run.output)
    return {"stall": float(m.group(1)) if m else None, "joined": joined, "exit": run.exit_after_score()}


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
    from csws.protocol.settings import Settings
    from csws.bridge.port import ring_for
    from csws.protocol.variables import Direction, Kind, VarSpec

    out = {}
    for n in (16, 64):
        spec = VarSpec(f"a{n}", Kind.AARR, Direction.TO_WEB, (n,), n * KSMPS * 8, ksmps=KSMPS)
        out[n] = ring_for(spec, SR, Settings.from_env().buffer_seconds).memory_bytes
    return out


# -------------------------------------------------------------- sound card

# k-cycles between pulses (104.7 ms): a prime, so that pulses fall at every phase of the render
# quantum and of the output's periods (ten per second would meet a 10 ms period at one phase only).
PULSE_EVERY = 157
SOUNDCARD_WARMUP = 2.0  # s of play() before the measurement: its first buffering and fade-in

# Every PULSE_EVERY k-cycles, one k-cycle of constant level (32 samples: the resampler cannot
# blur its level, only its edges).  The level names the pulse modulo 8 (+-0.2 .. +-0.8), so a
# pulse is told from its neighbours up to 0.8 s of latency.  kcount goes to
# the bench itself, which timestamps every k-cycle.
SOUNDCARD_ORC = """instr 1
  kcount init 0
  kcount += 1
  klevel = 0
  if kcount % {every} == 0 then
    kcode = (kcount / {every}) % 8
    klevel = (1 + kcode % 4) * 0.2 * (kcode < 4 ? 1 : -1)
  endif
  aclick upsamp klevel
  kd websocket {port}, aclick, kcount
endin"""

# play() at its defaults into a worklet that timestamps each pulse's first quantum with Date.now():
# the audio thread has no performance.now(), and Date.now() reads CLOCK_REALTIME, as Python's time.time().
SOUNDCARD_PAGE = """<!DOCTYPE html>
<script type="module">
import { connect } from "/csws.js";
const cs = connect();
window.errors = [];
cs.addEventListener("error", (e) => window.errors.push(e.detail.message));
const RECORDER = `registerProcessor("pulses", class extends AudioWorkletProcessor {
  constructor() { super(); this.armed = false; this.wait = 0; this.t = 0; }
  process(inputs) {
    const now = Date.now();
    const x = inputs[0][0];
    for (let i = 0; x && i < x.length; i++) {
      const v = Math.abs(x[i]);
      if (this.wait > 0) {  // the level, 8 samples in: past the edge's interpolation
        if (--this.wait === 0) this.port.postMessage([this.t, x[i]]);
      } else if (this.armed && v > 0.1) {
        this.armed = false; this.t = now; this.wait = 8;
      } else if (v < 0.05) this.armed = true;
    }
    return true;
  }
});`;
window.start = async (options) => {
  window.pulses = [];
  window.player = await cs.play("aclick", { connect: false, ...options });
  const context = player.context;
  await context.audioWorklet.addModule(URL.createObjectURL(new Blob([RECORDER], { type: "text/javascript" })));
  const rec = new AudioWorkletNode(context, "pulses");
  rec.port.onmessage = (e) => pulses.push(e.data);
  player.node.connect(rec);
  rec.connect(context.destination);  // so that the graph pulls it; it outputs silence
  await context.resume();
  return { rate: context.sampleRate, output: (context.baseLatency || 0) + (context.outputLatency || 0),
           codec: player.codec };
};
window.ready = true;
</script>
"""


def _descendants(pid: int) -> set[int]:
    """Every process below pid (Playwright's driver, Chromium and its children)."""
    parent = {}
    for d in Path("/proc").iterdir():
        try:
            parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found.update(kids)
        todo += kids
    return found


def _cpu_ticks(stat: Path) -> int:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _audio_thread() -> tuple[Path, Path]:
    """The stat files of our Chromium renderer's audio thread, and of its process.

    Chromium renders a page's Web Audio graph, AudioWorklets included, on a real-time thread
    whose name comm cuts to "Realtime AudioW".  Only this process's descendants count: other
    Chromiums may run on the machine.
    """
    found = []
    for pid in _descendants(os.getpid()):
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                if (task / "comm").read_text().strip() == "Realtime AudioW":
                    found.append((task / "stat", Path(f"/proc/{pid}/stat")))
        except OSError:
            continue
    if len(found) != 1:
        raise RuntimeError(f"expected one Chromium audio worklet thread, found {len(found)}")
    return found[0]


def bench_soundcard(impl: str, seconds: float, codec: str = "pcm") -> dict:
    """Csound-to-recorder latency of client.play() at its defaults (codec: play()'s option, "pcm"
    or "opus" at its defaults), the page's audio thread CPU, bytes on the wire, Csound's process CPU.

    One clock: CLOCK_REALTIME, read by time.time() here and Date.now() in the page's worklet.
    - When Csound ran k-cycle n: the bench receives kcount from every k-cycle over loopback.
      Csound's pacing makes k-cycle n due at t0 + n/kr; arrival - n/kr, at its lowest over
      +-1 s, is t0 plus the least delivery delay, so a pulse's k-cycle is dated t0 + n/kr.
      That delay (a fraction of the k-rate round trip's 0.8 ms) is the one amount the figure
      leaves out.  A k-cycle Csound ran late is dated when it was due: its lateness counts as
      latency (it would be heard), and a late arrival here cannot shorten the figure.
    - When the recorder saw the pulse: Date.now() as the recorder's process() begins the render
      quantum in which the edge crosses 0.1, plus 0.5 ms (Date.now() counts whole milliseconds).  That is when
      Chromium's audio thread handed the pulse on towards the output device; the context's
      baseLatency + outputLatency (its estimate of the rest of the way to a speaker) is shown
      beside, not added.
    - Underruns from player.stats(), over the measurement.  CPU: utime + stime of the renderer's
      audio thread from /proc (it runs the player's worklet, the recorder's and the graph).
    """
    from playwright.sync_api import sync_playwright

    port = free_port()
    site = WORK / f"site-{impl}-{codec}"
    site.mkdir()
    (site / "index.html").write_text(SOUNDCARD_PAGE)
    run = Run(impl, SOUNDCARD_ORC.format(every=PULSE_EVERY, port=port), f"i1 0 {seconds + 60:.0f}", REALTIME,
              env={"CSWS_STATIC_DIR": str(site)}).start()
    counts: list[tuple[float, float]] = []
    stop = threading.Event()

    async def collect() -> None:
        ws = await connect_var(port, "kcount")
        while not stop.is_set():
            try:
                m = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                continue
            counts.append((time.time(), float(np.frombuffer(m, np.float64)[0])))
        await ws.close()

    collector = threading.Thread(target=asyncio.run, args=(collect(),), daemon=True)
    try:
        run.wait_for(r"csws: websocket server on")
        collector.start()
        chromium = os.environ.get("CSWS_CHROMIUM", "/usr/bin/chromium")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => window.ready")
            # The one-clock premise, checked: the page's Date.now() between two readings of ours.
            before, now, after = time.time() * 1e3, page.evaluate("Date.now()"), time.time() * 1e3
            if not before - 1 <= now <= after + 1:
                raise RuntimeError(f"the page's clock is not ours: {now} outside [{before}, {after}]")
            context = page.evaluate("(codec) => start({ codec })", codec)
            if context["codec"] != codec:
                raise RuntimeError(f"{impl}: play() fell back to {context['codec']} from {codec}")
            time.sleep(SOUNDCARD_WARMUP)
            thread, process = _audio_thread()
            csound = Path(f"/proc/{_csound_pid(run)}/stat")
            t0, cpu0, all0, cs0 = time.time(), _cpu_ticks(thread), _cpu_ticks(process), _cpu_ticks(csound)
            stats0 = page.evaluate("() => player.stats()")
            time.sleep(seconds)
            t1, cpu1, all1, cs1 = time.time(), _cpu_ticks(thread), _cpu_ticks(process), _cpu_ticks(csound)
            stats1 = page.evaluate("() => player.stats()")
            pulses = page.evaluate("() => pulses")
            errors += page.evaluate("() => window.errors")
            load = os.getloadavg()[0]
            browser.close()
        if errors:
            raise RuntimeError(f"{impl}: the page reported {errors}")
    finally:
        stop.set()
        collector.join(5)
        run.kill()

    arrival = np.array([a for a, _ in counts])
    count = np.array([c for _, c in counts])
    late = arrival - count / KR
    block = (count // KR).astype(int)  # 1 s blocks of k-cycles
    floor = {b: late[block == b].min() for b in np.unique(block)}
    base = float(np.median(late))  # any offset near t0 will do to find a pulse's most recent k-cycle

    def due(n: int) -> float:
        b = int(n // KR)
        return min(floor[k] for k in (b - 1, b, b + 1) if k in floor) + n / KR

    lat, unread = [], 0
    for t_ms, level in pulses:
        seen = (t_ms + 0.5) / 1e3
        if not t0 <= seen <= t1:
            continue
        step = round(abs(level) / 0.2)
        if not 1 <= step <= 4 or abs(abs(level) - 0.2 * step) > 0.05:  # faded (an underrun, a skip)
            unread += 1
            continue
        code = step - 1 + (0 if level > 0 else 4)
        newest = int((seen - base) * KR // PULSE_EVERY)  # the last pulse Csound made before it was seen
        j = newest - (newest - code) % 8
        lat.append(seen - due(j * PULSE_EVERY))
    if not lat:
        raise RuntimeError(f"{impl}: no pulse recorded")
    return {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "pulses": len(lat),
            "unread": unread,
            "underruns": stats1["underruns"] - stats0["underruns"], "dropped": stats1["dropped"] - stats0["dropped"],
            "cpu": (cpu1 - cpu0) / os.sysconf("SC_CLK_TCK") / (t1 - t0),
            "renderer_cpu": (all1 - all0) / os.sysconf("SC_CLK_TCK") / (t1 - t0),
            "csound_cpu": (cs1 - cs0) / os.sysconf("SC_CLK_TCK") / (t1 - t0),
            "bytes": (stats1["bytes"] - stats0["bytes"]) / (t1 - t0),
            "rate": context["rate"], "output": context["output"], "load": load}


def bench_opus_encoder(seconds: float) -> dict:
    """CPU of csws's Opus encoder (csws.serve.opus.Encoder, at its defaults) per second of audio,
    fed ksmps blocks as the I/O thread feeds it: mono and stereo at 48 kHz, mono at 44.1 kHz
    (PyAV resamples it to 48 kHz first)."""
    from csws.protocol.options import parse
    from csws.protocol.variables import Direction, Kind, VarSpec
    from csws.serve.opus import Encoder

    out = {}
    for label, sr, channels in (("mono", 48000, 1), ("stereo", 48000, 2), ("mono 44.1k", 44100, 1)):
        kind = Kind.A if channels == 1 else Kind.AARR
        spec = VarSpec("a", kind, Direction.TO_WEB, () if channels == 1 else (channels,), KSMPS * channels * 8,
                       ksmps=KSMPS)
        enc = Encoder(spec, sr, parse("/?codec=opus", spec), 1 << 16)
        t = np.arange(int(sr * seconds)) / sr
        sig = np.repeat(0.5 * np.sin(2 * np.pi * 441 * t), channels).astype(np.float64)
        blocks = [sig[i:i + KSMPS * channels].tobytes() for i in range(0, len(sig), KSMPS * channels)]
        c0 = time.process_time()
        size = sum(len(p) for b in blocks for p in enc.encode(b))
        out[label] = {"cpu": (time.process_time() - c0) / seconds, "bytes": size / seconds}
    return out


# ------------------------------------------------------------------ table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    sections = ["startup", "rtt", "channel-rtt", "a64", "fan", "capacity", "channel-fan", "stall", "offline", "idle",
                "memory", "soundcard", "opus", "crowd", "nats"]
    ap.add_argument("--only", choices=sections, action="append")
    ap.add_argument("--earlier", default="df56ece", metavar="REV",
                    help="capacity: the git revision of csws beside ours (default: main before batched writes)")
    ap.add_argument("--capacity-csound", default="6", choices=["6", "7"], help="capacity and nats: the Csound major")
    args = ap.parse_args()
    q = args.quick
    want = set(args.only or sections)
    head = ("what", "ours, Csound 6", "ours, Csound 7", "original (Csound 6)", "target")
    rows: list[tuple[str, ...]] = []
    tables: list[tuple[tuple[str, ...], list[tuple[str, ...]]]] = []  # with columns of their own
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
    if "channel-rtt" in want:
        print("round trip through a channel...", flush=True)
        n = 150 if q else 400
        r = {i: bench_channel_rtt(i, n) for i in ("ours6", "ours7")}
        for i in r:
            note_exit(i, r[i])
        row("round trip through a channel: page `set`, chnget -> chnset, `watch` push (p50 / p99)",
            *(f"{ms(x['p50'])} / {ms(x['p99'])}" for x in r.values()), "n/a (no channels)")
        row("  the same run, interleaved: k echo, receive then send opcode (p50 / p99)",
            *(f"{ms(x['var_p50'])} / {ms(x['var_p99'])}" for x in r.values()), "n/a (one opcode per port)")
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
    if "capacity" in want:
        secs = 2 if q else 5
        major = args.capacity_csound
        columns = {f"earlier ({args.earlier})": earlier_csws(args.earlier), "ours": [sys.executable, "-m", "csws"]}
        try:
            import uvloop  # noqa: F401 - only whether it is there
            columns["ours, uvloop"] = UVLOOP
        except ImportError:
            print("  (no uvloop here: its column is left out)", flush=True)

        def cell(x: dict) -> str:
            return (f"{x['whole']}/{x['clients']} whole, {x['per_s']:.0f}/s of {x['rate']:.0f}, {x['gaps']} gaps "
                    f"({x['lost']} lost), Csound {x['cpu']:.2f} CPU s/s, {x['us_per_message']:.1f} us/message, "
                    f"load {x['load']:.1f}")

        cap_head = ("fan-out capacity", *columns, "target")
        cap_rows = []
        for kind, n in CAPACITY_ROWS:
            what = (f"{n} clients, k-rate, kr 100" if kind == "k" else f"{n} clients, a-rate, 1500 frames/s")
            print(f"capacity: {what}...", flush=True)
            cells = [cell(bench_capacity(c, kind, n, secs, major)) for c in columns.values()]
            cap_rows.append((what, *cells, f"{CAPACITY_TARGET[kind]} clients, every frame"))
            print("  " + " | ".join(cells), flush=True)
        tables.append((cap_head, cap_rows))
    if "nats" in want:
        import natsbench  # bench/, beside this file

        print("NATS: one Csound, 3 nats-servers, 2 edges, the audience on the edges then on Csound's port...",
              flush=True)
        tables.append(natsbench.table(natsbench.bench_nats(args.capacity_csound, 2 if q else 5)))
    if "channel-fan" in want:
        from csws.serve.control import POLL_FLOOR

        secs = 2 if q else 4
        poll = 1 / max(KSMPS / SR, POLL_FLOOR)
        print(f"{FAN_PAGES} pages x {FAN_CHANNELS} channels...", flush=True)
        r = {i: bench_channel_fan(i, secs) for i in ("ours6", "ours7")}
        for i in r:
            note_exit(i, r[i])
        row(f"{FAN_PAGES} pages watching {FAN_CHANNELS} channels that change every k-cycle ({secs} s): "
            "Csound's process, CPU s per s",
            *(f"{x['changing'][0]:.2f} (pages watching, no change: {x['watching'][0]:.2f}; no page: "
              f"{x['alone'][0]:.2f})" for x in r.values()), "n/a (no channels)")
        row("  pages whose last value of every channel is Csound's final one",
            *(f"{x['seen']}/{FAN_PAGES}, {ms(x['caught'])} after Csound printed its last change"
              for x in r.values()), "n/a",
            f"{FAN_PAGES}/{FAN_PAGES}")
        row(f"  messages per page per second (poll: {poll:.0f}/s at most), values per channel of changes",
            *(f"{x['per_s_mean']:.0f} (min {x['per_s_min']:.0f}), {x['values_per_channel']:.0f} of "
              f"{x['changes']} (server sent {x['sent']})" for x in r.values()), "n/a")
        row("  the pages' process (this one), CPU s per s",
            *(f"{x['changing'][1]:.2f} (load {x['load']:.2f})" for x in r.values()), "n/a")
    if "crowd" in want:
        secs = 8 if q else 16  # three runs: about 80 s in all
        print(f"the crowd: {CROWD} clients x {CROWD_RATE:.0f} Hz into one combined variable, {secs} s...", flush=True)
        r = {i: bench_crowd(i, secs) for i in ("ours6", "ours7")}
        latest = bench_crowd("ours6", secs, "latest")  # the same load, as before combining existed
        for i in r:
            note_exit(i, r[i])
        note_exit("ours6", latest)
        row(f"the crowd: {CROWD} clients ({CROWD_WORKERS} processes) each sending {CROWD_RATE:.0f}/s to one "
            f"`combine` mean ({secs} s): Csound's process, CPU s per s",
            *(f"{x['load']:.2f} (connected, silent: {x['idle']:.2f}; machine's load {x['machine']:.1f})"
              for x in r.values()),
            "n/a (latest wins)")
        row("  messages per second: the clients sent / Csound's server took",
            *(f"{x['sent']:.0f} / {x['received']:.0f}" if x["received"] is not None else f"{x['sent']:.0f} / ?"
              for x in r.values()), "n/a", f"{CROWD * CROWD_RATE:.0f}")
        row(f"  what Csound reads against the true mean, {CROWD_SETTLE * 1e3:.0f} ms into each "
            f"{CROWD_PHASE:.0f} s phase (max / mean error)",
            *(f"{x['err_max']:.3g} / {x['err_mean']:.3g}" for x in r.values()), "n/a", "0")
        row("  the same, latest-wins (no combine line, as before): CPU s per s; read against the true mean "
            "(max / mean error)",
            f"{latest['load']:.2f}; {latest['err_max']:.3g} / {latest['err_mean']:.3g}", "", "n/a")
        row("  a phase's last client sending its new value to Csound reading the new mean exactly (p50 / max)",
            *(f"{ms(x['settle_p50'])} / {ms(x['settle_max'])} over {x['phases']} phases"
              + (f", {x['missed']} never exact" if x["missed"] else "")
              + f" (last client {ms(x['late_max'])} into its phase)" for x in r.values()), "n/a", "a few ms")
    if "stall" in want:
        secs = 5 if q else 20
        print(f"notes starting and ending, {secs} s...", flush=True)
        r = {i: bench_stall(i, secs) for i in [*IMPLS, *NONE.values()]}
        for i in IMPLS:
            note_exit(i, r[i])
        stall = lambda x: "?" if x["stall"] is None else ms(x["stall"])  # noqa: E731
        row(f"longest k-cycle gap, a websocket note starting/ending every 50 ms, clients joining ({secs} s)",
            *each(lambda i, x: f"{stall(x)} (no opcode {stall(r[NONE[i]])}; {x['joined']} clients)", r),
            "~ no opcode")
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
    if "soundcard" in want or "opus" in want:  # opus: compared with PCM in the same run
        secs = 20 if q else 60
        print(f"sound card: play() in Chromium, {secs} s...", flush=True)
        r = {i: bench_soundcard(i, secs) for i in ("ours6", "ours7")}

        def heard(x: dict) -> str:
            faded = f", {x['unread']} faded" if x["unread"] else ""
            return (f"{ms(x['p50'])} / {ms(x['p99'])}, {x['underruns']} underruns, {x['dropped'] * 1e3:.0f} ms "
                    f"dropped ({x['pulses']} pulses{faded}; load {x['load']:.2f})")

        row(f"play() at its defaults, k-cycle to the page's recorder (p50 / p99, {secs} s)",
            *(heard(x) for x in r.values()), "n/a (no play())", "<= 60 ms p50, 0 underruns over 60 s")
        row("  the context's own output latency, beyond the recorder (not in the figure above)",
            *(f"{ms(x['output'])} (at {x['rate']:.0f} Hz)" for x in r.values()), "n/a")
        row("  the page's audio thread (player and recorder worklets): CPU",
            *(f"{x['cpu']:.1%} of a core (renderer {x['renderer_cpu']:.1%})" for x in r.values()), "n/a")
        if "opus" in want:
            o = {i: bench_soundcard(i, secs, "opus") for i in ("ours6", "ours7")}
            row(f"play(..., {{codec: 'opus'}}) at its defaults (96 kbit/s, 10 ms), k-cycle to the page's recorder "
                f"(p50 / p99, {secs} s)", *(heard(x) for x in o.values()), "n/a (no play())",
                "<= PCM's p50 + 25 ms")
            row("  Opus p50 latency above PCM's (same run)", *(f"{ms(o[i]['p50'] - r[i]['p50'])}" for i in o),
                "n/a", "<= 25 ms")
            row("  bytes on the wire per client (the page's count): PCM / Opus",
                *(f"{r[i]['bytes'] / 1e3:.1f} / {o[i]['bytes'] / 1e3:.1f} kB/s ({r[i]['bytes'] / o[i]['bytes']:.1f}x fewer)"
                  for i in o), "n/a", ">= 10x fewer")
            row("  Csound's process (csws run: Csound and the I/O thread) CPU, PCM / Opus",
                *(f"{r[i]['csound_cpu']:.1%} / {o[i]['csound_cpu']:.1%} of a core" for i in o), "n/a")
            row("  the page's audio thread, Opus (renderer, WebCodecs decoding included)",
                *(f"{o[i]['cpu']:.1%} of a core (renderer {o[i]['renderer_cpu']:.1%})" for i in o), "n/a")
    if "opus" in want:
        e = bench_opus_encoder(5 if q else 20)
        row("Opus encoder on the I/O thread, per variable and setting (96 kbit/s a channel, 10 ms): CPU, bytes",
            "; ".join(f"{k} {v['cpu']:.2%} of a core, {v['bytes'] / 1e3:.1f} kB/s" for k, v in e.items()),
            "(the same code)", "n/a", "a few % of a core")
    if any(exits.values()):
        row("real-time runs: end of score to exit (max)",
            *(f"{max(exits[i]):.3f} s over {len(exits[i])} runs"
              + (f" ({sum(e == float('inf') for e in exits[i])} hung, killed 5 s after)" if float("inf") in exits[i] else "")
              if exits[i] else "?" for i in IMPLS), "<= 1 s")

    print(f"\nResults ({time.monotonic() - t_start:.0f} s; sr={SR}, ksmps={KSMPS}, {' '.join(REALTIME[:4])})")
    for h, body in [(head, rows), *tables]:
        if not body:
            continue
        width = [max(len(r[c]) for r in [*body, h]) for c in range(len(h))]
        print()
        print(" | ".join(c.ljust(w) for c, w in zip(h, width)))
        print("-+-".join("-" * w for w in width))
        for r in body:
            print(" | ".join(c.ljust(w) for c, w in zip(r, width)))
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
