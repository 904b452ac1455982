"""The dead ends a new user met (issue 10, part 4), each ending as a user expects.

Each test ran into the dead end on the code before this change.
"""
from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import REALTIME, free_port, make_csd, patience
from test_hosts import seed_orc
from test_http import get
from wsclient import connect_var, frames


def csws(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "csws", *args], capture_output=True, text=True,
                          timeout=patience(timeout))


@pytest.mark.parametrize("error", ["a variable twice", "port in use"])
def test_run_exits_with_csounds_status_after_an_init_error(tmp_path, port, csound, error):
    if error == "a variable twice":
        orc = f"instr 1\n  klfo lfo 1, 2\n  kd websocket {port}, klfo, klfo\nendin"
    else:
        orc = f"instr 1\n  klfo lfo 1, 2\n  kd websocket {port}, klfo\nendin"
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(orc, "i1 0 0.2"))
    with socket.socket() as taken:
        if error == "port in use":
            taken.bind(("127.0.0.1", port))
            taken.listen()
        ran = csws("run", str(csd), "-n", "-d")
        assert "INIT ERROR" in ran.stdout + ran.stderr
        assert ran.returncode == 1, "csws run exits 1 after an init error"
        if csound == 6:
            stock = subprocess.run([shutil.which("csound"), "--opcode-lib=" + csws("plugin-path", "--csound", "6")
                                    .stdout.strip(), str(csd), "-n", "-d"], capture_output=True,
                                   timeout=patience(60))
            assert ran.returncode == stock.returncode, "the same status as the csound command"


def test_demo_says_the_sound_card_failed_and_how_to_choose_one(csound):
    number = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "csws", "demo", "--audio", "--port", str(number)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=patience(20))
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate()
        pytest.skip("this machine's sound card works: the demo plays")
    assert proc.returncode == 1
    assert "could not open the audio device" in out
    assert "csound --devices" in out and "--audio dac" in out
    assert "could not compile the piece" not in out


def test_csws_json_is_readable_by_pages_the_origin_check_allows(perform, port):
    perform(seed_orc(port), "i1 0 30")
    dev = "http://localhost:5173"  # a local dev server (vite): its websockets are allowed
    status, headers, _ = get(port, "/csws.json", headers={"Origin": dev})
    assert status == 200 and headers.get("access-control-allow-origin") == dev
    status, headers, _ = get(port, "/csws.json", headers={"Origin": "https://elsewhere.example"})
    assert status == 200 and "access-control-allow-origin" not in headers, "other sites may not read it"


def test_a_message_to_a_variable_csound_sends_closes_the_client(perform, port):
    p = perform(seed_orc(port), "i1 0 30")

    async def main():
        ws = await connect_var(port, "klfo")
        await ws.send(np.array([0.5]).tobytes())
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), patience(5))
        return ws.close_code, ws.close_reason

    code, reason = asyncio.run(main())
    assert code == 1008 and "klfo goes from Csound to the web" in reason
    p.wait_for(r"a client sent a message to klfo, which goes from Csound to the web")
    p.stop()
    assert "klfo (to web): sent" in p.output and "rejected 1" in p.output.split("klfo (to web)")[-1].splitlines()[0]


@pytest.mark.parametrize("name, expected, says", [
    ("kslider", "to_web", "kslider goes from the web to Csound (from_web): send to it"),
    ("klfo", "from_web", "klfo goes from Csound to the web (to_web): receive it"),
])
def test_a_client_expecting_the_other_way_is_closed_at_once(perform, port, name, expected, says):
    p = perform(seed_orc(port), "i1 0 30")

    async def main():
        ws = await connect_var(port, name, query=f"direction={expected}")
        with pytest.raises(ConnectionClosed):
            while True:  # klfo's latest value may come before the close
                await asyncio.wait_for(ws.recv(), patience(5))
        # Without direction= a client is taken as it comes: a sender of kslider stays on.
        sender = await connect_var(port, "kslider")
        await sender.send(np.array([0.25]).tobytes())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sender.recv(), 0.5)
        await sender.close()
        return ws.close_code, ws.close_reason

    code, reason = asyncio.run(main())
    assert code == 1008 and says in reason
    p.wait_for(rf"a client expected the other way: {re.escape(says)}.*closed it \(1008\)")
    p.stop()
    way = "from web" if name == "kslider" else "to web"
    counters = p.output.split(f"{name} ({way}):")[-1].splitlines()[0]
    assert "rejected 1" in counters, counters


