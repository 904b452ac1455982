"""The crowd's voice in a real Csound: `websocket_config "combine.NAME", RULE` makes a from-web
k or k[] variable combine its clients (mean, sum, min, max, count) instead of latest-wins.

Many real websocket clients send known values over loopback; Csound sends what it reads back
on a to-web array, so the test sees the value the orchestra got, k-cycle by k-cycle.
"""
from __future__ import annotations

import asyncio
import json
import math
import struct
import time

import numpy as np

from conftest import patience
from test_http import get
from wsclient import connect_var, offering, until

RULES = ("mean", "sum", "min", "max", "count")


def crowd_orc(port: int) -> str:
    """One from-web k variable per rule; kread sends the five values Csound reads, each k-cycle."""
    config = "\n".join(f'websocket_config "combine.k{r}", "{r}"' for r in RULES)
    inputs = "\n".join(f"  k{r} websocket {port}" for r in RULES)
    reads = "\n".join(f"  kread[{i}] = k{r}" for i, r in enumerate(RULES))
    return f"""websocket_config "max_clients", "400"
{config}
instr 1
{inputs}
  kread[] init {len(RULES)}
{reads}
  kd websocket {port}, kread
endin"""


def expected(values: list[float]) -> list[float]:
    """What each rule gives for these clients' values (mean and sum exactly rounded, as csws does)."""
    return [math.fsum(values) / len(values), math.fsum(values), min(values), max(values), float(len(values))]


class Member:
    """One person in the crowd: a websocket per combined variable, sending the same value to each."""

    def __init__(self, sockets: list) -> None:
        self.sockets = sockets

    @classmethod
    async def join(cls, port: int) -> Member:
        return cls(list(await asyncio.gather(*(connect_var(port, f"k{r}", query="direction=from_web")
                                               for r in RULES))))

    async def say(self, value: float) -> None:
        for ws in self.sockets:
            await ws.send(struct.pack("<d", value))

    async def leave(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets))


async def reads(rx, want: list[float], timeout: float = 10.0) -> np.ndarray:
    """Wait until Csound reads exactly `want` (every rule at once)."""
    return await until(rx, lambda f: list(f) == want, timeout=timeout)


def test_fifty_clients_combine_exactly_and_join_and_leave(perform, port):
    perform(crowd_orc(port), "i1 0 120")

    async def main():
        async with await offering(port, "kmean", "kread") as cs:
            async with cs.subscribe("kread") as rx:
                crowd = list(await asyncio.gather(*(Member.join(port) for _ in range(50))))
                values = [float(i) for i in range(1, 51)]
                for member, v in zip(crowd, values):
                    await member.say(v)
                await reads(rx, expected(values))  # 25.5, 1275, 1, 50, 50
                assert expected(values) == [25.5, 1275.0, 1.0, 50.0, 50.0]

                status, _, body = get(port, "/csws.json")
                described = {v["name"]: v["combine"] for v in json.loads(body)["variables"]}
                assert described["kmean"] == {"rule": "mean", "window": 0.0, "counted": 50}
                assert described["kcount"]["counted"] == 50
                assert described["kread"] is None  # to the web: nothing to combine

                # The first ten leave: they stop counting at once.
                await asyncio.gather(*(m.leave() for m in crowd[:10]))
                await reads(rx, expected(values[10:]))  # 30.5, 1220, 11, 50, 40

                # Someone new joins with a value above everyone's.
                newcomer = await Member.join(port)
                await newcomer.say(1000.0)
                await reads(rx, expected(values[10:] + [1000.0]))

                # Someone changes their mind: their new value replaces the old one.
                await crowd[20].say(-5.0)
                values[20] = -5.0
                await reads(rx, expected(values[10:] + [1000.0]))
                await asyncio.gather(*(m.leave() for m in crowd[10:]))
                await reads(rx, [1000.0, 1000.0, 1000.0, 1000.0, 1.0])
                # Nobody left: count and sum read 0, mean, min and max keep their last values.
                await newcomer.leave()
                await reads(rx, [1000.0, 0.0, 1000.0, 1000.0, 0.0])

    asyncio.run(main())


