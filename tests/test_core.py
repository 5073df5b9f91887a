"""Bandit, train and Run: shapes, batching, seeds, recording and the rejection of bad input."""

import warnings

import numpy as np
import pytest
import torch

import labsupport as ls

TOY = dict(r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1], init_probs=[0.05, 0.5, 0.15, 0.15, 0.15])


def toy(**changes):
    return ls.Bandit(**{**TOY, **changes})


def test_bandit_accepts_lists_arrays_tensors_and_batches():
    a = toy()
    b = ls.Bandit(r_true=np.array(TOY["r_true"]), r_proxy=torch.tensor(TOY["r_proxy"]),
                  init_logits=np.log(TOY["init_probs"]) + 3.0)
    assert a.batch_size == 1 and a.n_outputs == 5 and not a.batched
    torch.testing.assert_close(a.init_probs, b.init_probs)
    batched = toy(init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15], [0.1, 0.5, 0.4 / 3, 0.4 / 3, 0.4 / 3]])
    assert batched.batched and batched.batch_size == 2
    assert batched.r_true.shape == (2, 5)  # the (N,) rewards are broadcast over the batch
    assert ls.Bandit(r_true=[0, 1]).init_probs.tolist() == [[0.5, 0.5]]  # uniform by default


def test_bandit_takes_rows_given_as_a_list_of_arrays_quietly():
    rows = [np.array(TOY["r_proxy"], dtype=float), np.array(TOY["r_true"], dtype=float)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns that a list of arrays converts slowly, element by element
        many = toy(r_proxy=rows)
    np.testing.assert_array_equal(many.r_proxy.numpy(), np.stack(rows))
    with pytest.raises(ValueError, match="r_proxy must be numeric"):
        toy(r_proxy=[np.zeros(5), np.zeros(4)])  # ragged rows: one line naming the argument


def test_bandit_errors_mask_and_corrected_copy():
    prob = toy()
    assert prob.errors().tolist() == [[False, True, False, False, False]]
    fixed = prob.with_rewards(r_proxy=prob.r_true)
    assert not fixed.errors().any()
    torch.testing.assert_close(fixed.init_probs, prob.init_probs)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(r_true=[1, float("nan"), 0]), ["r_true", "nan"]),
        (dict(r_true=[1, 0, 0], r_proxy=[1, float("inf"), 0]), ["r_proxy", "inf"]),
        (dict(r_true=[1, 0, 0], r_proxy=[1, 0]), ["r_proxy", "(2,)", "3 outputs"]),
        (dict(r_true=[1, 0, 0], init_probs=[0.5, 0.6, -0.1]), ["init_probs", "-0.1"]),
        (dict(r_true=[1, 0, 0], init_probs=[0.5, 0.3, 0.1]), ["init_probs", "sum to 1", "0.9"]),
        (dict(r_true=[1, 0, 0], init_probs=[0.5, 0.5, 0.0]), ["init_probs", "zero", "1e-9"]),
        (dict(r_true=[1, 0, 0], init_probs=[0.5, 0.25, 0.25], features=[[1.0], [1.0], [0.0]]), ["features", "rank 1"]),
        (dict(r_true=[1, 0, 0], features=[[1.0, 0], [0, 1.0]]), ["features", "shape"]),
        (dict(r_true=[[1, 0, 0], [1, 0, 0]], r_proxy=[[1, 0, 0]] * 3), ["batch sizes", "r_proxy (3, 3)"]),
        (dict(r_true=[1, 0], names=["a", "a"]), ["names", "distinct"]),
        (dict(r_true=[1]), ["r_true", "at least 2"]),
        (dict(r_true="abc"), ["r_true", "numeric"]),
    ],
)
def test_bandit_rejects_bad_input_with_one_line_naming_the_argument(kwargs, words):
    with pytest.raises(ValueError) as info:
        ls.Bandit(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda p: ls.train(p, ls.ExactPG(lr=0.1), steps=-1), ["steps", "-1"]),
        (lambda p: ls.train(p, ls.ExactPG(lr=0.1), steps=5, reward="gold"), ["reward", "'gold'"]),
        (lambda p: ls.train(p, ls.ExactPG(lr=0.1), steps=5, device="tpu"), ["device", "'tpu'"]),
        (lambda p: ls.train(p, ls.ExactPG(lr=0.1), steps=5, record_every=0), ["record_every", "0"]),
        (lambda p: ls.train(p, "exact", steps=5), ["algorithm", "'exact'"]),
        (lambda p: ls.ExactPG(lr=0), ["lr", "0"]),
        (lambda p: ls.ExactPG(lr=-0.1), ["lr", "-0.1"]),
        (lambda p: ls.ExactPG(lr=0.1, kl=-1), ["kl", "-1"]),
        (lambda p: ls.Reinforce(samples=1, baseline="loo"), ["samples", ">= 2"]),
        (lambda p: ls.Reinforce(baseline="median"), ["baseline", "'median'"]),
        (lambda p: ls.RLOO(k=1), ["k", "1"]),
        (lambda p: ls.GRPO(group=1), ["group", "1"]),
        (lambda p: ls.PPO(clip=0), ["clip", "0"]),
        (lambda p: ls.PPO(epochs=0), ["epochs", "0"]),
    ],
)
def test_training_arguments_are_validated(call, words):
    with pytest.raises(ValueError) as info:
        call(toy())
    for word in words:
        assert word in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        ls.train(toy(), ls.ExactPG(lr=0.1), steps=1, device="cuda")


