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
  ``check_<name>(prediction)`` runs it, shows the outcome and why, and compares. A missing prediction, or one that is
  not among the choices (a typo), does not pass and does not see the outcome either: the message asks for a
  prediction and names the choice a typo was probably meant as, so that running the cells top to bottom gives nothing
  away. :func:`compare_prediction` is the generic part, for new exercises of this kind.

Layout of one exercise in a lab notebook (four cells, in this order; the tests find them by their tags, so the tests
cannot drift from the notebook)::

    markdown  tags ["exercise"]           metadata {"exercise": {"id": "6c", "kind": "code"}}   (or "predict")
              "### Lab exercise 6c (write the code): ..." : the task, what the function receives and returns
    code      tags ["exercise-starter"]   a placeholder that runs: ``def f(...): return None`` or ``prediction = None``
    code      tags ["exercise-check"]     one expression: ``ex.check_f(f)`` (the verdict is the cell's value)
    code      tags ["exercise-solution", "hide-cell"]   the solution, ending with the same check (it then passes);
              the book executes it and hides it behind a toggle

The solution cell is executed by the book build, so the lab keeps working after it; names it defines must not be
used by the lab's later cells. Use the exercise's id (the lab's number and a letter, "6c") as the ``exercise``
argument of the checks, and import the module in the lab's first cell as ``from labsupport import exercises as ex``.
``tests/test_exercises.py`` checks every exercise of every lab it lists: the starter fails with a message, the
solution passes.

Names: a lab's exercises are lettered, *Lab exercise 6a*, *6b*, *6c* (headings, verdicts and the lab's text all say
"Lab exercise 6c"), so that they cannot be taken for the chapters' numbered exercises (*Exercise 6.1*, ...). A lab that
mentions a chapter exercise says whose it is: "the chapter's Exercise 6.1", linked to the chapter as below.

Links and references in lab notebooks, so that they read the same in JupyterLab and in the book: a chapter is linked
by its source file relative to the notebook, written ``../book/chapters/05-stress-testing.md`` (JupyterLab,
started at the repository root, and GitHub resolve it from ``notebooks/`` to the chapter's source; the book, whose
copy of the notebook sits in ``book/notebooks/``, reads it as ``../chapters/...``, the chapter's page, through
``book/_ext/lab_links.py``); citations are plain text (Author et al., year)
and equations are named in words, not with ``{cite}`` or ``{eq}`` roles, which JupyterLab shows raw.
"""

from __future__ import annotations

import difflib
import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .problems import Bandit

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
    # labs 1 to 4
    "check_attracts",
    "check_beneficial_proxy",
    "check_exact_gradient",
    "check_gradient_norm",
    "check_halving_prediction",
    "check_prob_velocity",
    "check_proxy_variance_prediction",
    "check_reinforce_direction",
    "check_reward_variance",
    "check_shift_prediction",
    "check_star_prediction",
    "check_time_to_target",
]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one self-check: ``passed`` and a message for the reader (shown as the cell's output).

    ``exercise`` is the lab exercise's id ("1a"); the verdict names it as "Lab exercise 1a"."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"Lab exercise {self.exercise}: {mark}. {self.message}"

    def _repr_html_(self) -> str:
        """The verdict as a small box (green when passed, red when not), the message escaped: it holds names such
        as r_P(y*) that Markdown would read as emphasis."""
        colour, mark = ("#009E73", "passed") if self.passed else ("#D55E00", "not yet")
        return (f'<div style="border-left: 4px solid {colour}; padding: 0.2em 0.8em">'
                f"<strong>Lab exercise {html.escape(self.exercise)}: {mark}.</strong> "
                f"{html.escape(self.message)}</div>")


def _fmt(x: Any) -> str:
    """Numbers as the messages print them: 4 significant digits, arrays as lists."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return f"{float(a):.4g}"
    return "[" + ", ".join(_fmt(v) for v in a) + "]"


def _call(exercise: str, fn: Callable, *args: Any) -> tuple[Any, Verdict | None]:
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


def _shape_words(shape: tuple[int, ...]) -> str:
    """A shape as the messages name it: "a single number", "an array of shape (5,)"."""
    return "a single number" if shape == () else f"an array of shape {shape}"


def _numbers(exercise: str, value: Any, shape: tuple[int, ...], what: str) -> np.ndarray | Verdict:
    """``value`` as a float array of the given shape, or a verdict that says what it is instead (a string, a single
    number where one per output is wanted, an array with an extra axis, ...)."""
    try:
        if isinstance(value, (str, bytes)) or (isinstance(value, (list, tuple)) and
                                               any(isinstance(v, (str, bytes)) for v in value)):
            raise TypeError("text")
        a = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
    except (TypeError, ValueError):
        return Verdict(exercise, False, f"your {what} should be numbers ({_shape_words(shape)}); got {value!r}.")
    if a.shape == shape:
        return a
    got = f"got {_shape_words(a.shape)} ({_fmt(a) if a.size <= 12 else f'{a.size} numbers'})"
    if shape == () and a.size == 1:
        hint = ": return the number itself, e.g. float(x) or x.item(), not an array holding it"
    elif shape == ():
        hint = ": one number in all is wanted, not one per output"
    elif a.size == int(np.prod(shape)):
        hint = f": the right number of entries, but return them as a flat array of shape {shape}"
    elif a.ndim == 0:
        hint = f": one number per entry is wanted, {shape[0]} of them"
    else:
        hint = ""
    return Verdict(exercise, False, f"your {what} should be {_shape_words(shape)}; {got}{hint}.")


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
        return Verdict(exercise, False, f"write your prediction first: set the variable in the cell above to one of "
                                        f"{list(choices)} (in quotes) and run this cell again; the outcome and why "
                                        "are shown once you have predicted.")
    guess = str(prediction).strip().lower()
    if guess not in names:
        meant = [c for c in names if guess and guess in c]
        meant = meant if len(meant) == 1 else difflib.get_close_matches(guess, names, n=1, cutoff=0.6)
        advice = (f"did you mean {choices[names.index(meant[0])]!r}?" if meant else
                  "write one of them as text, in quotes." if not isinstance(prediction, str) else
                  "copy one of them exactly.")
        return Verdict(exercise, False, f"your prediction {prediction!r} is not one of {list(choices)}: {advice} "
                                        "The outcome is shown once your prediction is one of the choices.")
    if guess == outcome.lower():
        return Verdict(exercise, True, f"you predicted {outcome}, and so it is. {why}")
    return Verdict(exercise, False, f"you predicted {guess}; the outcome is {outcome}. {why}")


# ---------------------------------------------------------------------------------------------- lab 5


def _rule_cases():
    """Bandits whose errors cover every rule of the paper (the toy's canonical errors, a never-sampled one, a silent
    one) plus random instances of chapter 5's sweep, several with more than one error."""
    import labsupport as ls
    from labsupport.studies import sweeps
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
    "below the mean": "when neither reward puts the output above its mean (A_G0 <= 0 and A_P0 <= 0), the error is "
                      "benign",
    "stalling": "A_P0 > 0 >= A_G0 is harmful (the proxy pulls probability to an output the truth does not want)",
    "reward hacking": "A_P0 > 0 >= A_G0 is harmful (here the output is even proxy-optimal: reward hacking)",
    "hides the best output": "A_G0 > 0 >= A_P0 is beneficial only for a mediocre output; for the best output it is "
                             "harmful: check whether y is ground-truth optimal",
    "demoted mediocre output": "A_G0 > 0 >= A_P0 on an output that is not the best is beneficial: the proxy stops the "
                               "policy from stalling on it",
    "none": "with both advantages positive the rules are silent: return 'unclassified'",
}


