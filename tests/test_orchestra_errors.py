"""Bad input from the orchestra: an init error that names the problem.

Each mistake ends only the note that made it: Csound prints an INIT ERROR
with our message, deletes that note, and performs the rest of the score;
another instrument keeps printing to the end, and the run exits normally.
Pieces run offline (-n), so each test takes a fraction of a second.
"""
from __future__ import annotations

import re
import socket

import pytest

from conftest import free_port

OFFLINE = ["-n", "-d"]

# Prints from start to end; its last lines prove the performance went on.
ALIVE = """
instr 99
  printks "alive %d\\n", 0.1, timeinstk()
endin
"""
ALIVE_SCORE = "i99 0 0.5"


def run_offline(perform, orc: str, score: str, **kw) -> str:
    p = perform(orc + ALIVE, score + "\n" + ALIVE_SCORE, options=OFFLINE, **kw)
    rc = p.wait(60)
    out = p.output
    # As the csound command does: it plays on, then exits 1 if there were errors.
    expected = 1 if "INIT ERROR" in out else 0
    assert rc == expected, f"csws run should exit {expected}, as csound does, got {rc}:\n{out[-3000:]}"
    return out


def assert_init_error(out: str, pattern: str) -> None:
    errors = [line for line in out.splitlines() if "INIT ERROR" in line]
    assert errors, f"no init error:\n{out[-3000:]}"
    assert any(re.search(pattern, line) for line in errors), f"{pattern!r} not in {errors}"
    assert "Segmentation" not in out and "Csound tidy up" not in out, out[-3000:]


def assert_went_on(out: str) -> None:
    # 0.5 s at 48000/32: a line every 0.1 s, the last near k-cycle 750
    alive = [int(n) for n in re.findall(r"alive (\d+)", out)]
    assert len(alive) >= 5 and alive[-1] > 600, f"the other instrument stopped early: {alive}\n{out[-3000:]}"


# ---------------------------------------------------------------- types


