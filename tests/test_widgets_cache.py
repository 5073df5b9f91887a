"""Reward Error Explorer: the charts it draws from cached Vega-Lite specs are the charts built afresh.

The explorer builds each chart's spec once per structure and, on later changes, puts the new inline records and
title into a copy of it (``widgets._SpecCache``). Every drawn bundle must equal the bundle of the chart the builders
make for the same state, whatever changed before: sliders, outputs added and removed, presets, the rule, the
learning rate and the horizon.
"""

import re

import altair as alt
import pytest

from labsupport import charts, widgets

VEGALITE = charts.VEGALITE_MIMETYPE
KEYS = ("values", "probs", "categories")
CHART_ID = re.compile(r"labsupport-chart-[0-9a-f]{32}")


def fresh_bundle(app, key):
    """The display bundle of ``key``'s chart built afresh by the chart builders from the explorer's results."""
    frame, categories = app.frame, app.categories
    seeds = frame["seed"].nunique()
    sampled = widgets.ALGORITHMS[app.algorithm.value](0.1).samples_per_step > 0
    what = f"{app.algorithm.value}, lr = {app.lr.value:.3g}, {app.steps} steps"
    what += f", {seeds} seeds" if sampled else ""
    if key == "values":
        chart = charts.value_curves(frame, value=["true_value", "proxy_value"], color="label", max_steps=None,
                                    title=f"Expected reward, trained on the proxy vs the ground truth ({what})")
    elif key == "probs":
        probs = frame
        if seeds > 1:
            probs = (frame.groupby(["label", "step", "output"], sort=False, as_index=False)["prob"].mean()
                     .assign(run=lambda f: (f["label"] == widgets.TRAINED_ON_TRUE).astype(int)))
        chart = charts.prob_curves(probs, color="output", facet="label", max_steps=None,
                                   title=f"Probability of each output ({what})")
    else:
        chart = charts.category_table(categories)
    with alt.utils.schemapi.debug_mode(False):
        spec = charts.vegalite_spec(chart, validate=False)
    return chart, widgets._bundle(spec)


def assert_drawn_as_fresh(app, step, validate=True):
    """Every drawn bundle equals the fresh one; with ``validate``, the drawn spec is also checked against the
    Vega-Lite schema (the slow part: about 1 s per step)."""
    assert app.message == "", step
    for key in KEYS:
        (item,) = app.outputs[key].outputs
        if key == "categories" and len(app.categories) == 0:
            assert app.charts[key] is None and VEGALITE not in item["data"], step
            continue
        chart, bundle = fresh_bundle(app, key)
        drawn = item["data"]
        assert drawn[VEGALITE] == bundle["data"][VEGALITE], (step, key)
        assert drawn[VEGALITE] == chart.to_dict(validate=validate), (step, key)  # ... which is valid Vega-Lite
        assert CHART_ID.sub("ID", drawn["text/html"]) == CHART_ID.sub("ID", bundle["data"]["text/html"]), (step, key)
        assert drawn["text/plain"] == bundle["data"]["text/plain"], (step, key)
        assert set(drawn) == set(bundle["data"]) and item["metadata"] == bundle["metadata"], (step, key)
        assert app.charts[key].to_dict(validate=False) == drawn[VEGALITE], (step, key)  # built on reading


@pytest.fixture
def builds(monkeypatch):
    """How often each chart builder runs (the explorer's cached path runs none)."""
    counts = dict.fromkeys(KEYS, 0)
    for key, name in zip(KEYS, ("value_curves", "prob_curves", "category_table")):
        builder = getattr(charts, name)

        def counted(*args, _key=key, _builder=builder, **kwargs):
            counts[_key] += 1
            return _builder(*args, **kwargs)

        monkeypatch.setattr(charts, name, counted)
    return counts


