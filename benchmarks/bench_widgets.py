"""Reward Error Explorer: how long one slider change takes (train both rewards, categorise, chart, redraw).

    .venv/bin/python benchmarks/bench_widgets.py                 # the paper's toy, exact rule, measured column
    .venv/bin/python benchmarks/bench_widgets.py --all-algorithms --changes 10

Each change sets one slider (cycling through proxy rewards, ground-truth rewards and initial probabilities (the others rescale)), which fires
the explorer's update exactly as dragging it in a notebook does; the explorer records the wall time of every
update in ``last_update_seconds``. Prints the median over the changes, and the median CPU time of this process
per change (close to the wall time on an idle machine; on a shared, busy one the wall time is the larger).
Goal: under 50 ms on CPU for 5 outputs (exact rule, categories measured).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

import labsupport as ls


def changes(app, count: int) -> tuple[list[float], list[float]]:
    """Apply ``count`` slider changes to ``app``; the wall time and the CPU time of each update."""
    moves = [("r_proxy", 2, 0.5), ("r_proxy", 1, 0.3), ("r_true", 3, -0.5), ("init_probs", 0, 0.1),
             ("r_proxy", 2, -1.0), ("r_proxy", 1, -1.0), ("r_true", 3, -1.0), ("init_probs", 0, 0.05)]
    times, cpu = [], []
    for i in range(count):
        key, index, value = moves[i % len(moves)]
        slider = app.sliders[key][index]
        start = time.process_time()
        slider.value = value if slider.value != value else value + ls.widgets.REWARD_STEP
        cpu.append(time.process_time() - start)
        if app.message:
            raise SystemExit(f"the update was rejected: {app.message}")
        times.append(app.last_update_seconds)
    return times, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="slider changes per setting (default 20)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--all-algorithms", action="store_true", help="also time REINFORCE, RLOO, GRPO and PPO")
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
          f"(load average {load}), {torch.get_num_threads()} torch threads, device {args.device}")
    algorithms = list(ls.widgets.ALGORITHMS) if args.all_algorithms else ["exact"]
    for measure in (True, False):
        for name in algorithms:
            app = ls.widgets.explorer(algorithm=name, measure=measure, device=args.device)
            times, cpu = changes(app, args.changes)
            print(f"{name:>9}, measure={measure!s:5}: median update {statistics.median(times) * 1e3:6.1f} ms over "
                  f"{len(times)} slider changes (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}; "
                  f"CPU time median {statistics.median(cpu) * 1e3:.1f} ms)"
                  + ("   (goal: < 50 ms on CPU)" if name == "exact" and measure else ""))


if __name__ == "__main__":
    main()
