"""Peak memory of ``python -m labsupport rm-report`` on large inputs: one prompt with many responses, and many prompts.

    python benchmarks/bench_rmreport_memory.py [--quick]

Each case writes a JSON Lines file (random scores, proxy rewards and log-probabilities, a v_hat per prompt), runs the
command in a fresh process and prints its peak resident memory (the kernel's maxrss of that child), the time, and the
input's size, so that the figures read as bytes per response. ``--quick`` runs smaller cases.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_input(path: Path, prompts: int, per_prompt: int, seed: int = 0) -> int:
    """A file of ``prompts`` prompts with ``per_prompt`` scored responses each; returns its number of records."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as out:
        for p in range(prompts):
            score = rng.integers(0, 1000, per_prompt)
            proxy = score + rng.normal(0, 300, per_prompt)
            logp = -rng.exponential(50, per_prompt)
            length = rng.integers(5, 200, per_prompt)
            out.write(json.dumps({"prompt": p, "v_hat": 500.0}) + "\n")
            out.writelines(
                f'{{"prompt": {p}, "response": {i}, "proxy": {proxy[i]:.3f}, "logp": {logp[i]:.3f}, '
                f'"length": {length[i]}, "score": {score[i]}}}\n'
                for i in range(per_prompt)
            )
    return prompts * (per_prompt + 1)


def peak(path: Path) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of rm-report on ``path`` in a fresh process."""
    code = (
        "import resource, sys; from labsupport.cli import main; rc = main(['rm-report', sys.argv[1], '--json', "
        "'/dev/null']); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    kib = int(lines[-1]) if lines and lines[-1].isdigit() else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode:
        print(f"    exit {done.returncode}: {lines[-2] if len(lines) > 1 else done.stderr[-300:]}")
    return kib / 1024, seconds, done.returncode


def main() -> None:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose labsupport runs (default: this one)")
    args = parser.parse_args()
    ROOT = args.root.resolve()
    cases = ([(1, 3_000), (10_000, 10)] if args.quick
             else [(1, 3_000), (1, 6_000), (1, 12_000), (100_000, 10)])
    print(f"{'prompts':>8} {'responses':>10} {'pairs (max)':>12} {'peak MiB':>9} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        base = peak_of_import(Path(tmp))
        print(f"{'(import only)':>32} {base:9.0f}")
        for prompts, per in cases:
            path = Path(tmp) / f"rm_{prompts}x{per}.jsonl"
            write_input(path, prompts, per)
            mib, seconds, _ = peak(path)
            print(f"{prompts:8d} {prompts * per:10d} {prompts * per * (per - 1) // 2:12d} {mib:9.0f} {seconds:8.1f}")
            path.unlink()


def peak_of_import(tmp: Path) -> float:
    """Peak RSS of a process that only imports the command (the floor under every case)."""
    done = subprocess.run([sys.executable, "-c", "import resource, sys, labsupport.cli; "
                           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return int(done.stdout.strip()) / 1024


if __name__ == "__main__":
    main()
