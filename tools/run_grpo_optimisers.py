"""Chapter 7 under both optimisers: binary against partial credit with the miniature's SGD and the paper's AdamW recipe.

    .venv/bin/python tools/run_grpo_optimisers.py --out labsupport/data/grpo_optimisers.csv
                                          # the committed file: size "cpu", about 7 minutes on 2 CPU cores
    .venv/bin/python tools/run_grpo_optimisers.py --size small --out /tmp/grpo.csv       # a check, under a minute

Three parts, one row per (part, training, initial policy), the columns of
:func:`labsupport.studies.verifiable.compare_credit` (median steps to P(both) >= 0.5 under binary and partial credit,
share of seeds that reach it, winner) plus ``part``, ``training``, ``lr``, ``family`` and ``regime``:

* ``sweep``: the paper's recipe (AdamW, linear warm-up over 3% then decay to 0, 16 groups per step, silent groups
  filtered) at several learning rates, from chapter 7's three regimes: how the miniature's AdamW rate is chosen;
* ``regimes``: the three regimes under four trainings, the miniature's (SGD at lr 1, one group per step, silent
  groups as zero updates), the paper's, and each half of the difference: ``sgd+batch`` (SGD with 16 groups, filtered)
  and ``adamw`` (AdamW and its schedule with one group, unfiltered);
* ``phase``: the phase diagram of chapter 7 (two families of initial policies) under the miniature's and the
  paper's training.

The script prints the time of each part and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from labsupport.algorithms import GRPO
from labsupport.studies import verifiable as vf

ROOT = Path(__file__).resolve().parents[1]
#: chapter 7's three regimes: initial (P(C1), P(C2), P(both))
REGIMES = {"(a)": (0.7, 0.05, 0.003), "(b)": (0.4, 0.4, 0.1), "(c)": (0.02, 0.02, 0.0002)}
#: the phase diagram's two families: the keyword's extra bias at the last position
FAMILIES = {"compatible (end_bias 0)": 0.0, "competing (end_bias 4)": 4.0}
#: size -> steps, seeds of the regimes and the sweep, seeds of the phase diagram, grid, learning rates of the sweep
SIZES = {
    "cpu": dict(steps=400, seeds=8, phase_seeds=4, grid=[0.02, 0.05, 0.1, 0.2, 0.4, 0.7],
                lrs=[0.003, 0.01, 0.03, 0.1, 0.3]),
    "small": dict(steps=100, seeds=2, phase_seeds=1, grid=[0.05, 0.4], lrs=[0.03, 0.3]),
}
GROUP = 96


def trainings(lr: float) -> dict[str, dict]:
    """The four trainings of the ``regimes`` part, AdamW at ``lr``."""
    return {"miniature": vf.recipe("miniature", GROUP),
            "sgd+batch": {"algorithm": GRPO(group=GROUP, lr=1.0, groups=vf.PAPER_PROMPTS, filter_silent=True)},
            "adamw": {"algorithm": GRPO(group=GROUP, lr=lr), "optimizer": "adamw", "schedule": "linear"},
            "paper": vf.recipe("paper", GROUP, lr)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="cpu")
    parser.add_argument("--out", default=str(ROOT / "build" / "grpo_optimisers.csv"),
                        help="output file (default build/grpo_optimisers.csv; the committed one is "
                             "labsupport/data/grpo_optimisers.csv)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    size = SIZES[args.size]
    torch.set_num_threads(1)
    common = dict(steps=size["steps"], target=0.5, group=GROUP, record_every=5, seed=0, device=args.device,
                  progress=False)
    regimes = vf.make_task(*np.array(list(REGIMES.values())).T)
    parts = []
    tic = time.perf_counter()
    for lr in size["lrs"]:
        frame = vf.compare_credit(regimes, seeds=size["seeds"], training=vf.recipe("paper", GROUP, lr), **common)
        parts.append(frame.assign(part="sweep", training="paper", lr=lr, family="", regime=list(REGIMES)))
    print(f"sweep: {time.perf_counter() - tic:.0f} s", flush=True)
    tic = time.perf_counter()
    for name, training in trainings(vf.PAPER_LR).items():
        frame = vf.compare_credit(regimes, seeds=size["seeds"], training=training, **common)
        parts.append(frame.assign(part="regimes", training=name, lr=training["algorithm"].lr, family="",
                                  regime=list(REGIMES)))
    print(f"regimes: {time.perf_counter() - tic:.0f} s", flush=True)
    tic = time.perf_counter()
    for name in ("miniature", "paper"):
        for family, bias in FAMILIES.items():
            frame = vf.phase_diagram(size["grid"], size["grid"], end_bias=bias, seeds=size["phase_seeds"],
                                     training=vf.recipe(name, GROUP), **common)
            parts.append(frame.assign(part="phase", training=name, lr=vf.recipe(name, GROUP)["algorithm"].lr,
                                      family=family, regime=""))
    print(f"phase diagrams: {time.perf_counter() - tic:.0f} s", flush=True)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "size", args.size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False, float_format="%.6g")
    print(f"{len(out)} rows -> {args.out} | {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
