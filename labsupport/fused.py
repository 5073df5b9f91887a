"""The fused fast path behind :func:`labsupport.train`: one Triton kernel runs every step of a batched sweep.

The plain path in :mod:`labsupport.simulate` launches a handful of tensor operations per step, so a 1,000-step
run costs thousands of kernel launches and reads and writes the whole (B, N) state each time. Here each program
of one kernel owns a block of runs, holds their parameters, rewards and policy in registers for all T steps,
and writes to memory only what is recorded: the policy every ``record_every`` steps (or only the first and last),
and the first step at which each run's expected ground-truth reward reaches ``track_level``.

What it runs (everything else stays on the plain path, which is also the reference it is tested against):

* policies: tabular, and log-linear with features shared by all runs, shape (1, N, d) or (N, d);
* update rules: :class:`~labsupport.ExactPG`, :class:`~labsupport.Reinforce` (every baseline),
  :class:`~labsupport.RLOO`, :class:`~labsupport.GRPO` and :class:`~labsupport.PPO` (its epochs and clipping),
  each with or without the exact KL penalty;
* float32, on a CUDA device, or on the CPU when Triton runs in its interpreter (``TRITON_INTERPRET=1``, slow,
  for tests).

A second kernel runs chapter 7's GRPO on sequence tasks (:func:`labsupport.studies.verifiable.train_grpo`): one program
per run holds the (L, V, V) logit tables, samples its group of G sequences position by position, scores them with the
run's reward (binary, partial, annealed or switched credit), and applies the group's update, for all T steps; it
records the exact success probabilities every ``record_every`` steps with the same forward pass over the chain.

Exact updates agree with the plain path to float32 rounding. Sampled updates draw the same kind of samples (inverse
CDF of uniform numbers) from a different random stream, Philox counters (seed, noise id, step, sample), so a fixed
seed gives a fixed result and the same distribution of outcomes as the plain path, not the same samples. Runs with
the same ``common_noise`` id see the same uniform numbers, as on the plain path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import triton
import triton.language as tl

from .algorithms import GRPO, GRPO_EPS, PPO, RLOO, Algorithm, ExactPG, Reinforce

if TYPE_CHECKING:
    from .problems import Bandit

#: update rules the kernel runs, and the code of their advantage rule in the kernel (PPO: leave-one-out advantages,
#: then its epochs of clipped updates)
_ADVANTAGE_CODE = {"none": 0, "mean": 1, "loo": 2, "grpo": 3, "ppo": 4}


def interpreted() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1`` when Triton was imported)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _unsupported_place(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why neither kernel can run on ``device`` in ``dtype`` (a sentence), or ``None``."""
    if device.type != "cuda" and not interpreted():
        return f"it runs on CUDA devices (or on the CPU with TRITON_INTERPRET=1), not on {device}"
    if dtype != torch.float32:
        return f"it computes in float32, not {dtype}"
    return None


def unsupported(problem: Bandit, algorithm: Algorithm, device: torch.device, dtype: torch.dtype) -> str | None:
    """Why the fused kernel cannot run this training (a sentence), or ``None`` when it can."""
    if (why := _unsupported_place(device, dtype)) is not None:
        return why
    if type(algorithm) not in (ExactPG, Reinforce, RLOO, GRPO, PPO):  # a subclass may change the update
        return f"it runs ExactPG, Reinforce, RLOO, GRPO and PPO, not {type(algorithm).__name__}"
    if isinstance(algorithm, GRPO) and (algorithm.groups != 1 or algorithm.filter_silent):
        return "it runs GRPO with one group per step and silent groups counted as zero updates (groups=1, " \
               "filter_silent=False)"
    if problem.features is not None and problem.features.shape[0] != 1:
        return "log-linear policies need features shared by all runs, shape (N, d)"
    if problem.batch_size * max(problem.n_outputs, problem.theta0.shape[-1]) >= 2**31:
        return "it addresses at most 2**31 - 1 entries of (B, N) per tensor; split the batch"
    return None


def _advantage_rule(algorithm: Algorithm) -> tuple[int, int, bool]:
    """(samples K, advantage code, normalise by the group's std) of a supported update rule."""
    if isinstance(algorithm, ExactPG):
        return 0, 0, False
    if isinstance(algorithm, Reinforce):
        return algorithm.samples, _ADVANTAGE_CODE[algorithm.baseline], False
    if isinstance(algorithm, RLOO):
        return algorithm.k, _ADVANTAGE_CODE["loo"], False
    if isinstance(algorithm, PPO):
        return algorithm.k, _ADVANTAGE_CODE["ppo"], False
    if isinstance(algorithm, GRPO):
        return algorithm.group, _ADVANTAGE_CODE["grpo"], algorithm.normalize_std
    raise ValueError(f"the fused kernel has no advantage rule for {algorithm!r}")


