"""The sequence engine (labsupport.sequence): the policy's exact pieces (every response once, probabilities summing to
one, the closed-form score direction equal to autograd's gradient), agreement with the bandit on sequences of one
token, and regression against the two trainings it replaces, chapter 7's ``verifiable.train_grpo`` and chapter 6's
``rlhf.rloo``, on fixed seeds.

Tolerances: against ``train_grpo`` and ``rloo`` the engine runs the same operations on the same random numbers, so
every record is compared for exact equality (float32, CPU). Against ``labsupport.train`` on one-token tasks the
sampled outputs are the same and the arithmetic differs only in rounding (the engine's softmax and row sums), so the
values are compared to 1e-12 in float64.

Chapter 7's layer on the engine is ``verifiable.SequenceTask.engine_task`` with ``verifiable.CreditMix``, chapter 6's
``rlhf.SequenceTask.engine``; the regression of both chapters against the values they gave before they ran on the
engine is tests/test_study_regression.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labsupport as ls
from labsupport import sequence as sq
from labsupport.studies import rlhf
from labsupport.studies import verifiable as vf

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def chapter7_task(task: vf.SequenceTask) -> sq.SequenceTask:
    return task.engine_task()


def chapter6_task(task: rlhf.SequenceTask, init: torch.Tensor, proxy=None) -> sq.SequenceTask:
    return task.engine(init, proxy)


# ------------------------------------------------------------------------------------------ the policy


@pytest.mark.parametrize("end", [None, 0, 2])
def test_every_response_once_and_probabilities_sum_to_one(end):
    policy = sq.SequencePolicy(vocab=3, length=4, end=end)
    every = policy.all_sequences()
    assert len(every) == policy.n_sequences() == len({tuple(r) for r in every.tolist()})
    assert policy.n_sequences() == (81 if end is None else 1 + 2 + 4 + 3 * 8)
    theta = torch.randn((2, 3, 4, 3, 3), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    total = policy.log_prob(theta, every[None].expand(3, -1, -1)).exp().sum(-1)
    torch.testing.assert_close(total, torch.ones(2, 3, dtype=torch.float64), rtol=0, atol=1e-12)
    if end is not None:  # a response ends at its first end token, padding after it
        for row in every.tolist():
            stop = row.index(end) + 1 if end in row else 4
            assert all(x == policy.pad for x in row[stop:]) and policy.pad not in row[:stop]


def test_responses_are_chapter_6s_and_sampling_follows_the_policy():
    task = rlhf.SequenceTask(prompts=2, vocab=4, length=5, device="cpu")
    policy = sq.SequencePolicy(4, 5, end=rlhf.EOS)
    assert torch.equal(policy.all_sequences(), task.all_responses())
    theta = torch.randn((1, 2, 5, 4, 4), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u = sq.draw_uniforms(torch.Generator().manual_seed(2), (1, 2, 20_000, 5), "position", torch.float64)
    tokens = policy.sample(policy.conditionals(theta), u)
    every = policy.all_sequences()
    exact = policy.log_prob(theta, every[None].expand(2, -1, -1)).exp()[0]                     # (P, S)
    hit = (tokens[0][:, :, None, :] == every[None, None]).all(-1)                              # (P, N, S)
    assert bool(hit.sum(-1).eq(1).all())  # every sample is one response of the enumeration
    freq = hit.double().mean(1)
    assert float((freq - exact).abs().max()) < 0.01                                          # 4 sd at p = 0.25


@pytest.mark.parametrize("end", [None, 1])
def test_score_direction_is_the_gradient_of_the_weighted_log_likelihood(end):
    policy = sq.SequencePolicy(vocab=4, length=3, end=end)
    gen = torch.Generator().manual_seed(3)
    theta = torch.randn((2, 3, 3, 4, 4), generator=gen, dtype=torch.float64)
    u = torch.rand((2, 3, 6, 3), generator=gen, dtype=torch.float64)
    tokens = policy.sample(policy.conditionals(theta), u)
    w = torch.randn((2, 3, 6), generator=gen, dtype=torch.float64)
    th = theta.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((w * policy.log_prob(th, tokens)).mean((1, 2)).sum(), th)
    torch.testing.assert_close(policy.score_direction(policy.conditionals(theta), tokens, w), grad, rtol=0,
                               atol=1e-14)


# ---------------------------------------------------------------------------------------- a one-token task is a bandit


def one_token(problem: ls.Bandit) -> sq.SequenceTask:
    """The bandit as a sequence task of length 1: the START row of the (V, V) table holds the bandit's logits."""
    b, n = problem.batch_size, problem.n_outputs
    theta0 = torch.zeros((b, 1, 1, n, n), dtype=torch.float64)
    theta0[:, 0, 0, sq.START] = problem.init_logits

    def scorer(r):
        return lambda tokens, runs: r[runs][:, None, None, :].expand(*tokens.shape[:3], n).gather(
            -1, tokens).squeeze(-1)

    return sq.SequenceTask(theta0, scorer(problem.r_true), scorer(problem.r_proxy))


