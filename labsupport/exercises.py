"""Exercises inside the labs: self-checks that say what is wrong, and "predict, then run" comparisons.

Every check takes what the reader wrote (a function, or a prediction), compares it with what labsupport itself
computes (no second implementation of the science lives here), and returns a :class:`Verdict`: ``passed`` and a
message that says *what* is wrong, for which input, and what the likely slip is. A check never raises: a function that
raises, returns ``None`` or returns the wrong shape gets a verdict that says so, because the book executes every cell.
A verdict shows itself as its message (a small coloured box in JupyterLab and the book) when it is a cell's last
value, and ``bool(verdict)`` is ``passed``.

Two kinds of exercise:

* **write the code**: the reader completes a function; ``check_<name>(fn)`` calls it on several inputs, edge cases
  included, and reports the first one it gets wrong (e.g. "for rewards [1, 0, 0] your advantages are [...]; expected
  [...]: did you leave the sampled output itself in its baseline?").
* **predict, then run**: the reader writes a prediction (one of a few named choices) before running the experiment;
  ``check_<name>(prediction)`` runs it, shows the outcome and why, and compares. A missing prediction does not pass.
  :func:`compare_prediction` is the generic part, for new exercises of this kind.

Layout of one exercise in a lab notebook (four cells, in this order; the tests find them by their tags, so the tests
cannot drift from the notebook)::

    markdown  tags ["exercise"]           metadata {"exercise": {"id": "6.3", "kind": "code"}}   (or "predict")
              "### Exercise 6.3: ..." : the task, and what the function receives and returns
    code      tags ["exercise-starter"]   a placeholder that runs: ``def f(...): return None`` or ``prediction = None``
    code      tags ["exercise-check"]     one expression: ``ex.check_f(f)`` (the verdict is the cell's value)
    code      tags ["exercise-solution", "hide-cell"]   the solution, ending with the same check (it then passes);
              the book executes it and hides it behind a toggle

The solution cell is executed by the book build, so the lab keeps working after it; names it defines must not be
used by the lab's later cells. Use the exercise's id ("<lab>.<n>") as the ``exercise`` argument of the checks, and
import the module in the lab's first cell as ``from labsupport import exercises as ex``. ``tests/test_exercises.py``
checks every exercise of every lab it lists: the starter fails with a message, the solution passes.

Links and references in lab notebooks, so that they read the same in JupyterLab and in the book: a chapter is linked
by its source file relative to the notebook, written ``../../book/chapters/05-stress-testing.md`` (the book's
copy of the notebook sits in ``book/notebooks/``, so the book resolves the link to the chapter's page; JupyterLab,
started at the repository root, resolves it to the chapter's source); citations are plain text (Author et al., year)
and equations are named in words, not with ``{cite}`` or ``{eq}`` roles, which JupyterLab shows raw.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Verdict",
    "check_common_bad_prediction",
    "check_credits",
    "check_grpo_advantages",
    "check_hacc_one_prompt",
    "check_predicted_category",
    "check_rate_change",
    "check_rloo_advantages",
    "check_silent_prediction",
    "check_stalling_prediction",
    "compare_prediction",
]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one self-check: ``passed`` and a message for the reader (shown as the cell's output)."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"Exercise {self.exercise}: {mark}. {self.message}"

    def _repr_html_(self) -> str:
        """The verdict as a small box (green when passed, red when not), the message escaped: it holds names such
        as r_P(y*) that Markdown would read as emphasis."""
        colour, mark = ("#009E73", "passed") if self.passed else ("#D55E00", "not yet")
        return (f'<div style="border-left: 4px solid {colour}; padding: 0.2em 0.8em">'
                f"<strong>Exercise {html.escape(self.exercise)}: {mark}.</strong> {html.escape(self.message)}</div>")


def _fmt(x: Any) -> str:
    """Numbers as the messages print them: 4 significant digits, arrays as lists."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return f"{float(a):.4g}"
    return "[" + ", ".join(f"{v:.4g}" for v in a.ravel()) + "]"


def _call(exercise: str, fn: Callable, *args) -> tuple[Any, Verdict | None]:
    """``fn(*args)``, or a verdict that says why there is no usable result (not callable, raised, returned None)."""
    if not callable(fn):
        return None, Verdict(exercise, False, f"pass your function itself (no parentheses); got {fn!r}")
    shown = ", ".join(_fmt(a) if isinstance(a, (int, float, np.ndarray, list)) else repr(a) for a in args)
    try:
        value = fn(*args)
    except Exception as error:  # noqa: BLE001 (the reader's code may raise anything: it becomes the verdict)
        return None, Verdict(exercise, False, f"your function raised {type(error).__name__}: {error} "
                                              f"(called with {shown})")
    if value is None or value is Ellipsis:
        return None, Verdict(exercise, False, f"your function returned {value!r} (called with {shown}): replace the "
                                              "placeholder with your code")
    return value, None


