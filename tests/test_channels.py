"""Csound's named channels, score lines and code on the port: the control socket
(subprotocol csws.control, docs/protocol.md), spoken raw over loopback to a real
Csound of each major.  What a page writes is checked in what Csound prints.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import sys
import textwrap

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conftest import REALTIME, Performance, make_csd, patience
from test_hosts import PYTHON_HOSTS
from test_http import get

HINTS = """
chn_k "freq", 1, 3, 440, 20, 20000
chn_k "steps", 1, 1, 2, 0, 8
chn_k "gain", 3, 2, 0.5, 0, 1
chn_S "title", 3
"""


def orc(port: int, body: str = "") -> str:
    return f"""
websocket_ui {port}
{HINTS}
instr 1
  kf chnget "freq"
  ks chnget "steps"
  St chnget "title"
  printf "freq %.6f steps %g\\n", changed2(kf, ks), kf, ks
  printf "title [%s]\\n", changed2(St), St
  kc timek
  chnset kc, "ticks"
endin
instr 2
  prints "note two %g\\n", p4
endin
{body}
"""


async def control(port: int, timeout: float = 10.0, query: str = "") -> tuple[ClientConnection, dict]:
    """A page's control socket, and the server's hello."""
    deadline = asyncio.get_running_loop().time() + patience(timeout)
    while True:
        try:
            ws = await connect(f"ws://127.0.0.1:{port}/{query}", subprotocols=["csws.control"])
            break
        except OSError:  # the port is not up yet
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)
    hello = json.loads(await ws.recv())
    assert hello["op"] == "hello", hello
    return ws, hello


_ids = iter(range(1, 1 << 30))


async def ask(ws: ClientConnection, op: str, **fields) -> dict:
    """Send one request; its answer (pushes meanwhile are skipped)."""
    rid = next(_ids)
    await ws.send(json.dumps({"op": op, "id": rid, **fields}))
    async with asyncio.timeout(patience(5)):
        while True:
            m = json.loads(await ws.recv())
            if m.get("id") == rid:
                return m


async def pushed(ws: ClientConnection, pred, timeout: float = 5.0) -> dict:
    """The first `values` push whose values satisfy pred."""
    async with asyncio.timeout(patience(timeout)):
        while True:
            m = json.loads(await ws.recv())
            if m.get("op") == "values" and pred(m["values"]):
                return m["values"]


def test_channels_are_listed_with_the_hints_chn_k_gives(perform, port):
    p = perform(orc(port), "i1 0 30")
    p.wait_for("csws: websocket server on")

    async def main():
        ws, hello = await control(port)
        assert hello["sr"] == 48000 and hello["ksmps"] == 32 and hello["nchnls"] == 1 and hello["0dbfs"] == 1
        assert hello["code"] is False
        listed = {c["name"]: c for c in (await ask(ws, "list"))["ok"]}
        await ws.close()
        return hello, listed

    hello, listed = asyncio.run(main())
    freq = listed["freq"]
    assert (freq["type"], freq["direction"], freq["behaviour"]) == ("control", "from_web", "exponential")
    assert (freq["default"], freq["min"], freq["max"]) == (440, 20, 20000)
    assert (listed["steps"]["behaviour"], listed["steps"]["max"]) == ("integer", 8)
    assert (listed["gain"]["direction"], listed["gain"]["behaviour"]) == ("both", "linear")
    assert (listed["title"]["type"], listed["title"]["direction"]) == ("string", "both")
    assert listed["title"]["behaviour"] is None and listed["title"]["min"] is None
    assert {c["name"] for c in hello["channels"]} >= {"freq", "steps", "gain", "title"}
    described = json.loads(get(port, "/csws.json")[2])
    assert {c["name"]: c for c in described["channels"]}["freq"] == freq


def test_a_page_writes_channels_and_csound_reads_exactly_that(perform, port):
    p = perform(orc(port), "i1 0 30")
    p.wait_for("csws: websocket server on")

    async def main():
        ws, _ = await control(port)
        assert (await ask(ws, "set", values={"freq": 1234.567891, "steps": 5}))["ok"] is None
        p.wait_for(r"freq 1234\.567891 steps 5")
        assert (await ask(ws, "set", values={"title": "héllo wörld"}))["ok"] is None
        p.wait_for(r"title \[héllo wörld\]")
        got = await ask(ws, "get", names=["freq", "title", "steps"])
        assert got["ok"] == {"freq": 1234.567891, "title": "héllo wörld", "steps": 5}
        await ws.close()

    asyncio.run(main())


def test_pages_see_csounds_changes_and_each_others_writes(perform, port):
    """A watcher gets what Csound writes as it changes, and a value another page wrote
    (within a k-cycle plus the network); the page that wrote it gets no echo."""
    p = perform(orc(port), "i1 0 30")
    p.wait_for("csws: websocket server on")

    async def main():
        a, _ = await control(port)
        b, _ = await control(port)
        for ws in (a, b):
            assert (await ask(ws, "watch", names=["ticks", "gain"]))["ok"] is None
        first = (await pushed(b, lambda v: "ticks" in v))["ticks"]
        later = (await pushed(b, lambda v: v.get("ticks", 0) > first + 100))["ticks"]
        assert later > first + 100, "ticks follow Csound's k-cycles"
        await a.send(json.dumps({"op": "set", "values": {"gain": 0.25}}))
        seen = await pushed(b, lambda v: "gain" in v)
        assert seen["gain"] == 0.25
        echoed = []
        try:  # a's own write is not echoed back to it
            async with asyncio.timeout(0.5):
                while True:
                    echoed.append(json.loads(await a.recv()).get("values", {}).get("gain"))
        except TimeoutError:
            pass
        assert 0.25 not in echoed
        for ws in (a, b):
            await ws.close()

    asyncio.run(main())


def test_score_lines_from_a_page_play_and_ending_the_score_is_refused(perform, port):
    p = perform(orc(port), "i1 0 30")
    p.wait_for("csws: websocket server on")

    async def main():
        ws, _ = await control(port)
        assert (await ask(ws, "score", text="i 2 0 0.1 7 ; a note\ni2 0.05 0.1 8"))["ok"] is None
        p.wait_for("note two 7")
        p.wait_for("note two 8")
        for bad, why in (("e", "e ends the performance"), ("i 2 0 1\ne", "line 2"), ("#include \"/etc/passwd\"", "#"),
                         ("garbage here", "'g' is not a score statement"), ("", "empty"), ("s", "not a score")):
            answer = await ask(ws, "score", text=bad)
            assert why in answer["error"], answer
        assert "text" in (await ask(ws, "score"))["error"]
        t = (await ask(ws, "time"))["ok"]
        assert 0 < t < 30
        await ws.close()

    asyncio.run(main())
    assert p.proc.poll() is None, "Csound plays on"
    assert p.output.count("note two") == 2


def test_code_from_the_web_runs_only_when_allowed(perform, port, port2):
    p = perform(orc(port), "i1 0 30")
    allowed = perform(orc(port2), "i1 0 30", env={"CSWS_ALLOW_CODE": "1"})
    p.wait_for("csws: websocket server on")
    allowed.wait_for("csws: websocket server on")

    async def main():
        ws, hello = await control(port)
        assert hello["code"] is False
        for op in ("orc", "eval"):
            answer = await ask(ws, op, text="instr 9\nendin")
            assert "--allow-code" in answer["error"], answer
        await ws.close()
        ws, hello = await control(port2)
        assert hello["code"] is True
        assert (await ask(ws, "eval", text="ival = 20 + 22\nreturn ival"))["ok"] == 42
        compiled = await ask(ws, "orc", text='instr 9\nprints "nine plays\\n"\nendin\n')
        assert compiled["ok"] == 0, compiled
        await ask(ws, "score", text="i 9 0 0.1")
        allowed.wait_for("nine plays")
        broken = await ask(ws, "orc", text="instr 10\n this is not csound\nendin\n")
        assert "could not compile" in broken["error"]
        await ws.close()

    asyncio.run(main())
    assert re.search(r"csws: port \d+: code to evaluate \(\d+ bytes\) from 127\.0\.0\.1:\d+", allowed.output)
    assert re.search(r"csws: port \d+: orchestra code \(\d+ bytes\) from 127\.0\.0\.1:\d+", allowed.output)
    assert "nine" not in p.output


def test_bad_requests_get_clear_answers_and_leave_csound_unharmed(perform, port):
    p = perform(orc(port), "i1 0 30")
    p.wait_for("csws: websocket server on")

    async def main():
        ws, _ = await control(port)
        cases = [
            (dict(op="set", values={"nosuch": 1}), "no channel named 'nosuch'"),
            (dict(op="set", values={"freq": "loud"}), "send a finite number"),
            (dict(op="set", values={"freq": True}), "send a finite number"),
            (dict(op="set", values={"title": 3}), "send a string"),
            (dict(op="set", values={"freq": 100, "title": 4}), "send a string"),  # all or none
            (dict(op="set", values=[1]), "values"),
            (dict(op="get", names=["freq", "nosuch"]), "no channel named 'nosuch'"),
            (dict(op="watch", names=7), "names"),
            (dict(op="launch"), "unknown op"),
        ]
        for request, why in cases:
            answer = await ask(ws, **request)
            assert why in answer.get("error", ""), (request, answer)
        await ws.send("{not json")
        assert "not JSON" in json.loads(await ws.recv())["error"]
        await ws.send(b"\x00\x01")
        assert "text messages" in json.loads(await ws.recv())["error"]
        assert (await ask(ws, "get", names=["freq"]))["ok"]["freq"] != 100, "the refused set wrote nothing"
        await ws.close()
        # Too big: closed with 1009.
        ws, _ = await control(port)
        await ws.send(json.dumps({"op": "message", "text": "x" * (70 << 10)}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), patience(5))
        assert closed.value.rcvd.code == 1009
        # A flood of writes: latest wins, then the page is closed with 1008; Csound plays on.
        ws, _ = await control(port)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(patience(20)):
                for i in range(20000):
                    await ws.send(json.dumps({"op": "set", "values": {"freq": 100 + i}}))
                await ws.recv()
        # (its close frame may be lost among the writes still under way: the console says why)
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1008
        p.wait_for("a page sent more than 1000 requests a second; closed it")
        ws, _ = await control(port)  # the port serves others as before
        assert (await ask(ws, "set", values={"freq": 321}))["ok"] is None
        await ws.close()

    asyncio.run(main())
    p.wait_for(r"freq 321\.000000")
    assert "csws.control: no channel named 'nosuch'" in p.output, "warned in Csound's console"
    p.stop()
    m = re.search(rf"csws: port {port} csws\.control \(channels\): received (\d+), rejected (\d+), sent (\d+)",
                  p.output)
    assert m and int(m.group(2)) >= 12 and int(m.group(3)) >= 12, p.output[-2000:]


def test_websocket_ui_in_the_stock_csound_command(perform, port):
    p = perform(orc(port), "i1 0 30", host="csound")
    p.wait_for("csws: websocket server on")

    async def main():
        ws, _ = await control(port)
        await ask(ws, "set", values={"freq": 555.5})
        p.wait_for(r"freq 555\.500000")
        await ask(ws, "score", text="i2 0 0.1 3")
        p.wait_for("note two 3")
        await ws.close()

    asyncio.run(main())
    assert get(port, "/")[0] == 200


def test_websocket_ui_in_a_python_host(tmp_path, port, csound):
    binding = "ctcsound" if csound == 6 else "cycsound"
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} is not installed")
    csd = tmp_path / "ui.csd"
    csd.write_text(make_csd(orc(port), "i1 0 4"))
    program = tmp_path / "host.py"
    program.write_text(textwrap.dedent(PYTHON_HOSTS[csound].format(options=REALTIME, csd=str(csd))))
    env = {k: v for k, v in os.environ.items() if k != "CSWS_CSOUND"}
    p = Performance([sys.executable, str(program)], tmp_path / "host.log", env=env)
    try:
        p.wait_for("csws: websocket server on", 20)

        async def main():
            ws, hello = await control(port)
            assert hello["nchnls"] == 1
            await ask(ws, "set", values={"freq": 777.25})
            p.wait_for(r"freq 777\.250000")
            await ws.close()

        asyncio.run(main())
        assert p.wait(30) == 0
    finally:
        p.stop()


INVALUE = """
instr 1
  ki invalue "knob"
  printf "knob %g\\n", changed2(ki), ki
  outvalue "meter", 0.75
