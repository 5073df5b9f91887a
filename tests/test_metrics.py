"""Tests of labsupport.metrics against hand-computed values (the definitions of section 4 of the paper) and
scipy.stats."""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from labsupport import metrics

E = math.e
NAN = float("nan")


# ----------------------------------------------------------------------------------------------------------------------
# Acc and HAcc
# ----------------------------------------------------------------------------------------------------------------------


def test_acc_counts_a_proxy_tie_as_an_error():
    # pairs: right, tie, wrong, right
    assert metrics.acc([1.0, 2.0, 3.0, 1.0], [0.0, 2.0, 4.0, 0.5]) == pytest.approx(0.5)
    assert metrics.acc([2.0], [2.0]) == 0.0


def test_hacc_forgives_only_rejected_rewards_strictly_below_v_hat():
    r_chosen = [1.0, 0.0, 0.0, 0.0, 0.3]
    r_rejected = [0.0, 1.0, 0.5, 0.2, 0.3]  # right; wrong above; wrong AT v_hat; wrong below; tie below
    v_hat = [0.5] * 5
    # forgiven: pair 3 (0.2 < 0.5) and pair 4 (a tie, but 0.3 < 0.5); pair 2 sits on the boundary and is not forgiven
    assert metrics.acc(r_chosen, r_rejected) == pytest.approx(1 / 5)
    assert metrics.hacc(r_chosen, r_rejected, v_hat) == pytest.approx(3 / 5)


def test_hacc_uses_the_v_hat_of_each_pair():
    # the same mis-ranked pair, on two prompts with different V_hat: forgiven on the first only
    assert metrics.hacc([0.0, 0.0], [0.2, 0.2], [0.5, 0.1]) == pytest.approx(0.5)


def test_hacc_equals_acc_when_nothing_is_forgivable_and_is_never_below_it():
    rc, rr = [1.0, 0.0, 0.0], [0.0, 1.0, 2.0]
    assert metrics.hacc(rc, rr, [-5.0, -5.0, -5.0]) == metrics.acc(rc, rr)
    assert metrics.hacc(rc, rr, [5.0, 5.0, 5.0]) == 1.0


# ----------------------------------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------------------------------


def _two_prompts():
    """Prompt A: responses a1, a2, a3 with pi_0 = .5, .3, .2 (3 pairs); prompt B: b1, b2 with pi_0 = .1, .05."""
    pi_c = np.array([0.5, 0.5, 0.3, 0.1])  # chosen of (a1,a2), (a1,a3), (a2,a3), (b1,b2)
    pi_r = np.array([0.3, 0.2, 0.2, 0.05])
    r_c = np.array([1.0, 0.0, 1.0, 1.0])  # pair (a1, a3) mis-ranked
    r_r = np.array([0.0, 1.0, 0.0, 0.0])
    return r_c, r_r, np.log(pi_c), np.log(pi_r)


def test_acc_w_normalises_over_all_pairs_of_all_prompts_together():
    r_c, r_r, lc, lr = _two_prompts()
    # w proportional to .15, .10, .06, .005 (sum .315); the correct pairs carry .15 + .06 + .005
    expected = (0.15 + 0.06 + 0.005) / 0.315
    assert metrics.acc_w(r_c, r_r, lc, lr) == pytest.approx(expected)
    # not the mean of per-prompt weighted accuracies, nor the plain accuracy
    per_prompt = ((0.15 + 0.06) / 0.31 + 1.0) / 2
    assert abs(expected - per_prompt) > 0.1 and abs(expected - 0.75) > 0.05
    np.testing.assert_allclose(metrics.pair_weights(lc, lr), np.array([0.15, 0.10, 0.06, 0.005]) / 0.315)


def test_hacc_w_uses_the_same_weights():
    r_c, r_r, lc, lr = _two_prompts()
    # V_hat above r(a3)=1 for prompt A forgives pair (a1, a3); below it does not
    assert metrics.hacc_w(r_c, r_r, [1.5] * 4, lc, lr) == pytest.approx(1.0)
    assert metrics.hacc_w(r_c, r_r, [1.0] * 4, lc, lr) == pytest.approx(0.215 / 0.315)


