"""Chapter 7 (verifiable rewards): the two-constraint sequence task, binary vs partial credit, GRPO's advantages and
silent groups, the exact expected GRPO signal, the three regimes and the phase diagram, at small sizes."""

import itertools
import math

import numpy as np
import pytest
import torch

from labsupport.studies import verifiable as vf

# the lab's three regimes: initial (P(C1), P(C2), P(both))
REGIME_A, REGIME_B, REGIME_C = (0.7, 0.05, 0.003), (0.4, 0.4, 0.1), (0.02, 0.02, 0.0002)
GROUP = 96


# ------------------------------------------------------------------------------------------ rewards on hand-made data

def test_constraints_and_rewards_on_hand_made_sequences():
    seqs = np.array([[0, 2, 3, 4, 5, 1],     # keyword first, terminator last: both
                     [2, 3, 4, 5, 6, 0],     # ends with the keyword: C1 only
                     [2, 3, 4, 5, 6, 1],     # C2 only
                     [2, 3, 4, 5, 6, 7],     # neither
                     [1, 1, 0, 0, 0, 1]])    # keyword in the middle, terminator last (and first): both
    c1, c2 = vf.check(seqs)
    assert c1.tolist() == [True, True, False, False, True]
    assert c2.tolist() == [True, False, True, False, True]
    assert vf.binary_credit(c1, c2).tolist() == [1, 0, 0, 0, 1]
    assert vf.partial_credit(c1, c2).tolist() == [1, 0.5, 0.5, 0, 1]
    assert vf.mixed_credit(c1, c2, 0.5).tolist() == [1, 0.25, 0.25, 0, 1]
    np.testing.assert_array_equal(vf.mixed_credit(c1, c2, 0.0), vf.binary_credit(c1, c2))
    np.testing.assert_array_equal(vf.mixed_credit(c1, c2, 1.0), vf.partial_credit(c1, c2))


def test_constraints_with_other_token_sets():
    c1, c2 = vf.check([[5, 6, 7], [7, 6, 5], [0, 1, 2]], keyword=(6, 7), terminator=(5,))
    assert c1.tolist() == [True, True, False]
    assert c2.tolist() == [False, True, False]


# ------------------------------------------------------------------------------------------ the policy, exactly

def small_task(**kw):
    return vf.make_task(0.5, 0.3, end_bias=2.0, vocab=4, length=4, **kw)


def enumerate_all(task):
    seqs = np.array(list(itertools.product(range(task.vocab), repeat=task.length)))
    probs = task.policy.log_prob(task.theta0, torch.as_tensor(seqs)[None])[0].exp().numpy()
    return seqs, probs


def test_exact_success_probabilities_match_enumeration():
    task = small_task()
    seqs, probs = enumerate_all(task)
    assert probs.sum() == pytest.approx(1, abs=1e-12)
    c1, c2 = vf.check(seqs)
    s = task.success()
    assert s["p1"].item() == pytest.approx(probs[c1].sum(), abs=1e-12)
    assert s["p2"].item() == pytest.approx(probs[c2].sum(), abs=1e-12)
    assert s["joint"].item() == pytest.approx(probs[c1 & c2].sum(), abs=1e-12)
    none, one, both = task.outcome_probs()[0].tolist()
    assert (none, one, both) == pytest.approx((probs[~c1 & ~c2].sum(), probs[c1 ^ c2].sum(), probs[c1 & c2].sum()))


