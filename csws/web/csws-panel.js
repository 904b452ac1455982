// csws-panel.js - draws a widget panel (the panel model of docs/panels.md: CsoundQt's <bsbPanel>,
// Cabbage's <Cabbage>) and binds each widget to its Csound channel both ways through the control
// socket (client.control(), csws-csound.js).
//
// Every widget sits at its own geometry on a stage of the panel's size; the stage is scaled as a
// whole (CSS transform), so positions stay exactly the panel's, times the scale.  Controls are
// native elements where the platform has one (button, select, checkbox, text and number fields);
// sliders, knobs, scroll numbers and controllers are ARIA sliders driven by Pointer Events
// (touch-action: none: a drag on them never scrolls the page) and by the arrow keys.  Each
// widget's accessible name is its channel, else its label.

const DRAG_PIXELS = 200; // a knob's or scroll number's full range, dragged vertically
const KEY_STEPS = 100; // arrow key steps across a continuous control's range
const KEYBOARD_KEYS = 25; // white and black keys a keyboard widget without a range shows, from C3

// CsoundQt's reserved channels: its own transport and file dialogs, which a page does not have.
const RESERVED = [
  [/^_(Play|Stop|Pause|Render)$/, "CsoundQt's transport: under csws the piece is running already, for every page at once; it stops where it was started"],
  [/^_M?Browse\d*$/, "CsoundQt's file dialog: a browser cannot choose files on the machine running Csound; type the path in the field beside it"],
];

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

/** A point inside `el` as fractions of its size (0..1 right and up). */
function fractionAt(el, e) {
  const r = el.getBoundingClientRect();
  return [(e.clientX - r.left) / Math.max(r.width, 1), 1 - (e.clientY - r.top) / Math.max(r.height, 1)];
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
      if (vertical) {
        fill.style.height = `${p}%`;
        thumb.style.bottom = `${p}%`;
      } else {
        fill.style.width = `${p}%`;
        thumb.style.left = `${p}%`;
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
  const relative = w.kind === "knob" || w.kind === "scrollnumber";
  let pos = 0; // a relative drag's position, unsnapped
  onDrag(el, panel, (e) => {
    panel.dragging.add(el);
    if (relative) {
      pos = scale.toPos(value);
    } else {
      const [fx, fy] = fractionAt(el, e);
      send(scale.fromPos(w.kind === "vslider" ? fy : fx));
    }
  }, (dx, dy, e) => {
    if (relative) {
      const span = w.kind === "scrollnumber" && scale.step > 0 ? (w.max - w.min) / scale.step * 4 : DRAG_PIXELS;
      pos = clamp(pos + (dx - dy) / Math.min(span, 100000), 0, 1);
      send(scale.fromPos(pos));
    } else {
      const [fx, fy] = fractionAt(el, e);
      send(scale.fromPos(w.kind === "vslider" ? fy : fx));
    }
  });
  el.addEventListener("keydown", (e) => {
    const n = keySteps(e);
    if (n === 0) return;
    e.preventDefault();
    send(n === Infinity ? w.max : n === -Infinity ? w.min : scale.stepped(value, n));
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
  el.append(document.createTextNode(w.label));
  const reserved = RESERVED.find(([re]) => re.test(w.channel));
  if (reserved) {
    el.disabled = true;
    el.title = reserved[1];
    el.classList.add("reserved");
    return { el, show: () => {} };
  }
  let down = b.latch && w.value === b.pressed && b.pressed !== 0;
  const mark = () => { if (b.latch) el.setAttribute("aria-pressed", String(down)); };
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
  const ctl = client.control();
  const stage = document.createElement("div");
  stage.className = "stage";
  stage.style.width = `${model.width}px`;
  stage.style.height = `${model.height}px`;
  if (model.background) stage.style.background = model.background;
  const frame = document.createElement("div");
  frame.className = "frame";
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
    // A border wider than the widget (CsoundQt draws lines as 1-pixel labels) would widen it.
    if (w.style && w.style.border_width * 2 >= Math.min(w.width, w.height)) el.style.border = "none";
    if (w.kind !== "label") el.setAttribute("aria-label", nameOf(w));
    if (w.kind === "label" && !w.label) el.setAttribute("aria-hidden", "true");
    stage.append(el);
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