@pytest.mark.parametrize("algorithm", [ls.RLOO(k=4, lr=0.5), ls.GRPO(group=6, lr=0.3),
                                       ls.PPO(clip=0.2, epochs=3, k=4, lr=0.5),
                                       ls.Reinforce(samples=3, baseline="mean", lr=0.5)],
                         ids=lambda a: type(a).__name__)
def test_a_one_token_task_trains_as_the_bandit(algorithm):
    prob = ls.Bandit(r_true=[1, .8, -1, -1, -1], r_proxy=[[1, -1, -1, -1, -1], [1, .8, -1, .5, -1]],
                     init_probs=[.05, .5, .15, .15, .15])
    steps = 150
    bandit = ls.train(prob, algorithm, steps, reward="proxy", seed=4, device="cpu", dtype=torch.float64,
                      record_every=10, backend="torch")
    run = sq.train_sequences(one_token(prob), algorithm, steps, reward="proxy", seed=4, device="cpu",
                             dtype=torch.float64, record_every=10)
    assert run.steps.tolist() == bandit.steps.tolist()
    np.testing.assert_allclose(run.true_value, bandit.true_value, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.proxy_value, bandit.proxy_value, rtol=0, atol=1e-12)
    final = torch.softmax(run.theta[:, 0, 0, sq.START], -1).numpy()
    np.testing.assert_allclose(final, bandit.probs[-1], rtol=0, atol=1e-12)
    assert np.abs(bandit.probs[-1] - bandit.probs[0]).max() > 0.05  # the runs did move


# ------------------------------------------------------------------------------------------ chapter 7: train_grpo


@pytest.fixture(scope="module")
def regimes():
    """Chapter 7's three regimes (A, B, C), four runs each, one per reward schedule."""
    task = vf.make_task([0.7, 0.4, 0.02], [0.05, 0.4, 0.02], [0.003, 0.1, 0.0002], vocab=8, length=6)
    return task.rows(np.repeat(np.arange(3), 4)), np.array(list(vf.REWARDS) * 3, dtype=object)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_grpo_reproduces_train_grpo_exactly(regimes, dtype):
    task, kinds = regimes
    steps, group = 80, 32
    old = vf.train_grpo(task, kinds, steps, group=group, lr=1.0, seed=3, device="cpu", record_every=10,
                        anneal_steps=30, switch_window=5, dtype=dtype, progress=False, backend="torch")
    mix = vf.CreditMix(task, kinds, steps, anneal_steps=30, switch_window=5, dtype=dtype)
    run = sq.train_sequences(chapter7_task(task), ls.GRPO(group=group, lr=1.0), steps, reward=mix, seed=3,
                             device="cpu", record_every=10, dtype=dtype, backend="torch")
    assert run.steps.tolist() == old.steps.tolist() and run.reward == "custom"
    for name in ("p1", "p2", "joint"):
        np.testing.assert_array_equal(run.values[name], getattr(old, name))
    np.testing.assert_array_equal(run.true_value, old.joint)
    np.testing.assert_array_equal(run.steps_to(0.3), old.steps_to(0.3))
    np.testing.assert_array_equal(run.silent == 1, old.silent)
    np.testing.assert_array_equal(mix.sampled.double().numpy(), old.sampled_joint)
    np.testing.assert_array_equal(mix.weight.double().numpy(), old.weight)
    assert 0 < old.silent.mean() < 1 and (old.joint[-1] > old.joint[0] + 0.1).any()  # silent groups and learning


