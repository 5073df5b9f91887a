"""The theory of the book in code: advantages, which outputs attract probability, how fast the ground-truth
value rises, and the categorisation of reward errors (predicted from the initial policy, and measured).

Gradient flow on V_P (the proxy value) moves the logits z = Phi theta at velocity

    dz/dt = K (pi * A_P),     K = Phi Phi^T (the identity for the tabular policy),  A_P(y) = r_P(y) - V_P,   (1)

so in the tabular case d z_y / dt = pi(y) A_P(y): an output's logit rises exactly when its proxy reward is above
the current expected proxy reward. Probabilities move as d pi(y)/dt = pi(y) (dz_y/dt - <pi, dz/dt>), and the
ground-truth value as

    dV_G/dt = sum_y pi(y) A_G(y) dz_y/dt       (tabular: sum_y pi(y)^2 A_G(y) A_P(y)).                 (2)

The functions below evaluate these at the initial policy, or at any policy given as ``probs`` (B, N), e.g. a
record of :class:`labsupport.Run`. They return numpy arrays.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import torch
from numpy.typing import ArrayLike

from ._checks import as_tensor, choice, count, finite, flag, float_dtype, memory, non_negative
from .algorithms import Algorithm, ExactPG
from .problems import Bandit, renamed
from .simulate import Run, resolve_device, train

if TYPE_CHECKING:
    import pandas as pd

#: the categories of an error, in the book's order: predicted by the rules (which may be silent: unclassified) ...
CATEGORIES = ("harmful", "benign", "beneficial", "unclassified")
#: ... and measured by the counterfactual (always one of the first three)
MEASURED_CATEGORIES = CATEGORIES[:3]
#: runs per variant with which :func:`categorize` measures a sampled algorithm by default (an exact one needs 1)
SAMPLED_SEEDS = 16
#: memory of :func:`categorize`'s measurement per entry of its batch (variants x seeds x outputs), measured on the CPU
CATEGORIZE_BYTES_PER_ENTRY = 160


#: how far a row of ``probs`` given to the functions below may sum from 1 (records of float32 runs are within 1e-6)
PROBS_SUM_TOL = 1e-4


def _probs(problem: Bandit, probs: ArrayLike | None) -> torch.Tensor:
    """The policy the formulas are evaluated at: the initial one, or ``probs`` checked to be distributions."""
    _bandit(problem)
    if probs is None:
        return problem.init_probs
    p = _shaped("probs", probs, (problem.batch_size, problem.n_outputs))
    if (p < 0).any():
        at = (p < 0).nonzero()[0].tolist()
        raise ValueError(f"probs must be probabilities (>= 0); got {p[tuple(at)].item():.4g} at index {at}")
    sums = p.sum(-1)
    off = ((sums - 1).abs() > PROBS_SUM_TOL).nonzero().flatten()
    if off.numel():
        row = int(off[0])
        raise ValueError(f"probs must sum to 1 over the {problem.n_outputs} outputs; row {row} sums to "
                         f"{sums[row].item():.6g}")
    return p


def _bandit(problem: object) -> Bandit:
    if not isinstance(problem, Bandit):
        raise ValueError(f"problem must be a labsupport.Bandit; got {type(problem).__name__} {problem!r:.60}")
    return problem


def _shaped(name: str, value: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """value as a float64 tensor of ``shape`` (a single row is taken for a batch of one), or a ValueError naming it."""
    t = as_tensor(name, value) if np.ndim(value) in (1, 2) else None
    if t is None or t.numel() != math.prod(shape) or (t.ndim == 2 and t.shape[0] != shape[0]):
        got = np.shape(value) if t is None else tuple(t.shape)
        raise ValueError(f"{name} must have shape {shape}{' or ' + str(shape[1:]) if shape[0] == 1 else ''}; "
                         f"got shape {got}")
    return t.reshape(shape)


def _advantage(problem: Bandit, reward: str, p: torch.Tensor) -> torch.Tensor:
    r = problem.reward(reward)
    return r - (p * r).sum(-1, keepdim=True)


def _logit_velocity(problem: Bandit, reward: str, p: torch.Tensor) -> torch.Tensor:
    g = p * _advantage(problem, reward, p)
    k = problem.kernel()
    return g if k is None else (k @ g.unsqueeze(-1)).squeeze(-1)


def values(problem: Bandit, probs: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(V_G, V_P): expected ground-truth and proxy reward, each of shape (B,)."""
    p = _probs(problem, probs)
    return (p * problem.r_true).sum(-1).numpy(), (p * problem.r_proxy).sum(-1).numpy()


