"""`csws ls`, `csws tail`, `csws send` through the installed `csws` command, against a real Csound."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from conftest import patience
from wsclient import offering

KSMPS = 32

PIECE = """instr 1
  kcount init 0
  kcount += 1
  kval = kcount / 7
  kArr[] init 2, 3
  kI = 0
  while kI < 6 do
    kArr[int(kI / 3)][kI % 3] = kcount * 10 + kI
    kI += 1
  od
  aArr[] init 2
  aArr[0] = a(kcount)
  aArr[1] = a(-kcount)
  Sval sprintfk "count %d", kcount
  ival = 1/3
  kin websocket {port}
  kback = kin
  kArrIn[] init 2, 2
  kArrIn websocket {port}
  kArrBack[] = kArrIn
  Sin websocket {port}
  Sback strcpyk Sin
  ain websocket {port}
  aback = ain
  kd websocket {port}, kval, kArr, aArr, Sval, ival, kback, kArrBack, Sback, aback
endin"""


def csws(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """The `csws` console script next to this Python (python -m csws where there is none);
    timeout: seconds on an idle machine (patience)."""
    script = Path(sys.executable).with_name("csws")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "csws"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=patience(timeout))


def start(perform, port: int):
    p = perform(PIECE.format(port=port), "i1 0 120")

    async def ready():
        await (await offering(port, "kin", "kd")).close()

    asyncio.run(ready())
    return p


def test_ls_and_tail(perform, port):
    start(perform, port)
    url = f"ws://127.0.0.1:{port}"
    ls = csws("ls", url)
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.splitlines() == [
        "kin       from_web  k    -",
        "kArrIn    from_web  k[]  2x2",
        "Sin       from_web  S    -",
        "ain       from_web  a    32",
        "kd        from_web  k    -",
        "kval      to_web    k    -",
        "kArr      to_web    k[]  2x3",
        "aArr      to_web    a[]  2x32",
        "Sval      to_web    S    -",
        "ival      to_web    i    -",
        "kback     to_web    k    -",
        "kArrBack  to_web    k[]  2x2",
        "Sback     to_web    S    -",
        "aback     to_web    a    32",
    ]

    k = csws("tail", str(port), "kval", "--count", "20")  # the address as a bare port number
    lines = k.stdout.splitlines()
    counts = [round(float(x) * 7) for x in lines]
    assert k.returncode == 0 and len(lines) == 20
    assert counts == list(range(counts[0], counts[0] + 20)) and lines == [repr(c / 7) for c in counts]

    j = csws("tail", f"127.0.0.1:{port}", "kArr", "--count", "5", "--json")
    arrays = [json.loads(x) for x in j.stdout.splitlines()]
    first = arrays[0][0][0] // 10
    assert arrays == [[[(first + i) * 10 + 3 * r + c for c in range(3)] for r in range(2)] for i in range(5)]

    a = csws("tail", url, "aArr", "--count", "3")
    rows = [[float(v) for v in line.split()] for line in a.stdout.splitlines()]
    assert len(rows) == 3 and all(len(r) == 2 * KSMPS for r in rows)
    for r in rows:  # element 0's samples, then element 1's (a(k) ramps within the k-cycle)
        assert r[KSMPS:] == [-v for v in r[:KSMPS]] and r[0] != r[KSMPS - 1]

    s = csws("tail", url, "Sval", "--count", "3")
    n = [int(line.removeprefix("count ")) for line in s.stdout.splitlines()]
    assert n == list(range(n[0], n[0] + 3))
    assert csws("tail", url, "Sval", "--count", "1", "--json").stdout.startswith('"count ')

    i = csws("tail", url, "ival")  # one value, and done
    assert (i.returncode, i.stdout) == (0, "0.3333333333333333\n")


def test_send_values(perform, port):
    start(perform, port)
    url = f"ws://127.0.0.1:{port}"

    async def echoed(name, pred):
        async with await offering(port, name) as cs:
            async with cs.subscribe(name) as sub:
                async with asyncio.timeout(patience(10)):
                    async for frame in sub:
                        if pred(frame):
                            return frame

    assert csws("send", url, "kin", "-2.5").returncode == 0  # a negative number is a value, not an option
    assert asyncio.run(echoed("kback", lambda f: f == -2.5)) == -2.5
    assert csws("send", url, "kArrIn", "1", "2", "3", "4.5").returncode == 0
    got = asyncio.run(echoed("kArrBack", lambda f: f[1, 1] == 4.5))
    np.testing.assert_array_equal(got, [[1, 2], [3, 4.5]])
    assert csws("send", url, "Sin", "hello", "wörld").returncode == 0
    assert asyncio.run(echoed("Sback", lambda f: f == "hello wörld")) == "hello wörld"

    errors = [
        csws("send", url, "kin", "1", "2"),
        csws("send", url, "kArrIn", "1", "2", "3"),
        csws("send", url, "kin", "abc"),
        csws("send", url, "knope", "1"),
        csws("send", url, "kval", "1"),
        csws("tail", url, "kin"),
        csws("send", url, "kin"),
    ]
    assert [(e.returncode, e.stdout, e.stderr) for e in errors] == [
        (1, "", "csws send: kin (k) takes 1 value; got 2\n"),
        (1, "", "csws send: kArrIn (k[]) takes 4 values (shape (2, 2), row-major); got 3\n"),
        (1, "", "csws send: kin (k) takes numbers: could not convert string to float: 'abc'\n"),
        (1, "", f"csws send: knope is not on offer at {url}; on offer: Sback, Sin, Sval, aArr, aback, "
                "ain, ival, kArr, kArrBack, kArrIn, kback, kd, kin, kval\n"),
        (1, "", "csws send: kval goes from Csound to the web: subscribe to it, it takes nothing\n"),
        (1, "", "csws tail: kin goes from the web to Csound: send() to it, there is nothing to subscribe to\n"),
        (1, "", "csws send: give a value to send to kin\n"),
    ]


def write_wav(path: Path, samples: np.ndarray, rate: int = 48000) -> None:
    """16-bit PCM; samples (frames, channels) of int16."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def test_send_wav_streams_in_real_time(perform, port, tmp_path):
    start(perform, port)
    n = 48000 // 2 + 10  # half a second, and a last block padded with silence
    ints = (np.arange(n) % 30000 + 1).astype(np.int16)  # never 0: silence tells the FIFO ran dry
    write_wav(tmp_path / "ramp.wav", ints[:, None])
    script = Path(sys.executable).with_name("csws")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "csws"]

    async def main():
        async with await offering(port, "aback") as cs:
            async with cs.subscribe("aback") as sub:
                proc = await asyncio.create_subprocess_exec(
                    *cmd, "send", f"ws://127.0.0.1:{port}", "ain", "--wav", str(tmp_path / "ramp.wav"))
                loop = asyncio.get_running_loop()
                heard, started, done = [], None, None
                async with asyncio.timeout(patience(20)):
                    async for block in sub:
                        if block.any():
                            started = started or loop.time()
                            heard.append(block)
                            done = loop.time()
                        if sum(len(b) for b in heard) >= n:
                            break
                return heard, done - started, await proc.wait()

    heard, seconds, rc = asyncio.run(main())
    assert rc == 0
    got = np.concatenate(heard)[:n]
    np.testing.assert_array_equal(got, ints / 32768)  # every sample, bit-exact, in order
    assert np.concatenate(heard)[n:].tolist() == [0.0] * (len(heard) * KSMPS - n)
    assert seconds > 0.35, f"half a second of audio took {seconds:.2f} s"  # paced, not dumped


