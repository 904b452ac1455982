// csws.js - the browser side of Csound's websocket opcode (csound-websocket).
//
// A dependency-free ES module.  Every csws server serves it at /csws.js:
//
//   import { connect } from "/csws.js";
//   const cs = connect();                       // the page's own server
//   cs.subscribe("klfo", (data) => show(data[0]));
//   slider.oninput = () => cs.send("kslider", +slider.value);
//
// On the wire each Csound variable is its own websocket, whose subprotocol is
// the variable's name; numbers travel as binary float64 (the server's MYFLT),
// strings as text.  /csws.json says what the server offers.  Csound's named channels, score
// lines and code go over one more socket, client.control() (csws-csound.js, which also gives the
// page the global `csound` object of CsoundQt's and Csound for Android's HTML pieces).

import "./csws-csound.js"; // a classic script: defines globalThis.CswsControl (and `csound`)

/** The control socket's class (csws-csound.js): Csound's channels, score lines and code. */
export const CswsControl = globalThis.CswsControl;
const { httpBase, pageToken } = CswsControl; // the port's http(s) base; the page's own ?token=

export const VERSION = "0.1.0";

const DEFAULTS = {
  reconnect: true,
  minDelay: 250, // ms before the first reconnection attempt ...
  maxDelay: 5000, // ... doubling up to this
  queue: 256, // audio frames kept for a sending socket that is not open yet
  token: null, // the server's token; default: the page's own ?token=, for its own server only
  onError: null,
};

// The rate of a variable, from /csws.json or else from its name (kval, gaout...).
function rateOf(name, variable) {
  if (variable) return variable.rate;
  const c = name.startsWith("g") && name.length > 1 ? name[1] : name[0];
  return c === "a" || c === "i" || c === "S" ? c : "k";
}

// Pages opened from a file (and sandboxed frames) have an opaque origin: browsers send
// `Origin: null`, which a csws port refuses (403) unless told to allow it.  The page sees only a
// failed socket and an unreadable /csws.json, so it is told here what Csound's console says.
function refusedPage(base) {
  const loc = globalThis.location;
  const file = loc && loc.protocol === "file:" ? loc.pathname.split("/").pop() : "";
  return `${base} refuses this page: a page opened from a file (or a sandboxed frame) sends Origin: null, ` +
    "refused by default. Let csws serve the page: put it in a folder, run csws run --static FOLDER piece.csd " +
    `(or put it in the .csd's <html>) and open ${base}/${file}; or allow such pages with ` +
    "CSWS_ORIGINS=null (csws run --origin null)";
}

function wsURL(base) {
  return base.replace(/^http(s?):/i, "ws$1:") + "/";
}

// Closes that say "this server is going or gone" (1006 is also a socket that could not open): a
// client given several bases moves to the next.  1008 (refused for what was asked) stops, and a
// close that was meant (1000) or a message too big (1009) would be the same anywhere.
const FAILOVER_CODES = new Set([1001, 1006, 1011, 1012, 1013]);

/**
 * Client.control()'s socket: a CswsControl that reopens at the client's base in use, and moves the
 * client on when its socket fails or closes abnormally.
 */
class FailoverControl extends CswsControl {
  constructor(client, options) {
    super(client.base, options);
    this._client = client;
    this._closeCode = null; // of the socket that closed last, if it had opened
    this.addEventListener("close", (ev) => { this._closeCode = ev.detail.code; });
  }

  _open() {
    if (this._client) this.base = this._client.base; // undefined in super(): the client's base then
    super._open();
  }

  _retry() {
    const code = this._closeCode ?? 1006; // null: it never opened
    this._closeCode = null;
    if (this._client && FAILOVER_CODES.has(code)) this._client._failed(this.base);
    super._retry();
  }
}


/**
 * One websocket to one variable, reopened with back-off until closed.
 * direction: "to_web" (we receive) or "from_web" (we send); the server closes
 * the link (1008) if the variable goes the other way.
 */
