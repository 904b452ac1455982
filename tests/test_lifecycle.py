"""Lifecycle: ports come and go with the instances that use them.

Several instruments share one port's server; an instance's variables appear
when it starts and go away when it ends (its clients get close 1001); the
port closes with the last instance on it and opens again with the next.
Every way of ending Csound - end of score (csws run and the stock csound),
Ctrl-C, reset, destroy - stops the I/O and frees the port, and 200 runs in
one process leave no thread, file descriptor or memory behind.
"""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import make_csd, patience
from wsclient import connect_var, f64, frames

COUNTER = """
  kcount init 0
  kcount += 1
"""


def run(coro):
    return asyncio.run(coro)


def port_is_free(port: int) -> bool:
    """Nobody listens on the port (SO_REUSEADDR: closed clients' TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


async def refused(port: int, timeout: float = 10.0) -> None:
    """Wait until connecting to the port is refused: nothing listens any more."""
    async with asyncio.timeout(patience(timeout)):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except (ConnectionRefusedError, ConnectionResetError):  # reset: closed mid-connect
                return
            writer.close()
            await asyncio.sleep(0.05)


async def until_closed(ws, timeout: float = 15.0) -> int:
    """Read until the server closes; its close code."""
    async with asyncio.timeout(patience(timeout)):
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
    return ws.close_code


# ---------------------------------------------------------------- one port, many instances


def test_instruments_share_a_port(perform, port):
    orc = f"""instr 1
{COUNTER}
  ka = kcount
  kd1 websocket {port}, ka
endin
instr 2
{COUNTER}
  kb = -kcount
  kd2 websocket {port}, kb
endin"""
    p = perform(orc, "i1 0 30\ni2 0 30")

    async def main():
        a = await connect_var(port, "ka")
        b = await connect_var(port, "kb")
        fa = [f64(m)[0] for m in await frames(a, 20)]
        fb = [f64(m)[0] for m in await frames(b, 20)]
        return fa, fb

    fa, fb = run(main())
    assert all(x > 0 for x in fa) and all(x < 0 for x in fb)
    assert p.output.count("websocket server on") == 1, "one server for the port"


def test_variables_come_and_go_with_their_instance(perform, port):
    # kb's instance plays from 1 s to 2 s; ka's for the whole piece.
    orc = f"""instr 1
{COUNTER}
  ka = kcount
  kd1 websocket {port}, ka
endin
instr 2
{COUNTER}
  kb = kcount
  kd2 websocket {port}, kb
endin"""
    p = perform(orc, "i1 0 30\ni2 1 1")

    async def main():
        a = await connect_var(port, "ka")
        b = await connect_var(port, "kb")  # retried until instr 2 starts
        await frames(b, 5)
        code = await until_closed(b)
        # gone: a handshake naming it is refused now
        with pytest.raises(InvalidStatus) as refused_handshake:
            await connect(f"ws://127.0.0.1:{port}/", subprotocols=["kb"])
        # while the other instance's client goes on
        before = f64((await frames(a, 1))[0])[0]
        after = [f64(m)[0] for m in await frames(a, 10)]
        response = refused_handshake.value.response
        return code, response.status_code, bytes(response.body), before, after

    code, status, body, before, after = run(main())
    assert code == 1001
    assert status == 400 and b"on offer: ka" in body
    assert after[0] > before and after == sorted(after)
    assert p.proc.poll() is None, "Csound is still performing"


def test_port_closes_with_its_last_instance_and_reopens(perform, port):
    orc = f"""instr 1
{COUNTER}
  kv = kcount
  kd websocket {port}, kv
endin
instr 99
  printks "alive %d\\n", 0.5, timeinstk()
