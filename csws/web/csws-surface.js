// csws-surface.js - the control surface a csws port serves at / (and at /csws/surface) for a piece
// with no page of its own, generated from what the port offers: Csound's named channels (the
// control socket, csws.control) and the websocket variables (/csws.json).
//
// Every control is a native element (range, number, text, checkbox switch, button), so keyboard,
// touch and screen readers work without extra code, and its accessible name is exactly the
// channel's or variable's name (aria-labelledby the card's name).  A number is rounded to its
// control's step before it is shown and sent, so what Csound gets is what the page shows.

import { connect } from "./csws.js";

const cs = connect();
const ctl = cs.control();
const $ = (id) => document.getElementById(id);

// ---- storage: values and spans survive a reload; other tabs hear of them (the storage event) ----

const PREFIX = `csws-surface ${location.host} `;
const store = {
  get(key) {
    try {
      const s = localStorage.getItem(PREFIX + key);
      return s === null ? undefined : JSON.parse(s);
    } catch {
      return undefined; // storage disabled (a private window's policy): the page works without it
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(PREFIX + key, JSON.stringify(value));
    } catch {
      // as above
    }
  },
};

// ---- scales: between a slider's position and the value it stands for ----

const DIVISIONS = 1000; // positions of an exponential slider, and of a linear one's nice step

function niceStep(x) {
  const e = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 5, 10].map((m) => m * e).find((s) => s >= x * (1 - 1e-9));
}

const decimalsOf = (step) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

/**
 * A numeric control's range.  integer: the slider holds the value, step 1; linear: the value, a
 * 1-2-5 step of about a thousandth of the range; exponential (min and max of one sign): the
 * slider holds one of DIVISIONS positions and the value is rounded to 4 significant digits.
 * `declared`: the orchestra gave the range, so typed numbers are clamped to it; an automatic
 * range grows to take them instead.
 */
class Scale {
  constructor(min, max, behaviour, declared) {
    this.min = Math.min(min, max);
    this.max = Math.max(min, max);
    this.declared = declared;
    this.behaviour = behaviour === "integer" ? "integer"
      : behaviour === "exponential" && this.min * this.max > 0 ? "exponential" : "linear";
    if (this.behaviour === "integer") {
      this.min = Math.ceil(this.min);
      this.max = Math.max(this.min, Math.floor(this.max));
      this.step = 1;
    } else if (this.behaviour === "linear") {
      this.step = this.max > this.min ? niceStep((this.max - this.min) / DIVISIONS) : 1;
    }
  }

  get slider() {
    return this.behaviour === "exponential" ? { min: 0, max: DIVISIONS, step: 1 }
      : { min: this.min, max: this.max, step: this.step };
  }

  toPos(v) {
    if (this.behaviour !== "exponential") return v;
    return Math.round(DIVISIONS * Math.log(v / this.min) / Math.log(this.max / this.min));
  }

  fromPos(p) {
    if (this.behaviour === "exponential") {
      return this.clamp(Number((this.min * (this.max / this.min) ** (p / DIVISIONS)).toPrecision(4)));
    }
    return this.behaviour === "integer" ? p : Number(p.toFixed(decimalsOf(this.step)));
  }

  clamp(v) {
    return Math.min(this.max, Math.max(this.min, v));
  }

  /** What a typed number becomes: an integer for integer ranges, within a declared range. */
  fix(v) {
    if (this.behaviour === "integer") v = Math.round(v);
    return this.declared ? this.clamp(v) : v;
  }

  get label() {
    return this.behaviour === "linear" ? "" : this.behaviour.slice(0, 3);
  }
}

/** An automatic range for a value nothing declared a range for: 0..1, or up to the next power of ten. */
function autoSpan(v) {
  if (!Number.isFinite(v) || (v >= 0 && v <= 1)) return [0, 1];
  const top = 10 ** Math.ceil(Math.log10(Math.abs(v)) + 1e-9);
  return v > 0 ? [0, top] : [-top, 0];
}

// Numbers as displays show them: steady width, no float noise.
const show = (v) => Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4 && v !== 0
  ? v.toExponential(3) : v.toPrecision(5);
// A value from Csound or another page, in an input the user may edit: short, yet exact enough.
const tidy = (v) => String(Number(v.toPrecision(7)));

