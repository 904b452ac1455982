// csws-capture.js - the AudioWorklet behind client.capture() (csws.js).
//
// Resamples its input from the context's rate to Csound's sr (4-point cubic
// interpolation, the position carried across quanta) and posts blocks of
// ksmps frames, interleaved float32, one wire message each.

class CswsCapture extends AudioWorkletProcessor {
  constructor(options) {
    const o = options.processorOptions;
    super();
    this.channels = o.channels;
    this.ksmps = o.ksmps;
    this.step = sampleRate / o.sr; // input frames per output frame
    this.hist = Array.from({ length: this.channels }, () => new Float32Array(3)); // the last 3 input frames
    this.pos = 0; // next output frame's position, relative to this quantum's first frame
    this.block = new Float32Array(this.ksmps * this.channels);
    this.fill = 0;
    this.running = true;
    this.port.onmessage = () => { this.running = false; };
  }

  process(inputs) {
    const input = inputs[0];
    const n = input.length ? input[0].length : 128;
    const ch = this.channels;
    const blocks = [];
    // Position p in [-1, n-2): frames -3..-1 are the last quantum's (hist), 0.. this one's.
    const at = (c, i) => {
      const src = input.length ? input[c % input.length] : null;
      if (i < 0) return this.hist[c][i + 3];
      return src ? src[i] : 0;
    };
    for (; this.pos < n - 2; this.pos += this.step) {
      const i = Math.floor(this.pos);
      const t = this.pos - i;
      for (let c = 0; c < ch; c++) {
        const y0 = at(c, i - 1), y1 = at(c, i), y2 = at(c, i + 1), y3 = at(c, i + 2);
        this.block[this.fill * ch + c] =
          y1 + 0.5 * t * (y2 - y0 + t * (2 * y0 - 5 * y1 + 4 * y2 - y3 + t * (3 * (y1 - y2) + y3 - y0)));
      }
      if (++this.fill === this.ksmps) {
        blocks.push(this.block.buffer);
        this.block = new Float32Array(this.ksmps * ch);
        this.fill = 0;
      }
    }
    this.pos -= n;
    for (let c = 0; c < ch; c++) {
      for (let k = 0; k < 3; k++) this.hist[c][k] = at(c, n - 3 + k);
    }
    if (blocks.length) this.port.postMessage(blocks, blocks);
    return this.running;
  }
}

registerProcessor("csws-capture", CswsCapture);
