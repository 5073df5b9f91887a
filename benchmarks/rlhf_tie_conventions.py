"""How far chapter 6's correlations move when on-policy pairs tied in the ground truth are kept instead of dropped.

The book drops every pair tied in r_G (``metrics.preference_pairs(..., tie="drop")``). The paper's official
evaluation keeps the on-policy ties, oriented arbitrarily (``tie="keep"`` orients them by sample order), and drops
only the offline ones. The gains after RL do not depend on how the metrics treat ties, so only the metrics at pi_0
need recomputing: this script rebuilds the study's task, SFT policies and reward models, recomputes the on-policy
metrics under both conventions, and prints, per initial policy and metric, the Pearson and Spearman correlation with
the gain under each and the change. Offline pairs keep the "drop" convention in both (as in the paper).

    .venv/bin/python benchmarks/rlhf_tie_conventions.py --study labsupport/data/rlhf_study.csv --device cuda
        # the committed study: no RL; its gains are read from the file, after checking that the rebuilt reward
        # models give its "drop" metrics (the same device type and code as the study are needed for that)
    .venv/bin/python benchmarks/rlhf_tie_conventions.py --size tiny     # the whole study at a size, RL included
    .venv/bin/python benchmarks/rlhf_tie_conventions.py --size cpu --out build/tie_conventions.csv

``--out`` writes the tidy table (init, pairs, metric, stat, drop, keep, change).
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch

from labsupport import metrics
from labsupport.studies import rlhf

ONPOLICY = [c for c in rlhf.METRIC_COLUMNS if c.startswith("onpolicy_")]
STATS = ("pearson", "spearman")


def evaluate(task, init, rms, init_names, seed: int, tie: str) -> pd.DataFrame:
    """``rlhf.evaluate_reward_models`` with pairs built under ``tie`` (same samples for both conventions)."""
    with mock.patch.object(metrics, "preference_pairs", functools.partial(metrics.preference_pairs, tie=tie)):
        return rlhf.evaluate_reward_models(task, init, rms, init_names, seed=seed)


def rebuild(size: rlhf.StudySize, seed: int, device: str):
    """The study's task, SFT policies and reward models, as ``rlhf.run_study`` makes them (no RL)."""
    task = rlhf.SequenceTask(size.prompts, size.vocab, size.length, seed=seed, device=device)
    init = rlhf.sft(task, rlhf.DEFAULT_SFT, demos=size.demos, seed=seed)
    rms = rlhf.train_reward_models(task, rlhf.default_reward_models(size.rm_pairs), init, steps=size.rm_steps,
                                   seed=seed)
    return task, init, rms


