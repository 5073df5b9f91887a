"""Reward Error Explorer: sliders drive the categories, the run frame and the charts; bad input shows a message.

Headless: setting ``slider.value`` fires the observers exactly as dragging a slider does in a notebook.
"""

import json

import ipywidgets as w
import numpy as np
import pytest

import labsupport as ls
from labsupport import charts, widgets

R_TRUE = [1, 0.8, -1, -1, -1]
R_PROXY = [1, -1, -1, -1, -1]
PI0 = [0.05, 0.5, 0.15, 0.15, 0.15]
Y_MED, BAD1 = 1, 2
VEGALITE = charts.VEGALITE_MIMETYPE


@pytest.fixture(scope="module")
def toy_app():
    """One explorer for the read-only checks on the default toy (the tests that move sliders build their own)."""
    return widgets.explorer()


def rows(app):
    return {r.output: r for r in app.categories.itertuples()}


def final_values(app, label):
    frame = app.frame[app.frame["label"] == label]
    last = frame[frame["step"] == frame["step"].max()]
    return last["true_value"].mean(), last["proxy_value"].mean()


def inline_values(spec):
    """The inline records of a chart spec (top level or the first layer that has them)."""
    if "data" in spec:
        return spec["data"]["values"]
    return next(layer["data"]["values"] for layer in spec["layer"] if "data" in layer)


def drawn_spec(app, key):
    (item,) = app.outputs[key].outputs
    return item["data"][VEGALITE]


def test_default_is_the_papers_toy_and_y_med_is_beneficial(toy_app):
    app = toy_app
    assert app.names == ("y*", "y_med", "bad1", "bad2", "bad3")
    assert [s.value for s in app.sliders["r_true"]] == R_TRUE
    assert [s.value for s in app.sliders["r_proxy"]] == R_PROXY
    assert [s.value for s in app.sliders["init_probs"]] == PI0
    assert app.message == "" and app.algorithm.value == "exact" and app.lr.value == pytest.approx(0.1)
    assert app.preset.value == "stalling" and app.horizon.value == 2000  # the toy is the first preset
    assert list(app.categories["output"]) == ["y_med"]  # the toy's only error
    row = rows(app)["y_med"]
    assert (row.predicted, row.kind, row.measured) == ("beneficial", "demoted mediocre output", "beneficial")
    assert row.effect > 1  # correcting the error more than doubles the time to V_G >= 0.9
    assert app.last_update_seconds > 0


def test_one_batched_run_trains_on_each_reward_and_records_about_200_points(toy_app):
    frame = toy_app.frame
    assert set(frame["label"]) == {widgets.TRAINED_ON_PROXY, widgets.TRAINED_ON_TRUE}
    assert sorted(frame["run"].unique()) == [0, 1]  # the exact rule: one run per reward, B = 2
    assert frame["step"].nunique() == 201 and frame["step"].max() == 2000
    start = frame[frame["step"] == 0]
    np.testing.assert_allclose(start["true_value"], 0.05 + 0.8 * 0.5 - 0.45, atol=1e-6)  # V_G(pi_0) = 0
    np.testing.assert_allclose(start["proxy_value"], -0.9, atol=1e-6)  # V_P(pi_0) under r_P for both trainings
    v_g_proxy, v_p_proxy = final_values(toy_app, widgets.TRAINED_ON_PROXY)
    v_g_true, v_p_true = final_values(toy_app, widgets.TRAINED_ON_TRUE)
    assert v_g_proxy > 0.99 and v_p_proxy > 0.99  # the proxy run finds y*
    assert 0.78 < v_g_true < 0.81  # the r_G run stalls on y_med ...
    assert v_p_true < -0.98  # ... which the proxy scores -1: V_P of that run is measured with r_P


def test_charts_are_valid_vega_lite_and_the_drawn_specs_match_them(toy_app):
    for key in ("values", "probs", "categories"):
        chart = toy_app.charts[key]
        full = chart.to_dict()  # validates against the Vega-Lite schema
        assert charts.vegalite_spec(chart, validate=False) == full  # the fast path draws exactly the same spec
        assert charts.vegalite_spec(chart) == full  # ... and with validation
        assert chart._repr_mimebundle_()[VEGALITE] == full
        assert drawn_spec(toy_app, key) == full
    values = inline_values(toy_app.charts["values"].to_dict())
    assert {v["label"] for v in values} == {widgets.TRAINED_ON_PROXY, widgets.TRAINED_ON_TRUE}
    assert {v["reward"] for v in values} == {"true", "proxy"}
    assert len(values) == 201 * 2 * 2  # records x trainings x rewards
    cells = inline_values(toy_app.charts["categories"].to_dict())
    assert {(c["column"], c["category"]) for c in cells if c["column"] in ("predicted", "measured")} == {
        ("predicted", "beneficial"), ("measured", "beneficial")}


