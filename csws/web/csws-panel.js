// csws-panel.js - draws a widget panel (the panel model of docs/panels.md: CsoundQt's <bsbPanel>,
// Cabbage's <Cabbage>) and binds each widget to its Csound channel both ways through the control
// socket (client.control(), csws-csound.js).
//
// Every widget sits at its own geometry on a stage of the panel's size; the stage is scaled as a
// whole (CSS transform), so positions stay exactly the panel's, times the scale.  Controls are
// native elements where the platform has one (button, select, checkbox, text and number fields);
// sliders, knobs, scroll numbers and controllers are ARIA sliders driven by Pointer Events
// (touch-action: none: a drag on them never scrolls the page) and by the arrow keys.  Each
// widget's accessible name is its channel, else its label.  Labels, displays and other widgets that
// take no input let pointers through: panels often lay a caption over the edge of a knob.

const DRAG_PIXELS = 200; // a knob's or scroll number's full range, dragged
const KEY_STEPS = 100; // arrow key steps across a continuous control's range
const KEYBOARD_KEYS = 25; // white and black keys a keyboard widget shows by default, from C3
const SCROLL_PIXELS = 4; // a scroll number's step, dragged
const THUMB_INSET = 6; // pixels: a slider's ends, where its thumb's centre stops

// CsoundQt's reserved channels: its own transport and file dialogs, which a page does not have.
const RESERVED = [
  [/^_(Play|Stop|Pause|Render)$/, "CsoundQt's transport: under csws the piece is running already, for every page at once; it stops where it was started"],
  [/^_M?Browse\d*$/, "CsoundQt's file dialog: a browser cannot choose files on the machine running Csound; type the path in the field beside it"],
];

