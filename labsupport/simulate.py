"""Batched policy-gradient training on bandit problems: :func:`train` and its result, :class:`Run`.

All B problems of a :class:`~labsupport.problems.Bandit` advance together: each step is a handful of tensor
operations on (B, N) arrays, on the GPU when one is present. One step is one SGD update of theta (PPO: one
sampling round), so ``steps`` and ``lr`` mean what they mean in the paper's controlled experiment.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    import pandas as pd

from ._checks import choice, count, finite, flag, float_dtype, memory, random_seed
from .algorithms import Algorithm, ExactPG, StepInput
from .policies import SoftmaxPolicy
from .problems import Bandit, Placed, renamed

#: above this many output-updates (steps x B x N) a progress bar is shown by default
PROGRESS_THRESHOLD = 2e8
#: the values of ``backend`` (here and in :func:`labsupport.sequence.train_sequences`)
BACKENDS = ("auto", "torch", "fused")
#: on the CPU, problems with fewer than this many entries (B x N) run on one thread: for tensors this small,
#: thread start-up costs more than the arithmetic (up to 30x slower with the default thread count)
SINGLE_THREAD_BELOW = 65_536
#: (B, N) tensors one step of training holds at once, at most (policy, rewards, advantages, directions, ...):
#: with the recording, the memory estimate that :func:`train` checks before allocating
STEP_TENSORS = 16
#: (B, N) tensors the fused kernel's training holds (the inputs as placed, the parameters and their working copy)
FUSED_TENSORS = 6
#: on the CPU, float64 tabular ExactPG problems (no KL term) with at most this many entries (B x N) run as a numpy
#: loop (:func:`_train_exact_numpy`): for arrays this small a torch operation costs more to dispatch than to compute
NUMPY_AT_MOST = 4_096


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as named. Any other name,
    ``"cuda"`` on a machine without CUDA and ``"cuda:N"`` beyond the machine's GPUs are errors that say which are
    there."""
    if isinstance(device, torch.device):
        device = str(device)
    accepted = "'auto', 'cpu', 'cuda' or 'cuda:N'"
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ValueError(f"device must be {accepted}; got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine (use 'auto')")
    gpus = torch.cuda.device_count() if device.startswith("cuda:") else 0
    if device.startswith("cuda:") and int(device[5:]) >= gpus:
        raise ValueError(f"device={device!r} was requested but this machine has {gpus} CUDA GPU"
                         f"{'s' if gpus != 1 else ''} (cuda:0 to cuda:{gpus - 1})")
    return torch.device(device)


class _OnFirstRead:
    """A :class:`Run` field that keeps a torch tensor as given (on its device, in the training dtype) and converts it
    to a numpy array of ``dtype`` on first read, once: :func:`train` returns without copying results to the host,
    and a user who never reads them never pays for the copy. Other values (numpy arrays, None) are kept as given.
    The array is always a copy (the rewards given to a Run are the problem's own tensors)."""

    def __init__(self, dtype: torch.dtype, default: Any = dataclasses.MISSING):
        self.dtype, self.default = dtype, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, run: Run | None, owner: type | None = None) -> Any:
        if run is None:  # the dataclass reads the default here; AttributeError means "no default"
            if self.default is dataclasses.MISSING:
                raise AttributeError(self.slot[1:])
            return self.default
        value = run.__dict__[self.slot]
        if isinstance(value, torch.Tensor):
            value = run.__dict__[self.slot] = value.to("cpu", self.dtype, copy=True).numpy()
        return value

    def __set__(self, run: Run, value: torch.Tensor | np.ndarray | None) -> None:
        run.__dict__[self.slot] = value


