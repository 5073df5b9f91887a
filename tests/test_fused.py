"""The fused Triton kernel behind ``train(backend="fused")`` against the plain torch path, its reference.

On a machine without CUDA the kernel runs in Triton's CPU interpreter (tests/conftest.py sets TRITON_INTERPRET=1),
so these tests check the same kernel code everywhere; on a GPU they check the compiled kernel.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import labsupport as ls
from labsupport.problems import paper_init_probs

pytest.importorskip("triton")
import triton  # noqa: E402  (after the skip)

from labsupport import fused  # noqa: E402  (after the skip: needs Triton)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_problem(b, n, seed):
    g = torch.Generator().manual_seed(seed)
    return ls.Bandit(r_true=torch.rand(b, n, generator=g), r_proxy=torch.rand(b, n, generator=g) * 2 - 1,
                     init_logits=2 * torch.randn(b, n, generator=g))


def both(problem, algorithm, steps, **kw):
    fast = ls.train(problem, algorithm, steps, device=DEVICE, backend="fused", **kw)
    plain = ls.train(problem, algorithm, steps, device=DEVICE, backend="torch", **kw)
    return fast, plain


@pytest.mark.slow  # the Triton interpreter on the CPU: seconds to minutes
@pytest.mark.parametrize("algorithm", [ls.ExactPG(lr=0.5), ls.ExactPG(lr=0.5, kl=0.1)], ids=["plain", "kl"])
def test_exact_updates_match_the_torch_path(algorithm):
    problem = random_problem(300, 6, seed=1)
    fast, plain = both(problem, algorithm, 120, record_every=7, track_level=0.6)
    assert fast.steps.tolist() == plain.steps.tolist()  # every 7th step and the last
    assert np.abs(fast.probs - plain.probs).max() < 1e-5
    assert (fast.hit_steps == plain.hit_steps).mean() > 0.99
    assert np.abs(fast.hit_steps - plain.hit_steps).max() <= 1  # a level crossed within rounding of a step
    assert fast.probs.shape == (len(fast.steps), 300, 6)


@pytest.mark.slow
@pytest.mark.parametrize("geometry", ["positive", "orthogonal", "negative"])
def test_log_linear_policies_match_the_torch_path(geometry):
    problem = ls.paper_bandit(0.1, geometry=geometry)
    assert problem.features is not None
    fast, plain = both(problem, ls.ExactPG(lr=0.5, kl=0.05), 400, reward="true", record_every=100)
    assert np.abs(fast.probs - plain.probs).max() < 1e-5
    assert np.abs(fast.probs[-1] - fast.probs[0]).max() > 0.01  # training moved the policy


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 9), b=st.integers(1, 40), steps=st.integers(0, 30), lr=st.floats(0.01, 2.0),
       kl=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 1000))
def test_exact_agreement_on_random_problems(n, b, steps, lr, kl, seed):
    fast, plain = both(random_problem(b, n, seed), ls.ExactPG(lr=lr, kl=kl), steps, record_every=None)
    assert fast.probs.shape == plain.probs.shape == (2 if steps else 1, b, n)
    assert np.abs(fast.probs - plain.probs).max() < 1e-5


SAMPLED = [
    ls.Reinforce(lr=0.5),
    ls.Reinforce(lr=0.5, samples=3, baseline="mean"),
    ls.Reinforce(lr=0.5, samples=3, baseline="loo"),
    ls.RLOO(lr=0.5, k=4),
    ls.GRPO(lr=0.3, group=4),
    ls.GRPO(lr=0.3, group=4, normalize_std=False, kl=0.05),
    ls.PPO(lr=0.3, k=4, epochs=4, clip=0.2),
]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", SAMPLED, ids=lambda a: repr(a)[:40])
def test_sampled_updates_have_the_torch_paths_distribution(algorithm):
    """1,024 independent runs of the paper's toy: the mean final V_G agrees with the plain path's within 4.5 standard
    errors (the two paths use different random streams), and the runs do spread (the samples are random)."""
    b = 1024
    problem = ls.paper_bandit(0.1).rows([0] * b)
    fast, plain = both(problem, algorithm, 30, record_every=None, seed=4)
    vf, vp = fast.true_value[-1], plain.true_value[-1]
    z = (vf.mean() - vp.mean()) / np.sqrt(vf.var() / b + vp.var() / b)
    assert abs(z) < 4.5, (vf.mean(), vp.mean(), z)
    assert vf.std() > 1e-3 and vf.mean() != pytest.approx(fast.true_value[0].mean(), abs=1e-3)


@pytest.mark.slow
def test_a_seed_fixes_the_run_and_common_noise_is_shared():
    problem = ls.paper_bandit(0.1).rows([0] * 6)
    algo = ls.RLOO(lr=0.5, k=3)
    first = ls.train(problem, algo, 25, device=DEVICE, backend="fused", seed=7, common_noise=[0, 0, 1, 1, 2, 2])
    again = ls.train(problem, algo, 25, device=DEVICE, backend="fused", seed=7, common_noise=[0, 0, 1, 1, 2, 2])
    other = ls.train(problem, algo, 25, device=DEVICE, backend="fused", seed=8, common_noise=[0, 0, 1, 1, 2, 2])
    assert np.array_equal(first.probs, again.probs)
    assert not np.array_equal(first.probs, other.probs)
    final = first.probs[-1]
    assert np.array_equal(final[0::2], final[1::2])  # same id, same problem -> same run
    assert not np.allclose(final[0], final[2])  # different ids -> different noise


@pytest.mark.slow
@pytest.mark.parametrize("group", [7, 96])  # 96: more than 16 draws, the kernel's runtime loop
def test_a_group_with_equal_rewards_gives_no_update(group):
    """GRPO on a constant reward of 0.1, whose float32 group mean is off by a rounding step: every group has zero
    variance, so the policy never moves (chapter 7's silence), instead of taking order-one steps."""
    problem = ls.Bandit(r_true=[0.1] * 5, init_probs=paper_init_probs(0.1))
    run = ls.train(problem, ls.GRPO(lr=1.0, group=group), 20, device=DEVICE, backend="fused", reward="true")
    assert np.abs(run.probs[-1] - run.probs[0]).max() < 1e-6


@pytest.mark.slow
def test_progress_chunks_give_the_single_launch_result():
    problem = random_problem(64, 7, seed=3)
    kw = dict(device=DEVICE, backend="fused", record_every=10, track_level=0.5, seed=2)
    chunked = ls.train(problem, ls.GRPO(lr=0.5, group=3), 50, progress=True, **kw)
    single = ls.train(problem, ls.GRPO(lr=0.5, group=3), 50, progress=False, **kw)
    assert np.array_equal(chunked.probs, single.probs)
    assert np.array_equal(chunked.hit_steps, single.hit_steps)


def test_zero_steps_records_the_initial_policy():
    problem = random_problem(3, 4, seed=0)
    run = ls.train(problem, ls.ExactPG(), 0, device=DEVICE, backend="fused", track_level=2.0)
    assert run.steps.tolist() == [0] and run.hit_steps.tolist() == [-1, -1, -1]
    assert np.allclose(run.probs[0], torch.softmax(problem.init_logits, -1).numpy(), atol=1e-6)


class _MyRLOO(ls.RLOO):
    """A user's variant of a rule: the kernel cannot know what it changed, so it must not run it."""


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype=torch.float64), "float32"),
    (dict(algorithm=_MyRLOO()), "not _MyRLOO"),
])
def test_what_the_kernel_cannot_run_is_a_clear_error(kwargs, message):
    args = dict(algorithm=ls.ExactPG()) | kwargs
    with pytest.raises(ValueError, match=message):
        ls.train(random_problem(2, 3, 0), steps=3, device=DEVICE, backend="fused", **args)