def _rule_floats(algorithm: Algorithm) -> dict:
    """The kernel's runtime float arguments for an update rule: learning rate, KL coefficient, GRPO's eps and PPO's
    clip bounds (lo, hi) = (1 - clip, 1 + clip), computed as torch compares them."""
    clip = float(algorithm.clip) if isinstance(algorithm, PPO) else 0.0
    return dict(lr=float(algorithm.lr), kl=float(algorithm.kl),
                eps=float(algorithm.eps) if isinstance(algorithm, GRPO) else 0.0, lo=1.0 - clip, hi=1.0 + clip)


def launch_config(b: int, n: int, d: int = 0, samples: int = 0) -> tuple[int, int]:
    """(runs per program, warps per program) for B runs of N outputs (d features), ``samples`` draws per step.

    On a GPU, programs of 4 warps with about 1,024 policy entries (exact updates) or 512 (sampled updates, which
    keep more per entry); a log-linear policy counts N x d entries per run (the kernel forms Phi * theta). Compiled
    for an H100 (see :func:`resources`) these spill no registers for exact updates and at most a few words for
    sampled ones. Measured on an H100 (benchmarks/README.md): for exact PG at N = 64 the default took 1.2% longer
    than the best launch; for RLOO k = 8 it took 24% longer than a 64 x 2 launch that spills (a lead, one shape
    only). In the interpreter, where every operation has a fixed cost, as many runs per program as fit in 65,536
    entries.
    """
    width = triton.next_power_of_2(n) * (triton.next_power_of_2(d) if d else 1)
    per_program = 65_536 if interpreted() else 512 if samples else 1_024
    block = max(1, min(triton.next_power_of_2(b), per_program // width, 4096))
    return block, 4


def run(
    problem: Bandit,
    algorithm: Algorithm,
    steps: int,
    reward: torch.Tensor,
    theta0: torch.Tensor,
    log_pi0: torch.Tensor,
    r_true: torch.Tensor,
    record_at: list[int],
    seed: int,
    noise_ids: torch.Tensor | None,
    levels: torch.Tensor | None,
    bar: Any = None,
    config: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Train with the fused kernel; the arguments are :func:`labsupport.train`'s, already on the device.

    Args:
        reward, r_true, log_pi0: (B, N) float32 tensors (the reward trained on, r_G, log pi_0).
        theta0: (B, N) or (B, d) initial parameters (copied, not changed).
        record_at: the steps to record (0, every k-th step, and the last).
        noise_ids: (B,) ids for common random numbers, or ``None`` (each run its own).
        levels: (B,) V_G levels whose first-passage steps are tracked, or ``None``.
        bar: a progress bar with a ``chunk`` attribute (steps per update), or ``None`` (one launch).
        config: (runs per program, warps) to override :func:`launch_config` (for benchmarks).

    Returns:
        probs (records, B, N) and the hit steps (B,) int64 (-1 never) or ``None``.
    """
    b, n = reward.shape
    dev = reward.device
    features = problem.features
    d = 0 if features is None else features.shape[-1]
    if features is not None:
        features = features.reshape(n, d).to(device=dev, dtype=torch.float32).contiguous()
    track = levels is not None
    constants = _constants(algorithm, b, n, d, track, config)
    floats = _rule_floats(algorithm)
    theta = theta0.to(torch.float32).contiguous().clone()
    reward, r_true, log_pi0 = (t.contiguous() for t in (reward, r_true, log_pi0))
    probs = torch.empty((len(record_at), b, n), device=dev, dtype=torch.float32)
    hit = torch.full((b,), -1, dtype=torch.int32, device=dev)
    ids = (torch.arange(b, device=dev) if noise_ids is None else noise_ids).to(torch.int32).contiguous()
    level = reward if levels is None else levels.to(torch.float32).contiguous()  # unused pointer when not tracking
    grid = (triton.cdiv(b, constants["BLOCK"]),)
    every = _record_interval(record_at)

    def launch(start, count, last):
        _train_kernel[grid](
            theta, features if features is not None else theta,
            reward, r_true, log_pi0, level, ids, probs, hit,
            b, start, count, last, every, len(record_at), seed, **floats, **constants,
        )

    _launch_in_chunks(launch, steps, bar, dev)
    return probs, (hit.to(torch.int64) if track else None)


def _record_interval(record_at: list[int]) -> int:
    """The kernels' ``every``: k when ``record_at`` is 0, k, 2k, ... and the last step; 0 when only the first and
    last steps are recorded (the kernels always record those two)."""
    return record_at[1] - record_at[0] if len(record_at) > 2 else 0


def _launch_in_chunks(launch: Callable[[int, int, int], None], steps: int, bar: Any, device: torch.device) -> None:
    """Call ``launch(start, count, last)`` over all steps: once, or with a progress bar in at most 10 chunks, each
    waited for so that the bar shows finished work (every chunk re-reads and re-writes the state, so few)."""
    chunk = steps if bar is None else max(bar.chunk, -(-steps // 10), 1)
    start = 0
    while True:
        count = min(chunk, steps - start)
        launch(start, count, int(start + count == steps))
        start += count
        if bar is not None and count:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            bar.update(count)
        if start >= steps:
            break


def _constants(algorithm: Algorithm, b: int, n: int, d: int, track: bool, config: tuple[int, int] | None) -> dict:
    """The kernel's compile-time constants (and warps) for one training; ``config`` overrides the launch."""
    k, code, normalize = _advantage_rule(algorithm)
    block, warps = config or launch_config(b, n, d, k)
    return dict(N=n, D=d, NP=triton.next_power_of_2(n), DP=triton.next_power_of_2(max(d, 1)), FEATURES=d > 0, K=k,
                ADVANTAGE=code, NORMALIZE=normalize, KL=algorithm.kl > 0, TRACK=track, BLOCK=block,
                EPOCHS=algorithm.epochs if isinstance(algorithm, PPO) else 1, FAST=not interpreted(), num_warps=warps)


def resources(algorithm: Algorithm, b: int, n: int, d: int = 0, track: bool = False,
              config: tuple[int, int] | None = None, arch: int = 90) -> dict:
    """Compile the bandit kernel for an NVIDIA GPU of compute capability ``arch`` (90: H100) without needing one,
    and report what one program uses: ``registers`` per thread, ``stack`` bytes per thread (above 0: registers
    spilled to memory, which slows the kernel) and ``shared`` memory bytes, with the ``config`` (runs per program,
    warps). Uses Triton's compiler and the ``cuobjdump`` it ships with; needs Triton outside its interpreter.
    """
    constants = _constants(algorithm, b, n, d, track, config)
    warps = constants.pop("num_warps")
    report = _compiled_usage(_train_kernel, constants, warps, arch, ints=("ids_ptr", "hit_ptr"),
                             floats=tuple(_rule_floats(algorithm)), divisible=("B",) if b % 16 == 0 else ())
    return report | {"config": (constants["BLOCK"], warps)}


def sequence_resources(vocab: int = 8, length: int = 6, group: int = 64, switch_window: int = 10, runs: int = 576,
                       arch: int = 90) -> dict:
    """:func:`resources` for the sequence kernel (one run per program of 4 warps) on a batch of ``runs``."""
    constants = _sequence_constants(vocab, length, group, switch_window, 0)
    warps = constants.pop("num_warps")
    return _compiled_usage(_sequence_kernel, constants, warps, arch, ints=("kinds_ptr", "switched_ptr"),
                           floats=("lr", "eps", "anneal_steps", "switch_at"), bytes_=("silent_ptr",),
                           divisible=tuple(name for name, value in (("B", runs), ("G", group)) if value % 16 == 0))


def _compiled_usage(kernel: Any, constants: dict, warps: int, arch: int, ints: Sequence[str] = (),
                    floats: Sequence[str] = (), bytes_: Sequence[str] = (), divisible: Sequence[str] = ()) -> dict:
    """Registers, stack and shared memory of ``kernel`` compiled for ``arch`` with these constants.

    Like Triton's launcher, it tells the compiler that every pointer (torch allocates 16-byte aligned) and the
    integer arguments named in ``divisible`` are multiples of 16, so the variant measured is the one that runs.
    """
    import re
    import subprocess
    import tempfile
    from pathlib import Path

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if interpreted():
        raise RuntimeError("compiling a kernel needs Triton outside its interpreter: unset TRITON_INTERPRET")
    names = kernel.arg_names

    def kind(name):
        if name in constants:
            return "constexpr"
        if name.endswith("_ptr"):
            return "*i32" if name in ints else "*i8" if name in bytes_ else "*fp32"
        return "fp32" if name in floats else "i32"

    aligned = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(names)
               if name not in constants and (name.endswith("_ptr") or name in divisible)}
    source = ASTSource(fn=kernel, signature={name: kind(name) for name in names},
                       constexprs={(names.index(k),): v for k, v in constants.items()}, attrs=aligned)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps})
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = subprocess.run([str(tool), "--dump-resource-usage", cubin.name], capture_output=True, text=True,
                               check=True).stdout
    found = {key: int(re.findall(rf"{key}:(\d+)", usage)[0]) for key in ("REG", "STACK", "SHARED")}
    return dict(registers=found["REG"], stack=found["STACK"], shared=found["SHARED"])