@dataclass
class Run:
    """The record of one batched training run.

    ``probs`` and ``hit_steps`` stay where training left them (on the GPU, in the training dtype) until first read,
    and become numpy arrays (float64, int64) then; ``r_true`` and ``r_proxy`` are copied from the problem then.

    Attributes:
        steps: (R,) int array, the step index of each record (0 = initial policy).
        probs: (R, B, N) float array, the policy's probabilities at each record.
        r_true, r_proxy: (B, N) float arrays, the two rewards.
        names: output names (length N).
        reward: which reward was trained on, ``"true"`` or ``"proxy"``.
        algorithm: the update rule used.
    """

    steps: np.ndarray
    if TYPE_CHECKING:  # the type checker sees the fields as read; at run time they convert on first read
        probs: np.ndarray
    else:
        probs: np.ndarray = _OnFirstRead(torch.float64)
    if TYPE_CHECKING:
        r_true: np.ndarray
        r_proxy: np.ndarray
    else:
        r_true: np.ndarray = _OnFirstRead(torch.float64)
        r_proxy: np.ndarray = _OnFirstRead(torch.float64)
    names: tuple[str, ...]
    reward: str
    algorithm: Algorithm
    #: with ``train(..., track_level=...)``: per run, the first step with V_G >= the level (-1: never); else None
    if TYPE_CHECKING:
        hit_steps: np.ndarray | None = None
    else:
        hit_steps: np.ndarray | None = _OnFirstRead(torch.long, default=None)

    @property
    def true_value(self) -> np.ndarray:
        """V_G = E_pi[r_G] at each record, shape (R, B)."""
        return np.einsum("rbn,bn->rb", self.probs, self.r_true)

    @property
    def proxy_value(self) -> np.ndarray:
        """V_P = E_pi[r_P] at each record, shape (R, B)."""
        return np.einsum("rbn,bn->rb", self.probs, self.r_proxy)

    def variance(self, reward: str = "proxy", *, which: str | None = None) -> np.ndarray:
        """Var_{y~pi}[r(y)] of the ``"true"`` or ``"proxy"`` reward at each record, shape (R, B)."""
        name, reward = renamed("which", which, "reward", reward, "proxy")
        r = self.r_true if choice(name, reward, ("true", "proxy")) == "true" else self.r_proxy
        mean = np.einsum("rbn,bn->rb", self.probs, r)
        return np.einsum("rbn,bn->rb", self.probs, r**2) - mean**2

    def steps_to(self, level: float, reward: str = "true", *, which: str | None = None) -> np.ndarray:
        """Per run, the first recorded step whose expected ``reward`` (``"true"`` or ``"proxy"``) is >= level; -1 if
        never. (``which=`` is the deprecated name of ``reward=``.)

        Returns an int array of shape (B,). With ``record_every=k`` the answer is exact to within k steps.
        """
        name, reward = renamed("which", which, "reward", reward, "true")
        level = finite("level", level)
        values = self.true_value if choice(name, reward, ("true", "proxy")) == "true" else self.proxy_value
        hit = values >= level
        first = hit.argmax(axis=0)
        return np.where(hit.any(axis=0), self.steps[first], -1)

    def to_frame(self) -> pd.DataFrame:
        """Tidy pandas DataFrame: one row per (record, run, output) with columns
        step, run, output, prob, true_value, proxy_value."""
        import pandas as pd

        r, b, n = self.probs.shape
        return pd.DataFrame(
            {
                "step": np.repeat(self.steps, b * n),
                "run": np.tile(np.repeat(np.arange(b), n), r),
                "output": np.tile(np.asarray(self.names, dtype=object), r * b),
                "prob": self.probs.reshape(-1),
                "true_value": np.repeat(self.true_value.reshape(-1), n),
                "proxy_value": np.repeat(self.proxy_value.reshape(-1), n),
            }
        )


