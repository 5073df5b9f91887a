// Runs the explorer's compute core on a batch of instances for tests/test_explorer_core.py.
// stdin: {"instances": [{"simulate": {...simulate's arguments}, "categorize": {...categorize's arguments}}, ...],
//         "formats": [[x, precision], ...]}
// stdout: {"instances": [{"simulate": {steps, true_value, proxy_value, probs}, "categorize": [records]}, ...],
//          "formats": [formatG(x, precision), ...]}; NaN is written as null.
import { readFileSync } from "node:fs";
import { categorize, formatG, simulate } from "../../book/_explorer/core.mjs";

const request = JSON.parse(readFileSync(0, "utf8"));
const instances = request.instances.map((job) => {
  const run = simulate(job.simulate);
  return {
    simulate: {
      steps: Array.from(run.steps),
      true_value: Array.from(run.true_value),
      proxy_value: Array.from(run.proxy_value),
      probs: run.probs.map((p) => Array.from(p)),
    },
    categorize: categorize(job.categorize),
  };
});
const formats = (request.formats ?? []).map(([x, precision]) => formatG(x, precision));
process.stdout.write(JSON.stringify({ instances, formats })); // JSON writes NaN as null
