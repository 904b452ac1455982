"""Memory safety under valgrind: arrays that grow and shrink after websocket
took them, every type both ways, Csound's channels from a page, with real
clients connected.  Any invalid
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
from pathlib import Path

import numpy as np
import pytest

from conftest import MAJORS, SOURCE, csound_include, free_port, make_csd, patience
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
  kf chnget "freq"
  chnset kv, "ticks"
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
    from test_channels import ask, control

    conns = await asyncio.gather(*(connect_var(port, n, timeout=120) for n in names_in + names_out))
    page, _ = await control(port, timeout=60)  # Csound's channels on the same port
    await ask(page, "watch", names=["ticks"])
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
        await ask(page, "set", values={"freq": got})
        for ws in [*conns[:len(names_in)], page]:
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
        out = proc.communicate(timeout=patience(120))[0].decode("utf-8", "replace")
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


# ---- an address-sanitizer build of the plugin ----
#
# valgrind does not know how big a Csound string's buffer is (Csound's allocator
# adds a header of its own), and missed a heap overflow there that ASAN's
# redzones catch.  The plugin is compiled here with -fsanitize=address from the
# sources, and libasan is preloaded into the host (the stock `csound` for 6, a
# Python program for 7), so every buffer Csound allocates is guarded too.

ASAN_OPTIONS = "detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=99"

# Ways an orchestra writes an S output of websocket, each of which left its buffer
# smaller than the plugin believed (Csound 6 shrinks, reallocates or shares it).
# Each line runs every k-cycle, on alternate k-cycles after `Sw strcpyk "a"`, which
# leaves the buffer as it was but its size as that of "a".
STRING_FORMS = {
    "strcpyk": 'Sw strcpyk "bb"',
    "assign": "Sw = gSshort",
    "sprintfk": 'Sw sprintfk "%d", kc',
    "copy_from": "Sw strcpyk Sv2",
    "copy_to": "Sv2 strcpyk Sw",
}

# A Python host, as csws run is (invalue and outvalue answered by the plugin's callbacks): argv major, plugin, ...
HOST = """
import sys
from csws.hosting import library as c
cs = c.create(c.find(sys.argv[1]))
ok = cs.compile(["--opcode-lib=" + sys.argv[2], *sys.argv[3:]]) == 0
if ok:
    cs.answer_invalue(sys.argv[2])
code = cs.perform() if ok else -1
failed = not ok or code < 0 or cs.errors() != 0
cs.destroy()
sys.exit(1 if failed else 0)
"""


@pytest.fixture(scope="session")
def asan_plugins(tmp_path_factory) -> dict[int, Path]:
    """The plugin for each major, built with -fsanitize=address (with a .site file naming csws)."""
    import csws

    runtime = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.exists(runtime):
        pytest.fail("gcc has no libasan (Debian: libgcc-12-dev): the address-sanitizer build cannot run")
    out = tmp_path_factory.mktemp("asan")
    built = {}
    for major in MAJORS:
        so = out / f"libcsws_opcodes_asan{major}.so"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        subprocess.run(["gcc", "-shared", "-fPIC", "-g", "-O1", "-fsanitize=address", "-fno-omit-frame-pointer",
                        "-std=c11", "-DUSE_DOUBLE", f'-DCSWS_PY_VERSION="{version}"', f"-I{SOURCE / 'csws'}",
                        *csound_include(major), *map(str, sorted((SOURCE / "plugin").glob("*.c"))),
                        "-ldl", "-o", str(so)], check=True)
        (out / (so.name + ".site")).write_text(str(Path(csws.__file__).resolve().parent.parent) + "\n")
        built[major] = so
    built["runtime"] = Path(runtime).resolve()
    return built


def run_asan(asan_plugins, major: int, csd: Path, client, python_host: bool = False) -> tuple[str, int, object]:
    """Perform csd with the ASAN plugin while the client coroutine runs; (output, exit status,
    what the client returned, None if Csound stopped under it).  Fails on any ASAN report.
    Csound 6 runs in the stock csound command unless python_host; 7 always in a Python host."""
    env = {**os.environ, "LD_PRELOAD": str(asan_plugins["runtime"]), "ASAN_OPTIONS": ASAN_OPTIONS,
           "PYTHONMALLOC": "malloc"}
    plugin = str(asan_plugins[major])
    opts = ["-odac", "-+rtaudio=null", "-b256", "-B1024", "-d"]
    if major == 6 and not python_host:
        cmd = [shutil.which("csound") or "csound", f"--opcode-lib={plugin}", str(csd), *opts]
    else:
        cmd = [sys.executable, "-c", HOST, str(major), plugin, str(csd), *opts]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=csd.parent)
    result = None
    try:
        try:
            result = asyncio.run(client)
        except Exception:  # noqa: BLE001 - Csound stopped under us: its output says why
            pass
        out = proc.communicate(timeout=patience(120))[0].decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "AddressSanitizer" not in out, out[out.find("=="):][:6000]
    return out, proc.returncode, result


async def _strings_in(port: int, names: list[str], seconds: float) -> int:
    conns = await asyncio.gather(*(connect_var(port, n, timeout=60) for n in names))
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i, ws in enumerate(conns):
            await ws.send("x" * 4096 if (sent + i) % 2 == 0 else "short")
        sent += 1
        await asyncio.sleep(0.05)
    for ws in conns:
        await ws.close()
    return sent


@pytest.mark.parametrize("form", list(STRING_FORMS))
def test_string_outputs_the_orchestra_writes_under_asan(asan_plugins, csound, tmp_path, form):
    """A client's 4096-byte strings into an S output whose buffer the orchestra reallocates."""
    port = free_port()
    orc = f"""gSshort init "xy"
instr 1
  kc timeinstk
  Sv2 init "bbbbbbbb"
  Sw websocket {port}
  if kc % 2 == 0 then
    Sw strcpyk "a"
  else
    {STRING_FORMS[form]}
  endif
endin
"""
    csd = tmp_path / "strings.csd"
    csd.write_text(make_csd(orc, "i1 0 4", ksmps=32))
    out, status, sent = run_asan(asan_plugins, csound, csd, _strings_in(port, ["Sw"], 2.0))
    assert status == 0, out[-3000:]
    received = re.findall(r"csws: port \d+ Sw \(from web\): received (\d+)", out)
    assert received and int(received[-1]) == sent, out[-3000:]