def test_every_control_waits_for_release_and_pi0_rescales_the_others():
    app = widgets.explorer()
    controls = [s for group in app.sliders.values() for s in group] + [app.lr, app.horizon]
    assert all(c.continuous_update is False for c in controls)
    assert isinstance(app.lr, w.FloatLogSlider) and isinstance(app.algorithm, w.Dropdown)
    assert isinstance(app.horizon, w.IntSlider) and isinstance(app.preset, w.Dropdown)
    assert list(app.algorithm.options) == ["exact", "REINFORCE", "RLOO", "GRPO", "PPO"]
    # the book's column order: output, r_G, r_P, pi_0 (then the remove button)
    assert app.grid.children[5:10] == (app.grid.children[5], app.sliders["r_true"][0], app.sliders["r_proxy"][0],
                                       app.sliders["init_probs"][0], app.remove_buttons[0])
    app.sliders["init_probs"][0].value = 0.525  # the other four scale by (1 - 0.525) / (1 - 0.05) = 0.5
    assert app.message == "" and app.preset.value == widgets.CUSTOM
    expected = [0.525, 0.25, 0.075, 0.075, 0.075]
    np.testing.assert_allclose([s.value for s in app.sliders["init_probs"]], expected, rtol=1e-14)
    np.testing.assert_allclose(app.problem.init_probs[0].numpy(), expected, rtol=1e-14)
    assert rows(app)["y_med"].pi0 == pytest.approx(0.25)


def test_with_probability_rescales_the_others_proportionally():
    """The closed form of the book's explorer test: pi_0(y_med) := 0.2 scales the others by (1 - 0.2) / (1 - 0.5)."""
    np.testing.assert_allclose(widgets.with_probability(PI0, Y_MED, 0.2), [0.08, 0.2, 0.24, 0.24, 0.24], rtol=1e-14)
    probs = widgets.with_probability([0.5, 0.5 - 1e-7, 1e-7], 0, 0.999)
    assert sum(probs) == pytest.approx(1, abs=1e-15) and min(probs) > 0
    assert probs[2] / probs[1] == pytest.approx(1e-7 / (0.5 - 1e-7), rel=1e-12)
    for p in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=f"init_probs must be strictly between 0 and 1; got {p}"):
            widgets.with_probability(PI0, 0, p)
    with pytest.raises(ValueError, match="index must be in 0..4; got 5"):
        widgets.with_probability(PI0, 5, 0.5)


def test_every_preset_measures_the_kind_it_shows():
    """Each preset of the one table (the book's explorer holds the same: tests/test_explorer_browser.py) has one
    reward error, on its focus output, predicted and measured as the category and kind it names."""
    app = widgets.explorer()
    assert list(app.preset.options)[-1][1] == widgets.CUSTOM
    for key, p in widgets.PRESETS.items():
        app.preset.value = key
        assert app.message == "", key
        assert app.names == tuple(p["names"]) and app.lr.value == pytest.approx(p["lr"]) and app.steps == p["steps"]
        np.testing.assert_allclose(app.problem.init_probs[0].numpy(), p["init_probs"], rtol=1e-12)
        assert list(app.categories["output"]) == [p["names"][p["focus"]]], key
        row = app.categories.iloc[0]
        assert (row["predicted"], row["kind"], row["measured"]) == (p["category"], p["kind"], p["category"]), key