def advantages(problem: Bandit, reward: str = "proxy", probs: ArrayLike | None = None) -> np.ndarray:
    """A(y) = r(y) - E_pi[r] for ``reward`` in {"proxy", "true"}, shape (B, N)."""
    return _advantage(problem, reward, _probs(problem, probs)).numpy()


def logit_velocity(problem: Bandit, reward: str = "proxy", probs: ArrayLike | None = None) -> np.ndarray:
    """dz/dt = K (pi * A) under gradient flow on the expected ``reward``, eq. (1); shape (B, N)."""
    return _logit_velocity(problem, reward, _probs(problem, probs)).numpy()


def prob_velocity(problem: Bandit, reward: str = "proxy", probs: ArrayLike | None = None) -> np.ndarray:
    """d pi(y)/dt = pi(y) (dz_y/dt - <pi, dz/dt>) under gradient flow on the expected ``reward``; shape (B, N)."""
    p = _probs(problem, probs)
    v = _logit_velocity(problem, reward, p)
    return (p * (v - (p * v).sum(-1, keepdim=True))).numpy()


def attracts(problem: Bandit, reward: str = "proxy", probs: ArrayLike | None = None) -> np.ndarray:
    """Boolean (B, N): the outputs whose logit rises now (dz_y/dt > 0). Tabular policy: exactly A(y) > 0."""
    return logit_velocity(problem, reward, probs) > 0


def value_rate_terms(problem: Bandit, probs: ArrayLike | None = None, *, reward: str = "proxy",
                     measure: str = "true", train_on: str | None = None) -> np.ndarray:
    """Per-output terms pi(y) A_measure(y) dz_y/dt of d V_measure / dt under gradient flow on ``reward``.

    ``reward`` is the reward trained on, as in :func:`labsupport.train`; ``measure`` the one whose expected value
    changes (``train_on=`` is the deprecated name of ``reward=``). Eq. (2): the terms sum to dV_G/dt (defaults).
    Tabular: pi(y)^2 A_G(y) A_P(y). Shape (B, N).
    """
    name, reward = renamed("train_on", train_on, "reward", reward, "proxy")
    choice(name, reward, ("proxy", "true"))
    choice("measure", measure, ("proxy", "true"))
    p = _probs(problem, probs)
    return (p * _advantage(problem, measure, p) * _logit_velocity(problem, reward, p)).numpy()


def value_rate(problem: Bandit, probs: ArrayLike | None = None, *, reward: str = "proxy", measure: str = "true",
               train_on: str | None = None) -> np.ndarray:
    """dV_measure/dt = <grad V_measure, grad V_reward> under gradient flow on ``reward``; shape (B,).

    (``train_on=`` is the deprecated name of ``reward=``.)"""
    if train_on is not None:  # the warning points at the caller
        name, reward = renamed("train_on", train_on, "reward", reward, "proxy")
        choice(name, reward, ("proxy", "true"))
    return value_rate_terms(problem, probs, reward=reward, measure=measure).sum(-1)


def value_at(problem: Bandit, theta: ArrayLike, reward: str = "proxy") -> np.ndarray:
    """V(theta) = sum_y softmax(Phi theta)(y) r(y), shape (B,); theta of shape like ``problem.theta0``."""
    t = _shaped("theta", theta, tuple(_bandit(problem).theta0.shape))
    phi = problem.features
    logits = t if phi is None else (phi @ t.unsqueeze(-1)).squeeze(-1)
    return (torch.softmax(logits, -1) * problem.reward(reward)).sum(-1).numpy()


def gradient_at(problem: Bandit, theta: ArrayLike, reward: str = "proxy") -> np.ndarray:
    """The exact gradient dV/dtheta = Phi^T (pi * A), shape like ``problem.theta0``."""
    t = _shaped("theta", theta, tuple(_bandit(problem).theta0.shape))
    phi = problem.features
    logits = t if phi is None else (phi @ t.unsqueeze(-1)).squeeze(-1)
    p = torch.softmax(logits, -1)
    g = p * _advantage(problem, reward, p)
    return (g if phi is None else (g.unsqueeze(-2) @ phi).squeeze(-2)).numpy()


# --------------------------------------------------------------------------------------------- categories


