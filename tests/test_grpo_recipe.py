"""The paper's GRPO recipe as options of the GRPO rule and the sequence engine: the learning-rate schedule's closed
form, AdamW against a hand-written AdamW (and ``torch.optim.AdamW``) on autograd's gradients of the surrogate, silent
groups filtered out of a batch against a hand-computed average, several groups per step against the mean of single
group updates, and the options at their defaults (one group per step, no filtering) equal to the rule without them.

Tolerances: where two computations run the same operations on the same numbers they are compared for exact equality;
closed-form directions against autograd's gradients, and a rescaled update against the filtered one, differ by rounding
only and are compared to 1e-12 in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import labsupport as ls
from labsupport import sequence as sq
from labsupport.algorithms import drop_silent, silent_groups
from labsupport.studies import verifiable as vf

G = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def task() -> sq.SequenceTask:
    """Two chapter-7 tasks (regimes (a) and (b)) on the engine, short sequences: P = 1, binary and partial credit."""
    return vf.make_task([0.7, 0.4], [0.05, 0.4], [0.003, 0.1], vocab=4, length=3).engine_task()


def stream(shape: tuple[int, ...], seed: int = 7):
    """A step -> uniform numbers function (float64), the same numbers for every training it is given to."""
    draws: dict[int, torch.Tensor] = {}

    def uniforms(t: int) -> torch.Tensor:
        if t not in draws:
            draws[t] = torch.rand(shape, generator=torch.Generator().manual_seed(seed + t), dtype=torch.float64)
        return draws[t]

    return uniforms


# ------------------------------------------------------------------------------------------------ the schedule


def test_the_linear_schedule_has_its_closed_form():
    steps, warm = 400, sq.warmup_steps(400, sq.WARMUP)
    assert warm == 12                                                          # int(0.03 * 400)
    f = [sq.lr_factor(t, steps, warm) for t in range(steps)]
    assert f[0] == 0 and f[6] == 0.5 and f[12] == 1.0 and f[-1] == 1 / 388
    assert np.all(np.diff(f[:13]) > 0) and np.all(np.diff(f[12:]) < 0)
    assert math.isclose(sum(f), steps / 2, rel_tol=1e-12)                     # (w - 1)/2 + (S - w + 1)/2 = S/2
    assert [sq.lr_factor(t, 10, 0) for t in (0, 5, 9)] == [1.0, 0.5, 0.1]       # no warm-up: decay from the start


def test_the_engine_applies_the_schedule(task):
    """Warm-up over the first of two steps: that step moves nothing, the second is the constant rule's first step."""
    u = stream((2, 1, G, 3))
    rule = ls.GRPO(group=G, lr=1.0)
    scheduled = sq.train_sequences(task, rule, 2, reward="proxy", dtype=torch.float64,
                                   schedule="linear", warmup=0.5, uniforms=u)
    plain = sq.train_sequences(task, rule, 1, reward="proxy", dtype=torch.float64, uniforms=lambda t: u(t + 1))
    assert torch.equal(scheduled.theta, plain.theta)
    assert not torch.equal(plain.theta, task.theta0.double())


# ------------------------------------------------------------------------------------------------ AdamW


