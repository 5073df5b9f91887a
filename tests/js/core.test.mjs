// Tests of the explorer's compute core against closed forms, the paper's toy and Python's number formatting.
// Run with `node --test tests/js/`; tests/test_explorer_core.py runs them and compares the core with labsupport.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CATEGORIES, KINDS, categorize, defaultTarget, formatG, predict, simulate, values } from "../../book/_explorer/core.mjs";

const TOY = { r_true: [1, 0.8, -1, -1, -1], r_proxy: [1, -1, -1, -1, -1], init_probs: [0.05, 0.5, 0.15, 0.15, 0.15] };

/** A seeded uniform generator on [0, 1) (mulberry32). */
function generator(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("one exact step is pi_1(y) = pi_0(y) exp(lr pi_0(y) A(y)) / Z", () => {
  const r = [1, 0, -1, 0.25];
  const pi0 = [0.2, 0.3, 0.4, 0.1];
  const lr = 0.5;
  const v = 0.2 * 1 + 0.4 * -1 + 0.1 * 0.25; // -0.175
  const w = pi0.map((p, y) => p * Math.exp(lr * p * (r[y] - v)));
  const z = w.reduce((a, b) => a + b);
  const run = simulate({ r_true: r, r_proxy: r, init_probs: pi0, lr, steps: 1 });
  assert.deepEqual(Array.from(run.steps), [0, 1]);
  run.probs[0].forEach((p, y) => assert.ok(Math.abs(p - pi0[y]) < 1e-15, `pi_0(${y}) = ${p}`));
  run.probs[1].forEach((p, y) => assert.ok(Math.abs(p - w[y] / z) < 1e-15, `pi_1(${y}) = ${p} vs ${w[y] / z}`));
  assert.ok(Math.abs(run.true_value[0] - v) < 1e-15);
  assert.equal(run.true_value[1], values({ r_true: r, r_proxy: r, probs: run.probs[1] }).true_value);
});

test("V_P never decreases under proxy training (random instances with 2-24 outputs, lr 0.1)", () => {
  const random = generator(7);
  for (let k = 0; k < 50; k++) {
    const n = 2 + Math.floor(random() * 23);
    const raw = Array.from({ length: n }, () => 0.01 + random());
    const total = raw.reduce((a, b) => a + b);
    const run = simulate({
      r_true: raw.map(() => 2 * random() - 1), r_proxy: raw.map(() => 2 * random() - 1),
      init_probs: raw.map((x) => x / total), lr: 0.1, steps: 300,
    });
    for (let t = 1; t < run.proxy_value.length; t++) {
      assert.ok(run.proxy_value[t] >= run.proxy_value[t - 1] - 1e-15, `instance ${k}, step ${t}`);
    }
  }
});

test("the paper's toy: V_G reaches 0.9 at step 168 under r_P, never within 50,000 steps under r_G", () => {
  assert.equal(defaultTarget(TOY.r_true), -1 + 0.95 * 2);
  const proxy = simulate({ ...TOY, steps: 1000 });
  assert.equal(proxy.true_value.findIndex((v) => v >= 0.9), 168);
  const truth = simulate({ ...TOY, steps: 50_000, reward: "true", record_every: 10 });
  assert.equal(truth.steps.length, 5001);
  assert.ok(Math.max(...truth.true_value) < 0.9, `max V_G = ${Math.max(...truth.true_value)}`);
  // the stall: most probability sits on y_med at the horizon
  assert.ok(truth.probs[5000][1] > 0.5);
});

test("records every k steps and always the last one; null records the first and the last", () => {
  assert.deepEqual(Array.from(simulate({ ...TOY, steps: 10, record_every: 4 }).steps), [0, 4, 8, 10]);
  const ends = simulate({ ...TOY, steps: 10, record_every: null });
  const every = simulate({ ...TOY, steps: 10 });
  assert.deepEqual(Array.from(ends.steps), [0, 10]);
  assert.deepEqual(Array.from(ends.probs[1]), Array.from(every.probs[10]));
});

test("categorize: the demoted mediocre output is predicted and measured beneficial", () => {
  const [row] = categorize({ ...TOY, steps: 5000, names: ["y*", "y_med", "bad1", "bad2", "bad3"] });
  assert.equal(row.output, 1);
  assert.equal(row.name, "y_med");
  assert.equal(row.predicted, "beneficial");
  assert.equal(row.kind, "demoted mediocre output");
  assert.equal(row.measured, "beneficial");
  assert.equal(row.effect, (5000 - 168) / 168);
  assert.equal(row.rule, "r_G(y_med) = 0.8 is above V_G = 0 but it is not the best output, and r_P(y_med) = -1 is "
    + "not above the initial expected proxy reward V_P = -0.9: the proxy stops the policy from stalling on it, "
    + "leaving better outputs to attract probability");
  assert.equal(row.evidence, "time to V_G >= 0.9: 168 steps with the error, not reached in 5000 steps once "
    + "corrected (a bound: the horizon ends first)");
});

test("categorize: reward hacking is harmful; neither run reaching the target compares final values", () => {
  const [hack] = categorize({ ...TOY, r_proxy: [1, 0.8, 2, -1, -1] });
  assert.deepEqual([hack.predicted, hack.kind, hack.measured], ["harmful", "reward hacking", "harmful"]);
  const [hidden] = categorize({ ...TOY, r_proxy: [-1, 0.8, -1, -1, -1], steps: 50 });
  assert.ok(Number.isNaN(hidden.effect));
  assert.match(hidden.evidence, /^V_G >= 0.9 not reached in 50 steps either way; final V_G /);
});

test("predict reads the rules off the initial policy, one record per error, and no error gives none", () => {
  const rows = predict({ ...TOY, r_proxy: [1, -1, -1, -0.5, -1] });
  assert.deepEqual(rows.map((r) => [r.output, r.kind]), [[1, "demoted mediocre output"], [3, "stalling"]]);
  assert.deepEqual(rows.map((r) => r.measured), [null, null]);
  assert.deepEqual(predict({ ...TOY, r_proxy: TOY.r_true }), []);
  assert.deepEqual(categorize({ ...TOY, r_proxy: TOY.r_true }), []);
  const [never] = predict({ r_true: [1, -1, -1], r_proxy: [1, -1, 5], init_probs: [0.5, 0.5 - 1e-9, 1e-9] });
  assert.equal(never.kind, "never sampled");
  assert.equal(never.rule, "pi_0(y2) = 1e-09 < 1e-06: the output is effectively never sampled, so its reward "
    + "barely moves the policy");
  for (const category of Object.values(KINDS)) assert.ok(CATEGORIES.includes(category));
});

test("formatG prints as Python's format(x, '.3g') and '.2g'", () => {
  // [x, format(x, ".3g"), format(x, ".2g")] as Python 3.11 prints them
  const python = [
    [1e-5, "1e-05", "1e-05"], [0.0001234, "0.000123", "0.00012"], [123456, "1.23e+05", "1.2e+05"],
    [-0.5, "-0.5", "-0.5"], [0.9995, "1", "1"], [1, "1", "1"], [1e16, "1e+16", "1e+16"],
    [0.125, "0.125", "0.12"], [0.0625, "0.0625", "0.062"], [12.5, "12.5", "12"], [2.5e-5, "2.5e-05", "2.5e-05"],
    [-0, "-0", "-0"], [99950, "1e+05", "1e+05"], [NaN, "nan", "nan"], [-Infinity, "-inf", "-inf"],
  ];
  for (const [x, g3, g2] of python) {
    assert.equal(formatG(x, 3), g3, `${x} .3g`);
    assert.equal(formatG(x, 2), g2, `${x} .2g`);
  }
});

test("bad input raises an error naming the argument and the value", () => {
  const cases = [
    [() => simulate({ ...TOY, lr: -1 }), /^lr must be a finite number > 0; got -1$/],
    [() => simulate({ ...TOY, steps: 2.5 }), /^steps must be an integer >= 0; got 2.5$/],
    [() => simulate({ ...TOY, reward: "both" }), /^reward must be one of 'proxy', 'true'; got 'both'$/],
    [() => simulate({ ...TOY, record_every: 0 }), /^record_every must be an integer >= 1; got 0$/],
    [() => simulate({ ...TOY, r_true: [1, NaN, -1, -1, -1] }), /^r_true must be finite; found nan in \[1, nan/],
    [() => simulate({ ...TOY, r_true: "1, 2" }), /^r_true must be numeric \(an array of numbers\); got '1, 2'$/],
    [() => simulate({ ...TOY, r_true: [1], r_proxy: [1], init_probs: [1] }), /^r_true must have at least 2 outputs/],
    [() => simulate({ ...TOY, r_proxy: [1, -1, -1, -1] }), /^r_proxy has 4 entries but r_true has 5 outputs$/],
    [() => simulate({ ...TOY, init_probs: [0.1, 0.5, 0.15, 0.15, 0.15] }), /^init_probs must sum to 1.*1.05$/],
    [() => simulate({ ...TOY, init_probs: [0, 0.55, 0.15, 0.15, 0.15] }), /^init_probs has a zero at index 0/],
    [() => simulate({ ...TOY, init_probs: [-0.1, 0.65, 0.15, 0.15, 0.15] }),
      /^init_probs must be non-negative; found -0.1$/],
    [() => categorize({ ...TOY, steps: 0 }), /^steps must be an integer >= 1; got 0$/],
    [() => categorize({ ...TOY, target: NaN }), /^target must be a finite number or null; got nan$/],
    [() => categorize({ ...TOY, tol: -1 }), /^tol must be a finite number >= 0; got -1$/],
    [() => predict({ ...TOY, negligible: "x" }), /^negligible must be a finite number >= 0; got 'x'$/],
    [() => predict({ ...TOY, names: ["a", "a", "b", "c", "d"] }), /^names must be 5 distinct strings; got \['a', 'a'/],
    [() => values({ ...TOY, probs: [1, 0] }), /^probs has 2 entries but r_true has 5 outputs$/],
    [() => formatG(0.5, -1), /^precision must be an integer >= 0; got -1$/],
  ];
  for (const [call, message] of cases) assert.throws(call, { message });
});
