"""The exercises inside the labs: every self-check fails with a diagnosis on the blank starter and passes on the
solution, both taken from the notebook's own cells (found by their tags), so the test cannot drift from the lab; and
every lab listed here opens with objectives and a time estimate, ends with a summary, has at least three exercises of
both kinds, and reads the same in JupyterLab (no raw MyST roles, chapter links that resolve from both places). A lab's
own exercises are lettered ("Lab exercise 5a"), so that they cannot be taken for the chapter's numbered ones ("the
chapter's Exercise 5.1")."""

from __future__ import annotations

import ast
import json
import os
import posixpath
import re
from pathlib import Path

import numpy as np
import pytest

from labsupport import exercises

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted(p for n in range(1, 8) for p in (ROOT / "notebooks").glob(f"0{n}-*-lab.ipynb"))
ROLES = ("exercise-starter", "exercise-check", "exercise-solution")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def lab_exercises(path: Path) -> list[dict]:
    """Each exercise of a lab: id, kind, and its statement, starter, check and solution cells (the three code cells
    must follow the statement in this order)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for i, cell in enumerate(cells):
        if "exercise" not in tags(cell):
            continue
        meta = cell["metadata"]["exercise"]
        following = cells[i + 1:i + 4]
        roles = [next((t for t in tags(c) if t in ROLES), None) for c in following]
        assert roles == list(ROLES), f"{path.name}, exercise {meta['id']}: cells after the statement are {roles}"
        found.append({"id": meta["id"], "kind": meta["kind"], "statement": source(cell), "cells": following,
                      **{role.split("-")[1]: source(c) for role, c in zip(ROLES, following)}})
    return found


EXERCISES = [(lab, e) for lab in LABS for e in lab_exercises(lab)]


def run(code: str, namespace: dict):
    """Execute a cell's code in ``namespace`` and return the value of its last line when that is an expression (as
    the notebook shows it), else None."""
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace) if last else None


def test_the_labs_are_found():
    assert [p.name[:2] for p in LABS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("lab,exercise", EXERCISES, ids=[e["id"] for _, e in EXERCISES])
def test_starter_fails_with_a_diagnosis_and_solution_passes(lab, exercise):
    namespace = {"ex": exercises, "np": np}
    run(exercise["starter"], namespace)
    verdict = run(exercise["check"], namespace)
    assert isinstance(verdict, exercises.Verdict), f"the check cell's value is {verdict!r}, not a Verdict"
    assert verdict.exercise == exercise["id"], "the check is not the one of this exercise"
    assert not verdict.passed, f"the blank starter passes: {verdict}"
    assert len(verdict.message) > 60 and "failed" not in verdict.message.lower(), verdict.message
    solved = run(exercise["solution"], namespace)
    assert isinstance(solved, exercises.Verdict) and solved.passed, f"the solution does not pass: {solved}"
    assert exercise["solution"].rstrip().endswith(exercise["check"].strip()), "the solution must end with the check"


@pytest.mark.parametrize("lab", LABS, ids=[p.name[:2] for p in LABS])
def test_lab_has_objectives_time_exercises_of_both_kinds_and_a_summary(lab):
    cells = json.loads(lab.read_text(encoding="utf-8"))["cells"]
    found = lab_exercises(lab)
    assert len(found) >= 3, f"{lab.name}: {len(found)} exercises"
    assert {e["kind"] for e in found} == {"code", "predict"}
    assert [e["id"] for e in found] == [lab.name[1] + letter for letter in "abcdefgh"[:len(found)]]
    for e in found:
        assert "hide-cell" in tags(e["cells"][2]), f"{lab.name}, exercise {e['id']}: the solution is not hidden"
        assert e["statement"].startswith(f"### Lab exercise {e['id']} (")
    intro = source(cells[0])
    assert "**Objectives.**" in intro and re.search(r"\*\*Time\.\*\* About \d+ minutes", intro), intro[:300]
    markdown = [source(c) for c in cells if c["cell_type"] == "markdown"]
    summary = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
               and re.match(r"## (\d+\. )?Summary\n", source(c))]
    assert summary and summary[-1] >= len(cells) - 2, f"{lab.name}: no summary at the end"
    assert source(cells[summary[-1]]).count("\n- ") >= 3, "the summary should say what was seen, point by point"
    assert sum(s.startswith("### Lab exercise") for s in markdown) == len(found)


@pytest.mark.parametrize("lab", LABS, ids=[p.name[:2] for p in LABS])
def test_lab_text_reads_the_same_in_jupyterlab_and_in_the_book(lab):
    """No {cite}, {eq} or other role in the markdown (JupyterLab shows them raw), and every link to a chapter names
    its source as ../book/chapters/NAME.md: JupyterLab (started at the repository root) and GitHub resolve it from
    notebooks/ to the chapter's source, and the book, which sees the notebook as book/notebooks/NAME.ipynb, reads it
    as ../chapters/NAME.md (book/_ext/lab_links.py; tests/test_notebook_hygiene.py checks every link of the rewrite)."""
    cells = json.loads(lab.read_text(encoding="utf-8"))["cells"]
    text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    assert not re.findall(r"\{[a-z:-]+\}`", text), re.findall(r"\{[a-z:-]+\}`[^`]*`", text)
    links = re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", text)
    assert links, f"{lab.name} links no chapter"
    for link in links:
        chapter = ROOT / "book" / "chapters" / Path(link).name
        assert link == f"../book/chapters/{chapter.name}" and chapter.is_file(), link
        # the repository resolves it from the lab's folder, notebooks/
        assert os.path.normpath(ROOT / "notebooks" / link) == str(chapter)
        # JupyterLab resolves it from notebooks/ within the server's root (the repository)
        assert posixpath.normpath(f"/notebooks/{link}") == f"/book/chapters/{chapter.name}"


@pytest.mark.parametrize("lab", LABS, ids=[p.name[:2] for p in LABS])
def test_lab_names_its_own_exercises_apart_from_the_chapters(lab):
    """Every "Lab exercise 5a" (or "Lab exercises 5a and 5b") in a lab's text and code names one of its exercises,
    and every numbered "Exercise 5.1" is the chapter's and says so ("the chapter's Exercise 5.1", in Markdown a link
    to the chapter), except in the introduction's sentence that explains the two names."""
    cells = json.loads(lab.read_text(encoding="utf-8"))["cells"]
    text = "\n".join(source(c) for c in cells)
    ids = {e["id"] for e in lab_exercises(lab)}
    named = re.findall(r"Lab exercises? (\d[a-z](?:(?:,| and| or) \d[a-z])*)", text)
    assert named and set(re.findall(r"\d[a-z]", " ".join(named))) <= ids, named
    assert not re.search(r"(?i)lab exercises? \d+\.\d", text)
    for cell in cells:
        cell_text = source(cell)
        for m in re.finditer(r"(?i)\[?\bexercises? (\d+)\.\d+", cell_text):
            before = re.sub(r"\s+", " ", cell_text[max(0, m.start() - 40):m.start()])
            shown = f"{lab.name}: {before + cell_text[m.start():m.end() + 20]!r}"
            if before.endswith("chapter's numbered exercises ("):      # the introduction's sentence on names
                continue
            assert before.endswith(("the chapter's ", "The chapter's ")), f"{shown} does not say whose exercise it is"
            assert m.group(1) == lab.name[1], f"{shown} is not an exercise of the lab's chapter"
            if cell["cell_type"] == "markdown":
                assert m.group(0).startswith("["), f"{shown} does not link the chapter"