def _numbers(exercise: str, value: Any, shape: tuple[int, ...], what: str) -> tuple[np.ndarray | None,
                                                                                     Verdict | None]:
    """``value`` as a float array of the given shape, or a verdict that says what it is instead."""
    try:
        a = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
    except (TypeError, ValueError):
        return None, Verdict(exercise, False, f"{what} should be numbers; got {value!r}")
    if a.shape != shape:
        return None, Verdict(exercise, False, f"{what} should have shape {shape}; got shape {a.shape} ({value!r})")
    return a, None


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-6) -> bool:
    return bool(np.all(np.isfinite(a)) and np.allclose(a, b, rtol=tol, atol=tol))


# ---------------------------------------------------------------------------------------------- predict, then run


def compare_prediction(exercise: str, prediction: Any, outcome: str, choices: Sequence[str], why: str) -> Verdict:
    """Compare a reader's prediction with the outcome of the experiment, and say why the outcome is what it is.

    ``choices`` are the answers the exercise offers (compared without regard to case or surrounding spaces);
    ``outcome`` must be one of them; ``why`` explains the outcome with the numbers of the run. A prediction of
    ``None`` (not written yet) or outside the choices does not pass, and the message still shows the outcome.
    """
    names = [c.lower() for c in choices]
    if outcome.lower() not in names:
        raise ValueError(f"outcome must be one of {list(choices)}; got {outcome!r}")
    if prediction is None or prediction is Ellipsis:
        return Verdict(exercise, False, f"write your prediction first (one of {list(choices)}), then run this cell "
                                        f"again. The outcome: {outcome}. {why}")
    guess = str(prediction).strip().lower()
    if guess not in names:
        return Verdict(exercise, False, f"your prediction {prediction!r} is not one of {list(choices)}. "
                                        f"The outcome: {outcome}. {why}")
    if guess == outcome.lower():
        return Verdict(exercise, True, f"you predicted {outcome}, and so it is. {why}")
    return Verdict(exercise, False, f"you predicted {guess}; the outcome is {outcome}. {why}")


# ---------------------------------------------------------------------------------------------- lab 5


def _rule_cases():
    """Bandits whose errors cover every rule of the paper (the toy's canonical errors, a never-sampled one, a silent
    one) plus random instances of chapter 5's sweep, several with more than one error."""
    import labsupport as ls
    from labsupport import sweeps
    proxy = ls.problems.paper_proxy
    toy = ls.paper_bandit(0.05).with_rewards(r_proxy=np.stack([
        proxy({"y_med": -1.0}),            # demoted mediocre output: beneficial
        proxy({"y*": -1.0}),               # hides the best output: harmful
        proxy({"bad1": 0.5}),              # stalling: harmful
        proxy({"bad1": 1.5}),              # reward hacking: harmful
        proxy({"bad1": -0.5}),             # below the mean: benign
        proxy({"y*": 1.4}),                # both advantages positive: unclassified
    ]))
    rare = ls.Bandit(r_true=[1, -1, -1], r_proxy=[1, 2, -1], init_probs=[0.5, 1e-9, 0.5 - 1e-9])   # never sampled
    return [toy, rare, sweeps.random_instances(30, errors="mixed", seed=5)]


_RULE_HINTS = {
    "never sampled": "an output with pi_0 below 1e-6 is never sampled: its error is benign whatever the rewards",
    "below the mean": "when neither reward puts the output above its mean (A_G0 <= 0 and A_P0 <= 0), the error is benign",
    "stalling": "A_P0 > 0 >= A_G0 is harmful (the proxy pulls probability to an output the truth does not want)",
    "reward hacking": "A_P0 > 0 >= A_G0 is harmful (here the output is even proxy-optimal: reward hacking)",
    "hides the best output": "A_G0 > 0 >= A_P0 is beneficial only for a mediocre output; for the best output it is "
                             "harmful: check whether y is ground-truth optimal",
    "demoted mediocre output": "A_G0 > 0 >= A_P0 on an output that is not the best is beneficial: the proxy stops the "
                               "policy from stalling on it",
    "none": "with both advantages positive the rules are silent: return 'unclassified'",
}