class Link {
  constructor(client, name, direction, onMessage, query = "") {
    this.client = client;
    this.name = name;
    this.onMessage = onMessage;
    // per-client options (docs/protocol.md), e.g. dtype=float32
    this.query = [`direction=${direction}`, query].filter(Boolean).join("&");
    this.ws = null;
    this.closed = false;
    this.attempts = 0;
    this.timer = null;
    this.everOpened = false;
    this.onOpen = null;
    this.open();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === 1;
  }

  open() {
    this.timer = null;
    if (this.closed) return;
    const base = this.client.base;
    this.base = base; // where this socket goes: the client's base in use now
    let ws;
    try {
      ws = new WebSocket(this.client._url(wsURL(base), this.query), this.name);
    } catch (e) {
      this.client._error(this.name, `cannot open a websocket: ${e.message || e}`, e);
      this.client._failed(base);
      this.retry();
      return;
    }
    ws.binaryType = "arraybuffer";
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.everOpened = true;
      this.attempts = 0;
      this.client._emit("open", { name: this.name });
      if (this.onOpen) this.onOpen();
    };
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => {
      if (!opened && this.ws === ws) this.client._explain(this.name); // not one we closed ourselves
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (opened) this.client._emit("close", { name: this.name, code: ev.code, reason: ev.reason });
      if (ev.code === 1008) {
        // Refused for what we asked (the wrong way round, a bad option): asking again cannot help.
        this.closed = true;
        this.client._error(this.name, ev.reason || `${this.name} refused this client (1008)`);
        return;
      }
      if (FAILOVER_CODES.has(ev.code)) this.client._failed(base);
      this.retry();
    };
    this.ws = ws;
  }

  retry() {
    if (this.closed || !this.client.options.reconnect || this.timer !== null) return;
    const { minDelay, maxDelay } = this.client.options;
    const delay = Math.min(maxDelay, minDelay * 2 ** this.attempts) * (0.75 + 0.25 * Math.random());
    this.attempts += 1;
    this.timer = setTimeout(() => this.open(), delay);
  }

  send(message) {
    this.ws.send(message);
  }

  close() {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }
}

/** A subscription to a variable Csound sends to the web. */
class Subscription {
  constructor(client, name, callback, options) {
    this.client = client;
    this.name = name;
    this.callback = callback;
    this.options = options || {};
    this.variable = null;
    this.latest = null; // the newest data (Float64Array or string)
    this.channels = null; // a-rate arrays: the newest frame, one Float64Array per element
    this.frames = 0; // messages received
    this.link = null;
    this.closed = false;
    // Wait for /csws.json (needed to split a-rate arrays), but not for long.
    client.info().then(
      (info) => this.start(info),
      () => this.start(null),
    );
  }

  start(info) {
    if (this.closed) return;
    this.variable = info ? info.variables.find((v) => v.name === this.name) || null : null;
    if (info && this.variable === null) {
      const names = info.variables.map((v) => v.name).join(", ") || "nothing yet";
      this.client._error(this.name, `${this.name} is not on offer (yet); on offer: ${names}`);
    } else if (this.variable && this.variable.direction !== "to_web") {
      this.client._error(this.name, `${this.name} goes from the web to Csound: use send(), not subscribe()`);
      return;
    }
    this.link = new Link(this.client, this.name, "to_web", (data) => this.receive(data));
    // A variable that came on offer after /csws.json was read: learn its layout now.
    this.link.onOpen = () => {
      if (this.variable === null) {
        this.client.info(true).then((i) => {
          this.variable = i.variables.find((v) => v.name === this.name) || null;
        }, () => {});
      }
    };
  }

  receive(data) {
    let value;
    if (typeof data === "string") {
      value = data;
    } else if (this.client.myfltBytes === 4) {
      value = Float64Array.from(new Float32Array(data));
    } else {
      value = new Float64Array(data);
    }
    this.latest = value;
    this.frames += 1;
    const v = this.variable;
    let channels;
    if (v && v.layout === "interleaved" && typeof value !== "string") {
      channels = deinterleave(value, v.values / v.frame_samples, v.frame_samples);
      this.channels = channels;
    }
    try {
      this.callback(value, { name: this.name, variable: v, channels, frames: this.frames });
    } catch (e) {
      this.client._error(this.name, `the callback for ${this.name} failed: ${e.message || e}`, e);
    }
  }