// The widgets' look, added to the document once by renderPanel (a page of its own needs no CSS).
const STYLE = `
  .csws-panel * { box-sizing: border-box; }
  .csws-panel { position: relative; overflow: hidden; }
  .csws-panel .stage { position: absolute; left: 0; top: 0; transform-origin: 0 0; background: #d8d8d8; }
  .csws-panel .widget { position: absolute; margin: 0; padding: 0; overflow: hidden; font: 10px "Arial", sans-serif;
    color: inherit; }
  .csws-panel .text { display: flex; flex-direction: column; white-space: pre-wrap; overflow-wrap: anywhere; padding: 0; }
  .csws-panel output.text { display: flex; }
  .csws-panel .kind-label, .csws-panel .kind-display, .csws-panel .kind-scrollnumber { line-height: 1.15; }
  .csws-panel .kind-label, .csws-panel .kind-display, .csws-panel .kind-groupbox, .csws-panel .kind-image,
  .csws-panel .kind-placeholder { pointer-events: none; }
  .csws-panel .kind-button { font-size: 13px; border: 1px solid #888; border-radius: 4px; background: #f2f2f2; color: #111;
    touch-action: manipulation; cursor: pointer; display: flex; align-items: center; justify-content: center;
    text-align: center; }
  .csws-panel .kind-button[aria-pressed=true] { background: #5c9ddb; color: #fff; }
  .csws-panel .kind-button.reserved { opacity: .55; cursor: not-allowed; }
  .csws-panel .kind-button img { max-width: 100%; max-height: 100%; }
  .csws-panel [role=slider], .csws-panel [role=spinbutton] { touch-action: none; cursor: pointer; user-select: none; }
  .csws-panel .kind-hslider .track, .csws-panel .kind-vslider .track { position: absolute; background: #aaa; border-radius: 3px; }
  .csws-panel .kind-hslider .track { left: 4px; right: 4px; top: calc(50% - 3px); height: 6px; }
  .csws-panel .kind-vslider .track { top: 4px; bottom: 4px; left: calc(50% - 3px); width: 6px; }
  .csws-panel .fill { position: absolute; left: 0; bottom: 0; background: #3d7fc4; border-radius: 3px; }
  .csws-panel .kind-hslider .fill { top: 0; }
  .csws-panel .kind-vslider .fill { right: 0; }
  .csws-panel .thumb { position: absolute; width: 12px; height: 12px; border-radius: 50%; background: #fff; border: 1px solid #555;
    transform: translate(-50%, -50%); }
  .csws-panel .kind-hslider .thumb { top: 50%; }
  .csws-panel .kind-vslider .thumb { left: 50%; transform: translate(-50%, 50%); }
  .csws-panel .kind-knob svg { width: 100%; height: 100%; display: block; }
  .csws-panel .kind-knob .body { fill: #ddd; stroke: #777; stroke-width: 2; }
  .csws-panel .kind-knob .arc { fill: none; stroke: var(--knob, #3d7fc4); stroke-width: 6; }
  .csws-panel .kind-knob .pointer { stroke: #222; stroke-width: 5; stroke-linecap: round; }
  .csws-panel .kind-knob .knobvalue { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
    color: var(--knob2, #222); pointer-events: none; }
  .csws-panel .kind-scrollnumber { background: #fff; }
  .csws-panel .kind-spinbox, .csws-panel .kind-lineedit, .csws-panel .kind-dropdown { font-size: 12px; background: #fff; border: 1px solid #999; }
  .csws-panel .kind-checkbox { accent-color: #3d7fc4; }
  .csws-panel .kind-controller { background: #000; }
  .csws-panel .mark { position: absolute; inset: 0; pointer-events: none; --mark: #0c0; }
  .csws-panel .mark.point::after { content: ""; position: absolute; left: var(--x); bottom: var(--y); width: var(--size);
    height: var(--size); transform: translate(-50%, 50%); background: var(--mark); border-radius: 50%; }
  .csws-panel .mark.crosshair { background: linear-gradient(var(--mark), var(--mark)) var(--x) 0 / 1px 100% no-repeat,
    linear-gradient(var(--mark), var(--mark)) 0 calc(100% - var(--y)) / 100% 1px no-repeat; }
  .csws-panel .mark.line { background: linear-gradient(var(--mark), var(--mark)) 0 calc(100% - var(--y)) / 100% 2px no-repeat; }
  .csws-panel .mark.fill::after, .csws-panel .mark.llif::after { content: ""; position: absolute; background: var(--mark); }
  .csws-panel .mark.fill::after { left: 0; bottom: 0; width: var(--x); height: var(--y); }
  .csws-panel .mark.llif::after { right: 0; top: 0; width: calc(100% - var(--x)); height: calc(100% - var(--y)); }
  .csws-panel .kind-scope, .csws-panel .kind-graph { background: #111; color: #bbb; display: flex; align-items: center; justify-content: center;
    text-align: center; font-size: 10px; }
  .csws-panel .kind-scope canvas, .csws-panel .kind-graph canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
  .csws-panel .kind-placeholder { border: 1px dashed #a33; background: repeating-linear-gradient(45deg, #f4e0e0 0 6px, #fff 6px 12px);
    color: #a33; font-size: 10px; display: flex; align-items: center; justify-content: center; text-align: center; }
  .csws-panel .kind-groupbox { border: 1px solid #888; border-radius: 4px; }
  .csws-panel .stage > .caption { position: absolute; pointer-events: none; display: flex; font-size: 11px;
    white-space: nowrap; overflow: hidden; justify-content: center; }
  .csws-panel .caption-bottom { align-items: flex-end; }
  .csws-panel .caption-top { align-items: flex-start; }
  .csws-panel .caption-right { align-items: center; justify-content: flex-start; }
  .csws-panel .kind-groupbox .caption { position: absolute; top: 0; left: 0; right: 0; text-align: center; }
  .csws-panel .kind-image img { width: 100%; height: 100%; object-fit: fill; }
  .csws-panel .keys { background: #222; }
  .csws-panel .key { position: absolute; top: 0; height: 100%; border: 1px solid #333; background: #fff; padding: 0; touch-action: none; }
  .csws-panel .key.black { height: 60%; background: #111; z-index: 1; }
  .csws-panel .key.down { background: #5c9ddb; }
`;

function addStyle() {
  if (document.getElementById("csws-panel-style")) return;
  const style = document.createElement("style");
  style.id = "csws-panel-style";
  style.textContent = STYLE;
  document.head.prepend(style); // first: the page's own rules win over these
}

const clamp = (v, lo, hi) => Math.min(Math.max(v, Math.min(lo, hi)), Math.max(lo, hi));

/** A numeric widget's scale: value <-> position 0..1 (Cabbage's skew), snapped to its step. */
class Scale {
  constructor(min, max, step, skew) {
    this.min = min;
    this.max = max;
    this.step = step > 0 ? step : 0;
    this.skew = skew > 0 ? skew : 1;
  }

  toPos(v) {
    if (this.max === this.min) return 0;
    return clamp((v - this.min) / (this.max - this.min), 0, 1) ** this.skew;
  }

  fromPos(p) {
    return this.snap(this.min + (this.max - this.min) * clamp(p, 0, 1) ** (1 / this.skew));
  }

