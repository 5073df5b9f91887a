"""CPU and GPU agree (runs where CUDA is available; skipped elsewhere)."""

import numpy as np
import pytest
import torch

import labsupport as ls

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TOY = dict(r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1])


def batch(b=64, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=b)
    return ls.Bandit(**TOY, init_probs=p / p.sum(1, keepdims=True))


@pytest.mark.parametrize("algo", [ls.ExactPG(lr=0.1), ls.ExactPG(lr=0.1, kl=0.1)])
def test_exact_runs_agree(algo):
    cpu = ls.train(batch(), algo, steps=2000, device="cpu", record_every=100)
    gpu = ls.train(batch(), algo, steps=2000, device="cuda", record_every=100)
    np.testing.assert_allclose(gpu.probs, cpu.probs, atol=1e-5)


def test_categorize_agrees():
    prob = ls.Bandit(**TOY, init_probs=[0.05, 0.5, 0.15, 0.15, 0.15])
    cpu, gpu = ls.categorize(prob, device="cpu"), ls.categorize(prob, device="cuda")
    assert cpu.measured.tolist() == gpu.measured.tolist()
    np.testing.assert_allclose(cpu.effect.values, gpu.effect.values, rtol=1e-3)


@pytest.mark.parametrize("algo", [ls.RLOO(k=4, lr=0.5), ls.GRPO(group=8, lr=0.5), ls.PPO(lr=0.5)])
def test_sampled_runs_have_the_same_distribution_of_outcomes(algo):
    prob = ls.Bandit(**TOY, init_probs=[[0.05, 0.5, 0.15, 0.15, 0.15]] * 4096)
    cpu = ls.train(prob, algo, steps=300, device="cpu", record_every=None).true_value[-1]
    gpu = ls.train(prob, algo, steps=300, device="cuda", record_every=None).true_value[-1]
    se = np.sqrt(cpu.var() / cpu.size + gpu.var() / gpu.size)
    assert abs(cpu.mean() - gpu.mean()) < 5 * se + 1e-6
    assert abs(np.quantile(cpu, 0.5) - np.quantile(gpu, 0.5)) < 0.05


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_a_problem_placed_on_the_gpu_trains_again_in_place_and_as_on_the_cpu(backend):
    prob = batch(256)
    first = ls.train(prob, ls.ExactPG(lr=0.1), steps=500, device="cuda", backend=backend, record_every=None)
    placed = prob.placed("cuda", torch.float32)
    assert placed.r_proxy.is_cuda and placed.r_proxy.dtype == torch.float32
    again = ls.train(prob, ls.ExactPG(lr=0.1), steps=500, device="cuda", backend=backend, record_every=None)
    assert prob.placed("cuda", torch.float32) is placed  # nothing moved the second time
    kept = again.__dict__["_probs"]
    assert kept.is_cuda and kept.dtype == torch.float32  # results stay on the GPU until read
    cpu = ls.train(prob, ls.ExactPG(lr=0.1), steps=500, device="cpu", record_every=None)
    np.testing.assert_array_equal(again.probs, first.probs)
    np.testing.assert_allclose(again.probs, cpu.probs, atol=1e-5)
    np.testing.assert_array_equal(again.r_true, prob.r_true.numpy())