def test_last_token_view_matches_enumeration_and_the_derived_gaps():
    task = small_task()
    seqs, probs = enumerate_all(task)
    c1, c2 = vf.check(seqs)
    early = np.isin(seqs[:, :-1], [0]).any(1)
    view = task.last_token_view().set_index("last token")
    for name, mask in (("keyword", seqs[:, -1] == 0), ("terminator", seqs[:, -1] == 1), ("other", seqs[:, -1] > 1)):
        q = probs[mask].sum()
        assert view.loc[name, "q"] == pytest.approx(q, abs=1e-12)
        assert view.loc[name, "e"] == pytest.approx(probs[mask & early].sum() / q, abs=1e-12)
        assert view.loc[name, "E[r_bin | last]"] == pytest.approx((probs * vf.binary_credit(c1, c2))[mask].sum() / q)
        assert view.loc[name, "E[r_part | last]"] == pytest.approx((probs * vf.partial_credit(c1, c2))[mask].sum() / q)
    e_t = view.loc["terminator", "e"]
    assert view.loc["terminator", "A_part"] - view.loc["keyword", "A_part"] == pytest.approx(e_t / 2)
    assert view.loc["terminator", "A_bin"] - view.loc["keyword", "A_bin"] == pytest.approx(e_t)


def test_score_direction_is_the_gradient_of_the_weighted_log_likelihood():
    task = vf.make_task([0.4, 0.7], [0.4, 0.05], [0.1, 0.003])
    theta = task.theta0.clone()
    cond = task.policy.conditionals(theta)
    gen = torch.Generator().manual_seed(0)
    tokens = task.policy.sample(cond, torch.rand((2, 5, task.length), generator=gen, dtype=torch.float64))
    weights = torch.randn((2, 5), generator=gen, dtype=torch.float64)
    th = theta.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((weights * task.policy.log_prob(th, tokens)).sum() / 5, th)
    torch.testing.assert_close(task.policy.score_direction(cond, tokens, weights), grad)


# ------------------------------------------------------------------------------------------ initial difficulty

def test_initial_probabilities_are_set_as_requested():
    p1, p2, joint = np.array([REGIME_A, REGIME_B, REGIME_C, (0.9, 0.5, 0.4)]).T
    task = vf.make_task(p1, p2, joint)
    s = {k: v.numpy() for k, v in task.success().items()}
    np.testing.assert_allclose(s["p1"], p1, rtol=1e-6)
    np.testing.assert_allclose(s["p2"], p2, rtol=1e-6)
    np.testing.assert_allclose(s["joint"], joint, rtol=1e-6)
    # and a large sample from the policy agrees, within 4.5 standard errors
    n = 60_000
    c1, c2 = vf.check(task.sample(n, seed=1))
    for freq, p in ((c1.mean(1), p1), (c2.mean(1), p2), ((c1 & c2).mean(1), joint)):
        assert np.all(np.abs(freq - p) < 4.5 * np.sqrt(p * (1 - p) / n))


def test_end_bias_sets_how_the_keyword_is_placed():
    free, competing = vf.make_task(0.5, 0.3, end_bias=0.0), vf.make_task(0.5, 0.3, end_bias=4.0)
    assert free.biases[0, 2].item() == 0.0 and competing.biases[0, 2].item() == 4.0
    for t in (free, competing):
        assert t.success()["p1"].item() == pytest.approx(0.5, rel=1e-6)
        assert t.success()["p2"].item() == pytest.approx(0.3, rel=1e-6)
    # a policy that likes the keyword at the end satisfies both constraints far less often
    assert competing.success()["joint"].item() < 0.3 * free.success()["joint"].item()
    assert free.success()["joint"].item() == pytest.approx(0.5 * 0.3, rel=0.15)


def test_product_policy_makes_positions_independent():
    task = vf.make_task(0.5, 0.3, end_bias=-20.0, base_scale=0.0)
    s = task.success()
    assert s["joint"].item() == pytest.approx(s["p1"].item() * s["p2"].item(), rel=1e-6)


@pytest.mark.parametrize("p1, p2, joint, match", [
    (0.5, 0.3, 0.35, "below min"),             # joint cannot exceed either constraint
    (0.5, 0.5, 0.4, "cannot reach"),           # far above what independent constraints give
    (1.2, 0.3, None, "strictly between"),
    (0.5, 0.0, None, "strictly between"),
])
def test_impossible_targets_are_rejected(p1, p2, joint, match):
    with pytest.raises(ValueError, match=match):
        vf.make_task(p1, p2, joint)


