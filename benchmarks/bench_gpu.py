"""GPU benchmark of the fused kernel (labsupport.fused) against eager torch and torch.compile, in one process.

    python benchmarks/bench_gpu.py                      # on a CUDA machine: the full sizes below
    python benchmarks/bench_gpu.py --scale 0.01         # a quick look (sizes scaled down)
    TRITON_INTERPRET=1 python benchmarks/bench_gpu.py --device cpu --scale 0.001 --no-compile   # plumbing check

Cases (goals on one H100, float32, records of the first and last policy only):

1. exact policy gradient, tabular, B = 1,048,576 runs, N = 64 outputs, T = 1000 steps: goal <= 60 ms;
2. RLOO with k = 8, B = 65,536, N = 64, T = 1000: goal <= 70 ms (eager torch took 0.68 s in the reference);
3. exact policy gradient at B = 4,096 and 65,536 (the reference table's smaller sizes), and PPO (k = 4, 4 epochs)
   at B = 65,536;
4. chapter 7's GRPO on sequence tasks (V = 8, L = 6, G = 64, 600 steps) for 576 runs, a full-size phase diagram's
   batch (labsupport.studies.verifiable.train_grpo, fused sequence kernel against its torch path).

For each case it times up to three ways of running the same training, each after a warm-up, median of ``--repeat``:
``train(backend="torch")`` (eager: a handful of kernels per step), the same step code (``policy.probs`` then
``algorithm.step``) compiled with ``torch.compile`` and called in a Python loop, and ``train(backend="fused")``
(one kernel for all steps); torch.compile (tens of seconds of compiling per shape) only for the cases with a goal.
It prints each time, the ratios, the peak GPU memory of each way, the agreement of
the fused result with eager (exact: max |delta pi|; sampled: mean final V_G in standard errors), and, with
``--configs``, the kernel time for other launch configurations (runs per program x warps) of the goal cases; with
``--reference``, each exact result's distance from the torch path run in float64. ``train(backend="fused")`` end to
end is timed after a warm-up call, which places the problem's inputs on the device (``Bandit.placed``, once per
problem); it returns its results on the device (read lazily), so it is the kernel plus ``train``'s own checks.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bench_engine import random_problems  # the same random instances as the CPU benchmark (same folder)

import labsupport as ls
from labsupport import fused
from labsupport.algorithms import StepInput
from labsupport.policies import SoftmaxPolicy
from labsupport.simulate import _train_steps

N = 64
STEPS = 1000
CASES = [  # name, algorithm, runs, goal in seconds (None: no goal)
    ("exact, B=1,048,576", ls.ExactPG(lr=0.1), 1_048_576, 0.060),
    ("RLOO k=8, B=65,536", ls.RLOO(lr=0.1, k=8), 65_536, 0.070),
    ("exact, B=65,536", ls.ExactPG(lr=0.1), 65_536, None),
    ("exact, B=4,096", ls.ExactPG(lr=0.1), 4_096, None),
    ("PPO k=4, 4 epochs, B=65,536", ls.PPO(lr=0.1, k=4, epochs=4, clip=0.2), 65_536, None),
]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeat):
    """Median wall time of fn() over ``repeat`` calls after one warm-up, and the peak memory of one call."""
    fn()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else float("nan")
    return statistics.median(times), peak, out


class DeviceInputs:
    """One case's tensors, float32 on the device, shared by every way of running it (no host transfer is timed)."""

    def __init__(self, problem, device):
        put = lambda t: t.to(device=device, dtype=torch.float32).contiguous()  # noqa: E731
        b = problem.batch_size
        self.problem = problem
        self.theta0, self.r_true = put(problem.theta0), put(problem.r_true)
        self.inp = StepInput(policy=SoftmaxPolicy(None), reward=put(problem.r_proxy),
                             log_pi0=put(problem.init_logits), uniforms=lambda k: torch.rand((b, k), device=device))

    def fused(self, algorithm, steps, config=None):
        """The fused kernel alone (fused.run): final policy (B, N)."""
        probs, _ = fused.run(self.problem, algorithm, steps, self.inp.reward, self.theta0, self.inp.log_pi0,
                             self.r_true, [0, steps], 0, None, None, config=config)
        return probs[-1]

    def eager(self, algorithm, steps):
        """The torch path's step loop (simulate._train_steps): final policy (B, N)."""
        probs, _ = _train_steps(algorithm, steps, self.theta0.clone(), self.inp, [0, steps], None, self.r_true, None)
        return probs[-1]

    def compiled(self, algorithm, steps):
        """The torch path's own step code (policy.probs + algorithm.step) compiled, called ``steps`` times."""
        inp = self.inp

        @torch.compile(dynamic=False)
        def step(theta):
            theta = theta.clone()  # the update is in place; a compiled function should not mutate its input
            algorithm.step(theta, inp.policy.probs(theta), inp)
            return theta

        def run():
            theta = self.theta0.clone()
            for _ in range(steps):
                theta = step(theta)
            return torch.softmax(theta, -1)

        return run


