"""What ``train`` costs beyond its arithmetic: the time to return, and the time of the first read of the results
(``Run.probs``: device -> host copy and float64 conversion, done lazily since results stay where training left
them), measured in one run.

    .venv/bin/python benchmarks/bench_results.py                       # CPU: B = 16,384 runs x 64 outputs
    python benchmarks/bench_results.py --device cuda --backend fused --batch 1048576   # a GPU machine

Prints the median over ``--repeat`` trainings of (a) ``train`` returning, (b) the first ``run.probs`` read, and
their ratio (a + b) / a: what a caller who reads the results paid before they became lazy, relative to one who
keeps them on the device. Goal (on a GPU, the fused kernel at B = 1,048,576): ``train`` within 1.5x the kernel time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import labsupport as ls


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="auto", help="auto (default), torch or fused")
    parser.add_argument("--batch", type=int, default=16_384, help="B, runs trained together (default 16,384)")
    parser.add_argument("--outputs", type=int, default=64, help="N (default 64)")
    parser.add_argument("--steps", type=int, default=100, help="exact steps (default 100; the GPU goal uses 1000)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.batch, args.outputs)
    prob = ls.Bandit(r_true=rng.uniform(-1, 1, shape), r_proxy=rng.uniform(-1, 1, shape),
                     init_logits=rng.normal(size=shape))

    def train():
        return ls.train(prob, ls.ExactPG(lr=0.1), args.steps, device=args.device, backend=args.backend,
                        record_every=None, progress=False)

    train()  # warm-up (and compilation on the fused path)
    returned, read = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        run = train()
        sync(args.device)
        returned.append(time.perf_counter() - start)
        kept = run.__dict__["_probs"]  # what training left: a tensor on the device, in the training dtype
        start = time.perf_counter()
        run.probs  # noqa: B018 - the first read converts
        read.append(time.perf_counter() - start)
    a, b = statistics.median(returned), statistics.median(read)
    print(f"torch {torch.__version__}, device {args.device}, backend {args.backend}, B = {args.batch:,}, "
          f"N = {args.outputs}, T = {args.steps} exact steps, record_every=None; median of {args.repeat}")
    print(f"train returns (results kept as {type(kept).__name__} {kept.dtype} on {kept.device}): {a * 1e3:8.1f} ms")
    print(f"first read of run.probs (to host, float64):                {b * 1e3:8.1f} ms")
    print(f"eager conversion would cost (a + b) / a = {(a + b) / a:.2f}x the lazy return")


if __name__ == "__main__":
    main()
