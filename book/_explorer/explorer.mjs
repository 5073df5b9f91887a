// The Reward Error Explorer on the book's pages: the view. Every number it shows comes from the compute core
// (./core.mjs, a port of labsupport's exact path); this module reads the controls, calls the core and draws.
//
// A container <div class="reward-explorer" data-preset="..." data-palette='{...}'> (written by the Sphinx
// extension book/_ext/explorer.py) becomes, once mounted:
//   - controls: a preset menu, the learning rate, the horizon, and for every output (2-8, named) its ground-truth
//     reward r_G, proxy reward r_P and initial probability pi_0, each a slider plus a number entry (editing one
//     pi_0 rescales the others proportionally, every entry stays > 0);
//   - three figures in plain SVG/HTML: V_G and V_P over the steps, trained on r_P and on r_G; each output's
//     probability over the steps, trained on r_P; the table of predicted and measured categories with the rule in
//     words and the measured evidence.
// An input is computed and drawn at once, in a task queued behind it, and the next animation frame renders it: at
// most once between two frames; what changes after that is computed and drawn in the frame (requestAnimationFrame),
// once, however many input events. SVG nodes and table cells are reused, and only what differs is written. After
// every redraw the container fires "rex:redrawn" in the frame that shows it (detail.ms: the time spent computing and
// drawing it; detail.frame: the part of that inside the frame).
// Colours come from the container's data-palette (labsupport.charts' palette, passed in by the extension).
//
// Importing this module touches no DOM (Node can read PRESETS); mountAll(document) mounts every container.

import { categorize, formatG, simulate } from "./core.mjs";

/** Outputs an explorer may hold. */
export const MIN_OUTPUTS = 2;
export const MAX_OUTPUTS = 8;
/** About this many recorded steps per curve (record_every = steps / POINTS), as in the notebook explorer. */
const POINTS = 200;
const REWARD_RANGE = [-2, 2];
const REWARD_STEP = 0.05;
const PROB_RANGE = [0.001, 0.999];
const PROB_STEP = 0.001;
const LR_EXPONENTS = [-3, 0.5];   // the learning-rate slider moves log10(lr)
const STEPS_RANGE = [100, 10000];
const MAX_STEPS = 100000;
const TRAINED_ON_PROXY = "trained on r_P";
const TRAINED_ON_TRUE = "trained on r_G";
const SVG = "http://www.w3.org/2000/svg";

const UNIFORM = (n) => Array(n).fill(1 / n);
const TOY_PI = [0.05, 0.5, 0.15, 0.15, 0.15];

/**
 * Presets, one per kind of reward error. `focus` is the output whose error the preset illustrates and `kind` the
 * category and kind the paper's rules give it; the core measures the same category (checked in
 * tests/test_explorer_browser.py). Rewards, probabilities, learning rate and horizon are setup constants.
 */
