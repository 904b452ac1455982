"""Opus for the room (issue 22, point 2): ?codec=opus with a real Csound, real websocket
clients over loopback and headless Chromium's WebCodecs.

play(..., {codec: "opus"}) of a 441 Hz sine recorded by a worklet, at equal and different
rates (Csound at 48000 or 44100, the AudioContext at the other): pitch, continuity, no
silence after the warm-up, and the bytes on the wire against PCM's; a two-channel a[];
two settings on one variable at once; csws.client decoding; and a server without the
opus extra (PyAV hidden from it): /csws.json offers only pcm, codec=opus is refused with
a reason that says what to install, and play() falls back to PCM with a console warning.
"""
from __future__ import annotations

import asyncio
import base64
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_soundcard import AMP, FREQ, RECORD, WARMUP, browser, judge, page  # noqa: F401 - fixtures
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from conftest import patience

pytest.importorskip("av", reason="the opus extra (PyAV) is not installed")

ORC = """
instr 1
  asine poscil {amp}, {freq}
  aarr[] init 2
  aarr[0] = asine
  aarr[1] poscil {amp}, {freq2}
  kd websocket {port}, asine, aarr
endin
"""
FREQ2 = 661.5

# A recorder worklet like test_soundcard's, for one or two channels.
PAGE = """<!DOCTYPE html>
<script type="module">
import { connect } from "/csws.js";
const cs = connect();
window.errors = [];
window.warnings = [];
const warn = console.warn;
console.warn = (...a) => { window.warnings.push(a.join(" ")); warn(...a); };
cs.addEventListener("error", (e) => window.errors.push(e.detail.message));
const RECORDER = `registerProcessor("recorder", class extends AudioWorkletProcessor {
  constructor() { super(); this.bufs = [[], []]; this.n = 0; }
  process(inputs) {
    for (let c = 0; c < 2; c++) {
      const x = inputs[0][c];
      if (x) this.bufs[c].push(new Float32Array(x));
    }
    if (++this.n === 64) { this.port.postMessage(this.bufs); this.bufs = [[], []]; this.n = 0; }
    return true;
  }
});`;
const b64 = (parts) => {
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  const bytes = new Uint8Array(all.buffer);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
window.record = async (name, rate, seconds, warmup, options) => {
  const context = new AudioContext({ sampleRate: rate });
  await context.audioWorklet.addModule(URL.createObjectURL(new Blob([RECORDER], { type: "text/javascript" })));
  const player = await cs.play(name, { context, connect: false, latency: 0.15, ...options });
  const channels = player.node.channelCount;
  const rec = new AudioWorkletNode(context, "recorder", { channelCount: 2, channelCountMode: "explicit" });
  const got = [[], []];
  rec.port.onmessage = (e) => { got[0].push(...e.data[0]); got[1].push(...e.data[1]); };
  player.node.connect(rec);
  rec.connect(context.destination);
  await context.resume();
  await new Promise((r) => setTimeout(r, warmup * 1000));
  const warm = player.stats();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, (seconds - warmup) * 1000));
  const stats = player.stats();
  const elapsed = (performance.now() - t0) / 1000;
  stats.underruns -= warm.underruns;
  stats.bytesPerSecond = (stats.bytes - warm.bytes) / elapsed;
  player.stop();
  await context.close();
  return { rate: context.sampleRate, stats, codec: player.codec, data: [b64(got[0]), b64(got[1])] };
};
window.ready = true;
</script>
"""


def piece(perform, port, tmp_path, sr=48000, env=None):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text(PAGE)
    p = perform(ORC.format(port=port, amp=AMP, freq=FREQ, freq2=FREQ2), "i1 0 120", sr=sr,
                env={"CSWS_STATIC_DIR": str(site), **(env or {})})
    p.wait_for("websocket server on")
    return p


def channel(result: dict, c: int) -> dict:
    return {"rate": result["rate"], "data": result["data"][c]}


def judge_sine(result: dict, c: int = 0, freq: float = FREQ) -> dict:
    """test_soundcard's judge, for another channel or pitch."""
    import test_soundcard

    old = test_soundcard.FREQ
    test_soundcard.FREQ = freq
    try:
        return judge(channel(result, c))
    finally:
        test_soundcard.FREQ = old