def test_length_normalisation_changes_the_weights_as_computed_by_hand():
    r_c, r_r = [1.0, 0.0], [0.0, 1.0]  # only pair 0 right
    lc, lr = [-2.0, -6.0], [-4.0, -3.0]
    # plain: s = (-6, -9) -> w0 = 1 / (1 + e^-3)
    # per token: s = (-2/2 - 4/4, -6/3 - 3/3) = (-2, -3) -> w0 = 1 / (1 + e^-1)
    assert metrics.acc_w(r_c, r_r, lc, lr) == pytest.approx(1 / (1 + E**-3))
    assert metrics.acc_w(r_c, r_r, lc, lr, len_chosen=[2, 3], len_rejected=[4, 3]) == pytest.approx(1 / (1 + E**-1))
    assert metrics.hacc_w(r_c, r_r, [0.0, 0.0], lc, lr, [2, 3], [4, 3]) == pytest.approx(1 / (1 + E**-1))


def test_weights_are_stable_for_very_negative_log_probabilities():
    r_c, r_r = [1.0, 0.0], [0.0, 1.0]
    value = metrics.acc_w(r_c, r_r, [-1000.0, -1001.0], [-1000.0, -1000.0])
    assert value == pytest.approx(1 / (1 + E**-1))
    w = metrics.pair_weights([-1000.0, -1001.0, -1500.0], [-1000.0, -1000.0, -500.0])
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, metrics.pair_weights([0.0, -1.0, -1000.0], [0.0, 0.0, 1000.0]))


def test_equal_log_probabilities_give_the_unweighted_metrics():
    rc, rr, v = [1.0, 0.0, 0.0, 2.0], [0.0, 1.0, 0.2, 2.0], [0.5] * 4
    lp = [-3.0] * 4
    assert metrics.acc_w(rc, rr, lp, lp) == pytest.approx(metrics.acc(rc, rr))
    assert metrics.hacc_w(rc, rr, v, lp, lp) == pytest.approx(metrics.hacc(rc, rr, v))


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    rc, rr = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert metrics.acc(rc, rr) == 0.5
    assert metrics.acc_w(rc, rr, torch.tensor([-1.0, -2.0]), torch.tensor([-1.0, -1.0])) == pytest.approx(E / (E + 1))


# ----------------------------------------------------------------------------------------------------------------------
# One-vs-many
# ----------------------------------------------------------------------------------------------------------------------

R_CHOSEN = [1.0, 0.0, 0.0, 2.0]
R_REJECTED_LIST = [[0.0, 0.5], [0.2, -1.0, 0.1], [0.4], [2.0, 1.0]]
R_REJECTED_PADDED = np.array([[0.0, 0.5, NAN], [0.2, -1.0, 0.1], [0.4, NAN, NAN], [2.0, 1.0, NAN]])
V_HAT = [0.0, 0.3, 0.4, 0.0]
# group 0 right; 1 wrong but all rejected < 0.3 (forgiven); 2 wrong, max = V_hat (not forgiven); 3 tie with max (wrong)
LOGP_CHOSEN = [-1.0, -2.0, -1.0, -1.0]
LOGP_REJECTED_LIST = [[-1.0, -1.0], [-1.0, -1.0, -1.0], [-1.0], [-1.0, -1.0]]
# s = (-3, -5, -2, -3)
Z = 2 * E**-3 + E**-5 + E**-2


@pytest.mark.parametrize("r_rejected", [R_REJECTED_LIST, R_REJECTED_PADDED], ids=["list", "nan-padded"])
def test_one_vs_many_on_ragged_groups(r_rejected):
    assert metrics.acc_1vk(R_CHOSEN, r_rejected) == pytest.approx(1 / 4)
    assert metrics.hacc_1vk(R_CHOSEN, r_rejected, V_HAT) == pytest.approx(2 / 4)
    assert metrics.acc_w_1vk(R_CHOSEN, r_rejected, LOGP_CHOSEN, LOGP_REJECTED_LIST) == pytest.approx(E**-3 / Z)
    assert metrics.hacc_w_1vk(R_CHOSEN, r_rejected, V_HAT, LOGP_CHOSEN, LOGP_REJECTED_LIST) == pytest.approx(
        (E**-3 + E**-5) / Z
    )