def uniforms(seed: int, c0: torch.Tensor | int, c1: torch.Tensor | int, c2: torch.Tensor | int,
             c3: torch.Tensor | int) -> torch.Tensor:
    """The uniform numbers in [0, 1) that the kernels draw for the Philox counters (c0, c1, c2, c3) and ``seed``.

    The bandit kernel draws sample j of step t of the run with noise id c0 at (c0, t, j, 0); the sequence kernel
    draws the token at position l of member i of run b's group at step t at (b, t, i, l). The counters are
    broadcast integers (tensors on the device the kernels run on, or plain ints); tests use this to feed the torch
    path the same random numbers and compare single steps exactly.
    """
    given = [c for c in (c0, c1, c2, c3) if isinstance(c, torch.Tensor)]
    device = given[0].device if given else torch.device("cpu")
    counters = torch.broadcast_tensors(*(torch.as_tensor(c, dtype=torch.int32, device=device)
                                         for c in (c0, c1, c2, c3)))
    shape = counters[0].shape
    flat = [c.reshape(-1).contiguous() for c in counters]
    out = torch.empty(flat[0].shape, dtype=torch.float32, device=flat[0].device)
    n = out.numel()
    _uniform_kernel[(triton.cdiv(n, 1024),)](out, *flat, n, seed, BLOCK=1024)
    return out.reshape(shape)