// ---- building blocks ----

let uid = 0;

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children);
  return e;
}

/** A card: the name (every control in it is labelled by it) and what kind of thing it is. */
function card(section, name, kind, wide = false) {
  const id = `n${++uid}`;
  const el = h("div", { class: wide ? "card wide" : "card" },
    h("div", { class: "head" }, h("span", { class: "name", id, title: name }, name),
      h("span", { class: "kind" }, kind)));
  $(section).append(el);
  return { el, id };
}

// Canvases are drawn on animation frames, only when something changed.
const drawables = new Set();
function frame() {
  for (const d of drawables) d.draw();
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

function fit(canvas) {
  const r = devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * r));
  const ht = Math.max(1, Math.round(canvas.clientHeight * r));
  if (canvas.width !== w || canvas.height !== ht) {
    canvas.width = w;
    canvas.height = ht;
  }
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, ht);
  return [g, w, ht];
}

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const COLORS = { accent: css("--accent"), out: css("--out"), line: css("--line") };

// While the user holds a control (or types in a field), values from elsewhere are not shown in it: the hand wins.
let held = null;
addEventListener("pointerup", () => { held = null; });
addEventListener("pointercancel", () => { held = null; });
const holdable = (el) => el.addEventListener("pointerdown", () => { held = el; });
const busy = (el) => held === el || (document.activeElement === el && el.type !== "range" && el.type !== "checkbox");

// ---- controls: what the page may write ----

/**
 * A slider and a number field, both named `name`.  `send(value)` gets every value the user sets;
 * `remote(value)` shows one from elsewhere.  scale: a Scale, or null for an automatic range the
 * user may change (its span is kept in storage under spanKey).
 */
class NumberControl {
  constructor(box, nameId, scale, send, spanKey, trend = false) {
    this.send = send;
    this.spanKey = spanKey;
    this.value = null;
    this.slider = h("input", { type: "range", "aria-labelledby": nameId,
      oninput: () => this.commit(this.scale.fromPos(Number(this.slider.value))) });
    this.number = h("input", { type: "number", "aria-labelledby": nameId,
      onchange: () => {
        const v = Number(this.number.value);
        if (this.number.value.trim() !== "" && Number.isFinite(v)) this.commit(this.scale.fix(v));
        else this.number.value = this.value === null ? "" : tidy(this.value); // not a number: back to what was
      } });
    holdable(this.slider);
    this.ends = h("div", { class: "range" });
    box.el.append(h("div", { class: "row" }, this.slider, this.number), this.ends);
    box.el.classList.add("unset");
    this.box = box;
    if (scale === null) {
      const [lo, hi] = store.get(spanKey) || [0, 1];
      const span = (label, value) => h("input", { type: "number", class: "small", "aria-label": label,
        "aria-describedby": nameId, value, onchange: () => this.respan() });
      this.lo = span("from", lo);
      this.hi = span("to", hi);
      box.el.append(h("details", {}, h("summary", {}, "range"),
        h("div", { class: "row" }, "from", this.lo, "to", this.hi)));
      scale = new Scale(lo, hi, "linear", false);
    }
    this.setScale(scale);
    // A channel Csound writes too: its trend shows what Csound does with it.
    if (trend) {
      this.trend = new Trend(box, scale.declared ? [scale.min, scale.max] : null);
      drawables.add(this);
    }
  }

  draw() {
    this.trend.sample(this.value);
  }

  setScale(scale) {
    this.scale = scale;
    const s = scale.slider;
    Object.assign(this.slider, { min: s.min, max: s.max, step: s.step });
    this.number.step = scale.behaviour === "integer" ? 1 : "any";
    if (scale.declared) Object.assign(this.number, { min: scale.min, max: scale.max });
    this.ends.replaceChildren(...[tidy(scale.min), scale.label, tidy(scale.max)].map((t) => h("span", {}, t)));
    this.place(this.value === null ? scale.min : this.value);
  }

