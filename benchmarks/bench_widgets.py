"""Reward Error Explorer: how long one slider change takes (train both rewards, categorise, chart, redraw).

    .venv/bin/python benchmarks/bench_widgets.py                 # the paper's toy, exact rule, measured column
    .venv/bin/python benchmarks/bench_widgets.py --all-algorithms --changes 10

Each change sets one slider (cycling through proxy rewards, ground-truth rewards and initial probabilities, where
the others rescale), which fires the explorer's update exactly as dragging it in a notebook does; the explorer
records the wall time of every update in ``last_update_seconds``. Prints the median over the changes, and the median
CPU time of this process per change (close to the wall time on an idle machine; on a shared, busy one the wall time
is the larger).
Goal: under 50 ms on CPU for 5 outputs (exact rule, categories measured).

``--breakdown`` also times the pieces of each update of the first setting (exact rule, categories measured): the
training and categorising (``categorize``), the charts' inline records, their Vega-Lite specs (refilled cached specs;
a chart is built only when its structure is new), the display bundles (the renderer's JSON and HTML) and the redraw
(ipywidgets walking each Output's new state); ms of wall time per change, wrapped around the explorer's own calls.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import platform
import statistics
import time
from collections.abc import Iterator

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


@contextlib.contextmanager
def timed_pieces() -> Iterator[dict[str, list[float]]]:
    """Wrap the calls an update is made of; yields {piece: [seconds of each call]} (restored afterwards). A call made
    inside another timed one (a chart built for a new structure makes its own records) counts for the outer one."""
    pieces: dict[str, list[float]] = collections.defaultdict(list)
    depth = [0]
    targets = [(ls.widgets, "categorize", "training + categories"), (ls.charts, "_value_frame", "chart records"),
               (ls.charts, "_line_records", "chart records"), (ls.charts, "_table_cells", "chart records"),
               (ls.widgets._SpecCache, "spec", "chart specs"), (ls.widgets, "_bundle", "display bundles"),
               (ls.widgets.RewardErrorExplorer, "_draw", "redraw (widget transport)")]

    def wrap(function, piece):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                pieces[piece].append(time.perf_counter() - start)
                depth[0] -= 1
        return timed

    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
    try:
        for owner, name, piece in targets:
            setattr(owner, name, wrap(getattr(owner, name), piece))
        yield pieces
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def breakdown(app, count: int) -> None:
    """Print the median update of ``count`` changes and the mean wall time per change of each piece."""
    with timed_pieces() as pieces:
        times, _ = changes(app, count)
    print(f"  breakdown over {count} changes (median update {statistics.median(times) * 1e3:.1f} ms, mean "
          f"{statistics.mean(times) * 1e3:.1f} ms), mean ms per change:")
    for piece, seconds in pieces.items():
        print(f"    {piece:<28} {sum(seconds) / count * 1e3:6.1f}")
    print(f"    {'other':<28} {(sum(times) - sum(map(sum, pieces.values()))) / count * 1e3:6.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="slider changes per setting (default 20)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--all-algorithms", action="store_true", help="also time REINFORCE, RLOO, GRPO and PPO")
    parser.add_argument("--breakdown", action="store_true", help="also time the pieces of the first setting's updates")
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
            if args.breakdown and name == "exact" and measure:
                breakdown(app, args.changes)


if __name__ == "__main__":
    main()
