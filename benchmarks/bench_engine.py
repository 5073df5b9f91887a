"""Engine benchmarks, measured as ratios in one run (no timed assertions anywhere in the tests).

    .venv/bin/python benchmarks/bench_engine.py          # add --device cuda on a GPU machine

1. Batched ``train`` (B = 4096 problems, N = 64 outputs, 1000 exact steps) against a naive Python loop that trains
   the same problems one at a time (timed on a subset and scaled to B); goal: at least 100x.
2. The median time of one 5-output, 2,000-step exact run with both rewards (one batched call) plus ``categorize``'s
   predicted column: what the interactive widgets call on every change; goal: under 25 ms on CPU. Timed in float32
   on the torch path and in float64 as the explorer trains (a numpy loop on the CPU), with their ratio.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

import labsupport as ls


def timed(fn, repeat=1):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def random_problems(b, n, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(b, n))
    return ls.Bandit(r_true=rng.uniform(-1, 1, (b, n)), r_proxy=rng.uniform(-1, 1, (b, n)), init_logits=logits)


def bench_batched(device, b=4096, n=64, steps=1000, naive_runs=16):
    prob = random_problems(b, n)
    algo = ls.ExactPG(lr=0.1)
    run = lambda p: ls.train(p, algo, steps, device=device, record_every=None, progress=False)  # noqa: E731
    run(prob.rows(range(8)))  # warm-up
    batched = min(timed(lambda: run(prob), repeat=3))
    naive = min(timed(lambda: [run(prob.rows([i])) for i in range(naive_runs)], repeat=2)) * b / naive_runs
    print(f"batched train, B={b}, N={n}, T={steps} exact steps on {device}: {batched * 1e3:.0f} ms")
    print(f"naive loop over runs (timed on {naive_runs} runs, scaled to {b}): {naive:.1f} s")
    print(f"ratio naive / batched: {naive / batched:.0f}x   (goal: >= 100x)")


def bench_widget_call(device, repeat=50):
    """What the explorer computes on every change (exact rule, predicted categories): both rewards in one batched
    call, recorded every 10 steps, plus categorize's predicted column; in float32 on the torch path, and in float64
    as the explorer now trains (on the CPU a numpy loop for problems this small)."""
    prob = ls.Bandit(r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1],
                     init_probs=[0.05, 0.5, 0.15, 0.15, 0.15])
    both = ls.Bandit(r_true=prob.r_true[0], r_proxy=torch.stack([prob.r_proxy[0], prob.r_true[0]]),
                     init_logits=prob.init_logits[0])

    def call(dtype, backend):
        ls.train(both, ls.ExactPG(lr=0.1), 2000, reward="proxy", device=device, progress=False, dtype=dtype,
                 backend=backend, record_every=10)
        ls.categorize(prob, measure=False)

    medians = {}
    for label, dtype, backend in (("float32, torch path", torch.float32, "torch"),
                                  ("float64, the explorer's", torch.float64, "auto")):
        call(dtype, backend)
        cpu = []
        for _ in range(repeat):
            start = time.process_time()
            call(dtype, backend)
            cpu.append(time.process_time() - start)
        medians[label] = statistics.median(timed(lambda dtype=dtype, backend=backend: call(dtype, backend),
                                                 repeat=repeat))
        print(f"one 5-output, 2,000-step exact run with both rewards + predicted categories on {device} "
              f"({label}): median {medians[label] * 1e3:.1f} ms over {repeat} calls (CPU time median "
              f"{statistics.median(cpu) * 1e3:.1f} ms)   (goal: < 25 ms on CPU)")
    first, last = medians.values()
    print(f"ratio float32 torch path / float64 explorer path: {first / last:.1f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, device {args.device}")
    bench_batched(args.device)
    bench_widget_call(args.device)


if __name__ == "__main__":
    main()