  // The user's span for an automatic range.
  respan() {
    const lo = Number(this.lo.value);
    const hi = Number(this.hi.value);
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) return;
    store.set(this.spanKey, [lo, hi]);
    this.setScale(new Scale(lo, hi, "linear", false));
  }

  // An automatic range grows to show a value outside it.
  widen(v) {
    if (this.scale.declared || (v >= this.scale.min && v <= this.scale.max)) return;
    const [a, b] = autoSpan(v);
    const lo = Math.min(a, this.scale.min);
    const hi = Math.max(b, this.scale.max);
    this.lo.value = lo;
    this.hi.value = hi;
    store.set(this.spanKey, [lo, hi]);
    this.setScale(new Scale(lo, hi, "linear", false));
  }

  place(v) {
    this.slider.value = this.scale.toPos(this.scale.clamp(v));
    if (this.value !== null) this.slider.setAttribute("aria-valuetext", this.number.value);
  }

  // text: the value as the number field shows it (what is sent: exactly; from elsewhere: tidied).
  display(v, text) {
    this.value = v;
    this.number.value = text;
    this.box.el.classList.remove("unset");
    this.widen(v);
    this.place(v);
  }

  commit(v) {
    this.display(v, String(v));
    this.send(v);
  }

  remote(v) {
    if (typeof v !== "number" || busy(this.slider) || busy(this.number)) return;
    this.display(v, tidy(v));
  }
}

/** A 0..1 integer channel: a switch sending 1 or 0. */
class Toggle {
  constructor(box, nameId, send) {
    this.send = send;
    this.value = null;
    this.input = h("input", { type: "checkbox", role: "switch", "aria-labelledby": nameId,
      onchange: () => {
        this.value = this.input.checked ? 1 : 0;
        this.state.textContent = this.value;
        this.send(this.value);
      } });
    this.state = h("span", { class: "value", "aria-hidden": "true" }, "–");
    box.el.append(h("div", { class: "row" }, this.input, this.state));
  }

  remote(v) {
    if (typeof v !== "number") return;
    this.value = v;
    this.input.checked = v >= 0.5;
    this.state.textContent = tidy(v);
  }
}

/** A text field: every edit is sent (strings are latest-wins, like a slider's values). */
class TextControl {
  constructor(box, nameId, send) {
    this.send = send;
    this.value = null;
    this.input = h("input", { type: "text", "aria-labelledby": nameId, spellcheck: "false", autocomplete: "off",
      oninput: () => { this.value = this.input.value; this.send(this.value); } });
    box.el.append(this.input);
  }

  remote(v) {
    if (typeof v !== "string" || busy(this.input)) return;
    this.value = v;
    this.input.value = v;
  }

  commit(v) {
    this.value = v;
    this.input.value = v;
    this.send(v);
  }
}

// ---- displays: what Csound writes ----

const TREND = 160; // trend points, one every SAMPLE_MS
const SAMPLE_MS = 50;

/** A value's trend over the last TREND × SAMPLE_MS (8 s): a line, within range or else its own extent. */
class Trend {
  constructor(box, range) {
    this.range = range;
    this.canvas = h("canvas", { "aria-hidden": "true" });
    box.el.append(this.canvas);
    this.history = [];
    this.next = 0;
  }

  // Takes v if a sample is due, and draws; true if it did.
  sample(v) {
    const now = performance.now();
    if (v === null || now < this.next) return false;
    this.next = now + SAMPLE_MS;
    this.history.push(v);
    if (this.history.length > TREND) this.history.shift();
    const [g, w, ht] = fit(this.canvas);
    let [lo, hi] = this.range || [Math.min(...this.history), Math.max(...this.history)];
    if (hi - lo < 1e-12) [lo, hi] = [lo - 1, hi + 1];
    const r = devicePixelRatio || 1;
    g.lineWidth = 1.5 * r;
    g.strokeStyle = COLORS.out;
    g.beginPath();
    this.history.forEach((x, i) => {
      const px = w - (this.history.length - 1 - i) * (w / (TREND - 1));
      const py = ht - 2 * r - (Math.min(hi, Math.max(lo, x)) - lo) / (hi - lo) * (ht - 4 * r);
      if (i === 0) g.moveTo(px, py);
      else g.lineTo(px, py);
    });
    g.stroke();
    return true;
  }
}

/** A number Csound sends, and its trend. */
class NumberDisplay {
  constructor(box, nameId, range = null) {
    this.latest = null;
    this.out = h("output", { "aria-labelledby": nameId, "aria-live": "off" }, "–");
    box.el.append(this.out);
    this.trend = new Trend(box, range);
    drawables.add(this);
  }