def test_adamw_follows_the_hand_written_update_and_torch(task):
    """Three AdamW steps (scheduled, weight decay 0.1) against AdamW written out from its definition and against
    torch.optim.AdamW, both fed autograd's gradient of the surrogate -(1/G) sum_i A_i log pi(y_i)."""
    steps, lr, wd = 3, 0.05, 0.1
    u = stream((2, 1, G, 3))
    rule = ls.GRPO(group=G, lr=lr)
    run = sq.train_sequences(task, rule, steps, reward="proxy", dtype=torch.float64, optimizer="adamw",
                             schedule="linear", warmup=0.4, weight_decay=wd, uniforms=u)
    b1, b2 = sq.ADAMW_BETAS
    assert (b1, b2, sq.ADAMW_EPS) == (0.9, 0.999, 1e-8)
    policy, warm = task.policy, sq.warmup_steps(steps, 0.4)
    hand = task.theta0.double().clone()
    ref = hand.clone().requires_grad_(True)
    torch_adamw = torch.optim.AdamW([ref], lr=lr, betas=(b1, b2), eps=sq.ADAMW_EPS, weight_decay=wd)
    m = torch.zeros_like(hand)
    v = torch.zeros_like(hand)
    for t in range(steps):
        tokens = policy.sample(policy.conditionals(hand), u(t))
        a = rule.advantages(task.proxy_reward(tokens, torch.arange(2)).reshape(-1, G)).reshape(2, 1, G)
        theta = hand.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(-(a * policy.log_prob(theta, tokens)).mean((1, 2)).sum(), theta)
        rate = lr * sq.lr_factor(t, steps, warm)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        hand = hand * (1 - rate * wd) - rate * (m / (1 - b1 ** (t + 1))) / ((v / (1 - b2 ** (t + 1))).sqrt()
                                                                            + sq.ADAMW_EPS)
        torch_adamw.param_groups[0]["lr"] = rate
        ref.grad = grad
        torch_adamw.step()
    assert sq.lr_factor(0, steps, warm) == 0 and warm == 1                     # the first step is warm-up only
    torch.testing.assert_close(run.theta, hand, rtol=0, atol=1e-12)
    torch.testing.assert_close(run.theta, ref.detach(), rtol=0, atol=1e-12)
    assert (run.theta - task.theta0.double()).abs().max() > 1e-3               # it moved


def test_bad_options_name_the_argument(task):
    rule = ls.GRPO(group=G)
    with pytest.raises(ValueError, match="schedule"):
        sq.train_sequences(task, rule, 1, schedule="cosine")
    with pytest.raises(ValueError, match="warmup"):
        sq.train_sequences(task, rule, 1, schedule="linear", warmup=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        sq.train_sequences(task, rule, 1, optimizer="sgd", weight_decay=0.1)
    with pytest.raises(ValueError, match="groups"):
        ls.GRPO(group=G, groups=0)
    with pytest.raises(ValueError, match="filter_silent"):
        ls.GRPO(group=G, filter_silent="yes")


# ------------------------------------------------------------------------------------------------ the batch


def test_filtering_averages_over_the_non_silent_groups_only():
    """A batch of three groups of four, the middle one silent: the others' advantages scaled by 3/2, so that the
    1/(3 G) average of the update is the 1/(2 G) average over the two non-silent groups; all silent: nothing."""
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 1.0, 0.5]], dtype=torch.float64)
    rule = ls.GRPO(group=G, groups=3, filter_silent=True)
    s3 = math.sqrt(3)
    a0 = [s3, -1 / s3, -1 / s3, -1 / s3]                                        # mean 1/4, std sqrt(3)/4
    a2 = [0.0, -math.sqrt(2), math.sqrt(2), 0.0]                                # mean 1/2, std sqrt(1/8)
    hand = torch.tensor([[*(1.5 * x for x in a0), 0, 0, 0, 0, *(1.5 * x for x in a2)]], dtype=torch.float64)
    torch.testing.assert_close(rule.batch_weights(r), hand, rtol=0, atol=1e-7)  # eps 1e-8 in the std
    unfiltered = ls.GRPO(group=G, groups=3).batch_weights(r)
    torch.testing.assert_close(unfiltered * torch.tensor([1.5] * 4 + [0] * 4 + [1.5] * 4), rule.batch_weights(r))
    assert silent_groups(r.reshape(1, 3, G)).tolist() == [[False, True, False]]
    quiet = torch.full((2, 3 * G), 0.5, dtype=torch.float64)
    assert torch.equal(drop_silent(torch.zeros_like(quiet), quiet, G), torch.zeros_like(quiet))


def test_a_filtered_step_is_the_unfiltered_one_over_the_non_silent_share(task):
    """One SGD step of n = 8 groups per prompt: with filtering the update is n / n' times the unfiltered one, n' the
    run's non-silent groups (from the recorded silent share); a step whose groups are all silent does not move."""
    n, u = 8, stream((2, 1, 8 * G, 3), seed=3)
    start = task.theta0.double()
    runs = {f: sq.train_sequences(task, ls.GRPO(group=G, groups=n, filter_silent=f), 1, reward="proxy",
                                  dtype=torch.float64, uniforms=u) for f in (False, True)}
    live = n * (1 - runs[False].silent[0])                                     # non-silent groups per run
    assert np.array_equal(runs[True].silent, runs[False].silent) and 0 < live.min() < n
    for b in range(2):
        scale = n / live[b]
        torch.testing.assert_close(runs[True].theta[b] - start[b], scale * (runs[False].theta[b] - start[b]),
                                   rtol=0, atol=1e-12)
    quiet = stream((2, 1, 8 * G, 3), seed=0)
    zero = sq.train_sequences(task, ls.GRPO(group=G, groups=n, filter_silent=True), 1, reward=lambda tok, t:
                              torch.zeros(tok.shape[:3], dtype=torch.float64), dtype=torch.float64, uniforms=quiet)
    assert torch.equal(zero.theta, start) and np.all(zero.silent == 1)