# ------------------------------------------------------------------------------------------------ the framework


def test_compare_prediction_shows_the_outcome_once_the_prediction_is_one_of_the_choices():
    """A blank prediction or a typo does not see the outcome (running the lab top to bottom, or mistyping a choice,
    would otherwise give it away before the reader has predicted); a typo is told which choice it was probably meant
    as, a number that it should be text."""
    choices = ("harmful", "benign", "beneficial")
    blank = exercises.compare_prediction("9z", None, "benign", choices, "Because.")
    assert not blank and "write your prediction" in blank.message and "Because" not in blank.message
    assert "The outcome" not in blank.message and "['harmful', 'benign', 'beneficial']" in blank.message
    typo = exercises.compare_prediction("9z", "benine", "benign", choices, "Because.")
    assert not typo and "not one of" in typo.message and "did you mean 'benign'?" in typo.message
    assert "Because" not in typo.message
    part = exercises.compare_prediction("9z", "twice", "a", ("a", "about twice as long"), "Because.")
    assert "did you mean 'about twice as long'?" in part.message and "Because" not in part.message
    number = exercises.compare_prediction("9z", 0.98, "benign", choices, "Because.")
    assert not number and "as text, in quotes" in number.message and "Because" not in number.message
    wrong = exercises.compare_prediction("9z", "harmful", "benign", choices, "Because.")
    assert not wrong and "you predicted harmful; the outcome is benign. Because." in wrong.message
    right = exercises.compare_prediction("9z", "  Benign ", "benign", choices, "Because.")
    assert right.passed and repr(right).startswith("Lab exercise 9z: PASSED")
    shown = exercises.compare_prediction("9z", "benign", "benign", choices, "r_P(y*) < V_P")._repr_html_()
    assert "r_P(y*) &lt; V_P" in shown and "Lab exercise 9z: passed" in shown   # escaped, not read as Markdown
    with pytest.raises(ValueError, match="outcome must be one of"):
        exercises.compare_prediction("9z", "benign", "neutral", choices, "")