def test_one_client_flooding_counts_once(perform, port):
    perform(crowd_orc(port), "i1 0 120")

    async def main():
        async with await offering(port, "kmean", "kread") as cs:
            async with cs.subscribe("kread") as rx:
                quiet = list(await asyncio.gather(*(Member.join(port) for _ in range(9))))
                for member in quiet:
                    await member.say(10.0)
                await reads(rx, expected([10.0] * 9))
                flooder = await Member.join(port)
                for i in range(2000):  # as fast as the socket takes them: hundreds per k-cycle
                    await flooder.say(float(i % 100))
                await flooder.say(110.0)
                want = expected([10.0] * 9 + [110.0])  # mean 20: the flood's last value, once
                # Every k-cycle Csound read during the flood: ten clients at most, never more.
                counts = []
                await until(rx, lambda f: counts.append(f[4]) or list(f) == want)
                assert set(counts) <= {9.0, 10.0} and counts[-1] == 10.0
                status, _, body = get(port, "/csws.json")
                described = {v["name"]: v["combine"] for v in json.loads(body)["variables"]}
                assert described["kmean"]["counted"] == 10
                return want[0]

    assert asyncio.run(main()) == 20.0


def test_the_window_expires_silent_clients(perform, port):
    """combine_window: a client silent for longer stops counting; without a window it counts
    while connected."""
    orc = f"""websocket_config "combine.kwin", "count"
websocket_config "combine_window.kwin", "1"
websocket_config "combine.kall", "count"
instr 1
  kwin websocket {port}
  kall websocket {port}
  kread[] init 2
  kread[0] = kwin
  kread[1] = kall
  kd websocket {port}, kread
endin"""
    perform(orc, "i1 0 120")

    async def main():
        async with await offering(port, "kwin", "kread") as cs:
            async with cs.subscribe("kread") as rx:
                silent = [await connect_var(port, name, query="direction=from_web")
                          for name in ("kwin", "kwin", "kall", "kall")]
                talker = await connect_var(port, "kwin", query="direction=from_web")
                spoke = time.monotonic()
                for ws in silent:
                    await ws.send(struct.pack("<d", 1.0))
                await talker.send(struct.pack("<d", 1.0))
                await reads(rx, [3.0, 2.0])

                async def keep_talking():
                    while True:
                        await asyncio.sleep(0.2)
                        await talker.send(struct.pack("<d", 1.0))

                talking = asyncio.ensure_future(keep_talking())
                await reads(rx, [1.0, 2.0], timeout=5)  # the two silent ones expire, the talker stays
                expired = time.monotonic() - spoke
                await asyncio.sleep(1.5)  # talking keeps it in; kall, with no window, keeps its two
                await reads(rx, [1.0, 2.0], timeout=1)
                talking.cancel()
                await reads(rx, [0.0, 2.0], timeout=5)  # the talker falls silent: it expires too
                return expired

    expired = asyncio.run(main())
    assert 1.0 <= expired < 1.0 + patience(1.0)


