"""Random instances, the bulk stress test of the taxonomy, its summaries, and the committed sweep of chapter 5."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labsupport as ls
from labsupport import data
from labsupport.studies import sweeps

ROOT = Path(__file__).resolve().parents[1]
DATA = data.path("stress_sweep")
README = ROOT / "labsupport" / "data" / "README.md"


# --------------------------------------------------------------------------------------------- random instances


@pytest.mark.parametrize("errors", ["single", "multiple", "mixed"])
def test_random_instances_have_best_mediocre_and_bad_outputs_and_the_requested_errors(errors):
    prob = sweeps.random_instances(400, n_outputs=6, errors=errors, seed=1, max_errors=3)
    r, rp = prob.r_true.numpy(), prob.r_proxy.numpy()
    assert prob.batch_size == 400 and prob.n_outputs == 6
    assert np.all(r[:, 0] == 1) and np.all(r[:, -1] == -1)
    assert np.all(np.diff(r, axis=1) < 0)                           # numbered from best to worst, no ties
    role = sweeps.roles(prob)
    assert np.all(role[:, 0] == "best") and np.all(role[:, -1] == "bad")
    med = role == "mediocre"
    assert med.any(1).all() and (role == "bad").any(1).all()
    assert np.all((r[med] >= 0.2) & (r[med] <= 0.9))
    assert np.all((r[role == "bad"] >= -1) & (r[role == "bad"] <= -0.2))
    n_err = prob.errors().sum(1).numpy()
    if errors == "single":
        assert np.all(n_err == 1)
    elif errors == "multiple":
        assert set(n_err.tolist()) == {2, 3}
    else:
        assert set(n_err.tolist()) == {1, 2, 3} and 0.4 < np.mean(n_err == 1) < 0.6
    wrong = prob.errors().numpy()
    assert np.all(np.abs(rp[wrong] - r[wrong]) >= 0.2)
    assert np.all((rp[wrong] >= -1) & (rp[wrong] <= 1.5))
    assert np.allclose(prob.init_probs.sum(1).numpy(), 1)


def test_random_instances_hit_the_requested_entropy_and_keep_its_order():
    low = sweeps.random_instances(200, entropy=0.3, seed=2)
    high = sweeps.random_instances(200, entropy=0.9, seed=2)
    h_low, h_high = sweeps.initial_entropy(low), sweeps.initial_entropy(high)
    assert np.allclose(h_low, 0.3, atol=1e-6) and np.allclose(h_high, 0.9, atol=1e-6)
    assert h_low.max() < h_high.min()
    spread = sweeps.random_instances(500, entropy=(0.2, 0.6), seed=3)
    h = sweeps.initial_entropy(spread)
    assert h.min() >= 0.2 - 1e-6 and h.max() <= 0.6 + 1e-6 and h.max() - h.min() > 0.3
    assert np.allclose(sweeps.initial_entropy(sweeps.random_instances(5, entropy=1.0)), 1.0)   # uniform policy
    # lower entropy puts more mass on the most likely output
    assert low.init_probs.max(1).values.mean() > high.init_probs.max(1).values.mean() + 0.2


def test_random_instances_are_reproducible_and_checked():
    a, b = sweeps.random_instances(20, seed=5), sweeps.random_instances(20, seed=5)
    c = sweeps.random_instances(20, seed=6)
    assert np.array_equal(a.r_proxy.numpy(), b.r_proxy.numpy()) and np.array_equal(a.init_logits, b.init_logits)
    assert not np.array_equal(a.r_proxy.numpy(), c.r_proxy.numpy())
    with pytest.raises(ValueError, match="entropy"):
        sweeps.random_instances(3, entropy=1.5)
    with pytest.raises(ValueError, match="errors"):
        sweeps.random_instances(3, errors="some")
    with pytest.raises(ValueError, match="n_outputs"):
        sweeps.random_instances(3, n_outputs=2)
    with pytest.raises(ValueError, match="max_errors"):
        sweeps.random_instances(3, errors="multiple", max_errors=7)


def test_describe_instance_reads_the_rules_numbers():
    prob = ls.Bandit(r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1], init_probs=[.05, .5, .15, .15, .15])
    table = sweeps.describe_instance(prob, 0)
    assert table.error.tolist() == [False, True, False, False, False]
    assert np.allclose(table.A_P0, [1.9, -0.1, -0.1, -0.1, -0.1]) and np.allclose(table.A_G0, [1, .8, -1, -1, -1])
    assert math.isclose(table.attrs["V_P0"], -0.9) and math.isclose(table.attrs["V_G0"], 0.0, abs_tol=1e-12)
    assert math.isclose(table.attrs["dVG_dt"], ls.theory.value_rate(prob)[0])
    assert table.role.tolist() == ["best", "mediocre", "bad", "bad", "bad"]
    assert np.allclose(table.velocity, 0.05 * 1.9 * np.array([1, 0, 0, 0, 0]) + np.array(
        [0, 0.5, 0.15, 0.15, 0.15]) * -0.1)                                       # tabular: pi_0 A_P0
    features = ls.paper_bandit(geometry="negative")  # a log-linear policy: the kernel Phi Phi^T couples the logits
    table = sweeps.describe_instance(features, 0)
    assert np.allclose(table.velocity, ls.theory.logit_velocity(features)[0])
    assert not np.allclose(table.velocity, table.pi0 * table.A_P0)
    assert np.allclose(table.term, ls.theory.value_rate_terms(features)[0])
    assert math.isclose(table.attrs["dVG_dt"], ls.theory.value_rate(features)[0])


# --------------------------------------------------------------------------------------------- the stress test


@pytest.fixture(scope="module")
def small_sweep():
    prob = sweeps.random_instances(12, errors="mixed", seed=4)
    algos = {"exact": ls.ExactPG(lr=0.1), "RLOO": ls.RLOO(lr=0.1, k=4)}
    return prob, algos, sweeps.stress_test(prob, algos, steps=400, seeds=2, device="cpu", progress=False)


def test_stress_test_rows_are_categorize_rows(small_sweep):
    prob, algos, frame = small_sweep
    assert list(frame.columns) == sweeps.COLUMNS
    n_err = int(prob.errors().sum())
    assert len(frame) == 2 * n_err
    for name, algo in algos.items():
        mine = frame[frame.algorithm == name].reset_index(drop=True)
        ref = ls.categorize(prob, algorithm=algo, steps=400, seeds=2, device="cpu")
        assert mine.instance.tolist() == ref.run.tolist() and mine.output.astype(str).tolist() == ref.output.tolist()
        for col in ("predicted", "kind", "measured"):
            assert mine[col].astype(str).tolist() == ref[col].tolist(), (name, col)
        assert np.allclose(mine.effect, ref.effect.astype(float), equal_nan=True)
        assert (mine.agree == (ref.predicted == ref.measured)).all()
        assert ((mine.basis == "final value") == ref.effect.isna()).all()


def test_exact_rows_match_categorize_instance_by_instance_and_chunking_changes_nothing(small_sweep):
    prob, _, frame = small_sweep
    exact = frame[frame.algorithm == "exact"].reset_index(drop=True)
    for i in (0, 5, 11):
        ref = ls.categorize(prob.rows([i]), steps=400, device="cpu")
        mine = exact[exact.instance == i]
        assert mine.measured.astype(str).tolist() == ref.measured.tolist()
        assert mine.predicted.astype(str).tolist() == ref.predicted.tolist()
        assert np.allclose(mine.r_proxy, ref.r_proxy) and np.allclose(mine.pi0, ref.pi0)
    chunked = sweeps.stress_test(prob, [ls.ExactPG(lr=0.1)], steps=400, device="cpu", memory_mb=0.002,
                                 progress=False)
    assert sweeps._chunks(prob.errors().sum(1).numpy(), 1, 6, 0.002)[-1][1] == 12
    assert len(sweeps._chunks(prob.errors().sum(1).numpy(), 1, 6, 0.002)) > 1
    assert chunked.measured.astype(str).tolist() == exact.measured.astype(str).tolist()
    assert np.allclose(chunked.effect, exact.effect, equal_nan=True)


def test_stress_test_bookkeeping_columns(small_sweep):
    prob, _, frame = small_sweep
    h = sweeps.initial_entropy(prob)
    assert np.allclose(frame.entropy, h[frame.instance])
    assert (frame.n_errors == prob.errors().sum(1).numpy()[frame.instance]).all()
    row = frame.iloc[0]
    k = int(str(row.output)[1:])
    assert math.isclose(row.A_P0, ls.theory.advantages(prob, "proxy")[row.instance, k])
    assert math.isclose(row.A_G0, ls.theory.advantages(prob, "true")[row.instance, k])
    unclassified = frame[frame.predicted == "unclassified"]
    assert (unclassified.A_G0 > 0).all() and (unclassified.A_P0 > 0).all() and not unclassified.agree.any()


def test_stress_test_checks_its_arguments():
    prob = sweeps.random_instances(2, seed=0)
    with pytest.raises(ValueError, match="algorithms"):
        sweeps.stress_test(prob, {"bad": "exact"}, steps=10, progress=False)
    with pytest.raises(ValueError, match="same class"):
        sweeps.stress_test(prob, [ls.ExactPG(), ls.ExactPG(lr=1)], steps=10, progress=False)
    for bad in (0, float("inf")):  # an infinite budget would crash later, sizing the chunks
        with pytest.raises(ValueError, match="memory_mb must be a finite number > 0"):
            sweeps.stress_test(prob, [ls.ExactPG()], steps=10, memory_mb=bad, progress=False)


# --------------------------------------------------------------------------------------------- summaries


def hand_made() -> pd.DataFrame:
    rows = [  # algorithm, predicted, measured, entropy
        ("A", "harmful", "harmful", 0.1), ("A", "harmful", "benign", 0.2), ("A", "benign", "benign", 0.5),
        ("A", "beneficial", "beneficial", 0.8), ("A", "unclassified", "harmful", 0.9),
        ("B", "harmful", "benign", 0.3), ("B", "benign", "harmful", 0.6), ("B", "unclassified", "benign", 0.95),
        ("B", "unclassified", "beneficial", 0.99),
    ]
    frame = pd.DataFrame(rows, columns=["algorithm", "predicted", "measured", "entropy"])
    frame["agree"] = frame.predicted == frame.measured
    frame["effect"] = [-1.0, 0.01, 0.0, 2.0, -0.5, np.nan, -0.3, np.nan, 0.2]
    return frame


def test_agreement_counts_only_classified_rows():
    frame = hand_made()
    overall = sweeps.agreement(frame).iloc[0]
    assert (overall.errors, overall.classified) == (9, 6)
    assert math.isclose(overall.agreement, 3 / 6) and math.isclose(overall.unclassified, 3 / 9)
    assert math.isclose(overall.unclassified_benign, 1 / 3) and math.isclose(overall.unclassified_harmful, 1 / 3)
    by = sweeps.agreement(frame, by="algorithm").set_index("algorithm")
    assert math.isclose(by.loc["A", "agreement"], 3 / 4) and math.isclose(by.loc["B", "agreement"], 0.0)
    assert math.isclose(by.loc["B", "unclassified"], 2 / 4)
    binned = sweeps.agreement(sweeps.add_entropy_bins(frame), by="entropy_bin").set_index("entropy_bin")
    assert binned["errors"].to_dict() == {"0.00-0.40": 3, "0.40-0.70": 2, "0.70-1.00": 4}
    assert math.isclose(binned.loc["0.00-0.40", "agreement"], 1 / 3)
    assert math.isclose(binned.loc["0.70-1.00", "agreement"], 1.0)


def test_confusion_matrix_counts_and_shares():
    frame = hand_made()
    tidy = sweeps.confusion(frame, by="algorithm")
    assert len(tidy) == 2 * 4 * 3 and tidy["count"].sum() == 9
    a = tidy[tidy.algorithm == "A"].set_index(["predicted", "measured"])
    assert a.loc[("harmful", "harmful"), "count"] == 1 and a.loc[("harmful", "benign"), "count"] == 1
    assert math.isclose(a.loc[("harmful", "benign"), "share"], 0.5)
    assert a.loc[("benign", "harmful"), "count"] == 0 and math.isclose(a.loc[("benign", "benign"), "share"], 1)
    wide = sweeps.confusion(frame, wide=True)
    assert list(wide.columns) == ["harmful", "benign", "beneficial"]
    assert wide.loc["unclassified"].tolist() == [1, 1, 1] and wide.loc["harmful"].tolist() == [1, 2, 0]
    assert int(wide.values.sum()) == 9


def test_failures_are_the_disagreeing_classified_rows_largest_effect_first():
    fails = sweeps.failures(hand_made())
    assert fails.index.tolist() == [6, 1, 5]          # |effect| 0.3, 0.01, then NaN
    assert (fails.predicted != "unclassified").all() and not fails.agree.any()
    assert sweeps.failures(hand_made(), algorithm="A").index.tolist() == [1]


# --------------------------------------------------------------------------------------------- committed data


def documented_size() -> tuple[int, int]:
    found = re.search(r"Committed file: ([\d,]+) instances, [\d,]+ errors, ([\d,]+) rows", README.read_text())
    assert found, "labsupport/data/README.md must state 'Committed file: N instances, E errors, R rows'"
    return tuple(int(g.replace(",", "")) for g in found.groups())


def test_the_committed_sweep_has_the_documented_size_and_consistent_rows():
    frame = data.load("stress_sweep")
    instances, rows = documented_size()
    assert list(frame.columns) == sweeps.COLUMNS
    assert len(frame) == rows and frame.instance.nunique() == instances >= 5000
    assert set(frame.algorithm) == {"exact", "REINFORCE", "RLOO", "GRPO", "PPO"}
    assert (frame.groupby(["instance", "output"]).size() == 5).all()         # every error, every algorithm
    assert set(frame.predicted) <= set(ls.theory.CATEGORIES) and set(frame.measured) <= set(sweeps.MEASURED)
    assert (frame.agree == (frame.predicted == frame.measured)).all()
    assert ((frame.basis == "final value") == frame.effect.isna()).all()
    unclassified = frame.predicted == "unclassified"
    assert ((frame.A_G0 > 0) & (frame.A_P0 > 0) & (frame.pi0 >= 1e-6)).eq(unclassified).all()
    assert frame.entropy.between(0.1 - 1e-4, 1 + 1e-4).all()
    assert DATA.stat().st_size < 12e6                                 # the 100,000-instance GPU run: 10.9 MB