def test_grpo_on_a_fixed_reward_is_the_binary_and_partial_schedules(regimes):
    task, _ = regimes
    engine = chapter7_task(task)
    for reward, name in (("true", "binary"), ("proxy", "partial")):
        old = vf.train_grpo(task, name, 30, group=16, lr=1.0, seed=2, device="cpu", record_every=30, progress=False)
        run = sq.train_sequences(engine, ls.GRPO(group=16, lr=1.0), 30, reward=reward, seed=2, device="cpu",
                                 record_every=30)
        np.testing.assert_array_equal(run.values["joint"], old.joint)
        np.testing.assert_array_equal(run.silent == 1, old.silent)


@pytest.mark.slow
def test_the_fused_kernel_runs_behind_the_engine_as_behind_train_grpo():
    """On CUDA (or in Triton's CPU interpreter) the credit schedule hands the whole training to chapter 7's kernel:
    the same run as train_grpo's fused path."""
    pytest.importorskip("triton")
    from labsupport import fused

    task = vf.make_task([0.3, 0.2], [0.4, 0.05], end_bias=1.0, length=4).rows([0, 1, 0, 1])
    kinds = np.array(vf.REWARDS, dtype=object)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if fused.sequence_unsupported(task, 8, torch.device(device), torch.float32) is not None:
        pytest.skip("no CUDA and no Triton interpreter")
    old = vf.train_grpo(task, kinds, 3, group=8, seed=1, device=device, anneal_steps=2, switch_at=0.1,
                        switch_window=1, backend="fused")
    mix = vf.CreditMix(task, kinds, 3, anneal_steps=2, switch_at=0.1, switch_window=1)
    run = sq.train_sequences(chapter7_task(task), ls.GRPO(group=8, lr=1.0), 3, reward=mix, seed=1, device=device,
                             backend="fused")
    assert run.theta is None  # the kernel keeps the logits
    for name in ("p1", "p2", "joint"):
        np.testing.assert_array_equal(run.values[name], getattr(old, name))
    np.testing.assert_array_equal(run.silent == 1, old.silent)
    np.testing.assert_array_equal(mix.weight.cpu().double().numpy(), old.weight)
    with pytest.raises(ValueError, match="fused"):  # Adam has no kernel
        sq.train_sequences(chapter7_task(task), ls.GRPO(group=8), 3, reward=mix, device=device, backend="fused",
                           optimizer="adam")


# ------------------------------------------------------------------------------------------ chapter 6: rloo


@pytest.fixture(scope="module")
def tiny():
    """Chapter 6's smallest task (P = 4, V = 4, L = 5), its three SFT policies, and a per-run reward: the ground
    truth for runs 0, 2 and r_G with the mediocre answer demoted for run 1."""
    task = rlhf.SequenceTask(prompts=4, vocab=4, length=5, device="cpu")
    init = rlhf.sft(task, demos=32)
    demote = torch.tensor([False, True, False])

    def reward(tokens, runs):
        return torch.where(demote[runs, None, None], task.ground_truth_demoted(tokens), task.ground_truth(tokens))

    return task, init, reward


@pytest.mark.parametrize("kl, whiten", [(0.01, True), (0.0, False)])
def test_rloo_reproduces_rlhf_rloo_exactly(tiny, kl, whiten):
    task, init, reward = tiny
    old = rlhf.rloo(task, init, reward, steps=40, k=4, kl=kl, lr=0.05, whiten=whiten, seed=1,
                    record_every=20, progress=False)
    run = sq.train_sequences(chapter6_task(task, init, reward), ls.RLOO(k=4, lr=0.05, kl=kl), 40, reward="proxy",
                             seed=1, device="cpu", record_every=20, optimizer="adam", whiten=whiten)
    assert run.steps.tolist() == old.steps.tolist() == [0, 20, 40]
    np.testing.assert_array_equal(run.true_value, old.true_value)
    np.testing.assert_array_equal(run.proxy_reward, old.proxy_reward)
    np.testing.assert_array_equal(run.kl, old.kl)
    np.testing.assert_array_equal(run.gain, old.gain)
    assert torch.equal(run.theta, old.theta)
    assert (old.gain > 0.05).all()
    exact = task.engine(init, reward).expected(init, reward)
    np.testing.assert_allclose(run.proxy_value[0], exact.mean(1).numpy(), atol=1e-6)