def test_several_groups_are_the_mean_of_single_group_steps(task):
    """n groups per step, filtering off: one SGD step is the mean of the n steps of one group each, from the same
    policy on the same samples (each group standardised on its own)."""
    n = 3
    u = stream((2, 1, n * G, 3), seed=5)
    start = task.theta0.double()
    batch = sq.train_sequences(task, ls.GRPO(group=G, groups=n), 1, reward="proxy", dtype=torch.float64, uniforms=u)
    parts = [sq.train_sequences(task, ls.GRPO(group=G), 1, reward="proxy", dtype=torch.float64,
                                uniforms=lambda t, k=k: u(t)[:, :, k * G:(k + 1) * G]).theta - start
             for k in range(n)]
    torch.testing.assert_close(batch.theta - start, sum(parts) / n, rtol=0, atol=1e-12)


def test_one_group_without_filtering_is_todays_rule(task):
    """The options at one group per step (with or without filtering: one group is dropped only when silent, and then
    it moved nothing) give bit for bit the rule without them, on the engine and on the bandit."""
    base = sq.train_sequences(task, ls.GRPO(group=8, lr=1.0), 20, reward="proxy", seed=1, record_every=5)
    for rule in (ls.GRPO(group=8, lr=1.0, groups=1), ls.GRPO(group=8, lr=1.0, filter_silent=True)):
        run = sq.train_sequences(task, rule, 20, reward="proxy", seed=1, record_every=5)
        assert torch.equal(run.theta, base.theta)
        np.testing.assert_array_equal(run.silent, base.silent)
    assert 0 < base.silent.mean() < 1
    r = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    assert torch.equal(ls.GRPO(group=G, filter_silent=True).batch_weights(r), ls.GRPO(group=G).advantages(r))


# ------------------------------------------------------------------------------------------------ chapter 7's study


def test_the_paper_recipe_runs_through_the_study_functions():
    """``recipe("paper")`` is the engine's options together; train_grpo passes them on unchanged (the same records as
    the engine given them directly), and the miniature's recipe is train_grpo's default bit for bit."""
    paper = vf.recipe("paper", group=G)
    rule = paper["algorithm"]
    assert (rule.groups, rule.filter_silent, rule.lr, paper["optimizer"], paper["schedule"]) == (
        vf.PAPER_PROMPTS, True, vf.PAPER_LR, "adamw", "linear")
    tasks = vf.make_task([0.7, 0.4], [0.05, 0.4], [0.003, 0.1], vocab=4, length=3)
    run = vf.train_grpo(tasks, "partial", 12, seed=2, record_every=4, device="cpu", **paper)
    mix = vf.CreditMix(tasks, np.array(["partial"] * 2, dtype=object), 12, anneal_steps=6)
    engine = sq.train_sequences(tasks.engine_task(), rule, 12, reward=mix, seed=2, record_every=4, device="cpu",
                                optimizer="adamw", schedule="linear")
    np.testing.assert_array_equal(run.joint, engine.values["joint"])
    assert (run.joint[-1] != run.joint[0]).all()                               # it trained
    mini = vf.train_grpo(tasks, "binary", 12, group=G, seed=2, device="cpu", **vf.recipe("miniature", group=G))
    np.testing.assert_array_equal(mini.joint, vf.train_grpo(tasks, "binary", 12, group=G, seed=2, device="cpu").joint)
    frame = vf.compare_credit(tasks, steps=12, seeds=1, group=G, record_every=4, device="cpu", training=paper)
    assert frame["P(both)"].round(6).tolist() == [0.003, 0.1] and set(frame.winner) <= {"binary", "partial", "tie",
                                                                                          "neither"}
    with pytest.raises(ValueError, match="recipe"):
        vf.recipe("open-instruct")