  snap(v) {
    v = clamp(v, this.min, this.max);
    if (this.step > 0) v = this.min + Math.round((v - this.min) / this.step) * this.step;
    return clamp(Number(v.toPrecision(12)), this.min, this.max);
  }

  /** The value after `n` key steps from v. */
  stepped(v, n) {
    if (this.step > 0) return this.snap(v + n * this.step);
    return this.fromPos(this.toPos(v) + n / KEY_STEPS);
  }
}

function nameOf(w) {
  return w.channel || w.label || w.type;
}

function formatNumber(v, w) {
  if (typeof v === "string") return v;
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  const digits = w.extra && Number.isInteger(w.extra.precision) ? w.extra.precision : 3;
  return Number(v).toFixed(Math.min(Math.max(digits, 0), 10));
}

function applyStyle(el, s) {
  if (!s) return;
  if (s.color) el.style.color = s.color;
  if (s.background) el.style.background = s.background;
  if (s.border) el.style.border = `${s.border_width || 1}px solid ${s.border}`;
  if (s.radius) el.style.borderRadius = `${s.radius}px`;
  if (s.font) el.style.fontFamily = `"${s.font}", system-ui, sans-serif`;
  if (s.font_size) el.style.fontSize = `${s.font_size}px`;
  if (s.bold) el.style.fontWeight = "bold";
  el.style.textAlign = s.align || "left";
  if (el.classList.contains("text")) { // a column: its main axis is the vertical one
    el.style.justifyContent = { top: "flex-start", center: "center", bottom: "flex-end" }[s.valign] || "flex-start";
  }
}

/** Drags on `el` call move(dx, dy, event) with pixels since the last call, in panel pixels. */
function onDrag(el, panel, start, move) {
  let last = null;
  el.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    el.setPointerCapture(e.pointerId);
    el.focus({ preventScroll: true });
    last = [e.clientX, e.clientY];
    start(e);
    e.preventDefault();
  });
  el.addEventListener("pointermove", (e) => {
    if (last === null || !el.hasPointerCapture(e.pointerId)) return;
    const s = panel.scale;
    move((e.clientX - last[0]) / s, (e.clientY - last[1]) / s, e);
    last = [e.clientX, e.clientY];
  });
  const end = () => {
    last = null;
    panel.dragging.delete(el);
  };
  el.addEventListener("pointerup", end);
  el.addEventListener("pointercancel", end);
}

/** A point inside `el` as fractions of its size (0..1 right and up), `inset` pixels (scaled) in from each end. */
function fractionAt(el, e, inset = 0) {
  const r = el.getBoundingClientRect();
  const s = el.offsetWidth > 0 ? r.width / el.offsetWidth : 1;
  const x = (e.clientX - r.left - inset * s) / Math.max(r.width - 2 * inset * s, 1);
  const y = (e.clientY - r.top - inset * s) / Math.max(r.height - 2 * inset * s, 1);
  return [x, 1 - y];
}

function keySteps(e) {
  const k = e.key;
  if (k === "ArrowUp" || k === "ArrowRight") return 1;
  if (k === "ArrowDown" || k === "ArrowLeft") return -1;
  if (k === "PageUp") return 10;
  if (k === "PageDown") return -10;
  if (k === "Home") return -Infinity;
  if (k === "End") return Infinity;
  return 0;
}

// ---- the widgets: each make(w, panel) returns {el, show(value, channel)} ----

function makeText(w, tag) {
  const el = document.createElement(tag);
  el.className = "text";
  el.textContent = w.kind === "display" ? w.text || w.label : w.label;
  return { el, show: (v) => { el.textContent = formatNumber(v, w); } };
}