def test_rloo_with_sampled_values_reproduces_rlhf_rloo_exactly():
    """A task too large to enumerate (21845 responses per prompt): V_G from responses sampled position by
    position with the evaluation generator, as rloo draws them."""
    task = rlhf.SequenceTask(prompts=2, vocab=5, length=7, device="cpu")
    assert not task.exact
    init = rlhf.sft(task, demos=16)[:2]
    old = rlhf.rloo(task, init, None, steps=10, seed=2, record_every=5, eval_samples=64,
                    progress=False)
    run = sq.train_sequences(chapter6_task(task, init), ls.RLOO(k=4, lr=0.05, kl=0.01), 10, reward="true",
                             seed=2, device="cpu", record_every=5, optimizer="adam", whiten=True, eval_samples=64)
    np.testing.assert_array_equal(run.true_value, old.true_value)
    assert torch.equal(run.theta, old.theta)


# ------------------------------------------------------------------------------------------ PPO on sequences


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_ppo_with_one_epoch_is_rloo_on_sequences(tiny, optimizer):
    task, init, reward = tiny
    engine = chapter6_task(task, init, reward)
    lr = 0.05 if optimizer == "adam" else 2.0
    runs = [sq.train_sequences(engine, rule, 15, reward="proxy", seed=5, device="cpu", record_every=15,
                               optimizer=optimizer)
            for rule in (ls.RLOO(k=4, lr=lr, kl=0.01), ls.PPO(k=4, epochs=1, lr=lr, kl=0.01))]
    np.testing.assert_array_equal(runs[0].true_value, runs[1].true_value)
    assert torch.equal(runs[0].theta, runs[1].theta)


def test_ppo_raises_the_ground_truth_on_chapter_6s_task_and_clipping_bounds_its_steps(tiny):
    task, init, _ = tiny
    engine = chapter6_task(task, init)
    kw = dict(reward="true", seed=0, device="cpu", record_every=30, optimizer="adam")
    ppo = sq.train_sequences(engine, ls.PPO(k=4, epochs=4, clip=0.2, lr=0.05), 30, **kw)
    assert (ppo.gain > 0.05).all(), ppo.gain
    # with a tiny clip range, later epochs clip nearly every sample: the run stays close to one epoch's
    tight = sq.train_sequences(engine, ls.PPO(k=4, epochs=4, clip=1e-6, lr=0.05), 30, **kw)
    one = sq.train_sequences(engine, ls.PPO(k=4, epochs=1, lr=0.05), 30, **kw)
    wide = sq.train_sequences(engine, ls.PPO(k=4, epochs=4, clip=10.0, lr=0.05), 30, **kw)
    assert np.abs(tight.gain - one.gain).max() < np.abs(wide.gain - one.gain).max()


# ------------------------------------------------------------------------------------------ the result and bad input


def test_run_accessors(tiny):
    task, init, reward = tiny
    run = sq.train_sequences(chapter6_task(task, init, reward), ls.GRPO(group=4, lr=0.05), 6, reward="proxy",
                             device="cpu", record_every=3, optimizer="adam")
    frame = run.to_frame()
    assert list(frame.columns) == ["step", "run", "true_value", "proxy_value"] and len(frame) == 3 * 3
    np.testing.assert_array_equal(frame["true_value"].to_numpy().reshape(3, 3), run.true_value)
    low = run.true_value.min() - 1
    assert run.steps_to(low).tolist() == [0, 0, 0] and run.steps_to(2.0, reward="proxy").tolist() == [-1, -1, -1]
    assert run.silent.shape == (6, 3) and np.isnan(run.proxy_reward[0]).all() and (run.kl[0] == 0).all()


def test_bad_input_is_refused_with_the_argument_named(tiny):
    task, init, _ = tiny
    engine = chapter6_task(task, init)
    cases = [
        (dict(algorithm=ls.ExactPG()), "algorithm"), (dict(reward="proxy"), "proxy_reward"),
        (dict(reward=3), "reward"), (dict(optimizer="lbfgs"), "optimizer"), (dict(steps=-1), "steps"),
        (dict(record_every=0), "record_every"), (dict(whiten="yes"), "whiten"), (dict(backend="fused"), "fused"),
    ]
    for change, word in cases:
        kw = dict(algorithm=ls.RLOO(), steps=2, reward="true", device="cpu") | change
        with pytest.raises(ValueError, match=word):
            sq.train_sequences(engine, **kw)
    with pytest.raises(ValueError, match="theta0"):
        sq.SequenceTask(init[0], task.ground_truth)
    with pytest.raises(ValueError, match="draw"):
        sq.SequenceTask(init, task.ground_truth, draw="random")
    with pytest.raises(ValueError, match="end"):
        sq.SequencePolicy(4, 3, end=4)