  remote(v) {
    if (typeof v === "number") this.latest = v;
  }

  draw() {
    if (this.trend.sample(this.latest)) this.out.textContent = show(this.latest);
  }
}

/** A string Csound sends, or an i-rate number (set once: no trend). */
class TextDisplay {
  constructor(box, nameId, text = true) {
    this.out = h("output", { class: text ? "value text" : "", "aria-labelledby": nameId, "aria-live": "off" });
    box.el.append(this.out);
  }

  remote(v) {
    this.out.textContent = typeof v === "number" ? show(v) : v;
  }
}

/**
 * An array as bars, with its numbers below.  Given `edit(values)`, the bars can be drawn with a
 * finger or the mouse, and the numbers are a text field (comma-separated) for the keyboard.
 */
class Bars {
  constructor(box, nameId, count, range, edit = null) {
    this.range = range; // [lo, hi], or null: the bars' scale follows the values, growing only
    this.span = range ? [...range] : [0, 1];
    this.values = new Float64Array(count);
    this.edit = edit;
    this.dirty = true;
    this.canvas = h("canvas", { class: "bars", "aria-hidden": "true" });
    box.el.append(this.canvas);
    if (edit) {
      this.text = h("input", { type: "text", "aria-labelledby": nameId, spellcheck: "false",
        onchange: () => this.typed() });
      box.el.append(this.text);
      this.canvas.addEventListener("pointerdown", (e) => {
        this.canvas.setPointerCapture(e.pointerId);
        this.paint(e);
      });
      this.canvas.addEventListener("pointermove", (e) => { if (e.buttons) this.paint(e); });
      holdable(this.canvas);
    } else {
      this.text = h("output", { class: "value array", "aria-labelledby": nameId, "aria-live": "off" });
      box.el.append(this.text);
    }
    drawables.add(this);
  }

  typed() {
    const parts = this.text.value.split(/[\s,;]+/).filter(Boolean).map(Number);
    const ok = parts.length === this.values.length && parts.every(Number.isFinite);
    this.text.setAttribute("aria-invalid", String(!ok));
    this.text.title = ok ? "" : `${this.values.length} numbers, comma-separated`;
    if (ok) this.commit(parts);
  }

  paint(e) {
    const r = this.canvas.getBoundingClientRect();
    const i = Math.floor((e.clientX - r.left) / r.width * this.values.length);
    if (i < 0 || i >= this.values.length) return;
    const [lo, hi] = this.span;
    const step = niceStep((hi - lo) / DIVISIONS);
    const f = 1 - Math.min(1, Math.max(0, (e.clientY - r.top) / r.height));
    const next = Array.from(this.values);
    next[i] = Number((Math.round((lo + f * (hi - lo)) / step) * step).toFixed(decimalsOf(step)));
    this.commit(next);
  }

  commit(values) {
    this.set(values);
    this.edit(Array.from(this.values));
  }

  set(values) {
    if (values.length !== this.values.length) this.values = new Float64Array(values.length);
    this.values.set(values);
    if (!this.range) {
      for (const v of values) {
        if (v < this.span[0]) this.span[0] = autoSpan(v)[0];
        if (v > this.span[1]) this.span[1] = autoSpan(v)[1];
      }
    }
    this.dirty = true;
  }

  remote(values) {
    if (this.edit && (busy(this.text) || busy(this.canvas))) return;
    this.set(values);
  }

  draw() {
    if (!this.dirty) return;
    this.dirty = false;
    // What a page sends, exactly; what Csound sends, to 5 digits.
    const text = Array.from(this.values, (v) => String(this.edit ? v : Number(v.toPrecision(5)))).join(", ");
    if (this.edit) {
      if (!busy(this.text)) this.text.value = text;
    } else {
      this.text.textContent = text;
    }
    const [g, w, ht] = fit(this.canvas);
    const [lo, hi] = this.span;
    const n = this.values.length;
    const y = (v) => ht - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo) * ht;
    const zero = y(Math.min(hi, Math.max(lo, 0)));
    const gap = n > 1 ? Math.min(4, w / n / 4) : 0;
    g.fillStyle = this.edit ? COLORS.accent : COLORS.out;
    this.values.forEach((v, i) => {
      const top = y(v);
      g.fillRect(i * w / n + gap / 2, Math.min(top, zero), w / n - gap, Math.max(1, Math.abs(zero - top)));
    });
  }
}