UNSUPPORTED = {
    "fsig input": ("""
  asig oscili 0.1, 440
  fsig pvsanal asig, 1024, 256, 1024, 1
  kd websocket {port}, fsig""", r"fsig has type 'f'"),
    "wsig input": ("""
  asig oscili 0.1, 440
  wsig spectrum asig, .01, 6, 24, 12, 1, 3
  kd websocket {port}, wsig""", r"wsig has type 'w'"),
    "fsig output": ("""
  fsig websocket {port}""", r"fsig has type 'f'"),
    "string array input": ("""
  Snames[] init 3
  kd websocket {port}, Snames""", r"Snames has type 'S\[\]'"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_type(perform, port, case):
    body, message = UNSUPPORTED[case]
    out = run_offline(perform, "instr 1\n" + body.format(port=port) + "\nendin\n", "i1 0 0.5")
    assert_init_error(out, r"websocket: " + message + r"; supported are k, a, i, S, k\[\], a\[\] and i\[\]")
    assert_went_on(out)


def test_uninitialised_output_array(perform, port):
    out = run_offline(perform, f"instr 1\n  kArr[] websocket {port}\nendin\n", "i1 0 0.5")
    assert_init_error(out, r"array kArr must be initialised before websocket uses it \(e\.g\. kArr\[\] init 8\)")
    assert_went_on(out)


# ---------------------------------------------------------------- argument count


@pytest.mark.parametrize("n", [21, 25, 70, 1100])
def test_too_many_arguments(perform, port, n):
    # Csound writes every argument's pointer into the opcode before init can
    # refuse them: the plugin reserves room for all Csound's parser allows.
    decl = "\n".join(f"  kv{i} = {i}" for i in range(n - 1))
    args = ", ".join(f"kv{i}" for i in range(n - 1))
    out = run_offline(perform, f"instr 1\n{decl}\n  kd websocket {port}, {args}\nendin\n", "i1 0 0.5")
    assert_init_error(out, rf"websocket: {n} arguments given, at most 20 \(outputs and inputs together\)")
    assert_went_on(out)


@pytest.mark.parametrize("n", [21, 70, 3000])
def test_too_many_outputs(perform, port, n):
    # Csound's parser bounds inputs (VARGMAX) but not outputs.
    outs = ", ".join(f"kv{i}" for i in range(n))
    out = run_offline(perform, f"instr 1\n  {outs} websocket {port}\nendin\n", "i1 0 0.5")
    assert_init_error(out, rf"websocket: {n} arguments given, at most 20")
    assert_went_on(out)


def test_twenty_arguments_are_fine(perform, port):
    decl = "\n".join(f"  kv{i} = {i}" for i in range(19))
    args = ", ".join(f"kv{i}" for i in range(19))
    out = run_offline(perform, f"instr 1\n{decl}\n  kd websocket {port}, {args}\nendin\n", "i1 0 0.5")
    assert "INIT ERROR" not in out, out[-3000:]
    assert_went_on(out)


# ---------------------------------------------------------------- names


def test_same_name_twice_in_one_instance(perform, port):
    out = run_offline(perform, f"instr 1\n  kv = 1\n  kd websocket {port}, kv, kv\nendin\n", "i1 0 0.5")
    assert_init_error(out, rf"websocket: variable kv is given twice on port {port}")
    assert_went_on(out)


def test_same_name_in_two_instruments(perform, port):
    # Notes of one line share kv; another instrument's line may not take it while
    # they play: it is refused with a word on how to share a value, the first plays on.
    orc = f"""instr 1
  kv = p4
  kd websocket {port}, kv
  printks "first %d\\n", 0.1, p4
endin
instr 2
  kv = p4
  kd websocket {port}, kv
endin
"""
    out = run_offline(perform, orc, "i1 0 0.5 1\ni2 0.1 0.3 2")
    assert_init_error(out, rf"websocket: variable kd is already on offer on port {port} by instr 1; .*global")
    assert_went_on(out)
    assert len(re.findall(r"first 1", out)) >= 5, out[-3000:]


def test_orchestra_header_is_refused(perform, port):
    # Csound stops a piece whose header fails its init: the message says where the line goes.
    p = perform(f"gkv websocket {port}\n" + ALIVE, ALIVE_SCORE, options=OFFLINE)
    assert p.wait(60) != 0
    out = p.output
    assert_init_error(out, r"websocket: in the orchestra header \(instr 0\).*instrument")


def test_same_name_on_two_ports_is_fine(perform, port):
    other = free_port()
    orc = "instr 1\n  kv = 1\n  kd websocket p4, kv\nendin\n"
    out = run_offline(perform, orc, f"i1 0 0.5 {port}\ni1 0 0.5 {other}")
    assert "INIT ERROR" not in out, out[-3000:]
    assert_went_on(out)


# ---------------------------------------------------------------- ports


def test_port_taken_by_another_process(perform, port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        out = run_offline(perform, f"instr 1\n  kv = 1\n  kd websocket {port}, kv\nendin\n", "i1 0 0.5")
    assert_init_error(out, rf"websocket: cannot listen on 127\.0\.0\.1:{port}: Address already in use \(another program")
    assert_went_on(out)


@pytest.mark.parametrize("bad", ["0", "70000", "1.5", "-1"])
def test_port_out_of_range(perform, bad):
    out = run_offline(perform, f"instr 1\n  kv = 1\n  kd websocket {bad}, kv\nendin\n", "i1 0 0.5")
    assert_init_error(out, rf"websocket: port {re.escape(bad)} is not a whole number from 1 to 65535")
    assert_went_on(out)


def test_port_from_a_variable(perform):
    # i-time values are checked too, not just constants.
    out = run_offline(perform, "instr 1\n  iport = 65536\n  kv = 1\n  kd websocket iport, kv\nendin\n", "i1 0 0.5")
    assert_init_error(out, r"websocket: port 65536 is not a whole number")
    assert_went_on(out)
