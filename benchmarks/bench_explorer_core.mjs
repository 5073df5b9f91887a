// The Reward Error Explorer's compute core (book/_explorer/core.mjs) on one page update: the paper's toy with two
// reward errors (y_med demoted, bad1 raised), trained on r_P and on r_G with every step recorded, plus categorize
// (one run with the errors and one counterfactual per error). Prints the median and 90th percentile wall time per
// update, and the median CPU time of this process per update (what the update costs on a machine shared with
// other work, where the wall time also counts the time other processes hold the cores).
// Run: node benchmarks/bench_explorer_core.mjs
import { performance } from "node:perf_hooks";
import { categorize, simulate } from "../book/_explorer/core.mjs";

const TOY = { r_true: [1, 0.8, -1, -1, -1], r_proxy: [1, -1, 0.5, -1, -1], init_probs: [0.05, 0.5, 0.15, 0.15, 0.15] };

function update(steps) {
  const proxy = simulate({ ...TOY, steps, reward: "proxy" });
  const truth = simulate({ ...TOY, steps, reward: "true" });
  const rows = categorize({ ...TOY, steps });
  return proxy.true_value[steps] + truth.true_value[steps] + rows.length;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

for (const [steps, repeats] of [[2000, 300], [20000, 60]]) {
  for (let i = 0; i < 20; i++) update(steps); // warm-up: let the JIT compile the step loop
  const times = [];
  const cpu = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    const used = process.cpuUsage();
    update(steps);
    const { user, system } = process.cpuUsage(used);
    times.push(performance.now() - start);
    cpu.push((user + system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  console.log(`${steps} steps: median ${quantile(times, 0.5).toFixed(2)} ms, 90th percentile `
    + `${quantile(times, 0.9).toFixed(2)} ms per update; median CPU time ${quantile(cpu, 0.5).toFixed(2)} ms `
    + `(${repeats} updates; node ${process.version})`);
}