def test_outputs_are_added_and_removed_between_2_and_8():
    app = widgets.explorer()
    app.preset.value = "never-sampled"  # 3 outputs
    assert app.remove_output(0)  # y*: pi_0 of the others renormalised
    assert app.names == ("y_mid", "y_rare") and app.message == ""
    assert sum(app.state["init_probs"]) == pytest.approx(1, abs=1e-15)
    assert all(b.disabled for b in app.remove_buttons) and len(app.sliders["r_true"]) == 2
    categories = app.categories
    assert not app.remove_output(1)
    assert app.message == "outputs: the explorer holds at least 2 outputs; cannot remove y_rare"
    assert app.names == ("y_mid", "y_rare") and app.categories is categories
    app.add_button.click()  # a new output without an error and pi_0 = 1/3, the others rescaled
    assert app.names == ("y_mid", "y_rare", "y2") and app.message == ""
    assert app.state["r_true"][2] == app.state["r_proxy"][2] == 0
    assert app.state["init_probs"][2] == pytest.approx(1 / 3)
    assert app.preset.value == widgets.CUSTOM and not any(b.disabled for b in app.remove_buttons)
    for _ in range(5):
        assert app.add_output()
    assert len(app.names) == widgets.MAX_OUTPUTS and app.add_button.disabled
    assert sorted(app.frame["output"].unique()) == sorted(app.names)  # the run trains all 8
    assert not app.add_output()
    assert app.message == "outputs: the explorer holds at most 8 outputs; it has 8"
    app.remove_buttons[7].click()
    assert len(app.names) == 7 and app.message == "" and not app.add_button.disabled


def test_a_horizon_change_retrains_and_remeasures():
    app = widgets.explorer()
    frame = app.frame
    app.horizon.value = 500
    assert app.message == "" and app.steps == 500 and app.preset.value == widgets.CUSTOM
    assert app.frame is not frame and app.frame["step"].max() == 500 and app.frame["step"].nunique() == 251
    assert app.record_every == 2  # 500 // 200
    alone = ls.categorize(app.problem, ls.ExactPG(lr=0.1), steps=500, dtype=widgets.DTYPE, device="cpu")
    np.testing.assert_allclose(alone["effect"].to_numpy(float), app.categories["effect"].to_numpy(float))
    assert "500 steps" in app.charts["values"].to_dict()["title"]


def test_dragging_y_med_proxy_to_its_true_value_removes_the_error_and_back_makes_it_beneficial():
    app = widgets.explorer()
    slider = app.sliders["r_proxy"][Y_MED]
    slider.value = 0.8
    assert app.message == ""
    assert len(app.categories) == 0  # no error when proxy == truth
    assert app.charts["categories"] is None
    (item,) = app.outputs["categories"].outputs
    assert "no reward error" in item["data"]["text/html"]
    # with a perfect proxy both trainings are the same run
    np.testing.assert_allclose(final_values(app, widgets.TRAINED_ON_PROXY), final_values(app, widgets.TRAINED_ON_TRUE))
    slider.value = -1.0
    assert list(app.categories["output"]) == ["y_med"]
    row = rows(app)["y_med"]
    assert (row.predicted, row.measured) == ("beneficial", "beneficial")
    assert VEGALITE in app.outputs["categories"].outputs[0]["data"]


def test_a_bad_output_raised_to_2_is_harmful_reward_hacking_and_pulls_the_proxy_run_down():
    app = widgets.explorer()
    before_true, _ = final_values(app, widgets.TRAINED_ON_PROXY)
    before_g_run = final_values(app, widgets.TRAINED_ON_TRUE)
    drawn_before = drawn_spec(app, "values")
    app.sliders["r_proxy"][BAD1].value = 2.0
    assert app.message == ""
    row = rows(app)["bad1"]
    assert (row.predicted, row.kind, row.measured) == ("harmful", "reward hacking", "harmful")
    assert rows(app)["y_med"].predicted == "beneficial"  # the other error is still there
    after_true, after_proxy = final_values(app, widgets.TRAINED_ON_PROXY)
    assert before_true > 0.99 and after_true < -0.99  # the proxy-trained run now converges to bad1
    assert after_proxy > 1.99  # ... where the proxy pays 2
    g_true, g_proxy = final_values(app, widgets.TRAINED_ON_TRUE)
    assert g_true == pytest.approx(before_g_run[0])  # training on r_G ignores the proxy ...
    assert g_proxy != pytest.approx(before_g_run[1])  # ... but its V_P is measured with the new r_P
    # the redrawn chart carries the new curve
    drawn_after = drawn_spec(app, "values")
    assert drawn_after != drawn_before

    def final_drawn(spec):
        pts = [v for v in inline_values(spec) if v["label"] == widgets.TRAINED_ON_PROXY and v["reward"] == "true"]
        return max(pts, key=lambda v: v["step"])["expected reward"]

    assert final_drawn(drawn_before) > 0.99 and final_drawn(drawn_after) < -0.99
    probs = app.frame[(app.frame["label"] == widgets.TRAINED_ON_PROXY) & (app.frame["step"] == 2000)]
    assert probs.set_index("output")["prob"]["bad1"] > 0.99


