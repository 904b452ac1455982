// csws-csound.js - Csound's channels, score events and code from a web page (csound-websocket).
//
// A classic script without dependencies, so that a .csd's <html> can load it with a plain tag
// (the port injects <script src="/csws-csound.js?connect"></script> there); csws.js imports it
// as a module for Client.control().  It defines two globals:
//
//   CswsControl  one websocket whose subprotocol is "csws.control" (docs/protocol.md, "the control
//                socket"): set, get and watch channels, score lines, orchestra code, messages.
//   csound       the object HTML pieces for CsoundQt and Csound for Android call
//                (csound.setControlChannel("freq", 440), csound.readScore("i1 0 1")...), unless
//                the page has one already (those hosts inject their own).
//
//   const ctl = new CswsControl();              // the port that served the page
//   ctl.watch("level", (v) => show(v.level));
//   slider.oninput = () => ctl.set("freq", +slider.value);

(function () {
  "use strict";

  const SUBPROTOCOL = "csws.control";
  const DEFAULTS = {
    reconnect: true,
    minDelay: 250, // ms before the first reconnection attempt ...
    maxDelay: 5000, // ... doubling up to this
    token: null, // the server's token; default: the page's own ?token=, for its own server only
  };

  // The http(s) base of a csws port: "http://host:port", "ws://...", "host:port", or by default
  // the page's own origin (a page opened from a file: the usual port).
  function httpBase(base) {
    if (base === undefined || base === null || base === "") {
      const loc = globalThis.location;
      if (loc && (loc.protocol === "http:" || loc.protocol === "https:")) return loc.origin;
      return "http://127.0.0.1:8888";
    }
    let url = String(base);
    if (!/^[a-z]+:\/\//i.test(url)) url = "http://" + url;
    url = url.replace(/^ws(s?):/i, "http$1:");
    return url.replace(/\/+$/, "");
  }

  // The token the page was opened with (http://host:port/?token=...), for that server only: the
  // server sets no cookie (it would reach every port of the host), so the token rides in the URL.
  function pageToken(base) {
    const loc = globalThis.location;
    if (!loc || (loc.protocol !== "http:" && loc.protocol !== "https:") || loc.origin !== base) return null;
    return new URLSearchParams(loc.search).get("token");
  }

  /**
   * The control socket of one csws port: Csound's named channels, score lines, orchestra code and
   * messages.  Reopened with back-off until close(); what the page asks while it is not open waits
   * for it (channel values: only the newest per channel).
   */
  class CswsControl extends EventTarget {
    constructor(base, options) {
      super();
      this.base = httpBase(base);
      this.options = { ...DEFAULTS, ...(options || {}) };
      this.token = this.options.token ?? pageToken(this.base);
      this.hello = null; // the server's last hello: sr, ksmps, nchnls, 0dbfs, code, channels
      this.channels = []; // the channels, as the server last listed them
      this.values = new Map(); // name -> newest value known: watched channels and what the page set
      this.ready = new Promise((resolve) => {
        this._resolveReady = resolve;
      });
      this._ws = null;
      this._closed = false;
      this._attempts = 0;
      this._timer = null;
      this._unreachable = false; // said so since the socket last opened
      this._nextId = 1;
      this._pending = new Map(); // id -> request sent and not answered yet
      this._unanswered = new Map(); // channel -> sets of it sent and not answered yet
      this._outbox = []; // requests and messages made while the socket was not open, in order
      this._sets = new Map(); // name -> value set and not sent yet: latest wins
      this._setsScheduled = false;
      this._watches = new Set(); // {callback, names: a Set, or null for every channel}
      this._watchCount = new Map(); // name or "*" -> watches sharing the server's watch of it
      this._open();
    }

    get isOpen() {
      return this._ws !== null && this._ws.readyState === 1;
    }

    /** Write a channel: a number to a control channel, a string to a string channel. */
    set(name, value) {
      this.setMany({ [name]: value });
    }

    /** Write several channels at once ({name: value, ...}). */
    setMany(values) {
      for (const [name, value] of Object.entries(values)) {
        this._sets.set(name, value);
        this.values.set(name, value);
      }
      this._scheduleSets();
    }

    /** A channel's value now, from Csound: get(name) -> value; get([names]) -> {name: value}. */
    get(names) {
      if (Array.isArray(names)) return this._request("get", { names });
      return this._request("get", { names: [names] }).then((values) => values[names]);
    }

    /**
     * Call callback({name: value, ...}) with the current values of the channels named (an array, a
     * name, or "*" for every channel, also those made later), then with every change.  Returns a
     * function that stops it.
     */
    watch(names, callback) {
      const all = names === "*";
      const keys = all ? ["*"] : typeof names === "string" ? [names] : [...names];
      const watch = { callback, names: all ? null : new Set(keys) };
      this._watches.add(watch);
      const fresh = [];
      for (const key of keys) {
        const n = this._watchCount.get(key) || 0;
        this._watchCount.set(key, n + 1);
        if (n === 0) fresh.push(key);
      }
      if (fresh.length > 0) this._remoteWatch("watch", fresh);
      // The server sends current values only for a watch it did not have: a callback joining a
      // shared watch gets what is known here.
      if (fresh.length < keys.length && this.values.size > 0) {
        queueMicrotask(() => {
          if (!this._watches.has(watch)) return;
          const known = this._known(watch, this.values);
          if (known !== null) this._call(watch, known);
        });
      }
      return () => {
        if (!this._watches.delete(watch)) return;
        const gone = [];
        for (const key of keys) {
          const n = this._watchCount.get(key) - 1;
          if (n === 0) {
            this._watchCount.delete(key);
            gone.push(key);
          } else {
            this._watchCount.set(key, n);
          }
        }
        if (gone.length > 0) this._remoteWatch("unwatch", gone);
      };
    }

    /** The channels: name, type, direction and the hints chn_k gave (docs/protocol.md). */
    list() {
      return this._request("list", {}).then((channels) => {
        this.channels = channels;
        return channels;
      });
    }

    /** Score lines for Csound to read (i, f, a, d, q, t, b, v statements). */
    score(text) {
      return this._request("score", { text: String(text) });
    }

    /** Compile orchestra code into the running Csound (only where the user allows code). */
    orc(text) {
      return this._request("orc", { text: String(text) });
    }

    /** Run orchestra code ending in `return` once; the number it returns. */
    eval(text) {
      return this._request("eval", { text: String(text) });
    }

    /** Csound's score time, in seconds. */
    time() {
      return this._request("time", {});
    }

    /** Print a line in Csound's console (as "csws page: text"). */
    message(text) {
      this._post({ message: { op: "message", text: String(text) } });
    }

    /** Close the socket for good; requests not answered yet reject. */
    close() {
      this._closed = true;
      if (this._timer !== null) clearTimeout(this._timer);
      this._timer = null;
      const ws = this._ws;
      this._ws = null;
      if (ws) ws.close(1000);
      this._abandon("the control socket was closed");
    }

    _open() {
      this._timer = null;
      if (this._closed) return;
      const query = this.token ? `?token=${encodeURIComponent(this.token)}` : "";
      let ws;
      try {
        ws = new WebSocket(this.base.replace(/^http(s?):/i, "ws$1:") + "/" + query, SUBPROTOCOL);
      } catch (e) {
        this._report(`cannot open a websocket to ${this.base}: ${e.message || e}`);
        this._retry();
        return;
      }
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this._attempts = 0;
        this._unreachable = false;
        this._emit("open", {});
        this._flush();
      };
      ws.onmessage = (ev) => this._receive(ev.data);
      ws.onclose = (ev) => {
        if (this._ws !== ws) return; // closed by close()
        this._ws = null;
        this._lose(`the control socket closed (${ev.code}${ev.reason ? ": " + ev.reason : ""}) before Csound answered`);
        if (opened) this._emit("close", { code: ev.code, reason: ev.reason });
        if (ev.code === 1008) {
          // Refused for what this page did (too many requests, a bad token): asking again cannot help.
          this._closed = true;
          this._report(ev.reason || `${this.base} refused the control socket (1008)`);
          this._abandon(ev.reason || "the control socket was refused");
          return;
        }
        if (!opened && !this._unreachable) {
          this._unreachable = true;
          this._report(this._whyUnreachable());
        }
        if (!this.options.reconnect) {
          this._closed = true;
          this._abandon("the control socket closed");
          return;
        }
        this._retry();
      };
      this._ws = ws;
    }

    _retry() {
      if (this._closed || this._timer !== null) return;
      const { minDelay, maxDelay } = this.options;
      const delay = Math.min(maxDelay, minDelay * 2 ** this._attempts) * (0.75 + 0.25 * Math.random());
      this._attempts += 1;
      this._timer = setTimeout(() => this._open(), delay);
    }

    // The browser says only that the socket failed (1006): say what it usually means.
    _whyUnreachable() {
      if (globalThis.origin === "null") {
        return `${this.base} refuses this page: a page opened from a file (or a sandboxed frame) sends ` +
          "Origin: null, refused by default. Let csws serve the page (csws run --static FOLDER piece.csd), " +
          "or allow such pages with csws run --origin null; retrying";
      }
      return `cannot open the control socket of ${this.base}: is Csound running with a websocket on that ` +
        "port (and a token given if it has one)? retrying";
    }

    // Open again: the watches, the values set meanwhile, then what was asked, in order.
    _flush() {
      const named = [...this._watchCount.keys()];
      if (named.length > 0) this._remoteWatch("watch", named);
      this._sendSets();
      const outbox = this._outbox;
      this._outbox = [];
      for (const entry of outbox) this._transmit(entry);
    }

    _receive(data) {
      let message;
      try {
        message = JSON.parse(data);
      } catch (e) {
        this._report(`the server sent something that is not JSON: ${String(data).slice(0, 80)}`);
        return;
      }
      if (message.id !== undefined && this._pending.has(message.id)) {
        const entry = this._pending.get(message.id);
        this._pending.delete(message.id);
        if (message.error !== undefined) entry.reject(new Error(message.error));
        else entry.resolve(message.ok);
        return;
      }
      switch (message.op) {
        case "hello":
          this.hello = message;
          this.channels = message.channels || [];
          this._resolveReady(message);
          this._emit("hello", message);
          this._emit("channels", this.channels);
          break;
        case "values":
          this._values(message.values || {});
          break;
        case "channels":
          this.channels = message.channels || [];
          this._emit("channels", this.channels);
          break;
        case "error":
          this._report(message.error);
          break;
        default:
          break; // an op of a newer server: nothing this page asked for
      }
    }

    _values(values) {
      // A value the page set and has not sent yet is newer than Csound's.
      const fresh = {};
      let any = false;
      for (const [name, value] of Object.entries(values)) {
        // The server answers a set once it has written it: until then a value it pushes may
        // have been read before (a watch's first values), and is older than the page's.
        if (this._sets.has(name) || this._unanswered.has(name)) continue;
        this.values.set(name, value);
        fresh[name] = value;
        any = true;
      }
      if (!any) return;
      this._emit("values", fresh);
      for (const watch of [...this._watches]) {
        const mine = this._known(watch, fresh);
        if (mine !== null) this._call(watch, mine);
      }
    }

    // The part of `values` (an object or a Map) a watch asked for, or null.
    _known(watch, values) {
      const entries = values instanceof Map ? [...values] : Object.entries(values);
      const mine = {};
      let any = false;
      for (const [name, value] of entries) {
        if (watch.names === null || watch.names.has(name)) {
          mine[name] = value;
          any = true;
        }
      }
      return any ? mine : null;
    }

    _call(watch, values) {
      try {
        watch.callback(values);
      } catch (e) {
        this._report(`a watch callback failed: ${e.message || e}`);
      }
    }

    _remoteWatch(op, keys) {
      if (!this.isOpen) return; // every watch is sent again on open
      if (keys.includes("*")) this._transmit({ message: { op, names: "*" } });
      const names = keys.filter((k) => k !== "*");
      if (names.length > 0) this._transmit({ message: { op, names } });
    }

    // Sets made in one turn of the page's code go as one message: a page that moves many
    // controls at once stays far below the server's request limit.
    _scheduleSets() {
      if (this._setsScheduled || !this.isOpen) return; // not open: sent on open
      this._setsScheduled = true;
      queueMicrotask(() => {
        this._setsScheduled = false;
        this._sendSets();
      });
    }

    _sendSets() {
      if (this._sets.size === 0 || !this.isOpen) return;
      const values = Object.fromEntries(this._sets);
      this._sets.clear();
      const answered = this._sent(Object.keys(values));
      this._transmit({
        message: { op: "set", values, id: this._nextId++ },
        resolve: answered,
        reject: (e) => {
          answered();
          this._setFailed(values, e);
        },
        lost: answered, // sent: Csound has it, or the server went away with it
      });
    }

    // Count sets of these channels under way; the function returned says one was answered.
    _sent(names) {
      for (const name of names) this._unanswered.set(name, (this._unanswered.get(name) || 0) + 1);
      return () => {
        for (const name of names) {
          const n = this._unanswered.get(name) - 1;
          if (n > 0) this._unanswered.set(name, n);
          else this._unanswered.delete(name);
        }
      };
    }

    // The server writes none of a set's values if one is wrong: send the others again one by
    // one (unless a newer value has replaced them), so that only the wrong one fails.
    _setFailed(values, error) {
      const names = Object.keys(values);
      if (names.length === 1) {
        this._report(error.message);
        return;
      }
      for (const name of names) {
        if (!this.isOpen) return; // closing: lost, like values sent just before a close
        if (this._sets.has(name) || !Object.is(this.values.get(name), values[name])) continue;
        const answered = this._sent([name]);
        this._transmit({
          message: { op: "set", values: { [name]: values[name] }, id: this._nextId++ },
          resolve: answered,
          reject: (e) => {
            answered();
            this._report(e.message);
          },
          lost: answered,
        });
      }
    }

    _request(op, fields) {
      return new Promise((resolve, reject) => {
        this._post({ message: { op, ...fields, id: this._nextId++ }, resolve, reject });
      });
    }

    // A message now if the socket is open, else when it opens.
    _post(entry) {
      if (this._closed) {
        if (entry.reject) entry.reject(new Error("the control socket is closed"));
        return;
      }
      if (this.isOpen) this._transmit(entry);
      else this._outbox.push(entry);
    }

    _transmit(entry) {
      if (entry.reject) this._pending.set(entry.message.id, entry);
      this._ws.send(JSON.stringify(entry.message));
    }

    // The socket closed: what was sent will not be answered.
    _lose(reason) {
      const pending = [...this._pending.values()];
      this._pending.clear();
      for (const entry of pending) {
        if (entry.lost) entry.lost();
        else entry.reject(new Error(`${entry.message.op}: ${reason}`));
      }
    }

    // No more socket: nothing waiting will be sent either.
    _abandon(reason) {
      this._lose(reason);
      const outbox = this._outbox;
      this._outbox = [];
      this._sets.clear();
      for (const entry of outbox) if (entry.reject) entry.reject(new Error(`${entry.message.op}: ${reason}`));
    }

    _report(message) {
      this._emit("error", { message });
    }

    _emit(type, detail) {
      this.dispatchEvent(new CustomEvent(type, { detail }));
    }
  }

  // csws.js finds a port's address and the page's token the same way.
  CswsControl.httpBase = httpBase;
  CswsControl.pageToken = pageToken;
  if (globalThis.CswsControl === undefined) globalThis.CswsControl = CswsControl;
  if (globalThis.csound !== undefined) return; // CsoundQt's or Csound for Android's own, or another copy's

  // ---- the csound object of CsoundQt's and Csound for Android's HTML pieces ----

  // Loaded by a tag (document.currentScript; null when imported as a module): the csound object
  // talks to the port the script came from, which may serve another origin's page.
  const script = globalThis.document ? globalThis.document.currentScript : null;
  const src = script && script.src ? new URL(script.src) : null;
  const fromPort = src !== null && (src.protocol === "http:" || src.protocol === "https:");
  const scriptBase = fromPort ? src.origin : undefined;
  const scriptToken = fromPort ? src.searchParams.get("token") : null;

  let control = null;
  let scoreTime = NaN; // the last score time Csound told

  // The connection, opened on first use (or at once with ?connect).
  function ctl() {
    if (control === null) {
      control = new CswsControl(scriptBase, scriptToken ? { token: scriptToken } : undefined);
      control.watch("*", () => {}); // keeps control.values current for the synchronous getters
      control.addEventListener("error", (e) => console.warn(`csws: ${e.detail.message}`));
    }
    return control;
  }

  // A result the page can also take at once, as QtWebKit's synchronous calls gave it ("sr " +
  // csound.getSr()): a Number (or String) object holding what is known now, which is also
  // thenable, so that `await` (or .then) gets the value fresh from Csound.
  function now(value, fresh) {
    const box = typeof value === "string" ? new String(value) : new Number(value);
    let promise = null;
    Object.defineProperty(box, "then", {
      value(onValue, onError) {
        if (promise === null) promise = fresh();
        return promise.then(onValue, onError);
      },
    });
    return box;
  }

  // QtWebEngine's style: the value goes to a callback, later.  A failure is logged, and the
  // promise returned is handled, so a page that ignores it leaves no unhandled rejection.
  function answer(promise, callback, what) {
    promise.then(
      (value) => {
        if (typeof callback === "function") callback(value);
      },
      (e) => console.warn(`csws: csound.${what}: ${e.message}`),
    );
    return promise;
  }

  function channel(what, name, callback, none) {
    const c = ctl();
    name = String(name);
    const fresh = () => answer(c.get(name), callback, `${what}("${name}")`);
    const box = now(c.values.has(name) ? c.values.get(name) : none, fresh);
    if (typeof callback === "function") box.then(() => {}, () => {});
    return box;
  }

  function fromHello(what, key, callback) {
    const c = ctl();
    const fresh = () => answer(c.ready.then(() => c.hello[key]), callback, `${what}()`);
    const box = now(c.hello ? c.hello[key] : NaN, fresh);
    if (typeof callback === "function") box.then(() => {}, () => {});
    return box;
  }

  function readScore(text, callback) {
    return answer(ctl().score(text), callback, "readScore");
  }

  function message(text) {
    ctl().message(text);
  }

  const csound = {
    setControlChannel(name, value) {
      ctl().set(String(name), Number(value)); // slider.value is a string: the hosts convert too
    },
    setStringChannel(name, value) {
      ctl().set(String(name), String(value));
    },
    // The latest value the page knows (0 or "" before any), thenable for a fresh one; or cb(value).
    getControlChannel(name, callback) {
      return channel("getControlChannel", name, callback, 0);
    },
    getStringChannel(name, callback) {
      return channel("getStringChannel", name, callback, "");
    },
    readScore,
    inputMessage: readScore, // Csound for Android's: one score line
    sendScore: readScore, // Csound for Android's
    message,
    Message: message, // Csound for Android's
    getSr(callback) {
      return fromHello("getSr", "sr", callback);
    },
    getKsmps(callback) {
      return fromHello("getKsmps", "ksmps", callback);
    },
    getNchnls(callback) {
      return fromHello("getNchnls", "nchnls", callback);
    },
    getNumChannels(callback) {
      return fromHello("getNumChannels", "nchnls", callback); // Csound for Android's
    },
    get0dBFS(callback) {
      return fromHello("get0dBFS", "0dbfs", callback);
    },
    getScoreTime(callback) {
      const fresh = () => answer(ctl().time().then((t) => (scoreTime = t)), callback, "getScoreTime()");
      const box = now(scoreTime, fresh);
      if (typeof callback === "function") box.then(() => {}, () => {});
      return box;
    },
    compileOrc(text, callback) {
      return answer(ctl().orc(text), callback, "compileOrc");
    },
    evalCode(text, callback) {
      return answer(ctl().eval(text), callback, "evalCode");
    },
  };

  // What the hosts' objects do to the Csound they run (or offer beyond the control socket): a
  // page here talks to a Csound that csws runs, so these say so once each and do nothing.
  const HOST_ONLY = [
    // CsoundQt (and Csound for Android's CsoundAppActivity)
    "compileCsd", "compileCsdText", "start", "stop", "perform", "cleanup", "reset", "setOption",
    "isPlaying", "isScorePending", "setScorePending", "rewindScore", "getScoreOffsetSeconds",
    "setScoreOffsetSeconds", "getApiVersion", "getVersion", "getEnv", "setGlobalEnv", "getOutputName",
    "setInput", "setOutput", "getNchnlsInput", "getCurrentTimeSamples", "runUtility", "scoreEvent",
    "setMessageCallback", "tableGet", "tableSet", "tableLength",
    // Csound for Android
    "play", "pause", "togglePause", "stopCsound", "setCsoundText", "setCsoundTextAndRun", "getCsoundText",
  ];
  const warned = new Set();
  for (const name of HOST_ONLY) {
    csound[name] = function () {
      if (!warned.has(name)) {
        warned.add(name);
        console.warn(`csws: csound.${name}() does nothing here: it belongs to a host that runs Csound itself ` +
          "(CsoundQt, Csound for Android); this page talks to a Csound that csws runs, which offers channels, " +
          "score lines, orchestra code, messages, sr, ksmps, nchnls, 0dbfs and the score time");
      }
      return undefined;
    };
  }

  globalThis.csound = csound;
  if (src !== null && src.searchParams.has("connect")) ctl();
})();