def test_an_unknown_subprotocol_is_logged_in_csound(perform, port):
    p = perform(seed_orc(port), "i1 0 30")

    async def main():
        await connect_var(port, "klfo")  # up
        with pytest.raises(InvalidStatus):
            await connect(f"ws://127.0.0.1:{port}/", subprotocols=["kfreq"])

    asyncio.run(main())
    p.wait_for(r"refused a websocket asking for kfreq \(HTTP 400\): no such variable; on offer: klfo, kslider")


def test_flags_after_the_piece_are_refused_with_where_they_go(tmp_path):
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd("instr 1\nendin", "i1 0 0.1"))
    site = tmp_path / "site"
    site.mkdir()
    after = csws("run", str(csd), "--static", str(site))
    assert after.returncode == 2 and "--static is csws's flag" in after.stderr and "before the piece" in after.stderr
    missing = csws("run", "--static", str(tmp_path / "nosuch"), str(csd))
    assert missing.returncode == 2 and "no such directory" in missing.stderr


def test_the_start_up_line_names_the_page(perform, port, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hi</p>")
    p = perform(seed_orc(port), "i1 0 30", env={"CSWS_STATIC_DIR": str(site)})
    p.wait_for(rf"websocket server on ws://127\.0\.0\.1:{port}/, page on http://127\.0\.0\.1:{port}/")


def test_a_port_below_1024_refused_for_privilege_says_so(monkeypatch):
    from csws.bridge import registry

    def refuse(*args, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(registry, "Port", refuse)
    with pytest.raises(OSError, match="ports below 1024 need administrator rights: use a port from 1024 up"):
        registry._open(1, lambda *a: None, 80, 32, 48000.0, registry.Settings.from_env({}))


def test_clients_that_reset_their_connection_print_nothing(perform, port):
    orc = f"instr 1\n  asig poscil 0.5, 440\n  kd websocket {port}, asig\nendin"
    p = perform(orc, "i1 0 30", ksmps=16)

    async def reset_one():
        ws = await connect_var(port, "asig")
        await frames(ws, 5)
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()  # RST, as a crashed browser tab or a dropped Wi-Fi link does

    async def main():
        for _ in range(5):
            await asyncio.gather(*(reset_one() for _ in range(8)))
        survivor = await connect_var(port, "asig")
        return len(await frames(survivor, 20))

    assert asyncio.run(main()) == 20, "the others are still served"
    time.sleep(1)
    p.stop()
    out = p.output
    assert "socket.send() raised exception" not in out and "Traceback" not in out, out[-3000:]


def test_one_vocabulary_and_underruns_only_for_audio(tmp_path, port, csound):
    orc = f"instr 1\n  klfo lfo 1, 2\n  kin, ain websocket {port}, klfo\nendin"
    csd = tmp_path / "piece.csd"
    csd.write_text(make_csd(orc, "i1 0 0.2", options=" ".join(REALTIME)))
    code = ("import csws\nfrom csws import plugin_path\nfrom csws.hosting import library\n"
            f"cs = library.create()\ncs.compile(['--opcode-lib=' + plugin_path(), {str(csd)!r}])\ncs.perform()\n"
            "print('STATS', sorted((k[1], v['direction']) for k, v in csws.stats().items()))\ncs.destroy()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=patience(60),
                          env={**os.environ, "CSWS_CSOUND": str(csound)})
    out = proc.stdout + proc.stderr
    assert "STATS [('ain', 'from_web'), ('kin', 'from_web'), ('klfo', 'to_web')]" in out, out[-3000:]
    kin = next(line for line in out.splitlines() if "kin (from web):" in line)
    ain = next(line for line in out.splitlines() if "ain (from web):" in line)
    assert "underruns" not in kin and "underruns 0" in ain


def test_readme_install_works_before_a_release():
    """`pip install csound-websocket` fails until it is published: the README's install
    commands are ones that work today, and they say how to reach the `csws` command."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    first_block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert "pip install csound-websocket" not in commands, "not on PyPI yet"
    assert any(c.startswith("git clone") for c in commands)
    assert any("bin/csws" in c and "PATH" in line for c, line in zip(commands, first_block.splitlines()))
    assert "csws install" in commands and "csws doctor" in commands