def bench_case(name, algorithm, b, goal, device, args):
    problem = random_problems(b, N)
    steps = args.steps
    print(f"\n== {name}, N={N}, T={steps} ==", flush=True)
    data = DeviceInputs(problem, device)
    slow = max(1, min(args.repeat, 3))
    fast_t, fast_mem, fast = timed(lambda: data.fused(algorithm, steps), device, args.repeat)
    eager_t, eager_mem, eager = timed(lambda: data.eager(algorithm, steps), device, slow)
    rows = [("fused kernel (fused.run)", fast_t, fast_mem), ("eager torch (the torch path's step loop)", eager_t,
                                                             eager_mem)]
    comp_t = None
    if args.compile and goal is not None:  # compiling takes tens of seconds per shape: the goal cases only
        try:
            comp_t, comp_mem, _ = timed(data.compiled(algorithm, steps), device, slow)
            rows.append(("torch.compile'd step in a Python loop", comp_t, comp_mem))
        except Exception as err:  # a compiler bug must not hide the other figures
            print(f"torch.compile'd step: failed ({type(err).__name__}: {str(err).splitlines()[0][:120]})")
    whole_t, _, _ = timed(lambda: ls.train(problem, algorithm, steps, device=str(device), backend="fused",
                                           record_every=None, progress=False), device, 1)
    for label, t, mem in rows:
        print(f"{label:42s} {t * 1e3:10.1f} ms   peak GPU memory {mem / 2**20:9.1f} MiB")
    print(f"{'train(backend=fused), end to end':42s} {whole_t * 1e3:10.1f} ms")
    print(f"ratio eager / fused: {eager_t / fast_t:.1f}x", end="")
    if comp_t is not None:
        print(f"   compiled / fused: {comp_t / fast_t:.1f}x", end="")
    print()
    if goal is not None and args.scale == 1.0 and steps == STEPS:
        print(f"goal: fused kernel <= {goal * 1e3:.0f} ms -> {'met' if fast_t <= goal else 'NOT met'}")
    fast, eager = fast.double().cpu().numpy(), eager.double().cpu().numpy()
    if algorithm.samples_per_step == 0:
        print(f"agreement: max |pi_fused - pi_eager| after {steps} steps = {np.abs(fast - eager).max():.2e}"
              f"   (tests require < 1e-5 on small problems)")
        if args.reference:
            float64_errors(data, algorithm, steps, fast, eager)
    else:
        r = problem.r_proxy.numpy()
        vf, ve = (fast * r).sum(-1), (eager * r).sum(-1)
        z = (vf.mean() - ve.mean()) / np.sqrt(vf.var() / len(vf) + ve.var() / len(ve))
        print(f"agreement: mean final V_P fused {vf.mean():.5f} vs eager {ve.mean():.5f} ({z:+.2f} standard errors)")
    if args.configs and goal is not None:
        kernel_configs(data, algorithm, steps, device)