def predict(problem: Bandit, negligible: float = 1e-6) -> list[dict]:
    """The paper's rules, read off the initial policy, for every output whose proxy reward is wrong.

    With A_G0 = r_G(y) - V_G(theta_0) and A_P0 = r_P(y) - V_P(theta_0):

    * pi_0(y) < ``negligible``                  -> benign, never sampled
    * A_G0 <= 0 and A_P0 <= 0                    -> benign, below the mean
    * A_P0 > 0 >= A_G0                           -> harmful: reward hacking if y is proxy-optimal, else stalling
    * A_G0 > 0 >= A_P0                           -> beneficial (demoted mediocre output) unless y is the
                                                    ground-truth optimum: then harmful (hides the best output)
    * both advantages > 0                        -> unclassified: the rules are silent

    Returns one dict per error with keys run, output, index, r_true, r_proxy, pi0, predicted, kind, rule.
    """
    _negligible(negligible)
    p = _bandit(problem).init_probs
    a_g = _advantage(problem, "true", p)
    a_p = _advantage(problem, "proxy", p)
    v_g, v_p = (p * problem.r_true).sum(-1), (p * problem.r_proxy).sum(-1)
    rows = []
    for b, y in problem.errors().nonzero().tolist():
        rg, rp, pi0 = problem.r_true[b, y].item(), problem.r_proxy[b, y].item(), p[b, y].item()
        ag, ap = a_g[b, y].item(), a_p[b, y].item()
        # values within rounding noise of 0 print as 0 in the rule text
        facts = dict(name=problem.names[y], rg=rg, rp=rp, vg=_clean(v_g[b].item()), vp=_clean(v_p[b].item()), pi0=pi0)
        predicted, kind, rule = _rule(
            facts, ag, ap, negligible,
            proxy_best=rp >= problem.r_proxy[b].max().item(),
            true_best=rg >= problem.r_true[b].max().item(),
        )
        rows.append(dict(run=b, output=problem.names[y], index=y, r_true=rg, r_proxy=rp, pi0=pi0,
                         predicted=predicted, kind=kind, rule=rule))
    return rows


def _negligible(value: float) -> float:
    """A probability threshold in [0, 1]: above 1 every output would count as never sampled."""
    if non_negative("negligible", value) > 1:
        raise ValueError(f"negligible must be a probability in [0, 1]; got {value!r}")
    return float(value)


def _clean(x: float) -> float:
    return 0.0 if abs(x) < 1e-12 else x


def _rule(f: dict, ag: float, ap: float, negligible: float, proxy_best: bool, true_best: bool):
    above_p = f"r_P({f['name']}) = {f['rp']:.3g} is above the initial expected proxy reward V_P = {f['vp']:.3g}"
    below_p = f"r_P({f['name']}) = {f['rp']:.3g} is not above the initial expected proxy reward V_P = {f['vp']:.3g}"
    above_g = f"r_G({f['name']}) = {f['rg']:.3g} is above V_G = {f['vg']:.3g}"
    below_g = f"r_G({f['name']}) = {f['rg']:.3g} is not above V_G = {f['vg']:.3g}"
    if f["pi0"] < negligible:
        return ("benign", "never sampled",
                f"pi_0({f['name']}) = {f['pi0']:.2g} < {negligible:.2g}: the output is effectively never sampled, "
                "so its reward barely moves the policy")
    if ag <= 0 and ap <= 0:
        return ("benign", "below the mean",
                f"{below_p} and {below_g}: the output never attracts probability under either reward")
    if ap > 0 >= ag:
        if proxy_best:
            return ("harmful", "reward hacking",
                    f"{above_p} and it is a proxy-optimal output, while {below_g}: the policy converges to a bad "
                    "output")
        return ("harmful", "stalling",
                f"{above_p} while {below_g}: it absorbs probability early and slows the rise of V_G")
    if ag > 0 >= ap:
        if true_best:
            return ("harmful", "hides the best output",
                    f"{above_g} and it is the best output, but {below_p}: the proxy stops it from attracting "
                    "probability")
        return ("beneficial", "demoted mediocre output",
                f"{above_g} but it is not the best output, and {below_p}: the proxy stops the policy from stalling "
                "on it, leaving better outputs to attract probability")
    return ("unclassified", "none",
            f"{above_p} and {above_g}: both rewards pull the policy towards it; the rules are silent on the size "
            "of the error")


@overload
def categorize(problem: Bandit, algorithm: Algorithm | None = ..., steps: int = ..., target: float | None = ...,
               tol: float = ..., seeds: int | None = ..., negligible: float = ..., measure: bool = ...,
               device: str = ..., progress: bool | None = ..., dtype: torch.dtype = ...,
               record_every: int | None = ..., return_run: Literal[False] = ...) -> pd.DataFrame: ...