@triton.jit
def _uniform(seed, c0, c1, c2, c3):
    """Uniform numbers in [0, 1) from Philox at the counters (c0, c1, c2, c3) (int32 tensors of one shape)."""
    bits, _, _, _ = tl.philox(seed, c0, c1, c2, c3)
    return tl.uint_to_uniform_float(bits)


@triton.jit
def _uniform_kernel(out_ptr, c0_ptr, c1_ptr, c2_ptr, c3_ptr, n, seed, BLOCK: tl.constexpr):
    at = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = at < n
    c0 = tl.load(c0_ptr + at, mask=live, other=0)
    c1 = tl.load(c1_ptr + at, mask=live, other=0)
    c2 = tl.load(c2_ptr + at, mask=live, other=0)
    c3 = tl.load(c3_ptr + at, mask=live, other=0)
    tl.store(out_ptr + at, _uniform(seed, c0, c1, c2, c3), mask=live)


@triton.jit
def _exp(x, FAST: tl.constexpr):
    """exp(x); with ``FAST`` (compiled for a GPU) one ``ex2.approx.ftz`` instruction that flushes results below
    float32's normal range to 0, sparing the per-element denormal handling of ``tl.exp`` (the interpreter cannot run
    PTX, so it uses ``tl.exp``)."""
    if FAST:
        return tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=f,f", [x * 1.4426950408889634],
                                         dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.exp(x)


@triton.jit
def _policy(theta, feats, cols, FEATURES: tl.constexpr, N: tl.constexpr, FAST: tl.constexpr):
    """Probabilities, log-probabilities, unnormalised weights e and 1 / sum(e) of a block of runs (padded outputs
    get probability 0); an expectation sum(e * x) / sum(e) need not wait for the probabilities."""
    if FEATURES:
        z = tl.sum(feats[None, :, :] * theta[:, None, :], axis=2)
    else:
        z = theta
    z = tl.where((cols < N)[None, :], z, float("-inf"))
    z = z - tl.max(z, axis=1)[:, None]
    e = _exp(z, FAST)
    total = tl.sum(e, axis=1)
    inv = 1.0 / total
    return e * inv[:, None], z - tl.log(total)[:, None], e, inv


@triton.jit
def _draw(counts, cdf, scale, cols, seed, ids, t, j, N: tl.constexpr):
    """counts + the one-hot of draw j at step t: y = #{z : cdf(z) <= u * scale}, u from Philox (ids, t, j, 0)."""
    u = _uniform(seed, ids, tl.zeros_like(ids) + t, tl.zeros_like(ids) + j, tl.zeros_like(ids))
    below = (cdf <= (u * scale)[:, None]) & (cols < N)[None, :]
    y = tl.minimum(tl.sum(below.to(tl.int32), axis=1), N - 1)
    return counts + tl.where(cols[None, :] == y[:, None], 1.0, 0.0)


