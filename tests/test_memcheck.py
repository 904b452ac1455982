"""Memory safety under valgrind: arrays that grow and shrink after websocket
took them, every type both ways, with real clients connected.  Any invalid
read or write whose stack passes through csws code fails the test.

Csound 6 runs as the stock `csound` command (lightest); Csound 7 as
`python -m csws run --csound 7` with PYTHONMALLOC=malloc, its errors filtered
to those in our plugin or kernels.  valgrind is required (CI installs it).
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import free_port, make_csd
from wsclient import connect_var

ORC = """
instr 1
  kArr[] init 2
  aArr[] init 2
  kIn[] init 4
  aIn[] init 3
  kBig[] init 6
  kSmall[] init 1
  kv = timeinstk()
  av = a(kv)
  Sv = "hello"
  iv = 7
  iArr[] fillarray 1, 2, 3
  kin, ain, Sin, kIn, aIn websocket $PORT, kArr, aArr, kv, av, Sv, iv, iArr
  ; grow, then shrink, twice a second, both directions
  kphase = timeinstk() % 750
  if kphase == 1 then
    kArr = kBig
    kIn = kBig
  elseif kphase == 375 then
    kArr = kSmall
    kIn = kSmall
  endif
  kArr[0] = kv
endin
"""


def _errors(log: str) -> list[str]:
    """valgrind's error records whose stack mentions csws code."""
    blocks = re.split(r"\n==\d+== \n", log)
    return [b for b in blocks if re.search(r"Invalid (read|write)|uninitialised|Mismatched free", b)
            and re.search(r"csws|perf_websocket|init_websocket|_frames|_ring|_bridge", b)]


async def _clients(port: int, seconds: float) -> int:
    names_in = ["kArr", "aArr", "kv", "av", "Sv", "iv", "iArr"]
    names_out = ["kin", "ain", "Sin", "kIn", "aIn"]
    conns = await asyncio.gather(*(connect_var(port, n, timeout=120) for n in names_in + names_out))
    got = 0
    deadline = time.monotonic() + seconds
    sizes = [1, 6, 4, 12, 3]
    while time.monotonic() < deadline:
        for ws, n in zip(conns[len(names_in):], sizes):
            for k in (n, 6, 1):  # the right size, and others: refused or applied as far as they fit
                try:
                    await ws.send(np.arange(k, dtype=np.float64).tobytes() if ws.subprotocol != "Sin" else "hi")
                except Exception:  # noqa: BLE001 - a client closed for a bad message: fine here
                    pass
        for ws in conns[:len(names_in)]:
            try:
                async with asyncio.timeout(0.05):
                    while True:
                        await ws.recv()
                        got += 1
            except Exception:  # noqa: BLE001
                pass
    return got


def test_arrays_and_types_under_valgrind(perform, csound, tmp_path):
    if shutil.which("valgrind") is None:
        pytest.fail("valgrind is not installed (apt-get install valgrind): the memory check cannot run")
    port = free_port()
    csd = tmp_path / "mem.csd"
    csd.write_text(make_csd(ORC.replace("$PORT", str(port)), "i1 0 600", ksmps=32))
    vg = ["valgrind", "--error-exitcode=0", "--trace-children=no", "--num-callers=30",
          f"--log-file={tmp_path / 'vg.log'}"]
    opts = ["-odac", "-+rtaudio=null", "-b256", "-B1024", "-d"]
    env = dict(os.environ)
    if csound == 6:
        from csws import plugin_path

        cmd = [*vg, shutil.which("csound") or "csound", f"--opcode-lib={plugin_path(6)}", str(csd), *opts]
    else:
        env["PYTHONMALLOC"] = "malloc"
        cmd = [*vg, sys.executable, "-m", "csws", "run", "--csound", "7", str(csd), *opts]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        got = asyncio.run(_clients(port, 6.0))
        proc.send_signal(signal.SIGINT)  # the end of the run, with clients connected
        out = proc.communicate(timeout=120)[0].decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (tmp_path / "vg.log").read_text(errors="replace")
    assert "ERROR SUMMARY" in log, log[-3000:]
    assert got > 0, out[-3000:]
    errors = _errors(log)
    assert not errors, "\n\n".join(errors[:5])
    assert "INIT ERROR" not in out and "PERF ERROR" not in out, out[-3000:]