  get isOpen() {
    return this.link !== null && this.link.isOpen;
  }

  close() {
    this.closed = true;
    if (this.link) this.link.close();
    this.client.subscriptions.delete(this);
  }
}

/** Interleaved a-rate array frame -> one Float64Array per element. */
export function deinterleave(frame, nelems, ksmps) {
  const out = [];
  for (let e = 0; e < nelems; e++) {
    const ch = new Float64Array(ksmps);
    for (let s = 0; s < ksmps; s++) ch[s] = frame[s * nelems + e];
    out.push(ch);
  }
  return out;
}

/** One Float64Array per element -> the interleaved frame an a-rate array takes. */
export function interleave(channels) {
  const n = channels.length;
  const ksmps = n ? channels[0].length : 0;
  const out = new Float64Array(n * ksmps);
  for (let e = 0; e < n; e++) {
    const ch = channels[e];
    for (let s = 0; s < ksmps; s++) out[s * n + e] = ch[s];
  }
  return out;
}

/**
 * A connection to one csws server (one port): subscribe to and send variables.  Given a list of
 * bases (edges of one Csound), it uses one at a time and moves to the next, round robin, when a
 * socket fails or closes abnormally; /csws.json's edge.also adds an edge's peers to the list.
 */
export class Client extends EventTarget {
  constructor(base, options) {
    super();
    const given = Array.isArray(base) ? base : [base];
    this.bases = [...new Set((given.length ? given : [undefined]).map(httpBase))];
    this.base = this.bases[0]; // the one in use
    this.options = { ...DEFAULTS, ...(options || {}) };
    // One token for every base: the given one, or that of the page if it is one of them.
    this.token = this.options.token ?? (this.bases.map(pageToken).find((t) => t) || null);
    this.subscriptions = new Set();
    this.senders = new Map(); // name -> { link, queue }
    this.myfltBytes = 8;
    this._info = null;
    this._explaining = new Set();
    this._control = null;
  }

  /** Csound's channels, score lines and code on this server: one CswsControl per client. */
  control() {
    if (this._control === null) {
      const { reconnect, minDelay, maxDelay } = this.options;
      this._control = new FailoverControl(this, { token: this.token, reconnect, minDelay, maxDelay });
    }
    return this._control;
  }

  /** /csws.json: what the server offers.  Cached; refresh=true fetches it again. */
  info(refresh = false) {
    if (this._info === null || refresh) {
      const base = this.base;
      const p = fetch(this._url(base + "/csws.json"), { cache: "no-store" })
        .then((r) => {
          if (r.status === 401) {
            throw new Error(`${base} wants a token: open the page with ?token=... or pass connect(base, { token })`);
          }
          if (!r.ok) throw new Error(`${base}/csws.json: HTTP ${r.status}`);
          return r.json();
        }, (e) => {
          this._failed(base); // not there: the sockets open at the next base
          throw e;
        })
        .then((info) => {
          this.myfltBytes = info.myflt_bytes || 8;
          this._addBases(info.edge && info.edge.also);
          this._emit("info", info);
          return info;
        });
      p.catch((e) => {
        if (this._info === p) this._info = null; // try again next time
        this._unreachable(null, `cannot read ${base}/csws.json`, e.message || String(e), e);
      });
      this._info = p;
    }
    return this._info;
  }

  /** Call callback(data, frame) with every message Csound sends on a variable. */
  subscribe(name, callback, options) {
    const sub = new Subscription(this, name, callback, options);
    this.subscriptions.add(sub);
    return sub;
  }

  /**
   * Send a value to a variable Csound receives: a number (k, i), an array or
   * typed array (arrays, a-rate blocks of ksmps samples), or a string (S).
   * Returns true if sent now, false if queued until the socket opens.
   */
  send(name, value) {
    const sender = this._sender(name);
    const message = this._encode(value);
    if (sender.link.isOpen) {
      sender.link.send(message);
      return true;
    }
    if (sender.audio) {
      sender.queue.push(message);
      if (sender.queue.length > this.options.queue) sender.queue.shift();
    } else {
      sender.queue = [message]; // control data: only the newest value matters
    }
    return false;
  }

