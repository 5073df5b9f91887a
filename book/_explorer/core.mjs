/**
 * Compute core of the Reward Error Explorer: labsupport's exact tabular path, ported to JavaScript.
 *
 * One ES module with no DOM dependence (browsers and Node 18+). It ports, line by line and in float64:
 *   - labsupport.problems.Bandit: the initial logits log pi_0 - logsumexp(log pi_0) and pi_0 = exp(logits);
 *   - labsupport.algorithms.ExactPG: theta += lr * pi * (r - <pi, r>) on the tabular softmax policy;
 *   - labsupport.simulate.train: records at steps 0, k, 2k, ... and the last step; the first step t at which
 *     V_G(pi_t) >= level, checked before the update of step t;
 *   - labsupport.theory.predict / categorize: the paper's rules with the same rule text, the counterfactual with one
 *     error corrected, `effect`, the tolerance and the "neither reaches it" branch, the same defaults.
 * labsupport stays the reference: the core is tested against it on random instances (tests/test_explorer_core.py)
 * and never grows its own science. Sums follow the order of PyTorch's CPU reduction of a short row, so that float64
 * results agree with labsupport's to about 1e-12.
 */

/** The error categories, in labsupport.theory.CATEGORIES order. */
export const CATEGORIES = Object.freeze(["harmful", "benign", "beneficial", "unclassified"]);

/** Each kind of error the rules name, with its predicted category, in the order the rules test them. */
export const KINDS = Object.freeze({
  "never sampled": "benign",
  "below the mean": "benign",
  "reward hacking": "harmful",
  "stalling": "harmful",
  "hides the best output": "harmful",
  "demoted mediocre output": "beneficial",
  "none": "unclassified",
});

/** Defaults shared with labsupport (ExactPG's lr, categorize's steps, tol, negligible and target fraction). */
export const DEFAULTS = Object.freeze({ lr: 0.1, steps: 2000, tol: 0.05, negligible: 1e-6, target_fraction: 0.95 });

/** init_probs must sum to 1 within this (labsupport.problems.PROB_SUM_TOL). */
const PROB_SUM_TOL = 1e-6;
/** an output is a reward error when |r_P - r_G| exceeds this (Bandit.errors). */
const ERROR_ATOL = 1e-12;

// ------------------------------------------------------------------------------------------------ checks

/** A value as Python's repr would show it in an error message. */
function show(value) {
  if (typeof value === "string") return `'${value}'`;
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return Number.isNaN(value) ? "nan" : Number.isFinite(value) ? String(value)
    : value > 0 ? "inf" : "-inf";
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return `[${Array.from(value, show).join(", ")}]`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function positive(name, value) {
  if (!isNumber(value) || value <= 0) throw new Error(`${name} must be a finite number > 0; got ${show(value)}`);
  return value;
}

function nonNegative(name, value) {
  if (!isNumber(value) || value < 0) throw new Error(`${name} must be a finite number >= 0; got ${show(value)}`);
  return value;
}

function count(name, value, minimum = 0) {
  if (!Number.isInteger(value) || value < minimum) {
    throw new Error(`${name} must be an integer >= ${minimum}; got ${show(value)}`);
  }
  return value;
}

function choice(name, value, options) {
  if (!options.includes(value)) {
    throw new Error(`${name} must be one of ${options.map(show).join(", ")}; got ${show(value)}`);
  }
  return value;
}

/** A finite numeric vector as a Float64Array (of length n when n is given). */
function vector(name, value, n = null) {
  if (!(Array.isArray(value) || ArrayBuffer.isView(value)) || !Array.from(value).every((x) => typeof x === "number")) {
    throw new Error(`${name} must be numeric (an array of numbers); got ${show(value)}`);
  }
  const bad = Array.from(value).find((x) => !Number.isFinite(x));
  if (bad !== undefined) throw new Error(`${name} must be finite; found ${show(bad)} in ${show(value)}`);
  if (n !== null && value.length !== n) {
    throw new Error(`${name} has ${value.length} entries but r_true has ${n} outputs`);
  }
  return Float64Array.from(value);
}

// ---------------------------------------------------------------------------------------------- numerics

/**
 * sum_i a[i] b[i] in the order of PyTorch's CPU sum over a contiguous row of doubles (four lanes: with n >= 4 the
 * entries past the last full group of four are added first, then the lanes; below 4, left to right). Exact for n < 16.
 */
function dot(a, b, n) {
  if (n < 4) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i] * b[i];
    return s;
  }
  const full = n - (n % 4);
  let l0 = a[0] * b[0], l1 = a[1] * b[1], l2 = a[2] * b[2], l3 = a[3] * b[3];
  for (let i = 4; i < full; i += 4) {
    l0 += a[i] * b[i];
    l1 += a[i + 1] * b[i + 1];
    l2 += a[i + 2] * b[i + 2];
    l3 += a[i + 3] * b[i + 3];
  }
  let s = 0;
  for (let i = full; i < n; i++) s += a[i] * b[i];
  return s + l0 + l1 + l2 + l3;
}