endin
"""


def test_invalue_and_outvalue_are_channels_under_csws_run(perform, port, tmp_path):
    """csws run is the host: a piece's invalue/outvalue (CsoundQt's widgets' opcodes) read and
    write the channels pages see; a piece without websocket lines is served on --port."""
    csd = tmp_path / "inv.csd"
    csd.write_text(make_csd(INVALUE, "i1 0 30"))
    p = Performance([sys.executable, "-m", "csws", "run", "--port", str(port), str(csd), *REALTIME],
                    tmp_path / "inv.log")
    try:
        p.wait_for(rf"csws: the piece's page: http://127\.0\.0\.1:{port}/")

        async def main():
            ws, _ = await control(port)
            assert (await ask(ws, "get", names=["meter"]))["ok"] == {"meter": 0.75}
            await ask(ws, "set", values={"knob": 0.5})
            p.wait_for(r"knob 0\.5")
            await ws.close()

        asyncio.run(main())
        assert "InputChannelCallback not set" not in p.output
    finally:
        p.stop()


def test_a_variables_range_comes_from_the_orchestra(perform, port):
    body = f"""
websocket_config "range.kpitch", "20 2000 exponential"
instr 3
  kpitch websocket {port}
endin
"""
    p = perform(orc(port, body), "i3 0 30")
    p.wait_for("csws: websocket server on")
    described = json.loads(get(port, "/csws.json")[2])
    (var,) = [v for v in described["variables"] if v["name"] == "kpitch"]
    assert var["range"] == {"min": 20, "max": 2000, "behaviour": "exponential"}
    bad = perform('websocket_config "range.kx", "5 1"\n', "f0 1")
    bad.wait_for("min must be below max")