def check_predicted_category(fn: Callable, exercise: str = "5.1") -> Verdict:
    """Exercise: ``fn(r_true, r_proxy, pi0, y) -> str``, the category the paper's rules predict for the error on
    output ``y`` (arrays of shape (N,)): "harmful", "benign", "beneficial" or "unclassified".

    Expected: :func:`labsupport.theory.predict` on the toy's canonical errors, a never-sampled error and 30 random
    instances of chapter 5 (mixed error counts)."""
    from labsupport import theory
    total = 0
    for problem in _rule_cases():
        for row in theory.predict(problem):
            b, y = row["run"], row["index"]
            r_true, r_proxy = problem.r_true[b].numpy(), problem.r_proxy[b].numpy()
            pi0 = problem.init_probs[b].numpy()
            value, failed = _call(exercise, fn, r_true.copy(), r_proxy.copy(), pi0.copy(), y)
            if failed is not None:
                return failed
            if str(value).strip().lower() != row["predicted"]:
                return Verdict(exercise, False,
                               f"for r_true = {_fmt(r_true)}, r_proxy = {_fmt(r_proxy)}, pi0 = {_fmt(pi0)} and the "
                               f"error on output {y}, you said {value!r}; the rules say {row['predicted']!r} "
                               f"({row['kind']}): {row['rule']}. Hint: {_RULE_HINTS[row['kind']]}. "
                               + (f"(Right on the {total} errors checked before this one.)" if total else ""))
            total += 1
    return Verdict(exercise, True, f"your rules agree with labsupport's on all {total} errors, every rule included.")


def check_rate_change(fn: Callable, exercise: str = "5.2") -> Verdict:
    """Exercise: ``fn(r_true, pi0, e, delta) -> float``, the change of the initial rate dV_G/dt when the proxy, equal
    to r_true, gets r_P(e) + delta (arrays of shape (N,)).

    Expected: the difference of :func:`labsupport.theory.value_rate` with and without the error, on the toy and on
    random instances."""
    import labsupport as ls
    from labsupport import sweeps, theory
    toy = ls.paper_bandit(0.05)
    rand = sweeps.random_instances(4, seed=7)
    cases = [(toy, 0, 2, 0.3), (toy, 0, 2, 1.5), (toy, 0, 1, -1.8), (toy, 0, 0, 0.4)]
    cases += [(rand, b, e, d) for b, e, d in [(0, 3, 0.7), (1, 0, -0.5), (2, 5, 1.2), (3, 2, -1.1)]]
    for problem, b, e, delta in cases:
        one = problem.rows([b])
        r_true, pi0 = one.r_true[0].numpy(), one.init_probs[0].numpy()
        r_proxy = r_true.copy()
        r_proxy[e] += delta
        expected = float(theory.value_rate(one.with_rewards(r_proxy=r_proxy))[0]
                         - theory.value_rate(one.with_rewards(r_proxy=r_true))[0])
        value, failed = _call(exercise, fn, r_true.copy(), pi0.copy(), e, delta)
        if failed is not None:
            return failed
        got, failed = _numbers(exercise, value, (), "the rate change")
        if failed is not None:
            return failed
        if _close(got, np.array(expected)):
            continue
        a_g = theory.advantages(one, "true")[0]
        own_term = delta * pi0[e] ** 2 * a_g[e]       # the error's own term only: the baseline's move left out
        if _close(got, np.array(own_term)):
            hint = ("this is only the error's own term delta pi(e)^2 A_G(e): the error also raises V_P by "
                    "delta pi(e), which lowers the proxy advantage of every output (the -S part)")
        elif _close(got, np.array(-expected)):
            hint = "the sign is flipped"
        else:
            hint = "compare with delta pi(e) (pi(e) A_G(e) - S), S = sum_y pi(y)^2 A_G(y), A_G at pi0"
        return Verdict(exercise, False, f"for r_true = {_fmt(r_true)}, pi0 = {_fmt(pi0)}, e = {e}, delta = {delta}: "
                                        f"you return {_fmt(got)}; expected {_fmt(expected)}. Hint: {hint}.")
    return Verdict(exercise, True, f"your formula matches labsupport's dV_G/dt on all {len(cases)} cases.")


