"""The theory of chapters 1-2 checked against finite differences, sampling, and random instances."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import labsupport as ls
from labsupport import theory

TOY = dict(r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1], init_probs=[0.05, 0.5, 0.15, 0.15, 0.15])
S = 1 / np.sqrt(2)


def geometry(phi_med):
    phi = np.array([[1.5, 0, 0, 0, 0], phi_med, [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
    return ls.Bandit(**TOY, features=phi)


def finite_difference(problem, theta, reward, h=1e-6):
    theta = np.asarray(theta, dtype=float)
    grad = np.zeros_like(theta)
    for i in np.ndindex(theta.shape):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        grad[i] = ((theory.value_at(problem, up, reward) - theory.value_at(problem, down, reward)) / (2 * h))[i[0]]
    return grad


@pytest.mark.parametrize("problem", [ls.Bandit(**TOY), geometry([S, S, 0, 0, 0]), geometry([-S, S, 0, 0, 0])])
@pytest.mark.parametrize("reward", ["true", "proxy"])
def test_exact_gradient_equals_finite_differences(problem, reward):
    rng = np.random.default_rng(0)
    theta = problem.theta0.numpy() + rng.normal(size=problem.theta0.shape)
    np.testing.assert_allclose(theory.gradient_at(problem, theta, reward), finite_difference(problem, theta, reward),
                               atol=1e-8)


def test_exactpg_step_is_lr_times_the_gradient():
    problem = geometry([S, S, 0, 0, 0])
    run = ls.train(problem, ls.ExactPG(lr=1e-3), steps=1, reward="true", dtype=torch.float64)
    # the parameter change is not recorded, but the logit change is Phi (lr * grad)
    expected_logits = problem.features[0].numpy() @ (problem.theta0[0].numpy()
                                                      + 1e-3 * theory.gradient_at(problem, problem.theta0, "true")[0])
    np.testing.assert_allclose(np.log(run.probs[1, 0]), expected_logits - np.log(np.exp(expected_logits).sum()),
                               atol=1e-12)


def mean_direction(algo, b=200_000, seed=0, problem_kwargs=TOY):
    """Average one-step logit change / lr over b identical tabular runs: the mean gradient estimate."""
    rows = {k: [v] * b for k, v in problem_kwargs.items()}
    problem = ls.Bandit(**rows)
    run = ls.train(problem, algo, steps=1, seed=seed, dtype=torch.float64)
    theta0 = np.log(run.probs[0])
    # tabular: theta = logits up to a constant per run; remove the mean to compare
    step = (np.log(run.probs[1]) - theta0) / algo.lr
    step -= step.mean(-1, keepdims=True)
    return step.mean(0), step.std(0) / np.sqrt(b)


def exact_direction():
    g = theory.gradient_at(ls.Bandit(**TOY), ls.Bandit(**TOY).theta0, "proxy")[0]
    return g - g.mean()


@pytest.mark.parametrize("algo, factor", [
    (ls.Reinforce(samples=1, lr=1e-4), 1.0),
    (ls.Reinforce(samples=4, baseline="loo", lr=1e-4), 1.0),
    (ls.RLOO(k=8, lr=1e-4), 1.0),
    (ls.Reinforce(samples=4, baseline="mean", lr=1e-4), 0.75),  # the mean baseline shrinks it by (K-1)/K
])
def test_mean_of_sampled_gradients_converges_to_the_exact_gradient(algo, factor):
    mean, se = mean_direction(algo)
    exact = factor * exact_direction()
    assert np.all(np.abs(mean - exact) < 5 * se + 1e-6), (mean, exact, se)
    assert np.abs(exact).max() > 20 * se.max()  # the check has power


def test_baselines_reduce_the_variance_of_the_estimate():
    _, se_plain = mean_direction(ls.Reinforce(samples=4, lr=1e-4), b=50_000)
    _, se_loo = mean_direction(ls.RLOO(k=4, lr=1e-4), b=50_000)
    assert se_loo.sum() < 0.8 * se_plain.sum()


@pytest.mark.parametrize("problem", [ls.Bandit(**TOY), geometry([-S, S, 0, 0, 0])])
def test_proxy_value_never_decreases_under_small_step_exact_pg(problem):
    run = ls.train(problem, ls.ExactPG(lr=0.01), steps=5000, reward="proxy", dtype=torch.float64)
    assert np.diff(run.proxy_value[:, 0]).min() > -1e-12
    assert run.proxy_value[-1, 0] > run.proxy_value[0, 0] + 0.5


@pytest.mark.parametrize("problem", [ls.Bandit(**TOY), geometry([S, S, 0, 0, 0]), geometry([-S, S, 0, 0, 0])])
@pytest.mark.parametrize("train_on", ["proxy", "true"])
def test_value_rate_decomposition_matches_a_finite_difference(problem, train_on):
    eps = 1e-6
    run = ls.train(problem, ls.ExactPG(lr=eps), steps=1, reward=train_on, dtype=torch.float64)
    measured = (run.true_value[1, 0] - run.true_value[0, 0]) / eps
    terms = theory.value_rate_terms(problem, reward=train_on)
    assert terms.sum() == pytest.approx(measured, rel=1e-4, abs=1e-9)


def test_tabular_decomposition_is_pi_squared_times_both_advantages():
    problem = ls.Bandit(**TOY)
    p = problem.init_probs.numpy()
    a_g, a_p = theory.advantages(problem, "true"), theory.advantages(problem, "proxy")
    np.testing.assert_allclose(theory.value_rate_terms(problem), p**2 * a_g * a_p, atol=1e-15)
    # the paper's caution: this beneficial error makes the initial rate negative
    assert theory.value_rate(problem)[0] < 0 < theory.value_rate(problem, reward="true")[0]


def test_attracts_reads_the_advantage_rule_in_the_toy():
    problem = ls.Bandit(**TOY)
    assert theory.attracts(problem, "proxy").tolist() == [[True, False, False, False, False]]
    assert theory.attracts(problem, "true").tolist() == [[True, True, False, False, False]]
    # positive overlap with y*: y_med's logit is also pulled up by y*'s advantage
    assert theory.attracts(geometry([S, S, 0, 0, 0]), "proxy")[0, 1]


def test_probability_can_fall_while_its_logit_rises():
    # y1 is above the mean but y0 is far above it and already likely: y1's logit rises, its probability falls
    problem = ls.Bandit(r_true=[1.0, 0.2, -1.0, -1.0], init_probs=[0.5, 0.05, 0.225, 0.225])
    assert theory.logit_velocity(problem, "true")[0, 1] > 0 > theory.prob_velocity(problem, "true")[0, 1]


# ------------------------------------------------------------------------------------- property-based

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


@st.composite
def instances(draw, features=False):
    n = draw(st.integers(2, 6))
    r_true = draw(st.lists(finite, min_size=n, max_size=n))
    r_proxy = draw(st.lists(finite, min_size=n, max_size=n))
    logits = draw(st.lists(st.floats(-4, 4), min_size=n, max_size=n))
    phi = None
    if features:
        d = n  # full rank with probability one: any initial policy is representable
        phi = np.asarray(draw(st.lists(st.lists(st.floats(-2, 2), min_size=d, max_size=d), min_size=n, max_size=n)))
        phi = phi + 3 * np.eye(n)
    return ls.Bandit(r_true=r_true, r_proxy=r_proxy, init_logits=logits, features=phi)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_tabular_identities_hold_on_random_instances(problem):
    p = problem.init_probs.numpy()
    a_p = theory.advantages(problem, "proxy")
    # advantages are centred under the policy; logits move by pi * A; the advantage rule
    assert abs((p * a_p).sum()) < 1e-9
    np.testing.assert_allclose(theory.logit_velocity(problem), p * a_p, atol=1e-12)
    np.testing.assert_array_equal(theory.attracts(problem), p * a_p > 0)
    # d pi / dt = pi (pi A - sum pi^2 A)  and it sums to zero
    dpi = theory.prob_velocity(problem)
    np.testing.assert_allclose(dpi, p * (p * a_p - (p**2 * a_p).sum(-1, keepdims=True)), atol=1e-12)
    assert abs(dpi.sum()) < 1e-12
    # dV_P/dt = ||grad V_P||^2 >= 0
    assert theory.value_rate(problem, reward="proxy", measure="proxy")[0] == pytest.approx(
        (theory.gradient_at(problem, problem.theta0, "proxy") ** 2).sum(), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(instances(features=True))
def test_log_linear_rate_is_the_inner_product_of_the_two_gradients(problem):
    g_true = theory.gradient_at(problem, problem.theta0, "true")
    g_proxy = theory.gradient_at(problem, problem.theta0, "proxy")
    rate = theory.value_rate(problem)[0]
    assert rate == pytest.approx(float((g_true * g_proxy).sum()), rel=1e-7, abs=1e-9)
    assert theory.value_rate(problem, reward="proxy", measure="proxy")[0] >= -1e-12


def test_the_reward_argument_is_reward_everywhere_and_the_old_names_warn():
    """reward= names the reward trained on or read in the whole theory API; which= and train_on= still work for one
    release, with a DeprecationWarning, and give the same numbers; both names at once is an error."""
    prob = ls.Bandit(r_true=[1, .8, -1], r_proxy=[1, -1, -1], init_probs=[.2, .5, .3])
    run = ls.train(prob, ls.ExactPG(lr=0.5), steps=40, reward="proxy", dtype=torch.float64)
    for new, old in [
        (lambda: run.steps_to(-0.2, reward="proxy"), lambda: run.steps_to(-0.2, which="proxy")),
        (lambda: run.variance(reward="true"), lambda: run.variance(which="true")),
        (lambda: prob.reward("proxy").numpy(), lambda: prob.reward(which="proxy").numpy()),
        (lambda: theory.value_rate(prob, reward="true"), lambda: theory.value_rate(prob, train_on="true")),
        (lambda: theory.value_rate_terms(prob, reward="true"), lambda: theory.value_rate_terms(prob, train_on="true")),
    ]:
        with pytest.warns(DeprecationWarning, match="is deprecated; use reward="):
            before = old()
        np.testing.assert_array_equal(before, new())
    assert theory.value_rate(prob, reward="true")[0] != theory.value_rate(prob, reward="proxy")[0]
    with pytest.raises(ValueError, match="train_on"):  # the error names the argument the caller used
        with pytest.warns(DeprecationWarning):
            theory.value_rate(prob, train_on="both")
    with pytest.raises(ValueError, match="give only reward"):
        run.steps_to(0.5, reward="proxy", which="true")


@pytest.mark.parametrize(("err", "fix", "hit_fix", "horizon", "evidence"), [
    ([1.0, 1.0], [2.0, 2.0], True, 5, "1 step with the error, 2 steps once corrected"),
    ([1.0, 1.0], [1.0, 1.0], False, 1, "1 step with the error, not reached in 1 step once corrected"),
    ([0.6, 1.4], [0.0, 0.0], True, 5, "1 step with the error, 0 steps once corrected"),
])
def test_a_measured_verdict_counts_one_step_in_the_singular(err, fix, hit_fix, horizon, evidence):
    hit = np.array([True, True])
    verdict = theory._verdict(np.array(err), np.array(fix), hit, hit & hit_fix, np.array(0.5), np.array(0.5), 1.0,
                              0.9, horizon, 0.1)
    assert evidence in verdict["evidence"]


@pytest.mark.parametrize(("horizon", "words"), [(1, "not reached in 1 step either way"),
                                                (3, "not reached in 3 steps either way")])
def test_a_level_never_reached_names_the_horizon_in_the_right_number(horizon, words):
    never = np.array([False])
    verdict = theory._verdict(np.array([1.0]), np.array([1.0]), never, never, np.array(0.5), np.array(0.4), 1.0, 0.9,
                              horizon, 0.01)
    assert words in verdict["evidence"]