# ------------------------------------------------------------------------------------------ GRPO's advantages

def test_grpo_advantages_of_hand_made_groups():
    g = 8
    for k in range(1, g):
        adv = vf.grpo_advantages(np.r_[np.ones(k), np.zeros(g - k)])
        assert adv[0] == pytest.approx(math.sqrt((g - k) / k), rel=1e-6)
        assert adv[-1] == pytest.approx(-math.sqrt(k / (g - k)), rel=1e-6)
        assert adv.sum() == pytest.approx(0, abs=1e-9)
    # one fully correct output among half-correct ones: the same advantages as binary credit
    partial = vf.grpo_advantages(np.r_[np.full(7, 0.5), 1.0])
    np.testing.assert_allclose(partial, vf.grpo_advantages(np.r_[np.zeros(7), 1.0]), rtol=1e-6)
    assert partial[-1] == pytest.approx(math.sqrt(7), rel=1e-6)
    mixed = vf.grpo_advantages([0.0, 0.5, 0.5, 1.0])                   # mean 0.5, std sqrt(1/8)
    np.testing.assert_allclose(mixed, [-math.sqrt(2), 0, 0, math.sqrt(2)], rtol=1e-6)


@pytest.mark.parametrize("rewards", [np.zeros(8), np.ones(8), np.full(8, 0.5)])
def test_zero_variance_group_gives_zero_update(rewards):
    adv = vf.grpo_advantages(rewards)
    assert np.all(adv == 0)
    task = vf.make_task(*REGIME_B)
    cond = task.policy.conditionals(task.theta0)
    tokens = torch.as_tensor(task.sample(8, seed=0))
    update = task.policy.score_direction(cond, tokens, torch.as_tensor(adv)[None])
    assert torch.count_nonzero(update) == 0


def test_silent_groups_leave_the_policy_unchanged_in_training():
    task = vf.make_task(*REGIME_C)                  # joint success 2e-4: with G = 4, groups are almost surely silent
    run = vf.train_grpo(task.rows([0] * 4), "binary", 5, group=4, seed=0, device="cpu")
    assert run.silent.all()
    np.testing.assert_array_equal(run.joint[-1], run.joint[0])
    np.testing.assert_array_equal(run.p1[-1], run.p1[0])


def test_silent_probability_formula_and_frequency():
    probs = np.array([[0.5, 0.3, 0.2]])
    assert vf.silent_probability(probs, 0.0, 5)[0] == pytest.approx(0.8 ** 5 + 0.2 ** 5)
    assert vf.silent_probability(probs, 1.0, 5)[0] == pytest.approx(0.5 ** 5 + 0.3 ** 5 + 0.2 ** 5)
    task = vf.make_task(*REGIME_A)
    g, n = 16, 4000
    c1, c2 = vf.check(task.sample(n * g, seed=3).reshape(n, g, -1))
    measured = (vf.grpo_advantages(vf.binary_credit(c1, c2)) == 0).all(-1).mean()
    exact = vf.silent_probability(task.outcome_probs().numpy(), 0.0, g)[0]
    assert abs(measured - exact) < 4.5 * math.sqrt(exact * (1 - exact) / n)


def test_silent_probability_takes_float32_outcomes_and_refuses_others():
    """A float32 policy near success gives none = 1 - p1 - p2 + both a hair below 0 (seen on a GPU at full size:
    -5.96e-8); that row counts as none = 0. A row off by more than rounding is refused, naming it."""
    near = np.array([[0.2, 0.3, 0.5], [-5.960464477539063e-08, 0.001948714256286621, 0.9980513453483582]])
    got = vf.silent_probability(near, 0.0, 8)
    assert got[1] == pytest.approx(0.001948714256286621 ** 8 + 0.9980513453483582 ** 8, rel=1e-12)
    with pytest.raises(ValueError, match=r"row 1 is \[-0\.001, 0\.5, 0\.501\]"):
        vf.silent_probability([[0.2, 0.3, 0.5], [-1e-3, 0.5, 0.501]], 0.0, 8)