def check_stalling_prediction(prediction: Any, exercise: str = "5.3") -> Verdict:
    """Predict, then run: the measured category of the toy's "stalling" error (pi_0(y*) = 0.15, r_P(bad1) = 0.5),
    one of "harmful", "benign", "beneficial". The outcome is :func:`labsupport.categorize`'s measurement."""
    import labsupport as ls
    problem = ls.paper_bandit(0.15).with_rewards(r_proxy=ls.problems.paper_proxy({"bad1": 0.5}))
    row = ls.categorize(problem, steps=2000).iloc[0]
    why = (f"The rules predict {row.predicted} ({row.kind}); the measurement (exact PG, learning rate 0.1, 2,000 "
           f"steps) says {row.measured}: {row.evidence}. Raising bad1 raises V_P, the baseline of every proxy "
           "advantage: y_med, the likelier of y* and y_med, loses more of its pull, so y* overtakes it sooner.")
    return compare_prediction(exercise, prediction, str(row.measured), ("harmful", "benign", "beneficial"), why)


# ---------------------------------------------------------------------------------------------- lab 6


def check_common_bad_prediction(prediction: Any, exercise: str = "6.1") -> Verdict:
    """Predict, then run: how the RLOO gain changes when a good learned reward model is perturbed to reward one
    *common* bad response per prompt: "about the same", "lower but positive" or "negative". The outcome is read from
    the committed study (:func:`labsupport.rlhf.load_study`), for every initial policy."""
    from labsupport import rlhf
    study = rlhf.load_study()
    proxies = study[~study.reference]
    pert = proxies[proxies.rm_perturbation == "reward-common-bad"]
    kinds, lines = [], []
    for _, p in pert.iterrows():
        base = proxies[(proxies.rm == p.rm_base) & (proxies.init == p.init)].iloc[0]
        change = p.gain - base.gain
        kinds.append("about the same" if abs(change) < 0.05 else "negative" if p.gain < 0 else "lower but positive")
        lines.append(f"{p.init}: Acc {base.onpolicy_acc:.3f} -> {p.onpolicy_acc:.3f}, gain {base.gain:+.2f} -> "
                     f"{p.gain:+.2f}")
    outcome = Counter(kinds).most_common(1)[0][0]
    why = ("In the committed study (" + "; ".join(lines) + "): one mis-scored response per prompt moves the accuracy by "
           "a point or two, yet the policy learns to produce that response, because the initial policy samples it "
           "often: under a reward that ranks it first, it attracts probability from the start.")
    return compare_prediction(exercise, prediction, outcome, ("about the same", "lower but positive", "negative"), why)


def _hacc_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """(r_true, r_proxy) of one prompt's responses: hand-made cases (a forgiven mis-ranking, one on the boundary
    r_P(y-) = V_hat, ties in r_G) and random ones."""
    rng = np.random.default_rng(6)
    cases = [(np.array([1.0, 0.8, -1.0]), np.array([0.2, 0.9, -1.0])),     # mis-ranked, not forgiven
             (np.array([1.0, 0.0, -1.0, 0.5]), np.array([0.0, 0.5, 1.0, -1.0])),
             (np.array([1.0, 0.5, 0.5, 0.0]), np.array([0.0, 1.0, 0.2, -0.6])),  # ties in r_G; V_hat = 0.15
             (np.array([1.0, 0.0, 0.0]), np.array([-0.5, 0.0, 0.5])),      # r_P(y-) = 0 = V_hat: boundary, not forgiven
             ]
    for _ in range(4):
        cases.append((rng.integers(0, 4, 8).astype(float), rng.normal(size=8).round(2)))
    return cases