def test_invalid_probabilities_show_a_message_and_keep_the_previous_results():
    app = widgets.explorer()
    categories, frame, drawn = app.categories, app.frame, {k: o.outputs for k, o in app.outputs.items()}
    for value in (0.0, 1.0):
        app.sliders["init_probs"][BAD1].value = value
        assert app.message == f"init_probs[bad1] must be strictly between 0 and 1; got {value}"
        assert "init_probs[bad1]" in app.message_area.value
        assert [s.value for s in app.sliders["init_probs"]] == PI0  # the slider shows the kept value again
        assert app.categories is categories and app.frame is frame
        assert {k: o.outputs for k, o in app.outputs.items()} == drawn  # the previous charts stay
    app.sliders["init_probs"][BAD1].value = 0.25
    assert app.message == "" and app.message_area.value == ""
    assert app.categories is not categories
    assert rows(app)["y_med"].measured == "beneficial"


def test_switching_to_rloo_batches_seeds_and_still_categorises():
    app = widgets.explorer(seeds=3)
    exact_frame = app.frame
    app.algorithm.value = "RLOO"
    assert app.message == ""
    frame = app.frame
    assert frame is not exact_frame
    assert sorted(frame["run"].unique()) == list(range(6))  # 3 seeds per reward in one call
    assert frame.groupby("label")["seed"].nunique().to_dict() == {widgets.TRAINED_ON_PROXY: 3,
                                                                  widgets.TRAINED_ON_TRUE: 3}
    # seeds differ: the sampled runs are not copies of each other
    mid = frame[(frame["step"] == 100) & (frame["label"] == widgets.TRAINED_ON_PROXY)]
    assert mid.groupby("run")["true_value"].first().nunique() == 3
    row = rows(app)["y_med"]
    assert (row.predicted, row.measured) == ("beneficial", "beneficial")
    assert final_values(app, widgets.TRAINED_ON_PROXY)[0] > 0.95
    assert 0.7 < final_values(app, widgets.TRAINED_ON_TRUE)[0] < 0.85  # stalling on y_med, sampled
    probs = inline_values(app.charts["probs"].to_dict())
    assert {p["run"] for p in probs} == {0, 1}  # probabilities: mean over seeds, one line per training
    assert "RLOO" in app.charts["values"].to_dict()["title"]


def test_learning_rate_changes_the_run_and_algorithms_map_to_labsupport_rules():
    app = widgets.explorer()
    fast = final_values(app, widgets.TRAINED_ON_PROXY)[0]
    app.lr.value = 0.001
    assert app.message == ""
    slow = final_values(app, widgets.TRAINED_ON_PROXY)[0]
    assert fast > 0.99 and slow < 0.5  # steps 100 times smaller: y* is far from reached in 2000 steps
    assert widgets.ALGORITHMS["exact"](0.1) == ls.ExactPG(lr=0.1)
    assert widgets.ALGORITHMS["REINFORCE"](0.2) == ls.Reinforce(samples=1, lr=0.2)
    assert widgets.ALGORITHMS["RLOO"](0.1) == ls.RLOO(k=4, lr=0.1)
    assert widgets.ALGORITHMS["GRPO"](0.1) == ls.GRPO(group=8, lr=0.1)
    assert widgets.ALGORITHMS["PPO"](0.1) == ls.PPO(lr=0.1)


def test_measure_false_skips_the_counterfactual_and_custom_problems_work():
    app = widgets.explorer([0.0, 1.0, 0.5], [0.0, 1.0, 1.5], [1, 1, 2], measure=False, steps=1000)
    assert app.names == ("y0", "y1", "y2")
    assert [s.value for s in app.sliders["init_probs"]] == [0.25, 0.25, 0.5]  # the weights, normalised
    row = rows(app)["y2"]
    assert (row.predicted, row.kind) == ("harmful", "reward hacking") and row.measured is None
    assert app.frame["step"].max() == 1000 and app.frame["step"].nunique() == 201  # record_every = 1000 // 200
    assert app.sliders["r_proxy"][2].value == 1.5