endin"""
    p = perform(orc, "i1 0 1\ni1 2.5 30\ni99 0 30")

    async def main():
        ws = await connect_var(port, "kv")
        await frames(ws, 5)
        code = await until_closed(ws)
        await refused(port)  # the port closed while Csound plays on
        ws2 = await connect_var(port, "kv", timeout=15)  # the next note opens it again
        got = await frames(ws2, 5)
        return code, got

    code, got = run(main())
    assert code == 1001 and len(got) == 5
    p.wait_for(r"alive \d+")
    assert p.proc.poll() is None
    assert p.output.count("websocket server on") == 2, p.output[-2000:]


def test_back_to_back_notes_reopen_the_port(perform, port):
    # Each note is the port's only instance: its end closes the port and the
    # next note, a k-cycle later, must wait for that close before it listens.
    orc = f"instr 1\n{COUNTER}\n  kd websocket {port}, kcount\nendin"
    p = perform(orc, "i1 0 0.2\ni1 0.2 0.2\ni1 0.4 0.2\ni1 0.6 0.2", options=["-n", "-d"])
    assert p.wait(60) == 0
    out = p.output
    assert "INIT ERROR" not in out, out[-3000:]
    assert out.count("websocket server on") == 4, out[-3000:]
    assert port_is_free(port)


def test_back_to_back_notes_with_a_client(perform, port):
    # The next note of the line takes the variable over in the same k-cycle: its
    # client stays connected and streams on, from the new note's count.
    orc = f"instr 1\n{COUNTER}\n  kd websocket {port}, kcount\nendin\ninstr 99\n  printks \"alive\\n\", 1\nendin"
    p = perform(orc, "i1 0 1\ni1 1 30\ni99 0 30")

    async def main():
        ws = await connect_var(port, "kcount")
        values = [f64(m)[0] for m in await frames(ws, 5)]
        while len(values) < 5 or values[-1] >= values[-2]:  # until the second note's count starts
            values.append(f64(await ws.recv())[0])
        return values, [f64(m)[0] for m in await frames(ws, 5)]

    values, after = run(main())
    assert values[-1] < 5 and after == sorted(after), (values[-10:], after)
    assert "INIT ERROR" not in p.output, p.output[-3000:]
    assert p.output.count("websocket server on") == 1, p.output[-3000:]


# ---------------------------------------------------------------- ending Csound


@pytest.mark.parametrize("host", ["csws", "csound"])
def test_ctrl_c_stops_and_frees_the_port(perform, port, host):
    p = perform(f"instr 1\n{COUNTER}\n  kd websocket {port}, kcount\nendin", "i1 0 600", host=host)

    async def main():
        ws = await connect_var(port, "kcount")
        await frames(ws, 10)
        p.proc.send_signal(signal.SIGINT)
        return await until_closed(ws)

    code = run(main())
    rc = p.wait(20)  # raises if Csound hangs at exit
    assert code == 1001, p.output[-2000:]
    assert port_is_free(port)
    if host == "csws":
        assert rc == 0 and "csws: stopping" in p.output, p.output[-2000:]


@pytest.mark.parametrize("host", ["csws", "csound"])
def test_consecutive_realtime_runs_exit_by_themselves(perform, port, host):
    # Each run ends at the end of its score with a client still connected.
    for i in range(5):
        p = perform(f"instr 1\n{COUNTER}\n  kd websocket {port}, kcount\nendin", "i1 0 1", host=host)

        async def main():
            ws = await connect_var(port, "kcount")
            await frames(ws, 10)
            return await until_closed(ws)

        code = run(main())
        assert p.wait(20) == 0, f"run {i}: {p.output[-2000:]}"
        assert code == 1001, f"run {i}: close code {code}"
        assert port_is_free(port), f"run {i}: port still taken"


# ---------------------------------------------------------------- in one process (ctypes host)

CHILD_PRELUDE = """
import asyncio, json, os, sys, threading, time
from pathlib import Path
from csws import plugin_path
from csws.hosting.library import create

def probe():
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
    return {"threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd")), "rss_kb": rss,
            "thread_names": sorted(t.name for t in threading.enumerate())}

def port_is_free(port):
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port)); s.listen()
        except OSError:
            return False
        return True

async def client(port, name):
    from websockets.asyncio.client import connect
    give_up = time.monotonic() + PATIENCE
    while True:
        try:
            ws = await connect(f"ws://127.0.0.1:{port}/", subprotocols=[name], compression=None)
            break
        except OSError:
            if time.monotonic() > give_up:
                return 0
            await asyncio.sleep(0.01)
    n = 0
    try:
        async for _ in ws:
            n += 1
    except Exception:
        pass
    return n

PORT = int(sys.argv[2])
CSD = sys.argv[1]
WEBSOCKET = sys.argv[3] == "websocket"  # else a control run: the same piece without the opcode
PATIENCE = float(sys.argv[4])  # seconds a client keeps trying to connect: the test's patience(5)
OFFLINE = ["-n", "-d", "-m0"]
REALTIME = ["-odac", "-+rtaudio=null", "-b32", "-B64", "-d", "-m0"]
"""

CYCLES = textwrap.dedent("""
out = {"frames": []}
for i in range(1, 201):
    cs = create()
    live = WEBSOCKET and i % 10 == 0  # every tenth run: real time, a client connected until the end
    assert cs.compile([f"--opcode-lib={plugin_path()}", CSD, *(REALTIME if live else OFFLINE)]) == 0
    if live:
        worker = threading.Thread(target=cs.perform)
        worker.start()
        out["frames"].append(asyncio.run(client(PORT, "kcount")))
        worker.join()
    else:
        cs.perform()
    cs.destroy()
    if i in (20, 200):
        out[str(i)] = probe()