def check_hacc_one_prompt(fn: Callable, exercise: str = "6.2") -> Verdict:
    """Exercise: ``fn(r_true, r_proxy) -> float``, HAcc over the untied pairs of one prompt's responses (arrays
    (K,)), with V_hat = the mean proxy reward of the responses.

    Expected: :func:`labsupport.metrics.hacc` on the pairs of :func:`labsupport.metrics.preference_pairs`."""
    from labsupport import metrics
    cases = _hacc_cases()
    for r_true, r_proxy in cases:
        pairs = metrics.preference_pairs(np.zeros(len(r_true), int), r_true)
        rc, rr = r_proxy[pairs.chosen], r_proxy[pairs.rejected]
        v_hat = np.full(len(rc), r_proxy.mean())
        expected = metrics.hacc(rc, rr, v_hat)
        value, failed = _call(exercise, fn, r_true.copy(), r_proxy.copy())
        if failed is not None:
            return failed
        got, failed = _numbers(exercise, value, (), "HAcc")
        if failed is not None:
            return failed
        if _close(got, np.array(expected)):
            continue
        # the likely slips, each computed with the metrics themselves
        slips = [(metrics.acc(rc, rr), "this is Acc: a mis-ranked pair counts as right when r_P(y-) < V_hat"),
                 (metrics.hacc(rc, rr, v_hat + 1e-12), "you also forgave r_P(y-) == V_hat; only r_P(y-) < V_hat is "
                                                       "forgiven"),
                 (metrics.hacc(rc, rr, np.full(len(rc), r_true.mean())), "V_hat is the mean *proxy* reward of the "
                                                                         "responses, not the mean ground truth")]
        if pairs.n_ties:
            slips.append((len(rc) * expected / (len(rc) + pairs.n_ties), "you counted the tied pairs (equal r_G) "
                                                                         "in the denominator; drop them"))
        hint = next((h for v, h in slips if _close(got, np.array(v))), "list the pairs with r_G(y+) > r_G(y-) and "
                                                                         "check each against the definition")
        return Verdict(exercise, False, f"for r_true = {_fmt(r_true)} and r_proxy = {_fmt(r_proxy)} (V_hat = "
                                        f"{r_proxy.mean():.4g}, {len(rc)} pairs, {pairs.n_ties} ties) your HAcc is "
                                        f"{_fmt(got)}; expected {expected:.4g}. Hint: {hint}.")
    return Verdict(exercise, True, f"your HAcc matches labsupport.metrics.hacc on all {len(cases)} prompts, ties and "
                                   "the boundary case included.")


def check_rloo_advantages(fn: Callable, exercise: str = "6.3") -> Verdict:
    """Exercise: ``fn(rewards) -> array``, RLOO's advantages of k sampled rewards (k,): each reward minus the mean
    of the *other* k - 1.

    Expected: :meth:`labsupport.RLOO.advantages`; the likely slips are recognised with
    :meth:`labsupport.Reinforce.advantages` (the mean of all k, or no baseline)."""
    import torch

    import labsupport as ls
    cases = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.2, 0.9, -1.0, 0.5], [1.0, 1.0, 1.0, 1.0], [0.8, -1.0]]
    for rewards in cases:
        r = torch.tensor([rewards], dtype=torch.float64)
        k = len(rewards)
        expected = ls.RLOO(k=k).advantages(r)[0].numpy()
        value, failed = _call(exercise, fn, np.array(rewards))
        if failed is not None:
            return failed
        got, failed = _numbers(exercise, value, (k,), "the advantages")
        if failed is not None:
            return failed
        if _close(got, expected):
            continue
        mean_base = ls.Reinforce(samples=k, baseline="mean").advantages(r)[0].numpy()
        if _close(got, mean_base):
            hint = "did you leave the sampled output itself in its baseline? RLOO averages the other k - 1 rewards"
        elif _close(got, np.array(rewards)):
            hint = "you subtracted no baseline"
        elif _close(got, -expected):
            hint = "the sign is flipped: the advantage is the reward minus the baseline"
        else:
            hint = "the baseline of sample i is (sum of all rewards - r_i) / (k - 1)"
        return Verdict(exercise, False, f"for rewards {_fmt(rewards)} your advantages are {_fmt(got)}; expected "
                                        f"{_fmt(expected)}: {hint}.")
    return Verdict(exercise, True, f"your advantages match labsupport's RLOO on all {len(cases)} groups (k from 2 to "
                                   "4, equal rewards included).")


# ---------------------------------------------------------------------------------------------- lab 7


_CREDIT_CASES = [[0, 2, 3, 4, 5, 1], [2, 3, 4, 5, 6, 0], [2, 3, 4, 5, 6, 1], [2, 3, 4, 5, 6, 7], [1, 2, 0, 3, 4, 5],
                 [3, 4, 0, 5, 0, 1], [1, 1, 1, 1, 1, 1], [2, 0, 3, 4, 1, 7], [0, 0, 0, 0, 0, 0]]