# ------------------------------------------------------------------------------------------ the expected signal

def test_value_weights_closed_form_for_binary_credit():
    g = 12
    for j in (0.003, 0.1, 0.6):
        m = vf.value_weights([[1 - j, j]], [0, 1], g)[0]
        k = np.arange(g)
        w = np.array([math.comb(g - 1, i) * j ** i * (1 - j) ** (g - 1 - i) for i in k])   # Binomial(G - 1, J)
        closed = (w * (np.sqrt((g - 1 - k) / (k + 1)) + np.sqrt(k / (g - k)))).sum()
        assert m[1] - m[0] == pytest.approx(closed, rel=1e-6)
        # the expected advantage of a sample is zero
        assert (1 - j) * m[0] + j * m[1] == pytest.approx(0, abs=1e-9)
    # large groups: (v - mean) / std
    big = vf.value_weights([[0.2, 0.5, 0.3]], [0, 0.5, 1], None)[0]
    mean, sd = 0.55, math.sqrt(0.2 * 0.55 ** 2 + 0.5 * 0.05 ** 2 + 0.3 * 0.45 ** 2)
    np.testing.assert_allclose(big, (np.array([0, 0.5, 1]) - mean) / sd, rtol=1e-6)
    assert np.abs(vf.value_weights([[0.2, 0.5, 0.3]], [0, 0.5, 1], 400)[0] - big).max() < 0.01


def test_value_weights_against_brute_force_enumeration():
    p, values, g = np.array([0.2, 0.5, 0.3]), np.array([0.0, 0.5, 1.0]), 4
    brute = np.zeros(3)
    for others in itertools.product(range(3), repeat=g - 1):
        prob = np.prod(p[list(others)])
        for k in range(3):
            adv = vf.grpo_advantages(values[[k, *others]])[0]
            brute[k] += prob * adv
    np.testing.assert_allclose(vf.value_weights(p, values, g)[0], brute, atol=1e-9)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_expected_update_matches_the_average_sampled_update(weight):
    task = vf.make_task(*REGIME_B)
    exact = vf.expected_update(task, weight, 16)[0]
    sampled = vf.sampled_update(task, weight, 16, groups=3000, seed=1)[0]
    cosine = float((exact * sampled).sum() / (exact.norm() * sampled.norm()))
    assert cosine > 0.99
    assert float(sampled.norm() / exact.norm()) == pytest.approx(1, abs=0.05)


def test_expected_signal_in_regime_a():
    """Partial credit's expected update raises the easy constraint and lowers the hard one and the joint success;
    binary credit raises the hard one and the joint."""
    task = vf.make_task(*REGIME_A)
    binary, partial = vf.expected_signal(task, 0.0, GROUP).iloc[0], vf.expected_signal(task, 1.0, GROUP).iloc[0]
    assert partial["rate P(C1)"] > 0 > partial["rate P(C2)"]
    assert partial["rate P(both)"] < 0 < binary["rate P(both)"]
    assert binary["rate P(C2)"] > 0
    assert binary["P(silent group)"] == pytest.approx((1 - REGIME_A[2]) ** GROUP + REGIME_A[2] ** GROUP, rel=1e-6)


# ------------------------------------------------------------------------------------------ the regimes, trained

@pytest.fixture(scope="module")
def regimes_run():
    seeds, kinds = 8, ("binary", "partial")
    tasks = vf.make_task(*np.array([REGIME_A, REGIME_B, REGIME_C]).T)
    layout = [(r, k) for r in range(3) for k in kinds for _ in range(seeds)]
    run = vf.train_grpo(tasks.rows([r for r, _ in layout]), [k for _, k in layout], 400, group=GROUP, lr=1.0, seed=0,
                        device="cpu", record_every=5)
    labels = np.array([r for r, _ in layout])
    return run, labels


def steps_to_target(run, mask, level=0.5):
    hit = run.steps_to(level)[mask].astype(float)
    return np.median(np.where(hit < 0, np.inf, hit))