const SCOPE = 1024; // samples a scope shows
let fullScale = 1; // Csound's 0dbfs: the scope's top and bottom

// A Listen or Microphone button: start its stream (play(), capture()), or stop it.
async function toggleStream(control, start) {
  if (control.stream) {
    control.stream.stop();
    control.stream = null;
  } else {
    control.button.disabled = true;
    try {
      control.stream = await start();
    } catch {
      // play() and capture() have emitted an error event: the page's error list shows it
    }
    control.button.disabled = false;
  }
  control.button.setAttribute("aria-pressed", String(control.stream !== null));
}

/** An a-rate variable Csound sends: a scope (one trace per element), and a Listen button. */
class Scope {
  constructor(box, nameId, name) {
    this.canvas = h("canvas", { class: "scope", "aria-hidden": "true" });
    this.rings = [];
    this.dirty = false;
    this.stream = null; // play()'s, while listening
    this.button = h("button", { type: "button", "aria-labelledby": nameId, "aria-pressed": "false",
      "aria-describedby": `${nameId}-l`, onclick: () => this.toggle(name) }, "Listen");
    const note = h("span", { class: "kind", id: `${nameId}-l` }, "plays it in this browser");
    box.el.append(this.canvas, h("div", { class: "row" }, this.button, note));
    drawables.add(this);
  }

  toggle(name) {
    return toggleStream(this, () => cs.play(name));
  }

  receive(data, frame) {
    const channels = frame.channels || [data];
    while (this.rings.length < channels.length) this.rings.push(new Float64Array(2 * SCOPE));
    this.rings.length = channels.length;
    channels.forEach((c, e) => {
      const ring = this.rings[e];
      ring.copyWithin(0, c.length);
      ring.set(c, ring.length - c.length);
    });
    this.dirty = true;
  }

  draw() {
    if (!this.dirty) return;
    this.dirty = false;
    const [g, w, ht] = fit(this.canvas);
    g.strokeStyle = COLORS.line;
    g.beginPath();
    g.moveTo(0, ht / 2);
    g.lineTo(w, ht / 2);
    g.stroke();
    if (!this.rings.length) return;
    // Start at the first rising zero crossing of the first trace, so that a steady wave stands still.
    const first = this.rings[0];
    let start = 0;
    for (let i = 1; i < SCOPE; i++) if (first[i - 1] < 0 && first[i] >= 0) { start = i; break; }
    g.lineWidth = 1.5 * (devicePixelRatio || 1);
    this.rings.forEach((ring, e) => {
      g.strokeStyle = e === 0 ? COLORS.out : COLORS.accent;
      g.globalAlpha = e === 0 ? 1 : 0.7;
      g.beginPath();
      for (let i = 0; i < SCOPE; i++) {
        const v = Math.max(-1, Math.min(1, ring[start + i] / fullScale));
        const x = i / (SCOPE - 1) * w;
        const yy = ht / 2 - v * ht / 2 * 0.95;
        if (i === 0) g.moveTo(x, yy);
        else g.lineTo(x, yy);
      }
      g.stroke();
    });
    g.globalAlpha = 1;
  }
}

/** An a-rate variable Csound receives: a button that sends the microphone into it. */
class Microphone {
  constructor(box, nameId, name) {
    this.stream = null; // capture()'s, while sending
    this.button = h("button", { type: "button", "aria-labelledby": nameId, "aria-pressed": "false",
      "aria-describedby": `${nameId}-m`, onclick: () => this.toggle(name) }, "Microphone");
    box.el.append(h("div", { class: "row" }, this.button,
      h("span", { class: "kind", id: `${nameId}-m` }, "sends this browser's microphone")));
  }

  toggle(name) {
    return toggleStream(this, () => cs.capture(name));
  }
}

// ---- channels ----

const channels = new Map(); // name -> { spec, widget }

