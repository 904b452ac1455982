"""The seed's example in each host: `csws run`, the stock `csound`, a Python program.

Debian's csound-plugins is installed, so the original websocketIO plugin is
loaded too; each test proves that csound-websocket's opcode is the one that
ran (our server answers, with our Server header and our messages).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import REALTIME, make_csd
from wsclient import connect_var, f64, frames

ORIGINAL = "/usr/lib/x86_64-linux-gnu/csound/plugins64-6.0/libwebsocketIO.so"


def seed_orc(port: int) -> str:
    # The seed's scenario: a k-rate LFO goes out, a slider value comes in.
    return f"""instr 1
  klfo lfo 1, 2
  kslider websocket {port}, klfo
  printks "slider %.3f\\n", 0.1, kslider
endin"""


def exercise_seed(port: int) -> list[float]:
    async def main():
        lfo = await connect_var(port, "klfo")
        assert lfo.response.headers["Server"].startswith("csws/"), "another websocket server answered"
        got = [f64(m)[0] for m in await frames(lfo, 50)]
        slider = await connect_var(port, "kslider")
        await slider.send(np.array([0.625]).tobytes())
        return got

    return asyncio.run(main())


@pytest.mark.parametrize("host", ["csws", "csound"])
def test_seed_example(perform, port, host):
    p = perform(seed_orc(port), "i1 0 30", host=host)
    values = exercise_seed(port)
    assert all(-1 <= v <= 1 for v in values) and len(set(values)) > 10, "the LFO should move"
    p.wait_for(r"slider 0\.625")
    out = p.output
    if os.path.exists(ORIGINAL):
        assert "replaces another library's" in out
    assert "csws: websocket server on ws://127.0.0.1:%d/" % port in out


def test_stock_csound_starts_its_own_python(perform, port):
    """With Csound's Python plugin omitted, no Python is in the process: ours loads one."""
    p = perform(seed_orc(port), "i1 0 30", host="csound", env={"CS_OMIT_LIBS": "libpy"})
    exercise_seed(port)
    p.wait_for(r"slider 0\.625")
    assert "libpy.so omitted" in p.output


def test_python_host_with_ctcsound(tmp_path, port):
    """A Python program that creates its own Csound (ctcsound) loads the plugin by path."""
    ctcsound = pytest.importorskip("ctcsound")
    del ctcsound
    csd = tmp_path / "seed.csd"
    csd.write_text(make_csd(seed_orc(port), "i1 0 4"))
    program = tmp_path / "host.py"
    program.write_text(textwrap.dedent(f"""
        import time

        import ctcsound
        import csws

        cs = ctcsound.Csound()
        cs.setOption("--opcode-lib=" + csws.plugin_path())
        for opt in {REALTIME!r}:
            cs.setOption(opt)
        cs.start()  # loads the plugin: do it before compiling the orchestra
        assert cs.compileCsd({str(csd)!r}) == 0
        thread = ctcsound.CsoundPerformanceThread(cs.csound())
        thread.play()
        time.sleep(4)  # a csd compiled after start() plays on: stop it ourselves
        thread.stop()
        thread.join()
        print("stats", csws.stats(), flush=True)
        cs.reset()
    """))
    log = tmp_path / "host.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(program)], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            exercise_seed(port)
            assert proc.wait(30) == 0, "the Python host should end with its score"
        finally:
            if proc.poll() is None:
                proc.kill()
    out = log.read_text(errors="replace")
    assert "slider 0.625" in out
    assert f"({port}, 'kslider')" in out, "csws.stats() from Python"