out["port_free"] = port_is_free(PORT)
print("RESULT " + json.dumps(out))
""")

RESET = textwrap.dedent("""
cs = create()
lib = cs._lib
lib.csoundReset.argtypes = [__import__("ctypes").c_void_p]
out = {"free": [], "threads": []}
for i in range(3):
    assert cs.compile([f"--opcode-lib={plugin_path()}", CSD, *OFFLINE]) == 0
    cs.perform()
    lib.csoundReset(cs._cs)
    out["free"].append(port_is_free(PORT))
    out["threads"].append(threading.active_count())
cs.destroy()
print("RESULT " + json.dumps(out))
""")


def run_child(tmp_path, port: int, body: str, score: str, websocket: bool = True) -> dict:
    line = f"kin websocket {port}, kcount" if websocket else "kin = kcount"
    orc = f"instr 1\n{COUNTER}\n  {line}\nendin"
    csd = tmp_path / "cycle.csd"
    csd.write_text(make_csd(orc, score))
    script = tmp_path / "child.py"
    script.write_text(CHILD_PRELUDE + body)
    proc = subprocess.run([sys.executable, str(script), str(csd), str(port), "websocket" if websocket else "control",
                           str(patience(5))],
                          capture_output=True, text=True, errors="replace", timeout=patience(300), cwd=tmp_path)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_200_cycles_leave_nothing_behind(tmp_path, port):
    out = run_child(tmp_path, port, CYCLES, "i1 0 0.3")
    first, last = out["20"], out["200"]
    assert last["threads"] == first["threads"] == 1, (first["thread_names"], last["thread_names"])
    assert last["fds"] <= first["fds"], (first, last)
    # Csound itself may keep memory per cycle (7.0 keeps about 70 KiB): the same 200 cycles without
    # the opcode are the baseline.
    control = run_child(tmp_path, port, CYCLES, "i1 0 0.3", websocket=False)
    growth_mb = (last["rss_kb"] - first["rss_kb"]) / 1024
    baseline_mb = (control["200"]["rss_kb"] - control["20"]["rss_kb"]) / 1024
    assert growth_mb - baseline_mb < 5, f"RSS grew {growth_mb:.1f} MB from cycle 20 to 200 ({baseline_mb:.1f} without websocket)"
    assert all(n > 0 for n in out["frames"]), f"a live run's client got nothing: {out['frames']}"
    assert out["port_free"]


def test_reset_stops_everything(tmp_path, port):
    out = run_child(tmp_path, port, RESET, "i1 0 0.2")
    assert out["free"] == [True] * 3
    assert out["threads"] == [1] * 3



DORMANT = textwrap.dedent("""
import socket, sys, threading
from csws import plugin_path
from csws.hosting.library import create

def listening(port):  # without connecting: a connection would wake the server up
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False

def loaded():
    return [m for m in ("asyncio", "websockets", "ssl") if m in sys.modules]

port = int(sys.argv[2])
cs = create()
assert cs.compile([f"--opcode-lib={plugin_path()}", sys.argv[1], "-odac", "-+rtaudio=null", "-d"]) == 0
worker = threading.Thread(target=cs.perform)
worker.start()
while not listening(port):
    threading.Event().wait(0.01)
during = loaded()
worker.join()
cs.destroy()
print("RESULT", {"during": during, "after": loaded(), "threads": threading.active_count(),
                 "listening": listening(port)})
""")


def test_a_port_nobody_joins_loads_no_server(tmp_path, port):
    """A piece nobody connects to never loads asyncio or websockets (about 15 MiB of
    memory); its port listens all the same and closes at the end.  (Every other
    test's first client is one that wakes a server up.)"""
    orc = f"instr 1\n{COUNTER}\n  kd websocket {port}, kcount\nendin"
    csd = tmp_path / "dormant.csd"
    csd.write_text(make_csd(orc, "i1 0 0.5"))
    script = tmp_path / "child.py"
    script.write_text(DORMANT)
    proc = subprocess.run([sys.executable, str(script), str(csd), str(port)], capture_output=True,
                          text=True, errors="replace", timeout=patience(60), cwd=tmp_path)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    assert lines[-1] == "RESULT {'during': [], 'after': [], 'threads': 1, 'listening': False}", lines[-1]
    assert "websocket server on ws://127.0.0.1:" in proc.stdout + proc.stderr
