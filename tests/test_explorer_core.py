"""The browser explorer's compute core (book/_explorer/core.mjs) against labsupport, its reference.

The core ports labsupport's exact tabular path to JavaScript. Here Node runs its own tests (tests/js/) and, in one
process (tests/js/run_core.mjs), a few hundred random instances whose results are compared with ``ls.train`` and
``ls.categorize`` in float64 on the CPU. Without ``node`` the tests are skipped, unless ``REQUIRE_NODE=1``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import labsupport as ls

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
GROUPS, PER_GROUP = 25, 8  # instances of one group share N, lr, steps, target: one batched labsupport run each
VALUE_RTOL = 1e-9
#: a measured category may differ where labsupport's own effect lies this close to a tolerance boundary
BOUNDARY = 1e-3
TOL = 0.05


@pytest.fixture(scope="module")
def node() -> str:
    if NODE is None:
        if os.environ.get("REQUIRE_NODE") == "1":
            pytest.fail("node is not installed but REQUIRE_NODE=1")
        pytest.skip("node is not installed (REQUIRE_NODE=1 makes this a failure)")
    return NODE


def test_the_core_passes_its_node_tests(node):
    done = subprocess.run([node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def random_probs(rng: np.random.Generator, n: int) -> list[float]:
    """An initial policy: spread out, near uniform, or with one near-negligible entry."""
    shape = rng.integers(3)
    p = rng.dirichlet(np.full(n, (1.0, 300.0, 0.7)[shape]))
    if shape == 2:
        tiny, small = rng.integers(n), 10 ** rng.uniform(-9, -4)
        p[tiny] = 0.0
        p = p / p.sum() * (1 - small)
        p[tiny] = small
    return np.maximum(p, 1e-300).tolist()


def random_rewards(rng: np.random.Generator, n: int) -> tuple[list[float], list[float]]:
    """r_G, and r_P with a random subset of 1..N errors; some rewards tied (half-integer grid, copied values)."""
    r_true = rng.uniform(-1, 1, n)
    if rng.random() < 0.3:
        r_true = np.round(r_true * 2) / 2
    r_proxy = r_true.copy()
    for y in rng.choice(n, rng.integers(1, n + 1), replace=False):
        r_proxy[y] = rng.choice(r_true) if rng.random() < 0.3 else rng.uniform(-1.5, 1.5)
    return r_true.tolist(), r_proxy.tolist()


def random_groups(seed: int = 12):
    rng = np.random.default_rng(seed)
    for g in range(GROUPS):
        n = int(rng.integers(2, 9))
        steps = 5000 if g < 2 else int(np.exp(rng.uniform(np.log(20), np.log(5000))))
        yield dict(
            n=n, lr=float(np.exp(rng.uniform(np.log(0.05), np.log(2)))), steps=steps,
            target=None if rng.random() < 0.6 else round(float(rng.uniform(-0.5, 1)), 2),
            reward=("proxy", "true")[g % 2], record_every=max(1, steps // 100),
            instances=[(*random_rewards(rng, n), random_probs(rng, n)) for _ in range(PER_GROUP)],
        )


def format_cases(seed: int = 3) -> list[tuple[float, int]]:
    """Values that are hard to print like Python: exact ties at many scales, x.x995, powers of ten, random."""
    rng = np.random.default_rng(seed)
    ties = [k / 2**j * 10.0**e for k in range(1, 40, 2) for j in (1, 3, 4) for e in (-6, -3, 0, 2, 5)]
    near = [s * (1 - 5 * 10.0**-d) * 10.0**e for s in (1, -1) for d in (2, 3, 4) for e in range(-6, 18, 3)]
    rand = (rng.standard_normal(400) * 10.0 ** rng.integers(-9, 20, 400)).tolist()
    values = [0.0, -0.0, 1.0, 5e-324, 1.7976931348623157e308, 1e-5, 1e16, 123456.0] + ties + near + rand
    return [(x, p) for x in values for p in (0, 1, 2, 3, 6)]


def relative(a, b) -> float:
    """max |a - b| / |b| over the entries (|a - b| where b is 0; infinite where an entry is missing or NaN)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.abs(b)
    return float(np.max(np.nan_to_num(np.abs(a - b) / np.where(scale > 0, scale, 1.0), nan=np.inf), initial=0.0))


def test_the_core_agrees_with_labsupport_on_random_instances(node):
    groups = list(random_groups())
    jobs = []
    for g in groups:
        for r_true, r_proxy, probs in g["instances"]:
            common = dict(r_true=r_true, r_proxy=r_proxy, init_probs=probs, lr=g["lr"], steps=g["steps"])
            jobs.append(dict(simulate=dict(common, reward=g["reward"], record_every=g["record_every"]),
                             categorize=dict(common, target=g["target"])))
    cases = format_cases()
    done = subprocess.run([node, str(ROOT / "tests/js/run_core.mjs")], input=json.dumps(dict(instances=jobs,
                          formats=cases)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["formats"] == [format(x, f".{p}g") for x, p in cases]

    worst, near_boundary, cores = 0.0, [], iter(reply["instances"])
    kinds, measured = Counter(), Counter()
    for g in groups:
        prob = ls.Bandit(r_true=[i[0] for i in g["instances"]], r_proxy=[i[1] for i in g["instances"]],
                         init_probs=[i[2] for i in g["instances"]])
        algorithm = ls.ExactPG(lr=g["lr"])
        run = ls.train(prob, algorithm, g["steps"], reward=g["reward"], device="cpu", record_every=g["record_every"],
                       dtype=torch.float64, backend="torch")
        frame = ls.categorize(prob, algorithm=algorithm, steps=g["steps"], target=g["target"], device="cpu",
                              dtype=torch.float64, progress=False)
        for b in range(PER_GROUP):
            core = next(cores)
            sim = core["simulate"]
            assert sim["steps"] == run.steps.tolist()
            worst = max(worst, relative(sim["true_value"], run.true_value[:, b]),
                        relative(sim["proxy_value"], run.proxy_value[:, b]), relative(sim["probs"], run.probs[:, b]))
            ref = frame[frame.run == b].to_dict("records")
            got = core["categorize"]
            assert [(r["name"], r["r_true"], r["r_proxy"]) for r in got] == \
                   [(r["output"], r["r_true"], r["r_proxy"]) for r in ref]
            for mine, theirs in zip(got, ref):
                kinds[mine["kind"]] += 1
                measured[mine["measured"]] += 1
                assert prob.names[mine["output"]] == mine["name"]
                for key in ("predicted", "kind", "rule"):
                    assert mine[key] == theirs[key], (key, mine, theirs)
                worst = max(worst, relative(mine["pi0"], theirs["pi0"]))
                effect = theirs["effect"]
                if math.isnan(effect):
                    assert mine["effect"] is None, (mine, theirs)
                else:
                    worst = max(worst, relative(mine["effect"], effect))
                if mine["measured"] != theirs["measured"] and abs(abs(effect) - TOL) < BOUNDARY:
                    near_boundary.append((mine, theirs))
                    continue
                assert (mine["measured"], mine["evidence"]) == (theirs["measured"], theirs["evidence"]), (mine, theirs)
    print(f"\n{len(jobs)} instances, {kinds.total()} reward errors ({dict(kinds)}; measured {dict(measured)}), "
          f"{len(cases)} formatted numbers; worst relative difference {worst:.2g}; measured categories that differ "
          f"where labsupport's effect is within {BOUNDARY} of the tolerance: {len(near_boundary)}")
    assert worst < VALUE_RTOL
