"""What importing csws costs and needs: no module depends on being imported after
another, and a piece nobody connects to loads none of the server's weight."""
from __future__ import annotations

import pkgutil
import re
import subprocess
import sys

import pytest

import csws
from conftest import free_port, make_csd, patience

# Every Python and Cython module (not the plugins, Csound's libraries, nor __main__, which runs the CLI)
MODULES = sorted(m.name for m in pkgutil.walk_packages(csws.__path__, "csws.")
                 if m.name != "csws.__main__" and not m.name.startswith("csws.libcsws_opcodes"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_first(module, tmp_path):
    """In a fresh interpreter, each module imports on its own (no import cycle, no order)."""
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                          timeout=patience(60), cwd=tmp_path)  # the installed package, not a checkout here
    assert proc.returncode == 0, proc.stderr[-3000:]


SERVER_WEIGHT = ("asyncio", "websockets", "ssl", "_ssl", "concurrent.futures")


def test_csws_run_loads_no_server_until_a_client_comes(csound, tmp_path):
    """The README: a piece nobody connects to pays only for the embedded Python."""
    port = free_port()
    csd = tmp_path / "alone.csd"
    csd.write_text(make_csd(f"instr 1\n  klfo lfo 1, 2\n  kin websocket {port}, klfo\nendin\n", "i1 0 0.5"))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "csws", "run", str(csd), "-n", "-d"],
                          capture_output=True, text=True, timeout=patience(120), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and f"csws: websocket server on ws://127.0.0.1:{port}/" in out, out[-3000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", out, re.MULTILINE))
    assert "csws._bridge" in imported, "the plugin reached Python"
    loaded = sorted(m for m in imported if m.split(".")[0] in SERVER_WEIGHT or m in SERVER_WEIGHT)
    assert not loaded, f"loaded before any client: {loaded}"