/** Sliders, knobs and scroll numbers: one value, an ARIA slider (spinbutton) with drags and keys. */
function makeValued(w, panel) {
  const el = document.createElement("div");
  const scale = new Scale(w.min, w.max, w.step, w.skew);
  el.tabIndex = 0;
  el.setAttribute("role", w.kind === "scrollnumber" ? "spinbutton" : "slider");
  el.setAttribute("aria-valuemin", String(Math.min(w.min, w.max)));
  el.setAttribute("aria-valuemax", String(Math.max(w.min, w.max)));
  if (w.kind === "vslider") el.setAttribute("aria-orientation", "vertical");
  let value = scale.snap(w.value);
  let draw;
  if (w.kind === "knob") {
    el.innerHTML = '<svg viewBox="-50 -50 100 100" aria-hidden="true"><circle r="40" class="body"/>'
      + '<path class="arc"/><line y1="-14" y2="-38" class="pointer"/></svg><span class="knobvalue"></span>';
    const arc = el.querySelector(".arc");
    const pointer = el.querySelector(".pointer");
    const text = el.querySelector(".knobvalue");
    if (w.style && w.style.color) el.style.setProperty("--knob", w.style.color);
    if (w.extra && w.extra.color2) el.style.setProperty("--knob2", String(w.extra.color2));
    text.style.fontSize = `${Math.round(Math.min(w.width, w.height) * 0.22)}px`;
    el.style.background = "none";
    el.style.border = "none";
    draw = () => {
      const a = -135 + 270 * scale.toPos(value);
      pointer.setAttribute("transform", `rotate(${a})`);
      const rad = (d) => ((d - 90) * Math.PI) / 180;
      const p = (d) => `${46 * Math.cos(rad(d))} ${46 * Math.sin(rad(d))}`;
      arc.setAttribute("d", `M ${p(-135)} A 46 46 0 ${a + 135 > 180 ? 1 : 0} 1 ${p(a)}`);
      if (w.extra && w.extra.show_value) text.textContent = formatNumber(value, { extra: { precision: 2 } });
    };
  } else if (w.kind === "scrollnumber") {
    el.className = "text";
    draw = () => { el.textContent = formatNumber(value, w.step >= 1 ? { extra: { precision: 0 } } : w); };
  } else {
    el.innerHTML = '<div class="track"><div class="fill"></div></div><div class="thumb"></div>';
    const vertical = w.kind === "vslider";
    const fill = el.querySelector(".fill");
    const thumb = el.querySelector(".thumb");
    draw = () => {
      const p = scale.toPos(value) * 100;
      // The thumb's centre stays THUMB_INSET inside the ends, so that it is never cut in half.
      const at = `calc(${THUMB_INSET}px + (100% - ${2 * THUMB_INSET}px) * ${p / 100})`;
      if (vertical) {
        fill.style.height = `${p}%`;
        thumb.style.bottom = at;
      } else {
        fill.style.width = `${p}%`;
        thumb.style.left = at;
      }
    };
  }
  const show = (v) => {
    if (typeof v !== "number" || !Number.isFinite(v) || panel.dragging.has(el)) return;
    value = v;
    el.setAttribute("aria-valuenow", String(v));
    draw();
  };
  const send = (v) => {
    v = scale.snap(v);
    if (v === value) return;
    value = v;
    el.setAttribute("aria-valuenow", String(v));
    draw();
    if (w.channel) panel.set(w.channel, v);
  };
  // A knob turns over its whole range in DRAG_PIXELS; a scroll number (its range often all numbers)
  // moves a step every SCROLL_PIXELS.  Sliders put the value where the pointer is.
  const unit = scale.step || Math.min((w.max - w.min) / KEY_STEPS, 1); // a scroll number's step
  let held = 0; // a knob's position, or a scroll number's value, as dragged (unsnapped)
  onDrag(el, panel, (e) => {
    panel.dragging.add(el);
    if (w.kind === "knob") held = scale.toPos(value);
    else if (w.kind === "scrollnumber") held = value;
    else send(scale.fromPos(fractionAt(el, e, THUMB_INSET)[w.kind === "vslider" ? 1 : 0]));
  }, (dx, dy, e) => {
    if (w.kind === "knob") {
      held = clamp(held + (dx - dy) / DRAG_PIXELS, 0, 1);
      send(scale.fromPos(held));
    } else if (w.kind === "scrollnumber") {
      held = clamp(held + ((dx - dy) / SCROLL_PIXELS) * unit, w.min, w.max);
      send(held);
    } else {
      send(scale.fromPos(fractionAt(el, e, THUMB_INSET)[w.kind === "vslider" ? 1 : 0]));
    }
  });
  el.addEventListener("keydown", (e) => {
    const n = keySteps(e);
    if (n === 0) return;
    e.preventDefault();
    if (!Number.isFinite(n)) send(n > 0 ? w.max : w.min);
    else send(w.kind === "scrollnumber" ? value + n * unit : scale.stepped(value, n));
  });
  show(value);
  return { el, show };
}