  /** Send an a-rate array's block given as one Float64Array per element. */
  sendChannels(name, channels) {
    return this.send(name, interleave(channels));
  }

  /** Open the socket for a variable the page will send to, before the first send. */
  open(name) {
    this._sender(name);
  }

  /**
   * Play an a-rate variable Csound sends (a: mono; a[]: a channel per element)
   * through an AudioWorklet, resampled to the context's rate, its buffer kept
   * near options.latency seconds.  options.codec "opus" asks the server for Opus
   * packets (options.bitrate in bit/s, options.frameMs), decoded with WebCodecs;
   * where either side cannot, it plays PCM and warns on the console.
   */
  async play(name, options) {
    const o = { context: null, latency: 0.05, connect: true, codec: "pcm", bitrate: null, frameMs: null,
      ...(options || {}) };
    if (o.codec !== "pcm" && o.codec !== "opus") {
      const message = `play(${name}): codec ${JSON.stringify(o.codec)}: use "pcm" or "opus"`;
      this._error(name, message);
      throw new Error(message);
    }
    const v = await this._audioVariable(name, "to_web", "play", o.context);
    const context = o.context || new AudioContext({ latencyHint: "interactive" });
    try {
      await context.audioWorklet.addModule(new URL("csws-player.js", import.meta.url));
      const info = await this.info();
      const channels = v.values / v.frame_samples;
      let codec = o.codec;
      if (codec === "opus") {
        const missing = await opusMissing(info, channels);
        if (missing !== null) {
          console.warn(`csws: play(${name}): ${missing}; playing PCM instead`);
          codec = "pcm";
        }
      }
      const node = new AudioWorkletNode(context, "csws-player", {
        numberOfInputs: 0,
        outputChannelCount: [channels],
        // Opus is decoded at 48 kHz whatever Csound's sr (the server resamples what Opus does not take).
        processorOptions: { channels, sr: codec === "opus" ? OPUS_RATE : info.sr, latency: o.latency },
      });
      if (o.connect) node.connect(context.destination);
      context.resume().catch(() => {}); // most browsers want a user's gesture first: the page's click
      return new Player(this, name, context, node, !o.context, info, { ...o, codec, channels });
    } catch (e) {
      if (!o.context) context.close();
      this._error(name, `cannot play ${name}: ${e.message || e}`, e);
      throw e;
    }
  }