@overload
def categorize(problem: Bandit, algorithm: Algorithm | None = ..., steps: int = ..., target: float | None = ...,
               tol: float = ..., seeds: int | None = ..., negligible: float = ..., measure: bool = ...,
               device: str = ..., progress: bool | None = ..., dtype: torch.dtype = ...,
               record_every: int | None = ..., *, return_run: Literal[True]) -> tuple[pd.DataFrame, Run]: ...
def categorize(
    problem: Bandit,
    algorithm: Algorithm | None = None,
    steps: int = 2000,
    target: float | None = None,
    tol: float = 0.05,
    seeds: int | None = None,
    negligible: float = 1e-6,
    measure: bool = True,
    device: str = "auto",
    progress: bool | None = None,
    dtype: torch.dtype = torch.float32,
    record_every: int | None = None,
    return_run: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, Run]:
    """One row per reward error: the predicted category (rules) and the measured one (counterfactual).

    Measured: train on the proxy as given and, for each error, on the proxy with that one error corrected
    (r_P(y) := r_G(y)); same algorithm, seeds (common random numbers) and horizon, all in one batched run.
    The time for V_G to reach ``target`` is compared: ``effect = (t_corrected - t_error) / t_error``.
    effect > tol -> correcting slows learning: the error was **beneficial**; effect < -tol -> **harmful**; else
    **benign**. A run that never reaches the target counts as ``steps`` (so ``effect`` is then a bound, as the
    ``evidence`` column says); when neither reaches it, the final V_G values are compared instead (difference
    relative to the range of r_G, same tolerance) and ``effect`` is NaN.

    Args:
        problem: the bandit(s); every row of a batch is categorised.
        algorithm: update rule for the measurement, default ``ExactPG(lr=0.1)``.
        steps: horizon of the measurement.
        target: level of V_G to reach; default r_G,min + 0.95 (r_G,max - r_G,min) per problem (0.9 in the toy).
        tol: tolerance for "benign" (relative change in time, or change in final value / range of r_G).
        seeds: runs per variant for sampled algorithms (mean time over seeds); default 1 for ExactPG, else 16.
        negligible: pi_0 below which an output counts as never sampled.
        measure: ``False`` skips the training and fills the measured columns with None (fast).
        device: where to train ("auto", "cpu", "cuda").
        progress: progress bar of the measuring run (``None``: only for long runs; ``False`` inside larger sweeps).
        dtype: floating type of the measuring run (``torch.float64`` is the reference the browser explorer is
            tested against).
        record_every: record the measuring run's policy every this many steps (``None``: first and last only).
        return_run: also return the measuring run, as ``(frame, run)``, for a caller that draws it: its rows are
            ``seeds`` runs (adjacent) of each variant, first every problem as given, then (when measuring) each
            error corrected in the order of the frame's rows. The problems as given are trained even with
            ``measure=False`` or without errors, so a batch row with r_P = r_G (no error) is a run on the ground
            truth in the same call.

    Returns:
        pandas DataFrame with columns run, output, r_true, r_proxy, pi0, predicted, kind, rule, measured,
        effect, evidence (one row per error; empty with these columns when the proxy has no error); with
        ``return_run``, the pair (frame, run).
    """
    import pandas as pd

    algorithm = ExactPG(lr=0.1) if algorithm is None else algorithm
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a labsupport algorithm such as ExactPG(); got {algorithm!r}")
    _bandit(problem)
    steps = count("steps", steps, minimum=1)
    measure = flag("measure", measure)
    progress = flag("progress", progress, allow_none=True)
    dtype = float_dtype("dtype", dtype)
    non_negative("tol", tol)
    if target is not None:
        target = finite("target", target)
    if record_every is not None:
        record_every = count("record_every", record_every, minimum=1)
    return_run = flag("return_run", return_run)
    if measure or return_run:
        seeds = ((1 if algorithm.samples_per_step == 0 else SAMPLED_SEEDS) if seeds is None
                 else count("seeds", seeds, minimum=1))
        variants = problem.batch_size + (int(problem.errors().sum()) if measure else 0)
        memory(f"measuring {variants} variants x {seeds} seeds x {problem.n_outputs} outputs",
               variants * seeds * problem.n_outputs * CATEGORIZE_BYTES_PER_ENTRY,
               "pass fewer seeds, categorize fewer errors or problems at a time, or measure=False",
               resolve_device(device))
    rows = predict(problem, negligible)
    columns = ["run", "output", "r_true", "r_proxy", "pi0", "predicted", "kind", "rule", "measured", "effect",
               "evidence"]
    run = None
    if return_run or (measure and rows):
        run = _measure(problem, rows if measure else [], algorithm, steps, target, tol, seeds, device, progress,
                       dtype, record_every)
    if not measure:
        for row in rows:
            row.update(measured=None, effect=None, evidence=None)
    frame = pd.DataFrame(rows)[columns] if rows else pd.DataFrame(columns=columns)
    return (frame, run) if return_run else frame


