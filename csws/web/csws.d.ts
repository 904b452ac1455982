// Type declarations for csws.js, the browser side of Csound's websocket opcode.

export declare const VERSION: string;

/** One variable as /csws.json lists it. */
export interface VariableInfo {
  name: string;
  /** "to_web": Csound sends it (an opcode input); "from_web": Csound receives it (an output). */
  direction: "to_web" | "from_web";
  /** Csound type: "k", "a", "i", "S", "k[]", "a[]", "i[]". */
  type: string;
  rate: "k" | "a" | "i" | "S";
  /** Arrays: their dimensions; scalars: []. */
  shape: number[];
  /** Numbers in one message (0 for strings). */
  values: number;
  /** Samples per element in one message: ksmps for a-rate, else 1. */
  frame_samples: number;
  /** "scalar", "block" (a), "row-major" (k[], i[]) or "interleaved" (a[]: sample 0 of every element, then sample 1...). */
  layout: "scalar" | "block" | "row-major" | "interleaved";
  dtype: "float64" | "utf-8";
  /** A from-web k or k[]: how Csound combines its clients (websocket_config "combine.NAME", docs/settings.md):
   * the rule, the window in seconds (0: while connected), the clients counted now (null under "latest").
   * null for other variables. */
  combine: { rule: "latest" | "mean" | "sum" | "min" | "max" | "count"; window: number; counted: number | null } | null;
}

/** /csws.json: what one port offers. */
export interface ServerInfo {
  server: string;
  sr: number;
  ksmps: number;
  /** Bytes of Csound's MYFLT: 8 (double) or 4 (float). */
  myflt_bytes: number;
  port: number;
  /** What a-rate variables to the web can be sent as: "pcm", and "opus" where the server has the opus extra. */
  codecs: ("pcm" | "opus")[];
  variables: VariableInfo[];
}

export interface ClientOptions {
  /** Reopen sockets that close or fail (default true). */
  reconnect?: boolean;
  /** Milliseconds before the first reconnection attempt (default 250); doubles per attempt. */
  minDelay?: number;
  /** Longest wait between attempts in milliseconds (default 5000). */
  maxDelay?: number;
  /** Audio frames kept for a sending socket that is not open yet (default 256). */
  queue?: number;
  /** The server's token (CSWS_TOKEN); default: the page's own ?token=, when base is the page's own server. */
  token?: string | null;
  /** Called with every error; errors are also "error" events on the client. */
  onError?: ((error: ErrorDetail) => void) | null;
}

export interface ErrorDetail {
  /** The variable concerned, or null. */
  name: string | null;
  message: string;
  cause?: unknown;
}

export interface Frame {
  name: string;
  /** The variable's entry in /csws.json (null if it could not be read). */
  variable: VariableInfo | null;
  /** a-rate arrays: this message split per element, one Float64Array of ksmps samples each. */
  channels?: Float64Array[];
  /** Messages received on this subscription so far, this one included. */
  frames: number;
}

/** Numbers arrive as Float64Array (k: 1 value, a: ksmps, arrays: all values); strings as string. */
export type Data = Float64Array | string;
export type Callback = (data: Data, frame: Frame) => void;

export declare class Subscription {
  readonly name: string;
  readonly variable: VariableInfo | null;
  /** The newest data received, or null. */
  readonly latest: Data | null;
  /** a-rate arrays: the newest message split per element. */
  readonly channels: Float64Array[] | null;
  /** Messages received so far. */
  readonly frames: number;
  readonly isOpen: boolean;
  close(): void;
}

export type SendValue = number | string | ArrayLike<number> | ArrayBufferView;

export interface ClientEventMap {
  open: CustomEvent<{ name: string }>;
  close: CustomEvent<{ name: string; code: number; reason: string }>;
  error: CustomEvent<ErrorDetail>;
  info: CustomEvent<ServerInfo>;
  /** The client moved to the next of its bases. */
  failover: CustomEvent<{ from: string; to: string }>;
}