def test_checks_turn_errors_and_wrong_shapes_into_verdicts():
    raised = exercises.check_rloo_advantages(lambda r: 1 / 0)
    assert not raised and "raised ZeroDivisionError" in raised.message
    assert "pass your function itself" in exercises.check_rloo_advantages(3).message
    shape = exercises.check_rloo_advantages(lambda r: r[:1])
    assert not shape and "shape (3,)" in shape.message


def test_checks_name_the_likely_slip():
    mean_baseline = exercises.check_rloo_advantages(lambda r: r - r.mean())
    assert "[1, 0, 0]" in mean_baseline.message and "itself in its baseline" in mean_baseline.message
    nan_silent = exercises.check_grpo_advantages(lambda r: (r - r.mean()) / r.std() if r.std() else r * np.nan)
    assert "silent" in nan_silent.message
    sample_std = exercises.check_grpo_advantages(lambda r: (r - r.mean()) / (r.std(ddof=1) + 1e-8))
    assert "sample standard deviation" in sample_std.message
    own_term = exercises.check_rate_change(lambda r, p, e, d: d * p[e] ** 2 * (r[e] - p @ r))
    assert "own term" in own_term.message
    hides_best = exercises.check_predicted_category(
        lambda rt, rp, p, y: "beneficial" if rt[y] - p @ rt > 0 >= rp[y] - p @ rp else "benign")
    assert "hides the best output" in hides_best.message and "ground-truth optimal" in hides_best.message


def test_checks_of_labs_1_to_4_name_the_likely_slip():
    no_baseline = exercises.check_exact_gradient(lambda r, pi: pi * r)
    assert not no_baseline and "left out the baseline" in no_baseline.message and "[0.05, -0.5" in no_baseline.message
    plain_score = exercises.check_reinforce_direction(
        lambda r, pi, s: np.bincount(s, weights=r[s], minlength=len(r)) / len(s))
    assert "score function of a softmax is e_y - pi" in plain_score.message
    assert "this is the logit velocity" in exercises.check_prob_velocity(lambda r, pi: pi * (r - pi @ r)).message
    tabular = exercises.check_attracts(lambda r, pi, phi: r - pi @ r > 0)
    assert "tabular advantage rule" in tabular.message and "expected [0, 1, 0, 0, 0]" in tabular.message
    assert "weights every output equally" in exercises.check_reward_variance(lambda r, pi: np.var(r)).message
    assert "pi(y)^2, not pi(y)" in exercises.check_gradient_norm(lambda r, pi: pi @ (r - pi @ r) ** 2).message
    leading = exercises.check_time_to_target(lambda p0, delta: 1 / (2 * delta * p0))
    assert "only the leading term" in leading.message and "your time is 125" in leading.message
    above_mean = exercises.check_beneficial_proxy(lambda r, pi, y: r[y] - 0.1)
    assert not above_mean and "'unclassified'" in above_mean.message and "A_P0(y) = 0.75 > 0" in above_mean.message
    assert "no error" in exercises.check_beneficial_proxy(lambda r, pi, y: r[y]).message