/** sum_i x[i] in the order of `dot`. */
function sum(x) {
  return dot(x, new Float64Array(x.length).fill(1), x.length);
}

/** pi = softmax(theta), written into pi: exp(theta - max) scaled by 1 / sum, torch.softmax's formula (its
 * vectorised exp may differ from Math.exp in the last bit: the one difference left, about 1e-16 a step). */
function softmaxInto(theta, pi, n) {
  let m = theta[0];
  for (let i = 1; i < n; i++) if (theta[i] > m) m = theta[i];
  let s = 0;
  for (let i = 0; i < n; i++) {
    pi[i] = Math.exp(theta[i] - m);
    s += pi[i];
  }
  const inv = 1 / s;
  for (let i = 0; i < n; i++) pi[i] *= inv;
}

/** log pi_0 normalised so that logsumexp = 0, as Bandit stores it: x - (max + log sum exp(x - max)). */
function normalisedLogits(logits) {
  const n = logits.length;
  let m = logits[0];
  for (let i = 1; i < n; i++) if (logits[i] > m) m = logits[i];
  const e = logits.map((x) => Math.exp(x - m));
  const lse = Math.log(sum(e)) + m;
  return logits.map((x) => x - lse);
}

// ------------------------------------------------------------------------------------------------ problem

/** The checked problem: rewards, normalised initial logits, pi_0 = exp(logits), names (labsupport.Bandit). */
function problem({ r_true, r_proxy = null, init_probs = null, names = null }) {
  const rTrue = vector("r_true", r_true);
  const n = rTrue.length;
  if (n < 2) throw new Error(`r_true must have at least 2 outputs; got ${show(r_true)}`);
  const rProxy = r_proxy === null || r_proxy === undefined ? rTrue.slice() : vector("r_proxy", r_proxy, n);
  let logits;
  if (init_probs === null || init_probs === undefined) {
    logits = new Float64Array(n);
  } else {
    const p = vector("init_probs", init_probs, n);
    const negative = p.find((x) => x < 0);
    if (negative !== undefined) throw new Error(`init_probs must be non-negative; found ${formatG(negative, 4)}`);
    const total = sum(p);
    if (Math.abs(total - 1) > PROB_SUM_TOL) {
      throw new Error(`init_probs must sum to 1 over outputs; the entries sum to ${formatG(total, 6)}`);
    }
    const zero = p.indexOf(0);
    if (zero >= 0) {
      throw new Error(`init_probs has a zero at index ${zero}: a softmax policy needs every probability > 0 `
        + "(use a tiny value such as 1e-9 for an output that is never sampled)");
    }
    logits = p.map(Math.log);
  }
  logits = normalisedLogits(logits);
  const labels = names === null || names === undefined ? Array.from({ length: n }, (_, i) => `y${i}`)
    : Array.isArray(names) ? names.map(String) : null;
  if (labels === null || labels.length !== n || new Set(labels).size !== n) {
    throw new Error(`names must be ${n} distinct strings; got ${show(names)}`);
  }
  return { n, rTrue, rProxy, logits, pi0: logits.map(Math.exp), names: labels };
}

/**
 * Exact-gradient training from logits theta0 on `reward` for `steps` updates (labsupport.simulate's torch path).
 * level: V_G level whose first passage is tracked (null: none). record: null, or {at: steps to record, probs: one
 * Float64Array per record} filled in place. Returns {hit: first step with V_G >= level (-1: never), pi: final policy}.
 */