def assert_clean(j: dict, freq: float = FREQ) -> None:
    assert abs(j["freq"] - freq) < 1.0, j
    assert j["jump"] < 1.5, f"a discontinuity: a step of {j['jump']:.2f}x the sine's steepest ({j})"
    assert j["silence"] < 4, f"a run of {j['silence']} silent samples"
    assert abs(j["peak"] - AMP) < 0.03, j


@pytest.mark.parametrize("sr, rate", [(48000, 48000), (48000, 44100), (44100, 48000)],
                         ids=["equal-rates", "context-44100", "csound-44100"])
def test_play_opus_sine(perform, port, tmp_path, page, sr, rate):  # noqa: F811 - page is a fixture
    piece(perform, port, tmp_path, sr=sr)
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => window.ready")
    result = page.evaluate("([rate, seconds, warmup]) => window.record('asine', rate, seconds, warmup, "
                           "{codec: 'opus'})", [rate, RECORD, WARMUP])
    assert result["rate"] == rate and result["codec"] == "opus"
    j = judge_sine(result)
    stats = result["stats"]
    print(f"csound {sr}, context {rate}: {j}, stats {stats}")
    assert_clean(j)
    assert stats["underruns"] == 0 and stats["played"] > 10 and stats["lost"] == 0, stats
    # What the same variable costs as play()'s PCM: float32 samples, without websocket framing.
    pcm = sr * 4
    assert stats["bytesPerSecond"] * 10 <= pcm, f"{stats['bytesPerSecond']:.0f} B/s, PCM's {pcm}"
    assert page.evaluate("() => window.errors") == [] and page.errors == []
    assert page.evaluate("() => window.warnings") == []


def test_play_opus_two_channels(perform, port, tmp_path, page):  # noqa: F811
    piece(perform, port, tmp_path)
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => window.ready")
    result = page.evaluate("([seconds, warmup]) => window.record('aarr', 48000, seconds, warmup, "
                           "{codec: 'opus', bitrate: 128000})", [RECORD, WARMUP])
    assert result["codec"] == "opus"
    stats = result["stats"]
    for c, freq in ((0, FREQ), (1, FREQ2)):
        j = judge_sine(result, c, freq)
        print(f"channel {c}: {j}")
        assert_clean(j, freq)
    assert stats["underruns"] == 0 and stats["bytesPerSecond"] * 10 <= 2 * 48000 * 4, stats
    assert page.evaluate("() => window.errors") == [] and page.errors == []


async def _packets(port: int, query: str, seconds: float) -> tuple[dict, list[bytes]]:
    async with ws_connect(f"ws://127.0.0.1:{port}/?direction=to_web&codec=opus&{query}",
                          subprotocols=["asine"], open_timeout=patience(10)) as ws:
        header = json.loads(await ws.recv())
        packets = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            packets.append(await asyncio.wait_for(ws.recv(), patience(5)))
        return header, packets


def test_two_settings_at_once_and_shared_packets(perform, port, tmp_path):
    piece(perform, port, tmp_path)
    info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/csws.json", timeout=patience(10)).read())
    assert info["codecs"] == ["pcm", "opus"]

    async def main():
        return await asyncio.gather(_packets(port, "bitrate=32000", 3), _packets(port, "bitrate=32000", 3),
                                    _packets(port, "bitrate=160000&frame_ms=20", 3))

    (h_low, low), (h_low2, low2), (h_high, high) = run(main())
    assert (h_low["bitrate"], h_low["frame_ms"], h_high["bitrate"], h_high["frame_ms"]) == (32000, 10, 160000, 20)
    assert h_low["channels"] == 1 and h_low["sample_rate"] == 48000
    # One encoder per setting: two clients of one setting get the very same packets.
    first, second = ({p[:4]: p for p in packets} for packets in (low, low2))
    common = first.keys() & second.keys()
    assert len(common) > 200 and all(first[seq] == second[seq] for seq in common)
    # Packets are numbered without gaps, and each setting has its own rate.
    for packets in (low, low2, high):
        seqs = [int.from_bytes(p[:4], "little") for p in packets]
        assert np.all(np.diff(seqs) == 1)
    rate_low, rate_high = (sum(map(len, x)) / 3 for x in (low, high))
    print(f"bytes/s: 32 kbit/s {rate_low:.0f}, 160 kbit/s {rate_high:.0f}")
    assert len(high) < 0.6 * len(low), "20 ms packets come half as often as 10 ms ones"
    assert rate_low < 0.5 * rate_high
    from csws.protocol.opus import Decoder

    for header, packets in ((h_low, low), (h_high, high)):
        dec = Decoder(json.dumps(header))
        x = np.concatenate([dec.decode(p) for p in packets], axis=1)[0, 9600:]
        i = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
        t = i + x[i] / (x[i] - x[i + 1])
        assert abs((len(t) - 1) / ((t[-1] - t[0]) / 48000) - FREQ) < 1.0


