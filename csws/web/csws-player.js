// csws-player.js - the AudioWorklet behind client.play() (csws.js).
//
// Blocks of Csound's audio arrive on the port (Float32Array, interleaved, at
// Csound's sr) and wait in a ring; each render quantum reads them at a
// fractional position, with 4-point cubic interpolation, at a ratio of
// sr / sampleRate nudged by at most MAX_ADJUST to keep the buffer at its
// target (see docs/javascript.md, "Playing audio").

const MAX_ADJUST = 0.002; // 0.2 %: 3.5 cents, slow enough that no one hears it
const TIME_CONSTANT = 8; // s: an error of 8 ms asks for 0.1 %
const SMOOTH = 1; // s: the fill level is averaged over about this long
const WINDOW = 0.25; // s: the fill's minimum over this long tells what is in excess
const FADE = 0.005; // s: fade in after buffering, cross-fade when skipping ahead
const STATS_EVERY = 0.05; // s between two stats messages

class CswsPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.channels = o.channels;
    this.sr = o.sr;
    this.ratio = o.sr / sampleRate; // input frames per output frame
    this.target = Math.max(o.latency * o.sr, 256); // input frames
    // A lasting excess beyond this is skipped (a stall's backlog): drift control would take minutes.
    this.excess = Math.max(this.target / 2, 0.02 * o.sr);
    this.cap = Math.ceil(Math.max(4 * o.sr, 4 * (this.target + this.excess)));
    this.ring = new Float32Array(this.cap * this.channels);
    this.written = 0; // frames ever written
    this.pos = 0; // read position in frames ever written (fractional)
    this.playing = false; // false: buffering up to the target
    this.gain = 0;
    this.fadeStep = 1 / (FADE * sampleRate);
    this.fill = this.target; // smoothed fill level, in input frames
    this.smooth = 1 - Math.exp(-128 / (SMOOTH * sampleRate));
    this.windowMin = Infinity;
    this.windowLeft = WINDOW * sampleRate;
    this.oldPos = 0; // cross-fade: where the skipped-from stream reads
    this.xfade = 0; // output frames of cross-fade left
    this.stats = { played: 0, underruns: 0, dropped: 0, buffered: 0, adjust: 0 };
    this.statsLeft = 0;
    this.port.onmessage = (e) => this.push(new Float32Array(e.data));
  }

  push(block) {
    const ch = this.channels;
    const frames = (block.length / ch) | 0;
    // A full ring (a long stall on the audio thread's side): the oldest go.
    const over = this.written + frames - (Math.floor(this.pos) - 1) - this.cap;
    if (over > 0) {
      this.pos += over;
      this.stats.dropped += over;
    }
    for (let f = 0; f < frames; f++) {
      const at = ((this.written + f) % this.cap) * ch;
      for (let c = 0; c < ch; c++) this.ring[at + c] = block[f * ch + c];
    }
    this.written += frames;
  }

  // Channel c at fractional frame position p (Catmull-Rom through 4 frames).
  sample(p, c) {
    const i = Math.floor(p);
    const t = p - i;
    const ch = this.channels;
    const cap = this.cap;
    const y0 = this.ring[((i - 1 + cap) % cap) * ch + c];
    const y1 = this.ring[(i % cap) * ch + c];
    const y2 = this.ring[((i + 1) % cap) * ch + c];
    const y3 = this.ring[((i + 2) % cap) * ch + c];
    return y1 + 0.5 * t * (y2 - y0 + t * (2 * y0 - 5 * y1 + 4 * y2 - y3 + t * (3 * (y1 - y2) + y3 - y0)));
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    const avail = this.written - this.pos;
    if (!this.playing) {
      if (avail < this.target) { // silence while buffering
        this.report(n);
        return true;
      }
      this.playing = true;
      this.fill = avail;
    }
    this.control(avail, n);
    const step = this.ratio * (1 + this.stats.adjust);
    // Frames this quantum reads, plus 2 for the interpolation's look-ahead.
    const usable = Math.min(n, Math.floor((avail - 2) / step));
    for (let k = 0; k < usable; k++) {
      if (this.gain < 1) this.gain = Math.min(1, this.gain + this.fadeStep);
      // Dry soon (an underrun next): fade out over what is left rather than click.
      const g = usable < n ? this.gain * (1 - k / usable) : this.gain;
      let x = 1;
      if (this.xfade > 0) x = 1 - this.xfade-- * this.fadeStep;
      for (let c = 0; c < out.length; c++) {
        const src = c % this.channels;
        let v = this.sample(this.pos, src);
        if (x < 1) v = x * v + (1 - x) * this.sample(this.oldPos, src);
        out[c][k] = g * v;
      }
      this.pos += step;
      if (x < 1) this.oldPos += step;
    }
    if (usable < n) {
      // Underrun: silence (outputs are zeroed) and buffer up to the target again.
      this.stats.underruns += 1;
      this.playing = false;
      this.gain = 0;
      this.xfade = 0;
    }
    this.stats.played += Math.max(usable, 0) * step;
    this.report(n);
    return true;
  }

  // Drift control: the smoothed fill steers the ratio; a lasting excess is skipped.
  control(avail, n) {
    this.fill += (avail - this.fill) * this.smooth;
    const adjust = (this.fill - this.target) / (TIME_CONSTANT * this.sr);
    this.stats.adjust = Math.max(-MAX_ADJUST, Math.min(MAX_ADJUST, adjust));
    this.windowMin = Math.min(this.windowMin, avail);
    this.windowLeft -= n;
    if (this.windowLeft > 0) return;
    const skip = Math.floor(this.windowMin - this.target);
    if (skip > this.excess && this.xfade === 0) {
      this.oldPos = this.pos;
      this.pos += skip;
      this.xfade = Math.ceil(FADE * sampleRate);
      this.stats.dropped += skip;
      this.fill = this.written - this.pos;
    }
    this.windowMin = Infinity;
    this.windowLeft = WINDOW * sampleRate;
  }

  report(n) {
    this.statsLeft -= n;
    if (this.statsLeft > 0) return;
    this.statsLeft = STATS_EVERY * sampleRate;
    const s = this.stats;
    this.port.postMessage({
      played: s.played / this.sr,
      underruns: s.underruns,
      dropped: s.dropped / this.sr,
      buffered: Math.max(0, this.written - this.pos) / this.sr,
      adjust: s.adjust,
    });
  }
}

registerProcessor("csws-player", CswsPlayer);