def test_run_shapes_records_and_values():
    prob = toy(init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15], [0.15, 0.5, 0.35 / 3, 0.35 / 3, 0.35 / 3]])
    run = ls.train(prob, ls.ExactPG(lr=0.1), steps=25, record_every=10)
    assert run.steps.tolist() == [0, 10, 20, 25]  # the last step is always recorded
    assert run.probs.shape == (4, 2, 5) and run.true_value.shape == (4, 2)
    np.testing.assert_allclose(run.probs.sum(-1), 1, atol=1e-6)
    np.testing.assert_allclose(run.true_value[0], [0.05 + 0.4 - 0.45, 0.15 + 0.4 - 0.35], atol=1e-6)
    np.testing.assert_allclose(run.proxy_value[0], [0.05 - 0.5 - 0.45, 0.15 - 0.5 - 0.35], atol=1e-6)
    var = run.variance("proxy")[0, 0]
    assert var == pytest.approx(0.05 * 1 + 0.95 * 1 - (0.05 - 0.95) ** 2, abs=1e-6)
    only_ends = ls.train(prob, ls.ExactPG(lr=0.1), steps=25, record_every=None)
    assert only_ends.steps.tolist() == [0, 25]
    np.testing.assert_allclose(only_ends.probs[-1], run.probs[-1], atol=1e-6)


def test_steps_to_is_the_first_recorded_crossing_or_minus_one():
    run = ls.train(toy(), ls.ExactPG(lr=0.1), steps=400, reward="proxy")
    t = run.steps_to(0.9)[0]
    assert t > 0 and run.true_value[t, 0] >= 0.9 and run.true_value[t - 1, 0] < 0.9
    assert run.steps_to(2.0).tolist() == [-1]
    assert run.steps_to(-5.0).tolist() == [0]


def test_to_frame_is_tidy():
    run = ls.train(toy(names=["y*", "y_med", "b1", "b2", "b3"]), ls.ExactPG(lr=0.1), steps=3)
    frame = run.to_frame()
    assert list(frame.columns) == ["step", "run", "output", "prob", "true_value", "proxy_value"]
    assert len(frame) == 4 * 1 * 5
    last = frame[frame.step == 3]
    assert last.prob.sum() == pytest.approx(1, abs=1e-6)
    assert last.output.tolist() == ["y*", "y_med", "b1", "b2", "b3"]
    assert last.true_value.nunique() == 1 and last.true_value.iloc[0] == pytest.approx(run.true_value[-1, 0])


@pytest.mark.parametrize("algo", [ls.Reinforce(samples=2, baseline="mean"), ls.RLOO(k=4), ls.GRPO(group=4), ls.PPO()])
def test_sampled_runs_are_reproducible_from_the_seed(algo):
    prob = toy(init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15]] * 8)
    a = ls.train(prob, algo, steps=30, seed=3)
    b = ls.train(prob, algo, steps=30, seed=3)
    c = ls.train(prob, algo, steps=30, seed=4)
    np.testing.assert_array_equal(a.probs, b.probs)
    assert not np.allclose(a.probs, c.probs)
    assert not np.allclose(a.probs[-1, 0], a.probs[-1, 1])  # runs of one batch draw their own samples


def test_common_noise_makes_identical_runs_identical():
    prob = toy(init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15]] * 4)
    run = ls.train(prob, ls.Reinforce(), steps=50, seed=0, common_noise=[0, 1, 0, 1])
    np.testing.assert_array_equal(run.probs[:, 0], run.probs[:, 2])
    assert not np.allclose(run.probs[:, 0], run.probs[:, 1])
    with pytest.raises(ValueError, match="common_noise"):
        ls.train(prob, ls.Reinforce(), steps=1, common_noise=[0, 1])


def test_a_batch_equals_the_runs_done_one_by_one():
    rows = [[0.05, 0.5, 0.15, 0.15, 0.15], [0.3, 0.3, 0.2, 0.1, 0.1], [0.6, 0.1, 0.1, 0.1, 0.1]]
    batch = ls.train(toy(init_probs=rows), ls.ExactPG(lr=0.1, kl=0.05), steps=200, dtype=torch.float64)
    for i, row in enumerate(rows):
        single = ls.train(toy(init_probs=row), ls.ExactPG(lr=0.1, kl=0.05), steps=200, dtype=torch.float64)
        np.testing.assert_allclose(batch.probs[:, i], single.probs[:, 0], atol=1e-12)


