"""Run the reward-model evaluation study of chapter 6 and write its table.

    .venv/bin/python tools/run_rlhf_study.py --size full --device cuda --out labsupport/data/rlhf_study.csv
                                                    # the committed file: one GPU, about a minute
    .venv/bin/python tools/run_rlhf_study.py   # size "cpu" into build/: about 8 minutes on 2 CPU cores
    .venv/bin/python tools/run_rlhf_study.py --size small --out /tmp/study.csv

One row per (initial policy, reward model), plus two reference rows per initial policy (``reference`` True): trained
on the ground truth itself, and on the ground truth with the mediocre answer demoted; the columns are described in
labsupport/data/README.md (the committed table loads with ``labsupport.studies.rlhf.load_study()``). The script prints
the time of each phase, the machine, and the correlation of every metric with the ground-truth gain per initial
policy.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from labsupport.simulate import resolve_device
from labsupport.studies import rlhf

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="cpu", choices=list(rlhf.SIZES),
                        help="a preset of labsupport.studies.rlhf.SIZES")
    parser.add_argument("--device", default="auto", help="'auto' (GPU when present), 'cpu' or 'cuda'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (the tensors are small: 1 is fastest on a shared machine)")
    parser.add_argument("--out", default=str(ROOT / "build" / "rlhf_study.csv"),
                        help="output file (default build/rlhf_study.csv; the committed one is "
                             "labsupport/data/rlhf_study.csv)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    size = rlhf.SIZES[args.size]
    device = resolve_device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(f"size {args.size}: {size}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU cores, torch {torch.__version__} with "
          f"{torch.get_num_threads()} thread(s), device {device}{f' ({gpu})' if gpu else ''}")

    start = time.perf_counter()
    study = rlhf.run_study(args.size, seed=args.seed, device=args.device, progress=True)
    total = time.perf_counter() - start
    frame = study.frame.round(6)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)

    print(f"\nwrote {out} ({len(frame)} rows, {len(frame.columns)} columns)")
    print("time per phase (s): " + ", ".join(f"{k} {v:.1f}" for k, v in study.seconds.items())
          + f"; total {total:.1f}")
    print(f"exact expectations: {study.task.exact} ({study.task.n_responses} responses per prompt)")
    table = rlhf.correlation_table(frame, [*rlhf.METRIC_COLUMNS, "rm_heldout_acc"])
    print("\ncorrelation with the gain across reward models, per initial policy:")
    print(table.pivot_table(index=["pairs", "metric"], columns=["init", "stat"], values="value",
                            sort=False).round(3).to_string())


if __name__ == "__main__":
    main()
