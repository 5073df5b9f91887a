"""The stress test of chapter 5: random instances, predicted against measured error categories, five algorithms.

    .venv/bin/python tools/run_stress_sweep.py --instances 100000 --device cuda \\
        --out labsupport/data/stress_sweep.csv.gz      # the committed file: 100,000 instances on a GPU (2 to 3 min)
    .venv/bin/python tools/run_stress_sweep.py    # 8,000 instances into build/ (about 10 minutes on 2 CPU cores)

Draws ``--instances`` random bandits with :func:`labsupport.studies.sweeps.random_instances` (single or multiple errors,
half each, initial entropies uniform in [0.1, 1]), runs :func:`labsupport.studies.sweeps.stress_test` with the five
algorithms of :func:`labsupport.studies.sweeps.default_algorithms` (one batched sweep per algorithm, chunked to a memory
budget), writes one row per (instance, error, algorithm) to ``--out`` (CSV, gzip-compressed when the name ends in .gz)
and prints the machine, the run times and the agreement tables. The lab of chapter 5 reads the committed file
``labsupport/data/stress_sweep.csv.gz`` (``labsupport.data.load("stress_sweep")``); ``labsupport/data/README.md`` says
which command, machine and sizes produced it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from labsupport.simulate import resolve_device
from labsupport.studies import sweeps

ROOT = Path(__file__).resolve().parents[1]
#: floats are written with this many significant digits (enough for every table of the lab, and a small file)
FLOAT_FORMAT = "%.5g"
#: default size, for a CPU (about 10 minutes on two shared cores); the committed file has 100,000 (a GPU run)
DEFAULT_INSTANCES = 8000


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    text = f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"
    if device.type == "cuda":
        text += f", GPU {torch.cuda.get_device_name(device)}"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=DEFAULT_INSTANCES,
                        help=f"number of random instances (default {DEFAULT_INSTANCES})")
    parser.add_argument("--outputs", type=int, default=6, help="outputs per instance N (default 6)")
    parser.add_argument("--errors", default="mixed", choices=sweeps.ERRORS, help="errors per instance (default mixed)")
    parser.add_argument("--entropy", type=float, nargs=2, default=(0.1, 1.0), metavar=("LOW", "HIGH"),
                        help="range of the normalised initial entropy (default 0.1 1.0)")
    parser.add_argument("--steps", type=int, default=2000, help="horizon of each measurement (default 2000)")
    parser.add_argument("--seeds", type=int, default=4, help="runs per variant for sampled algorithms (default 4)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of every algorithm (default 0.1)")
    parser.add_argument("--algorithms", nargs="+", default=list(sweeps.default_algorithms()),
                        help="subset of: " + " ".join(sweeps.default_algorithms()))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random instances (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto: GPU when present)")
    parser.add_argument("--memory-mb", type=float, default=None,
                        help="memory budget of one chunk (default 256 on the CPU, 16384 on a GPU)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    parser.add_argument("--out", default=str(ROOT / "build" / "stress_sweep.csv.gz"),
                        help="output file (default build/stress_sweep.csv.gz; the committed one is "
                             "labsupport/data/stress_sweep.csv.gz)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    algorithms = sweeps.default_algorithms(lr=args.lr)
    unknown = [a for a in args.algorithms if a not in algorithms]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {list(algorithms)}")
    memory = args.memory_mb if args.memory_mb is not None else (16384 if device.type == "cuda" else 256)

    print(f"machine: {machine(device)}; device {device}")
    print(f"instances {args.instances}, N = {args.outputs}, errors {args.errors}, entropy {args.entropy}, "
          f"steps {args.steps}, lr {args.lr}, seeds {args.seeds} (sampled algorithms), seed {args.seed}")
    problems = sweeps.random_instances(args.instances, n_outputs=args.outputs, entropy=tuple(args.entropy),
                                       errors=args.errors, seed=args.seed)
    print(f"errors: {int(problems.errors().sum())} in {args.instances} instances")
    frames, times = [], {}
    for name in args.algorithms:
        start = time.perf_counter()
        frames.append(sweeps.stress_test(problems, {name: algorithms[name]}, steps=args.steps, seeds=args.seeds,
                                         device=str(device), memory_mb=memory))
        times[name] = time.perf_counter() - start
        print(f"{name}: {times[name]:.1f} s", flush=True)
    # rows of one error next to each other (its columns repeat across algorithms, which compresses well)
    frame = pd.concat(frames, ignore_index=True).sort_values(["instance", "output", "algorithm"], kind="stable")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format=FLOAT_FORMAT)
    print(f"wrote {len(frame)} rows to {out} ({out.stat().st_size / 1e6:.2f} MB); total {sum(times.values()):.1f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(sweeps.agreement(frame, by="algorithm").round(3).to_string(index=False))
        print(sweeps.agreement(sweeps.add_entropy_bins(frame), by=["algorithm", "entropy_bin"]).round(3)
              .to_string(index=False))
        print(sweeps.confusion(frame, by="algorithm", wide=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
