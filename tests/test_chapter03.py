"""Chapter 3 (reward variance and vanishing gradients): every claim of the chapter and its lab, checked on the
functions the lab calls (``theory.value_rate``, ``theory.value_rate_terms``, ``Run.variance``, ``Run.steps_to``,
``metrics.acc``), at small sizes."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import labsupport as ls
from labsupport import theory

# the paper's toy problem
R_G_TOY, R_P_TOY, PI0_TOY = [1, 0.8, -1, -1, -1], [1, -1, -1, -1, -1], [0.05, 0.5, 0.15, 0.15, 0.15]

# the eight-output instance of sections 3-5 of the chapter
R_G = np.array([1.0, 0.8, 0.6, 0.4, 0.2, -0.2, -0.6, -1.0])
PI_TOP = [0.2, 0.4, 0.35, 0.01, 0.01, 0.01, 0.01, 0.01]
PI_LOW = [0.02, 0.01, 0.01, 0.02, 0.04, 0.1, 0.3, 0.5]


def squash(p):
    return 1 - 2 * ((1 - R_G) / 2) ** p


R_A = squash(2)                      # 1 - (1 - r_G)^2 / 2
R_B = np.r_[R_G[:3], R_G[:2:-1]]     # the five lowest outputs in reversed order


def at_start(problem):
    """A zero-step run: records the initial policy (float64, CPU)."""
    return ls.train(problem, ls.ExactPG(), steps=0, dtype=torch.float64, device="cpu")


def train(problem, steps, lr=0.1, record_every=1):
    return ls.train(problem, ls.ExactPG(lr=lr), steps, reward="proxy", dtype=torch.float64, device="cpu",
                    record_every=record_every)


def accuracy(r):
    pairs = ls.metrics.preference_pairs(np.zeros(len(R_G)), R_G)
    return ls.metrics.acc(r[pairs.chosen], r[pairs.rejected])


# ------------------------------------------------------------------------------------------ the gradient bound

instances = st.integers(2, 8).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-5, 5), min_size=n, max_size=n),
    st.lists(st.floats(-5, 5), min_size=n, max_size=n),
    st.lists(st.floats(-6, 6), min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(instances)
def test_gradient_norm_is_bounded_by_max_prob_times_variance(instance):
    r_true, r_proxy, logits = instance
    problem = ls.Bandit(r_true=r_true, r_proxy=r_proxy, init_logits=logits)
    start = at_start(problem)
    max_pi = start.probs[0, 0].max()
    # Var = E[r^2] - V^2 can come out a hair below 0 by round-off when the reward is (nearly) constant
    var_g, var_p = max(start.variance("true")[0, 0], 0.0), max(start.variance("proxy")[0, 0], 0.0)
    grad_sq = theory.value_rate(problem, reward="true", measure="true")[0]
    tol = 1e-12
    assert grad_sq <= max_pi * var_g + tol                                    # eq. ch3-bound
    assert grad_sq <= 2 * (1 - max_pi) * var_g + tol                          # exercise 3.1
    rate = theory.value_rate(problem, reward="proxy", measure="true")[0]
    assert abs(rate) <= max_pi * math.sqrt(var_g * var_p) + tol               # eq. ch3-vg-bound


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-3, 3), min_size=n, max_size=n),
    st.lists(st.floats(0.05, 1), min_size=n, max_size=n),
    st.lists(st.floats(-2, 2), min_size=n * n, max_size=n * n))))
def test_log_linear_gradient_bound(instance):
    r, weights, entries = instance
    n = len(r)
    phi = np.eye(n) * 2 + 0.3 * np.asarray(entries).reshape(n, n)
    if abs(np.linalg.det(phi)) < 1e-3:
        return                                             # features must represent pi_0 exactly
    probs = np.asarray(weights) / np.sum(weights)
    problem = ls.Bandit(r_true=r, init_probs=probs, features=phi)
    grad = theory.gradient_at(problem, problem.theta0, "true")[0]
    var = at_start(problem).variance("true")[0, 0]
    # ||grad||^2 = value_rate for any features, and <= ||Phi||^2 max pi Var (eq. ch3-loglinear)
    assert np.dot(grad, grad) == pytest.approx(theory.value_rate(problem, reward="true", measure="true")[0],
                                               rel=1e-9, abs=1e-14)
    assert np.dot(grad, grad) <= np.linalg.norm(phi, 2) ** 2 * probs.max() * var + 1e-12


def test_uniform_policy_attains_the_bound():
    r = [0.3, -1.2, 2.0, 0.5]
    problem = ls.Bandit(r_true=r)
    var = at_start(problem).variance("true")[0, 0]
    assert theory.value_rate(problem, reward="true", measure="true")[0] == pytest.approx(var / 4, rel=1e-12)


@pytest.mark.parametrize("k, value", [(1, 0.8), (2, -1.0)])
def test_gradient_vanishes_far_from_the_optimum(k, value):
    """Policies with 1 - eps on one output: V_G stays near r_G of that output, the gradient falls like eps."""
    eps = np.array([1e-2, 1e-3, 1e-4])
    probs = np.repeat(eps[:, None] / 4, 5, axis=1)
    probs[:, k] = 1 - eps
    problem = ls.Bandit(r_true=R_G_TOY, init_probs=probs)
    start = at_start(problem)
    grad = np.sqrt(theory.value_rate(problem, reward="true", measure="true"))
    spread = max(R_G_TOY) - min(R_G_TOY)
    assert np.all(np.abs(start.true_value[0] - value) <= spread * eps)
    assert np.all(np.sqrt(start.variance("true")[0]) <= np.sqrt(eps) * spread)     # sd <= sqrt(eps) range
    assert np.all(grad <= math.sqrt(2) * eps * spread)                               # exercise 3.1
    slope = np.polyfit(np.log10(np.sqrt(start.variance("true")[0])), np.log10(grad), 1)[0]
    assert slope == pytest.approx(2, abs=0.02)


# ------------------------------------------------------------------------------------------ the toy problem


@pytest.fixture(scope="module")
def toy_run():
    toy = ls.Bandit(r_true=R_G_TOY, r_proxy=[R_G_TOY, R_P_TOY], init_probs=PI0_TOY)
    return toy, train(toy, 3000, record_every=10)


def test_toy_proxy_has_lower_variance_and_gradient_yet_wins(toy_run):
    toy, run = toy_run
    np.testing.assert_allclose(run.variance("proxy")[0], [0.82, 0.19], atol=1e-12)
    np.testing.assert_allclose(theory.value_rate(toy, reward="proxy", measure="proxy"), [0.23, 0.0122], atol=1e-12)
    terms = theory.value_rate_terms(toy, reward="proxy", measure="proxy")
    share_star = terms[:, 0] / terms.sum(1)
    np.testing.assert_allclose(share_star, [0.0025 / 0.23, 0.009025 / 0.0122], atol=1e-12)
    assert terms[0, 1] / terms[0].sum() == pytest.approx(0.16 / 0.23)             # r_G: y_med carries 70%
    reached = run.steps_to(0.9)
    assert reached[0] == -1 and 0 < reached[1] < 500


def test_toy_plateau_gradient_vanishes_far_from_optimum(toy_run):
    toy, run = toy_run
    last = run.probs[-1]
    v_g = run.true_value[-1, 0]
    grad = math.sqrt(theory.value_rate(toy, probs=last, reward="proxy", measure="proxy")[0])
    assert abs(v_g - 0.8) < 0.01                        # on the plateau, 0.2 below the optimum
    assert grad < 0.01 * math.sqrt(0.23)                # the gradient fell by more than a factor 100
    assert grad <= math.sqrt(last[0].max() * run.variance("proxy")[-1, 0])


# ------------------------------------------------------------------------------------------ accuracy vs variance


def test_instance_rewards_and_accuracies():
    np.testing.assert_allclose(R_A, [1, 0.98, 0.92, 0.82, 0.68, 0.28, -0.28, -1])
    assert np.all(np.diff(R_A) < 0)                     # same order as r_G
    assert accuracy(R_A) == 1.0 and accuracy(R_G) == 1.0
    assert accuracy(R_B) == pytest.approx(18 / 28)


def test_variances_at_the_two_policies():
    problem = ls.Bandit(r_true=R_G, r_proxy=np.stack([R_G, R_A, R_B] * 2), init_probs=[PI_TOP] * 3 + [PI_LOW] * 3)
    var = at_start(problem).variance("proxy")[0]
    np.testing.assert_allclose(var[:3], [0.082476, 0.058755, 0.082476], atol=1e-9)
    assert var[4] > var[3] > var[5]                     # pi_low: Var(r_A) > Var(r_G) > Var(r_B)
    # where r_A's variance sits at pi_top: the three likely outputs carry 0.0028 of 0.0588, r_G's 0.0235 of 0.0825
    top = ls.Bandit(r_true=R_G, r_proxy=np.stack([R_G, R_A]), init_probs=PI_TOP)
    per_output = top.init_probs.numpy() * theory.advantages(top, "proxy") ** 2
    np.testing.assert_allclose(per_output.sum(1), [0.082476, 0.058755], atol=1e-9)
    np.testing.assert_allclose(per_output[:, :3].sum(1), [0.023468, 0.0028010], atol=1e-6)


@pytest.fixture(scope="module")
def pair_runs():
    rewards = np.stack([R_G, R_A, R_B] * 2)
    problem = ls.Bandit(r_true=R_G, r_proxy=rewards, init_probs=[PI_TOP] * 3 + [PI_LOW] * 3)
    run = train(problem, 6500, record_every=1)
    return problem, run, run.steps_to(0.9)


def test_accurate_low_variance_reward_is_slower(pair_runs):
    _, _, steps = pair_runs
    g, a, b = steps[:3]
    assert min(g, a, b) > 0
    assert a > 10 * b                                   # perfect ranking, low variance: an order of magnitude slower
    assert abs(b - g) <= 0.05 * g                       # r_B's errors below the mean barely matter at pi_top


def test_best_reward_model_depends_on_the_initial_policy(pair_runs):
    problem, _, steps = pair_runs
    top, low = steps[:3], steps[3:]
    assert top[2] < top[1] and low[1] < low[2]          # r_B beats r_A at pi_top, loses at pi_low
    assert low[2] > 5 * low[1]
    assert np.argmax(top[1:]) == 0 and np.argmax(low[1:]) == 1
    # at pi_low r_B pulls V_G down at first: its error on y7 sits above the expected proxy reward
    rate = theory.value_rate(problem)
    assert rate[5] < 0 < rate[4]
    assert theory.advantages(problem, "proxy")[5, 7] > 0 > theory.advantages(problem, "true")[5, 7]


def test_time_grows_as_variance_shrinks_at_fixed_accuracy():
    scales, powers = [1, 1 / 4, 1 / 16], [1, 1.5, 2]
    rewards = np.stack([c * R_G for c in scales] + [squash(p) for p in powers])
    problem = ls.Bandit(r_true=R_G, r_proxy=rewards, init_probs=PI_TOP)
    run = train(problem, 4500, record_every=1)
    var, steps = run.variance("proxy")[0], run.steps_to(0.9)
    assert all(accuracy(r) == 1.0 for r in rewards)
    assert np.all(steps > 0)
    for family in (slice(0, 3), slice(3, 6)):
        v, t = var[family], steps[family]
        assert np.all(np.diff(v) < 0) and np.all(np.diff(t) > 0)
        assert np.all(np.diff(t * v ** (1 / 3)) > 0)      # consistent with a lower bound of order Var^(-1/3)
    # scaling by c divides the flow's speed by c: steps ~ 1 / c, i.e. slope -1/2 against the variance
    slope = np.polyfit(np.log10(var[:3]), np.log10(steps[:3]), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.02)


def test_scaled_reward_equals_scaled_learning_rate():
    c = 0.25
    problem = ls.Bandit(r_true=R_G, r_proxy=np.stack([c * R_G, R_G]), init_probs=PI_TOP)
    scaled = train(problem.rows([0]), 200, lr=0.1)
    slow = train(problem.rows([1]), 200, lr=0.1 * c)
    np.testing.assert_allclose(scaled.probs, slow.probs, atol=1e-14)


def test_normalising_does_not_rescue_the_squashed_reward():
    sd = np.sqrt(at_start(ls.Bandit(r_true=R_G, r_proxy=np.stack([R_G, R_A]), init_probs=PI_TOP))
                 .variance("proxy")[0])
    problem = ls.Bandit(r_true=R_G, r_proxy=np.stack([R_G / sd[0], R_A / sd[1]]), init_probs=PI_TOP)
    run = train(problem, 1500, record_every=1)
    np.testing.assert_allclose(run.variance("proxy")[0], 1.0)
    g, a = run.steps_to(0.9)
    assert 0 < g and a > 5 * g


@pytest.mark.parametrize("p0", [0.01, 0.05])
def test_two_output_time_matches_the_closed_form(p0):
    """Exercise 3.3: rewards (D, 0), flow time from pi(y1) = p0 to 1/2 is
    [1/p0 - 1/(1 - p0) - 2 log(p0 / (1 - p0))] / (2 D)."""
    d, lr = 1.0, 0.01
    closed = (1 / p0 - 1 / (1 - p0) - 2 * math.log(p0 / (1 - p0))) / (2 * d)
    problem = ls.Bandit(r_true=[d, 0.0], init_probs=[p0, 1 - p0])
    run = ls.train(problem, ls.ExactPG(lr=lr), int(1.2 * closed / lr), reward="true", dtype=torch.float64,
                   device="cpu", record_every=1)
    assert run.steps_to(d / 2)[0] * lr == pytest.approx(closed, rel=0.01)
    var0 = at_start(problem).variance("true")[0, 0]
    assert var0 == pytest.approx(p0 * (1 - p0) * d**2)
    # dV/dt = ||grad V||^2 = 2 Var^2 / D^2 at every policy
    assert theory.value_rate(problem, reward="true", measure="true")[0] == pytest.approx(2 * var0**2 / d**2)


def test_toy_proxy_scaled_up_learns_faster():
    """Exercise 3.5 (c): 3 r_P has more variance than r_G at pi_0 and reaches the target sooner than r_P."""
    toy = ls.Bandit(r_true=R_G_TOY, r_proxy=np.stack([R_P_TOY, 3 * np.asarray(R_P_TOY)]), init_probs=PI0_TOY)
    run = train(toy, 600)
    assert run.variance("proxy")[0, 1] == pytest.approx(9 * 0.19) and 9 * 0.19 > 0.82
    plain, scaled = run.steps_to(0.9)
    assert 0 < scaled < plain
