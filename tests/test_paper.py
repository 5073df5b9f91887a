"""The paper's controlled experiment (section 3.3): five outputs, lr 0.1, 50,000 exact steps, one-hot features,
and its feature-geometry variant. All runs of one figure advance together as one batch."""

import numpy as np
import pytest

import labsupport as ls

R_TRUE = [1, 0.8, -1, -1, -1]
R_PROXY = [1, -1, -1, -1, -1]
S = 1 / np.sqrt(2)


def init(p_star):
    rest = (1 - p_star - 0.5) / 3
    return [p_star, 0.5, rest, rest, rest]


@pytest.fixture(scope="module")
def controlled():
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=R_PROXY, init_probs=[init(p) for p in (0.05, 0.10, 0.15)])
    algo = ls.ExactPG(lr=0.1)
    return (ls.train(prob, algo, steps=50_000, reward="true", record_every=10),
            ls.train(prob, algo, steps=50_000, reward="proxy", record_every=10))


def test_initial_logits_are_the_papers(controlled):
    prob = ls.Bandit(r_true=R_TRUE, init_logits=np.log(init(0.05)))
    np.testing.assert_allclose(prob.init_probs[0].numpy(), [0.05, 0.5, 0.15, 0.15, 0.15])


def test_true_reward_training_stalls_near_the_mediocre_output(controlled):
    true_run, _ = controlled
    at = {int(s): i for i, s in enumerate(true_run.steps)}
    v = true_run.true_value
    # by step 1,000 every run sits on the plateau near r_G(y_med) = 0.8, below 0.9
    assert np.all(np.abs(v[at[1000]] - 0.8) < 0.02)
    # and most of the probability is on y_med, not y*
    assert np.all(true_run.probs[at[1000], :, 1] > 0.85)


def test_proxy_training_reaches_09_within_a_few_hundred_steps(controlled):
    true_run, proxy_run = controlled
    t_proxy = proxy_run.steps_to(0.9)
    t_true = true_run.steps_to(0.9)
    assert np.all((t_proxy > 0) & (t_proxy <= 300)), t_proxy
    # true-reward training takes far longer; with pi_0(y*) = 0.05 it does not get there in 50,000 steps
    assert t_true[0] == -1
    assert np.all(t_true[1:] > 5 * t_proxy[1:])
    # the smaller pi_0(y*), the longer the stall
    assert t_true[1] > t_true[2] > 0


def test_proxy_run_dips_slightly_first_then_climbs_to_about_1(controlled):
    _, proxy_run = controlled
    v = proxy_run.true_value
    assert np.all(v[:10].min(0) <= v[0] + 1e-9)  # the initial slope is not positive (y_med is demoted)
    assert np.all(v[-1] > 0.99)


def test_under_pi0_the_proxy_has_lower_reward_variance_yet_wins(controlled):
    true_run, proxy_run = controlled
    assert np.all(proxy_run.variance("proxy")[0] < true_run.variance("true")[0])


def test_reinforce_variant_also_escapes_with_the_proxy():
    seeds = 16
    prob = ls.Bandit(r_true=R_TRUE, r_proxy=R_PROXY, init_probs=[init(0.05)] * seeds)
    algo = ls.Reinforce(samples=1, lr=0.1)
    proxy_run = ls.train(prob, algo, steps=5000, reward="proxy", seed=0, record_every=10)
    true_run = ls.train(prob, algo, steps=5000, reward="true", seed=0, record_every=10)
    assert np.mean(proxy_run.true_value[-1] > 0.9) >= 0.75
    assert np.mean(true_run.true_value[-1] > 0.9) <= 0.25


def test_feature_geometry_changes_the_stall():
    phis = [np.array([[1.5, 0, 0, 0, 0], med, [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
            for med in ([0, 1, 0, 0, 0], [-S, S, 0, 0, 0], [S, S, 0, 0, 0])]
    t = {}
    for name, phi in zip(("orthogonal", "negative", "positive"), phis):
        prob = ls.Bandit(r_true=R_TRUE, init_probs=init(0.05), features=phi)
        np.testing.assert_allclose(prob.init_probs[0].numpy(), init(0.05), atol=1e-9)
        t[name] = ls.train(prob, ls.ExactPG(lr=0.1), steps=50_000, reward="true", record_every=10).steps_to(0.9)[0]
    # a positive inner product <phi(y*), phi(y_med)> lets rewarding y_med help y*; a negative one worsens stalling
    assert 0 < t["positive"] < 1000
    assert t["orthogonal"] > 10 * t["positive"]
    assert t["negative"] == -1


def test_the_packaged_paper_setup_is_the_papers():
    prob = ls.paper_bandit([0.05, 0.10, 0.15])
    np.testing.assert_allclose(prob.r_true[0].numpy(), R_TRUE)
    np.testing.assert_allclose(prob.r_proxy[0].numpy(), R_PROXY)
    np.testing.assert_allclose(prob.init_probs.numpy(), [init(p) for p in (0.05, 0.10, 0.15)])
    assert prob.names == ("y*", "y_med", "bad1", "bad2", "bad3")
    geo = ls.paper_bandit(geometry=["orthogonal", "negative", "positive"])
    np.testing.assert_allclose(geo.kernel()[:, 0, 1].numpy(), [0, -1.5 * S, 1.5 * S])  # <phi(y*), phi(y_med)>
    np.testing.assert_allclose(geo.init_probs.numpy(), [init(0.05)] * 3, atol=1e-9)
    np.testing.assert_array_equal(ls.problems.paper_features(None), np.eye(5))
    with pytest.raises(ValueError, match="p_star"):
        ls.problems.paper_init_probs(0.6)
    with pytest.raises(ValueError, match="y_med_row"):
        ls.problems.paper_features([1, 2])


def test_paper_proxy_changes_only_the_named_outputs():
    np.testing.assert_array_equal(ls.problems.paper_proxy({"y_med": -1.0}), R_PROXY)  # the paper's r_P
    np.testing.assert_array_equal(ls.problems.paper_proxy({}), R_TRUE)
    np.testing.assert_array_equal(ls.problems.paper_proxy({"bad1": 1.5, "y*": 0.2}), [0.2, 0.8, 1.5, -1, -1])
    with pytest.raises(ValueError, match="errors must name outputs.*'y_bad'"):
        ls.problems.paper_proxy({"y_bad": 1.0})
