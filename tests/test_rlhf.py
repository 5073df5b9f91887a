"""RLHF in miniature (labsupport.studies.rlhf) and the committed study of chapter 6: exact expectations against
sampling, the SFT policies' mediocre mass, reward-model accuracy against label noise, RLOO on the ground truth, the
pipeline's metrics against labsupport.metrics on a case checked by hand, and the committed data file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from labsupport import metrics
from labsupport.studies import rlhf

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    """The smallest task (P = 4, V = 4, L = 5: 364 responses per prompt) and its three SFT policies."""
    task = rlhf.SequenceTask(prompts=4, vocab=4, length=5, device="cpu")
    return task, rlhf.sft(task, demos=32)


# ----------------------------------------------------------------------------------------------------------------------
# The task and the policy
# ----------------------------------------------------------------------------------------------------------------------


def test_enumeration_counts_every_response_once_and_probabilities_sum_to_one(tiny):
    task, init = tiny
    every = task.all_responses()
    assert task.exact and len(every) == task.n_responses == 1 + 3 + 9 + 27 + 4 * 81  # sum (V-1)^(l-1) + V (V-1)^(L-1)
    assert len(torch.unique(every, dim=0)) == len(every)
    lengths = task.lengths(every)
    ends = every[torch.arange(len(every)), lengths - 1]
    assert bool(((ends == rlhf.EOS) | (lengths == task.length)).all())  # each ends at its EOS or at full length
    total = task.policy.log_prob(init, every.expand(task.prompts, *every.shape)).exp().sum(-1)
    np.testing.assert_allclose(total.numpy(), 1.0, atol=1e-5)


def test_ground_truth_has_a_best_and_a_mediocre_mode(tiny):
    task, _ = tiny
    every = task.all_responses().expand(task.prompts, task.n_responses, task.length)
    r = task.ground_truth(every)
    assert torch.allclose(task.ground_truth(task.best[:, None]), torch.ones(task.prompts, 1))
    assert torch.allclose(task.ground_truth(task.mediocre[:, None]), torch.full((task.prompts, 1), 0.8))
    assert float(r.min()) == -1.0 and float(r.max()) == 1.0
    second = r.sort(-1, descending=True).values[:, 1]
    assert torch.allclose(second, torch.full_like(second, 0.8))  # nothing between the best and the mediocre answer


def test_exact_expectation_equals_a_large_sample_estimate(tiny):
    task, init = tiny
    exact = rlhf.policy_values(task, init)  # (I, P): sums over all 364 responses
    g = torch.Generator().manual_seed(3)
    n = 40_000
    seqs = task.sample(init, n, g)
    r = task.ground_truth(seqs)
    estimate, se = r.mean(-1), r.std(-1) / math.sqrt(n)
    assert bool((abs(estimate - exact) < 4 * se + 1e-6).all()), (exact, estimate, se)
    # the sampled frequency of the mediocre answer matches its exact probability
    freq = (seqs == task.mediocre[None, :, None]).all(-1).float().mean(-1)
    prob = task.policy.log_prob(init, task.mediocre[:, None]).exp()[..., 0]
    assert bool((abs(freq - prob) < 4 * torch.sqrt(prob * (1 - prob) / n) + 1e-6).all())


def test_sft_makes_the_mediocre_answer_likely_and_the_best_one_rarer(tiny):
    task, init = tiny
    p_med = task.policy.log_prob(init, task.mediocre[:, None]).exp()[..., 0].mean(1)  # (I,) mean over prompts
    p_best = task.policy.log_prob(init, task.best[:, None]).exp()[..., 0].mean(1)
    assert bool((p_med > 0.4).all()), p_med  # every initial policy puts over 40% on the mediocre answer
    assert bool((p_med > 2 * p_best).all())
    names = [s.name for s in rlhf.DEFAULT_SFT]
    assert float(p_best[names.index("SFT-mediocre")]) < 0.01  # no best demonstration: a_p is rare
    assert float(p_best[names.index("SFT-balanced")]) > 0.1


# ----------------------------------------------------------------------------------------------------------------------
# Reward models
# ----------------------------------------------------------------------------------------------------------------------


def test_reward_model_accuracy_falls_with_label_noise(tiny):
    task, init = tiny
    specs = [rlhf.RMSpec(f"noise{e}", "policy", 64, e) for e in (0.0, 0.2, 0.4)]
    rms = rlhf.train_reward_models(task, specs, init, steps=200, seed=0, progress=False)
    acc = rlhf.heldout_accuracy(task, rms, init, pairs=512)
    assert acc[0] > acc[1] + 0.03 > acc[2] + 0.06, acc
    assert acc[0] > 0.85


def test_perturbations_rescore_exactly_one_response_per_prompt(tiny):
    task, init = tiny
    base = rlhf.RMSpec("base", "offline", 16, 0.0)
    specs = [base, rlhf.RMSpec("demoted", perturb="demote-mediocre", base="base"),
             rlhf.RMSpec("rare", perturb="reward-rare-bad", base="base")]
    rms = rlhf.train_reward_models(task, specs, init, steps=50, progress=False)
    every = task.all_responses().expand(task.prompts, task.n_responses, task.length)
    r = rms(every)  # (3, P, S)
    is_med = (every == task.mediocre[:, None]).all(-1)
    changed = r[1] != r[0]
    assert bool((changed == is_med).all())  # only m_p changes, and it becomes the lowest reward
    assert bool((r[1][is_med] < r[1].masked_fill(is_med, float("inf")).min(-1).values).all())
    top = r[2].argmax(-1)
    picked = every[torch.arange(task.prompts), top]
    assert bool((task.ground_truth(picked[:, None]) < -0.5).all())  # the top response of "rare" is a bad one
    assert float(task.policy.log_prob(init, picked[:, None]).exp().max()) < 1e-3  # ... that no initial policy produces


# ----------------------------------------------------------------------------------------------------------------------
# RLOO
# ----------------------------------------------------------------------------------------------------------------------


def test_rloo_on_the_ground_truth_raises_the_ground_truth(tiny):
    task, init = tiny
    run = rlhf.rloo(task, init, None, steps=100, seed=0, record_every=50, progress=False)
    assert run.true_value.shape == (3, 3) and list(run.steps) == [0, 50, 100]
    np.testing.assert_allclose(run.true_value[0], rlhf.policy_values(task, init).mean(1).numpy(), atol=1e-6)
    assert bool((run.gain > 0.15).all()), run.gain
    assert bool((run.true_value[-1] > 0.7).all())  # close to the mediocre level (0.8) or above
    every = task.all_responses().expand(task.prompts, task.n_responses, task.length)
    lp, lp0 = task.policy.log_prob(run.theta, every), task.policy.log_prob(init, every)
    kl = (lp.exp() * (lp - lp0)).sum(-1)  # exact KL(pi || pi_0) per policy and prompt
    assert bool((kl > 0.01).all())


def test_rloo_is_reproducible_from_its_seed(tiny):
    task, init = tiny
    runs = [rlhf.rloo(task, init[:1], None, steps=20, seed=s, record_every=20, progress=False)
            for s in (5, 5, 6)]
    np.testing.assert_array_equal(runs[0].true_value, runs[1].true_value)
    assert not np.array_equal(runs[0].true_value[-1], runs[2].true_value[-1])


# ----------------------------------------------------------------------------------------------------------------------
# Metrics: the pipeline against labsupport.metrics and a hand computation
# ----------------------------------------------------------------------------------------------------------------------


def test_pair_metrics_on_a_case_checked_by_hand():
    # prompt 0: responses a, b, c with r_G 1, 0, 0 (b, c tied: dropped); prompt 1: d, e with r_G 1, 0.
    ids = [0, 0, 0, 1, 1]
    r_true = [1.0, 0.0, 0.0, 1.0, 0.0]
    r_proxy = [0.2, 0.5, -1.0, 2.0, 1.0]
    logp = [-1.0, -2.0, -3.0, -1.0, -4.0]
    length = [1, 2, 3, 1, 2]
    v_hat = [0.3, 0.3, 0.3, 0.0, 0.0]
    # pairs: (a, b) wrong (0.2 <= 0.5) and not forgiven (0.5 >= 0.3); (a, c) right; (d, e) right
    out = rlhf.pair_metrics(ids, r_true, r_proxy, logp, length, v_hat)
    assert out["pairs"] == 3 and out["ties"] == 1 and out["forgiven"] == 0
    assert out["acc"] == pytest.approx(2 / 3) and out["hacc"] == pytest.approx(2 / 3)
    # weights: s = (-3, -4, -5) -> w proportional to (e^-3, e^-4, e^-5); Acc-W = (e^-4 + e^-5) / Z
    z = math.exp(-3) + math.exp(-4) + math.exp(-5)
    assert out["acc_w"] == pytest.approx((math.exp(-4) + math.exp(-5)) / z)
    # per token: s = (-1 - 1, -1 - 1, -1 - 2) -> (e^-2, e^-2, e^-3)
    zl = 2 * math.exp(-2) + math.exp(-3)
    assert out["acc_w_len"] == pytest.approx((math.exp(-2) + math.exp(-3)) / zl)
    # with V_hat = 0.6 for prompt 0 the mis-ranking of (a, b) is forgiven: every metric becomes 1
    forgiven = rlhf.pair_metrics(ids, r_true, r_proxy, logp, length, [0.6, 0.6, 0.6, 0.0, 0.0])
    assert forgiven["hacc"] == pytest.approx(1.0) and forgiven["hacc_w"] == pytest.approx(1.0)
    assert forgiven["acc"] == pytest.approx(2 / 3)
    assert forgiven["forgiven"] == 1


def test_evaluate_reward_models_matches_labsupport_metrics(tiny):
    task, init = tiny
    specs = [rlhf.RMSpec("a", "policy", 16, 0.0), rlhf.RMSpec("b", "offline", 8, 0.3),
             rlhf.RMSpec("a-demoted", perturb="demote-mediocre", base="a")]
    rms = rlhf.train_reward_models(task, specs, init, steps=50, progress=False)
    table = rlhf.evaluate_reward_models(task, init[:1], rms, ["pi0"], seed=11)
    # redo the on-policy computation by hand with the same random numbers
    g = torch.Generator().manual_seed(11)
    rlhf.offline_responses(task, 10, g)  # drawn first inside evaluate_reward_models
    seqs = task.sample(init[:1], 10, g)[0]
    ids = np.repeat(np.arange(task.prompts), 10)
    r_true = task.ground_truth(seqs).reshape(-1).numpy()
    pairs = metrics.preference_pairs(ids, r_true)
    assert table.onpolicy_pairs.iloc[0] == len(pairs.chosen) and table.onpolicy_ties.iloc[0] == pairs.n_ties
    assert len(pairs.chosen) + pairs.n_ties == task.prompts * 45
    logp = task.policy.log_prob(init[:1], seqs)[0].reshape(-1).numpy()
    length = task.lengths(seqs).reshape(-1).numpy()
    for r, name in enumerate(rms.names):
        proxy = rms(seqs)[r].numpy()
        v = np.repeat(proxy.mean(-1), 10)
        proxy = proxy.reshape(-1)
        c, j = pairs.chosen, pairs.rejected
        row = table[table.rm == name].iloc[0]
        assert row.onpolicy_acc == pytest.approx(metrics.acc(proxy[c], proxy[j]))
        assert row.onpolicy_hacc == pytest.approx(metrics.hacc(proxy[c], proxy[j], v[c]))
        assert row.onpolicy_acc_w == pytest.approx(metrics.acc_w(proxy[c], proxy[j], logp[c], logp[j]))
        assert row.onpolicy_hacc_w_len == pytest.approx(
            metrics.hacc_w(proxy[c], proxy[j], v[c], logp[c], logp[j], length[c], length[j]))
        for src in ("onpolicy", "offline"):
            assert row[f"{src}_hacc"] >= row[f"{src}_acc"] and row[f"{src}_hacc_w"] >= row[f"{src}_acc_w"] - 1e-12


def test_evaluate_reward_models_keeps_on_policy_ties_when_asked(tiny):
    """onpolicy_ties="keep" (the official evaluation's convention): every on-policy pair of the same samples, ties
    oriented by sample order; the offline pairs still drop ties; a bad convention is named."""
    task, init = tiny
    rms = rlhf.train_reward_models(task, [rlhf.RMSpec("a", "policy", 16, 0.0)], init, steps=50, progress=False)
    drop = rlhf.evaluate_reward_models(task, init[:1], rms, ["pi0"], seed=11).iloc[0]
    keep = rlhf.evaluate_reward_models(task, init[:1], rms, ["pi0"], seed=11, onpolicy_ties="keep").iloc[0]
    g = torch.Generator().manual_seed(11)
    rlhf.offline_responses(task, 10, g)
    seqs = task.sample(init[:1], 10, g)[0]
    ids = np.repeat(np.arange(task.prompts), 10)
    pairs = metrics.preference_pairs(ids, task.ground_truth(seqs).reshape(-1).numpy(), tie="keep")
    proxy = rms(seqs)[0].numpy().reshape(-1)
    assert keep.onpolicy_pairs == len(pairs.chosen) == task.prompts * 45 and drop.onpolicy_ties > 0
    assert keep.onpolicy_acc == pytest.approx(metrics.acc(proxy[pairs.chosen], proxy[pairs.rejected]))
    assert keep.onpolicy_acc != drop.onpolicy_acc
    offline = [c for c in drop.index if c.startswith("offline_")]
    assert (keep[offline] == drop[offline]).all()
    with pytest.raises(ValueError, match="onpolicy_ties.*'both'"):
        rlhf.evaluate_reward_models(task, init[:1], rms, ["pi0"], onpolicy_ties="both")


def test_correlation_table_uses_the_metrics_helpers():
    frame = pd.DataFrame({"init": ["x"] * 6 + ["y"] * 6, "reference": False,
                          "onpolicy_acc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] * 2,
                          "gain": [1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]})
    t = rlhf.correlation_table(frame, ["onpolicy_acc"], n_resamples=200)
    assert len(t) == 6 and set(t.stat) == {"pearson", "spearman", "kendall"}
    x = frame.onpolicy_acc[:6]
    got = t.set_index(["init", "stat"]).value
    assert got["x", "kendall"] == pytest.approx(metrics.kendall(x, frame.gain[:6])) == pytest.approx(13 / 15)
    assert got["y", "spearman"] == pytest.approx(-1.0) and got["y", "pearson"] == pytest.approx(-1.0)
    row = t[(t.init == "x") & (t.stat == "pearson")].iloc[0]
    assert (row.ci_low, row.ci_high) == pytest.approx(metrics.bootstrap_ci(x, frame.gain[:6], "pearson", 200))
    assert row.ci_low <= row.value <= row.ci_high


# ----------------------------------------------------------------------------------------------------------------------
# The committed study
# ----------------------------------------------------------------------------------------------------------------------


def test_a_study_size_must_be_a_preset_or_a_study_size():
    with pytest.raises(ValueError, match="size must be one of 'tiny', 'small', 'cpu', 'full'; got 'huge'"):
        rlhf.run_study("huge")


def test_committed_study_has_the_expected_rows_and_columns():
    frame = rlhf.load_study()             # the committed table, through labsupport.data
    setting = frame.iloc[0]
    size = rlhf.SIZES[setting["size"]]
    assert (setting.prompts, setting.vocab, setting.length, setting.rl_steps, setting.rl_seeds) == (
        size.prompts, size.vocab, size.length, size.rl_steps, size.rl_seeds)  # the preset that made the file
    specs = rlhf.default_reward_models(size.rm_pairs)
    inits = [s.name for s in rlhf.DEFAULT_SFT]
    per_pairs = [[f"{src}_{m}" for m in rlhf.METRIC_LABELS] + [f"{src}_{c}" for c in ("pairs", "ties", "forgiven")]
                 for src in ("onpolicy", "offline")]
    expected = ["size", "prompts", "vocab", "length", "rl_steps", "rl_seeds", "device", "init", "rm", "reference",
                "v_true_init", "v_true_final", "gain", "gain_sd", "kl_final", "rm_source", "rm_pairs", "rm_noise",
                "rm_perturbation", "rm_base", "rm_train_pairs", "rm_heldout_acc", *per_pairs[0], *per_pairs[1]]
    assert list(frame.columns) == expected
    assert len(frame) == len(inits) * (len(specs) + 2)
    assert list(dict.fromkeys(frame.init)) == inits
    for _, part in frame.groupby("init"):
        assert list(part.rm) == [s.name for s in specs] + ["ground truth", "ground truth+demote-mediocre"]
        assert part.reference.tolist() == [False] * len(specs) + [True, True]
        assert part.v_true_init.max() - part.v_true_init.min() < 0.05  # one policy: estimates differ by noise only
    np.testing.assert_allclose(frame.gain, frame.v_true_final - frame.v_true_init, atol=2e-6)
    proxies = frame[~frame.reference]
    m = proxies[rlhf.METRIC_COLUMNS].to_numpy(float)
    assert np.all((m >= 0) & (m <= 1))
    for src in ("onpolicy", "offline"):
        assert (proxies[f"{src}_hacc"] >= proxies[f"{src}_acc"]).all()
        hacc = proxies[f"{src}_acc"] + proxies[f"{src}_forgiven"] / proxies[f"{src}_pairs"]
        np.testing.assert_allclose(proxies[f"{src}_hacc"], hacc, atol=2e-6)
        n = proxies[f"{src}_pairs"] + proxies[f"{src}_ties"]  # 10 responses per prompt: 45 pairs or ties
        assert (n == setting.prompts * 45).all()
    assert frame.gain.between(-2, 2).all() and (proxies.rm_heldout_acc.between(0.3, 1)).all()