def test_cached_specs_equal_fresh_charts_after_every_kind_of_change(builds):
    app = widgets.explorer()
    assert builds == dict.fromkeys(KEYS, 1)  # the first update builds each chart once
    changes = [
        ("r_P(bad1) = 0.5", lambda: setattr(app.sliders["r_proxy"][2], "value", 0.5)),  # a second error: new row
        ("r_G(bad2) = -0.5", lambda: setattr(app.sliders["r_true"][3], "value", -0.5)),
        ("pi_0(y*) = 0.1", lambda: setattr(app.sliders["init_probs"][0], "value", 0.1)),
        ("r_P(bad1) = -1", lambda: setattr(app.sliders["r_proxy"][2], "value", -1.0)),
        ("add an output", app.add_output),
        ("r_P(y5) = 0.7", lambda: setattr(app.sliders["r_proxy"][5], "value", 0.7)),
        ("remove y_med", lambda: app.remove_output(1)),
        ("learning rate 0.05", lambda: setattr(app.lr, "value", 0.05)),
        ("horizon 500", lambda: setattr(app.horizon, "value", 500)),
        ("preset reward-hacking", lambda: setattr(app.preset, "value", "reward-hacking")),
        ("r_P(y_hack) = -1: no error", lambda: setattr(app.sliders["r_proxy"][2], "value", -1.0)),
        ("r_P(y_hack) = 1.2", lambda: setattr(app.sliders["r_proxy"][2], "value", 1.2)),
        ("RLOO, 4 seeds", lambda: setattr(app.algorithm, "value", "RLOO")),
        ("r_P(y_ok) = 0.4", lambda: setattr(app.sliders["r_proxy"][1], "value", 0.4)),
        ("back to exact", lambda: setattr(app.algorithm, "value", "exact")),
        ("preset stalling", lambda: setattr(app.preset, "value", "stalling")),
        ("r_P(bad1) = 0.5 again", lambda: setattr(app.sliders["r_proxy"][2], "value", 0.5)),
    ]
    # changes that keep a chart's structure (the same outputs, runs, table rows and columns) build no chart
    cached = {"r_G(bad2) = -0.5": ("values", "probs"), "pi_0(y*) = 0.1": KEYS, "learning rate 0.05": KEYS,
              "horizon 500": KEYS, "r_P(bad1) = 0.5 again": KEYS}
    built = 0  # value charts the explorer built
    for i, (step, change) in enumerate(changes):
        before = dict(builds)
        change()
        for key in cached.get(step, ()):
            assert builds[key] == before[key], (step, key)
        built += builds["values"] - before["values"]
        assert_drawn_as_fresh(app, step, validate=i % 4 == 0 or i == len(changes) - 1)
    assert built < len(changes) // 2  # most changes refill cached specs


def test_measure_false_and_names_that_are_categories():
    """Other structures: no measured column; outputs named like categories, which take the category colours."""
    app = widgets.explorer([0.0, 1.0, 0.5], [0.0, 1.0, 1.5], names=["harmful", "benign", "beneficial"],
                           measure=False, steps=1000)
    assert_drawn_as_fresh(app, "start")
    app.sliders["r_proxy"][0].value = 0.3
    assert_drawn_as_fresh(app, "r_P(harmful) = 0.3")
    app.add_output()  # y3 has no category colour: the probabilities' colour scale changes
    assert_drawn_as_fresh(app, "add an output")
    app.sliders["r_proxy"][0].value = 0.2
    assert_drawn_as_fresh(app, "r_P(harmful) = 0.2")


def test_a_spec_whose_data_is_not_top_level_is_built_every_time():
    cache = widgets._SpecCache(size=2)
    calls = []

    def layered():
        calls.append(1)
        return alt.layer(*(alt.Chart(charts.Records(values=[{"a": a}])).mark_point().encode(x="a:Q")
                           for a in (1, 2)))

    def single(value):
        calls.append(1)
        return alt.Chart(charts.Records(values=[{"a": value}])).mark_point().encode(x="a:Q").properties(title="t")

    for _ in range(2):
        spec, chart = cache.spec(("layered",), [{"a": 1}], None, layered)
        assert chart is not None and spec == chart.to_dict()
    assert len(calls) == 2
    spec, chart = cache.spec(("single",), [{"a": 1}], "t", lambda: single(1))
    assert chart is not None and len(calls) == 3
    spec, chart = cache.spec(("single",), [{"a": 2}], "u", lambda: single(2))
    assert chart is None and len(calls) == 3
    assert spec == single(2).properties(title="u").to_dict()
    cache.spec(("other",), [{"a": 1}], "t", lambda: single(1))  # the cache holds 2: the oldest goes
    assert ("layered",) not in cache._specs and len(cache._specs) == 2


def test_the_first_explorer_of_a_process_settles_the_heap_once(monkeypatch):
    """Full garbage-collection passes over the libraries' objects paused an update now and then: the first explorer
    collects, then freezes what is alive (and has it unfrozen at exit); later ones do nothing more."""
    calls = []
    monkeypatch.setattr(widgets.gc, "collect", lambda *args: calls.append("collect") or 0)
    monkeypatch.setattr(widgets.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(widgets.atexit, "register", lambda fn: calls.append(fn))
    widgets._settle_heap.cache_clear()
    widgets.explorer()
    widgets.explorer(r_true=[1.0, 0.0], r_proxy=[0.0, 1.0])
    assert calls == ["collect", "freeze", widgets.gc.unfreeze]  # unfrozen at exit, for the last collection