def test_per_run_features_are_refused_by_the_kernel():
    features = torch.randn(4, 5, 3, dtype=torch.float64)
    features[..., 0] = 1.0  # a constant feature represents the uniform initial policy
    problem = ls.Bandit(r_true=torch.rand(4, 5), features=features)
    with pytest.raises(ValueError, match="shared by all runs"):
        ls.train(problem, ls.ExactPG(), 3, device=DEVICE, backend="fused")
    assert "shared" in fused.unsupported(problem, ls.ExactPG(), torch.device(DEVICE), torch.float32)


@pytest.mark.parametrize("rule", [ls.GRPO(group=4, groups=2), ls.GRPO(group=4, filter_silent=True)])
def test_grpo_batches_and_filtering_are_refused_by_the_kernel(rule):
    """The kernel runs one group per step with silent groups as zero updates: "auto" must not hand it the paper's
    batched or filtered GRPO (it would silently drop the option), and "fused" names why."""
    problem = random_problem(2, 3, 0)
    assert "groups=1" in fused.unsupported(problem, rule, torch.device(DEVICE), torch.float32)
    with pytest.raises(ValueError, match="filter_silent=False"):
        ls.train(problem, rule, 3, device=DEVICE, backend="fused")


def test_a_bad_backend_names_the_argument():
    with pytest.raises(ValueError, match="backend"):
        ls.train(random_problem(2, 3, 0), ls.ExactPG(), 3, backend="triton")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU's automatic choice")