def test_ppo_with_one_epoch_is_rloo_and_more_epochs_move_further():
    prob = toy(init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15]] * 16)
    rloo = ls.train(prob, ls.RLOO(k=4, lr=0.5), steps=20, seed=1, dtype=torch.float64)
    ppo1 = ls.train(prob, ls.PPO(k=4, epochs=1, lr=0.5), steps=20, seed=1, dtype=torch.float64)
    np.testing.assert_allclose(ppo1.probs, rloo.probs, atol=1e-12)


def test_ppo_clipping_bounds_the_ratio_move_within_a_step():
    # With a huge learning rate, unclipped updates would move pi(y) by far more than the clip allows;
    # once a sample's ratio leaves [1 - c, 1 + c] in the direction of its advantage, it stops contributing.
    prob = ls.Bandit(r_true=[1.0, 0.0], init_probs=[[0.5, 0.5]] * 64)
    algo = ls.PPO(k=2, epochs=10, clip=0.2, lr=0.05)
    run = ls.train(prob, algo, steps=1, seed=0, dtype=torch.float64)
    ratio = run.probs[1, :, 0] / run.probs[0, :, 0]
    assert ratio.max() <= 1.2 + 0.05  # the last epoch's step may overshoot the boundary by one small step
    assert ratio.max() > 1.1  # and it did move


def test_kl_penalty_pulls_towards_the_initial_policy():
    free = ls.train(toy(), ls.ExactPG(lr=0.1), steps=3000, reward="proxy")
    tied = ls.train(toy(), ls.ExactPG(lr=0.1, kl=1.0), steps=3000, reward="proxy")
    p0 = np.asarray(TOY["init_probs"])

    def kl(p):
        return float((p * np.log(p / p0)).sum())

    assert kl(tied.probs[-1, 0]) < 0.5 * kl(free.probs[-1, 0])
    # With beta = 1 the optimum of V - KL is pi ∝ pi_0 exp(r): check the fixed point.
    target = p0 * np.exp(TOY["r_proxy"])
    np.testing.assert_allclose(tied.probs[-1, 0], target / target.sum(), atol=1e-3)


def test_batched_features_set_the_batch_size():
    s = 1 / np.sqrt(2)
    phis = np.stack([np.array([[1.5, 0, 0, 0, 0], med, [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
                     for med in ([0, 1, 0, 0, 0], [-s, s, 0, 0, 0], [s, s, 0, 0, 0])])
    prob = ls.Bandit(r_true=TOY["r_true"], init_probs=TOY["init_probs"], features=phis)
    assert prob.batched and prob.batch_size == 3 and prob.theta0.shape == (3, 5)
    np.testing.assert_allclose(prob.init_probs.numpy(), [TOY["init_probs"]] * 3)
    with pytest.raises(ValueError, match="batch sizes do not match.*features"):
        ls.Bandit(r_true=[TOY["r_true"]] * 2, init_probs=TOY["init_probs"], features=phis)


def test_tracked_first_hits_equal_steps_to_without_storing_trajectories():
    prob = toy(init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15], [0.15, 0.5, 0.35 / 3, 0.35 / 3, 0.35 / 3],
                           [0.9, 0.025, 0.025, 0.025, 0.025]])
    full = ls.train(prob, ls.ExactPG(lr=0.1), steps=3000, reward="true")
    ends = ls.train(prob, ls.ExactPG(lr=0.1), steps=3000, reward="true", record_every=None, track_level=[0.9, 0.9, 2.0])
    assert ends.probs.shape[0] == 2
    np.testing.assert_array_equal(ends.hit_steps, [full.steps_to(0.9)[0], full.steps_to(0.9)[1], -1])
    assert ends.hit_steps[1] > 0 and full.hit_steps is None
    with pytest.raises(ValueError, match="track_level"):
        ls.train(prob, ls.ExactPG(lr=0.1), steps=1, track_level=[0.9, 0.9])


@pytest.mark.parametrize("value, group", [(0.3, 6), (0.1, 7), (0.1, 96), (0.7, 7), (1 / 3, 7)])
def test_grpo_a_group_of_equal_rewards_is_exactly_silent(value, group):
    """Equal rewards whose float32 mean is off by one rounding step: (r - mean) / (std + eps) would give advantages of
    order 1 (0.43 for 96 rewards of 0.1); the rule gives exactly 0, and a mixed group keeps its normalised values."""
    r = torch.full((2, group), value, dtype=torch.float32)
    r[1, 0] = 0.0
    a = ls.GRPO(group=group).advantages(r)
    assert torch.equal(a[0], torch.zeros(group))
    assert a[1].abs().max() > 0.5 and abs(float(a[1].mean())) < 1e-5