function makeSpinbox(w, panel) {
  const el = document.createElement("input");
  el.type = "number";
  el.min = String(Math.min(w.min, w.max));
  el.max = String(Math.max(w.min, w.max));
  el.step = w.step > 0 ? String(w.step) : "any";
  el.value = String(w.value);
  el.addEventListener("input", () => {
    const v = el.valueAsNumber;
    if (Number.isFinite(v) && w.channel) panel.set(w.channel, clamp(v, w.min, w.max));
  });
  // step="any" gives arrow keys nothing to step by: a hundredth of the range then.
  if (!(w.step > 0)) {
    el.addEventListener("keydown", (e) => {
      const n = e.key === "ArrowUp" ? 1 : e.key === "ArrowDown" ? -1 : 0;
      if (n === 0) return;
      e.preventDefault();
      el.value = String(new Scale(w.min, w.max, 0, 1).stepped(el.valueAsNumber || 0, n));
      el.dispatchEvent(new Event("input"));
    });
  }
  return { el, show: (v) => { if (typeof v === "number" && document.activeElement !== el) el.value = String(v); } };
}

function makeDropdown(w, panel) {
  const el = document.createElement("select");
  w.items.forEach((item) => el.add(new Option(item.text, String(item.value))));
  el.value = String(w.value);
  el.addEventListener("change", () => { if (w.channel) panel.set(w.channel, Number(el.value)); });
  return { el, show: (v) => { if (typeof v === "number") el.value = String(v); } };
}

function makeCheckbox(w, panel) {
  const el = document.createElement("input");
  el.type = "checkbox";
  el.checked = w.value !== 0 && w.value === w.max;
  el.addEventListener("change", () => { if (w.channel) panel.set(w.channel, el.checked ? w.max : 0); });
  return { el, show: (v) => { if (typeof v === "number") el.checked = v !== 0; } };
}

function makeLineedit(w, panel) {
  const el = document.createElement("input");
  el.type = "text";
  el.value = w.text;
  el.addEventListener("change", () => { if (w.channel) panel.set(w.channel, el.value); });
  return { el, show: (v) => { if (document.activeElement !== el) el.value = typeof v === "number" ? formatNumber(v, w) : v; } };
}

function makeButton(w, panel) {
  const el = document.createElement("button");
  const b = w.button || { mode: "value", pressed: 1, released: 0, latch: false, event: "", image: "" };
  if (b.image) {
    const img = document.createElement("img");
    img.src = panel.fileUrl(b.image);
    img.alt = "";
    el.append(img);
  }
  const text = document.createTextNode(w.label);
  el.append(text);
  const reserved = RESERVED.find(([re]) => re.test(w.channel));
  if (reserved) {
    el.disabled = true;
    el.title = reserved[1];
    el.classList.add("reserved");
    return { el, show: () => {} };
  }
  let down = b.latch && w.value === b.pressed && b.pressed !== 0;
  const on = w.extra || {};
  const mark = () => {
    if (!b.latch) return;
    el.setAttribute("aria-pressed", String(down));
    // Cabbage's buttons show their on state with their own text and colours.
    if (on.text_on) text.data = down ? on.text_on : w.label;
    if (on.background_on) el.style.background = down ? on.background_on : (w.style && w.style.background) || "";
    if (on.color_on) el.style.color = down ? on.color_on : (w.style && w.style.color) || "";
  };
  mark();
  const press = () => {
    if (b.mode === "event" && b.event) panel.score(b.event);
    if (!w.channel) return;
    if (b.latch) {
      down = !down;
      mark();
      panel.set(w.channel, down ? b.pressed : b.released);
    } else {
      panel.set(w.channel, b.pressed);
    }
  };
  const release = () => {
    if (!b.latch && b.mode === "value" && w.channel) panel.set(w.channel, b.released);
  };
  // Momentary buttons hold their value while held (pointer or key), as CsoundQt's do.
  let held = false;
  el.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    held = true;
    el.setPointerCapture(e.pointerId);
    press();
  });
  const up = () => {
    if (!held) return;
    held = false;
    release();
  };
  el.addEventListener("pointerup", up);
  el.addEventListener("pointercancel", up);
  el.addEventListener("keydown", (e) => {
    if ((e.key === " " || e.key === "Enter") && !e.repeat) {
      e.preventDefault();
      held = true;
      press();
    }
  });
  el.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") up(); });
  return {
    el,
    show: (v) => {
      if (b.latch && typeof v === "number") {
        down = v !== b.released;
        mark();
      }
    },
  };
}