def test_one_vs_many_length_normalisation():
    lengths_rejected = [[1, 2], [1, 1, 1], [0.5], [1, 1]]
    # s = (-1 - 1 - 0.5, -2 - 3, -1 - 2, -1 - 2) with chosen lengths 1
    s = np.array([-2.5, -5.0, -3.0, -3.0])
    w = np.exp(s) / np.exp(s).sum()
    got = metrics.group_weights(LOGP_CHOSEN, LOGP_REJECTED_LIST, [1, 1, 1, 1], lengths_rejected)
    np.testing.assert_allclose(got, w)
    value = metrics.acc_w_1vk(
        R_CHOSEN, R_REJECTED_LIST, LOGP_CHOSEN, LOGP_REJECTED_LIST, [1, 1, 1, 1], lengths_rejected
    )
    assert value == pytest.approx(w[0])


finite = st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 1))  # rounding makes ties frequent


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite, finite, st.floats(-50, 0), st.floats(-50, 0)), min_size=1, max_size=20))
def test_one_vs_many_with_one_rejected_equals_pairwise(rows):
    rc, rr, v, lc, lr = (np.array(col) for col in zip(*rows))
    assert metrics.acc_1vk(rc, rr[:, None]) == metrics.acc(rc, rr)
    assert metrics.hacc_1vk(rc, rr[:, None], v) == metrics.hacc(rc, rr, v)
    assert metrics.acc_w_1vk(rc, rr[:, None], lc, lr[:, None]) == pytest.approx(metrics.acc_w(rc, rr, lc, lr))
    assert metrics.hacc_w_1vk(rc, list(rr[:, None]), v, lc, list(lr[:, None])) == pytest.approx(
        metrics.hacc_w(rc, rr, v, lc, lr)
    )
    assert metrics.acc(rc, rr) <= metrics.hacc(rc, rr, v)


# ----------------------------------------------------------------------------------------------------------------------
# Preference pairs
# ----------------------------------------------------------------------------------------------------------------------


def test_preference_pairs_drops_and_counts_ties():
    pairs = metrics.preference_pairs(["a", "a", "a", "b", "b", "c"], [1.0, 0.0, 1.0, 2.0, 3.0, 5.0])
    # a: (0,1) kept, (0,2) tie, (1,2) kept as 2 > 1; b: (3,4) kept as 4 > 3; c has one response and no pair
    assert pairs.chosen.tolist() == [0, 2, 4]
    assert pairs.rejected.tolist() == [1, 1, 3]
    assert pairs.n_ties == 1


def test_preference_pairs_groups_interleaved_prompts_and_respects_tol():
    ids, scores = [7, 3, 7, 3, 7], [0.0, 0.0, 1.0, 0.05, 0.9]
    pairs = metrics.preference_pairs(ids, scores)
    assert list(zip(pairs.chosen.tolist(), pairs.rejected.tolist())) == [(2, 0), (4, 0), (2, 4), (3, 1)]
    assert pairs.n_ties == 0
    pairs = metrics.preference_pairs(ids, scores, tol=0.1)  # 1.0 vs 0.9 and 0.0 vs 0.05 become ties
    assert list(zip(pairs.chosen.tolist(), pairs.rejected.tolist())) == [(2, 0), (4, 0)]
    assert pairs.n_ties == 2


def test_tied_pairs_are_kept_oriented_by_position_with_tie_keep():
    # one prompt, four samples in the order drawn: r_G = (1, 0, 1, 0), r_P = (0.5, 0.2, 0.9, 0.2)
    r_g, r_p = [1.0, 0.0, 1.0, 0.0], np.array([0.5, 0.2, 0.9, 0.2])
    drop = metrics.preference_pairs(np.zeros(4), r_g)
    keep = metrics.preference_pairs(np.zeros(4), r_g, tie="keep")
    # drop: the 4 untied pairs (0,1), (0,3), (2,1), (2,3), all ranked right by r_P: Acc = 4/4
    assert list(zip(drop.chosen.tolist(), drop.rejected.tolist())) == [(0, 1), (0, 3), (2, 1), (2, 3)]
    assert drop.n_ties == 2 and metrics.acc(r_p[drop.chosen], r_p[drop.rejected]) == 1.0
    # keep: all C(4, 2) = 6 pairs; the ties (0, 2) and (1, 3) keep the earlier sample as chosen. r_P ranks (0, 2)
    # wrong (0.5 < 0.9) and ties (1, 3) (0.2 = 0.2, an error): Acc = 4/6
    assert list(zip(keep.chosen.tolist(), keep.rejected.tolist())) == [(0, 1), (0, 2), (0, 3), (2, 1), (1, 3), (2, 3)]
    assert keep.n_ties == 2 and metrics.acc(r_p[keep.chosen], r_p[keep.rejected]) == 4 / 6
    # HAcc with V_hat = mean r_P = 0.45: neither kept tie is forgiven (0.9 >= 0.45), the proxy tie is (0.2 < 0.45)
    v = np.full(6, r_p.mean())
    assert metrics.hacc(r_p[keep.chosen], r_p[keep.rejected], v) == 5 / 6