def test_regime_a_binary_credit_reaches_the_target_first(regimes_run):
    run, labels = regimes_run
    binary, partial = (labels == 0) & (run.reward == "binary"), (labels == 0) & (run.reward == "partial")
    t_bin, t_part = steps_to_target(run, binary), steps_to_target(run, partial)
    assert np.isfinite(t_bin) and t_bin * 1.15 < t_part
    # partial credit learns the easy constraint first, and the hard one falls meanwhile
    early = run.steps <= 60
    p2_part = np.median(run.p2[early][:, partial], 1)
    assert np.median(run.p1[early][-1, partial]) > 0.9
    assert p2_part.min() < 0.5 * REGIME_A[1]
    assert np.median(run.p2[early][-1, binary]) > REGIME_A[1]


def test_regime_b_both_rewards_work(regimes_run):
    run, labels = regimes_run
    for kind in ("binary", "partial"):
        mask = (labels == 1) & (run.reward == kind)
        assert np.all(run.steps_to(0.5)[mask] > 0)
        assert np.all(run.steps_to(0.5)[mask] <= 100)


def test_regime_c_binary_stays_flat_while_partial_credit_learns(regimes_run):
    run, labels = regimes_run
    binary, partial = (labels == 2) & (run.reward == "binary"), (labels == 2) & (run.reward == "partial")
    assert run.joint[:, binary].max() < 0.01
    assert run.silent[:, binary].mean() > 0.9
    assert run.silent[:100, partial].mean() < 0.1
    assert np.all(run.steps_to(0.5)[partial] > 0)
    assert np.median(run.joint[-1, partial]) > 0.9


def test_expected_silent_at_the_start_matches_the_formula(regimes_run):
    run, labels = regimes_run
    tasks = vf.make_task(*np.array([REGIME_A, REGIME_B, REGIME_C]).T)
    probs = tasks.outcome_probs().numpy()[labels]
    weight = np.where(run.reward == "binary", 0.0, 1.0)
    np.testing.assert_allclose(run.expected_silent()[0], vf.silent_probability(probs, weight, GROUP), rtol=1e-4)


# ------------------------------------------------------------------------------------------ training mechanics

def test_training_is_reproducible_and_seeded():
    task = vf.make_task(*REGIME_B).rows([0, 0])
    a = vf.train_grpo(task, "partial", 20, group=8, seed=3, device="cpu")
    b = vf.train_grpo(task, "partial", 20, group=8, seed=3, device="cpu")
    c = vf.train_grpo(task, "partial", 20, group=8, seed=4, device="cpu")
    np.testing.assert_array_equal(a.joint, b.joint)
    assert not np.array_equal(a.joint, c.joint)
    assert not np.array_equal(a.joint[:, 0], a.joint[:, 1])          # each run has its own random numbers


def test_adaptive_weights_follow_their_schedules():
    task = vf.make_task(*REGIME_B).rows([0] * 4)
    run = vf.train_grpo(task, ["binary", "partial", "anneal", "switch"], 60, group=16, seed=0, device="cpu",
                        anneal_steps=40, switch_at=0.2, switch_window=5)
    t = np.arange(60)
    np.testing.assert_array_equal(run.weight[:, 0], 0)
    np.testing.assert_array_equal(run.weight[:, 1], 1)
    np.testing.assert_allclose(run.weight[:, 2], np.maximum(0, 1 - t / 40), atol=1e-6)
    switch = run.weight[:, 3]
    assert set(np.unique(switch)) == {0.0, 1.0} and np.all(np.diff(switch) <= 0)
    first = int(np.argmin(switch))                                     # the first step on binary credit
    recent = run.sampled_joint[first - 5:first, 3].mean()
    assert recent >= 0.2 and run.sampled_joint[first - 6:first - 1, 3].mean() < 0.2