/** CsoundQt's controller: x on `channel`, y on `channel2`; drawn as a point, crosshair, line or fill. */
function makeController(w, panel) {
  const el = document.createElement("div");
  el.tabIndex = 0;
  el.setAttribute("role", "slider");
  el.setAttribute("aria-valuemin", String(w.min));
  el.setAttribute("aria-valuemax", String(w.max));
  const mode = (w.extra && w.extra.mode) || "point";
  const mark = document.createElement("div");
  mark.className = `mark ${mode}`;
  if (w.style && w.style.color) mark.style.setProperty("--mark", w.style.color);
  const size = (w.extra && w.extra.point_size) || 7;
  mark.style.setProperty("--size", `${size}px`);
  el.append(mark);
  const sx = new Scale(w.min, w.max, 0, 1);
  const sy = new Scale(w.min2, w.max2, 0, 1);
  let x = w.value;
  let y = w.value2;
  const draw = () => {
    const px = sx.toPos(x) * 100;
    const py = sy.toPos(y) * 100;
    el.setAttribute("aria-valuenow", String(x));
    el.setAttribute("aria-valuetext", `x ${formatNumber(x, w)}, y ${formatNumber(y, w)}`);
    mark.style.setProperty("--x", `${px}%`);
    mark.style.setProperty("--y", `${py}%`);
  };
  const send = (nx, ny) => {
    x = sx.snap(nx);
    y = sy.snap(ny);
    draw();
    const values = {};
    if (w.channel) values[w.channel] = x;
    if (w.channel2) values[w.channel2] = y;
    panel.setMany(values);
  };
  const at = (e) => {
    const [fx, fy] = fractionAt(el, e);
    send(sx.fromPos(fx), sy.fromPos(fy));
  };
  onDrag(el, panel, (e) => { panel.dragging.add(el); at(e); }, (dx, dy, e) => at(e));
  el.addEventListener("keydown", (e) => {
    const horizontal = e.key === "ArrowLeft" || e.key === "ArrowRight";
    const n = keySteps(e);
    if (n === 0 || !Number.isFinite(n)) return;
    e.preventDefault();
    if (horizontal) send(sx.stepped(x, n), y);
    else send(x, sy.stepped(y, n));
  });
  draw();
  return {
    el,
    show: (v, channel) => {
      if (typeof v !== "number" || panel.dragging.has(el)) return;
      if (channel === w.channel) x = v;
      if (channel === w.channel2) y = v;
      draw();
    },
  };
}