  /**
   * Send audio into an a-rate variable Csound receives (a, or a[] with one
   * element per channel): the microphone by default, or options.stream (a
   * MediaStream) or options.source (an AudioNode), resampled to Csound's sr.
   */
  async capture(name, options) {
    const o = { context: null, stream: null, source: null, ...(options || {}) };
    const given = o.context || (o.source && o.source.context) || null;
    const v = await this._audioVariable(name, "from_web", "capture", given);
    const channels = v.values / v.frame_samples;
    const context = given || new AudioContext({ latencyHint: "interactive" });
    let stream = null;
    try {
      if (!o.source && !o.stream) {
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
          throw new Error("this browser offers no microphone (navigator.mediaDevices)");
        }
        // Csound gets the voice as it is: no echo cancelling, noise gate or gain riding.
        stream = await navigator.mediaDevices.getUserMedia({
          audio: { channelCount: channels, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
        });
      }
      const source = o.source || context.createMediaStreamSource(o.stream || stream);
      await context.audioWorklet.addModule(new URL("csws-capture.js", import.meta.url));
      const info = await this.info();
      const node = new AudioWorkletNode(context, "csws-capture", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { channels, sr: info.sr, ksmps: info.ksmps },
      });
      source.connect(node);
      node.connect(context.destination); // silent: only so that the graph runs it
      context.resume().catch(() => {});
      return new Capture(this, name, context, source, node, stream, given === null);
    } catch (e) {
      if (stream) for (const t of stream.getTracks()) t.stop();
      if (given === null) context.close();
      this._error(name, `cannot capture into ${name}: ${e.message || e}`, e);
      throw e;
    }
  }

  // The /csws.json entry of an a-rate variable going `direction`, or an error that says what is wrong.
  async _audioVariable(name, direction, verb, context) {
    const worklets = context ? !!context.audioWorklet : typeof AudioWorkletNode !== "undefined";
    if (!globalThis.isSecureContext || !worklets) {
      const here = globalThis.location ? globalThis.location.origin : "this page";
      const message = `${verb}(${name}): browsers give audio worklets and the microphone only to secure pages ` +
        `(https, or http on localhost), and ${here} is not one: serve it over TLS ` +
        "(csws run --tls self-signed, see docs/settings.md) or open it as http://localhost";
      this._error(name, message);
      throw new Error(message);
    }
    const info = await this.info();
    const v = info.variables.find((x) => x.name === name);
    let problem = null;
    if (v === undefined) {
      problem = `${name} is not on offer (yet); on offer: ${info.variables.map((x) => x.name).join(", ") || "nothing yet"}`;
    } else if (v.rate !== "a") {
      problem = `${name} is ${v.type}: ${verb}() takes an a-rate variable (a or a[])`;
    } else if (v.direction !== direction) {
      problem = direction === "to_web" ? `${name} goes from the web to Csound: use capture()`
        : `${name} goes from Csound to the web: use play()`;
    }
    if (problem !== null) {
      this._error(name, problem);
      throw new Error(problem);
    }
    return v;
  }


  /** Close every socket; no more reconnection. */
  close() {
    for (const sub of [...this.subscriptions]) sub.close();
    for (const s of this.senders.values()) s.link.close();
    this.senders.clear();
    if (this._control !== null) this._control.close();
    this._control = null;
  }

  _sender(name) {
    let sender = this.senders.get(name);
    if (sender === undefined) {
      sender = { link: null, queue: [], audio: rateOf(name, null) === "a" };
      sender.link = new Link(this, name, "from_web", () => {});
      sender.link.onOpen = () => {
        const queued = sender.queue;
        sender.queue = [];
        for (const m of queued) sender.link.send(m);
      };
      this.senders.set(name, sender);
      this.info().then(
        (info) => {
          const v = info.variables.find((x) => x.name === name);
          if (v === undefined) {
            const names = info.variables.map((x) => x.name).join(", ") || "nothing yet";
            this._error(name, `${name} is not on offer (yet); on offer: ${names}`);
          } else {
            sender.audio = v.rate === "a";
            if (v.direction !== "from_web") {
              sender.link.close();
              this._error(name, `${name} goes from Csound to the web: use subscribe()`);
            }
          }
        },
        () => {},
      );
    }
    return sender;
  }

  // A socket to `base` failed or closed abnormally: if that is the base in use, the next one is.
  _failed(base) {
    if (base !== this.base || this.bases.length < 2) return;
    this.base = this.bases[(this.bases.indexOf(base) + 1) % this.bases.length];
    this._info = null; // the new server's, when next asked
    this._emit("failover", { from: base, to: this.base });
  }

  // An edge's peers (/csws.json's edge.also): more bases to fail over to.
  _addBases(urls) {
    if (!Array.isArray(urls)) return;
    for (const url of urls) {
      const base = httpBase(url);
      if (!this.bases.includes(base)) this.bases.push(base);
    }
  }

  _encode(value) {
    if (typeof value === "string") return value;
    const F = this.myfltBytes === 4 ? Float32Array : Float64Array;
    if (typeof value === "number") return F.of(value);
    if (value instanceof F) return value;
    if (ArrayBuffer.isView(value) || Array.isArray(value)) return F.from(value);
    throw new TypeError("csws: send a number, an array of numbers, a typed array or a string");
  }

  // A socket failed before opening: say why, if /csws.json can tell.
  _explain(name) {
    if (this._explaining.has(name)) return;
    this._explaining.add(name);
    this.info(true).then(
      (info) => {
        this._explaining.delete(name);
        const known = info.variables.some((v) => v.name === name);
        this._error(name, known
          ? `could not connect to ${name}`
          : `${name} is not on offer (yet); on offer: ${info.variables.map((v) => v.name).join(", ") || "nothing yet"}`);
      },
      (e) => {
        this._explaining.delete(name);
        this._unreachable(name, `could not connect to ${name}`, `is the server at ${this.base} running?`, e);
      },
    );
  }

  // `what` failed for `reason`.  A failed fetch (TypeError) of a page with an opaque origin may be
  // the server refusing the page: if it answers a request whose answer the page may not read
  // (no-cors), it is running, so the refusal is the reason.
  _unreachable(name, what, reason, cause) {
    if (globalThis.origin !== "null" || !(cause instanceof TypeError)) {
      this._error(name, `${what}: ${reason}`, cause);
      return;
    }
    fetch(this.base + "/csws.js", { method: "HEAD", mode: "no-cors", cache: "no-store" }).then(
      () => this._error(name, `${what}: ${refusedPage(this.base)}`, cause),
      () => this._error(name, `${what}: ${reason}`, cause),
    );
  }

  // A URL of this server with the token, if there is one, and options.
  _url(url, query = "") {
    const params = [this.token ? `token=${encodeURIComponent(this.token)}` : "", query].filter(Boolean);
    return params.length ? `${url}?${params.join("&")}` : url;
  }

  _error(name, message, cause) {
    const detail = { name, message, cause };
    if (typeof this.options.onError === "function") {
      try {
        this.options.onError(detail);
      } catch (e) {
        console.error(e);
      }
    }
    this.dispatchEvent(new CustomEvent("error", { detail }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// play()'s k-cycles per message: about 128 frames, so that small ksmps do not mean many small messages.
const framesPerMessage = (ksmps) => Math.max(1, Math.min(4096, Math.round(128 / ksmps)));

const OPUS_RATE = 48000; // what play() decodes Opus at

// Why play(..., {codec: "opus"}) cannot have Opus here, or null if it can.
async function opusMissing(info, channels) {
  if (channels > 2) return `csws sends Opus for one or two channels, not ${channels}`;
  if (!(info.codecs || []).includes("opus")) {
    return "the server offers no Opus (pip install 'csound-websocket[opus]' where Csound runs)";
  }
  if (typeof AudioDecoder === "undefined") return "this browser has no WebCodecs AudioDecoder";
  try {
    const { supported } = await AudioDecoder.isConfigSupported(
      { codec: "opus", sampleRate: OPUS_RATE, numberOfChannels: channels });
    return supported ? null : "this browser's AudioDecoder does not take Opus";
  } catch (e) {
    return `this browser's AudioDecoder does not take Opus (${e.message || e})`;
  }
}

/**
 * Opus packets from the server (docs/protocol.md: a JSON header, then a 4-byte
 * sequence number before each packet) decoded by WebCodecs into interleaved
 * Float32Array blocks for the player's worklet.
 */
class OpusStream {
  constructor(onBlock, onError) {
    this.onBlock = onBlock;
    this.onError = onError;
    this.header = null;
    this.decoder = null;
    this.next = null; // the sequence number expected next
    this.lost = 0; // packets that never came (dropped by the server for a slow reader)
  }

  message(data) {
    if (typeof data === "string") { // a (new) stream: its header
      this.header = JSON.parse(data);
      this.next = this.header.sequence;
      this.close();
      return;
    }
    if (this.header === null) return;
    const seq = new DataView(data).getUint32(0, true);
    if (this.next !== null && seq !== this.next) this.lost += (seq - this.next) >>> 0;
    this.next = (seq + 1) >>> 0;
    try {
      if (this.decoder === null) this.open();
      this.decoder.decode(new EncodedAudioChunk({
        type: "key", timestamp: seq * this.header.frame_ms * 1000, data: new Uint8Array(data, 4),
      }));
    } catch (e) { // a decoder closed by an error not yet reported: a new one from the next packet
      this.decoder = null;
      this.onError(e);
    }
  }

  open() {
    this.decoder = new AudioDecoder({
      output: (audio) => this.output(audio),
      error: (e) => {
        this.decoder = null; // a new one from the next packet on
        this.onError(e);
      },
    });
    this.decoder.configure({ codec: "opus", sampleRate: OPUS_RATE, numberOfChannels: this.header.channels });
  }

  output(audio) {
    const n = audio.numberOfFrames;
    const ch = audio.numberOfChannels;
    const block = new Float32Array(n * ch);
    const plane = new Float32Array(n);
    for (let c = 0; c < ch; c++) {
      audio.copyTo(plane, { planeIndex: c, format: "f32-planar" });
      for (let i = 0; i < n; i++) block[i * ch + c] = plane[i];
    }
    audio.close();
    this.onBlock(block);
  }

  close() {
    if (this.decoder !== null && this.decoder.state !== "closed") this.decoder.close();
    this.decoder = null;
  }
}

/** An a-rate variable playing in the browser (client.play()). */
class Player {
  constructor(client, name, context, node, ownContext, info, o) {
    this.client = client;
    this.name = name;
    this.context = context;
    this.node = node;
    this.codec = o.codec; // what plays: "opus", or "pcm" (asked for, or fallen back to)
    this._ownContext = ownContext;
    this._stats = { played: 0, underruns: 0, dropped: 0, buffered: 0, adjust: 0 };
    this._bytes = 0; // received on the wire
    node.port.onmessage = (e) => { this._stats = e.data; };
    const toWorklet = (block) => node.port.postMessage(block.buffer, [block.buffer]);
    let query;
    let onMessage;
    this._opus = null;
    if (this.codec === "opus") {
      this._opus = new OpusStream(toWorklet, (e) => client._error(name, `Opus decoding failed: ${e.message || e}`, e));
      query = ["codec=opus", o.bitrate ? `bitrate=${o.bitrate}` : "", o.frameMs ? `frame_ms=${o.frameMs}` : ""]
        .filter(Boolean).join("&");
      onMessage = (data) => this._opus.message(data);
    } else {
      // float32: what the worklet plays, and half the bytes on the wire.
      query = `dtype=float32&frames=${framesPerMessage(info.ksmps)}`;
      onMessage = (data) => { if (typeof data !== "string") node.port.postMessage(data, [data]); };
    }
    this._link = new Link(client, name, "to_web", (data) => {
      this._bytes += typeof data === "string" ? data.length : data.byteLength;
      onMessage(data);
    }, query);
  }

  /**
   * {played, underruns, dropped, buffered, latency, adjust, codec, bytes, lost}; times in seconds,
   * bytes received on the wire, lost: Opus packets that never came.
   */
  stats() {
    const c = this.context;
    const output = (c.baseLatency || 0) + (c.outputLatency || 0);
    const { played, underruns, dropped, buffered, adjust } = this._stats;
    return {
      played, underruns, dropped, buffered, latency: buffered + output, adjust,
      codec: this.codec, bytes: this._bytes, lost: this._opus ? this._opus.lost : 0,
    };
  }

  stop() {
    this._link.close();
    if (this._opus) this._opus.close();
    this.node.disconnect();
    if (this._ownContext) this.context.close();
  }
}

/** Audio going from the browser into an a-rate variable (client.capture()). */
class Capture {
  constructor(client, name, context, source, node, stream, ownContext) {
    this.client = client;
    this.name = name;
    this.context = context;
    this.source = source;
    this.node = node;
    this.stream = stream; // the microphone's, if capture() opened it
    this._ownContext = ownContext;
    this._sent = 0;
    this._dropped = 0;
    this._link = new Link(client, name, "from_web", () => {});
    node.port.onmessage = (e) => {
      for (const block of e.data) {
        if (this._link.isOpen) {
          this._link.send(block);
          this._sent += 1;
        } else {
          this._dropped += 1; // not connected (yet, or again): live audio is not worth queueing
        }
      }
    };
  }

  /** {sent, dropped}: blocks of ksmps frames. */
  stats() {
    return { sent: this._sent, dropped: this._dropped };
  }

  stop() {
    this.node.port.postMessage("stop");
    this._link.close();
    this.source.disconnect(this.node);
    this.node.disconnect();
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    if (this._ownContext) this.context.close();
  }
}


/** A client for the server at base (default: the page's own origin), or for a list of bases it fails over along. */
export function connect(base, options) {
  return new Client(base, options);
}

export default connect;