export const PRESETS = {
  "stalling": {
    label: "Stalling, cured by a demoted mediocre output (the paper's toy)",
    note: "The paper's toy: y_med (r_G = 0.8) starts ten times likelier than y*. Under r_G it absorbs probability "
      + "and the policy stalls; the proxy demotes it to -1, and training on the proxy escapes the stall.",
    names: ["y*", "y_med", "bad1", "bad2", "bad3"],
    r_true: [1, 0.8, -1, -1, -1], r_proxy: [1, -1, -1, -1, -1], init_probs: TOY_PI,
    lr: 0.1, steps: 2000, focus: 1, category: "beneficial", kind: "demoted mediocre output",
  },
  "reward-hacking": {
    label: "Reward hacking",
    note: "The proxy scores a bad output, y_hack, above every other output: training on the proxy converges to it.",
    names: ["y*", "y_ok", "y_hack", "y_bad"],
    r_true: [1, 0.2, -1, -1], r_proxy: [1, 0.2, 1.5, -1], init_probs: UNIFORM(4),
    lr: 0.1, steps: 2000, focus: 2, category: "harmful", kind: "reward hacking",
  },
  "promoted-stall": {
    label: "Stalling on a promoted bad output",
    note: "The proxy lifts a bad output, y_pro, above the mean but below y*: it absorbs probability first and "
      + "slows the rise of V_G.",
    names: ["y*", "y_pro", "bad1", "bad2", "bad3"],
    r_true: [1, -1, -1, -1, -1], r_proxy: [1, 0.5, -1, -1, -1], init_probs: TOY_PI,
    lr: 0.1, steps: 2000, focus: 1, category: "harmful", kind: "stalling",
  },
  "below-the-mean": {
    label: "An error below the mean",
    note: "The proxy scores bad2 a little higher than its ground truth, still below the expected proxy reward: "
      + "it never attracts probability under either reward.",
    names: ["y*", "y_mid", "bad1", "bad2"],
    r_true: [1, 0, -1, -1], r_proxy: [1, 0, -1, -0.9], init_probs: UNIFORM(4),
    lr: 0.1, steps: 2000, focus: 3, category: "benign", kind: "below the mean",
  },
  "never-sampled": {
    label: "An error on a never-sampled output",
    note: "The proxy's best output, y_rare, starts with a probability of 1e-7: its logit barely moves, and the "
      + "error does nothing.",
    names: ["y*", "y_mid", "y_rare"],
    r_true: [1, 0, -1], r_proxy: [1, 0, 2], init_probs: [0.5, 0.5 - 1e-7, 1e-7],
    lr: 0.1, steps: 2000, focus: 2, category: "benign", kind: "never sampled",
  },
  "hides-best": {
    label: "A proxy that hides the best output",
    note: "The proxy scores y* as low as the bad outputs: the best output never attracts probability, and the "
      + "policy settles on y_mid.",
    names: ["y*", "y_mid", "bad1", "bad2"],
    r_true: [1, 0.5, -1, -1], r_proxy: [-1, 0.5, -1, -1], init_probs: UNIFORM(4),
    lr: 0.1, steps: 2000, focus: 0, category: "harmful", kind: "hides the best output",
  },
};

/** The fields of one output, in the order of its controls. */
const FIELDS = [
  {key: "r_true", label: "r_G", title: "ground-truth reward r_G"},
  {key: "r_proxy", label: "r_P", title: "proxy reward r_P"},
  {key: "init_probs", label: "π₀", title: "initial probability π₀ (the others rescale to keep the sum 1)"},
];

/** Table columns: [heading, value of a categorize() row as text]. The same columns as labsupport's table. */
const COLUMNS = [
  ["output", (r) => r.name],
  ["r_G", (r) => fmt(r.r_true)],
  ["r_P", (r) => fmt(r.r_proxy)],
  ["π₀", (r) => fmt(r.pi0)],
  ["predicted", (r) => r.predicted],
  ["kind", (r) => r.kind],
  ["measured", (r) => r.measured ?? "—"],
  ["effect", (r) => (r.effect === null || r.effect === undefined || Number.isNaN(r.effect) ? "—" : fmt(r.effect))],
  ["rule (predicted)", (r) => r.rule],
  ["evidence (measured)", (r) => r.evidence ?? "—"],
];
const COLOURED = new Set(["predicted", "measured"]);

// ------------------------------------------------------------------------------------------------ helpers

/** A number as the controls and the table show it: Python's `.{digits}g`, as labsupport's table writes it. */
export function fmt(x, digits = 3) {
  return formatG(x, digits);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Set the attributes of `node` that differ from `attrs` (an unchanged SVG attribute then invalidates nothing). */
function update(node, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    const text = String(v);
    if (node.getAttribute(k) !== text) node.setAttribute(k, text);
  }
}