def _measure(problem, rows, algorithm, steps, target, tol, seeds, device, progress, dtype=torch.float32,
             record_every=None):
    """Fill measured / effect / evidence in ``rows`` from one batched counterfactual run; return the run."""
    b = problem.batch_size
    # variant 0..B-1: the proxy as given; B + i: the proxy with error i corrected. Each repeated `seeds` times.
    r_proxy = [problem.r_proxy] + [_corrected(problem.r_proxy[row["run"]], row["index"], row["r_true"]) for row in rows]
    base = torch.arange(b).tolist() + [row["run"] for row in rows]
    variants = problem.rows(base).with_rewards(r_proxy=torch.cat(r_proxy).reshape(-1, problem.n_outputs))
    batch = variants.rows(torch.arange(len(base)).repeat_interleave(seeds))
    noise = np.tile(np.arange(seeds), len(base)) + seeds * np.repeat(np.asarray(base), seeds)
    r_t = problem.r_true
    lo, hi = r_t.min(-1).values.numpy(), r_t.max(-1).values.numpy()
    levels = lo + 0.95 * (hi - lo) if target is None else np.full(b, float(target))
    level_per_run = np.repeat(levels[np.asarray(base)], seeds)
    run = train(batch, algorithm, steps, reward="proxy", seed=0, device=device, record_every=record_every,
                common_noise=noise, track_level=level_per_run, progress=progress, dtype=dtype)
    hit = run.hit_steps
    assert hit is not None  # tracked: train was given track_level
    reached = (hit >= 0).reshape(len(base), seeds)
    times = np.where(reached.reshape(-1), hit, steps).reshape(len(base), seeds).astype(float)
    final = run.true_value[-1].reshape(len(base), seeds).mean(1)
    span = np.maximum(hi - lo, 1e-12)
    for i, row in enumerate(rows):
        e, f = row["run"], b + i
        row.update(_verdict(times[e], times[f], reached[e], reached[f], final[e], final[f], span[e], levels[e],
                            steps, tol))
    return run


def _corrected(r_proxy_row: torch.Tensor, index: int, value: float) -> torch.Tensor:
    fixed = r_proxy_row.clone().reshape(1, -1)
    fixed[0, index] = value
    return fixed


def _steps(count: float) -> str:
    """``count`` steps in words, rounded to a whole number: "1 step", "0 steps", "12 steps"."""
    whole = f"{count:.0f}"
    return f"{whole} step" if whole == "1" else f"{whole} steps"


def _verdict(t_err: np.ndarray, t_fix: np.ndarray, hit_err: np.ndarray, hit_fix: np.ndarray, v_err: np.ndarray,
             v_fix: np.ndarray, span: float, level: float, steps: int, tol: float) -> dict:
    def when(t, hit):
        mean = _steps(t.mean())
        return mean if hit.all() else f"not reached in {_steps(steps)}" if not hit.any() else \
            f"{mean} (some seeds never)"

    if hit_err.any() or hit_fix.any():
        effect = (t_fix.mean() - t_err.mean()) / max(t_err.mean(), 1.0)
        bound = "" if hit_err.all() and hit_fix.all() else " (a bound: the horizon ends first)"
        evidence = (f"time to V_G >= {level:.3g}: {when(t_err, hit_err)} with the error, "
                    f"{when(t_fix, hit_fix)} once corrected{bound}")
        score = effect
    else:
        effect = float("nan")
        score = (v_err - v_fix) / span
        evidence = (f"V_G >= {level:.3g} not reached in {_steps(steps)} either way; final V_G {v_err:.3g} with the "
                    f"error vs {v_fix:.3g} once corrected")
    measured = "beneficial" if score > tol else "harmful" if score < -tol else "benign"
    return dict(measured=measured, effect=float(effect), evidence=evidence)


__all__ = [
    "CATEGORIES", "MEASURED_CATEGORIES", "SAMPLED_SEEDS", "advantages", "attracts", "categorize", "gradient_at",
    "logit_velocity", "predict",
    "prob_velocity", "value_at", "value_rate", "value_rate_terms", "values",
]