def test_tie_keep_with_tol_and_several_prompts_keeps_every_pair():
    ids, scores = [7, 3, 7, 3, 7], [0.0, 0.0, 1.0, 0.05, 0.9]
    keep = metrics.preference_pairs(ids, scores, tol=0.1, tie="keep")
    # prompt 7: (0,2) and (0,4) ordered by score, (2,4) a tie within tol kept as (2,4); prompt 3: (1,3) a tie kept
    assert list(zip(keep.chosen.tolist(), keep.rejected.tolist())) == [(2, 0), (4, 0), (2, 4), (1, 3)]
    assert keep.n_ties == 2
    drop = metrics.preference_pairs(ids, scores, tol=0.1)
    assert len(keep.chosen) == len(drop.chosen) + drop.n_ties and keep.n_ties == drop.n_ties


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=40), st.integers(1, 30))
def test_tie_keep_streamed_in_blocks_gives_all_pairs_once(rows, block):
    ids, scores = [r[0] for r in rows], [float(r[1]) for r in rows]
    blocks = list(metrics.pair_blocks(ids, scores, block=block, tie="keep"))
    chosen = np.concatenate([b.chosen for b in blocks])
    rejected = np.concatenate([b.rejected for b in blocks])
    expected = [(i, j) for i in range(len(ids)) for j in range(i + 1, len(ids)) if ids[i] == ids[j]]
    got = sorted((min(c, r), max(c, r)) for c, r in zip(chosen.tolist(), rejected.tolist()))
    assert got == sorted(expected)  # every pair of a prompt exactly once
    s = np.array(scores)
    assert np.all((s[chosen] > s[rejected]) | ((s[chosen] == s[rejected]) & (chosen < rejected)))
    assert sum(b.n_ties for b in blocks) == int(np.sum(s[chosen] == s[rejected]))


def test_ten_distinct_samples_give_45_pairs():
    pairs = metrics.preference_pairs(np.zeros(10), np.arange(10.0))
    assert len(pairs.chosen) == 45 and pairs.n_ties == 0
    assert np.all(np.arange(10.0)[pairs.chosen] > np.arange(10.0)[pairs.rejected])


# ----------------------------------------------------------------------------------------------------------------------
# Correlations
# ----------------------------------------------------------------------------------------------------------------------

small_ints = st.integers(-3, 3).map(float)  # few values: many ties


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(small_ints, small_ints), min_size=2, max_size=40))
def test_correlations_match_scipy(pairs):
    x, y = (np.array(col) for col in zip(*pairs))
    constant = np.all(x == x[0]) or np.all(y == y[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant input
        expected = {
            "pearson": scipy.stats.pearsonr(x, y)[0],
            "spearman": scipy.stats.spearmanr(x, y)[0],
            "kendall": scipy.stats.kendalltau(x, y, variant="b")[0],
        }
    for name, value in expected.items():
        got = getattr(metrics, name)(x, y)
        if constant:
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(value, abs=1e-9), name


def test_correlations_on_random_data_with_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 300).astype(float)
    y = x + rng.integers(-2, 3, 300)
    assert metrics.pearson(x, y) == pytest.approx(scipy.stats.pearsonr(x, y)[0])
    assert metrics.spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y)[0])
    assert metrics.kendall(x, y) == pytest.approx(scipy.stats.kendalltau(x, y)[0])