function train(theta0, reward, rTrue, lr, steps, level = null, record = null) {
  const n = theta0.length;
  const theta = Float64Array.from(theta0);
  const pi = new Float64Array(n);
  let hit = -1;
  let slot = 0;
  for (let t = 0; ; t++) {
    softmaxInto(theta, pi, n);
    if (record !== null && record.at[slot] === t) record.probs[slot++].set(pi);
    if (hit < 0 && level !== null && dot(pi, rTrue, n) >= level) hit = t;
    if (t === steps) break;
    const v = dot(pi, reward, n);
    for (let i = 0; i < n; i++) theta[i] += lr * (pi[i] * (reward[i] - v));
  }
  return { hit, pi };
}

// ------------------------------------------------------------------------------------------------ exports

/**
 * V_G = <pi, r_G> and V_P = <pi, r_P> of one policy.
 * @param {{r_true: number[], r_proxy: number[], probs: number[]}} args
 * @returns {{true_value: number, proxy_value: number}}
 */
export function values({ r_true, r_proxy, probs }) {
  const rTrue = vector("r_true", r_true);
  const n = rTrue.length;
  const rProxy = vector("r_proxy", r_proxy, n);
  const p = vector("probs", probs, n);
  return { true_value: dot(p, rTrue, n), proxy_value: dot(p, rProxy, n) };
}

/**
 * Exact-gradient training of the tabular softmax policy (labsupport.train with ExactPG, float64).
 * @param {object} args r_true, r_proxy (null: r_true), init_probs (null: uniform), lr > 0, steps >= 0,
 *   reward ("proxy" trains on r_P, "true" on r_G), record_every (k >= 1 records steps 0, k, 2k, ... and the last;
 *   null only the first and last).
 * @returns {{steps: Int32Array, true_value: Float64Array, proxy_value: Float64Array, probs: Float64Array[]}}
 *   one entry per record; probs[j] (length N) are views into one buffer.
 */
export function simulate({ r_true, r_proxy = null, init_probs = null, lr = DEFAULTS.lr, steps = DEFAULTS.steps,
  reward = "proxy", record_every = 1 } = {}) {
  positive("lr", lr);
  count("steps", steps);
  choice("reward", reward, ["proxy", "true"]);
  if (record_every !== null) count("record_every", record_every, 1);
  const prob = problem({ r_true, r_proxy, init_probs });
  const at = [];
  for (let t = 0; t <= steps; t += record_every ?? steps + 1) at.push(t);
  if (at[at.length - 1] !== steps) at.push(steps);
  const n = prob.n;
  const buffer = new Float64Array(at.length * n);
  const probs = at.map((_, j) => buffer.subarray(j * n, (j + 1) * n));
  train(prob.logits, reward === "true" ? prob.rTrue : prob.rProxy, prob.rTrue, lr, steps, null, { at, probs });
  const trueValue = new Float64Array(at.length);
  const proxyValue = new Float64Array(at.length);
  probs.forEach((p, j) => {
    trueValue[j] = dot(p, prob.rTrue, n);
    proxyValue[j] = dot(p, prob.rProxy, n);
  });
  return { steps: Int32Array.from(at), true_value: trueValue, proxy_value: proxyValue, probs };
}

/** Within rounding noise of 0 prints as 0 in the rule text (theory._clean). */
function clean(x) {
  return Math.abs(x) < 1e-12 ? 0 : x;
}

/** (predicted, kind, rule) for one error from its facts (theory._rule, same words). */
function rule(f, ag, ap, negligible, proxyBest, trueBest) {
  const g3 = (x) => formatG(x, 3);
  const aboveP = `r_P(${f.name}) = ${g3(f.rp)} is above the initial expected proxy reward V_P = ${g3(f.vp)}`;
  const belowP = `r_P(${f.name}) = ${g3(f.rp)} is not above the initial expected proxy reward V_P = ${g3(f.vp)}`;
  const aboveG = `r_G(${f.name}) = ${g3(f.rg)} is above V_G = ${g3(f.vg)}`;
  const belowG = `r_G(${f.name}) = ${g3(f.rg)} is not above V_G = ${g3(f.vg)}`;
  if (f.pi0 < negligible) {
    return ["benign", "never sampled",
      `pi_0(${f.name}) = ${formatG(f.pi0, 2)} < ${formatG(negligible, 2)}: the output is effectively never sampled, `
      + "so its reward barely moves the policy"];
  }
  if (ag <= 0 && ap <= 0) {
    return ["benign", "below the mean",
      `${belowP} and ${belowG}: the output never attracts probability under either reward`];
  }
  if (ap > 0 && 0 >= ag) {
    if (proxyBest) {
      return ["harmful", "reward hacking",
        `${aboveP} and it is a proxy-optimal output, while ${belowG}: the policy converges to a bad output`];
    }
    return ["harmful", "stalling", `${aboveP} while ${belowG}: it absorbs probability early and slows the rise of V_G`];
  }
  if (ag > 0 && 0 >= ap) {
    if (trueBest) {
      return ["harmful", "hides the best output",
        `${aboveG} and it is the best output, but ${belowP}: the proxy stops it from attracting probability`];
    }
    return ["beneficial", "demoted mediocre output",
      `${aboveG} but it is not the best output, and ${belowP}: the proxy stops the policy from stalling `
      + "on it, leaving better outputs to attract probability"];
  }
  return ["unclassified", "none",
    `${aboveP} and ${aboveG}: both rewards pull the policy towards it; the rules are silent on the size of the error`];
}