export declare class Client extends EventTarget {
  constructor(base?: string | string[], options?: ClientOptions);
  /** The server's http(s) base URL: the one in use, of `bases`. */
  readonly base: string;
  /**
   * Every base the client may use, the given ones and those of /csws.json's edge.also: a socket
   * that fails or closes abnormally (1001, 1006, 1011, 1012, 1013) moves the client to the next,
   * round robin (event "failover", detail {from, to}).
   */
  readonly bases: string[];
  readonly options: Required<ClientOptions>;
  /** The token this client adds to its URLs (?token=), or null. */
  readonly token: string | null;
  /** /csws.json (cached; refresh = true reads it again). */
  info(refresh?: boolean): Promise<ServerInfo>;
  /** Receive every message Csound sends on a variable. */
  subscribe(name: string, callback: Callback): Subscription;
  /** Send a value to a variable Csound receives; false if queued until its socket opens. */
  send(name: string, value: SendValue): boolean;
  /** Send one block of an a-rate array, given per element. */
  sendChannels(name: string, channels: ArrayLike<number>[]): boolean;
  /** Play an a-rate variable Csound sends (a: mono; a[]: a channel per element) through an AudioWorklet. */
  play(name: string, options?: PlayOptions): Promise<Player>;
  /** Send the microphone (or options.stream / options.source) into an a-rate variable Csound receives. */
  capture(name: string, options?: CaptureOptions): Promise<Capture>;
  /** Open the socket of a variable the page will send to. */
  open(name: string): void;
  /** Csound's channels, score lines and code on this server (one CswsControl per client, same base and token). */
  control(): CswsControl;
  /** Close every socket and stop reconnecting. */
  close(): void;
  addEventListener<K extends keyof ClientEventMap>(
    type: K, listener: (ev: ClientEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void;
}

/**
 * A client for the server at base: "http://127.0.0.1:8888", "ws://...", "host:port"; default the page's origin.
 * A list of bases (edges of one Csound): the client fails over along it, round robin.
 */
export declare function connect(base?: string | string[], options?: ClientOptions): Client;
export default connect;

/** An interleaved a-rate array message -> one Float64Array per element. */
export declare function deinterleave(frame: ArrayLike<number>, nelems: number, ksmps: number): Float64Array[];
/** One array per element -> the interleaved message an a-rate array takes. */
export declare function interleave(channels: ArrayLike<number>[]): Float64Array;

export interface PlayOptions {
  /** The AudioContext to play in (default: a new one, closed by stop()). */
  context?: AudioContext | null;
  /** The buffer to keep, in seconds (default 0.05). */
  latency?: number;
  /** Connect player.node to context.destination (default true). */
  connect?: boolean;
  /**
   * "pcm" (default: float32 samples) or "opus": Opus packets decoded by WebCodecs' AudioDecoder, about
   * 15x fewer bytes; falls back to PCM, with a console warning, where the browser or the server cannot.
   */
  codec?: "pcm" | "opus";
  /** Opus: bits per second of the whole stream (default: the server's, 96000 per channel). */
  bitrate?: number | null;
  /** Opus: one packet's duration in ms: 2.5, 5, 10, 20, 40 or 60 (default 10). */
  frameMs?: number | null;
}

export interface PlayerStats {
  /** Seconds of Csound's audio played. */
  played: number;
  /** Times the buffer ran dry (silence until it holds `latency` again). */
  underruns: number;
  /** Seconds of audio skipped to catch up after a stall, or lost to a full buffer. */
  dropped: number;
  /** Seconds of audio waiting in the buffer now. */
  buffered: number;
  /** buffered plus the context's base and output latency, in seconds. */
  latency: number;
  /** The drift correction in force: the playback rate's relative change (at most +-0.002). */
  adjust: number;
  /** What plays: "opus", or "pcm" (asked for, or fallen back to). */
  codec: "pcm" | "opus";
  /** Bytes received on the wire so far. */
  bytes: number;
  /** Opus packets that never came (the server dropped them for a slow reader); 0 for PCM. */
  lost: number;
}

export declare class Player {
  readonly name: string;
  readonly context: AudioContext;
  /** The AudioWorkletNode that plays (connect it elsewhere with connect: false). */
  readonly node: AudioWorkletNode;
  /** What plays: "opus", or "pcm" (asked for, or fallen back to). */
  readonly codec: "pcm" | "opus";
  stats(): PlayerStats;
  stop(): void;
}

export interface CaptureOptions {
  /** The AudioContext to run in (default: the source's, else a new one). */
  context?: AudioContext | null;
  /** A MediaStream to send instead of the microphone. */
  stream?: MediaStream | null;
  /** An AudioNode to send instead of the microphone. */
  source?: AudioNode | null;
}

export declare class Capture {
  readonly name: string;
  readonly context: AudioContext;
  readonly node: AudioWorkletNode;
  /** The microphone's stream, when capture() opened it (stop() ends it). */
  readonly stream: MediaStream | null;
  /** Blocks of ksmps frames sent, and dropped while the socket was not open. */
  stats(): { sent: number; dropped: number };
  stop(): void;
}

// ---- Csound's channels, score lines and code: the control socket (csws-csound.js) ----

/** A channel of Csound's software bus, as the control socket lists it. */
export interface Channel {
  name: string;
  /** "control": a number (chn_k, k-rate chnset/chnget); "string": a string (chn_S). */
  type: "control" | "string";
  /** from_web: Csound reads it (chnget); to_web: Csound writes it (chnset); both. */
  direction: "from_web" | "to_web" | "both";
  /** The hints chn_k (or chnparams) gave; null (and default, min, max null) when there are none. */
  behaviour: "integer" | "linear" | "exponential" | null;
  default: number | null;
  min: number | null;
  max: number | null;
  x: number;
  y: number;
  width: number;
  height: number;
  attributes: string | null;
}

/** The server's first message on the control socket. */
export interface Hello {
  op: "hello";
  server: string;
  sr: number;
  ksmps: number;
  nchnls: number;
  "0dbfs": number;
  /** Whether this port runs orchestra code from the web (orc(), eval()). */
  code: boolean;
  channels: Channel[];
}

/** A channel's value: a number (control channels) or a string (string channels). */
export type ChannelValue = number | string;
export type ChannelValues = Record<string, ChannelValue>;

export interface ControlOptions {
  /** The server's token; default: the page's own ?token=, when base is the page's own server. */
  token?: string | null;
  /** Reopen the socket when it closes or fails to open (default true); never after close code 1008. */
  reconnect?: boolean;
  /** Milliseconds before the first reconnection attempt (default 250); doubles per attempt, with jitter. */
  minDelay?: number;
  /** Longest wait between attempts in milliseconds (default 5000). */
  maxDelay?: number;
}

export interface ControlEventMap {
  open: CustomEvent<{}>;
  close: CustomEvent<{ code: number; reason: string }>;
  hello: CustomEvent<Hello>;
  /** Watched channels that changed, with their newest values. */
  values: CustomEvent<ChannelValues>;
  channels: CustomEvent<Channel[]>;
  /** What the server refused (its sentence), or why the socket cannot open. */
  error: CustomEvent<{ message: string }>;
}

/**
 * One websocket with subprotocol "csws.control" to a csws port.  Calls made while it is not open
 * wait for it (sets: only the newest value per channel); requests sent and not answered reject
 * when it closes.  Promises reject with an Error whose message is the server's sentence.
 */
export declare class CswsControl extends EventTarget {
  /** base: "http://127.0.0.1:8888", "ws://...", "host:port"; default the page's origin. */
  constructor(base?: string, options?: ControlOptions);
  /** A port's http(s) base from the forms people give (default: the page's own origin). */
  static httpBase(base?: string | null): string;
  /** The ?token= the page was opened with, if base is the page's own server. */
  static pageToken(base: string): string | null;
  readonly base: string;
  readonly token: string | null;
  /** The server's hello, on the first connection. */
  readonly ready: Promise<Hello>;
  /** The last hello, or null before the first. */
  readonly hello: Hello | null;
  /** The channels as last listed (hello, list(), or the server's push). */
  readonly channels: Channel[];
  /** name -> the newest value known of every watched channel, and of what this page set. */
  readonly values: Map<string, ChannelValue>;
  readonly isOpen: boolean;
  /** Write a channel (latest wins; sets made together go as one message). Not echoed back to this page. */
  set(name: string, value: ChannelValue): void;
  setMany(values: ChannelValues): void;
  get(name: string): Promise<ChannelValue>;
  get(names: string[]): Promise<ChannelValues>;
  /** Current values at once, then every change; "*": every channel, also those made later. Returns unwatch. */
  watch(names: string | string[] | "*", callback: (values: ChannelValues) => void): () => void;
  list(): Promise<Channel[]>;
  /** Score lines (i, f, a, d, q, t, b, v statements). */
  score(text: string): Promise<null>;
  /** Orchestra code compiled into the running Csound (only where the user allows code). */
  orc(text: string): Promise<number>;
  /** Orchestra code ending in `return`, run once: the number it returns. */
  eval(text: string): Promise<number>;
  /** Csound's score time in seconds. */
  time(): Promise<number>;
  /** A line in Csound's console ("csws page: text"). */
  message(text: string): void;
  /** Close for good: no more reconnection; pending requests reject. */
  close(): void;
  addEventListener<K extends keyof ControlEventMap>(
    type: K, listener: (ev: ControlEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void;
}

/**
 * What a getter returns at once: a Number (or String) object holding the value known now (QtWebKit's
 * synchronous style: "sr " + csound.getSr()), which is also thenable: `await` gives the value fresh
 * from Csound.
 */
export type Now<T> = (T extends string ? String : Number) & PromiseLike<T>;

/**
 * The global `csound` object of CsoundQt's and Csound for Android's HTML pieces, as csws-csound.js
 * defines it when the page has none.  Getters take an optional callback (QtWebEngine's style).
 */
export interface CsoundObject {
  setControlChannel(name: string, value: number | string): void;
  setStringChannel(name: string, value: string): void;
  /** The latest value the page knows (0 before any), thenable for a fresh one; callback(value) later. */
  getControlChannel(name: string, callback?: (value: number) => void): Now<number>;
  /** The latest value the page knows ("" before any), thenable for a fresh one; callback(value) later. */
  getStringChannel(name: string, callback?: (value: string) => void): Now<string>;
  readScore(text: string, callback?: (result: null) => void): Promise<null>;
  /** The same as readScore (Csound for Android's). */
  inputMessage(text: string): Promise<null>;
  sendScore(text: string): Promise<null>;
  message(text: string): void;
  Message(text: string): void;
  /** From the server's hello: NaN until it has come, thenable for the value once it has. */
  getSr(callback?: (value: number) => void): Now<number>;
  getKsmps(callback?: (value: number) => void): Now<number>;
  getNchnls(callback?: (value: number) => void): Now<number>;
  getNumChannels(callback?: (value: number) => void): Now<number>;
  get0dBFS(callback?: (value: number) => void): Now<number>;
  /** The score time Csound last told (NaN before), thenable for the time now. */
  getScoreTime(callback?: (value: number) => void): Now<number>;
  compileOrc(text: string, callback?: (result: number) => void): Promise<number>;
  evalCode(text: string, callback?: (result: number) => void): Promise<number>;
  /** The hosts' own methods (start, stop, perform, compileCsd, setOption, isPlaying, tableGet...): a console warning, undefined. */
  [hostOnly: string]: (...args: any[]) => any;
}

type CswsControlClass = typeof CswsControl;

declare global {
  /** The same class, as csws-csound.js defines it for classic scripts. */
  var CswsControl: CswsControlClass;
  /** Defined by csws-csound.js unless the page (CsoundQt, Csound for Android) has its own. */
  var csound: CsoundObject;
}