def test_train_grpo_rejects_bad_arguments():
    task = vf.make_task(*REGIME_B)
    with pytest.raises(ValueError, match="reward"):
        vf.train_grpo(task, "exact", 5, device="cpu")
    with pytest.raises(ValueError, match="one per run"):
        vf.train_grpo(task, ["binary", "partial"], 5, device="cpu")
    with pytest.raises(ValueError, match="group"):
        vf.train_grpo(task, "binary", 5, group=1, device="cpu")


# ------------------------------------------------------------------------------------------ phase diagram

@pytest.fixture(scope="module")
def phase():
    return vf.phase_diagram([0.02, 0.7], [0.02, 0.7], steps=300, seeds=3, group=GROUP, device="cpu")


def test_phase_diagram_shape_and_columns(phase):
    assert phase.shape[0] == 4
    assert {"P(C1)", "P(C2)", "P(both)", "steps binary", "steps partial", "ratio", "log2 ratio", "winner",
            "label"} <= set(phase.columns)
    assert sorted(zip(phase["P(C1)"], phase["P(C2)"])) == [(0.02, 0.02), (0.02, 0.7), (0.7, 0.02), (0.7, 0.7)]
    np.testing.assert_allclose(phase["P(both)"], phase["P(C1)"] * phase["P(C2)"], rtol=0.25)   # compatible family


def test_phase_diagram_corner_winners(phase):
    hard = phase[(phase["P(C1)"] == 0.02) & (phase["P(C2)"] == 0.02)].iloc[0]
    assert hard.winner == "partial" and hard.label == "P only"
    assert math.isinf(hard["steps binary"]) and hard["steps partial"] < 300 and hard["log2 ratio"] < 0
    easy = phase[(phase["P(C1)"] == 0.7) & (phase["P(C2)"] == 0.7)].iloc[0]
    assert easy.winner == "tie" and easy["steps binary"] == easy["steps partial"]


def test_heat_map_chart(phase):
    charts = pytest.importorskip("labsupport.charts", reason="Altair is not installed (e.g. on a bare GPU image)")
    chart = charts.heat_map(phase, "P(C1)", "P(C2)", "log2 ratio", text="label", title="t", x_title="x",
                            y_title="y", color_title="c", tooltip=["steps binary"])
    spec = chart.to_dict()
    rows = spec["data"]["values"]
    assert len(rows) == 4 and all(r["steps binary"] is None or math.isfinite(r["steps binary"]) for r in rows)
    assert any(r["steps binary"] is None for r in rows)                # the infinite median is shown as missing
    with pytest.raises(ValueError, match="each cell"):
        charts.heat_map(phase.iloc[[0, 0]], "P(C1)", "P(C2)", "log2 ratio", title="t", x_title="x", y_title="y",
                        color_title="c")


# ------------------------------------------------------------------------------------------ GPU

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_sampling_and_update_agree_with_cpu():
    task = vf.make_task(*np.array([REGIME_A, REGIME_B]).T)
    gen = torch.Generator().manual_seed(0)
    u = torch.rand((2, 32, task.length), generator=gen, dtype=torch.float64)
    out = {}
    for dev in ("cpu", "cuda"):
        cond = task.policy.conditionals(task.theta0.to(dev))
        tokens = task.policy.sample(cond, u.to(dev))
        c1, c2 = vf._check(tokens, torch.tensor([0], device=dev), torch.tensor([1], device=dev))
        adv = vf.GRPO(group=32).advantages(0.5 * (c1.double() + c2.double()))
        out[dev] = (tokens.cpu(), task.policy.score_direction(cond, tokens, adv).cpu())
    assert torch.equal(out["cpu"][0], out["cuda"][0])
    torch.testing.assert_close(out["cpu"][1], out["cuda"][1])
    run = vf.train_grpo(vf.make_task(*REGIME_C).rows([0] * 8), ["binary"] * 4 + ["partial"] * 4, 400, group=GROUP,
                        device="cuda", record_every=10)
    assert run.joint[:, :4].max() < 0.01 and np.median(run.joint[-1, 4:]) > 0.9