def test_auto_never_fuses_on_the_cpu():
    """CPU behaviour is unchanged: "auto" on the CPU is the torch path, bit for bit, even with Triton present."""
    problem = random_problem(50, 5, seed=9)
    auto = ls.train(problem, ls.RLOO(lr=0.5), 40, device="cpu", seed=1)
    plain = ls.train(problem, ls.RLOO(lr=0.5), 40, device="cpu", seed=1, backend="torch")
    assert np.array_equal(auto.probs, plain.probs)


@pytest.mark.parametrize("device, backend, fuses", [
    pytest.param("cuda", "auto", True, marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")),
    (DEVICE, "fused", True), (DEVICE, "torch", False)])
def test_which_trainings_reach_the_kernel(monkeypatch, device, backend, fuses):
    """On CUDA "auto" hands a supported training to fused.run (so chapter 5's and 7's sweeps use it there)."""
    calls, real = [], fused.run
    monkeypatch.setattr(fused, "run", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    for algorithm in (ls.RLOO(lr=0.5), ls.PPO(lr=0.5)):
        calls.clear()
        ls.train(random_problem(50, 5, seed=9), algorithm, 4, device=device, seed=1, backend=backend)
        assert bool(calls) == fuses, algorithm


def test_launch_config_keeps_a_program_within_its_entry_budget():
    for b, n, d, k in [(1, 5, 0, 0), (1_048_576, 64, 0, 0), (65_536, 64, 0, 8), (100, 5, 3, 0), (10, 300, 0, 4)]:
        block, warps = fused.launch_config(b, n, d, k)
        width = triton.next_power_of_2(n) * (triton.next_power_of_2(d) if d else 1)  # N x d entries per run
        assert 1 <= block <= triton.next_power_of_2(b) and warps >= 1
        budget = 65_536 if fused.interpreted() else 512 if k else 1_024
        assert block * width <= budget or block == 1



@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU runs the real benchmark (benchmarks/gpu_checks.sh)")
def test_the_gpu_benchmark_script_runs_end_to_end_in_the_interpreter():
    """benchmarks/bench_gpu.py at a tiny size on the CPU: every case times the fused and eager ways and agrees, and
    the exact cases' float64 comparison is printed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_gpu.py", "--device", "cpu", "--scale", "0.0005", "--steps", "3",
         "--repeat", "1", "--no-compile", "--reference"],
        cwd=root, capture_output=True, text=True, timeout=300, env=os.environ | {"TRITON_INTERPRET": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ratio eager / fused") == 6  # five bandit cases and chapter 7's sequences
    exact = [float(line.split("=")[-1].split()[0]) for line in out.stdout.splitlines() if "max |pi_fused" in line]
    assert len(exact) == 3 and max(exact) < 1e-5
    float64 = [float(line.split("max ")[1].split(",")[0]) for line in out.stdout.splitlines() if "vs float64" in line]
    assert len(float64) == 6 and max(float64) < 1e-6  # fused and eager against float64, three exact cases


@pytest.mark.slow
def test_the_kernel_compiles_for_an_h100_without_spilling_registers():
    """Compiled for compute capability 9.0 (no GPU needed), every bandit kernel variant at its default launch uses at
    most 255 registers per thread: exact updates spill none to memory, sampled ones at most two words (Triton 3.6
    spills 8 bytes for RLOO k = 8, which ran in 35 ms on an H100; a real spill of a large launch is hundreds of bytes
    and slows every step); the sequence kernel of chapter 7 (V = 8, L = 6, G = 96) compiles with at most a few words
    of stack."""
    import os
    import subprocess
    import sys

    script = """
import labsupport as ls
from labsupport import fused
cases = [(ls.ExactPG(), 1_048_576, 64, 0, False), (ls.ExactPG(kl=0.1), 4096, 64, 0, True),
         (ls.ExactPG(), 4096, 5, 3, True), (ls.RLOO(k=8), 65_536, 64, 0, False),
         (ls.GRPO(group=8, kl=0.05), 65_536, 64, 0, True), (ls.Reinforce(samples=2, baseline="mean"), 100, 5, 0, True),
         (ls.PPO(k=4, kl=0.1), 65_536, 64, 0, True)]
for algorithm, b, n, d, track in cases:
    r = fused.resources(algorithm, b, n, d, track)
    print(type(algorithm).__name__, b, n, d, r["config"], r["registers"], r["stack"])
r = fused.sequence_resources(vocab=8, length=6, group=96)
print("sequences", r["registers"], r["stack"])
"""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split() for line in out.stdout.splitlines()]
    assert len(rows) == 8, out.stdout
    for row in rows[:7]:
        registers, stack = int(row[-2]), int(row[-1])
        assert registers <= 255 and stack <= (0 if row[0] == "ExactPG" else 16), row
    assert rows[7][0] == "sequences" and int(rows[7][1]) <= 255 and int(rows[7][2]) <= 64, rows[7]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, geometry", [
    (ls.Reinforce(lr=0.7, samples=2, baseline="loo"), None),
    (ls.RLOO(lr=0.7, k=4), None),
    (ls.GRPO(lr=0.4, group=5, kl=0.1), None),
    (ls.GRPO(lr=0.4, group=20), None),           # more than 16 draws: the kernel's runtime loop
    (ls.RLOO(lr=0.7, k=3, kl=0.05), "negative"),  # a log-linear policy with the paper's features
    (ls.PPO(lr=0.7, k=4, epochs=4, clip=0.2), None),   # clipped draws in later epochs
    (ls.PPO(lr=0.5, k=3, epochs=3, clip=0.1, kl=0.05), "negative"),
], ids=["reinforce-loo", "rloo", "grpo-kl", "grpo-20", "rloo-features", "ppo", "ppo-kl-features"])
def test_sampled_steps_equal_the_torch_steps_fed_the_same_random_numbers(algorithm, geometry):
    """With the kernel's own Philox stream (fused.uniforms) fed to the torch path's algorithm.step, every recorded
    policy agrees to float32 rounding: the kernel computes exactly the torch update, sample by sample."""
    from labsupport.algorithms import StepInput
    from labsupport.policies import SoftmaxPolicy

    b, steps, seed = 24, 5, 11
    if geometry is None:
        problem = random_problem(b, 6, seed=5)
    else:
        problem = ls.paper_bandit(0.1, geometry=geometry).rows([0] * b)
    fast = ls.train(problem, algorithm, steps, device=DEVICE, backend="fused", seed=seed)
    dev = torch.device(DEVICE)
    clock = {"t": 0}
    ids = torch.arange(b, device=dev)[:, None]
    features = None if problem.features is None else problem.features.to(dev, torch.float32)
    inp = StepInput(policy=SoftmaxPolicy(features), reward=problem.r_proxy.to(dev, torch.float32),
                    log_pi0=problem.init_logits.to(dev, torch.float32),
                    uniforms=lambda k: fused.uniforms(seed, ids, clock["t"], torch.arange(k, device=dev)[None], 0))
    theta = problem.theta0.to(dev, torch.float32).clone()
    for t in range(steps + 1):
        pi = inp.policy.probs(theta)
        assert torch.allclose(torch.as_tensor(fast.probs[t], dtype=torch.float32), pi.cpu(), atol=1e-5), t
        clock["t"] = t
        algorithm.step(theta, pi, inp)
    assert not np.allclose(fast.probs[-1], fast.probs[0], atol=1e-3)  # the runs did move


# ------------------------------------------------------------------------------------------------ sequences

def small_tasks():
    from labsupport.studies import verifiable as vf

    return vf, vf.make_task([0.3, 0.2, 0.5], [0.4, 0.05, 0.6], end_bias=1.0).rows([0, 1, 2, 0])


@pytest.mark.slow
def test_the_sequence_kernel_equals_the_torch_steps_fed_the_same_random_numbers():
    """Chapter 7's GRPO: the fused kernel and the torch path, given the same uniforms, sample the same groups,
    give the same rewards under every schedule (binary, partial, anneal, switch), the same silent groups and the
    same exact success probabilities after each update."""
    vf, task = small_tasks()
    kinds = np.array(vf.REWARDS, dtype=object)
    b, group, length, steps, seed = task.batch_size, 8, task.length, 3, 5
    dev = torch.device(DEVICE)
    fast = fused.train_sequences(task, kinds, steps, group, 1.0, seed, [0, 1, 2, 3], 2, 0.1, 1, dev)
    gi, li = torch.arange(group, device=dev)[None, :, None], torch.arange(length, device=dev)[None, None, :]
    draw = lambda t: fused.uniforms(seed, torch.arange(b, device=dev)[:, None, None], t, gi, li)  # noqa: E731
    plain = vf._grpo_steps(task, kinds, steps, group, 1.0, seed, [0, 1, 2, 3], 2, 0.1, 1, dev, torch.float32, None,
                           draw=draw)
    rec, silent, sampled, weight = (x.double().cpu() for x in fast)
    assert (rec - plain[0].double().cpu()).abs().max() < 1e-5
    assert torch.equal(silent, plain[1].double().cpu()) and torch.equal(sampled, plain[2].double().cpu())
    assert torch.allclose(weight, plain[3].double().cpu())
    assert weight[:, 3].tolist() != [1.0, 1.0, 1.0] or sampled[0, 3] < 0.1  # the switch fired if it should


@pytest.mark.slow
def test_train_grpo_runs_on_the_kernel_and_says_what_it_cannot_run():
    vf, task = small_tasks()
    run = vf.train_grpo(task, "partial", 4, group=8, device=DEVICE, backend="fused", record_every=2, seed=1)
    again = vf.train_grpo(task, "partial", 4, group=8, device=DEVICE, backend="fused", record_every=2, seed=1,
                          progress=True)
    assert run.steps.tolist() == [0, 2, 4] and run.joint.shape == (3, 4) and run.silent.shape == (4, 4)
    assert np.array_equal(run.joint, again.joint)  # chunked launches (progress bar) give the same run
    start = task.success()
    assert np.allclose(run.joint[0], start["joint"].numpy(), atol=1e-6)
    odd = vf.make_task(0.3, 0.4, vocab=6)
    with pytest.raises(ValueError, match="vocabulary"):
        vf.train_grpo(odd, "binary", 2, group=4, device=DEVICE, backend="fused")
    with pytest.raises(ValueError, match="backend"):
        vf.train_grpo(task, "binary", 2, group=4, backend="gpu")
