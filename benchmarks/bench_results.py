"""What ``train`` costs beyond its arithmetic, measured in one run: the time to return against the time of the
training itself, and the time of the first read of the results.

    .venv/bin/python benchmarks/bench_results.py                       # CPU: B = 16,384 runs x 64 outputs
    python benchmarks/bench_results.py --device cuda --backend fused --batch 1048576 --steps 1000   # a GPU machine

Prints medians over ``--repeat`` trainings of one problem (after a first training, which also moves the problem's
inputs to the device and dtype, once: ``Bandit.placed``, timed on its own):

(a) ``train`` returning (results kept where training left them);
(k) the training alone, on the inputs already placed: ``train``'s own inner call
    (``labsupport.simulate.Prepared.execute``: the fused kernel with ``--backend fused``, else the torch step loop),
    so that a / k is all that ``train`` adds: argument checks, memory estimate, placement look-up, the Run;
(b) the first read of ``run.probs`` (device -> host copy and float64 conversion, done lazily); (a + b) / a is what a
    caller who reads the results pays relative to one who keeps them on the device.

Goal (on a GPU, the fused kernel at B = 1,048,576, 1,000 exact steps): a / k <= 1.5.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

import labsupport as ls
from labsupport.simulate import prepare


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

    def kernel():
        """The training alone, on the inputs train placed: train's own inner call (Prepared.execute)."""
        return prepared.execute()

    start = time.perf_counter()
    train()  # the first training: places the inputs (and compiles the fused kernel)
    sync(args.device)
    first = time.perf_counter() - start
    prepared = prepare(prob, ls.ExactPG(lr=0.1), args.steps, device=args.device, backend=args.backend,
                       record_every=None)
    fused, device = prepared.fused, prepared.placed.theta0.device
    kernel()  # warm-up
    returned, alone, read = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        run = train()
        sync(args.device)
        returned.append(time.perf_counter() - start)
        kept = run.__dict__["_probs"]  # what training left: a tensor on the device, in the training dtype
        start = time.perf_counter()
        run.probs  # noqa: B018 - the first read converts
        read.append(time.perf_counter() - start)
        start = time.perf_counter()
        kernel()
        sync(args.device)
        alone.append(time.perf_counter() - start)
    a, k, b = (statistics.median(x) for x in (returned, alone, read))
    what = "the fused kernel" if fused is not None else "the torch step loop"
    print(f"torch {torch.__version__}, device {args.device} ({platform.processor() or platform.machine()}"
          f"{', ' + torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}), backend {args.backend}, "
          f"B = {args.batch:,}, N = {args.outputs}, T = {args.steps} exact steps, record_every=None; "
          f"load {os.getloadavg()[0]:.1f}; median of {args.repeat}")
    rows = [(f"first train (places the inputs{', compiles the kernel' if fused is not None else ''})", first),
            (f"(a) train returns (results kept as {kept.dtype} on {kept.device})", a),
            (f"(k) {what} alone, on the placed inputs", k),
            ("(b) first read of run.probs (to the host, in float64)", b)]
    width = max(len(label) for label, _ in rows) + 2
    for label, seconds in rows:
        print(f"{label:<{width}}{seconds * 1e3:10.1f} ms")
    print(f"train's overhead a / k = {a / k:.2f}x (goal on a GPU with the fused kernel: <= 1.5x)")
    print(f"eager conversion would cost (a + b) / a = {(a + b) / a:.2f}x the lazy return")


if __name__ == "__main__":
    main()