def check_predicted_category(fn: Callable, exercise: str = "5a") -> Verdict:
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
            if str(value).strip().lower() not in theory.CATEGORIES:
                return Verdict(exercise, False, f"your function returned {value!r} (called with r_true = "
                                                f"{_fmt(r_true)}, r_proxy = {_fmt(r_proxy)}, pi0 = {_fmt(pi0)}, y = "
                                                f"{y}), which is not a category: return one of "
                                                f"{list(theory.CATEGORIES)}, as text.")
            if str(value).strip().lower() != row["predicted"]:
                before = (f" (Right on the {total} error{'s' if total > 1 else ''} checked before this one.)"
                          if total else "")
                return Verdict(exercise, False,
                               f"for r_true = {_fmt(r_true)}, r_proxy = {_fmt(r_proxy)}, pi0 = {_fmt(pi0)} and the "
                               f"error on output {y}, you said {value!r}; the rules say {row['predicted']!r} "
                               f"({row['kind']}): {row['rule']}. Hint: {_RULE_HINTS[row['kind']]}.{before}")
            total += 1
    return Verdict(exercise, True, f"your rules agree with labsupport's on all {total} errors, every rule included.")


def check_rate_change(fn: Callable, exercise: str = "5b") -> Verdict:
    """Exercise: ``fn(r_true, pi0, e, delta) -> float``, the change of the initial rate dV_G/dt when the proxy, equal
    to r_true, gets r_P(e) + delta (arrays of shape (N,)).

    Expected: the difference of :func:`labsupport.theory.value_rate` with and without the error, on the toy and on
    random instances."""
    import labsupport as ls
    from labsupport import theory
    from labsupport.studies import sweeps
    toy = ls.paper_bandit(0.05)
    rand = sweeps.random_instances(4, seed=7)
    cases = [(toy, 0, 2, 0.3), (toy, 0, 2, 1.5), (toy, 0, 1, -1.8), (toy, 0, 0, 0.4)]
    cases += [(rand, b, e, d) for b, e, d in [(0, 3, 0.7), (1, 0, -0.5), (2, 5, 1.2), (3, 2, -1.1)]]
    checks = []
    for problem, b, e, delta in cases:
        one = problem.rows([b])
        r_true, pi0 = one.r_true[0].numpy(), one.init_probs[0].numpy()
        r_proxy = r_true.copy()
        r_proxy[e] += delta
        expected = float(theory.value_rate(one.with_rewards(r_proxy=r_proxy))[0]
                         - theory.value_rate(one.with_rewards(r_proxy=r_true))[0])
        a_g = theory.advantages(one, "true")[0]
        own_term = delta * pi0[e] ** 2 * a_g[e]       # the error's own term only: the baseline's move left out
        checks.append(((r_true, pi0, e, delta), f"r_true = {_fmt(r_true)}, pi0 = {_fmt(pi0)}, e = {e}, delta = {delta}",
                       expected, [(own_term, "this is only the error's own term delta pi(e)^2 A_G(e): the error also "
                                             "raises V_P by delta pi(e), which lowers the proxy advantage of every "
                                             "output (the -S part, S = sum_y pi(y)^2 A_G(y); sum_y pi(y) A_G(y) "
                                             "is always 0, so it cannot stand in for S)"),
                                  (-expected, "the sign is flipped"),
                                  (expected / delta, "this is the change per unit of delta; multiply by delta")]))
    return _check_cases(exercise, fn, checks, "rate change",
                        "compare with delta pi(e) (pi(e) A_G(e) - S), S = sum_y pi(y)^2 A_G(y), A_G at pi0",
                        f"your formula matches labsupport's dV_G/dt on all {len(cases)} cases.")


def check_stalling_prediction(prediction: Any, exercise: str = "5c") -> Verdict:
    """Predict, then run: the measured category of the toy's "stalling" error (pi_0(y*) = 0.15, r_P(bad1) = 0.5),
    one of "harmful", "benign", "beneficial". The outcome is :func:`labsupport.categorize`'s measurement."""
    import labsupport as ls
    problem = ls.paper_bandit(0.15).with_rewards(r_proxy=ls.problems.paper_proxy({"bad1": 0.5}))
    row = ls.categorize(problem, steps=2000).iloc[0]
    why = (f"The rules predict {row.predicted} ({row.kind}); the measurement (exact PG, learning rate 0.1, 2,000 "
           f"steps) says {row.measured}: {row.evidence}. Raising bad1 raises V_P, the baseline of every proxy "
           "advantage: y_med, the likelier of y* and y_med, loses more of its pull, so y* overtakes it sooner.")
    return compare_prediction(exercise, prediction, str(row.measured), ls.theory.MEASURED_CATEGORIES, why)


