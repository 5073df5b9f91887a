"""Chapters 6 and 7 on the sequence engine give the numbers they gave before they ran on it.

The values below were computed by the chapters' own training loops (``rlhf.rloo`` with its Adam and RLOO,
``verifiable.train_grpo`` with its GRPO) before both became studies on :mod:`labsupport.sequence`, on the CPU with
fixed seeds. Tolerances: chapter 7 runs the same float32 operations on the same random numbers, so its records are
compared exactly (stored to 12 digits); chapter 6's gains are compared to 1e-6, a few float32 rounding steps of a
value of order 1 (the engine sums V_G over prompts in another order; measured difference 6e-8).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import labsupport as ls
from labsupport.studies import rlhf
from labsupport.studies import verifiable as vf

#: run_study("tiny", device="cpu").frame["gain"], in the frame's row order (3 initial policies x 30 reward models)
TINY_GAINS = [
    0.200045824, -0.295205593, 0.148013890, -0.069330335, 0.200957954, 0.055016398, -0.024078667, -0.548129439,
    0.198107064, -0.658721805, -0.049421251, -0.534632385, 0.197072327, -0.454266727, 0.146267712, -0.672277808,
    -0.008894444, -0.030105114, 0.157079756, 0.199223459, 0.201084018, 0.192543566, -0.067852855, -0.526537001,
    -1.018111229, -1.190714836, 0.203312516, -0.882741928, 0.190737367, -0.775718153, 0.211083949, 0.150891185,
    0.197487235, -0.072731614, 0.354472995, 0.108775675, 0.053649843, -0.446393758, 0.365070224, 0.199961483,
    0.347530663, -0.410442829, 0.215790093, 0.104939640, 0.183041096, -0.066622138, 0.280548394, 0.007165015,
    -0.131529987, 0.256136000, 0.360034704, -0.194220841, 0.302432656, -0.230259359, 0.357342720, -0.457745075,
    0.368602574, 0.362321258, 0.358104229, 0.360915899, 0.415467560, -0.156844839, 0.316175044, 0.072259516,
    0.385093272, -0.379635274, 0.179633796, -0.874846578, 0.317465961, 0.203607976, 0.043831170, -0.367875904,
    0.252555013, -0.132448018, -0.542417586, -0.742483735, 0.367760777, 0.115827799, 0.047610909, 0.342701495,
    0.412330508, -0.102726698, -0.073594332, -0.321054846, -0.375990480, -0.483211100, 0.335438430,
    -0.102261454, 0.389629543, 0.370105088
]
#: chapter 7's regimes (A, B, C) x the four schedules, GRPO(group=16, lr=1), 60 steps, seed 0: P(both) at step 60
GRPO_JOINT_FINAL = [
    0.003139068140, 0.002757652049, 0.002530609852, 0.002099144684, 0.570659994452, 0.659480924462,
    0.791454024663, 0.801966263655, 0.000200000001, 0.001926495569, 0.000324558771, 0.002596369503
]
GRPO_STEPS_TO_03 = [-1, -1, -1, -1, 40, 40, 40, 40, -1, -1, -1, -1]
#: phase_diagram([0.2, 0.6], [0.2, 0.6], steps=40, seeds=2, group=16, record_every=5): median steps to 0.5
PHASE_BINARY = [np.inf, np.inf, 35.0, 17.5]
PHASE_PARTIAL = [np.inf, np.inf, 30.0, 15.0]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def regimes():
    task = vf.make_task([0.7, 0.4, 0.02], [0.05, 0.4, 0.02], [0.003, 0.1, 0.0002], vocab=8, length=6)
    return task.rows(np.repeat(np.arange(3), 4)), np.array(list(vf.REWARDS) * 3, dtype=object)


def test_chapter_6_study_gives_the_same_gains():
    frame = rlhf.run_study("tiny", device="cpu", progress=False).frame
    assert len(frame) == len(TINY_GAINS)
    np.testing.assert_allclose(frame["gain"].to_numpy(), TINY_GAINS, rtol=0, atol=1e-6)


def test_chapter_7_training_gives_the_same_records():
    task, kinds = regimes()
    run = vf.train_grpo(task, kinds, 60, group=16, lr=1.0, seed=0, device="cpu", record_every=20, progress=False,
                        backend="torch")
    np.testing.assert_allclose(run.joint[-1], GRPO_JOINT_FINAL, rtol=0, atol=1e-12)
    assert run.steps_to(0.3).tolist() == GRPO_STEPS_TO_03
    frame = vf.phase_diagram([0.2, 0.6], [0.2, 0.6], steps=40, seeds=2, group=16, record_every=5, device="cpu",
                             progress=False)
    assert frame["steps binary"].tolist() == PHASE_BINARY and frame["steps partial"].tolist() == PHASE_PARTIAL


def test_ppo_is_an_option_of_both_chapters():
    """PPO trains through the same studies: the ground-truth reference runs of chapter 6 gain, and chapter 7's
    joint success rises under binary and partial credit alike."""
    ppo = ls.PPO(clip=0.2, epochs=2, k=4, lr=0.05, kl=0.01)
    frame = rlhf.run_study("tiny", device="cpu", progress=False, algorithm=ppo).frame
    refs = frame[frame["rm"] == "ground truth"]
    assert (refs["gain"] > 0.05).all(), refs["gain"].tolist()
    assert not np.allclose(frame["gain"].to_numpy(), TINY_GAINS, atol=1e-3)  # another rule, other runs
    task, kinds = regimes()
    run = vf.train_grpo(task, kinds, 60, seed=0, device="cpu", record_every=60, progress=False,
                        algorithm=ls.PPO(clip=0.2, epochs=2, k=16, lr=1.0))
    assert run.group == 16 and isinstance(run.engine.algorithm, ls.PPO)
    assert (run.joint[-1, 4:8] > run.joint[0, 4:8] + 0.05).all()  # regime B learns under every schedule


def test_the_old_chapter_6_names_warn_and_still_work():
    task = rlhf.SequenceTask(prompts=2, vocab=4, length=4, device="cpu")
    init = rlhf.sft(task, demos=8)[:1]
    with pytest.warns(DeprecationWarning, match="task.policy.log_prob"):
        old = rlhf.log_probs(init, task.best[:, None])
    assert torch.equal(old, task.policy.log_prob(init, task.best[:, None]))
    with pytest.warns(DeprecationWarning, match="task.sample"):
        drawn = rlhf.sample_responses(init, 5, torch.Generator().manual_seed(0))
    assert torch.equal(drawn, task.sample(init, 5, torch.Generator().manual_seed(0)))