function addChannel(spec) {
  if (channels.has(spec.name)) return;
  const writable = spec.direction !== "to_web";
  const hinted = spec.behaviour !== null && spec.behaviour !== undefined && spec.max > spec.min;
  const kind = spec.type === "string" ? "string channel" : `channel${hinted ? ` · ${spec.behaviour}` : ""}`;
  const box = card(writable ? "in" : "out", spec.name, kind);
  let widget;
  const set = (v) => ctl.set(spec.name, v);
  if (spec.type === "string") {
    widget = writable ? new TextControl(box, box.id, set) : new TextDisplay(box, box.id);
  } else if (!writable) {
    widget = new NumberDisplay(box, box.id, hinted ? [spec.min, spec.max] : null);
  } else if (spec.behaviour === "integer" && spec.min === 0 && spec.max === 1) {
    widget = new Toggle(box, box.id, set);
  } else {
    widget = new NumberControl(box, box.id, hinted ? new Scale(spec.min, spec.max, spec.behaviour, true) : null, set,
      `span chn ${spec.name}`, spec.direction === "both");
  }
  channels.set(spec.name, { spec, widget });
  if (ctl.values.has(spec.name)) widget.remote(ctl.values.get(spec.name));
}

function channelValues(values) {
  for (const [name, v] of Object.entries(values)) {
    const c = channels.get(name);
    if (c) c.widget.remote(v);
  }
}

// ---- websocket variables ----

const variables = new Map(); // name -> { v, box, widget }

function kindOf(v) {
  return v.rate + (v.shape.length ? `[${v.shape.join("×")}]` : "");
}

function addVariable(v) {
  if (variables.has(v.name)) return;
  const toWeb = v.direction === "to_web";
  const audio = v.rate === "a";
  const array = v.shape.length > 0;
  const box = card(toWeb ? "out" : "in", v.name, `variable ${kindOf(v)}`, audio || (array && v.values > 16));
  const range = v.range ? [v.range.min, v.range.max] : null;
  const entry = { v, box, widget: null };
  variables.set(v.name, entry);
  if (toWeb) {
    if (audio) {
      const scope = new Scope(box, box.id, v.name);
      cs.subscribe(v.name, (data, frame) => scope.receive(data, frame));
      entry.widget = scope;
      return;
    }
    entry.widget = v.rate === "S" || (v.rate === "i" && !array) ? new TextDisplay(box, box.id, v.rate === "S")
      : array ? new Bars(box, box.id, v.values, range)
        : new NumberDisplay(box, box.id, range);
    cs.subscribe(v.name, (data) => entry.widget.remote(typeof data === "string" || array ? data : data[0]));
    return;
  }
  const key = `var ${v.name}`;
  const send = (value) => {
    cs.send(v.name, value);
    store.set(key, value);
  };
  if (audio) {
    entry.widget = new Microphone(box, box.id, v.name);
    return;
  }
  if (v.rate === "S") entry.widget = new TextControl(box, box.id, send);
  else if (array) entry.widget = new Bars(box, box.id, v.values, range, send);
  else {
    const scale = v.range ? new Scale(v.range.min, v.range.max, v.range.behaviour, true) : null;
    entry.widget = new NumberControl(box, box.id, scale, send, `span var ${v.name}`);
  }
  // Csound cannot be asked what a variable it receives holds: the page re-sends the last value
  // it sent, which also brings a restarted piece back to where the page is.
  const last = store.get(key);
  if (last !== undefined) entry.widget.commit(last);
}

// Another tab of this browser sent to a variable: show it here too.
addEventListener("storage", (e) => {
  if (!e.key || !e.key.startsWith(PREFIX + "var ") || e.newValue === null) return;
  const entry = variables.get(e.key.slice(PREFIX.length + 4));
  if (entry) entry.widget.remote(JSON.parse(e.newValue));
});

// ---- presets: every control's value, kept in this browser ----

const presets = () => store.get("presets") || {};

function listPresets(selected = "") {
  const names = Object.keys(presets()).sort();
  $("preset-list").replaceChildren(h("option", { value: "" }, names.length ? "presets" : "no presets yet"),
    ...names.map((n) => h("option", { value: n, selected: n === selected }, n)));
}

function snapshot() {
  const s = { channels: {}, variables: {} };
  for (const [name, c] of channels) {
    if (c.spec.direction !== "to_web" && c.widget.value !== null) s.channels[name] = c.widget.value;
  }
  for (const [name, { v, widget }] of variables) {
    if (v.direction === "from_web" && v.rate !== "a") {
      const value = widget.values ? Array.from(widget.values) : widget.value;
      if (value !== null) s.variables[name] = value;
    }
  }
  return s;
}