def train(
    problem: Bandit,
    algorithm: Algorithm,
    steps: int,
    reward: str = "proxy",
    seed: int = 0,
    device: str = "auto",
    record_every: int | None = 1,
    dtype: torch.dtype = torch.float32,
    common_noise: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    progress: bool | None = None,
    track_level: float | Sequence[float] | np.ndarray | torch.Tensor | None = None,
    backend: str = "auto",
) -> Run:
    """Train the B problems of ``problem`` together for ``steps`` updates of ``algorithm``.

    Args:
        problem: the bandit(s) to train on.
        algorithm: an update rule from :mod:`labsupport.algorithms`, e.g. ``ExactPG(lr=0.1)``.
        steps: number of SGD updates (>= 0).
        reward: ``"proxy"`` trains on r_P, ``"true"`` on r_G. Both values are recorded either way.
        seed: seeds the run's random numbers (sampled algorithms); the same seed gives the same run.
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        record_every: record the policy every k steps (and always at the last step); ``None`` records only
            the initial and final policy, keeping memory bounded for large sweeps.
        dtype: floating type of the computation: ``torch.float32`` or ``torch.float64`` (or the names
            ``"float32"``, ``"float64"``). Rewards beyond sqrt of the dtype's largest number are refused (float32:
            about 1.8e19), as is a training estimated above 4 GiB on the CPU (``_checks.MEMORY_LIMIT_BYTES``) or
            above the memory free on a GPU.
        common_noise: optional (B,) integer ids; runs with the same id see the same random numbers (common
            random numbers for counterfactual comparisons). Default: every run has its own.
        progress: show a progress bar; ``None`` shows one for long runs.
        track_level: optional level of V_G (a number, or (B,) numbers, one per run): the first step at which each
            run's expected ground-truth reward reaches it is tracked on the device at every step, whatever
            ``record_every`` is, and returned as ``Run.hit_steps`` (-1 for never). With ``record_every=None`` this
            gives first-passage times of large sweeps without storing trajectories.
        backend: ``"torch"`` runs each step as tensor operations (the reference); ``"fused"`` runs all steps in one
            Triton kernel (:mod:`labsupport.fused`; CUDA, float32, ExactPG / Reinforce / RLOO / GRPO / PPO, tabular or
            shared features; an error when it cannot); ``"auto"`` (default) takes the fused kernel on CUDA when it
            can run the training and Triton is installed, else the torch path. CPU training is never fused by
            ``"auto"``. Sampled rules draw from another random stream on the fused path (same distribution).

    Returns:
        A :class:`Run` with ``probs`` of shape (records, B, N).
    """
    prepared = prepare(problem, algorithm, steps, reward, seed, device, record_every, dtype, common_noise,
                       track_level, backend)
    b, n = problem.batch_size, problem.n_outputs
    bar = progress_bar(prepared.steps, progress, prepared.steps * b * n)
    probs, hit = prepared.execute(bar)
    if bar is not None:
        bar.close()
    return Run(
        steps=np.asarray(prepared.record_at),
        probs=probs,  # type: ignore[arg-type]  # a tensor, converted on first read (Run.probs), as are the rewards
        r_true=problem.r_true,  # type: ignore[arg-type]  # a tensor until read, like probs
        r_proxy=problem.r_proxy,  # type: ignore[arg-type]
        names=problem.names,
        reward=reward,
        algorithm=algorithm,
        hit_steps=hit,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Prepared:
    """A training checked, sized and placed by :func:`prepare`, ready to run: what :func:`train` does between its
    checks and its :class:`Run`. :meth:`execute` may be called again (it starts from theta_0 and the seed each
    time), which is how ``benchmarks/bench_results.py`` times the training alone against ``train``."""

    problem: Bandit
    algorithm: Algorithm
    steps: int
    reward: str
    seed: int
    record_at: list[int]
    placed: Placed
    noise_ids: torch.Tensor | None
    levels: torch.Tensor | None
    fused: ModuleType | None  # labsupport.fused when the fused kernel runs this training
    numpy_loop: bool  # a tiny float64 ExactPG problem on the CPU: the numpy loop

    def execute(self, bar: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the training: policy probabilities (records, B, N) on the device in the training dtype, and the
        first-passage steps (B,) when a level is tracked, else ``None``."""
        placed, theta = self.placed, self.placed.theta0.clone()
        trained = placed.r_true if self.reward == "true" else placed.r_proxy
        if self.numpy_loop:
            return _train_exact_numpy(self.algorithm.lr, self.steps, theta, trained,
                                      self.record_at, self.levels, placed.r_true)
        if self.fused is not None:
            return self.fused.run(self.problem, self.algorithm, self.steps, trained, theta, placed.init_logits,
                                  placed.r_true, self.record_at, self.seed, self.noise_ids, self.levels, bar)
        b = self.problem.batch_size
        inp = StepInput(policy=SoftmaxPolicy(placed.features), reward=trained, log_pi0=placed.init_logits,
                        uniforms=_uniform_source(b, self.seed, theta.device, theta.dtype, self.noise_ids))
        return _train_steps(self.algorithm, self.steps, theta, inp, self.record_at, self.levels, placed.r_true, bar)


def prepare(problem: Bandit, algorithm: Algorithm, steps: int, reward: str = "proxy", seed: int = 0,
            device: str = "auto", record_every: int | None = 1, dtype: torch.dtype = torch.float32,
            common_noise: Sequence[int] | np.ndarray | torch.Tensor | None = None,
            track_level: float | Sequence[float] | np.ndarray | torch.Tensor | None = None,
            backend: str = "auto") -> Prepared:
    """:func:`train`'s arguments checked, its memory estimated against the limit, the path chosen (the numpy loop,
    the fused kernel or the torch step loop) and the problem placed on the device (:meth:`Bandit.placed`, once per
    problem, device and dtype). Arguments as in :func:`train`."""
    if not isinstance(problem, Bandit):
        raise ValueError(f"problem must be a labsupport.Bandit; got {type(problem).__name__}")
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a labsupport algorithm such as ExactPG(); got {algorithm!r}")
    steps = count("steps", steps)
    choice("reward", reward, ("proxy", "true"))
    seed = random_seed("seed", seed)
    if record_every is not None:
        record_every = count("record_every", record_every, minimum=1)
    choice("backend", backend, BACKENDS)
    dtype = float_dtype("dtype", dtype)
    dev = resolve_device(device)
    b, n = problem.batch_size, problem.n_outputs
    record_at = record_steps(steps, record_every)
    records = len(record_at)  # kept on the device in dtype, returned in float64
    fast = fused_backend(backend, dev, lambda fused: fused.unsupported(problem, algorithm, dev, dtype))
    memory(f"training {b} x {n} outputs with {records} records",
           b * n * (records * (dtype.itemsize + 8) + (FUSED_TENSORS if fast else STEP_TENSORS) * dtype.itemsize),
           "record fewer with record_every (None keeps the first and last) or train fewer runs at a time", dev)
    placed = problem.placed(dev, dtype)  # moved once per problem, device and dtype; the rewards checked to fit dtype
    numpy_loop = (backend == "auto" and dev.type == "cpu" and dtype == torch.float64 and type(algorithm) is ExactPG
                  and not algorithm.kl and problem.features is None and b * n <= NUMPY_AT_MOST)
    return Prepared(problem=problem, algorithm=algorithm, steps=steps, reward=reward, seed=seed, record_at=record_at,
                    placed=placed, noise_ids=_noise_ids(common_noise, b, dev),
                    levels=None if track_level is None else _levels(track_level, b, dev, dtype), fused=fast,
                    numpy_loop=numpy_loop)


def _train_steps(algorithm, steps, theta, inp, record_at, levels, r_true, bar):
    """The plain path: one set of tensor operations per step. Returns probs (records, B, N) and hit steps."""
    b, n = inp.reward.shape
    probs = torch.empty((len(record_at), b, n), device=theta.device, dtype=theta.dtype)
    hit = None if levels is None else torch.full((b,), -1, dtype=torch.long, device=theta.device)
    slot = 0
    with torch.no_grad(), threads(1 if theta.device.type == "cpu" and b * n < SINGLE_THREAD_BELOW else None):
        for t in range(steps + 1):
            pi = inp.policy.probs(theta)
            if slot < len(record_at) and record_at[slot] == t:
                probs[slot] = pi
                slot += 1
            if hit is not None:
                hit.masked_fill_(((pi * r_true).sum(-1) >= levels) & (hit < 0), t)
            if t == steps:
                break
            algorithm.step(theta, pi, inp)
            if bar is not None and (t + 1) % bar.chunk == 0:
                bar.update(bar.chunk)
    return probs, hit


def _train_exact_numpy(lr, steps, theta, reward, record_at, levels, r_true, chunk: int = 256):
    """The plain path for tiny float64 ExactPG problems, as numpy: the operations of ``_train_steps`` with
    ``ExactPG.step`` (softmax; theta += lr * pi * (r - <pi, r>)) without torch's per-operation overhead.

    With ``levels``, r_G sits beside the trained reward, so that one matrix product gives lr V and V_G; V_G is
    kept for ``chunk`` steps at a time and its first passage found once per chunk."""
    th = theta.numpy().copy()
    trained = lr * reward.numpy()  # lr r: the product below then gives lr V, saving a multiplication per step
    r = trained[..., None] if levels is None else np.stack([trained, r_true.numpy()], -1)
    probs = np.empty((len(record_at), *th.shape))
    value = np.empty((chunk, th.shape[0], 1, r.shape[-1]))  # lr V (and V_G) of the latest `chunk` steps
    hit = np.full(th.shape[0], -1, dtype=np.int64)
    pi = np.empty_like(th)
    row = pi[:, None, :]  # (B, 1, N): row @ r is (B, 1, 2), one call instead of a product and a sum
    total, largest = np.add.reduce, np.maximum.reduce  # the ufuncs behind .sum / .max, without their wrappers
    slot = 0
    for t in range(steps + 1):
        np.subtract(th, largest(th, axis=-1, keepdims=True), out=pi)
        np.exp(pi, out=pi)
        pi /= total(pi, axis=-1, keepdims=True)
        if slot < len(record_at) and record_at[slot] == t:
            probs[slot] = pi
            slot += 1
        v = value[t % chunk]
        np.matmul(row, r, out=v)
        if levels is not None and (t % chunk == chunk - 1 or t == steps):
            reached = value[: t % chunk + 1, :, 0, 1] >= levels.numpy()
            first = np.where(reached.any(0), reached.argmax(0) + t - t % chunk, -1)
            hit = np.where(hit < 0, first, hit)
        if t == steps:
            break
        th += pi * (trained - v[:, :, 0])
    return torch.from_numpy(probs), None if levels is None else torch.from_numpy(hit)


def fused_backend(backend: str, dev: torch.device, unsupported: Callable[[ModuleType], str | None]
                  ) -> ModuleType | None:
    """The :mod:`labsupport.fused` module when it should run this training, else ``None``.

    ``backend`` as in :func:`train`; ``unsupported(fused)`` gives the sentence saying why the kernel cannot run
    this training, or ``None`` when it can. Shared by :func:`train` and :func:`labsupport.sequence.train_sequences`.
    """
    if backend == "torch" or (backend == "auto" and dev.type != "cuda"):
        return None
    try:
        from . import fused
    except ImportError as err:
        if backend == "fused":
            raise ValueError(f"backend='fused' needs Triton, which could not be imported ({err})") from None
        return None
    why = unsupported(fused)
    if why is not None and backend == "fused":
        raise ValueError(f"backend='fused' cannot run this training: {why} (use backend='auto' or 'torch')")
    return None if why is not None else fused


def _levels(level, b: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``track_level`` checked and broadcast to one level per run, shape (B,)."""
    values = torch.as_tensor(np.asarray(level, dtype=float), dtype=torch.float64)
    if values.ndim > 1 or values.numel() not in (1, b) or not torch.isfinite(values).all():
        raise ValueError(f"track_level must be a finite number or {b} finite numbers (one per run); got {level!r}")
    return values.expand(b).to(device=device, dtype=dtype)


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` CPU threads (``None``: unchanged), restoring the previous setting."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def record_steps(steps: int, every: int | None) -> list[int]:
    """The steps a training records: 0, every ``every``-th step and the last (``every=None``: the first and the
    last)."""
    at = [0] if every is None else list(range(0, steps + 1, every))
    if at[-1] != steps:
        at.append(steps)
    return at


def _noise_ids(common_noise, b: int, device: torch.device) -> torch.Tensor | None:
    """``common_noise`` checked and renumbered 0..G-1 on the device, or ``None`` (every run its own noise)."""
    if common_noise is None:
        return None
    ids = torch.as_tensor(np.asarray(common_noise), dtype=torch.long)
    if ids.shape != (b,) or (ids < 0).any():
        raise ValueError(f"common_noise must be {b} non-negative integer ids (one per run); got shape "
                         f"{tuple(ids.shape)}")
    return torch.unique(ids, return_inverse=True)[1].to(device)


def _uniform_source(b: int, seed: int, device: torch.device, dtype: torch.dtype, ids: torch.Tensor | None):
    """A function k -> (B, k) uniforms from one seeded generator, shared between runs with the same id."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    if ids is None:
        return lambda k: torch.rand((b, k), generator=gen, device=device, dtype=dtype)
    groups = int(ids.max().item()) + 1
    return lambda k: torch.rand((groups, k), generator=gen, device=device, dtype=dtype)[ids]


def progress_bar(steps: int, progress: bool | None, work: float, threshold: float = PROGRESS_THRESHOLD,
                 desc: str = "training") -> Any:
    """A tqdm bar over ``steps`` (its ``chunk``: steps per update), or ``None``: ``progress=None`` shows one when the
    ``work`` reaches ``threshold``. Shared by :func:`train` and :func:`labsupport.sequence.train_sequences`."""
    if flag("progress", progress, allow_none=True) is False or (progress is None and work < threshold) or steps == 0:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc=desc, unit="step")
    bar.chunk = max(1, steps // 100)
    return bar