/** Scope and graph: a to-web variable of the widget's channel name, drawn; else a note saying why not. */
function makeSignal(w, panel) {
  const el = document.createElement("div");
  el.setAttribute("role", "img");
  const note = document.createElement("span");
  note.className = "note";
  const what = w.kind === "scope" ? "Csound's audio output" : "function tables and display opcodes";
  note.textContent = `${w.kind === "scope" ? "Scope" : "Graph"}: not available in the browser`;
  el.title = `${what} are not on the port: csws draws here a websocket variable Csound sends`
    + ` named ${[w.channel, w.channel2].filter(Boolean).map((n) => `"${n}"`).join(" or ") || "after the widget"}`;
  el.append(note);
  const canvas = document.createElement("canvas");
  canvas.hidden = true;
  el.append(canvas);
  const names = [w.channel, w.channel2].filter(Boolean);
  panel.variable(names).then((name) => {
    if (!name) return;
    note.hidden = true;
    canvas.hidden = false;
    el.setAttribute("aria-label", name);
    panel.client.subscribe(name, (data) => {
      if (typeof data === "string") return;
      canvas.width = Math.max(1, Math.round(el.clientWidth));
      canvas.height = Math.max(1, Math.round(el.clientHeight));
      const g = canvas.getContext("2d");
      g.clearRect(0, 0, canvas.width, canvas.height);
      g.strokeStyle = (w.style && w.style.color) || "#7bd88f";
      g.beginPath();
      const n = data.length;
      let lo = w.kind === "scope" ? -1 : Infinity;
      let hi = w.kind === "scope" ? 1 : -Infinity;
      if (w.kind !== "scope") for (const v of data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      const span = hi > lo ? hi - lo : 1;
      data.forEach((v, i) => {
        const px = (i / Math.max(n - 1, 1)) * canvas.width;
        const py = canvas.height * (1 - (v - lo) / span);
        if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
      });
      g.stroke();
    });
  });
  return { el, show: () => {} };
}

function makeGroupbox(w) {
  const el = document.createElement("div");
  el.setAttribute("role", "group");
  const caption = document.createElement("span");
  caption.className = "caption";
  caption.textContent = w.label;
  el.append(caption);
  return { el, show: () => {} };
}

function makeImage(w, panel) {
  const el = document.createElement("div");
  const file = (w.extra && w.extra.file) || (w.button && w.button.image) || "";
  if (file) {
    const img = document.createElement("img");
    img.src = panel.fileUrl(String(file));
    img.alt = w.label || "";
    el.append(img);
  }
  return { el, show: () => {} };
}

/**
 * A keyboard: pressing a key sends `i N.nnn 0 -1 note velocity` (N: extra.instrument, default 1;
 * nnn the MIDI note, so that each held note is its own instance), letting go `i -N.nnn 0 0`.
 */
function makeKeyboard(w, panel) {
  const el = document.createElement("div");
  el.setAttribute("role", "group");
  el.className = "keys";
  const instr = Number((w.extra && w.extra.instrument) || 1);
  const first = Number((w.extra && w.extra.first_note) ?? 48);
  const count = Number((w.extra && w.extra.keys) || KEYBOARD_KEYS);
  const black = (n) => [1, 3, 6, 8, 10].includes(n % 12);
  const whites = [...Array(count).keys()].filter((i) => !black(first + i)).length;
  const names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
  let white = 0;
  for (let i = 0; i < count; i++) {
    const note = first + i;
    const key = document.createElement("button");
    key.className = black(note) ? "key black" : "key";
    key.setAttribute("aria-label", `${names[note % 12]}${Math.floor(note / 12) - 1}`);
    const left = black(note) ? white - 0.3 : white;
    key.style.left = `${(left / whites) * 100}%`;
    key.style.width = `${((black(note) ? 0.6 : 1) / whites) * 100}%`;
    if (!black(note)) white += 1;
    const p1 = `${instr}.${String(note).padStart(3, "0")}`;
    let on = false;
    const down = () => {
      if (on) return;
      on = true;
      key.classList.add("down");
      panel.score(`i ${p1} 0 -1 ${note} ${Number((w.extra && w.extra.velocity) || 100)}`);
    };
    const up = () => {
      if (!on) return;
      on = false;
      key.classList.remove("down");
      panel.score(`i -${p1} 0 0`);
    };
    key.addEventListener("pointerdown", (e) => { key.setPointerCapture(e.pointerId); down(); });
    key.addEventListener("pointerup", up);
    key.addEventListener("pointercancel", up);
    key.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); down(); } });
    key.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") up(); });
    el.append(key);
  }
  return { el, show: () => {} };
}

// Cabbage writes a knob's, slider's or check box's text() beside it, within its bounds: a caption
// over the widget that takes no pointer (the widget's accessible name stays its channel).
const CAPTIONED = { knob: "bottom", vslider: "bottom", hslider: "top", checkbox: "right" };

function caption(w, el) {
  const c = document.createElement("span");
  c.className = `caption caption-${CAPTIONED[w.kind]}`;
  c.textContent = w.label;
  c.setAttribute("aria-hidden", "true");
  Object.assign(c.style, { left: `${w.x}px`, top: `${w.y}px`, width: `${w.width}px`, height: `${w.height}px` });
  c.style.color = (w.extra && w.extra.text_color) || (w.style && w.style.color) || "";
  // The browser draws a check box's box in the middle of its bounds: the text goes right of it.
  if (w.kind === "checkbox") c.style.paddingLeft = `${(w.width + w.height) / 2 + 2}px`;
  const knob = el.querySelector("svg");
  if (knob) knob.style.height = "calc(100% - 14px)";
  return c;
}

function makePlaceholder(w) {
  const el = document.createElement("div");
  el.setAttribute("role", "img");
  el.textContent = `${w.type}: not shown in a browser`;
  return { el, show: () => {} };
}

const MAKERS = {
  label: (w) => makeText(w, "div"), display: (w) => makeText(w, "output"), button: makeButton,
  hslider: makeValued, vslider: makeValued, knob: makeValued, scrollnumber: makeValued, spinbox: makeSpinbox,
  dropdown: makeDropdown, checkbox: makeCheckbox, lineedit: makeLineedit, controller: makeController,
  scope: makeSignal, graph: makeSignal, groupbox: makeGroupbox, image: makeImage, keyboard: makeKeyboard,
  placeholder: makePlaceholder,
};

/**
 * Draw `model` into `container` and bind it to Csound through `client` (connect() of csws.js).
 * Returns the panel: {stage, scale, widgets: Map id -> element, fit(), zoom(factor), close()}.
 * options.fileBase: where pictures the panel names are served (default "/csws/files/").
 */