def correlations(frame: pd.DataFrame, n_resamples: int) -> pd.DataFrame:
    """Per initial policy and on-policy metric: Pearson and Spearman with the gain, bootstrap interval included."""
    table = rlhf.correlation_table(frame, ONPOLICY, stats=STATS, n_resamples=n_resamples)
    return table[["init", "metric", "stat", "value", "ci_low", "ci_high"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tiny", choices=list(rlhf.SIZES),
                        help="a preset of labsupport.studies.rlhf.SIZES (with --study: the study's own size is used)")
    parser.add_argument("--study", help="a study table (e.g. labsupport/data/rlhf_study.csv): take its gains, no RL")
    parser.add_argument("--device", default="auto", help="'auto' (GPU when present), 'cpu' or 'cuda'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per correlation")
    parser.add_argument("--out", help="write the tidy comparison table as CSV")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [s.name for s in rlhf.DEFAULT_SFT]
    start = time.perf_counter()

    if args.study:
        frame = rlhf.load_study(args.study)
        size_name = str(frame["size"].iloc[0])
        task, init, rms = rebuild(rlhf.SIZES[size_name], args.seed, args.device)
        print(f"rebuilt the {size_name!r} study's policies and reward models on {task.device} "
              f"(the study was made on {frame['device'].iloc[0]}): {time.perf_counter() - start:.0f} s")
        drop = evaluate(task, init, rms, names, args.seed + 7, "drop")
        check = frame.merge(drop, on=["init", "rm"], suffixes=("", "_rebuilt"))
        worst = max(rlhf.METRIC_COLUMNS, key=lambda c: float(np.abs(check[c] - check[f"{c}_rebuilt"]).max()))
        gap = float(np.abs(check[worst] - check[f"{worst}_rebuilt"]).max())
        if len(check) != len(drop) or gap > 1e-5:
            raise SystemExit(f"the rebuilt reward models do not reproduce {args.study}: {worst} differs by up to "
                             f"{gap:.3g}; run on the device type of the study ({frame['device'].iloc[0]}) with the "
                             "code that made it, or without --study (RL included)")
        print(f"check: the rebuilt 'drop' metrics equal the study's to {gap:.1e} (largest in {worst})")
    else:
        study = rlhf.run_study(args.size, seed=args.seed, device=args.device)
        frame, task, init, rms = study.frame, study.task, study.init_logits, study.reward_models
        size_name = args.size
        print(f"ran the {size_name!r} study (RL included) on {task.device}: {time.perf_counter() - start:.0f} s")

    keep = evaluate(task, init, rms, names, args.seed + 7, "keep")
    kept = frame.drop(columns=[*ONPOLICY, "onpolicy_pairs", "onpolicy_ties"]).merge(
        keep[["init", "rm", *ONPOLICY, "onpolicy_pairs", "onpolicy_ties"]], on=["init", "rm"], how="left")
    counts = frame[~frame["reference"]].groupby("init", sort=False)[["onpolicy_pairs", "onpolicy_ties"]].first()
    print("\non-policy pairs per initial policy (drop: untied pairs; keep: all pairs, of which ties):")
    for init_name, row in counts.iterrows():
        print(f"  {init_name}: drop {int(row.onpolicy_pairs)}, keep {int(row.onpolicy_pairs + row.onpolicy_ties)} "
              f"({int(row.onpolicy_ties)} ties)")

    table = correlations(frame, args.resamples).merge(correlations(kept, args.resamples), on=["init", "metric", "stat"],
                                                       suffixes=("_drop", "_keep"))
    table = table.rename(columns={"value_drop": "drop", "value_keep": "keep"})
    table["change"] = table["keep"] - table["drop"]
    table["beyond drop's interval"] = (table["keep"] < table["ci_low_drop"]) | (table["keep"] > table["ci_high_drop"])
    print(f"\ncorrelation of each on-policy metric with the gain across {frame[~frame['reference']].rm.nunique()} "
          f"reward models, size {size_name!r}: ground-truth ties dropped, kept, and the change")
    wide = table.pivot_table(index=["init", "metric"], columns="stat", values=["drop", "keep", "change"],
                             sort=False)
    print(wide.reorder_levels([1, 0], axis=1)[[(s, v) for s in STATS for v in ("drop", "keep", "change")]]
          .round(3).to_string())
    flips = int((np.sign(table["drop"]) != np.sign(table["keep"])).sum())
    outside = int(table["beyond drop's interval"].sum())
    print(f"\nlargest |change|: {table['change'].abs().max():.3f}; median |change|: "
          f"{table['change'].abs().median():.3f}; sign flips: {flips} of {len(table)}; keep's value outside drop's "
          f"95% bootstrap interval: {outside} of {len(table)}")
    for metric, part in table.groupby("metric", sort=False):
        print(f"  {metric:<24} largest |change| {part['change'].abs().max():.3f}")
    by_metric = table.pivot_table(index=["init", "stat"], columns="metric", values=["drop", "keep"], sort=False)
    for conv in ("drop", "keep"):
        ge = int((by_metric[(conv, "HAcc")] >= by_metric[(conv, "Acc")]).sum())
        print(f"  {conv}: HAcc at least as correlated as Acc in {ge} of {len(by_metric)} (initial policy, statistic)")
    print(f"total time {time.perf_counter() - start:.0f} s")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
