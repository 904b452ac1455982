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
}

/** /csws.json: what one port offers. */
export interface ServerInfo {
  server: string;
  sr: number;
  ksmps: number;
  /** Bytes of Csound's MYFLT: 8 (double) or 4 (float). */
  myflt_bytes: number;
  port: number;
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
}

export declare class Client extends EventTarget {
  constructor(base?: string, options?: ClientOptions);
  /** The server's http(s) base URL. */
  readonly base: string;
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
  /** Close every socket and stop reconnecting. */
  close(): void;
  addEventListener<K extends keyof ClientEventMap>(
    type: K, listener: (ev: ClientEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void;
}

/** A client for the server at base: "http://127.0.0.1:8888", "ws://...", "host:port"; default the page's origin. */
export declare function connect(base?: string, options?: ClientOptions): Client;
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
}

export declare class Player {
  readonly name: string;
  readonly context: AudioContext;
  /** The AudioWorkletNode that plays (connect it elsewhere with connect: false). */
  readonly node: AudioWorkletNode;
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