/** About `count` round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]. */
function ticks(lo, hi, count) {
  const raw = (hi - lo) / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

/** pi_0 with entry i set to p and the others rescaled proportionally (sum 1, every entry > 0). */
export function withProbability(probs, i, p) {
  const rest = probs.reduce((s, q, j) => (j === i ? s : s + q), 0);
  return probs.map((q, j) => (j === i ? p : (q * (1 - p)) / rest));
}

/** A readable name for a new output: y0, y1, ... the first not taken. */
function freshName(names) {
  for (let k = names.length; ; k++) if (!names.includes(`y${k}`)) return `y${k}`;
}

// ------------------------------------------------------------------------------------------------ the line chart

/** One SVG line chart sized to its figure's width (the viewBox follows it), with an HTML legend that wraps. */
class LineChart {
  constructor(figure, {xTitle, yTitle, label}) {
    this.svg = svgEl("svg", {class: "rex-chart", role: "img", "aria-label": label});
    this.grid = svgEl("g", {class: "rex-grid"});
    this.lines = svgEl("g", {class: "rex-lines"});
    this.xAxis = svgEl("g", {class: "rex-axis"});
    this.yAxis = svgEl("g", {class: "rex-axis"});
    this.xTitle = svgEl("text", {class: "rex-axis-title", "text-anchor": "middle"});
    this.yTitle = svgEl("text", {class: "rex-axis-title", "text-anchor": "middle"});
    this.xTitle.textContent = xTitle;
    this.yTitle.textContent = yTitle;
    this.frame = svgEl("rect", {class: "rex-frame", x: 0, y: 0});
    this.svg.append(this.grid, this.frame, this.lines, this.xAxis, this.yAxis, this.xTitle, this.yTitle);
    this.legend = el("div", {class: "rex-legend"});
    figure.append(this.svg, this.legend);
    this.paths = new Map();  // series key -> <polyline>
    this.tickPool = {x: [], y: []};
    this.legendKey = "";
  }

  /** Draw `series` ([{key, label, color, dash, xs, ys}]) over x in [0, xMax] and y in `yDomain`. */
  draw(series, xMax, yDomain, width) {
    const W = Math.max(260, Math.round(width)), H = W < 480 ? 220 : 260;
    const m = {left: 50, right: 20, top: 10, bottom: 40};  // room for the last tick label
    const iw = W - m.left - m.right, ih = H - m.top - m.bottom;
    const [y0, y1] = yDomain;
    const sx = (x) => m.left + (x / xMax) * iw;
    const sy = (y) => m.top + ih - ((y - y0) / (y1 - y0)) * ih;
    update(this.svg, {viewBox: `0 0 ${W} ${H}`});
    update(this.frame, {x: m.left, y: m.top, width: iw, height: ih});
    this.axisTicks("x", ticks(0, xMax, Math.max(2, Math.floor(iw / 80))), (v) => [sx(v), m.top + ih], sx, m, ih, iw);
    this.axisTicks("y", ticks(y0, y1, Math.max(2, Math.floor(ih / 40))), (v) => [m.left, sy(v)], sy, m, ih, iw);
    update(this.xTitle, {x: m.left + iw / 2, y: H - 6});
    update(this.yTitle, {transform: `translate(13 ${m.top + ih / 2}) rotate(-90)`});

    const seen = new Set();
    for (const s of series) {
      seen.add(s.key);
      let line = this.paths.get(s.key);
      if (!line) {
        line = svgEl("polyline", {fill: "none", "stroke-width": 2, "stroke-linejoin": "round"});
        this.lines.append(line);
        this.paths.set(s.key, line);
      }
      let points = "";
      for (let i = 0; i < s.xs.length; i++) points += `${sx(s.xs[i]).toFixed(1)},${sy(s.ys[i]).toFixed(1)} `;
      update(line, {points, stroke: s.color, "stroke-dasharray": s.dash});
      update(line, {"data-series": s.label});
    }
    for (const [key, line] of this.paths) {
      if (!seen.has(key)) { line.remove(); this.paths.delete(key); }
    }
    this.drawLegend(series);
  }

  axisTicks(axis, values, at, scale, m, ih, iw) {
    const pool = this.tickPool[axis];
    const group = axis === "x" ? this.xAxis : this.yAxis;
    while (pool.length < values.length) {
      const tick = {mark: svgEl("line"), text: svgEl("text"), grid: svgEl("line", {class: "rex-gridline"})};
      tick.text.setAttribute("text-anchor", axis === "x" ? "middle" : "end");
      group.append(tick.mark, tick.text);
      this.grid.append(tick.grid);
      pool.push(tick);
    }
    pool.forEach((tick, i) => {
      const on = i < values.length;
      for (const node of [tick.mark, tick.text, tick.grid]) update(node, {display: on ? "inline" : "none"});
      if (!on) return;
      const [x, y] = at(values[i]);
      if (axis === "x") {
        update(tick.mark, {x1: x, x2: x, y1: y, y2: y + 5});
        update(tick.grid, {x1: x, x2: x, y1: m.top, y2: m.top + ih});
        update(tick.text, {x, y: y + 17});
      } else {
        update(tick.mark, {x1: x - 5, x2: x, y1: y, y2: y});
        update(tick.grid, {x1: m.left, x2: m.left + iw, y1: y, y2: y});
        update(tick.text, {x: x - 7, y: y + 4});
      }
      const label = fmt(values[i], 4);
      if (tick.text.textContent !== label) tick.text.textContent = label;
    });
  }

  drawLegend(series) {
    const key = series.map((s) => `${s.label}|${s.color}|${s.dash}`).join(";");
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren(...series.map((s) => {
      const sample = svgEl("svg", {width: 28, height: 10, "aria-hidden": "true"});
      sample.append(svgEl("line", {x1: 1, x2: 27, y1: 5, y2: 5, stroke: s.color, "stroke-width": 2,
        "stroke-dasharray": s.dash}));
      return el("span", {class: "rex-key"}, sample, s.label);
    }));
  }
}

// ------------------------------------------------------------------------------------------------ the explorer

/** One explorer in a container element; see the module comment. */
export class RewardExplorer {
  constructor(container) {
    this.root = container;
    this.palette = JSON.parse(container.dataset.palette || "{}");
    const preset = PRESETS[container.dataset.preset] ? container.dataset.preset : "stalling";
    this.frame = 0;      // the requested animation frame
    this.early = false;  // whether an update is queued or done since the last frame (schedule)
    this.work = 0;       // ms spent computing and drawing since the last frame
    this.last = null;    // the latest computed results, redrawn on a resize
    this.stale = false;  // whether something is not drawn yet
    this.dirty = false;  // whether the state changed since the latest computation
    this.failed = false; // whether the latest update's computation failed
    // the update queued behind an input (schedule)
    this.soon = new MessageChannel();
    this.soon.port1.onmessage = () => { if (this.stale && this.dirty) this.update(); };
    this.cellColours = new WeakMap();  // table cell -> the background colour written to it
    this.build();
    this.load(preset);
    // Layout is read only in a ResizeObserver callback (after the browser's own layout, so no forced reflow): the
    // explorer's width, on which the charts are redrawn (not recomputed), and the size of everything below the bar
    // of controls, which that part's box is given (see explorer.css: a box of fixed size is laid out on its own, so
    // a redraw lays out the explorer and not the page; only a change of its size reaches the page).
    this.width = this.root.clientWidth;
    this.bodySize = {width: null, height: null};  // px written to .rex-body's style
    this.resize = new ResizeObserver((entries) => {
      const width = this.root.clientWidth;
      if (width !== this.width) { this.width = width; this.schedule(false); }
      for (const entry of entries) {
        // the explorer's content box gives the width, .rex-content's border box the height
        const [key, px] = entry.target === this.root ? ["width", entry.contentBoxSize[0].inlineSize]
          : ["height", entry.borderBoxSize[0].blockSize];
        if (this.bodySize[key] !== px) { this.bodySize[key] = px; this.body.style[key] = `${px}px`; }
      }
    });
    this.resize.observe(this.root);
    this.resize.observe(this.content);
  }

  // -------------------------------------------------------------------------------------------- controls

  build() {
    const r = this.root;
    r.replaceChildren();
    r.classList.add("rex");
    r.dataset.mounted = "true";
    this.presetMenu = el("select", {class: "rex-preset", "aria-label": "preset"},
      ...Object.entries(PRESETS).map(([k, p]) => el("option", {value: k}, p.label)),
      el("option", {value: "custom", disabled: ""}, "your own settings"));
    this.addButton = el("button", {type: "button", class: "rex-add"}, "add an output");
    this.note = el("p", {class: "rex-note"});
    this.outputs = el("div", {class: "rex-outputs"});
    this.summary = el("span", {class: "rex-summary"});
    this.message = el("p", {class: "rex-message", role: "alert"});
    this.status = el("span", {class: "rex-status", "aria-live": "polite"});
    const lr = this.field("lr", "learning rate", {min: LR_EXPONENTS[0], max: LR_EXPONENTS[1], step: 0.05},
      "learning rate (the slider moves log10 of it)");
    const steps = this.field("steps", "horizon (steps)", {min: STEPS_RANGE[0], max: STEPS_RANGE[1], step: 100},
      "training steps of every run, and the horizon of the measured categories");
    const bar = el("div", {class: "rex-bar"}, el("label", {class: "rex-preset-field"}, "preset ", this.presetMenu),
      lr, steps, this.addButton);

    const valueFigure = el("figure", {class: "rex-figure"});
    this.valueChart = new LineChart(valueFigure, {xTitle: "step (SGD updates)", yTitle: "expected reward",
      label: "Expected ground-truth and proxy reward over the steps, trained on r_P and on r_G"});
    valueFigure.append(el("figcaption", {}, "Expected ground-truth reward V_G (solid) and expected proxy reward "
      + "V_P (dashed) over the training steps, training on the proxy r_P and on the ground truth r_G "
      + "(exact policy gradient, computed in this page)."));
    const probFigure = el("figure", {class: "rex-figure"});
    this.probChart = new LineChart(probFigure, {xTitle: "step (SGD updates)", yTitle: "probability π(y)",
      label: "Probability of each output over the steps, trained on r_P"});
    probFigure.append(el("figcaption", {}, "Probability of each output over the training steps, training on "
      + "the proxy r_P."));

    this.table = el("table", {class: "rex-table"});
    this.table.append(el("thead", {}, el("tr", {}, ...COLUMNS.map(([h]) => el("th", {scope: "col"}, h)))));
    this.tbody = el("tbody");
    this.table.append(this.tbody);
    // The book's sideways-scrolling box for tables: book/_static/layout.js marks its cut edges (data-overflow) and
    // layout.css fades them, as for every wide table of the book; explorer.css adds a line of text below.
    this.scroller = el("div", {class: "rex-scroll pst-scrollable-table-container", tabindex: "0", role: "region",
      "aria-label": "categories of the reward errors (scrolls sideways)"}, this.table);
    const tableFigure = el("figure", {class: "rex-figure rex-table-figure"}, this.scroller,
      el("p", {class: "rex-scroll-cue", "aria-hidden": "true"}, "scroll sideways for the rule and the evidence ⇢"),
      el("figcaption", {}, "Every output whose proxy reward differs from its ground truth: the predicted category "
        + "(the paper's rules at π₀, the rule in words) and the measured one (training with the error against "
        + "training with it corrected, same horizon; the evidence in words)."));
    // Everything a redraw changes is in one box whose size the script sets (see the constructor): laying out its
    // content is the whole of a redraw's layout. The bar stays outside: a <select> keeps any box around it from
    // being laid out on its own (Chromium).
    this.content = el("div", {class: "rex-content"}, this.note, this.outputs,
      el("p", {class: "rex-line"}, this.summary, " ", this.status), this.message, valueFigure, probFigure, tableFigure);
    this.body = el("div", {class: "rex-body"}, this.content);
    r.append(bar, this.body);

    r.addEventListener("input", (e) => this.onInput(e));
    r.addEventListener("change", (e) => this.onChange(e));
    r.addEventListener("click", (e) => this.onClick(e));
  }

  /** A labelled slider and number entry; data-field names what they edit, data-output which output (named `name`). */
  field(key, label, range, title, output = null, name = "") {
    const attrs = {"data-field": key, title};
    if (output !== null) attrs["data-output"] = output;
    const spoken = name ? `${label} of ${name}` : label;
    const slider = el("input", {type: "range", ...range, ...attrs, "aria-label": `${spoken} (slider)`});
    const entry = el("input", {type: "number", step: "any", ...attrs, class: "rex-number", "aria-label": spoken});
    return el("div", {class: "rex-field"}, el("span", {class: "rex-field-label"}, label), slider, entry);
  }

  /** Rebuild the per-output controls (after a preset, an added or a removed output). */
  buildOutputs() {
    const s = this.state;
    const n = s.names.length;
    this.outputs.replaceChildren(...s.names.map((name, i) => {
      const nameEntry = el("input", {type: "text", class: "rex-name", value: name, maxlength: "12",
        "data-field": "name", "data-output": i, "aria-label": `name of output ${i + 1}`});
      const remove = el("button", {type: "button", class: "rex-remove", "data-output": i,
        "aria-label": `remove ${name}`, title: `remove ${name}`}, "×");
      if (n <= MIN_OUTPUTS) remove.disabled = true;
      const reward = {min: REWARD_RANGE[0], max: REWARD_RANGE[1], step: REWARD_STEP};
      const prob = {min: PROB_RANGE[0], max: PROB_RANGE[1], step: PROB_STEP};
      return el("fieldset", {class: "rex-output", "data-output": i}, el("legend", {}, nameEntry, remove),
        ...FIELDS.map((f) => this.field(f.key, f.label, f.key === "init_probs" ? prob : reward,
          `${f.title} of ${name}`, i, name)));
    }));
    this.addButton.disabled = n >= MAX_OUTPUTS;
    this.syncAll();
  }

  /** Load a preset into the state and the controls, and redraw. */
  load(key) {
    const p = PRESETS[key];
    this.state = {names: [...p.names], r_true: [...p.r_true], r_proxy: [...p.r_proxy],
      init_probs: [...p.init_probs], lr: p.lr, steps: p.steps};
    this.presetMenu.value = key;
    this.note.textContent = p.note;
    this.buildOutputs();
    this.schedule(true);
  }

  /** Show the state in every control (the number entries at full precision of `fmt`). */
  syncAll() {
    for (const input of this.root.querySelectorAll("input[data-field]")) this.sync(input);
  }

  sync(input) {
    const {field, output} = input.dataset;
    if (field === "name") { input.value = this.state.names[output]; return; }
    let value = output === undefined ? this.state[field] : this.state[field][output];
    if (input.type === "range") {
      if (field === "lr") value = Math.log10(value);
      // widen a reward slider to hold a value typed outside its range
      if (field === "r_true" || field === "r_proxy") {
        input.min = Math.min(REWARD_RANGE[0], Math.floor(value));
        input.max = Math.max(REWARD_RANGE[1], Math.ceil(value));
      }
      input.value = value;
    } else {
      input.value = fmt(value, field === "init_probs" ? 4 : 6);
    }
    input.removeAttribute("aria-invalid");
  }

  /** The new value of an input, or an Error naming the field and the value. */
  parse(input) {
    const {field, output} = input.dataset;
    const what = output === undefined ? field : `${field}[${this.state.names[output]}]`;
    let value = Number(input.value);
    if (input.value.trim() === "" || !Number.isFinite(value)) {
      return new Error(`${what} must be a finite number; got ${JSON.stringify(input.value)}`);
    }
    if (field === "lr") {
      if (input.type === "range") value = 10 ** value;
      if (value <= 0) return new Error(`lr must be > 0; got ${input.value}`);
    } else if (field === "steps") {
      value = Math.round(value);
      if (value < 1 || value > MAX_STEPS) {
        return new Error(`steps must be an integer in 1..${MAX_STEPS}; got ${input.value}`);
      }
    } else if (field === "init_probs" && !(value > 0 && value < 1)) {
      return new Error(`${what} must be strictly between 0 and 1; got ${input.value}`);
    }
    return value;
  }

  apply(input, value) {
    const {field, output} = input.dataset;
    const s = this.state;
    if (output === undefined) s[field] = value;
    else if (field === "init_probs") s.init_probs = withProbability(s.init_probs, Number(output), value);
    else s[field][output] = value;
    // the twin control (and, for pi_0, every output's) follows
    const selector = field === "init_probs" ? '[data-field="init_probs"]'
      : `[data-field="${field}"]${output === undefined ? ":not([data-output])" : `[data-output="${output}"]`}`;
    for (const other of this.root.querySelectorAll(`input${selector}`)) if (other !== input) this.sync(other);
    input.removeAttribute("aria-invalid");
    this.customised();
    this.schedule(true);
  }

  /** The preset menu says "your own settings". Set only when it says otherwise: in Chromium every assignment to a
   * <select>'s value, even of the value it has, makes the browser's autofill re-read every form control of the page
   * in a task of its own (a layout of the page and some 2-3 ms per slider step). */
  customised() {
    if (this.presetMenu.value !== "custom") this.presetMenu.value = "custom";
  }

  onInput(e) {
    const input = e.target;
    if (!input.matches("input[data-field]") || input.dataset.field === "name") return;
    const value = this.parse(input);
    if (value instanceof Error) { input.setAttribute("aria-invalid", "true"); return; }  // said on "change"
    this.apply(input, value);
  }

  onChange(e) {
    const input = e.target;
    if (input === this.presetMenu) { this.load(input.value); return; }
    if (!input.matches("input[data-field]")) return;
    if (input.dataset.field === "name") { this.rename(input); return; }
    const value = this.parse(input);
    if (value instanceof Error) { this.say(value.message); this.sync(input); return; }
    this.sync(input);  // show the value as kept (e.g. a rescaled pi_0)
  }

  rename(input) {
    const i = Number(input.dataset.output);
    const name = input.value.trim();
    const taken = this.state.names.some((other, j) => j !== i && other === name);
    if (!name || taken) {
      this.say(`names must be distinct and not empty; got ${JSON.stringify(input.value)} for output ${i + 1}`);
      this.sync(input);
      return;
    }
    this.state.names[i] = name;
    this.customised();
    this.buildOutputs();  // labels and titles carry the name
    this.schedule(true);
  }

  onClick(e) {
    const button = e.target.closest("button");
    if (!button || !this.root.contains(button)) return;
    const s = this.state;
    const n = s.names.length;
    if (button === this.addButton && n < MAX_OUTPUTS) {
      // a new output with no error (r_P = r_G = 0) and pi_0 = 1 / (N + 1); the others rescale
      s.names.push(freshName(s.names));
      s.r_true.push(0);
      s.r_proxy.push(0);
      s.init_probs = withProbability([...s.init_probs, 0], n, 1 / (n + 1));
    } else if (button.classList.contains("rex-remove") && n > MIN_OUTPUTS) {
      const i = Number(button.dataset.output);
      for (const key of ["names", "r_true", "r_proxy", "init_probs"]) s[key].splice(i, 1);
      const total = s.init_probs.reduce((a, b) => a + b, 0);
      s.init_probs = s.init_probs.map((q) => q / total);
    } else {
      return;
    }
    this.customised();
    this.buildOutputs();
    this.schedule(true);
  }

  say(text) {
    this.message.textContent = text;
  }

  // -------------------------------------------------------------------------------------------- computing, drawing

  /** Show the state in the next animation frame, recomputing first when `compute` (the state changed). A change of
   * state is computed and drawn at once, in a task queued behind the input, so that the frame only renders it; this
   * is done once between two frames (what changes after it is computed and drawn in the frame, once). */
  schedule(compute) {
    this.dirty = this.dirty || compute;
    this.stale = true;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
    if (compute && !this.early) {
      this.early = true;
      this.soon.port2.postMessage(null);
    }
  }

  /** Compute (when the state changed) and draw; `this.work` adds the time taken. A failed computation is said, and
   * nothing is drawn. */
  update() {
    const start = performance.now();
    this.stale = false;
    this.failed = false;
    if (this.dirty || !this.last) {
      this.dirty = false;
      try {
        this.last = this.compute();
        this.say("");
      } catch (err) {
        this.say(`Not updated: ${err.message}`);
        this.failed = true;
      }
    }
    if (!this.failed) this.draw(this.last);
    this.work += performance.now() - start;
  }

  /** The animation frame: whatever is not drawn yet is, and "rex:redrawn" says what it took (detail.ms: computing
   * and drawing what the frame shows, detail.frame: the part of it done in the frame). */
  redraw() {
    this.frame = 0;
    this.early = false;
    const start = performance.now();
    if (this.stale) this.update();
    const work = this.work;
    this.work = 0;
    if (this.failed) return;
    this.status.textContent = `(updated in ${work.toFixed(1)} ms)`;
    const frame = performance.now() - start;
    this.root.dispatchEvent(new CustomEvent("rex:redrawn", {detail: {ms: work, frame}}));
  }

  /** Everything the figures show, from the core: both trainings and the categories. */
  compute() {
    const s = this.state;
    const every = Math.max(1, Math.floor(s.steps / POINTS));
    const problem = {r_true: [...s.r_true], r_proxy: [...s.r_proxy], init_probs: [...s.init_probs], lr: s.lr,
      steps: s.steps};
    const proxy = simulate({...problem, reward: "proxy", record_every: every});
    // training on r_G does not read r_P: an edit of a proxy reward reuses it
    const key = JSON.stringify([s.r_true, s.init_probs, s.lr, s.steps, every]);
    if (this.truthKey !== key) {
      this.truth = simulate({...problem, reward: "true", record_every: every});
      this.truthKey = key;
    }
    const truth = this.truth;
    const rows = categorize({...problem, names: [...s.names]});
    return {state: structuredClone(s), every, proxy, truth, rows};
  }

  /** The recorded step of each record of `run`. */
  static recordSteps(run, steps, every) {
    if (run.steps && run.steps.length === run.true_value.length) return run.steps;
    return Array.from(run.true_value, (_, i) => Math.min(i * every, steps));
  }

  draw({state, every, proxy, truth, rows}) {
    const pal = this.palette;
    const series = pal.series || [];
    const dashes = pal.dashes || {};
    const dash = (reward) => ((dashes[reward] || [1, 0])[1] === 0 ? "none" : (dashes[reward] || []).join(" "));
    const width = this.width;
    const xs = RewardExplorer.recordSteps(proxy, state.steps, every);
    const xsTrue = RewardExplorer.recordSteps(truth, state.steps, every);
    const label = {[TRAINED_ON_TRUE]: series[0], [TRAINED_ON_PROXY]: series[1]};
    const lines = [];
    for (const [run, on, steps] of [[truth, TRAINED_ON_TRUE, xsTrue], [proxy, TRAINED_ON_PROXY, xs]]) {
      lines.push({key: `${on}|V_G`, label: `V_G, ${on}`, color: label[on], dash: dash("true"), xs: steps,
        ys: run.true_value});
      lines.push({key: `${on}|V_P`, label: `V_P, ${on}`, color: label[on], dash: dash("proxy"), xs: steps,
        ys: run.proxy_value});
    }
    const rewards = [...state.r_true, ...state.r_proxy];
    let lo = Math.min(...rewards), hi = Math.max(...rewards);
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const pad = 0.04 * (hi - lo);
    this.valueChart.draw(lines, state.steps, [lo - pad, hi + pad], width);

    const probLines = state.names.map((name, y) => ({key: `p|${y}`, label: name, color: series[y % series.length],
      dash: "none", xs, ys: Array.from(proxy.probs, (p) => p[y])}));
    this.probChart.draw(probLines, state.steps, [0, 1], width);

    this.summary.textContent = `At π₀: V_G = ${fmt(proxy.true_value[0])}, V_P = ${fmt(proxy.proxy_value[0])}. `
      + "An output's logit rises under r_P exactly when r_P(y) > V_P.";
    this.drawTable(rows);
  }

  drawTable(rows) {
    const colours = this.palette.categories || {};
    const body = this.tbody;
    if (!rows.length) {
      const cell = el("td", {colspan: COLUMNS.length, class: "rex-empty"},
        "The proxy equals the ground truth on every output: there is no reward error to categorise.");
      body.replaceChildren(el("tr", {}, cell));
    } else {
      if (body.querySelector(".rex-empty")) body.replaceChildren();
      while (body.rows.length < rows.length) {
        body.append(el("tr", {}, ...COLUMNS.map(([heading]) => el("td", {"data-column": heading}))));
      }
      while (body.rows.length > rows.length) body.lastElementChild.remove();
      // only what differs is written (an attribute or a style written, even unchanged, costs a style recalculation)
      rows.forEach((row, i) => {
        const tr = body.rows[i];
        update(tr, {"data-output": row.output, "data-name": row.name});
        COLUMNS.forEach(([heading, text], j) => {
          const td = tr.cells[j];
          const value = text(row);
          if (td.textContent !== value) td.textContent = value;
          if (COLOURED.has(heading)) {
            const colour = colours[value] || "";
            td.classList.toggle("rex-category", Boolean(colour));
            if (this.cellColours.get(td) !== colour) { this.cellColours.set(td, colour); td.style.background = colour; }
          }
        });
      });
    }
  }
}

/** Mount every explorer container under `root` that is not mounted yet; returns the new explorers. */
export function mountAll(root) {
  return Array.from(root.querySelectorAll(".reward-explorer:not([data-mounted])"), (c) => new RewardExplorer(c));
}