def test_predictions_of_labs_1_to_4_show_the_measured_outcome():
    """A wrong prediction fails and shows the outcome with its numbers: the toy's y* loses probability at first under
    r_G (d pi/dt = pi(y*) (pi(y*) A(y*) - sum pi^2 A) = 0.05 (0.05 - 0.135) = -0.00425), and halving pi_0(y*) on two
    outputs nearly doubles the time (the closed form of Lab exercise 4b gives 270.45 / 141.91 = 1.906); the toy's
    variances under pi_0 are 0.82 (r_G: E r^2 = 0.05 + 0.32 + 0.45, mean 0) and 0.19 (r_P: 1 - 0.9^2)."""
    star = exercises.check_star_prediction("rises")
    assert not star and "the outcome is falls" in star.message and "-0.00425" in star.message
    halving = exercises.check_halving_prediction("about four times as long")
    ratio = float(re.search(r"([\d.]+) times as long", halving.message).group(1))
    assert not halving and abs(ratio - 270.45 / 141.91) < 0.02
    assert exercises.check_shift_prediction("larger") and not exercises.check_shift_prediction("smaller")
    assert exercises.check_proxy_variance_prediction("smaller") and "r_P 0.1900, r_G 0.8200" in \
        exercises.check_proxy_variance_prediction("larger").message


def test_a_lab_prediction_left_blank_or_mistyped_gives_nothing_away():
    """The lab's starter (prediction = None) and a mistyped choice show neither the outcome nor its numbers: on the
    toy the shift multiplies the spread by 2.0324 / 0.3924 = 5.2 and the rest of the check's explanation."""
    for prediction in (None, "large"):
        verdict = exercises.check_shift_prediction(prediction)
        assert not verdict and "5.2 times" not in verdict.message and "2.0324" not in verdict.message
    assert "did you mean 'larger'?" in exercises.check_shift_prediction("large").message
    assert "did you mean 'rises'?" in exercises.check_star_prediction("rise").message
    assert "did you mean 'over 90%'?" in exercises.check_silent_prediction("over 90").message
    assert "98.1%" in exercises.check_silent_prediction("under 10%").message     # a valid wrong choice sees it


def test_checks_say_what_is_wrong_with_the_type_or_shape_of_an_answer():
    var = lambda r, pi: pi @ (r - pi @ r) ** 2                                 # noqa: E731
    wrapped = exercises.check_reward_variance(lambda r, pi: np.array([var(r, pi)]))
    assert not wrapped and "should be a single number" in wrapped.message and "float(x)" in wrapped.message
    per_output = exercises.check_beneficial_proxy(lambda r, pi, y: np.where(np.arange(len(r)) == y, r.min(), r))
    assert "not one per output" in per_output.message and "your the" not in per_output.message
    text = exercises.check_reward_variance(lambda r, pi: "0.82")   # 0.82 is the toy's variance, but as text
    assert not text and "should be numbers" in text.message
    extra_axis = exercises.check_exact_gradient(lambda r, pi: (pi * (r - pi @ r))[None])
    assert "flat array of shape (5,)" in extra_axis.message
    scalar = exercises.check_rloo_advantages(lambda r: float(r[0] - r[1:].mean()))
    assert "got a single number (1)" in scalar.message and "3 of them" in scalar.message
    nan = exercises.check_exact_gradient(lambda r, pi: pi * np.nan)
    assert not nan and "NaN or an infinity" in nan.message and "division by zero" in nan.message