function recall(p) {
  const known = Object.fromEntries(Object.entries(p.channels || {}).filter(([n]) => channels.has(n)));
  ctl.setMany(known);
  channelValues(known);
  for (const [name, value] of Object.entries(p.variables || {})) {
    const entry = variables.get(name);
    if (entry) entry.widget.commit(value);
  }
}

$("preset-save").onclick = () => {
  const name = prompt("Save the controls as preset:", $("preset-list").value || "preset 1");
  if (!name) return;
  store.set("presets", { ...presets(), [name]: snapshot() });
  listPresets(name);
};
$("preset-recall").onclick = () => {
  const p = presets()[$("preset-list").value];
  if (p) recall(p);
};
$("preset-delete").onclick = () => {
  const all = presets();
  delete all[$("preset-list").value];
  store.set("presets", all);
  listPresets();
};
listPresets();

// ---- status and errors ----

function status(text, cls) {
  $("status").textContent = text;
  $("status").className = cls;
}

// The newest few distinct errors, newest first, each with how often it came (sockets retry and repeat themselves).
const ERRORS = 5;
const errors = new Map(); // message -> { li, count }
function error(message) {
  const seen = errors.get(message) || { li: h("li"), count: 0 };
  seen.count += 1;
  seen.li.textContent = seen.count > 1 ? `${message} (×${seen.count})` : message;
  errors.delete(message);
  errors.set(message, seen);
  $("errors").prepend(seen.li);
  for (const [m, { li }] of errors) {
    if (errors.size <= ERRORS) break;
    li.remove();
    errors.delete(m);
  }
}

cs.addEventListener("error", (e) => error(e.detail.message));
ctl.addEventListener("error", (e) => error(e.detail.message));
ctl.addEventListener("open", () => status("live", "live"));
ctl.addEventListener("close", () => status("reconnecting", "down"));

// ---- what the port offers ----

// A section with nothing in it says so.
function notes() {
  for (const [section, text] of [["in", "Nothing on offer takes values from the web."],
    ["out", "Nothing on offer comes from Csound."]]) {
    const el = $(section);
    const note = el.querySelector(".empty");
    if (el.querySelector(".card")) note?.remove();
    else if (!note) el.append(h("p", { class: "empty" }, text));
  }
}

function offer(info) {
  for (const c of info.channels || []) addChannel(c);
  const names = new Set(info.variables.map((v) => v.name));
  for (const v of info.variables) addVariable(v);
  // A variable whose notes ended stays on the page, dimmed, until a note offers it again.
  for (const [name, { box }] of variables) box.el.classList.toggle("gone", !names.has(name));
  notes();
}

$("port").textContent = location.host;
document.title = `${location.host} · csws control surface`;

ctl.ready.then((hello) => {
  fullScale = hello["0dbfs"] || 1;
  $("about").textContent = `generated control surface of ${location.host} · sr ${hello.sr}, ksmps ${hello.ksmps}, ` +
    `nchnls ${hello.nchnls}, 0dbfs ${hello["0dbfs"]}`;
});
ctl.addEventListener("channels", (e) => {
  for (const c of e.detail) addChannel(c);
  notes();
});
ctl.watch("*", channelValues);

// Notes start and end as the score goes: look again now and then for variables come and gone.
async function look(refresh) {
  try {
    offer(await cs.info(refresh));
  } catch {
    // info() has emitted an error event
  }
  setTimeout(() => look(true), 3000);
}
look(false);

// The piece's other faces (docs/panels.md), those it has: its own page, its widget panels.
const FACES = [["/csws/html", "the piece's own page"], ["/csws/csoundqt", "CsoundQt panel"],
  ["/csws/cabbage", "Cabbage panel"]];
Promise.all(FACES.map(([path]) => fetch(path + location.search, { method: "HEAD", cache: "no-store" })
  .then((r) => r.ok, () => false))).then((present) => {
  FACES.forEach(([path, name], i) => {
    if (present[i]) $("faces").append(h("a", { href: path + location.search }, name));
  });
});