async def _commands(port: int, lengths: list[int]) -> None:
    ws = await connect_var(port, "Sw", timeout=60)
    for i, n in enumerate(lengths):
        await ws.send(chr(ord("a") + i % 26) * n)
        await asyncio.sleep(0.04)  # a few k-cycles: each string is seen before the next
    await ws.close()


def test_consume_and_clear_loses_no_string_under_asan(asan_plugins, csound, tmp_path):
    """A piece that clears its S input after acting on it (Csound 6 then shrinks the
    buffer's size to 1 every time) still gets every string, whole, in order."""
    port = free_port()
    orc = f"""instr 1
  kc timeinstk
  Sw websocket {port}
  klen strlenk Sw
  if klen > 0 then
    printf "got %d %s\\n", kc, klen, strsubk(Sw, 0, 1)
    Sw strcpyk ""
  endif
endin
"""
    csd = tmp_path / "commands.csd"
    csd.write_text(make_csd(orc, "i1 0 5", ksmps=32))
    lengths = [4096, 5, 300, 1, 4096, 4096, 2, 17] * 3
    out, _, _ = run_asan(asan_plugins, csound, csd, _commands(port, lengths))
    got = [(int(n), s) for n, s in re.findall(r"got (\d+) (\w)", out)]
    assert got == [(n, chr(ord("a") + i % 26)) for i, n in enumerate(lengths)], out[-3000:]


async def _channels(port: int, seconds: float) -> int:
    """A page on the control socket: writes, reads and watches channels, sends score lines."""
    from test_channels import ask, control

    ws, _ = await control(port, timeout=60)
    await ask(ws, "watch", names="*")
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        n += 1
        await ask(ws, "set", values={"freq": 100 + n, "knob": n, "title": "t" * (n % 100)})
        if n % 10 == 0:  # longer than the channel's buffer: refused, never reallocated under Csound
            assert "holds at most" in (await ask(ws, "set", values={"title": "t" * 5000}))["error"]
        await ask(ws, "get", names=["freq", "title", "meter", "ticks"])
        if n % 20 == 0:
            await ask(ws, "score", text=f"i 2 0 0.01 {n}")
        await asyncio.sleep(0.005)
    await ws.close()
    return n


@pytest.mark.parametrize("host", ["csound", "python"])
def test_websocket_ui_channels_and_invalue_under_asan(asan_plugins, csound, tmp_path, host):
    """websocket_ui's port, channels written and read from a page while the orchestra writes
    them too, invalue/outvalue through the plugin's callbacks (in a Python host), score lines."""
    if csound == 7 and host == "csound":
        pytest.skip("the stock csound command here (Debian's) is Csound 6")
    port = free_port()
    orc = f"""websocket_ui {port}
chn_k "freq", 1, 3, 440, 20, 20000
chn_S "title", 3
instr 1
  kf chnget "freq"
  St chnget "title"
  kc timeinstk
  chnset kc, "ticks"
  chnset St, "echo"
  ki invalue "knob"
  outvalue "meter", ki * 2
endin
instr 2
endin
"""
    csd = tmp_path / "ui.csd"
    csd.write_text(make_csd(orc, "i1 0 4", ksmps=32))
    out, status, n = run_asan(asan_plugins, csound, csd, _channels(port, 2.0), python_host=host == "python")
    assert status == 0 and n and n > 20, out[-3000:]
    assert re.search(rf"csws: port {port} csws\.control \(channels\): received \d+, rejected \d+", out), out[-3000:]