@pytest.mark.parametrize("name", ["pearson", "spearman", "kendall"])
def test_correlation_of_constant_input_is_nan(name):
    f = getattr(metrics, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nan by design, not through a 0/0 warning
        assert math.isnan(f([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]))
    assert math.isnan(f([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]))
    assert math.isnan(f([1.0], [1.0]))
    assert f([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_bootstrap_ci_contains_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = x + 0.3 * rng.normal(size=40)
    estimate = metrics.pearson(x, y)
    low, high = metrics.bootstrap_ci(x, y, metrics.pearson, n_resamples=500, seed=3)
    assert 0.8 < low < estimate < high <= 1.0
    assert metrics.bootstrap_ci(x, y, metrics.pearson, n_resamples=500, seed=3) == (low, high)
    assert metrics.bootstrap_ci(x, y, "pearson", n_resamples=500, seed=3) == (low, high)
    assert metrics.bootstrap_ci(x, y, metrics.pearson, n_resamples=500, seed=4) != (low, high)
    narrow = metrics.bootstrap_ci(x, y, metrics.pearson, n_resamples=500, level=0.5, seed=3)
    assert low < narrow[0] < narrow[1] < high


def test_bootstrap_ci_is_the_percentile_interval():
    x, y = np.arange(6.0), np.array([0.0, 2.0, 1.0, 3.0, 5.0, 4.0])
    draws = np.random.default_rng(11).integers(0, 6, size=(300, 6))
    values = [scipy.stats.kendalltau(x[i], y[i])[0] for i in draws]
    values = np.array([v for v in values if np.isfinite(v)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = metrics.bootstrap_ci(x, y, "kendall", n_resamples=300, level=0.9, seed=11)
    np.testing.assert_allclose((low, high), np.quantile(values, [0.05, 0.95]))


def test_bootstrap_ci_warns_about_undefined_resamples():
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert metrics.bootstrap_ci([0.0, 1.0], [0.0, 1.0], "pearson", n_resamples=50) == (1.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------------
# Validation: a one-line ValueError naming the argument
# ----------------------------------------------------------------------------------------------------------------------

INVALID = [
    ("r_rejected", lambda: metrics.acc([1.0, 2.0], [1.0])),
    ("r_chosen", lambda: metrics.acc([], [])),
    ("r_chosen", lambda: metrics.acc([NAN, 1.0], [0.0, 0.0])),
    ("r_rejected", lambda: metrics.acc([1.0, 1.0], [0.0, float("inf")])),
    ("r_chosen", lambda: metrics.acc([[1.0]], [[0.0]])),
    ("v_hat", lambda: metrics.hacc([1.0], [0.0], [float("-inf")])),
    ("v_hat", lambda: metrics.hacc([1.0, 0.0], [0.0, 1.0], [0.0])),
    ("logp_chosen", lambda: metrics.acc_w([1.0], [0.0], [NAN], [-1.0])),
    ("logp_rejected", lambda: metrics.acc_w([1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [-1.0])),
    ("logp_chosen", lambda: metrics.acc_w([1.0, 0.0], [0.0, 1.0], [-1.0], [-1.0])),
    ("len_chosen", lambda: metrics.acc_w([1.0], [0.0], [-1.0], [-1.0], [0], [3])),
    ("len_rejected", lambda: metrics.hacc_w([1.0], [0.0], [0.0], [-1.0], [-1.0], [2], [-3])),
    ("len_rejected", lambda: metrics.acc_w([1.0], [0.0], [-1.0], [-1.0], len_chosen=[2])),
    ("r_rejected", lambda: metrics.acc_1vk([1.0, 0.0], [[0.0, 1.0], [NAN, NAN]])),
    ("r_rejected", lambda: metrics.acc_1vk([1.0], [[0.0, float("inf")]])),
    ("r_rejected", lambda: metrics.hacc_1vk([1.0, 0.0], [[0.0]], [0.0, 0.0])),
    ("logp_rejected", lambda: metrics.acc_w_1vk([1.0], [[0.0, 1.0]], [-1.0], [[-1.0, NAN]])),
    ("len_rejected", lambda: metrics.acc_w_1vk([1.0], [[0.0, 1.0]], [-1.0], [[-1.0, -1.0]], [1], [[1, 0]])),
    ("scores", lambda: metrics.preference_pairs([0, 0, 1], [1.0, 2.0])),
    ("prompt_ids", lambda: metrics.preference_pairs([], [])),
    ("tol", lambda: metrics.preference_pairs([0, 0], [1.0, 2.0], tol=-1.0)),
    ("tie", lambda: metrics.preference_pairs([0, 0], [1.0, 2.0], tie="arbitrary")),
    ("tie", lambda: metrics.pair_blocks([0, 0], [1.0, 2.0], tie=None)),
    ("y", lambda: metrics.pearson([1.0, 2.0], [1.0, NAN])),
    ("y", lambda: metrics.kendall([1.0, 2.0], [1.0])),
    ("level", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", level=1.0)),
    ("level", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", level=0.0)),
    ("n_resamples", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", n_resamples=0)),
    ("stat", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearsn")),
]


@pytest.mark.parametrize("argument, call", INVALID, ids=[f"{a}-{i}" for i, (a, _) in enumerate(INVALID)])
def test_invalid_input_raises_a_one_line_error_naming_the_argument(argument, call):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(argument) or f" {argument}" in message, message
    assert "\n" not in message


def test_error_messages_show_the_bad_value_or_shape():
    with pytest.raises(ValueError, match=r"r_chosen must be finite; got nan at index 1"):
        metrics.acc([0.0, NAN], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"r_rejected has length 1 but r_chosen has length 2"):
        metrics.acc([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"len_chosen must be positive .*got 0.0 at index 1"):
        metrics.acc_w([1.0, 1.0], [0.0, 0.0], [-1.0, -1.0], [-1.0, -1.0], [3, 0], [3, 3])
    with pytest.raises(ValueError, match=r"level .* got 1\.5"):
        metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", level=1.5)


def test_docstring_examples():
    result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0


# ---------------------------------------------------------------------------------------------- extreme inputs

_EXTREME_LOGP = st.one_of(
    st.floats(min_value=-1.7976931348623157e308, max_value=0.0, allow_nan=False),
    st.sampled_from([-1e16, -1.7e308, -1.7976931348623157e308, -5e-324, 0.0, -1000.0]),
)


@settings(max_examples=200, deadline=None)
@given(
    logp=st.lists(st.tuples(_EXTREME_LOGP, _EXTREME_LOGP), min_size=1, max_size=12),
    lengths=st.lists(st.integers(1, 2**53), min_size=24, max_size=24),
    wins=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_weighted_metrics_in_unit_interval_for_any_finite_logp(logp, lengths, wins):
    """Acc-W, HAcc-W (pairs and one-vs-many, both weightings) lie in [0, 1] and the weights sum to 1 for log-
    probabilities down to -1.8e308; with every pair ranked right Acc-W is 1 (within rounding), with none 0."""
    p = len(logp)
    lc, lr = (np.array([x[k] for x in logp]) for k in (0, 1))
    nc, nr = np.array(lengths[:p], dtype=float), np.array(lengths[12 : 12 + p], dtype=float)
    rc = np.where(wins[:p], 1.0, 0.0)
    rr = np.full(p, 0.5)
    v = np.zeros(p)
    for norm in ((), (nc, nr)):
        w = metrics.pair_weights(lc, lr, *norm)
        assert np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
        for value in (metrics.acc_w(rc, rr, lc, lr, *norm), metrics.hacc_w(rc, rr, v, lc, lr, *norm),
                      metrics.acc_w_1vk(rc, rr, lc, lr, *norm), metrics.hacc_w_1vk(rc, rr, v, lc, lr, *norm)):
            assert 0.0 <= value <= 1.0
        assert metrics.acc_w(np.ones(p), np.zeros(p), lc, lr, *norm) == pytest.approx(1.0, abs=1e-12)
        assert metrics.acc_w(np.zeros(p), np.ones(p), lc, lr, *norm) == 0.0


def test_weights_at_minus_1e16_and_minus_1_7e308():
    """The two inputs that broke the naive log-sum-exp: equal scores of -1e16 give equal weights (Acc-W was 2.0),
    and -1.7e308 (whose pair sums overflow to -inf) gives the exact weights, not NaN."""
    assert metrics.pair_weights([-1e16, -1e16], [-1e16, -1e16]).tolist() == [0.5, 0.5]
    assert metrics.acc_w([1.0, 1.0], [0.0, 0.0], [-1e16, -1e16], [-1e16, -1e16]) == 1.0
    w = metrics.pair_weights([-1.7e308, -1.7e308], [-1.7e308, -1.6e308])  # pair 2 is e^(1e307) times likelier
    assert w.tolist() == [0.0, 1.0]
    assert metrics.group_weights([-1.7e308, -1.7e308], [[-1.7e308, -1.7e308], [-1.7e308, np.nan]]).tolist() == [0, 1]