def test_python_client_decodes(perform, port, tmp_path):
    piece(perform, port, tmp_path, sr=44100)
    from csws.client import connect_sync

    with connect_sync(f"ws://127.0.0.1:{port}") as cs:
        sub = cs.subscribe("aarr", codec="opus", bitrate=96000)
        blocks = []
        for block in sub:
            blocks.append(block)
            if len(blocks) == 300:  # 3 s of 10 ms packets
                break
        assert sub.opus["channels"] == 2 and sub.opus["csound_sr"] == 44100 and sub.lost == 0
        mono = cs.subscribe("asine", codec="opus")
        first = next(iter(mono))
        mono.close()
    assert first.shape == (480,) and first.dtype == np.float32
    assert all(b.shape == (2, 480) for b in blocks)
    x = np.concatenate(blocks, axis=1)[:, 9600:]
    for c, freq in ((0, FREQ), (1, FREQ2)):
        y = x[c]
        i = np.nonzero((y[:-1] < 0) & (y[1:] >= 0))[0]
        t = i + y[i] / (y[i] - y[i + 1])
        assert abs((len(t) - 1) / ((t[-1] - t[0]) / 48000) - freq) < 1.0
        assert abs(np.max(np.abs(y)) - AMP) < 0.03


def run(coro):
    """asyncio.run on a thread of its own: Playwright's sync API holds this one's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _close_reason(port: int, query: str) -> str:
    async with ws_connect(f"ws://127.0.0.1:{port}/?direction=to_web&{query}", subprotocols=["asine"],
                          open_timeout=patience(10)) as ws:
        with pytest.raises(ConnectionClosed) as e:
            await asyncio.wait_for(ws.recv(), patience(5))
        assert e.value.rcvd.code == 1008
        return e.value.rcvd.reason


def test_bad_opus_options_are_refused(perform, port, tmp_path):
    piece(perform, port, tmp_path)
    for query, words in [("codec=mp3", "use pcm or opus"), ("codec=opus&frames=4", "do not go together"),
                         ("codec=opus&bitrate=1000", "bitrate='1000'"), ("codec=opus&frame_ms=7", "frame_ms='7'"),
                         ("bitrate=64000", "add codec=opus")]:
        assert words in run(_close_reason(port, query))


def test_without_the_extra(perform, port, tmp_path, page):  # noqa: F811
    """PyAV hidden from the server: pcm only, a clear refusal, and play() falls back to PCM."""
    hide = tmp_path / "hide"
    hide.mkdir()
    # As if PyAV were not installed: find_spec("av") finds nothing, import av raises ImportError.
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['av'] = None\n")
    piece(perform, port, tmp_path, env={"PYTHONPATH": str(hide)})
    info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/csws.json", timeout=patience(10)).read())
    assert info["codecs"] == ["pcm"]
    reason = run(_close_reason(port, "codec=opus"))
    assert "pip install 'csound-websocket[opus]'" in reason, reason
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => window.ready")
    result = page.evaluate("() => window.record('asine', 48000, 3, 1, {codec: 'opus'})")
    assert result["codec"] == "pcm"
    assert any("playing PCM instead" in w and "csound-websocket[opus]" in w
               for w in page.evaluate("() => window.warnings"))
    x = np.frombuffer(base64.b64decode(result["data"][0]), np.float32)
    assert np.max(np.abs(x[48000:])) > 0.4, "no sound from the PCM fallback"


def test_opus_missing_is_a_clear_error(monkeypatch):
    """Unit: with PyAV not importable, codec=opus is a BadOption that names the extra."""
    from csws.protocol.options import BadOption, parse
    from csws.protocol.variables import Direction, Kind, VarSpec
    from csws.serve import opus

    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    opus.missing.cache_clear()
    try:
        assert opus.codecs() == ["pcm"]
        spec = VarSpec("asig", Kind.A, Direction.TO_WEB, (), 8 * 32, ksmps=32)
        opts = parse("/?codec=opus", spec)
        assert (opts.bitrate, opts.frame_ms) == (96000, 10.0)
        with pytest.raises(BadOption, match=r"pip install 'csound-websocket\[opus\]'"):
            opus.join(object(), None, opts, 48000)
    finally:
        opus.missing.cache_clear()


def test_encoder_keeps_its_channels_when_an_array_is_resized():
    """Unit: an a[] the orchestra resizes mid-stream (2 -> 3 -> 1 elements) keeps its two channels:
    the extra element left out, a missing one silent, the packets on time."""
    from csws.protocol.opus import Decoder
    from csws.protocol.options import parse
    from csws.protocol.variables import Direction, Kind, VarSpec
    from csws.serve.opus import Encoder

    ksmps = 32
    spec = VarSpec("aarr", Kind.AARR, Direction.TO_WEB, (2,), 2 * ksmps * 8, ksmps=ksmps)
    enc = Encoder(spec, 48000, parse("/?codec=opus", spec), 1 << 16)
    dec = Decoder(enc.header())
    t = np.arange(48000) / 48000
    left, right, extra = (0.5 * np.sin(2 * np.pi * f * t) for f in (FREQ, FREQ2, 1000.0))
    out = []
    for n, start in enumerate(range(0, 48000, ksmps)):
        part = slice(start, start + ksmps)
        cols = [left[part], right[part], extra[part]][: (2, 3, 1)[n * 3 // 1500]]
        out += [dec.decode(p) for p in enc.encode(np.stack(cols, axis=1).tobytes())]
    x = np.concatenate(out, axis=1)
    assert x.shape[0] == 2 and x.shape[1] >= 48000 - 2 * 480 and dec.lost == 0
    # The middle third (3 elements): left and right as they were; the last third (1): right silent.
    assert np.max(np.abs(x[1, 20000:31000])) > 0.45 and np.max(np.abs(x[1, 34000:])) < 0.01


def test_opus_options():
    """Unit: codec=opus's defaults and limits per channel count (csws.protocol.options)."""
    from csws.protocol.options import BadOption, parse
    from csws.protocol.variables import Direction, Kind, VarSpec

    mono = VarSpec("a1", Kind.A, Direction.TO_WEB, (), 8 * 32, ksmps=32)
    stereo = VarSpec("a2", Kind.AARR, Direction.TO_WEB, (2,), 2 * 8 * 32, ksmps=32)
    four = VarSpec("a4", Kind.AARR, Direction.TO_WEB, (4,), 4 * 8 * 32, ksmps=32)
    control = VarSpec("k1", Kind.K, Direction.TO_WEB, (), 8)
    assert (parse("/?codec=opus", stereo).bitrate, parse("/?codec=opus&dtype=float32", mono).dtype) == (192000, "float64")
    assert parse("/?codec=opus&bitrate=400000&frame_ms=2.5", stereo).frame_ms == 2.5
    assert parse("/?codec=opus", mono) == parse("/?codec=opus&dtype=float32&bitrate=96000&frame_ms=10", mono)
    for path, spec, words in [("/?codec=opus", four, "one or two channels"), ("/?codec=opus", control, "a-rate"),
                              ("/?codec=opus&bitrate=300000", mono, "from 6000 to 256000"),
                              ("/?codec=opus&frame_ms=abc", mono, "one of 2.5")]:
        with pytest.raises(BadOption, match=words):
            parse(path, spec)