def test_send_wav_refusals(perform, port, tmp_path):
    start(perform, port)
    url = f"ws://127.0.0.1:{port}"
    write_wav(tmp_path / "cd.wav", np.zeros((100, 1)), rate=44100)
    write_wav(tmp_path / "stereo.wav", np.zeros((100, 2)))
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    results = [
        csws("send", url, "ain", "--wav", str(tmp_path / "cd.wav")),
        csws("send", url, "ain", "--wav", str(tmp_path / "stereo.wav")),
        csws("send", url, "ain", "--wav", str(tmp_path / "junk.wav")),
        csws("send", url, "kin", "--wav", str(tmp_path / "stereo.wav")),
        csws("send", url, "ain", "--wav", str(tmp_path / "missing.wav")),
    ]
    cd, stereo, junk = (str(tmp_path / f) for f in ("cd.wav", "stereo.wav", "junk.wav"))
    assert [(r.returncode, r.stderr) for r in results] == [
        (1, f"csws send: {cd} is 44100 Hz but the piece runs at sr=48000; resample it first, "
            f"e.g. sox {cd} -r 48000 out.wav\n"),
        (1, f"csws send: {stereo} has 2 channels; ain (a) takes 1\n"),
        (1, f"csws send: {junk}: file does not start with RIFF id; only PCM .wav files (8, 16, 24 or 32-bit "
            f"integers) are read: convert with e.g. sox {junk} -b 16 out.wav\n"),
        (1, "csws send: kin (k) is not an a-rate input: --wav needs an a or a[] variable\n"),
        (1, f"csws send: {tmp_path / 'missing.wav'}: No such file or directory\n"),
    ]
