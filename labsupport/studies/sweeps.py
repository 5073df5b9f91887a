"""Stress tests of the error taxonomy: random bandit instances, predicted against measured categories, in bulk.

Chapter 5 asks how often the paper's rules (:func:`labsupport.theory.predict`, read off the initial policy) agree with
the measured counterfactual (:func:`labsupport.categorize`: train on the proxy and on the proxy with one error
corrected, compare how fast V_G reaches a target). This module draws many random instances and runs that comparison
for several algorithms at once:

    probs = random_instances(2000, errors="mixed", seed=0)
    frame = stress_test(probs, default_algorithms(), steps=2000, seeds=4)
    agreement(frame, by="algorithm")                 # one row per algorithm
    confusion(frame, by="algorithm", wide=True)      # predicted x measured counts

Random instances (:func:`random_instances`), numbered from best to worst output:

* rewards: y0 is the best output, r_G = 1; then m mediocre outputs with r_G uniform in [0.2, 0.9] (m uniform in
  1..N-2); then the bad outputs, r_G uniform in [-1, -0.2], the last one exactly -1. Every instance spans [-1, 1], so
  ``categorize``'s default target, r_G,min + 0.95 (r_G,max - r_G,min), is 0.9 for all of them;
* initial policy: pi_0 = softmax(s g), g standard Gaussian, with the scale s >= 0 solved (bisection) so that the
  normalised entropy H(pi_0) / log N equals a level drawn uniformly from ``entropy``. s = 0 is the uniform policy
  (entropy 1); the entropy falls monotonically as s grows, since d H(softmax(s g)) / ds = -s Var_pi(g) <= 0;
* errors: one output (``"single"``) or 2..``max_errors`` distinct outputs (``"multiple"``; ``"mixed"`` picks one of the
  two per instance with probability 1/2), chosen uniformly; each gets a proxy reward uniform in ``error_range``
  (default [-1, 1.5]) at least ``min_gap`` from its ground truth. Values above 1 can make the output proxy-optimal.

:func:`stress_test` calls :func:`labsupport.categorize` itself on chunks of instances, one batched ``train`` call per
(algorithm, chunk) holding the chunk's instances, all their counterfactual variants and seeds; so its rows are exactly
``categorize``'s, plus bookkeeping columns. Chunks are sized to a memory budget: a measurement keeps no
trajectory (first-passage times are tracked on the device), only the working tensors of each run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import theory
from .._checks import choice, count, flag, non_negative, positive, random_seed
from ..algorithms import GRPO, PPO, RLOO, Algorithm, ExactPG, Reinforce
from ..problems import Bandit
from ..simulate import resolve_device
from ..theory import CATEGORIES, MEASURED_CATEGORIES, SAMPLED_SEEDS, advantages, categorize

#: what :func:`stress_test` takes as its update rules: one, a sequence (named by class) or a mapping name -> rule
Algorithms = Algorithm | Sequence[Algorithm] | Mapping[str, Algorithm]
ERRORS = ("single", "multiple", "mixed")
MEASURED = MEASURED_CATEGORIES
ROLES = ("best", "mediocre", "bad")
#: ground-truth reward ranges of the random instances
MEDIOCRE_RANGE = (0.2, 0.9)
BAD_RANGE = (-1.0, -0.2)
#: default entropy bins (normalised entropy H(pi_0) / log N)
ENTROPY_EDGES = (0.0, 0.4, 0.7, 1.0)
#: columns of a stress-test frame, in order (``rule`` and ``evidence`` follow when ``text=True``)
COLUMNS = ["instance", "algorithm", "output", "role", "n_errors", "entropy", "V_G0", "pi0", "r_true", "r_proxy",
           "A_G0", "A_P0", "predicted", "kind", "measured", "effect", "basis", "agree"]
#: what a measured verdict rests on (``basis`` column): both runs reached the target ("time"), one did ("bound": the
#: effect is a bound), neither did ("final value": final V_G compared, effect NaN)
BASES = ("time", "bound", "final value")
#: bytes held per run and output during a measurement: about a dozen float32 working tensors of shape (runs, N),
#: the first and last policy (float64 copies on the host), with room to spare
_BYTES_PER_RUN_OUTPUT = 128


# --------------------------------------------------------------------------------------------- instances


def random_instances(n: int, n_outputs: int = 6, entropy: float | tuple[float, float] = (0.1, 1.0),
                     errors: str = "single", seed: int = 0, *,
                     max_errors: int = 3, error_range: tuple[float, float] = (-1.0, 1.5),
                     min_gap: float = 0.2) -> Bandit:
    """A batch of ``n`` random bandit problems (a best output, mediocre and bad ones) with erroneous proxies.

    Args:
        n: number of instances B.
        n_outputs: N >= 3 (one best, at least one mediocre and one bad output).
        entropy: the normalised initial entropy H(pi_0) / log N: one number in (0, 1] for all instances, or a
            ``(low, high)`` pair, each instance drawing its level uniformly in between.
        errors: ``"single"`` (one error per instance), ``"multiple"`` (2..``max_errors``) or ``"mixed"`` (each
            instance single or multiple with probability 1/2).
        seed: seeds numpy's generator; the same arguments give the same instances.
        max_errors: the most errors an instance can have (2 <= max_errors <= N).
        error_range: the interval the erroneous proxy rewards are drawn from.
        min_gap: every erroneous proxy reward is at least this far from the output's ground truth.

    Returns:
        A batched :class:`Bandit` (B = n) with names y0..y{N-1}, numbered from best to worst; see the module
        docstring. Use :func:`initial_entropy`, :func:`roles` and ``Bandit.errors()`` to read it back.
    """
    count("n", n, minimum=1)
    count("n_outputs", n_outputs, minimum=3)
    choice("errors", errors, ERRORS)
    random_seed("seed", seed)
    count("max_errors", max_errors, minimum=1)
    if errors != "single" and not 2 <= max_errors <= n_outputs:
        raise ValueError(f"max_errors must be between 2 and n_outputs = {n_outputs} for errors={errors!r}; "
                         f"got {max_errors}")
    low_h, high_h = _entropy_range(entropy)
    lo, hi = (float(x) for x in error_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"error_range must be two finite numbers (low, high) with low < high; got {error_range!r}")
    non_negative("min_gap", min_gap)
    if min_gap >= (hi - lo) / 2:
        raise ValueError(f"min_gap must be smaller than half the width of error_range {error_range!r}; got {min_gap}")

    rng = np.random.default_rng(seed)
    r_true = _random_rewards(rng, n, n_outputs)
    levels = rng.uniform(low_h, high_h, n) if high_h > low_h else np.full(n, low_h)
    logits = _logits_with_entropy(rng.standard_normal((n, n_outputs)), levels)
    if errors == "single":
        k = np.ones(n, dtype=int)
    else:
        k = rng.integers(2, max_errors + 1, n)
        if errors == "mixed":
            k = np.where(rng.random(n) < 0.5, 1, k)
    # the k smallest of N uniform keys pick k distinct outputs uniformly
    keys = rng.random((n, n_outputs))
    wrong = np.argsort(np.argsort(keys, axis=1), axis=1) < k[:, None]
    r_proxy = r_true.copy()
    values = rng.uniform(lo, hi, (n, n_outputs))
    bad = wrong & (np.abs(values - r_true) < min_gap)
    while bad.any():  # rejection: redraw the values too close to the ground truth
        values[bad] = rng.uniform(lo, hi, int(bad.sum()))
        bad = wrong & (np.abs(values - r_true) < min_gap)
    r_proxy[wrong] = values[wrong]
    return Bandit(r_true=r_true, r_proxy=r_proxy, init_logits=logits)


def _entropy_range(entropy: Any) -> tuple[float, float]:  # any value: checked here
    pair = (entropy, entropy) if isinstance(entropy, (int, float)) and not isinstance(entropy, bool) else entropy
    try:
        low, high = (float(x) for x in pair)
    except (TypeError, ValueError):
        raise ValueError(f"entropy must be a number in (0, 1] or a pair (low, high); got {entropy!r}") from None
    if not 0 < low <= high <= 1:
        raise ValueError(f"entropy must lie in (0, 1] with low <= high; got {entropy!r}")
    return low, high


def _random_rewards(rng: np.random.Generator, n: int, n_out: int) -> np.ndarray:
    """(n, n_out) ground truths, sorted from best (1) to worst (-1): y0 best, then mediocre, then bad outputs."""
    n_med = rng.integers(1, n_out - 1, n)                       # 1 .. N-2 mediocre outputs
    med = np.sort(rng.uniform(*MEDIOCRE_RANGE, (n, n_out)), axis=1)[:, ::-1]
    bad = np.sort(rng.uniform(*BAD_RANGE, (n, n_out)), axis=1)[:, ::-1]
    j = np.arange(n_out)[None, :]
    rows = np.arange(n)[:, None]
    med_idx = np.clip(j - 1, 0, n_out - 1)                      # the k-th best mediocre output is y_{1+k}
    bad_idx = np.clip(j - 1 - n_med[:, None], 0, n_out - 1)     # the k-th best bad output is y_{1+m+k}
    r = np.where(j <= n_med[:, None], med[rows, med_idx], bad[rows, bad_idx])
    r[:, 0] = 1.0
    r[:, -1] = -1.0
    return r


def _normalised_entropy(logits: np.ndarray) -> np.ndarray:
    """H(softmax(logits)) / log N per row."""
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -(np.exp(logp) * logp).sum(-1) / math.log(logits.shape[-1])


def _logits_with_entropy(g: np.ndarray, levels: np.ndarray, iterations: int = 80) -> np.ndarray:
    """Scale each row of g so that softmax(s g) has normalised entropy ``levels`` (bisection on s >= 0)."""
    lo = np.zeros(len(g))
    hi = np.ones(len(g))
    while True:  # grow the upper end until the entropy there is below the level
        above = _normalised_entropy(hi[:, None] * g) > levels
        if not above.any():
            break
        hi[above] *= 2
    for _ in range(iterations):
        mid = (lo + hi) / 2
        too_high = _normalised_entropy(mid[:, None] * g) > levels
        lo = np.where(too_high, mid, lo)
        hi = np.where(too_high, hi, mid)
    return ((lo + hi) / 2)[:, None] * g


def initial_entropy(problem: Bandit) -> np.ndarray:
    """Normalised entropy of the initial policy, H(pi_0) / log N, shape (B,): 1 = uniform, near 0 = deterministic."""
    p = problem.init_probs
    h = -(p * problem.init_logits).sum(-1) / math.log(problem.n_outputs)
    return h.numpy()


def roles(problem: Bandit) -> np.ndarray:
    """(B, N) array of "best" (ground-truth optimum), "mediocre" (r_G above the midpoint of its range) or "bad"."""
    r = problem.r_true.numpy()
    top, bottom = r.max(-1, keepdims=True), r.min(-1, keepdims=True)
    return np.where(r >= top, "best", np.where(r > (top + bottom) / 2, "mediocre", "bad"))


def describe_instance(problem: Bandit, instance: int) -> pd.DataFrame:
    """The numbers of one instance that the rules read, one row per output.

    Columns: output, role, r_true, r_proxy, error (the proxy differs), pi0, A_G0 and A_P0 (advantages at pi_0),
    velocity (the logit's speed under gradient flow on the proxy, chapter 2; pi_0 A_P0 for a tabular policy) and
    term (the output's contribution to dV_G/dt at the start; pi_0^2 A_G0 A_P0 for a tabular policy), from
    :mod:`labsupport.theory`. ``frame.attrs`` holds V_G0, V_P0 and dV_G/dt.
    """
    count("instance", instance)
    if instance >= problem.batch_size:
        raise ValueError(f"instance must be below the batch size {problem.batch_size}; got {instance}")
    one = problem.rows([instance])
    (v_g,), (v_p,) = theory.values(one)
    frame = pd.DataFrame({
        "output": list(one.names), "role": roles(one)[0], "r_true": one.r_true.numpy()[0],
        "r_proxy": one.r_proxy.numpy()[0], "error": one.errors().numpy()[0], "pi0": one.init_probs.numpy()[0],
        "A_G0": advantages(one, "true")[0], "A_P0": advantages(one, "proxy")[0],
        "velocity": theory.logit_velocity(one)[0], "term": theory.value_rate_terms(one)[0]})
    frame.attrs.update(V_G0=float(v_g), V_P0=float(v_p), dVG_dt=float(theory.value_rate(one)[0]))
    return frame


# --------------------------------------------------------------------------------------------- the sweep


def default_algorithms(lr: float = 0.1) -> dict[str, Algorithm]:
    """The five update rules of the stress test, all at learning rate ``lr`` and without KL:
    exact gradient, REINFORCE (one sample, no baseline: the paper's appendix variant), RLOO (k = 4),
    GRPO (group of 8, std-normalised) and PPO (k = 4, 4 epochs, clip 0.2)."""
    return {"exact": ExactPG(lr=lr), "REINFORCE": Reinforce(lr=lr, samples=1, baseline="none"),
            "RLOO": RLOO(lr=lr, k=4), "GRPO": GRPO(lr=lr, group=8), "PPO": PPO(lr=lr, k=4, epochs=4, clip=0.2)}


def stress_test(problems: Bandit, algorithms: Algorithms, steps: int = 2000, *, seeds: int | None = None,
                target: float | None = None, tol: float = 0.05, negligible: float = 1e-6, device: str = "auto",
                memory_mb: float | None = None, progress: bool = True, text: bool = False) -> pd.DataFrame:
    """Predicted and measured category of every error of every instance, for each algorithm.

    For each algorithm, the instances are cut into chunks and :func:`labsupport.categorize` runs on each chunk (one
    batched ``train`` call: the chunk's instances, one counterfactual variant per error, times the seeds), with the
    same ``steps``, ``target``, ``tol`` and ``negligible``. A progress bar counts the chunks.

    Args:
        problems: a batched :class:`Bandit`, e.g. from :func:`random_instances`.
        algorithms: a mapping name -> algorithm (e.g. :func:`default_algorithms`) or a sequence of algorithms
            (named by class).
        steps: horizon of every measurement (SGD steps; PPO: sampling rounds).
        seeds: runs per variant for sampled algorithms (``categorize``'s default, 16, when None); the exact gradient
            always uses one.
        target, tol, negligible: as in :func:`labsupport.categorize`.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
        memory_mb: memory budget of one chunk's measuring run; default 256 MB on the CPU, 4096 MB on a GPU.
        progress: show the progress bar.
        text: also keep ``categorize``'s ``rule`` and ``evidence`` sentences (memory-hungry for large sweeps).

    Returns:
        pandas DataFrame, one row per (instance, error, algorithm), columns :data:`COLUMNS`: instance (row of
        ``problems``), algorithm, output, role, n_errors (errors in that instance), entropy (normalised initial
        entropy), V_G0 (initial expected ground-truth reward: at or above the target every verdict is "benign"),
        pi0, r_true, r_proxy, A_G0 and A_P0 (advantages at pi_0), predicted, kind, measured, effect (as in
        ``categorize``), basis (what the verdict rests on, see :data:`BASES`) and agree (predicted == measured;
        False when the rules are silent).
    """
    if not isinstance(problems, Bandit):
        raise ValueError(f"problems must be a labsupport.Bandit; got {type(problems).__name__}")
    algos = _named(algorithms)
    count("steps", steps, minimum=1)
    if seeds is not None:
        count("seeds", seeds, minimum=1)
    dev = resolve_device(device)
    budget = (4096 if dev.type == "cuda" else 256) if memory_mb is None else positive("memory_mb", memory_mb)

    n_err = problems.errors().sum(-1).numpy()
    total_chunks = {name: _chunks(n_err, _seeds(a, seeds), problems.n_outputs, budget)
                    for name, a in algos.items()}
    bar = None
    if flag("progress", progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(c) for c in total_chunks.values()), desc="stress test", unit="chunk")
    frames = []
    for name, algo in algos.items():
        if bar is not None:
            bar.set_postfix(algorithm=name)
        for start, stop in total_chunks[name]:
            part = categorize(problems.rows(range(start, stop)), algorithm=algo, steps=steps, target=target, tol=tol,
                              seeds=_seeds(algo, seeds), negligible=negligible, device=str(dev), progress=False)
            frames.append(part.assign(run=part["run"] + start, algorithm=name))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return _tidy(problems, frames, text, n_err)


def _named(algorithms: Algorithms) -> dict[str, Algorithm]:
    if isinstance(algorithms, Algorithm):
        algorithms = [algorithms]
    if isinstance(algorithms, Mapping):
        algos = {str(k): v for k, v in algorithms.items()}
    elif isinstance(algorithms, Sequence):
        algos = {type(a).__name__: a for a in algorithms}
        if len(algos) != len(algorithms):
            raise ValueError("algorithms: two algorithms of the same class need names; pass a dict name -> algorithm")
    else:
        raise ValueError(f"algorithms must be a dict name -> algorithm or a list of algorithms; got {algorithms!r}")
    if not algos:
        raise ValueError("algorithms must name at least one algorithm")
    for name, a in algos.items():
        if not isinstance(a, Algorithm):
            raise ValueError(f"algorithms[{name!r}] must be a labsupport algorithm such as ExactPG(); got {a!r}")
    return algos


def _seeds(algo: Algorithm, seeds: int | None) -> int:
    if algo.samples_per_step == 0:
        return 1
    return SAMPLED_SEEDS if seeds is None else seeds


def _chunks(n_err: np.ndarray, seeds: int, n_out: int, budget_mb: float) -> list[tuple[int, int]]:
    """Contiguous (start, stop) ranges of instances whose runs (instances + variants, times seeds) fit the budget."""
    runs = (1 + n_err) * seeds
    per_chunk = max(int(budget_mb * 2**20 // (n_out * _BYTES_PER_RUN_OUTPUT)), int(runs.max()))
    bounds, start, used = [], 0, 0
    for i, r in enumerate(runs.tolist()):
        if used + r > per_chunk and i > start:
            bounds.append((start, i))
            start, used = i, 0
        used += r
    if start < len(runs):
        bounds.append((start, len(runs)))
    return bounds


def _tidy(problems: Bandit, frames: list[pd.DataFrame], text: bool, n_err: np.ndarray) -> pd.DataFrame:
    columns = COLUMNS + (["rule", "evidence"] if text else [])
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True).rename(columns={"run": "instance"})
    index = {name: i for i, name in enumerate(problems.names)}
    b, y = frame["instance"].to_numpy(), frame["output"].map(index).to_numpy()
    frame["role"] = roles(problems)[b, y]
    frame["n_errors"] = n_err[b]
    frame["entropy"] = initial_entropy(problems)[b]
    frame["V_G0"] = (problems.init_probs * problems.r_true).sum(-1).numpy()[b]
    frame["A_G0"] = advantages(problems, "true")[b, y]
    frame["A_P0"] = advantages(problems, "proxy")[b, y]
    frame["agree"] = frame["predicted"] == frame["measured"]
    frame["effect"] = frame["effect"].astype(float)
    evidence = frame["evidence"].astype(str)
    frame["basis"] = np.where(evidence.str.contains("either way"), BASES[2],
                              np.where(evidence.str.contains("a bound"), BASES[1], BASES[0]))
    frame = frame[columns]
    for c in ("algorithm", "output", "role", "predicted", "kind", "measured", "basis"):
        frame[c] = frame[c].astype("category")
    return frame


# --------------------------------------------------------------------------------------------- summaries


def add_entropy_bins(frame: pd.DataFrame, edges: Sequence[float] = ENTROPY_EDGES) -> pd.DataFrame:
    """A copy of ``frame`` with a column ``entropy_bin``: labels such as "0.40-0.70" for the bins of ``edges``
    (left-open, right-closed; the first bin also holds its left edge)."""
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be at least two increasing numbers; got {edges!r}")
    labels = [f"{a:.2f}-{b:.2f}" for a, b in zip(edges, edges[1:])]
    out = frame.copy()
    out["entropy_bin"] = pd.cut(out["entropy"], edges, labels=labels, include_lowest=True)
    return out


def _groups(by: str | Sequence[str] | None) -> list[str]:
    return [] if by is None else [by] if isinstance(by, str) else list(by)


def agreement(frame: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Agreement of the rules with the measurement, per group of ``by`` (a column name or a list; None: overall).

    Columns: errors (rows), classified (rows where the rules make a prediction, i.e. predicted != "unclassified"),
    agreement (share of the classified rows whose measured category equals the predicted one), unclassified (share of
    rows where the rules are silent), and the share of each measured category among the unclassified rows
    (``unclassified_<category>``).
    """
    keys = _groups(by)
    taken = [k for k in keys if k in ("errors", "classified", "agreement", "unclassified")]
    if taken:
        raise ValueError(f"agreement: by={by!r} names the output column(s) {taken}; rename the grouping column")
    need = ["predicted", "measured", *keys]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"agreement: the frame has no column(s) {missing}")
    data = frame.assign(_classified=frame["predicted"].astype(str) != "unclassified",
                        _agree=frame["predicted"].astype(str) == frame["measured"].astype(str))
    data["_hit"] = data["_agree"] & data["_classified"]
    for m in MEASURED:
        data[f"_u_{m}"] = ~data["_classified"] & (data["measured"].astype(str) == m)

    def summarise(g: pd.DataFrame) -> dict:
        n, c = len(g), int(g["_classified"].sum())
        row = dict(errors=n, classified=c, agreement=g["_hit"].sum() / c if c else float("nan"),
                   unclassified=(n - c) / n if n else float("nan"))
        for m in MEASURED:
            row[f"unclassified_{m}"] = g[f"_u_{m}"].sum() / (n - c) if n > c else float("nan")
        return row

    if not keys:
        return pd.DataFrame([summarise(data)])
    rows = [dict(zip(keys, k if isinstance(k, tuple) else (k,)), **summarise(g))
            for k, g in data.groupby(keys, observed=True, sort=True)]
    return pd.DataFrame(rows)


def confusion(frame: pd.DataFrame, by: str | Sequence[str] | None = None, wide: bool = False) -> pd.DataFrame:
    """Confusion matrix of predicted (rows) against measured (columns) categories, per group of ``by``.

    Tidy by default: one row per (group, predicted, measured) with every category pair present (zeros included),
    columns count and share (count / number of rows with that predicted category in the group). ``wide=True``
    returns the counts as a table: index (group..., predicted), one column per measured category.
    """
    keys = _groups(by)
    missing = [c for c in ["predicted", "measured", *keys] if c not in frame.columns]
    if missing:
        raise ValueError(f"confusion: the frame has no column(s) {missing}")
    data = frame[keys + ["predicted", "measured"]].astype({"predicted": str, "measured": str})
    counts = data.groupby(keys + ["predicted", "measured"], observed=True).size()
    groups = [()] if not keys else list(dict.fromkeys(
        k if isinstance(k, tuple) else (k,) for k in data[keys].drop_duplicates().sort_values(keys).itertuples(
            index=False, name=None)))
    rows = []
    for g in groups:
        for p in CATEGORIES:
            for m in MEASURED:
                key = (*g, p, m)
                rows.append(dict(zip(keys, g), predicted=p, measured=m, count=int(counts.get(key, 0))))
    out = pd.DataFrame(rows)
    totals = out.groupby(keys + ["predicted"], sort=False)["count"].transform("sum")
    out["share"] = np.where(totals > 0, out["count"] / totals.where(totals > 0, 1), np.nan)
    if wide:
        table = out.pivot_table(index=keys + ["predicted"], columns="measured", values="count", sort=False)
        return table[list(MEASURED)].astype(int)
    return out


def failures(frame: pd.DataFrame, algorithm: str | None = None) -> pd.DataFrame:
    """The rows where the rules made a prediction and the measurement disagrees, largest |effect| first
    (rows without an effect, compared on final values, last)."""
    rows = frame[(frame["predicted"].astype(str) != "unclassified") & ~frame["agree"].astype(bool)]
    if algorithm is not None:
        rows = rows[rows["algorithm"].astype(str) == algorithm]
    order = rows["effect"].abs().fillna(-1).sort_values(ascending=False).index
    return rows.loc[order]


__all__ = [
    "BASES", "COLUMNS", "ENTROPY_EDGES", "add_entropy_bins", "agreement", "confusion", "default_algorithms",
    "describe_instance", "failures", "initial_entropy", "random_instances", "roles", "stress_test",
]
