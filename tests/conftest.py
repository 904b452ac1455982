"""Shared fixtures: a real Csound running a piece with the real plugin.

Pieces run under `csws run` (or the stock `csound` command) in a child
process, with real-time pacing and no sound card, so that clients over
loopback see the performance live, k-cycle by k-cycle.

Every test that performs runs once per Csound major (the `csound` fixture,
which `perform` and `port` use): it sets CSWS_CSOUND, so `csws run`, the
plugin path and any Csound a test hosts itself are of that major.
CSWS_TEST_CSOUND=6 (or 7) narrows the run to one major.

CSWS_TEST_TIME_FACTOR (default 1) stretches every limit a test waits up to:
each timeout and deadline is patience(seconds), what an idle 2-core machine
needs with room to spare, times the factor (say 3 on a loaded CI runner, an
emulated CPU or under a sanitizer).  A test helper that takes a `timeout`
(Performance.wait_for, wsclient's, test_http.get...) takes it in those
seconds and stretches it itself.  Sleeps that pace what a client sends, how
long a test keeps a load up, and windows a test asserts on ("nothing comes
within 0.5 s", "ends within a second of its score") are behaviour, not
patience: they stay as written.
"""
from __future__ import annotations

import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The tests test the installed package, never the uncompiled tree beside them (csws/ there has no
# compiled modules): `pytest` run from the checkout would put it first on sys.path, and on that of
# every `python -m csws` a test starts there.  So they run from tests/, as from anywhere else.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent.parent]
os.chdir(Path(__file__).resolve().parent)

# The project's sources: the checkout these tests sit in, or CSWS_SOURCE_DIR (tools/check_wheel.sh
# runs a copy of tests/ beside the installed wheel); tests that compile plugins read them.
SOURCE = Path(os.environ.get("CSWS_SOURCE_DIR") or Path(__file__).resolve().parent.parent)

TIME_FACTOR = float(os.environ.get("CSWS_TEST_TIME_FACTOR", "1"))
if not 0 < TIME_FACTOR < math.inf:
    raise ValueError(f"CSWS_TEST_TIME_FACTOR={TIME_FACTOR}: a positive number of times the usual limits")


def patience(seconds: float) -> float:
    """How long to wait for what takes at most `seconds` on an idle machine."""
    return seconds * TIME_FACTOR


REALTIME = ["-odac", "-+rtaudio=null", "-b32", "-B64", "-d"]


# Servers under test listen below every system's ephemeral range (Linux from 32768, others
# from 49152): a port the kernel hands out could be taken by any outgoing connection before
# Csound binds it.
TEST_PORTS = range(20000, 32768)


def free_ports(n: int) -> list[int]:
    """n different ports that are free now, none of them ephemeral."""
    held: list[socket.socket] = []
    try:
        for candidate in random.sample(TEST_PORTS, len(TEST_PORTS)):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                s.close()
                continue
            held.append(s)
            if len(held) == n:
                return [h.getsockname()[1] for h in held]
        raise RuntimeError(f"fewer than {n} free ports in {TEST_PORTS}")
    finally:
        for h in held:
            h.close()


def free_port() -> int:
    return free_ports(1)[0]


def csound_include(major: int) -> list[str]:
    """Compiler flags for a major's plugin headers: Debian's for 6; for 7 CSWS_CSOUND7_INCLUDE,
    else where tools/quickstart.sh puts them."""
    if major == 6:
        return []
    inc = Path(os.environ.get("CSWS_CSOUND7_INCLUDE") or SOURCE / ".cache" / "csound7" / "include")
    if not (inc / "csound" / "csdl.h").exists():
        pytest.fail(f"no Csound 7 headers in {inc}: set CSWS_CSOUND7_INCLUDE (tools/quickstart.sh fetches them)")
    return [f"-I{inc}"]


def make_csd(orc: str, score: str, options: str = "", sr: int = 48000, ksmps: int = 32) -> str:
    return f"""<CsoundSynthesizer>
<CsOptions>
{options}
</CsOptions>
<CsInstruments>
sr = {sr}
ksmps = {ksmps}
nchnls = 1
0dbfs = 1
{orc}
</CsInstruments>
<CsScore>
{score}
</CsScore>
</CsoundSynthesizer>
"""


class Performance:
    """A Csound child process and what it has printed so far."""

    def __init__(self, cmd: list[str], log: Path, env: dict | None = None) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=log.parent
        )

    @property
    def output(self) -> str:
        return self.log.read_bytes().decode("utf-8", "replace")

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match:
        deadline = time.monotonic() + patience(timeout)
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output)
            if m:
                return m
            if self.proc.poll() is not None:
                m = re.search(pattern, self.output)
                if m:
                    return m
                raise AssertionError(f"Csound exited ({self.proc.returncode}) before {pattern!r}:\n{self.output[-3000:]}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {pattern!r}:\n{self.output[-3000:]}")

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(patience(timeout))
        finally:
            self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(patience(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


MAJORS = [int(m) for m in os.environ.get("CSWS_TEST_CSOUND", "6,7").split(",")]


@pytest.fixture(params=MAJORS, ids=[f"csound{m}" for m in MAJORS])
def csound(request, monkeypatch) -> int:
    """The Csound major under test (6 or 7), also in CSWS_CSOUND for every child process."""
    from csws.hosting.library import find

    try:
        find(str(request.param))
    except RuntimeError as e:
        pytest.fail(f"{e} (tools/quickstart.sh installs both majors; CSWS_TEST_CSOUND=6 tests one)")
    monkeypatch.setenv("CSWS_CSOUND", str(request.param))
    return request.param


@pytest.fixture
def perform(tmp_path, csound):
    """perform(orc, score, host="csws"|"csound", options=[...]) -> Performance."""
    started: list[Performance] = []

    def start(orc: str, score: str, *, host: str = "csws", options: list[str] | None = None,
              ksmps: int = 32, sr: int = 48000, env: dict | None = None) -> Performance:
        csd = tmp_path / f"piece{len(started)}.csd"
        csd.write_text(make_csd(orc, score, sr=sr, ksmps=ksmps))
        opts = REALTIME if options is None else options
        if host == "csws":
            cmd = [sys.executable, "-m", "csws", "run", str(csd), *opts]
        elif csound != 6:
            pytest.skip("the stock csound command here (Debian's) is Csound 6")
        else:
            from csws import plugin_path

            cmd = [shutil.which("csound") or "csound", f"--opcode-lib={plugin_path(csound)}", str(csd), *opts]
        p = Performance(cmd, tmp_path / f"csound{len(started)}.log", env={**os.environ, **(env or {})})
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def port(csound) -> int:
    """A free port, for a test that performs: so the test runs once per Csound major."""
    return free_port()


@pytest.fixture
def port2(port) -> int:
    """A second free port, different from `port`."""
    while (p := free_port()) == port:
        pass
    return p