# ---------------------------------------------------------------------------------------------- lab 6


def check_common_bad_prediction(prediction: Any, exercise: str = "6a") -> Verdict:
    """Predict, then run: how the RLOO gain changes when a good learned reward model is perturbed to reward one
    *common* bad response per prompt: "about the same", "lower but positive" or "negative". The outcome is read from
    the committed study (:func:`labsupport.studies.rlhf.load_study`), for every initial policy."""
    from labsupport.studies import rlhf
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
    why = ("In the committed study (" + "; ".join(lines) + "): one mis-scored response per prompt moves the accuracy "
           "by a point or two, yet the policy learns to produce that response, because the initial policy samples it "
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


def check_hacc_one_prompt(fn: Callable, exercise: str = "6b") -> Verdict:
    """Exercise: ``fn(r_true, r_proxy) -> float``, HAcc over the untied pairs of one prompt's responses (arrays
    (K,)), with V_hat = the mean proxy reward of the responses.

    Expected: :func:`labsupport.metrics.hacc` on the pairs of :func:`labsupport.metrics.preference_pairs`."""
    from labsupport import metrics
    cases = _hacc_cases()
    checks = []
    for r_true, r_proxy in cases:
        pairs = metrics.preference_pairs(np.zeros(len(r_true), int), r_true)
        rc, rr = r_proxy[pairs.chosen], r_proxy[pairs.rejected]
        v_hat = np.full(len(rc), r_proxy.mean())
        expected = metrics.hacc(rc, rr, v_hat)
        # the likely slips, each computed with the metrics themselves
        slips = [(metrics.acc(rc, rr), "this is Acc: a mis-ranked pair counts as right when r_P(y-) < V_hat"),
                 (metrics.hacc(rc, rr, v_hat + 1e-12), "you also forgave r_P(y-) == V_hat; only r_P(y-) < V_hat is "
                                                       "forgiven"),
                 (metrics.hacc(rc, rr, np.full(len(rc), r_true.mean())), "V_hat is the mean *proxy* reward of the "
                                                                         "responses, not the mean ground truth")]
        slips += [(len(rc) * expected, "this is the number of pairs ranked right or forgiven; HAcc is their share "
                                       "of the untied pairs"),
                  (100 * expected, "this is a percentage; HAcc is a share between 0 and 1")]
        if pairs.n_ties:
            slips.append((len(rc) * expected / (len(rc) + pairs.n_ties), "you counted the tied pairs (equal r_G) "
                                                                         "in the denominator; drop them"))
        checks.append(((r_true, r_proxy), f"r_true = {_fmt(r_true)} and r_proxy = {_fmt(r_proxy)} (V_hat = "
                                          f"{r_proxy.mean():.4g}, {len(rc)} pairs, {pairs.n_ties} ties)",
                       expected, slips))
    return _check_cases(exercise, fn, checks, "HAcc",
                        "list the pairs with r_G(y+) > r_G(y-) and check each against the definition",
                        f"your HAcc matches labsupport.metrics.hacc on all {len(cases)} prompts, ties and the "
                        "boundary case included.")


def check_rloo_advantages(fn: Callable, exercise: str = "6c") -> Verdict:
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
        got = _numbers(exercise, value, (k,), "advantages")
        if isinstance(got, Verdict):
            return got
        if _close(got, expected):
            continue
        mean_base = ls.Reinforce(samples=k, baseline="mean").advantages(r)[0].numpy()
        if _close(got, mean_base):
            hint = "did you leave the sampled output itself in its baseline? RLOO averages the other k - 1 rewards"
        elif _close(got, np.array(rewards)):
            hint = "you subtracted no baseline"
        elif _close(got, -expected):
            hint = "the sign is flipped: the advantage is the reward minus the baseline"
        elif _close(got, ls.GRPO(group=k).advantages(r)[0].numpy()):
            hint = ("this is GRPO's advantage (the group mean subtracted, then divided by the standard deviation); "
                    "RLOO divides by nothing and leaves each sample out of its own baseline")
        else:
            hint = "the baseline of sample i is (sum of all rewards - r_i) / (k - 1)"
        return Verdict(exercise, False, f"for rewards {_fmt(rewards)} your advantages are {_fmt(got)}; expected "
                                        f"{_fmt(expected)}: {hint}.")
    return Verdict(exercise, True, f"your advantages match labsupport's RLOO on all {len(cases)} groups (k from 2 to "
                                   "4, equal rewards included).")


# ---------------------------------------------------------------------------------------------- lab 7


_CREDIT_CASES = [[0, 2, 3, 4, 5, 1], [2, 3, 4, 5, 6, 0], [2, 3, 4, 5, 6, 1], [2, 3, 4, 5, 6, 7], [1, 2, 0, 3, 4, 5],
                 [3, 4, 0, 5, 0, 1], [1, 1, 1, 1, 1, 1], [2, 0, 3, 4, 1, 7], [0, 0, 0, 0, 0, 0]]


def check_credits(fn: Callable, exercise: str = "7a") -> Verdict:
    """Exercise: ``fn(sequence) -> (binary, partial)`` for one token sequence (a list of ints): binary credit (1 if
    the keyword 0 appears anywhere *and* the last token is the terminator 1, else 0) and partial credit (0.5 per
    constraint met). Expected: :func:`labsupport.studies.verifiable.check`, ``binary_credit`` and ``partial_credit``."""
    from labsupport.studies import verifiable as vf
    c1, c2 = vf.check(np.array(_CREDIT_CASES))
    binary, partial = vf.binary_credit(c1, c2), vf.partial_credit(c1, c2)
    for i, seq in enumerate(_CREDIT_CASES):
        value, failed = _call(exercise, fn, list(seq))
        if failed is not None:
            return failed
        got = _numbers(exercise, value, (2,), "answer (binary, partial)")
        if isinstance(got, Verdict):
            return got
        if _close(got, np.array([binary[i], partial[i]])):
            continue
        facts = (f"C1 (keyword 0 anywhere) {'holds' if c1[i] else 'fails'}, C2 (last token is the terminator 1) "
                 f"{'holds' if c2[i] else 'fails'}")
        return Verdict(exercise, False, f"for the sequence {' '.join(map(str, seq))} you return (binary, partial) = "
                                        f"{_fmt(got)}; expected {_fmt([binary[i], partial[i]])}: {facts}.")
    return Verdict(exercise, True, f"your two rewards match labsupport's on all {len(_CREDIT_CASES)} sequences.")


def check_grpo_advantages(fn: Callable, exercise: str = "7b") -> Verdict:
    """Exercise: ``fn(rewards) -> array``, GRPO's advantages of one group (G,): (r - mean) / (population std + 1e-8),
    so a silent group (all rewards equal) gets 0 everywhere.
    Expected: :func:`labsupport.studies.verifiable.grpo_advantages`."""
    import torch

    import labsupport as ls
    from labsupport.studies import verifiable as vf
    cases = [[1, 0, 0, 0, 0, 0, 0, 0], [0.5, 0.5, 1, 0, 0.5, 0.5], [0, 0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5, 0.5],
             [1, 1, 0, 1]]
    for rewards in cases:
        r = np.array(rewards, dtype=float)
        expected = vf.grpo_advantages(r)
        value, failed = _call(exercise, fn, r.copy())
        if failed is not None:
            return failed
        got = _numbers(exercise, value, r.shape, "advantages")
        if isinstance(got, Verdict):
            return got
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


def check_silent_prediction(prediction: Any, exercise: str = "7c") -> Verdict:
    """Predict, then run: the share of silent GRPO groups (G = 96) under binary credit at regime (c)'s initial policy
    (P(C1) = P(C2) = 0.02, P(both) = 0.0002): "under 10%", "10% to 90%" or "over 90%". The outcome is
    :func:`labsupport.studies.verifiable.silent_probability` at the task of
    :func:`labsupport.studies.verifiable.make_task`."""
    from labsupport.studies import verifiable as vf
    probs = vf.make_task(0.02, 0.02, 0.0002).outcome_probs().numpy()
    binary = float(vf.silent_probability(probs, 0.0, 96)[0])
    partial = float(vf.silent_probability(probs, 1.0, 96)[0])
    outcome = "under 10%" if binary < 0.1 else "10% to 90%" if binary <= 0.9 else "over 90%"
    why = (f"P(silent) = sum over reward values of P(r = v)^96: under binary credit {binary:.1%} of the groups "
           f"(a group is silent unless one of its 96 outputs is fully correct, and (1 - 0.0002)^96 = "
           f"{(1 - probs[0, 2]) ** 96:.3f}), under partial credit {partial:.2g}: half-correct outputs are common "
           "enough that almost every group has two different rewards.")
    return compare_prediction(exercise, prediction, outcome, ("under 10%", "10% to 90%", "over 90%"), why)


# ---------------------------------------------------------------------------------------------- labs 1 to 4


def _check_cases(exercise: str, fn: Callable, cases: Sequence[tuple], what: str, fallback: str, passed: str,
                 tol: float = 1e-6) -> Verdict:
    """The verdict on the first case that ``fn`` gets wrong, or a pass (message ``passed``) when it gets all right.

    Each case is ``(args, shown, expected, slips)``: the arguments (arrays are passed as copies), how the message
    names them, the expected value, and ``(value, hint)`` pairs, the value each likely slip returns; a wrong answer
    that matches no slip gets ``fallback``, one that matches several (two slips can give the same value on one case)
    gets each of their hints, and one with a NaN or an infinity says so. Values agree within ``tol``, relative and
    absolute."""
    for args, shown, expected, slips in cases:
        expected = np.asarray(expected, dtype=float)
        value, failed = _call(exercise, fn, *[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        if failed is not None:
            return failed
        got = _numbers(exercise, value, expected.shape, what)
        if isinstance(got, Verdict):
            return got
        if _close(got, expected, tol):
            continue
        hints = [h for v, h in slips if _close(got, np.asarray(v, dtype=float), tol)]
        if not np.all(np.isfinite(got)):
            hint = ("it holds a NaN or an infinity: look for a division by zero (or a log of 0) in your code; "
                    + fallback)
        elif len(hints) > 1:
            hint = "on this input two slips give this value. Either: " + ". Or: ".join(hints)
        else:
            hint = hints[0] if hints else fallback
        return Verdict(exercise, False, f"for {shown} your {what} is {_fmt(got)}; expected {_fmt(expected)}. "
                                        f"Hint: {hint}.")
    return Verdict(exercise, True, passed)


def _policies(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(r, pi) pairs of the checks of labs 1 to 3: the toy's pi_0 under r_G (where V_G = 0) and under r_P, then
    random rewards under random policies of 3 and 8 outputs."""
    from labsupport import problems
    rng = np.random.default_rng(seed)
    pi0 = np.array(problems.paper_init_probs())
    return [(np.array(problems.PAPER_R_TRUE), pi0), (np.array(problems.PAPER_R_PROXY), pi0),
            *[(rng.normal(size=n).round(2), rng.dirichlet(np.ones(n))) for n in (3, 8)]]


def _bandit(r: np.ndarray, pi: np.ndarray, features: np.ndarray | None = None):
    """One tabular (or log-linear) bandit trained on ``r`` from ``pi``: the problem labsupport's functions take."""
    import labsupport as ls
    return ls.Bandit(r_true=r, init_probs=pi, features=features)


# ---------------------------------------------------------------------------------------------- lab 1


def check_exact_gradient(fn: Callable, exercise: str = "1a") -> Verdict:
    """Exercise: ``fn(r, pi) -> array``, the exact gradient of V = sum_y pi(y) r(y) with respect to the logits of a
    tabular softmax policy, at the policy ``pi`` (arrays of shape (N,)).

    Expected: :func:`labsupport.theory.gradient_at`; the slips are recognised with
    :func:`labsupport.theory.advantages`."""
    from labsupport import theory
    cases = []
    for r, pi in _policies(1):
        problem = _bandit(r, pi)
        grad = theory.gradient_at(problem, problem.theta0, "true")[0]
        adv = theory.advantages(problem, "true")[0]
        cases.append(((r, pi), f"r = {_fmt(r)} and pi = {_fmt(pi)}", grad, [
            (pi * r, "you left out the baseline: dV/dz_y = pi(y) (r(y) - V) with V = sum_y pi(y) r(y) (it made no "
                     "difference where V = 0)"),
            (pi * (r - r.mean()), "the baseline V is the expected reward sum_y pi(y) r(y), weighted by the policy, "
                                  "not the plain mean of r"),
            (adv, "this is the advantage A(y) = r(y) - V; the gradient weights it by pi(y)"),
            (r, "this is r itself, the gradient with respect to the probabilities pi; the exercise asks for the "
                "gradient with respect to the logits z, through the softmax"),
            (-grad, "the sign is flipped: the gradient points to where V rises")]))
    return _check_cases(exercise, fn, cases, "gradient", "dV/dz_y = pi(y) (r(y) - sum_z pi(z) r(z))",
                        f"your gradient matches labsupport.theory.gradient_at on all {len(cases)} policies, the "
                        "toy's included.")


def check_reinforce_direction(fn: Callable, exercise: str = "1b") -> Verdict:
    """Exercise: ``fn(r, pi, samples) -> array``, REINFORCE's direction without a baseline from the sampled outputs
    ``samples`` (K indices): (1/K) sum_k r(y_k) (e_{y_k} - pi), shape (N,).

    Expected: labsupport's own step direction, :func:`labsupport.algorithms.score_direction` weighted by
    :meth:`labsupport.Reinforce.advantages`; a mean baseline is recognised with ``Reinforce(baseline="mean")``."""
    import torch

    import labsupport as ls
    from labsupport.algorithms import score_direction

    def direction(r, pi, y, baseline):
        y = torch.tensor(y)[None]
        weights = ls.Reinforce(samples=y.shape[1], baseline=baseline).advantages(torch.tensor(r)[y])
        return score_direction(torch.tensor(pi)[None], y, weights)[0].numpy()

    policies = _policies(2)
    draws = [(0, [1]), (1, [1, 0, 1, 3]), (0, [0, 1, 1, 2]), (2, [2, 0, 2]), (3, [7, 1, 1, 4, 0])]
    cases = []
    for which, y in draws:
        r, pi = policies[which]
        expected = direction(r, pi, y, "none")
        cases.append(((r, pi, np.array(y)), f"r = {_fmt(r)}, pi = {_fmt(pi)} and samples {y}", expected, [
            (np.bincount(y, weights=r[y], minlength=len(r)) / len(y),
             "the score function of a softmax is e_y - pi, not e_y: every sample also pushes all logits down by "
             "r(y) pi"),
            (expected * len(y), "you summed over the samples; REINFORCE averages them (divide by K)"),
            (direction(r, pi, y, "mean"), "this subtracts the mean of the K rewards, a baseline; the exercise asks "
                                          "for none"),
            (pi * (r - pi @ r), "this is the exact gradient of Lab exercise 1a, which needs no samples; the "
                                "direction is built from the sampled outputs only"),
            (-expected, "the sign is flipped")]))
    return _check_cases(exercise, fn, cases, "direction", "g = (1/K) sum_k r(y_k) (e_{y_k} - pi)",
                        f"your direction matches labsupport's REINFORCE step on all {len(cases)} draws (one to "
                        "five samples, repeats included).")


def _reinforce_spread(problem: Bandit) -> tuple[float, np.ndarray]:
    """Exact total variance E||g - E g||^2 of one-sample REINFORCE (no baseline) on ``r_true`` at ``init_probs``,
    and its mean E g: labsupport's step direction for each output, weighted by its probability."""
    import torch

    import labsupport as ls
    from labsupport.algorithms import score_direction
    p, n = problem.init_probs, problem.n_outputs
    y = torch.arange(n)[:, None]
    g = score_direction(p.expand(n, n), y, ls.Reinforce().advantages(problem.r_true[0][y]))
    mean = p[0] @ g
    return float(p[0] @ ((g - mean) ** 2).sum(1)), mean.numpy()


def check_shift_prediction(prediction: Any, exercise: str = "1c") -> Verdict:
    """Predict, then run: how the spread of REINFORCE's one-sample direction (no baseline) at the toy's pi_0
    changes when every reward is raised by 2: "smaller", "about the same" or "larger". The outcome is the exact
    variance over the five outputs, from labsupport's own step direction."""
    import labsupport as ls
    toy = ls.paper_bandit()
    var, mean = _reinforce_spread(toy)
    var_2, mean_2 = _reinforce_spread(toy.with_rewards(r_true=toy.r_true + 2))
    ratio = var_2 / var
    outcome = "larger" if ratio > 1.1 else "smaller" if ratio < 1 / 1.1 else "about the same"
    grad = ls.theory.gradient_at(toy, toy.theta0, "true")[0]
    gap = max(abs(mean - grad).max(), abs(mean_2 - grad).max())
    why = (f"Exact total variance of the direction at pi_0: {var:.4f} on r_G, {var_2:.4f} on r_G + 2 ({ratio:.1f} "
           f"times); its mean is the exact gradient in both cases (largest gap {gap:.1e}). "
           "Without a baseline each sample's score function e_y - pi is scaled by r(y) itself: the shift adds "
           "2 (e_y - pi), which averages to zero but scatters every single update. A baseline subtracts it again.")
    return compare_prediction(exercise, prediction, outcome, ("smaller", "about the same", "larger"), why)


# ---------------------------------------------------------------------------------------------- lab 2


def check_star_prediction(prediction: Any, exercise: str = "2a") -> Verdict:
    """Predict, then run: at the toy's pi_0, under gradient flow on r_G, does the probability of y* (the best
    output, positive advantage) "rise" or "fall"? The outcome is :func:`labsupport.theory.prob_velocity`."""
    import labsupport as ls
    toy = ls.paper_bandit()
    dz = ls.theory.logit_velocity(toy, "true")[0]
    dpi = ls.theory.prob_velocity(toy, "true")[0]
    pi = toy.init_probs[0].numpy()
    outcome = "falls" if dpi[0] < 0 else "rises"
    why = (f"y*'s logit rises (dz/dt = pi A = {dz[0]:+.4f}), but y_med's rises {dz[1] / dz[0]:.0f} times as fast "
           f"({dz[1]:+.4f}), and a probability follows its logit relative to the probability-weighted average "
           f"{pi @ dz:+.4f}: d pi(y*)/dt = pi(y*) (dz(y*)/dt - average) = {dpi[0]:+.5f}. Attracting probability "
           "(logit up) and gaining it are not the same thing.")
    return compare_prediction(exercise, prediction, outcome, ("rises", "falls"), why)


def check_prob_velocity(fn: Callable, exercise: str = "2b") -> Verdict:
    """Exercise: ``fn(r, pi) -> array``, d pi(y)/dt for every output under gradient flow on the expected reward r,
    tabular softmax policy at ``pi`` (arrays of shape (N,)).

    Expected: :func:`labsupport.theory.prob_velocity`; the slips are recognised with
    :func:`labsupport.theory.logit_velocity`."""
    from labsupport import theory
    cases = []
    for r, pi in _policies(3):
        problem = _bandit(r, pi)
        dz = theory.logit_velocity(problem, "true")[0]
        expected = theory.prob_velocity(problem, "true")[0]
        cases.append(((r, pi), f"r = {_fmt(r)} and pi = {_fmt(pi)}", expected, [
            (dz, "this is the logit velocity dz/dt = pi A; a probability rises only as far as its logit outpaces "
                 "the others: d pi(y)/dt = pi(y) (dz_y/dt - sum_z pi(z) dz_z/dt)"),
            (dz - pi @ dz, "multiply by pi(y): d pi(y)/dt = pi(y) (dz_y/dt - sum_z pi(z) dz_z/dt)"),
            (pi * (dz - dz.mean()), "the average logit velocity is weighted by pi, not the plain mean over outputs"),
            (-expected, "the sign is flipped")]))
    return _check_cases(exercise, fn, cases, "d pi/dt", "d pi(y)/dt = pi(y) (pi(y) A(y) - sum_z pi(z)^2 A(z))",
                        f"your velocities match labsupport.theory.prob_velocity on all {len(cases)} policies; "
                        "they sum to zero, as probabilities must.")


def check_attracts(fn: Callable, exercise: str = "2c") -> Verdict:
    """Exercise: ``fn(r, pi, features) -> array of bool``, which outputs' logits rise under gradient flow on r for
    the log-linear policy softmax(Phi theta) at ``pi`` (r, pi of shape (N,), features Phi of shape (N, d)).

    Expected: :func:`labsupport.theory.attracts` on the toy in its feature geometries (one-hot included), under
    r_G and r_P."""
    import labsupport as ls
    from labsupport import problems, theory
    cases = []
    for name in [None, *problems.PAPER_GEOMETRIES]:
        phi = problems.paper_features(name)
        for reward in ("true", "proxy"):
            toy = ls.paper_bandit(geometry=name)
            r, pi = toy.reward(reward)[0].numpy(), toy.init_probs[0].numpy()
            problem = _bandit(r, pi, phi)
            g = pi * theory.advantages(problem, "true")[0]
            cases.append(((r, pi, phi), f"r = {_fmt(r)}, pi = {_fmt(pi)} and phi(y_med) = {_fmt(phi[1])} "
                                        "(1 = rises, 0 = does not)", theory.attracts(problem, "true")[0], [
                (g > 0, "this is the tabular advantage rule; with features the logits move as "
                        "dz/dt = Phi Phi^T (pi * A), and an output's logit can fall although its advantage is "
                        "positive (or rise although it is negative)"),
                (g @ phi > 0, "this is the sign of the gradient with respect to theta (one entry per feature); "
                              "the logits are z = Phi theta, so they move as Phi times it"),
                (phi @ phi.T @ g, "these are the logit velocities dz/dt themselves; return True where one is "
                                  "positive, False elsewhere"),
                (np.sign(phi @ phi.T @ g), "these are the signs -1, 0, +1 of the velocities; return True where the "
                                           "logit rises, False elsewhere (a falling logit is False, not -1)")]))
    return _check_cases(exercise, fn, cases, "answer (one True or False per output)",
                        "compute dz/dt = Phi Phi^T (pi * A); a logit rises where its velocity is positive",
                        f"your answer matches labsupport.theory.attracts in all {len(cases) // 2} geometries, "
                        "under r_G and r_P.")


# ---------------------------------------------------------------------------------------------- lab 3


def _variance(r: np.ndarray, pi: np.ndarray) -> float:
    """Var_{y~pi}[r(y)] as labsupport records it: :meth:`labsupport.Run.variance` of a run of zero steps."""
    import torch

    import labsupport as ls
    run = ls.train(_bandit(r, pi), ls.ExactPG(), steps=0, reward="true", dtype=torch.float64, device="cpu")
    return float(run.variance("true")[0, 0])


def check_reward_variance(fn: Callable, exercise: str = "3a") -> Verdict:
    """Exercise: ``fn(r, pi) -> float``, the variance of the reward under the policy, Var_{y~pi}[r(y)] (arrays of
    shape (N,)). Expected: :meth:`labsupport.Run.variance`."""
    cases = []
    for r, pi in [*_policies(4), (np.array([1.0, -1.0, 0.5]), np.array([0.998, 0.001, 0.001])),
                  (np.full(4, 0.3), np.full(4, 0.25))]:
        var = _variance(r, pi)
        cases.append(((r, pi), f"r = {_fmt(r)} and pi = {_fmt(pi)}", var, [
            (np.var(r), "this weights every output equally; under the policy, output y counts with weight pi(y)"),
            (np.sqrt(var), "this is the standard deviation; the exercise asks for its square"),
            (pi @ r**2, "this is E[r^2]; subtract (E[r])^2"),
            (pi @ (r - r.mean()) ** 2, "the mean V in (r(y) - V)^2 is the expected reward sum_y pi(y) r(y), "
                                       "weighted by the policy, not the plain mean of r"),
            (np.sum((pi * (r - pi @ r)) ** 2), "this weights output y by pi(y)^2: that is ||grad V||^2, the "
                                               "quantity of Lab exercise 3b; the variance weights it by pi(y)")]))
    return _check_cases(exercise, fn, cases, "variance", "Var = sum_y pi(y) (r(y) - V)^2, V = sum_y pi(y) r(y)",
                        f"your variance matches labsupport's Run.variance on all {len(cases)} policies, a nearly "
                        "deterministic one and a constant reward included.")


def check_gradient_norm(fn: Callable, exercise: str = "3b") -> Verdict:
    """Exercise: ``fn(r, pi) -> float``, the squared norm ||grad V||^2 of the exact gradient with respect to the
    logits of a tabular softmax at ``pi`` (arrays of shape (N,)).

    Expected: :func:`labsupport.theory.value_rate` with ``reward`` and ``measure`` the same reward (the rate
    dV/dt of gradient flow is ||grad V||^2)."""
    from labsupport import theory
    cases = []
    for r, pi in _policies(5):
        problem = _bandit(r, pi)
        expected = float(theory.value_rate(problem, reward="true", measure="true")[0])
        cases.append(((r, pi), f"r = {_fmt(r)} and pi = {_fmt(pi)}", expected, [
            (_variance(r, pi), "this is Var_pi[r] = sum_y pi(y) A(y)^2: the gradient weights output y by pi(y)^2, "
                               "not pi(y), which is why ||grad V||^2 <= max_y pi(y) Var"),
            (np.sqrt(expected), "this is the norm; the exercise asks for its square"),
            (pi**2 @ r**2, "you left out the baseline: A(y) = r(y) - V"),
            (pi**2 @ (r - r.mean()) ** 2, "the baseline V is the expected reward sum_y pi(y) r(y), weighted by "
                                          "the policy, not the plain mean of r")]))
    return _check_cases(exercise, fn, cases, "||grad V||^2", "||grad V||^2 = sum_y (pi(y) A(y))^2",
                        f"your squared norm matches labsupport.theory.value_rate on all {len(cases)} policies.")


def check_proxy_variance_prediction(prediction: Any, exercise: str = "3c") -> Verdict:
    """Predict, then run: at the toy's pi_0 the proxy r_P, which reaches V_G >= 0.9 long before r_G does, has a
    variance under pi_0 that is "smaller", "about the same" or "larger" than that of r_G. The outcome is
    :meth:`labsupport.Run.variance`; the run on r_P gives its crossing step."""
    import torch

    import labsupport as ls
    toy = ls.paper_bandit()
    pi, r_g, r_p = toy.init_probs[0].numpy(), toy.r_true[0].numpy(), toy.r_proxy[0].numpy()
    var_g, var_p = _variance(r_g, pi), _variance(r_p, pi)
    ratio = var_p / var_g
    outcome = "larger" if ratio > 1.1 else "smaller" if ratio < 1 / 1.1 else "about the same"
    pair = toy.with_rewards(r_proxy=np.stack([r_p, r_g]))       # row 0 trains on r_P, row 1 on r_G
    run = ls.train(pair, ls.ExactPG(lr=0.1), 5000, record_every=None, dtype=torch.float64, track_level=0.9)
    terms = ls.theory.value_rate_terms(pair, reward="proxy", measure="proxy")
    share = terms[:, 0] / terms.sum(1)
    why = (f"Var under pi_0: r_P {var_p:.4f}, r_G {var_g:.4f}. Yet trained on r_P, V_G reaches 0.9 at step "
           f"{run.hit_steps[0]:,} (exact PG, learning rate 0.1), while trained on r_G it is "
           f"{run.true_value[-1, 1]:.3f} after 5,000 steps. Where the variance sits decides: y* carries "
           f"{share[0]:.0%} of r_P's ||grad V||^2 and {share[1]:.0%} of r_G's, whose spread lies mostly between "
           "y_med and the bad outputs.")
    return compare_prediction(exercise, prediction, outcome, ("smaller", "about the same", "larger"), why)


# ---------------------------------------------------------------------------------------------- lab 4


def _two_output_times(p0: Sequence[float], delta: Sequence[float], lr: float) -> np.ndarray:
    """Flow time (steps x lr) until pi(y*) >= 1/2 under exact policy gradient on two outputs whose rewards differ by
    ``delta``, from pi_0(y*) = ``p0`` (one run per pair, float64); the rewards (delta/2, -delta/2) put the level
    V = 0 at pi(y*) = 1/2."""
    import torch

    import labsupport as ls
    d, p = np.asarray(delta, dtype=float), np.asarray(p0, dtype=float)
    two = ls.Bandit(r_true=np.stack([d / 2, -d / 2], 1), init_probs=np.stack([p, 1 - p], 1), names=["y*", "y_med"])
    horizon = int(1.2 * max((1 / q + 4 * np.log(2 / q)) / (2 * g) for q, g in zip(p, d)) / lr)
    run = ls.train(two, ls.ExactPG(lr=lr), horizon, reward="true", record_every=None, dtype=torch.float64,
                   track_level=0.0)
    return run.hit_steps * lr


def check_halving_prediction(prediction: Any, exercise: str = "4a") -> Verdict:
    """Predict, then run: on two outputs (r_G = 1 and 0.8, exact PG at learning rate 0.1), how much longer V_G takes
    to reach 0.9 from pi_0(y*) = 0.01 than from 0.02: "a little longer", "about twice as long" or "about four times
    as long". The outcome is the crossing of :func:`labsupport.train`'s runs."""
    steps = np.rint(_two_output_times([0.02, 0.01], [0.2, 0.2], lr=0.1) / 0.1).astype(int)
    ratio = steps[1] / steps[0]
    outcome = "a little longer" if ratio < 1.5 else "about twice as long" if ratio < 3 else "about four times as long"
    why = (f"V_G >= 0.9 (pi(y*) >= 1/2) after {steps[0]:,} steps from 0.02 and {steps[1]:,} from 0.01: "
           f"{ratio:.2f} times as long. With two outputs d pi/dt = 2 Delta pi^2 (1 - pi)^2: the relative growth rate "
           "d log pi/dt is proportional to pi itself (exponential growth, with a constant one, would add only a "
           "fixed time when pi_0 is halved), so almost all the time is spent near the start, about "
           "1 / (2 Delta pi_0) units of flow time.")
    return compare_prediction(exercise, prediction, outcome,
                              ("a little longer", "about twice as long", "about four times as long"), why)


_TIME_CASES = [(0.02, 0.2), (0.05, 0.2), (0.1, 1.0), (0.3, 0.5), (0.01, 2.0)]


def check_time_to_target(fn: Callable, exercise: str = "4b") -> Verdict:
    """Exercise: ``fn(p0, delta) -> float``, the gradient-flow time for pi(y*) to grow from ``p0`` to 1/2 on two
    outputs whose rewards differ by ``delta`` (tabular softmax, exact gradient flow).

    Expected: exact policy gradient at learning rate 0.01 in float64 (:func:`labsupport.train`), steps x 0.01;
    it follows the flow to within 0.3% here, and the check allows 1%."""
    p0, delta = np.array(_TIME_CASES).T
    times = _two_output_times(p0, delta, lr=0.01)
    cases = [((p, d), f"p0 = {p:g} and delta = {d:g}", t, [
        (1 / (2 * d * p), "this is only the leading term 1 / (2 delta p0); integrate the growth law up to 1/2"),
        (2 * t, "you divided by delta; the growth law is d pi/dt = 2 delta pi^2 (1 - pi)^2"),
        (t / 0.1, "this is a number of steps at learning rate 0.1; return flow time (steps x learning rate)"),
        (-t, "the sign is flipped: F(1/2) - F(p0), not F(p0) - F(1/2)")]) for (p, d), t in zip(_TIME_CASES, times)]
    return _check_cases(exercise, fn, cases, "time",
                        "t = (F(1/2) - F(p0)) / (2 delta) with F(p) = 1/(1 - p) - 1/p + 2 log(p / (1 - p))",
                        f"your times match labsupport's runs (learning rate 0.01) within 1% on all {len(cases)} "
                        f"cases, from {times.min():.3g} to {times.max():.3g} units of flow time.", tol=0.01)


def _demotion_cases() -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(r_true, pi0, y): errors that can be beneficial (y is not the best output and A_G0(y) > 0): y_med of the toy
    at pi_0(y*) = 0.05 and 0.15 and at a quick policy, and the likeliest such output of two random instances."""
    import labsupport as ls
    from labsupport import theory
    from labsupport.studies import sweeps
    toy = ls.paper_bandit([0.05, 0.15])
    cases = [(toy.r_true[b].numpy(), toy.init_probs[b].numpy(), 1) for b in range(2)]
    cases.append((toy.r_true[0].numpy(), np.array([0.3, 0.1, 0.2, 0.2, 0.2]), 1))
    rand = sweeps.random_instances(6, seed=4)
    for b in range(rand.batch_size):
        r, pi = rand.r_true[b].numpy(), rand.init_probs[b].numpy()
        pull = np.where((theory.advantages(rand.rows([b]), "true")[0] > 0) & (r < r.max()), pi, 0)
        if pull.max() > 0.05 and len(cases) < 5:
            cases.append((r, pi, int(pull.argmax())))
    return cases


def check_beneficial_proxy(fn: Callable, exercise: str = "4c") -> Verdict:
    """Exercise: ``fn(r_true, pi0, y) -> float``, a proxy reward for output ``y`` (every other output keeps its
    ground-truth reward) that makes the error on y beneficial (arrays of shape (N,)).

    Expected: :func:`labsupport.theory.predict` says "beneficial" for every case, and :func:`labsupport.categorize`
    measures it beneficial on the toy with pi_0(y*) = 0.15 (exact PG, learning rate 0.1, 2,000 steps)."""
    import labsupport as ls
    from labsupport import theory
    cases = _demotion_cases()
    answers = []
    for r_true, pi0, y in cases:
        value, failed = _call(exercise, fn, r_true.copy(), pi0.copy(), y)
        if failed is not None:
            return failed
        got = _numbers(exercise, value, (), "proxy reward r_P(y)")
        if isinstance(got, Verdict):
            return got
        shown = f"r_true = {_fmt(r_true)}, pi0 = {_fmt(pi0)} and y = {y}"
        if not np.isfinite(got) or got == r_true[y]:
            return Verdict(exercise, False, f"for {shown} you return r_P(y) = {_fmt(got)}: a finite reward that "
                                            f"differs from r_G(y) = {_fmt(r_true[y])} is needed, else there is no "
                                            "error.")
        answers.append(float(got))
        r_proxy = r_true.copy()
        r_proxy[y] = got
        problem = _bandit(r_true, pi0).with_rewards(r_proxy=r_proxy)
        row = theory.predict(problem)[0]
        if row["predicted"] != "beneficial":
            a_g, a_p = theory.advantages(problem, "true")[0][y], theory.advantages(problem, "proxy")[0][y]
            return Verdict(exercise, False, f"for {shown}, with r_P(y) = {_fmt(got)} the rules say "
                                            f"{row['predicted']!r} ({row['rule']}): A_G0(y) = {a_g:.4g} > 0 as "
                                            f"wanted, but A_P0(y) = {a_p:.4g} > 0, so the proxy still pulls y up. "
                                            "Hint: a beneficial error demotes a mediocre output below the proxy's "
                                            "mean, A_P0(y) <= 0; a reward no higher than any other output's will do.")
    r_true, pi0, y = cases[1]
    r_proxy = r_true.copy()
    r_proxy[y] = answers[1]
    row = ls.categorize(_bandit(r_true, pi0).with_rewards(r_proxy=r_proxy), steps=2000).iloc[0]
    if row.measured != "beneficial":
        return Verdict(exercise, False, f"the rules say beneficial on all {len(cases)} cases, but on the toy with "
                                        f"pi_0(y*) = 0.15 and r_P(y_med) = {_fmt(r_proxy[y])} the measurement says "
                                        f"{row.measured} ({row.evidence}). Hint: a lower reward demotes y_med more "
                                        "strongly.")
    return Verdict(exercise, True, f"the rules call your error beneficial on all {len(cases)} cases, and on the toy "
                                   f"with pi_0(y*) = 0.15 the counterfactual measures it so: {row.evidence}.")