/** The rows of theory.predict for a checked problem. */
function predictRows(prob, negligible) {
  const { n, rTrue, rProxy, pi0, names } = prob;
  const vG = dot(pi0, rTrue, n);
  const vP = dot(pi0, rProxy, n);
  const maxP = Math.max(...rProxy);
  const maxG = Math.max(...rTrue);
  const rows = [];
  for (let y = 0; y < n; y++) {
    if (!(Math.abs(rProxy[y] - rTrue[y]) > ERROR_ATOL)) continue;
    const facts = { name: names[y], rg: rTrue[y], rp: rProxy[y], vg: clean(vG), vp: clean(vP), pi0: pi0[y] };
    const [predicted, kind, text] = rule(facts, rTrue[y] - vG, rProxy[y] - vP, negligible, rProxy[y] >= maxP,
      rTrue[y] >= maxG);
    rows.push({ output: y, name: names[y], r_true: rTrue[y], r_proxy: rProxy[y], pi0: pi0[y], predicted, kind,
      rule: text, measured: null, effect: null, evidence: null });
  }
  return rows;
}

/**
 * The paper's rules read off the initial policy, one record per reward error (labsupport.theory.predict); no
 * training. measured, effect and evidence are null.
 * @returns {object[]} {output (index), name, r_true, r_proxy, pi0, predicted, kind, rule, measured, effect, evidence}
 */
export function predict({ r_true, r_proxy = null, init_probs = null, negligible = DEFAULTS.negligible,
  names = null } = {}) {
  nonNegative("negligible", negligible);
  return predictRows(problem({ r_true, r_proxy, init_probs, names }), negligible);
}

/**
 * categorize's default target level of V_G: r_G,min + 0.95 (r_G,max - r_G,min) (0.9 in the paper's toy).
 * @param {number[]} r_true
 * @returns {number}
 */
export function defaultTarget(r_true) {
  const rTrue = vector("r_true", r_true);
  const lo = Math.min(...rTrue);
  return lo + DEFAULTS.target_fraction * (Math.max(...rTrue) - lo);
}

/** measured, effect, evidence from the two runs of one error (theory._verdict with one seed). */
function verdict(err, fix, span, level, steps, tol) {
  const tErr = err.hit >= 0 ? err.hit : steps;
  const tFix = fix.hit >= 0 ? fix.hit : steps;
  const when = (t, hit) => (hit >= 0 ? `${t} steps` : `not reached in ${steps} steps`);
  let effect, score, evidence;
  if (err.hit >= 0 || fix.hit >= 0) {
    effect = (tFix - tErr) / Math.max(tErr, 1);
    const bound = err.hit >= 0 && fix.hit >= 0 ? "" : " (a bound: the horizon ends first)";
    evidence = `time to V_G >= ${formatG(level, 3)}: ${when(tErr, err.hit)} with the error, `
      + `${when(tFix, fix.hit)} once corrected${bound}`;
    score = effect;
  } else {
    effect = NaN;
    score = (err.final - fix.final) / span;
    evidence = `V_G >= ${formatG(level, 3)} not reached in ${steps} steps either way; final V_G `
      + `${formatG(err.final, 3)} with the error vs ${formatG(fix.final, 3)} once corrected`;
  }
  const measured = score > tol ? "beneficial" : score < -tol ? "harmful" : "benign";
  return { measured, effect, evidence };
}