@triton.jit
def _ascend(theta, g, p, logp, logpi0, feats, cols, lr, kl, N: tl.constexpr, KL: tl.constexpr,
            FEATURES: tl.constexpr):
    """theta + lr * Phi^T (g - kl * pi * (l - <pi, l>)), l = log pi - log pi_0: one update, as Algorithm._ascend."""
    if KL:
        l = tl.where((cols < N)[None, :], logp - logpi0, 0.0)
        g -= kl * p * (l - tl.sum(p * l, axis=1)[:, None])
    if FEATURES:
        theta += lr * tl.sum(g[:, :, None] * feats[None, :, :], axis=1)
    else:
        theta += lr * g
    return theta


@triton.jit(do_not_specialize=["t0", "T", "last", "every", "R", "seed"])
def _train_kernel(
    theta_ptr, feat_ptr, r_ptr, rtrue_ptr, logpi0_ptr, level_ptr, ids_ptr, probs_ptr, hit_ptr,
    B, t0, T, last, every, R, seed, lr, kl, eps, lo, hi,
    N: tl.constexpr, D: tl.constexpr, NP: tl.constexpr, DP: tl.constexpr, FEATURES: tl.constexpr, K: tl.constexpr,
    ADVANTAGE: tl.constexpr, NORMALIZE: tl.constexpr, KL: tl.constexpr, TRACK: tl.constexpr, BLOCK: tl.constexpr,
    EPOCHS: tl.constexpr, FAST: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, NP)
    live = rows < B
    out = live[:, None] & (cols < N)[None, :]
    at = rows[:, None] * N + cols[None, :]
    r = tl.load(r_ptr + at, mask=out, other=0.0)
    if FEATURES:
        dims = tl.arange(0, DP)
        feats = tl.load(feat_ptr + cols[:, None] * D + dims[None, :],
                        mask=(cols < N)[:, None] & (dims < D)[None, :], other=0.0)
        wmask = live[:, None] & (dims < D)[None, :]
        wat = rows[:, None] * D + dims[None, :]
        theta = tl.load(theta_ptr + wat, mask=wmask, other=0.0)
    else:
        feats = r  # not used
        theta = tl.load(theta_ptr + at, mask=out, other=0.0)
    if KL:
        logpi0 = tl.load(logpi0_ptr + at, mask=out, other=0.0)
    else:
        logpi0 = r  # not used
    if TRACK:
        rtrue = tl.load(rtrue_ptr + at, mask=out, other=0.0)
        level = tl.load(level_ptr + rows, mask=live, other=0.0)
        hit = tl.load(hit_ptr + rows, mask=live, other=-1)
    if K > 0:
        ids = tl.load(ids_ptr + rows, mask=live, other=0)
    for i in range(T + last):
        t = t0 + i
        p, logp, e, inv = _policy(theta, feats, cols, FEATURES, N, FAST)
        if every > 0:
            if t % every == 0:
                tl.store(probs_ptr + tl.cast(t // every, tl.int64) * B * N + at, p, mask=out)
        if t == 0:
            tl.store(probs_ptr + at, p, mask=out)
        if TRACK:
            reached = (tl.sum(e * rtrue, axis=1) * inv >= level) & (hit < 0)
            hit = tl.where(reached, t, hit)
        if i == T:
            tl.store(probs_ptr + tl.cast(R - 1, tl.int64) * B * N + at, p, mask=out)
        else:
            if K == 0:
                g = p * (r - (tl.sum(e * r, axis=1) * inv)[:, None])
            else:
                # K draws by the inverse CDF, kept as counts per output. Every rule's advantage is affine in the
                # sampled reward, a(y) = alpha r(y) + beta, so the group's direction
                # (1/K) sum_k a(y_k) (e_{y_k} - pi) is (counts * a - pi * sum(counts * a)) / K.
                cdf = tl.cumsum(p, axis=1)
                scale = tl.max(cdf, axis=1)  # the last entry, as torch's sampling scales by cdf[-1]
                counts = tl.zeros((BLOCK, NP), dtype=tl.float32)
                if K <= 16:
                    for j in tl.static_range(K):
                        counts = _draw(counts, cdf, scale, cols, seed, ids, t, j, N)
                else:
                    for j in range(K):
                        counts = _draw(counts, cdf, scale, cols, seed, ids, t, j, N)
                mean = tl.sum(counts * r, axis=1) / K
                if ADVANTAGE == 0:
                    adv = r
                elif ADVANTAGE == 1:
                    adv = r - mean[:, None]
                elif ADVANTAGE == 2 or ADVANTAGE == 4:
                    adv = (K * r - K * mean[:, None]) / (K - 1)  # r - (sum of the other K - 1) / (K - 1)
                else:
                    adv = r - mean[:, None]
                    if NORMALIZE:
                        std = tl.sqrt(tl.sum(counts * adv * adv, axis=1) / K)
                        adv = adv / (std + eps)[:, None]
                    drawn = counts > 0  # a group of equal rewards is exactly silent (see GRPO.advantages)
                    same = tl.max(tl.where(drawn, r, float("-inf")), axis=1) == tl.min(
                        tl.where(drawn, r, float("inf")), axis=1)
                    adv = tl.where(same[:, None], 0.0, adv)
                weighted = counts * adv
                g = (weighted - p * tl.sum(weighted, axis=1)[:, None]) / K
            theta = _ascend(theta, g, p, logp, logpi0, feats, cols, lr, kl, N, KL, FEATURES)
            if ADVANTAGE == 4:
                # PPO's further epochs on the same draws (its first is the update above: every ratio is 1 there,
                # nothing is clipped). Each weights a drawn output by rho(y) = pi(y) / pi_old(y) and drops it when
                # clipped: advantage positive and rho > hi = 1 + clip, or negative and rho < lo = 1 - clip (drawn
                # outputs have pi_old > 0).
                p_old = tl.where(counts > 0, p, 1.0)
                for _epoch in range(1, EPOCHS):
                    p, logp, e, inv = _policy(theta, feats, cols, FEATURES, N, FAST)
                    rho = tl.where(counts > 0, tl.div_rn(p, p_old), 0.0)
                    clipped = ((adv > 0) & (rho > hi)) | ((adv < 0) & (rho < lo))
                    weighted = tl.where(clipped, 0.0, counts * (rho * adv))
                    g = (weighted - p * tl.sum(weighted, axis=1)[:, None]) / K
                    theta = _ascend(theta, g, p, logp, logpi0, feats, cols, lr, kl, N, KL, FEATURES)
    if FEATURES:
        tl.store(theta_ptr + wat, theta, mask=wmask)
    else:
        tl.store(theta_ptr + at, theta, mask=out)
    if TRACK:
        tl.store(hit_ptr + rows, hit, mask=live)


# ------------------------------------------------------------------------------------------------ sequences

#: reward schedules of :func:`labsupport.studies.verifiable.train_grpo`, by their code in the kernel
SEQUENCE_REWARDS = ("binary", "partial", "anneal", "switch")


class KernelTask(Protocol):
    """What the sequence kernel reads of a task (:class:`labsupport.studies.verifiable.SequenceTask`)."""

    @property
    def vocab(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def theta0(self) -> torch.Tensor: ...
    @property
    def keyword(self) -> tuple[int, ...]: ...
    @property
    def terminator(self) -> tuple[int, ...]: ...


def sequence_unsupported(task: KernelTask, group: int, device: torch.device, dtype: torch.dtype) -> str | None:
    """Why the sequence kernel cannot run this GRPO training (a sentence), or ``None`` when it can."""
    if (why := _unsupported_place(device, dtype)) is not None:
        return why
    v = task.vocab
    if v & (v - 1) or v > 16:
        return f"it needs a vocabulary of 2, 4, 8 or 16 tokens, not {v}"
    if task.length > 12 or group > 256:
        return f"it unrolls at most 12 positions and groups of 256 (got L = {task.length}, G = {group})"
    if task.batch_size * task.length * v * v >= 2**31:
        return "it addresses at most 2**31 - 1 logits per tensor; split the batch"
    return None


def train_sequences(task: KernelTask, kinds: np.ndarray, steps: int, group: int, lr: float, seed: int,
                    record_at: list[int], anneal_steps: int, switch_at: float, switch_window: int,
                    device: torch.device, bar: Any = None, start_token: int = 0, eps: float = GRPO_EPS
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """GRPO on every run of a :class:`~labsupport.studies.verifiable.SequenceTask` with the fused kernel.

    Args: as :func:`labsupport.studies.verifiable.train_grpo` (already checked); ``kinds`` holds each run's reward name
    and ``record_at`` the steps to record; ``device`` where the tensors live; ``start_token`` the context row of the
    first position (``labsupport.sequence.START``); ``eps`` GRPO's epsilon.

    Returns:
        (rec, silent, sampled, weight) on the device: rec (records, 3, B) float32 exact P(C1), P(C2), P(both);
        silent (steps, B) bool; sampled (steps, B) and weight (steps, B) float32.
    """
    dev = device
    b, length, v = task.batch_size, task.length, task.vocab
    theta = task.theta0.to(device=dev, dtype=torch.float32).contiguous().clone()
    cond = torch.empty_like(theta)
    codes = torch.as_tensor([SEQUENCE_REWARDS.index(k) for k in kinds], dtype=torch.int32, device=dev)
    rec = torch.empty((len(record_at), 3, b), dtype=torch.float32, device=dev)
    silent = torch.zeros((steps, b), dtype=torch.int8, device=dev)
    sampled = torch.zeros((steps, b), dtype=torch.float32, device=dev)
    weight = torch.zeros((steps, b), dtype=torch.float32, device=dev)
    wp = triton.next_power_of_2(switch_window)
    switched = torch.zeros(b, dtype=torch.int32, device=dev)
    ring = torch.zeros((b, wp), dtype=torch.float32, device=dev)
    mask1 = sum(1 << t for t in task.keyword)
    mask2 = sum(1 << t for t in task.terminator)
    every = _record_interval(record_at)
    def launch(start, count, last):
        _sequence_kernel[(b,)](
            theta, cond, codes, rec, silent, sampled, weight, switched, ring,
            b, start, count, last, every, len(record_at), seed, float(lr), float(eps),
            float(anneal_steps), float(switch_at), switch_window, group, mask1, mask2,
            **_sequence_constants(v, length, group, switch_window, start_token),
        )

    _launch_in_chunks(launch, steps, bar, dev)
    return rec, silent.bool(), sampled, weight


def _sequence_constants(vocab: int, length: int, group: int, switch_window: int, start_token: int) -> dict:
    """The sequence kernel's compile-time constants (and warps)."""
    return dict(VOCAB=vocab, LEN=length, LP=triton.next_power_of_2(length), GP=triton.next_power_of_2(group),
                WP=triton.next_power_of_2(switch_window), START=start_token, num_warps=4)


@triton.jit(do_not_specialize=["t0", "T", "last", "every", "R", "seed"])
def _sequence_kernel(
    theta_ptr, cond_ptr, kinds_ptr, rec_ptr, silent_ptr, sampled_ptr, weight_ptr, switched_ptr, ring_ptr,
    B, t0, T, last, every, R, seed, lr, eps, anneal_steps, switch_at, window, G, mask1, mask2,
    VOCAB: tl.constexpr, LEN: tl.constexpr, LP: tl.constexpr, GP: tl.constexpr, WP: tl.constexpr,
    START: tl.constexpr,
):
    run = tl.program_id(0)
    li = tl.arange(0, LP)[:, None, None]
    ui = tl.arange(0, VOCAB)[None, :, None]
    vi = tl.arange(0, VOCAB)[None, None, :]
    table = (li < LEN) & (ui < VOCAB) & (vi < VOCAB)
    at = run * LEN * VOCAB * VOCAB + li * VOCAB * VOCAB + ui * VOCAB + vi
    theta = tl.load(theta_ptr + at, mask=table, other=0.0)
    tokens_v = tl.arange(0, VOCAB)
    is1 = ((mask1 >> tokens_v) & 1).to(tl.float32)
    is2 = ((mask2 >> tokens_v) & 1).to(tl.float32)
    gi = tl.arange(0, GP)
    valid = gi < G
    lcols = tl.arange(0, LP)
    wi = tl.arange(0, WP)
    table_ptr = cond_ptr + run * LEN * VOCAB * VOCAB
    kind = tl.load(kinds_ptr + run)
    switched = tl.load(switched_ptr + run)
    ring = tl.load(ring_ptr + run * WP + wi)
    for i in range(T + last):
        t = t0 + i
        cond = tl.exp(theta - tl.max(theta, axis=2)[:, :, None])
        cond = cond / tl.sum(cond, axis=2)[:, :, None]
        # the run's conditional tables also go to its slot of a scratch buffer (L1-resident), where sampling and
        # the forward pass look rows up by index
        tl.debug_barrier()
        tl.store(cond_ptr + at, cond, mask=table)
        tl.debug_barrier()
        slot = -1
        if every > 0:
            if t % every == 0:
                slot = t // every
        if t == 0:
            slot = 0
        if i == T:
            slot = R - 1
        if slot >= 0:
            # exact P(C1), P(C2), P(both): forward pass over (last token, keyword seen yet)
            first = tl.load(table_ptr + START * VOCAB + tokens_v)
            seen = first * is1
            unseen = first * (1.0 - is1)
            for pos in tl.static_range(1, LEN):
                trans = tl.load(table_ptr + pos * VOCAB * VOCAB + tokens_v[:, None] * VOCAB + tokens_v[None, :])
                to_seen = tl.sum(seen[:, None] * trans, axis=0)
                to_unseen = tl.sum(unseen[:, None] * trans, axis=0)
                seen = to_seen + to_unseen * is1
                unseen = to_unseen * (1.0 - is1)
            base = rec_ptr + tl.cast(slot, tl.int64) * 3 * B + run
            tl.store(base, tl.sum(seen, axis=0))
            tl.store(base + B, tl.sum((seen + unseen) * is2, axis=0))
            tl.store(base + 2 * B, tl.sum(seen * is2, axis=0))
        if i < T:
            # the group: G sequences drawn position by position by the inverse CDF of their row
            tokens = tl.zeros((GP, LP), dtype=tl.int32)
            has1 = tl.zeros((GP,), dtype=tl.int32)
            prev = tl.zeros((GP,), dtype=tl.int32) + START
            for l in tl.static_range(LEN):
                rows = tl.load(table_ptr + l * VOCAB * VOCAB + prev[:, None] * VOCAB + tokens_v[None, :])
                cdf = tl.cumsum(rows, axis=1)
                u = _uniform(seed, tl.zeros_like(gi) + run, tl.zeros_like(gi) + t, gi, tl.zeros_like(gi) + l)
                x = u * tl.max(cdf, axis=1)  # the last entry, as the torch path scales by it
                y = tl.minimum(tl.sum((cdf <= x[:, None]).to(tl.int32), axis=1), VOCAB - 1)
                tokens = tl.where(lcols[None, :] == l, y[:, None], tokens)
                has1 = has1 | ((mask1 >> y) & 1)
                prev = y
            has2 = (mask2 >> prev) & 1
            both = (has1 & has2).to(tl.float32)
            half = 0.5 * (has1 + has2).to(tl.float32)
            # the reward's weight of partial credit at step t (the switch looks at the last `window` groups)
            if t >= window:  # correctly rounded divisions here and below: ties are common and must match torch
                if tl.div_rn(tl.sum(ring, axis=0), tl.cast(window, tl.float32)) >= switch_at:
                    switched = 1
            w = 0.0
            if kind == 1:
                w = 1.0
            if kind == 2:
                w = tl.maximum(0.0, 1.0 - tl.div_rn(tl.cast(t, tl.float32), anneal_steps))
            if kind == 3:
                w = 1.0 - switched
            r = tl.where(valid, (1.0 - w) * both + w * half, 0.0)
            mean = tl.sum(r, axis=0) / G
            dev = tl.where(valid, r - mean, 0.0)
            quiet = (tl.max(tl.where(valid, r, float("-inf")), axis=0)
                     == tl.min(tl.where(valid, r, float("inf")), axis=0))
            adv = tl.where(quiet, 0.0, dev / (tl.sqrt(tl.sum(dev * dev, axis=0) / G) + eps))
            hit = tl.div_rn(tl.sum(tl.where(valid, both, 0.0), axis=0), tl.cast(G, tl.float32))
            step_at = tl.cast(t, tl.int64) * B + run
            tl.store(silent_ptr + step_at, quiet.to(tl.int8))
            tl.store(sampled_ptr + step_at, hit)
            tl.store(weight_ptr + step_at, w)
            ring = tl.where(wi == t % window, hit, ring)
            # the update: weighted transition counts minus their expectation under each row, / G
            counts = tl.zeros((LP, VOCAB, VOCAB), dtype=tl.float32)
            for l in tl.static_range(LEN):
                y = tl.sum(tl.where(lcols[None, :] == l, tokens, 0), axis=1)
                if l == 0:
                    before = tl.zeros_like(y) + START
                else:
                    before = tl.sum(tl.where(lcols[None, :] == l - 1, tokens, 0), axis=1)
                picked = tl.where(y[:, None] == tokens_v[None, :], adv[:, None], 0.0)
                for u in tl.static_range(VOCAB):
                    row = tl.sum(tl.where((before == u)[:, None], picked, 0.0), axis=0)
                    counts += tl.where((li == l) & (ui == u), row[None, None, :], 0.0)
            theta += lr * (counts - tl.sum(counts, axis=2)[:, :, None] * cond) / G
    tl.store(theta_ptr + at, theta, mask=table)
    tl.store(switched_ptr + run, switched)
    tl.store(ring_ptr + run * WP + wi, ring)


__all__ = [
    "SEQUENCE_REWARDS", "interpreted", "launch_config", "resources", "run", "sequence_resources",
    "sequence_unsupported",
    "train_sequences", "uniforms", "unsupported",
]