def test_checks_name_more_slips():
    """Each answer is a typical wrong one, and the message names its slip with the numbers of the first case it gets
    wrong: on the toy (r_G = (1, 0.8, -1, -1, -1), pi_0 = (0.05, 0.5, 0.15, 0.15, 0.15), V_G = 0) the plain mean of
    r_G is -0.24, so pi (r - mean r) = (0.062, 0.52, -0.114, ...), and the variance about it is 0.82 + 0.24^2 =
    0.8776."""
    plain_mean = exercises.check_exact_gradient(lambda r, pi: pi * (r - r.mean()))
    assert "not the plain mean of r" in plain_mean.message and "[0.062, 0.52, -0.114" in plain_mean.message
    both = exercises.check_exact_gradient(lambda r, pi: r)     # at the toy's pi_0 r_G is also the advantage
    assert "two slips" in both.message and "with respect to the probabilities" in both.message
    assert "this is the advantage" in both.message
    sampled = exercises.check_reinforce_direction(lambda r, pi, s: pi * (r - pi @ r))
    assert "exact gradient of Lab exercise 1a" in sampled.message
    velocity = lambda r, pi, phi: phi @ phi.T @ (pi * (r - pi @ r))          # noqa: E731
    assert "logit velocities dz/dt themselves" in exercises.check_attracts(velocity).message
    assert "not -1" in exercises.check_attracts(lambda r, pi, phi: np.sign(velocity(r, pi, phi))).message
    plain_var = exercises.check_reward_variance(lambda r, pi: pi @ (r - r.mean()) ** 2)
    assert "your variance is 0.8776" in plain_var.message and "not the plain mean" in plain_var.message
    neighbour = exercises.check_reward_variance(lambda r, pi: np.sum((pi * (r - pi @ r)) ** 2))
    assert "your variance is 0.23" in neighbour.message and "Lab exercise 3b" in neighbour.message
    assert "not the plain mean" in exercises.check_gradient_norm(
        lambda r, pi: np.sum((pi * (r - r.mean())) ** 2)).message
    # S taken as sum pi A_G, which is 0: the answer is the error's own term
    zero_s = exercises.check_rate_change(lambda r, p, e, d: d * p[e] * (p[e] * (r[e] - p @ r) - p @ (r - p @ r)))
    assert "cannot stand in for S" in zero_s.message
    per_delta = exercises.check_rate_change(
        lambda r, p, e, d: p[e] * (p[e] * (r[e] - p @ r) - np.sum(p ** 2 * (r - p @ r))))
    assert "multiply by delta" in per_delta.message and "your rate change is -0.04275" in per_delta.message

    def hacc(r_true, r_proxy, scale):
        pairs = [(i, j) for i in range(len(r_true)) for j in range(len(r_true)) if r_true[i] > r_true[j]]
        good = [r_proxy[i] > r_proxy[j] or r_proxy[j] < r_proxy.mean() for i, j in pairs]
        return sum(good) * scale(len(pairs))
    count = exercises.check_hacc_one_prompt(lambda t, p: hacc(t, p, lambda n: 1))
    assert "your HAcc is 2;" in count.message and "number of pairs" in count.message
    percent = exercises.check_hacc_one_prompt(lambda t, p: hacc(t, p, lambda n: 100 / n))
    assert "your HAcc is 66.67" in percent.message and "percentage" in percent.message
    grpo = exercises.check_rloo_advantages(lambda r: (r - r.mean()) / (r.std() + 1e-8))
    assert "[1.414, -0.7071, -0.7071]" in grpo.message and "GRPO's advantage" in grpo.message


def test_rule_check_names_an_answer_that_is_no_category_and_counts_in_words():
    typo = exercises.check_predicted_category(lambda rt, rp, p, y: "harmfull")
    assert not typo and "'harmfull'" in typo.message and "not a category" in typo.message
    # right on the toy's first canonical error (beneficial), wrong on the second (hides the best output)
    first_only = exercises.check_predicted_category(lambda rt, rp, p, y: "beneficial")
    assert "(Right on the 1 error checked before this one.)" in first_only.message


def test_beneficial_proxy_check_calls_the_function_once_per_case():
    """The measured case reuses the answer the rules were asked about: a function that answers five times and then
    raises (or answers differently) gets a verdict, not a traceback."""
    calls = []

    def five_answers(r_true, pi0, y):
        calls.append(y)
        if len(calls) > 5:
            raise RuntimeError("called a sixth time")
        return float(r_true.min())
    verdict = exercises.check_beneficial_proxy(five_answers)
    assert verdict.passed and len(calls) == 5, verdict
