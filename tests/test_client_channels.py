"""csws.client's channels, score events and code (the csws.control socket) against a real Csound,
and `csws ls`, `csws tail --channel`, `csws send --channel`.

Csound prints what it reads from a channel with %.17g, which reads back as
the same float64: a value written is checked bit-exact.
"""
from __future__ import annotations

import asyncio
import math
import re

import pytest

from conftest import patience
from csws.client import Channel, Closed, ControlError, connect_sync
from test_commands import csws
from wsclient import offering, until

PIECE = """chn_k "freq", 1, 3, 440, 20, 20000
chn_k "count", 2
chn_S "title", 3
chn_S "status", 2

instr 1
  kcount init 0
  kcount += 1
  chnset kcount, "count"
  chnset 1/3, "third"
  kfreq chnget "freq"
  if changed2(kfreq) == 1 then
    printf "freq %.17g\\n", kcount, kfreq
  endif
  Stitle chngetks "title"
  if changed2(Stitle) == 1 then
    printf "title [%s]\\n", kcount, Stitle
  endif
  Sstatus sprintfk "count %d", kcount
  chnsetks Sstatus, "status"
  kd websocket {port}, kcount
endin

instr 2
  prints "note %d\\n", p4
endin"""

CHANNELS = {"freq", "count", "title", "status", "third"}


def start(perform, port: int, score: str = "i1 0 120", **kw):
    p = perform(PIECE.format(port=port), score, **kw)

    async def ready():
        await (await offering(port, "kd")).close()

    asyncio.run(ready())
    return p


def run(coro):
    return asyncio.run(coro)


