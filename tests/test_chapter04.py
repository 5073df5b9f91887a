"""Chapter 4 (a taxonomy of reward errors): the chapter's derivations and the lab's claims, checked on the functions
the lab calls (``train``, ``theory.prob_velocity``, ``theory.predict``, ``categorize``) and on the two chart builders
the chapter adds (``charts.band_curves``, ``charts.category_explorer``), at small sizes."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import labsupport as ls
from labsupport import charts

NAMES = ["y*", "y_med", "bad1", "bad2", "bad3"]
R_G = [1.0, 0.8, -1.0, -1.0, -1.0]
R_P = [1.0, -1.0, -1.0, -1.0, -1.0]
DELTA, GAP = 0.2, 1.8          # r_G(y*) - r_G(y_med), r_G(y_med) - r_G(bad)
LR = 0.1


def initial_policy(p_star, p_med=0.5):
    rest = (1 - p_star - p_med) / 3
    return [p_star, p_med, rest, rest, rest]


def F(p):
    """Antiderivative of 1 / (p^2 (1 - p)^2), eq. ch4-two-output-time."""
    return 1 / (1 - p) - 1 / p + 2 * np.log(p / (1 - p))


def fit_slope(p0, times):
    return np.polyfit(np.log(p0), np.log(times), 1)[0]


# ------------------------------------------------------------------------------------------ stalling


def test_two_outputs_grow_at_a_rate_proportional_to_pi_squared():
    two = ls.Bandit(r_true=[1.0, 0.8], init_probs=[0.01, 0.99])
    run = ls.train(two, ls.ExactPG(lr=LR), 4000, reward="true", record_every=1, dtype=torch.float64, device="cpu")
    p = run.probs[:, 0, 0]
    # the exact flow equals 2 Delta p^2 (1 - p)^2 (eq. ch4-two-output-law) at every recorded policy
    exact = ls.theory.prob_velocity(two.rows([0] * len(p)), "true", probs=run.probs[:, 0])[:, 0]
    np.testing.assert_allclose(exact, 2 * DELTA * p**2 * (1 - p) ** 2, rtol=1e-9)
    # the discrete run follows it: (d pi/dt) / pi^2 from finite differences is roughly constant while pi is small
    mid = (p[1:] + p[:-1]) / 2
    ratio = np.diff(p) / LR / mid**2
    small = mid < 0.1
    assert small.sum() > 1000
    assert 0.8 * 2 * DELTA * 0.81 < ratio[small].min() and ratio[small].max() < 2 * DELTA
    assert ratio[small].max() / ratio[small].min() < 1.3
    # the closed-form escape time (Exercise 4.1): 270.45 units of flow time, about 2,705 steps at lr 0.1
    t_closed = (F(0.5) - F(0.01)) / (2 * DELTA)
    assert t_closed == pytest.approx(270.450, abs=1e-3)
    assert abs(run.steps_to(0.9)[0] * LR - t_closed) < 1.0
    assert 1 / (2 * DELTA * 0.01) == pytest.approx(250)


@pytest.fixture(scope="module")
def toy_truth_run():
    toy = ls.Bandit(r_true=R_G, r_proxy=R_P, init_probs=[initial_policy(p) for p in (0.05, 0.10)], names=NAMES)
    return toy, ls.train(toy, ls.ExactPG(lr=LR), 50_000, reward="true", record_every=10, device="cpu")


def test_plateau_rate_follows_the_first_order_formula(toy_truth_run):
    toy, run = toy_truth_run
    for b in range(2):
        probs = run.probs[:, b]
        on = (probs[:, 1] > 0.9) & (run.steps > 0)
        p, q = probs[on, 0], probs[on, 2:].sum(1)
        exact = ls.theory.prob_velocity(toy.rows([b] * on.sum()), "true", probs=probs[on])[:, 0] / p
        first_order = 2 * DELTA * p - GAP * q                                     # eq. ch4-plateau-rates
        gap = np.abs(exact - first_order) / np.maximum(2 * DELTA * p, GAP * q)
        assert np.median(gap) < 0.03 and gap.max() < 0.3
        # pi(y*) falls on much of the plateau, exactly where the bad outputs' term wins
        assert (exact < 0).sum() > 300
        clear = np.abs(first_order) > 0.1 * np.maximum(2 * DELTA * p, GAP * q)
        assert np.all((exact < 0)[clear] == (first_order < 0)[clear])
        # q decays like 1 / t: d(1/q)/dt is close to delta (1 + 1/k) where the y* term is negligible
        dq = ls.theory.prob_velocity(toy.rows([b] * on.sum()), "true", probs=probs[on])[:, 2:].sum(1)
        rate = -dq / q**2 / (GAP * (1 + 1 / 3))
        negligible = DELTA * p < GAP * (1 + 1 / 3) * q / 10
        assert negligible.sum() > 10
        assert 0.7 < rate[negligible].min() and rate[negligible].max() < 1.05


def test_late_plateau_growth_is_proportional_to_pi_squared(toy_truth_run):
    _, run = toy_truth_run
    probs = run.probs[:, 1]                                  # pi_0(y*) = 0.10 escapes within the horizon
    p, q = probs[:, 0], probs[:, 2:].sum(1)
    dp = np.gradient(p, run.steps * LR)                      # from the training run itself
    late = (probs[:, 1] > 0.9) & (GAP * q < 2 * DELTA * p / 5) & (p < 0.1)
    assert late.sum() > 20
    ratio = dp[late] / p[late] ** 2
    # between 2 Delta (1 - pi)^2 - 2 Delta / 5 and 2 Delta: roughly constant, within a factor
    assert 2 * DELTA * 0.81 - 2 * DELTA / 5 - 0.02 < ratio.min() and ratio.max() < 2 * DELTA
    assert ratio.max() / ratio.min() < 1.5


def test_bad_outputs_deepen_the_stall(toy_truth_run):
    _, run = toy_truth_run
    p = run.probs[:, :, 0]
    # pi_0(y*) = 0.05: still falling when the paper's horizon of 50,000 steps ends
    assert p[:, 0].argmin() == len(run.steps) - 1 and p[-1, 0] < 0.05 / 100
    # pi_0(y*) = 0.10: falls by more than a factor 10 before it escapes
    assert p[:, 1].min() < 0.10 / 10 and p[-1, 1] > 0.99


def test_exercise_4_3_competition_slows_the_fall_of_y_star():
    toy = ls.Bandit(r_true=R_G, r_proxy=[1, 0.8, 0.8, -1, -1], init_probs=initial_policy(0.05), names=NAMES)
    p0 = toy.init_probs[0, 0].item()
    under_truth = ls.theory.prob_velocity(toy, "true")[0, 0] / p0
    under_proxy = ls.theory.prob_velocity(toy, "proxy")[0, 0] / p0
    assert under_truth == pytest.approx(-0.085, abs=1e-9)
    assert under_proxy == pytest.approx(-0.0526, abs=1e-4)
    rule = ls.theory.predict(toy)
    assert [(r["output"], r["predicted"], r["kind"]) for r in rule] == [("bad1", "harmful", "stalling")]
    assert ls.theory.values(toy)[1][0] == pytest.approx(0.27)


# ------------------------------------------------------------------------------------------ time bounds


def test_proxy_time_lies_in_the_bracket():
    grid = np.geomspace(1e-3, 0.3, 6)
    prob = ls.Bandit(r_true=R_G, r_proxy=R_P, init_probs=[initial_policy(p) for p in grid])
    run = ls.train(prob, ls.ExactPG(lr=0.02), 25_000, reward="proxy", record_every=1, device="cpu")
    half = run.probs[:, :, 0] >= 0.5
    assert half.any(0).all()
    t_half = run.steps[half.argmax(0)] * 0.02
    lower, upper = -F(grid) / 4, -F(grid) / 2                       # eq. ch4-proxy-bracket with Delta_P = 2
    assert np.all(t_half >= lower - 0.02) and np.all(t_half <= upper + 0.02), (t_half, lower, upper)
    # and pi(y*) rises from the start under the proxy (no competing mediocre output)
    assert np.all(np.diff(run.probs[:200, :, 0], axis=0) > 0)


def test_small_grid_scaling_is_steeper_for_the_ground_truth():
    grid = np.geomspace(0.1, 0.3, 4)
    prob = ls.Bandit(r_true=R_G, r_proxy=R_P, init_probs=[initial_policy(p) for p in grid])
    t_true = ls.train(prob, ls.ExactPG(lr=LR), 20_000, reward="true", record_every=1, device="cpu").steps_to(0.9)
    t_proxy = ls.train(prob, ls.ExactPG(lr=LR), 2_000, reward="proxy", record_every=1, device="cpu").steps_to(0.9)
    assert np.all(t_true > 0) and np.all(t_proxy > 0)
    s_true, s_proxy = fit_slope(grid, t_true * LR), fit_slope(grid, t_proxy * LR)
    assert s_true < -14 / 13 < s_proxy < 0
    assert s_true < s_proxy - 1
    # the proxy's slope approaches -1 where pi_0(y*) is small (its O(1/pi_0) regime)
    low = np.geomspace(1e-4, 1e-2, 3)
    prob_low = ls.Bandit(r_true=R_G, r_proxy=R_P, init_probs=[initial_policy(p) for p in low])
    t_low = ls.train(prob_low, ls.ExactPG(lr=LR), 45_000, reward="proxy", record_every=10, device="cpu").steps_to(0.9)
    assert np.all(t_low > 0)
    assert -1.05 < fit_slope(low, t_low * LR) < -0.85


# ------------------------------------------------------------------------------------------ categories


def test_catalogue_predicted_and_measured():
    quick = [0.3, 0.1, 0.2, 0.2, 0.2]
    toy_pi = initial_policy(0.05)
    cases = [([1, 0.8, 1.5, -1, -1], quick, "harmful", "reward hacking", "harmful"),
             ([1, 0.8, 0.8, -1, -1], quick, "harmful", "stalling", "harmful"),
             ([-1, 0.8, -1, -1, -1], quick, "harmful", "hides the best output", "harmful"),
             ([1, 0.8, -0.9, -1, -1], quick, "benign", "below the mean", "benign"),
             ([1, 0.8, -0.5, -1, -1], quick, "benign", "below the mean", "harmful"),
             ([1, 0.8, -1, -1, 2.0], [0.3, 0.1, 0.2, 0.4 - 1e-8, 1e-8], "benign", "never sampled", "benign"),
             ([1, -1, -1, -1, -1], toy_pi, "beneficial", "demoted mediocre output", "beneficial"),
             ([1, 0.8, 0.8, -1, -1], toy_pi, "harmful", "stalling", "beneficial")]   # the same error, another pi_0
    prob = ls.Bandit(r_true=R_G, r_proxy=[c[0] for c in cases], init_probs=[c[1] for c in cases], names=NAMES)
    cats = ls.categorize(prob, ls.ExactPG(lr=LR), steps=20_000, device="cpu")
    assert list(cats["run"]) == list(range(len(cases)))
    assert list(cats["predicted"]) == [c[2] for c in cases]
    assert list(cats["kind"]) == [c[3] for c in cases]
    assert list(cats["measured"]) == [c[4] for c in cases]


def test_geometry_changes_the_margin_of_the_beneficial_error():
    s = 1 / math.sqrt(2)

    def phi(med):
        out = np.eye(5)
        out[0, 0] = 1.5
        out[1] = med
        return out

    geo = ls.Bandit(r_true=R_G, r_proxy=R_P, init_probs=initial_policy(0.05), names=NAMES,
                    features=np.stack([phi(m) for m in ([0, 1, 0, 0, 0], [-s, s, 0, 0, 0], [s, s, 0, 0, 0])]))
    velocity = ls.theory.logit_velocity(geo, "true")[:, 0]
    np.testing.assert_allclose(velocity, [2.25 * 0.05, 2.25 * 0.05 - 1.5 * s * 0.4, 2.25 * 0.05 + 1.5 * s * 0.4],
                               atol=1e-9)
    cats = ls.categorize(geo, ls.ExactPG(lr=LR), steps=20_000, device="cpu")
    assert list(cats["measured"]) == ["beneficial"] * 3
    orthogonal, negative, positive = cats["effect"]
    assert positive < orthogonal / 10 and positive < negative


# ------------------------------------------------------------------------------------------ the static explorer

A_VALUES = np.linspace(-1, 1, 9)
P_VALUES = np.linspace(0.05, 0.15, 5)


@pytest.fixture(scope="module")
def explorer_grid():
    cells = pd.DataFrame([(a, p) for a in A_VALUES for p in P_VALUES], columns=["r_P(y_med)", "pi_0(y*)"])
    grid = ls.Bandit(r_true=R_G, r_proxy=[[1, a, -1, -1, -1] for a in cells["r_P(y_med)"]],
                     init_probs=[initial_policy(p) for p in cells["pi_0(y*)"]], names=NAMES)
    predicted = ls.categorize(grid, measure=False)
    cells["V_P(theta_0)"] = ls.theory.values(grid)[1]
    cells["predicted"] = predicted["predicted"].to_numpy()
    cells["rule"] = predicted["rule"].to_numpy()
    run = ls.train(grid, ls.ExactPG(lr=LR), 300, reward="proxy", record_every=10, device="cpu")
    keep = run.steps > 0
    curves = pd.DataFrame({"step": np.repeat(run.steps[keep], len(cells)), "label": "trained on r_P",
                           "r_P(y_med)": np.tile(cells["r_P(y_med)"], keep.sum()),
                           "pi_0(y*)": np.tile(cells["pi_0(y*)"], keep.sum()),
                           "true_value": run.true_value[keep].reshape(-1)})
    truth = ls.train(grid, ls.ExactPG(lr=LR), 300, reward="true", record_every=10, device="cpu")
    first = [int(np.flatnonzero(cells["pi_0(y*)"] == p)[0]) for p in P_VALUES]
    curves = pd.concat([curves, pd.DataFrame({
        "step": np.repeat(truth.steps[keep], len(P_VALUES)), "label": "trained on r_G", "r_P(y_med)": np.nan,
        "pi_0(y*)": np.tile(P_VALUES, keep.sum()), "true_value": truth.true_value[keep][:, first].reshape(-1)})])
    return grid, cells, curves, truth


def test_explorer_grid_has_every_slider_combination(explorer_grid):
    grid, cells, _, truth = explorer_grid
    assert len(cells) == 45 and grid.batch_size == 45
    combos = set(zip(np.round(cells["r_P(y_med)"], 9), np.round(cells["pi_0(y*)"], 9)))
    assert combos == {(round(a, 9), round(p, 9)) for a in A_VALUES for p in P_VALUES}
    # one error per cell, on y_med; the r_G-trained curve does not depend on the proxy
    assert (ls.categorize(grid, measure=False)["output"] == "y_med").all()
    v = truth.true_value
    for p in P_VALUES:
        same = v[:, cells["pi_0(y*)"].to_numpy() == p]
        assert np.abs(same - same[:, :1]).max() == 0


def test_predicted_category_flips_when_the_proxy_rises_above_the_initial_mean(explorer_grid):
    _, cells, _, _ = explorer_grid
    a, p0, v_p = cells["r_P(y_med)"], cells["pi_0(y*)"], cells["V_P(theta_0)"]
    np.testing.assert_allclose(v_p, 2 * p0 - 0.5 + 0.5 * a, atol=1e-12)
    # Exercise 4.2 (a): r_P(y_med) <= V_P(theta_0) exactly when r_P(y_med) <= 4 pi_0(y*) - 1; cells on the boundary
    # itself (A_P0 = 0 up to rounding) are left out
    below, above = a < v_p - 1e-9, a > v_p + 1e-9
    assert (below == (a < 4 * p0 - 1 - 1e-9)).all() and (above == (a > 4 * p0 - 1 + 1e-9)).all()
    assert below.sum() >= 5 and above.sum() >= 30
    assert (cells.loc[below, "predicted"] == "beneficial").all()
    assert (cells.loc[above, "predicted"] == "unclassified").all()
    for p in P_VALUES:  # every column of the grid flips from beneficial to something else as r_P(y_med) rises
        column = cells[cells["pi_0(y*)"] == p].sort_values("r_P(y_med)")["predicted"].tolist()
        assert column[0] == "beneficial" and column[-1] != "beneficial"
        assert column == sorted(column, key=lambda c: c != "beneficial")


def test_exercise_4_2_a_tie_with_y_star_keeps_the_policy_on_y_med():
    tie = ls.Bandit(r_true=R_G, r_proxy=[1, 1, -1, -1, -1], init_probs=initial_policy(0.10), names=NAMES)
    run = ls.train(tie, ls.ExactPG(lr=LR), 20_000, reward="proxy", record_every=100, device="cpu")
    log_ratio = np.log(run.probs[:, 0, 1] / run.probs[:, 0, 0])
    assert np.all(np.diff(log_ratio) > 0)
    assert run.steps_to(0.9)[0] == -1 and abs(run.true_value[-1, 0] - 0.8) < 0.01
    cats = ls.categorize(tie, ls.ExactPG(lr=LR), steps=20_000, device="cpu")
    assert list(cats["predicted"]) == ["unclassified"] and list(cats["measured"]) == ["harmful"]


# ------------------------------------------------------------------------------------------ chart builders


def test_category_explorer_has_two_bound_sliders(explorer_grid):
    _, cells, curves, _ = explorer_grid
    cells = cells.assign(predicted=cells["predicted"], notes=cells["rule"])
    chart = charts.category_explorer(curves, cells, "r_P(y_med)", "pi_0(y*)", first_title="proxy reward of y_med",
                                     second_title="initial probability of y*", categories=["predicted"],
                                     notes=["notes"], y_rule=0.9, log_x=True, title="explorer")
    spec = chart.to_dict()
    bound = [p for p in spec["params"] if "bind" in p]
    assert len(bound) == 2
    by_name = {p["name"]: p for p in bound}
    first, second = by_name["slider_r_P_y_med_"], by_name["slider_pi_0_y__"]
    assert first["bind"]["input"] == second["bind"]["input"] == "range"
    assert (first["bind"]["min"], first["bind"]["max"], first["bind"]["step"]) == (-1.0, 1.0, 0.25)
    assert (second["bind"]["min"], second["bind"]["max"]) == (0.05, 0.15)
    assert second["bind"]["step"] == pytest.approx(0.025, abs=1e-12)
    text = str(spec)
    assert "slider_r_P_y_med_" in text and "slider_pi_0_y__" in text and "isValid" in text
    # the words panel holds every cell; the map colours every cell by its category
    words = spec["vconcat"][2]
    cells_said = {(d["r_P(y_med)"], d["pi_0(y*)"]) for d in words["data"]["values"]}
    assert len(cells_said) == 45
    maps = spec["vconcat"][1]                    # Altair may lift the map's data to the enclosing hconcat
    map_data = maps["hconcat"][0].get("data", maps.get("data"))["values"]
    assert len(map_data) == 45
    assert {d["category_0"] for d in map_data} == {"beneficial", "unclassified"}
    # the r_G curve is stored once per pi_0(y*), with a missing proxy value
    lines = spec["vconcat"][0]["layer"][0]["data"]["values"]
    truth = [d for d in lines if d["label"] == "trained on r_G"]
    assert truth and all(d["r_P(y_med)"] is None for d in truth)


def test_category_explorer_rejects_incomplete_or_uneven_grids(explorer_grid):
    _, cells, curves, _ = explorer_grid
    args = dict(first_title="a", second_title="b", title="t")
    with pytest.raises(ValueError, match="every combination"):
        charts.category_explorer(curves, cells.iloc[1:], "r_P(y_med)", "pi_0(y*)", **args)
    uneven = cells[cells["r_P(y_med)"] != A_VALUES[1]]
    with pytest.raises(ValueError, match="evenly spaced"):
        charts.category_explorer(curves, uneven, "r_P(y_med)", "pi_0(y*)", **args)
    off_grid = curves.assign(**{"pi_0(y*)": curves["pi_0(y*)"] + 0.01})
    with pytest.raises(ValueError, match="not a grid value"):
        charts.category_explorer(off_grid, cells, "r_P(y_med)", "pi_0(y*)", **args)


def test_band_curves_spec():
    frame = pd.DataFrame({"step": np.tile(np.arange(1, 1001), 2), "label": np.repeat(["a", "b"], 1000)})
    frame["mean"] = np.linspace(0, 1, 2000)
    frame["low"], frame["high"] = frame["mean"] - 0.1, frame["mean"] + 0.1
    chart = charts.band_curves(frame, "step", "mean", "label", low="low", high="high", log_x=True, max_steps=50,
                               title="t", x_title="step", y_title="V_G")
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks[0] == "area" and "line" in marks
    area = spec["layer"][0]["encoding"]
    assert area["y"]["field"] == "low" and area["y2"]["field"] == "high"
    assert spec["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    steps = {d["step"] for d in spec["data"]["values"]}
    assert 2 <= len(steps) <= 50 and {1, 1000} <= steps
    # points only on the named dash values; log axes refuse values <= 0; a band needs both limits
    fits = frame.assign(series=np.where(frame["label"] == "a", "measured", "fit"))
    spec = charts.band_curves(fits, "step", "mean", dash="series", detail="label", points=["measured"],
                              title="t", x_title="x", y_title="y").to_dict()
    dots = [layer for layer in spec["layer"] if layer.get("transform")]
    assert dots and dots[0]["transform"][0]["filter"] == {"field": "series", "oneOf": ["measured"]}
    with pytest.raises(ValueError, match="positive"):
        charts.band_curves(frame.assign(step=frame["step"] - 1), "step", "mean", log_x=True, title="t",
                           x_title="x", y_title="y")
    with pytest.raises(ValueError, match="both low and high"):
        charts.band_curves(frame, "step", "mean", low="low", title="t", x_title="x", y_title="y")