/**
 * Predicted and measured category of every reward error (labsupport.categorize with ExactPG(lr), one seed).
 *
 * Measured: train on the proxy as given and, for each error, on the proxy with that one error corrected
 * (r_P(y) := r_G(y)), and compare the steps until V_G >= target: effect = (t_corrected - t_error) / t_error,
 * > tol beneficial, < -tol harmful, else benign; a run that never reaches it counts as `steps`; when neither does,
 * the final V_G values are compared (difference / range of r_G) and effect is NaN. Only the first-passage step and
 * the final V_G of each run are kept.
 * @param {object} args r_true, r_proxy, init_probs, lr, steps >= 1, target (null: r_G,min + 0.95 (r_G,max -
 *   r_G,min)), tol, negligible, names.
 * @returns {object[]} the records of `predict` with measured, effect, evidence filled in.
 */
export function categorize({ r_true, r_proxy = null, init_probs = null, lr = DEFAULTS.lr, steps = DEFAULTS.steps,
  target = null, tol = DEFAULTS.tol, negligible = DEFAULTS.negligible, names = null } = {}) {
  positive("lr", lr);
  count("steps", steps, 1);
  nonNegative("tol", tol);
  if (target !== null && !isNumber(target)) {
    throw new Error(`target must be a finite number or null; got ${show(target)}`);
  }
  nonNegative("negligible", negligible);
  const prob = problem({ r_true, r_proxy, init_probs, names });
  const rows = predictRows(prob, negligible);
  if (rows.length === 0) return rows;
  const { n, rTrue, rProxy, logits } = prob;
  const level = target === null ? defaultTarget(rTrue) : target;
  const span = Math.max(Math.max(...rTrue) - Math.min(...rTrue), 1e-12);
  const measure = (reward) => {
    const { hit, pi } = train(logits, reward, rTrue, lr, steps, level);
    return { hit, final: dot(pi, rTrue, n) };
  };
  const withError = measure(rProxy);
  const fixed = new Float64Array(n);
  for (const row of rows) {
    fixed.set(rProxy);
    fixed[row.output] = row.r_true;
    Object.assign(row, verdict(withError, measure(fixed), span, level, steps, tol));
  }
  return rows;
}

// -------------------------------------------------------------------------------------------- formatting

/**
 * Python's format(x, f".{precision}g"): `precision` significant digits (0 counts as 1), rounded half to even on the
 * exact binary value; fixed notation when the rounded exponent e satisfies -4 <= e < precision, else d.ddde+XX;
 * trailing zeros and a trailing point removed; "nan", "inf", "-inf", "-0".
 * @param {number} x
 * @param {number} precision
 * @returns {string}
 */
export function formatG(x, precision = 6) {
  if (typeof x !== "number") throw new Error(`x must be a number; got ${show(x)}`);
  count("precision", precision);
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0`;
  const p = Math.max(precision, 1);
  const [digits, exp] = roundedDigits(Math.abs(x), p);
  const trim = (s) => s.replace(/0+$/, "");
  if (exp >= -4 && exp < p) {
    const whole = exp >= 0 ? digits.slice(0, exp + 1) : "0";
    const frac = trim(exp >= 0 ? digits.slice(exp + 1) : "0".repeat(-exp - 1) + digits);
    return sign + whole + (frac ? `.${frac}` : "");
  }
  const rest = trim(digits.slice(1));
  return `${sign}${digits[0]}${rest ? `.${rest}` : ""}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

/** [p significant digits, decimal exponent of the first] of a finite a > 0, rounded half to even exactly. */
function roundedDigits(a, p) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, a);
  const high = view.getUint32(0);
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  let e2 = (high >>> 20) & 0x7ff;
  if (e2 === 0) e2 = 1;
  else mantissa |= 1n << 52n;
  e2 -= 1075; // a = mantissa * 2^e2 exactly
  // every digit of a: a = all * 10^shift
  const all = e2 >= 0 ? (mantissa << BigInt(e2)).toString() : (mantissa * 5n ** BigInt(-e2)).toString();
  const shift = Math.min(e2, 0);
  let exp = all.length - 1 + shift;
  if (all.length <= p) return [all.padEnd(p, "0"), exp];
  let head = BigInt(all.slice(0, p));
  const next = all[p];
  const restNonZero = /[1-9]/.test(all.slice(p + 1));
  if (next > "5" || (next === "5" && (restNonZero || head % 2n === 1n))) head += 1n;
  let digits = head.toString();
  if (digits.length > p) {
    digits = digits.slice(0, p);
    exp += 1;
  }
  return [digits, exp];
}