def test_arrays_combine_element_by_element(perform, port):
    orc = f"""websocket_config "combine.kvotes", "mean"
websocket_config "combine.kpeaks", "max"
instr 1
  kvotes[] init 4
  kvotes websocket {port}
  kpeaks[] init 4
  kpeaks websocket {port}
  kread[] init 8
  kread[0] = kvotes[0]
  kread[1] = kvotes[1]
  kread[2] = kvotes[2]
  kread[3] = kvotes[3]
  kread[4] = kpeaks[0]
  kread[5] = kpeaks[1]
  kread[6] = kpeaks[2]
  kread[7] = kpeaks[3]
  kd websocket {port}, kread
endin"""
    p = perform(orc, "i1 0 120")
    rows = [np.array([1, 0, 0, 4.0]), np.array([0, 1, 0, 8.0]), np.array([0, 1, 1, -3.0]), np.array([0, 1, 0, 3.0])]

    async def main():
        async with await offering(port, "kvotes", "kread") as cs:
            async with cs.subscribe("kread") as rx:
                socks = []
                for row in rows:
                    for name in ("kvotes", "kpeaks"):
                        ws = await connect_var(port, name, query="direction=from_web")
                        await ws.send(row.tobytes())
                        socks.append(ws)
                want = [*np.mean(rows, axis=0), *np.max(rows, axis=0)]
                assert want == [0.25, 0.75, 0.25, 3.0, 1.0, 1.0, 1.0, 8.0]
                await reads(rx, want)
                # A client with another length is refused with the usual message and changes nothing.
                odd = await connect_var(port, "kvotes", query="direction=from_web")
                await odd.send(np.array([100.0, 100.0, 100.0]).tobytes())
                await asyncio.sleep(0.3)
                await reads(rx, want, timeout=1)

    asyncio.run(main())
    p.wait_for(r"kvotes: a binary message of 24 bytes; expected 32 \(4 float64\) or 16 \(4 float32\) \(dropped\)")


def test_a_bad_rule_is_a_clear_init_error(perform, port):
    orc = f"""websocket_config "combine.kvote", "median"
instr 1
  kvote websocket {port}
endin"""
    p = perform(orc, "i1 0 1", options=["-n", "-d"])
    p.wait(30)
    assert ("websocket_config: combine.kvote = 'median': give a variable's name and one of "
            "latest, mean, sum, min, max, count") in p.output
    assert "websocket server on" not in p.output


def test_a_bad_window_is_a_clear_init_error(perform, port):
    orc = f"""websocket_config "combine_window.kvote", "-1"
instr 1
  kvote websocket {port}
endin"""
    p = perform(orc, "i1 0 1", options=["-n", "-d"])
    p.wait(30)
    assert ("websocket_config: combine_window.kvote = '-1': give a variable's name and seconds from 0 "
            "(as long as the client stays connected) to 86400") in p.output


def test_a_rule_on_a_variable_that_cannot_combine_is_ignored_saying_so(perform, port):
    orc = f"""websocket_config "combine.Sname", "mean"
instr 1
  Sname websocket {port}
endin"""
    p = perform(orc, "i1 0 120")

    async def main():
        ws = await connect_var(port, "Sname", query="direction=from_web")
        await ws.send("hello")
        await ws.close()

    asyncio.run(main())
    p.wait_for(r"combine\.Sname = 'mean' ignored: only k and k\[\] variables from the web combine their clients")


def test_the_orchestra_changes_the_rule_while_clients_are_counted(perform, port):
    """Like range.NAME, combine.NAME applies whenever the line comes: a later note switches mean to
    sum, and Csound reads the sum at once, with no client sending anything new."""
    orc = f"""websocket_config "combine.kvote", "mean"
instr 1
  kvote websocket {port}
  kswitch websocket {port}
  kdone init 0
  if kswitch == 1 && kdone == 0 then
    event "i", 2, 0, 0.01
    kdone = 1
  endif
  kread[] init 1
  kread[0] = kvote
  kd websocket {port}, kread
endin
instr 2
  websocket_config "combine.kvote", "sum"
endin"""
    perform(orc, "i1 0 120")

    async def main():
        async with await offering(port, "kvote", "kread") as cs:
            async with cs.subscribe("kread") as rx:
                voters = [await connect_var(port, "kvote", query="direction=from_web") for _ in range(3)]
                for ws, v in zip(voters, (1.0, 2.0, 6.0)):
                    await ws.send(struct.pack("<d", v))
                await reads(rx, [3.0])
                await cs.send("kswitch", 1.0)
                await reads(rx, [9.0])
                _, _, body = get(port, "/csws.json")
                return {v["name"]: v["combine"] for v in json.loads(body)["variables"]}["kvote"]

    assert asyncio.run(main()) == {"rule": "sum", "window": 0.0, "counted": 3}
