"""Predicted and measured error categories on canonical instances."""

import math

import numpy as np
import pytest
import torch

import labsupport as ls

R_TRUE = [1, 0.8, -1, -1, -1]
PI0 = [0.05, 0.5, 0.15, 0.15, 0.15]
COLUMNS = ["run", "output", "r_true", "r_proxy", "pi0", "predicted", "kind", "rule", "measured", "effect", "evidence"]


def only_row(frame):
    assert len(frame) == 1
    return frame.iloc[0]


def test_demoting_the_mediocre_output_is_predicted_and_measured_beneficial():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, -1, -1, -1, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob))
    assert list(ls.categorize(prob).columns) == COLUMNS
    assert (row.output, row.predicted, row.kind) == ("y1", "beneficial", "demoted mediocre output")
    assert row.measured == "beneficial" and row.effect > 1
    assert "0.8" in row.rule and "not the best output" in row.rule


def test_a_bad_output_raised_above_all_others_is_harmful_reward_hacking():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, 0.8, 2, -1, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob))
    assert (row.predicted, row.kind, row.measured) == ("harmful", "reward hacking", "harmful")


def test_a_mediocre_proxy_reward_on_a_bad_output_is_predicted_stalling():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, 0.8, 0.5, -1, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob, measure=False))
    assert (row.predicted, row.kind) == ("harmful", "stalling")
    assert row.measured is None


def test_an_error_below_the_mean_is_benign():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, 0.8, -1, -0.5, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob))
    assert (row.predicted, row.kind, row.measured) == ("benign", "below the mean", "benign")


def test_an_output_that_is_never_sampled_is_benign():
    pi0 = [0.05, 0.5, 0.15, 0.15, 0.15 - 1e-9, 1e-9]
    prob = ls.Bandit(r_true=R_TRUE + [-1], r_proxy=R_TRUE + [5], init_probs=pi0)
    row = only_row(ls.categorize(prob))
    assert (row.output, row.predicted, row.kind, row.measured) == ("y5", "benign", "never sampled", "benign")
    # without the tiny probability, the same error is reward hacking
    loud = ls.Bandit(r_true=R_TRUE + [-1], r_proxy=R_TRUE + [5], init_probs=[0.05, 0.5, 0.15, 0.1, 0.1, 0.1])
    assert only_row(ls.categorize(loud, measure=False)).kind == "reward hacking"


def test_a_low_proxy_reward_on_the_best_output_is_harmful():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[-1, 0.8, -1, -1, -1], init_probs=[0.15, 0.5, 0.35 / 3, 0.35 / 3, 0.35 / 3])
    row = only_row(ls.categorize(prob, steps=5000))
    assert (row.predicted, row.kind, row.measured) == ("harmful", "hides the best output", "harmful")
    assert row.effect < -0.5 and "not reached" in row.evidence
    # within a short horizon the true reward stalls on y_med too, so the damage does not show yet
    short = only_row(ls.categorize(prob, steps=500))
    assert short.measured == "benign" and math.isnan(short.effect)


def test_rules_are_silent_when_both_advantages_are_positive():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[2, 0.8, -1, -1, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob, measure=False))
    assert (row.predicted, row.kind) == ("unclassified", "none") and "silent" in row.rule


def test_several_errors_and_a_batch_in_one_call():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[[1, -1, -1, -0.5, -1], [1, 0.8, 2, -1, -1]], init_probs=PI0)
    frame = ls.categorize(prob)
    assert frame[["run", "output"]].values.tolist() == [[0, "y1"], [0, "y3"], [1, "y2"]]
    # with y_med demoted, V_P(theta_0) = -0.825, so y3's -0.5 sits above the proxy mean: stalling
    assert frame.kind.tolist() == ["demoted mediocre output", "stalling", "reward hacking"]
    assert frame.measured.tolist() == ["beneficial", "harmful", "harmful"]


def test_no_error_gives_an_empty_frame_with_the_columns():
    frame = ls.categorize(ls.Bandit(r_true=R_TRUE, init_probs=PI0))
    assert frame.empty and list(frame.columns) == COLUMNS


def test_measured_categories_with_a_sampled_algorithm():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, -1, -1, -1, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob, algorithm=ls.RLOO(k=4, lr=0.5), steps=400, seeds=8))
    assert row.measured == "beneficial"


@pytest.mark.parametrize("kwargs, word", [(dict(steps=0), "steps"), (dict(tol=-1), "tol"),
                                          (dict(target=float("nan")), "target"), (dict(algorithm="exact"), "algorithm"),
                                          (dict(seeds=0), "seeds")])
def test_categorize_validates_its_arguments(kwargs, word):
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, -1, -1, -1, -1], init_probs=PI0)
    with pytest.raises(ValueError, match=word):
        ls.categorize(prob, **kwargs)


def test_predictions_are_read_off_the_initial_policy():
    # the same proxy, two initial policies: y1's error is beneficial from one, below the mean from the other
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, -1, -1, -1, -1],
                     init_probs=[PI0, [0.9, 0.025, 0.025, 0.025, 0.025]])
    frame = ls.categorize(prob, measure=False)
    assert frame.kind.tolist() == ["demoted mediocre output", "below the mean"]
    assert np.all(frame.pi0.values > 0)


def test_categorize_measures_in_the_dtype_it_is_given():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[1, -1, -1, -1, -1], init_probs=PI0)
    row = only_row(ls.categorize(prob, steps=5000, device="cpu", dtype=torch.float64))
    # float64: V_G first reaches 0.9 at step 168 with the error and never within 5000 steps once corrected
    assert row.effect == (5000 - 168) / 168 and row.evidence.startswith("time to V_G >= 0.9: 168 steps")
    # the names are accepted as in train; other types are refused naming the argument
    assert only_row(ls.categorize(prob, steps=5000, device="cpu", dtype="float64")).effect == row.effect
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64.*float16"):
        ls.categorize(prob, dtype=torch.float16)