def test_constructor_rejects_bad_arguments_early():
    with pytest.raises(ValueError, match="r_proxy must have 5 entries"):
        widgets.explorer(R_TRUE, [1, -1, -1])
    with pytest.raises(ValueError, match="names must be 5 distinct"):
        widgets.explorer(names=["a", "a", "b", "c", "d"])
    with pytest.raises(ValueError, match="init_probs are all zero"):
        widgets.explorer(init_probs=[0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="algorithm must be one of"):
        widgets.explorer(algorithm="SGD")
    with pytest.raises(ValueError, match="init_probs has a zero"):
        widgets.explorer(init_probs=[0, 0.5, 0.5, 0, 0])  # labsupport's own rejection, raised at construction


def test_a_notebook_cell_ending_in_the_explorer_shows_its_widget(toy_app):
    bundle = toy_app._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == toy_app.widget.model_id
    assert isinstance(toy_app.widget, w.VBox)
    assert all(o in toy_app.widget.children for o in toy_app.outputs.values())
    json.dumps(toy_app.outputs["values"].outputs)  # what the kernel sends is plain JSON


def test_the_explorers_float64_exact_runs_equal_the_torch_path():
    """The explorer trains in float64, where tiny exact problems run as a numpy loop: same records and hits."""
    import torch

    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[R_PROXY, R_TRUE, [1, 0.8, 2, -1, -1]], init_probs=PI0)
    for kwargs in (dict(record_every=7), dict(record_every=None, track_level=[0.9, 0.5, 0.95])):
        fast = ls.train(prob, ls.ExactPG(lr=0.3), 500, dtype=torch.float64, device="cpu", **kwargs)
        ref = ls.train(prob, ls.ExactPG(lr=0.3), 500, dtype=torch.float64, device="cpu", backend="torch", **kwargs)
        np.testing.assert_allclose(fast.probs, ref.probs, rtol=0, atol=1e-13)
        np.testing.assert_array_equal(fast.steps, ref.steps)
        if "track_level" in kwargs:
            np.testing.assert_array_equal(fast.hit_steps, ref.hit_steps)
            assert (fast.hit_steps >= 0).any()


def test_the_first_passage_is_found_across_chunk_boundaries():
    """The numpy loop keeps V_G for a chunk of steps at a time: every chunk size finds the torch path's hits."""
    import torch

    from labsupport.simulate import _train_exact_numpy

    prob = ls.Bandit(r_true=R_TRUE, r_proxy=[R_PROXY, R_TRUE, [1, 0.8, 2, -1, -1]], init_probs=PI0)
    levels = torch.tensor([0.9, 0.5, 0.95], dtype=torch.float64)
    ref = ls.train(prob, ls.ExactPG(lr=0.3), 500, dtype=torch.float64, device="cpu", backend="torch",
                   track_level=levels.tolist())
    assert ref.hit_steps.tolist() == [56, 11, -1]  # chunks of 11, 12, 56 or 57 steps end at or next to a hit
    for chunk in (1, 11, 12, 56, 57, 501, 1000):
        _, hit = _train_exact_numpy(0.3, 500, torch.log(prob.init_probs), prob.r_proxy, [0, 500], levels,
                                    prob.r_true, chunk=chunk)
        np.testing.assert_array_equal(hit.numpy(), ref.hit_steps)


def test_one_training_per_change_and_the_verdicts_of_categorize_alone(monkeypatch):
    """The trainings on r_P and r_G join categorize's counterfactual run (one train call per change), and the
    categories are those categorize gives for the problem alone."""
    from labsupport import theory

    app = widgets.explorer()
    calls = []
    monkeypatch.setattr(theory, "train", lambda *a, **k: calls.append(1) or ls.train(*a, **k))
    app.sliders["r_proxy"][BAD1].value = 0.5
    assert len(calls) == 1
    alone = ls.categorize(app.problem, ls.ExactPG(lr=0.1), steps=app.steps, dtype=widgets.DTYPE, device="cpu")
    assert alone["measured"].tolist() == app.categories["measured"].tolist()
    np.testing.assert_allclose(alone["effect"].to_numpy(float), app.categories["effect"].to_numpy(float))
    assert list(app.categories["output"]) == ["y_med", "bad1"]