def float64_errors(data, algorithm, steps, fast, eager):
    """How far each float32 result is from the torch path run in float64: largest and median error, and how many
    probabilities are off by more than 1e-5."""
    put = lambda t: t.to(dtype=torch.float64)  # noqa: E731
    inp = data.inp
    ref_inp = StepInput(policy=inp.policy, reward=put(inp.reward), log_pi0=put(inp.log_pi0), uniforms=inp.uniforms)
    probs, _ = _train_steps(algorithm, steps, put(data.theta0), ref_inp, [0, steps], None, put(data.r_true), None)
    ref = probs[-1].cpu().numpy()
    for label, result in (("fused", fast), ("eager float32", eager)):
        err = np.abs(result - ref)
        print(f"  {label:13s} vs float64: max {err.max():.2e}, median {np.median(err):.1e}, "
              f"{int((err > 1e-5).sum()):,} of {err.size:,} above 1e-5")


def bench_sequences(device, args, runs=576, group=64, steps=600):
    """Chapter 7's batched GRPO: the fused sequence kernel against train_grpo's torch path (same task batch)."""
    from labsupport.studies import verifiable as vf

    runs = max(2, int(runs * args.scale))
    steps = min(steps, args.steps) if args.steps != STEPS else steps
    p = np.linspace(0.05, 0.6, runs)
    task = vf.make_task(p, p[::-1].copy(), end_bias=0.5)
    kinds = np.resize(np.array(["binary", "partial"], dtype=object), runs)
    print(f"\n== chapter 7 GRPO on sequences, {runs} runs, V=8, L=6, G={group}, T={steps} ==", flush=True)
    train = lambda backend: vf.train_grpo(task, kinds, steps, group=group, device=str(device),  # noqa: E731
                                          backend=backend, record_every=10, progress=False)
    fast_t, fast_mem, fast = timed(lambda: train("fused"), device, max(1, min(args.repeat, 3)))
    eager_t, eager_mem, eager = timed(lambda: train("torch"), device, 1)
    for label, t, mem in (("fused sequence kernel", fast_t, fast_mem),
                          ("eager torch (train_grpo)", eager_t, eager_mem)):
        print(f"{label:42s} {t * 1e3:10.1f} ms   peak GPU memory {mem / 2**20:9.1f} MiB")
    print(f"ratio eager / fused: {eager_t / fast_t:.1f}x")
    print(f"agreement: mean final P(both) fused {fast.joint[-1].mean():.4f} vs eager {eager.joint[-1].mean():.4f}; "
          f"silent groups {fast.silent.mean():.3f} vs {eager.silent.mean():.3f}")


def kernel_configs(data, algorithm, steps, device):
    """Kernel time of each launch configuration (runs per program x warps) on this case."""
    chosen = fused.launch_config(data.problem.batch_size, N, 0, algorithm.samples_per_step)
    print(f"launch configurations (default {chosen[0]} runs x {chosen[1]} warps):")
    for block in (8, 16, 32, 64):
        for warps in (1, 2, 4, 8):
            try:
                t, _, _ = timed(lambda config=(block, warps): data.fused(algorithm, steps, config=config), device, 3)
            except Exception as err:  # a configuration may not fit the registers or shared memory
                print(f"  {block:4d} x {warps}: failed ({type(err).__name__})")
                continue
            print(f"  {block:4d} x {warps}: {t * 1e3:8.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu with TRITON_INTERPRET=1")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every case's B by this (quick looks)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"T (default {STEPS})")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per way (median reported)")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile way")
    parser.add_argument("--configs", action="store_true", help="also time other launch configurations")
    parser.add_argument("--reference", action="store_true",
                        help="also compare exact results with the torch path in float64")
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU (or --device cpu with TRITON_INTERPRET=1 for a plumbing check)")
    if device.type == "cpu" and not fused.interpreted():
        raise SystemExit("--device cpu runs the kernel in Triton's interpreter: set TRITON_INTERPRET=1")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (Triton interpreter)"
    import triton

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{gpu}; torch {torch.__version__}, triton {triton.__version__}; {when}")
    if args.scale != 1.0 or args.steps != STEPS:
        print(f"sizes scaled by {args.scale}, T = {args.steps}: the goals apply to the full sizes only")
    for name, algorithm, b, goal in CASES:
        if args.only and args.only not in name:
            continue
        bench_case(name, algorithm, max(1, int(b * args.scale)), goal, device, args)
    if not args.only or args.only in "sequences":
        bench_sequences(device, args)


if __name__ == "__main__":
    main()