def check_credits(fn: Callable, exercise: str = "7.1") -> Verdict:
    """Exercise: ``fn(sequence) -> (binary, partial)`` for one token sequence (a list of ints): binary credit (1 if
    the keyword 0 appears anywhere *and* the last token is the terminator 1, else 0) and partial credit (0.5 per
    constraint met). Expected: :func:`labsupport.verifiable.check`, ``binary_credit`` and ``partial_credit``."""
    from labsupport import verifiable as vf
    c1, c2 = vf.check(np.array(_CREDIT_CASES))
    binary, partial = vf.binary_credit(c1, c2), vf.partial_credit(c1, c2)
    for i, seq in enumerate(_CREDIT_CASES):
        value, failed = _call(exercise, fn, list(seq))
        if failed is not None:
            return failed
        got, failed = _numbers(exercise, value, (2,), "(binary, partial)")
        if failed is not None:
            return failed
        if _close(got, np.array([binary[i], partial[i]])):
            continue
        facts = (f"C1 (keyword 0 anywhere) {'holds' if c1[i] else 'fails'}, C2 (last token is the terminator 1) "
                 f"{'holds' if c2[i] else 'fails'}")
        return Verdict(exercise, False, f"for the sequence {' '.join(map(str, seq))} you return (binary, partial) = "
                                        f"{_fmt(got)}; expected {_fmt([binary[i], partial[i]])}: {facts}.")
    return Verdict(exercise, True, f"your two rewards match labsupport's on all {len(_CREDIT_CASES)} sequences.")


def check_grpo_advantages(fn: Callable, exercise: str = "7.2") -> Verdict:
    """Exercise: ``fn(rewards) -> array``, GRPO's advantages of one group (G,): (r - mean) / (population std + 1e-8),
    so a silent group (all rewards equal) gets 0 everywhere. Expected: :func:`labsupport.verifiable.grpo_advantages`."""
    import torch

    import labsupport as ls
    from labsupport import verifiable as vf
    cases = [[1, 0, 0, 0, 0, 0, 0, 0], [0.5, 0.5, 1, 0, 0.5, 0.5], [0, 0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5, 0.5],
             [1, 1, 0, 1]]
    for rewards in cases:
        r = np.array(rewards, dtype=float)
        expected = vf.grpo_advantages(r)
        value, failed = _call(exercise, fn, r.copy())
        if failed is not None:
            return failed
        got, failed = _numbers(exercise, value, r.shape, "the advantages")
        if failed is not None:
            return failed
        if _close(got, expected):
            continue
        silent = bool(np.all(r == r[0]))
        centred = ls.GRPO(group=len(r), normalize_std=False).advantages(torch.tensor(r[None]))[0].numpy()
        if silent:
            hint = ("this group is silent (all rewards equal, standard deviation 0); the rule's 1e-8 in the "
                    "denominator gives every member advantage 0")
        elif _close(got, centred):
            hint = "you subtracted the mean but did not divide by the standard deviation"
        elif _close(got, expected * np.sqrt((len(r) - 1) / len(r))):
            hint = "you divided by the sample standard deviation (G - 1); GRPO uses the population one (G)"
        else:
            hint = "A_i = (r_i - mean(r)) / (std(r) + 1e-8), population std over the group"
        return Verdict(exercise, False, f"for the group {_fmt(r)} your advantages are {_fmt(got)}; expected "
                                        f"{_fmt(expected)}. Hint: {hint}.")
    return Verdict(exercise, True, f"your advantages match labsupport's GRPO on all {len(cases)} groups, the silent "
                                   "ones included.")


def check_silent_prediction(prediction: Any, exercise: str = "7.3") -> Verdict:
    """Predict, then run: the share of silent GRPO groups (G = 96) under binary credit at regime (c)'s initial policy
    (P(C1) = P(C2) = 0.02, P(both) = 0.0002): "under 10%", "10% to 90%" or "over 90%". The outcome is
    :func:`labsupport.verifiable.silent_probability` at the task of :func:`labsupport.verifiable.make_task`."""
    from labsupport import verifiable as vf
    probs = vf.make_task(0.02, 0.02, 0.0002).outcome_probs().numpy()
    binary = float(vf.silent_probability(probs, 0.0, 96)[0])
    partial = float(vf.silent_probability(probs, 1.0, 96)[0])
    outcome = "under 10%" if binary < 0.1 else "10% to 90%" if binary <= 0.9 else "over 90%"
    why = (f"P(silent) = sum over reward values of P(r = v)^96: under binary credit {binary:.1%} of the groups "
           f"(a group is silent unless one of its 96 outputs is fully correct, and (1 - 0.0002)^96 = "
           f"{(1 - probs[0, 2]) ** 96:.3f}), under partial credit {partial:.2g}: half-correct outputs are common "
           "enough that almost every group has two different rewards.")
    return compare_prediction(exercise, prediction, outcome, ("under 10%", "10% to 90%", "over 90%"), why)