export function renderPanel(model, container, client, options = {}) {
  addStyle();
  const ctl = client.control();
  const stage = document.createElement("div");
  stage.className = "stage";
  stage.style.width = `${model.width}px`;
  stage.style.height = `${model.height}px`;
  if (model.background) stage.style.background = model.background;
  const frame = document.createElement("div");
  frame.className = "csws-panel";
  frame.append(stage);
  container.append(frame);

  const byChannel = new Map(); // channel -> [show, ...]
  const panel = {
    client,
    stage,
    scale: 1,
    zoomFactor: 1,
    widgets: new Map(),
    dragging: new Set(),
    // A value set here goes to Csound, and to the page's other widgets on the channel (the server
    // tells only the other pages).
    set: (name, v) => panel.setMany({ [name]: v }),
    setMany: (values) => {
      if (Object.keys(values).length === 0) return;
      ctl.setMany(values);
      for (const [name, v] of Object.entries(values)) {
        for (const show of byChannel.get(name) || []) show(v, name);
      }
    },
    score: (line) => ctl.score(line).catch((e) => console.warn(`csws panel: ${line}: ${e.message || e}`)),
    fileUrl: (name) => (/^[a-z]+:|^\//i.test(name) ? name : (options.fileBase || "/csws/files/") + name.split("/").map(encodeURIComponent).join("/")),
    variable: (names) => client.info().then(
      (info) => names.find((n) => info.variables.some((v) => v.name === n && v.direction === "to_web")) || null,
      () => null,
    ),
  };

  for (const w of model.widgets) {
    const make = MAKERS[w.kind] || makePlaceholder;
    let made;
    try {
      made = make(w, panel);
    } catch (e) { // a widget the renderer cannot draw must not take the panel with it
      console.warn(`csws panel: ${w.type} ${w.id}: ${e.message || e}`);
      made = makePlaceholder(w);
    }
    const el = made.el;
    el.classList.add("widget", `kind-${w.kind}`);
    el.dataset.id = w.id;
    el.dataset.kind = w.kind;
    el.style.left = `${w.x}px`;
    el.style.top = `${w.y}px`;
    el.style.width = `${w.width}px`;
    el.style.height = `${w.height}px`;
    applyStyle(el, w.style);
    // CsoundQt's text keeps a few pixels from the edges, where there is room for them.
    if (el.classList.contains("text") && w.width >= 12) el.style.padding = "0 3px";
    // A border wider than the widget (CsoundQt draws lines as 1-pixel labels) would widen it.
    if (w.style && w.style.border_width * 2 >= Math.min(w.width, w.height)) el.style.border = "none";
    if (w.kind !== "label") el.setAttribute("aria-label", nameOf(w));
    if (w.kind === "label" && !w.label) el.setAttribute("aria-hidden", "true");
    stage.append(el);
    if (model.face === "cabbage" && w.label && CAPTIONED[w.kind]) stage.append(caption(w, el));
    panel.widgets.set(w.id, el);
    for (const ch of [w.channel, w.channel2]) {
      if (!ch) continue;
      if (!byChannel.has(ch)) byChannel.set(ch, []);
      byChannel.get(ch).push(made.show);
    }
  }

  // Every page shows what Csound holds: a control moved on one phone moves on the others.
  const stop = byChannel.size ? ctl.watch([...byChannel.keys()], (values) => {
    for (const [name, v] of Object.entries(values)) {
      for (const show of byChannel.get(name) || []) show(v, name);
    }
  }) : () => {};

  // Fit the panel's width to the container's, then zoom by zoomFactor; the frame scrolls (pan).
  panel.fit = () => {
    const room = container.clientWidth || window.innerWidth;
    const fit = model.width > 0 ? room / model.width : 1;
    panel.scale = Math.max(0.05, Math.min(fit, 2) * panel.zoomFactor);
    stage.style.transform = `scale(${panel.scale})`;
    frame.style.width = `${model.width * panel.scale}px`;
    frame.style.height = `${model.height * panel.scale}px`;
  };
  panel.zoom = (factor) => {
    panel.zoomFactor = factor === null ? 1 : clamp(panel.zoomFactor * factor, 0.25, 8);
    panel.fit();
  };
  const observer = new ResizeObserver(() => panel.fit());
  observer.observe(container);
  panel.fit();
  panel.close = () => {
    stop();
    observer.disconnect();
    frame.remove();
  };
  return panel;
}