async def next_of(changes, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(patience(timeout)):
        return await anext(changes)


def test_read_write_and_list(perform, port):
    p = start(perform, port)

    async def main():
        async with await offering(port, "kd") as cs:
            third = await cs.channel("third")
            count = await cs.channel("count")
            later = await cs.channel("count")
            await cs.set_channel("freq", 440 + 1 / 3)
            p.wait_for(r"freq 440\.3")
            await cs.set_channels({"freq": 1e-300, "title": "héllo wörld"})
            p.wait_for(r"title \[héllo wörld\]")
            title = await cs.channel("title")
            status = await cs.channel("status")
            channels = {c.name: c for c in await cs.channels()}
            return third, count, later, title, status, channels

    third, count, later, title, status, channels = run(main())
    assert third == 1 / 3 and type(third) is float  # bit-exact
    assert count.is_integer() and later >= count
    assert [float(v) for v in re.findall(r"freq (\S+)", p.output)] == [440 + 1 / 3, 1e-300]
    assert title == "héllo wörld"
    assert re.fullmatch(r"count \d+", status)
    assert CHANNELS <= channels.keys()
    assert channels["freq"] == Channel("freq", "control", "from_web", 440, 20, 20000, "exponential")
    assert channels["third"] == Channel("third", "control", "to_web")
    # chn_k mode 2, but Csound 6 and 7 report a channel that a k-rate chnset writes as input and output.
    assert channels["count"].type == "control" and channels["count"].direction in ("to_web", "both")
    assert channels["title"] == Channel("title", "string", "both")
    assert channels["status"].direction == "to_web" and channels["status"].type == "string"


def test_watch(perform, port):
    start(perform, port)

    async def main():
        async with await offering(port, "kd") as cs, await offering(port, "kd") as other:
            async with cs.watch("count") as counts:
                first = await next_of(counts)
                seen = [(await next_of(counts))["count"] for _ in range(20)]
                await asyncio.sleep(0.5)  # the piece counts on; the client keeps only the newest
                caught_up = (await next_of(counts))["count"]
                after = (await next_of(counts))["count"]
            async with cs.watch() as every:
                everything = await next_of(every)
                await other.set_channel("freq", 1000)
                freq = await until(every, lambda d: "freq" in d)
                await other.set_channel("title", "from the other")
                title = await until(every, lambda d: "title" in d)
                # A second watch on the same socket, ended: the first goes on.
                async with cs.watch("count") as counts:
                    again = await next_of(counts)
                more = await until(every, lambda d: "count" in d)
            # And the other way round: a watch of everything ends, one of "count" goes on.
            async with cs.watch("count") as counts:
                async with cs.watch() as every:
                    await next_of(every)
                tail = [(await next_of(counts))["count"] for _ in range(5)]
            return first, seen, caught_up, after, everything, freq, title, again, more, tail

    first, seen, caught_up, after, everything, freq, title, again, more, tail = run(main())
    assert list(first) == ["count"] and first["count"].is_integer()
    values = [first["count"], *seen]
    assert values == sorted(set(values)), "each change once, in order"
    assert caught_up - seen[-1] > 300, "after half a second: the newest value (1500 k-cycles a second)"
    assert after > caught_up
    assert CHANNELS <= everything.keys()  # the first: every channel's current value
    assert everything["third"] == 1 / 3 and everything["title"] == ""
    assert freq["freq"] == 1000.0
    assert title["title"] == "from the other"
    assert list(again) == ["count"] and more["count"] > everything["count"]
    assert tail == sorted(set(tail))


def test_score_and_refusals(perform, port):
    p = start(perform, port)

    async def main():
        async with await offering(port, "kd") as cs:
            t0 = await cs.score_time()
            await cs.score("i 2 0 0.1 42   ; a comment\ni 2 0.2 0.1 43")
            p.wait_for(r"note 43")
            t1 = await cs.score_time()
            await cs.message("hello from Python")
            errors = []
            for call in (cs.score("e"), cs.score("i 2 0 1 7\ns"), cs.score('#include "/etc/passwd"'),
                         cs.channel("nope"), cs.set_channel("nope", 1), cs.set_channel("freq", "abc"),
                         cs.set_channel("title", 3), cs.set_channels({"freq": 1, "title": 2}),
                         cs.compile_orc("instr 9\nendin"), cs.eval_code("return 1+1"), cs.watch("nope").__anext__()):
                with pytest.raises(ControlError) as e:
                    await call
                errors.append(e.value)
            with pytest.raises(ValueError, match="finite number"):
                await cs.set_channel("freq", math.inf)
            with pytest.raises(ValueError, match="at most 65536"):
                await cs.score("i 2 0 1\n" * 10000)
            # Csound goes on untouched: the channel set with a wrong title was not written either.
            return t0, t1, errors, await cs.channel("freq"), await cs.score_time()

    t0, t1, errors, freq, t2 = run(main())
    assert 0 < t0 < t1 < t2
    assert p.output.count("note 42") == 1 and "note 7" not in p.output
    p.wait_for(r"csws page: hello from Python")
    assert [e.op for e in errors] == ["score"] * 3 + ["get", "set", "set", "set", "set", "orc", "eval", "watch"]
    text = [str(e) for e in errors]
    assert "e ends the performance" in text[0]
    assert "line 2" in text[1] and "'s'" in text[1]
    assert "#" in text[2]
    assert "no channel named 'nope'" in text[3] and "freq" in text[3] and text[3] == errors[3].reason
    assert "no channel named 'nope'" in text[4]
    assert "freq is a control channel" in text[5]
    assert "title is a string channel" in text[6] and "title is a string channel" in text[7]
    assert all("--allow-code" in t for t in text[8:10])
    assert "nope" in text[10]
    assert freq != 1  # a set with a wrong value writes none


def test_code_when_allowed(perform, port):
    p = start(perform, port, env={"CSWS_ALLOW_CODE": "1"})

    async def main():
        async with await offering(port, "kd") as cs:
            two = await cs.eval_code("return 1+1")
            await cs.compile_orc('instr 9\n  prints "compiled %d\\n", p4\nendin')
            await cs.score("i 9 0 0.1 7")
            p.wait_for(r"compiled 7")
            with pytest.raises(ControlError, match="could not compile"):
                await cs.compile_orc("instr 10\n  this is not csound\nendin")
            return two

    assert run(main()) == 2.0


def test_watch_reconnects(perform, port):
    """The note ends (the port and its control socket close) and a later one opens the port again."""
    perform(f"instr 1\n  kcount init p4\n  kcount += 1\n  chnset kcount, \"count\"\n"
            f"  kd websocket {port}, kcount\nendin", "i1 0 3 0\ni1 5 30 100000")

    async def main():
        async with await offering(port, "kd", reconnect=True) as cs:
            seen = []
            async with asyncio.timeout(patience(20)):
                async for values in cs.watch("count"):
                    seen.append(values["count"])
                    if values["count"] > 100000 + 10:
                        return seen

    seen = run(main())
    assert seen == sorted(seen) and seen[0] < 100000 < seen[-1]


def test_sync_client_and_the_end(perform, port):
    start(perform, port, score="i1 0 6")
    with connect_sync(f"ws://127.0.0.1:{port}") as cs:
        cs.set_channel("title", "sync")
        assert cs.channel("title") == "sync"
        assert {c.name for c in cs.channels()} >= CHANNELS
        assert cs.score_time() > 0
        with cs.watch("count") as counts:
            a, b = next(counts)["count"], next(counts)["count"]
            assert b > a
        counts = cs.watch("count")
        with pytest.raises(Closed):  # the piece ends: the server goes away
            for _ in counts:
                pass


def test_commands(perform, port):
    p = start(perform, port)
    url = f"ws://127.0.0.1:{port}"
    ls = csws("ls", url)
    assert ls.returncode == 0, ls.stderr
    lines = ls.stdout.splitlines()
    assert lines[0].split() == ["kd", "from_web", "k", "-"]
    assert lines[1].split() == ["kcount", "to_web", "k", "-"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows.keys() >= CHANNELS
    assert rows["freq"] == ["freq", "from_web", "control", "440", "20", "20000", "exponential"]
    assert rows["third"] == ["third", "to_web", "control", "-", "-", "-", "-"]
    assert rows["title"] == ["title", "both", "string", "-", "-", "-", "-"]
    second_column = {len(line) - len(line.split(" ", 1)[1].lstrip()) for line in lines}
    assert len(second_column) == 1, "name, direction and type line up across variables and channels"

    assert csws("send", "--channel", url, "freq", "-2.5").returncode == 0
    p.wait_for(r"freq -2\.5\n")
    assert csws("send", "--channel", str(port), "title", "hello", "wörld").returncode == 0
    p.wait_for(r"title \[hello wörld\]")
    counts = csws("tail", "--channel", f"127.0.0.1:{port}", "count", "--count", "5").stdout.splitlines()
    assert len(counts) == 5 and [float(c) for c in counts] == sorted({float(c) for c in counts})
    assert csws("tail", "--channel", url, "title", "--count", "1", "--json").stdout == '"hello wörld"\n'

    errors = [
        csws("send", "--channel", url, "freq", "1", "2"),
        csws("send", "--channel", url, "freq", "abc"),
        csws("send", "--channel", url, "freq"),
        csws("send", "--channel", url, "freq", "inf"),
        csws("send", "--channel", url, "freq", "--wav", "x.wav"),
    ]
    assert [(e.returncode, e.stderr) for e in errors] == [
        (1, "csws send: channel freq (control) takes 1 number; got 2 values\n"),
        (1, "csws send: channel freq (control) takes a number: could not convert string to float: 'abc'\n"),
        (1, "csws send: give a value to send to channel freq\n"),
        (1, "csws send: channel freq takes a finite number or a str; got inf\n"),
        (1, "csws send: --wav streams into a-rate variables, not channels\n"),
    ]
    nope = csws("send", "--channel", url, "nope", "1")
    assert nope.returncode == 1
    assert nope.stderr.startswith(f"csws send: no channel named 'nope' at {url}; Csound's channels: ")
    nope = csws("tail", "--channel", url, "nope")
    assert nope.returncode == 1 and nope.stderr.startswith("csws tail: no channel named 'nope'")
