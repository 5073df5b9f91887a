"""The chart builders of the chapters' own figures (labsupport.charts.simplex_flow and sign_map): the Vega-Lite spec
each one writes, checked on small hand-made records (panels, encodings, titles, data columns, geometry)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import labsupport as ls
from labsupport import charts

SIMPLEX = ["p_a", "p_b", "p_c"]
VELOCITY = ["v_a", "v_b", "v_c"]


def _flow_records():
    field = pd.DataFrame({"p_a": [0.2, 0.6], "p_b": [0.3, 0.2], "p_c": [0.5, 0.2],
                          "v_a": [0.1, -0.01], "v_b": [-0.1, 0.0], "v_c": [0.0, 0.01]})
    field = pd.concat([field.assign(panel="left"), field.assign(panel="right")], ignore_index=True)
    paths = pd.DataFrame({"step": [0, 10, 100, 0, 10], "start": ["s1", "s1", "s1", "s2", "s2"],
                          "p_a": [0.2, 0.4, 0.9, 0.6, 0.5], "p_b": [0.3, 0.3, 0.05, 0.2, 0.4],
                          "p_c": [0.5, 0.3, 0.05, 0.2, 0.1]})
    paths = pd.concat([paths.assign(panel="left"), paths.assign(panel="right")], ignore_index=True)
    return field, paths


def _flow_spec(**kwargs):
    field, paths = _flow_records()
    chart = charts.simplex_flow(field, paths, SIMPLEX, VELOCITY, panel="panel", corner_titles=["A", "B", "C"],
                                colors={"left": "#111111", "right": "#222222"}, title="Flow", **kwargs)
    return charts.vegalite_spec(chart)


def test_simplex_flow_draws_one_panel_per_value_with_titled_corners():
    spec = _flow_spec()
    assert spec["title"] == "Flow"
    assert [p["title"] for p in spec["hconcat"]] == ["left", "right"]
    layer = spec["hconcat"][0]["layer"]
    assert [l["mark"]["type"] for l in layer] == ["line", "rule", "point", "line", "point", "text"]
    assert [r["text"] for r in layer[5]["data"]["values"]] == ["A", "B", "C"]
    # the trajectories take the panel's colour; the arrows are shaded by speed on a log scale
    assert layer[3]["mark"]["color"] == "#111111" and spec["hconcat"][1]["layer"][3]["mark"]["color"] == "#222222"
    assert layer[1]["encoding"]["color"]["field"] == "log10 speed"
    assert layer[1]["encoding"]["color"]["legend"]["title"].startswith("log10 speed")


def test_simplex_flow_geometry_maps_corners_and_directions():
    spec = _flow_spec(arrow=0.05)
    arrows = spec["hconcat"][0]["layer"][1]["data"]["values"]
    first = arrows[0]
    # barycentric (0.2, 0.3, 0.5) with corners A = (1/2, sqrt3/2), B = (0, 0), C = (1, 0)
    assert first["x"] == pytest.approx(0.5 * 0.2 + 0.5) and first["y"] == pytest.approx(0.2 * math.sqrt(3) / 2)
    # velocity (0.1, -0.1, 0): towards A and away from B -> direction (0.05, 0.0866), drawn with length 0.05
    dx, dy = 0.05, 0.1 * math.sqrt(3) / 2
    assert math.hypot(first["x2"] - first["x"], first["y2"] - first["y"]) == pytest.approx(0.05)
    assert (first["x2"] - first["x"]) / (first["y2"] - first["y"]) == pytest.approx(dx / dy)
    assert first["log10 speed"] == pytest.approx(math.log10(math.hypot(dx, dy)))
    heads = spec["hconcat"][0]["layer"][2]
    assert heads["encoding"]["angle"]["field"] == "angle"
    assert heads["data"]["values"][0]["angle"] == pytest.approx(90 - math.degrees(math.atan2(dy, dx)))
    # marks: only the listed steps get a dot; the lines keep every row of their panel, in step order
    dots = spec["hconcat"][0]["layer"][4]["data"]["values"]
    assert sorted(d["step"] for d in dots) == [0, 0, 10, 10, 100]
    assert len(spec["hconcat"][0]["layer"][3]["data"]["values"]) == 5
    assert set(spec["hconcat"][0]["layer"][3]["data"]["values"][0]) == {"x", "y", "start", "step", *SIMPLEX}


def test_simplex_flow_rejects_bad_input():
    field, paths = _flow_records()
    with pytest.raises(ValueError, match="three names"):
        charts.simplex_flow(field, paths, SIMPLEX[:2], VELOCITY, panel="panel", corner_titles="ABC", title="t")
    with pytest.raises(ValueError, match="no column"):
        charts.simplex_flow(field.drop(columns="v_a"), paths, SIMPLEX, VELOCITY, panel="panel",
                            corner_titles="ABC", title="t")
    still = field.assign(v_a=0.0, v_b=0.0, v_c=0.0)
    with pytest.raises(ValueError, match="nonzero velocity"):
        charts.simplex_flow(still, paths, SIMPLEX, VELOCITY, panel="panel", corner_titles="ABC", title="t")


def _sign_records():
    return pd.DataFrame({"error": ["e1"] * 3 + ["e2"] * 3, "step": [0, 10, 100] * 2,
                         "A_G": [0.8, 0.5, -0.2, -0.8, -0.9, -2.0], "A_P": [-0.1, -0.5, -2.0, 1.2, 0.6, -0.2]})


def test_sign_map_shades_the_four_quadrants_of_the_rules():
    spec = charts.vegalite_spec(charts.sign_map(_sign_records(), title="Signs"))
    assert spec["title"] == "Signs"
    area = spec["layer"][0]
    assert area["mark"]["type"] == "rect"
    assert area["encoding"]["x"]["title"] == "ground-truth advantage A_G(y)"
    assert area["encoding"]["y"]["title"] == "proxy advantage A_P(y)"
    quads = {(q["x1"] >= 0, q["y1"] >= 0): q["category"] for q in area["data"]["values"]}
    assert quads == {(False, False): "benign", (False, True): "harmful", (True, False): "beneficial",
                     (True, True): "unclassified"}
    scale = area["encoding"]["fill"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {c: charts.CATEGORY_COLORS[c] for c in scale["domain"]}
    # the domain covers every point with a margin, the same on both axes
    reach = 1.15 * 2.0
    assert area["encoding"]["x"]["scale"]["domain"] == pytest.approx([-reach, reach])
    texts = [l for l in spec["layer"] if l["mark"]["type"] == "text"]
    assert sorted(t["data"]["values"][0]["rule"] for t in texts) == sorted(r for _, r in charts.SIGN_REGIONS.values())


def test_sign_map_lifts_a_label_at_the_bottom_by_its_extra_lines():
    """A label of a lower quadrant ends at the bottom of the plot: its first line is lifted by one line height per
    line below it, so no line runs over the x axis; a label of an upper quadrant hangs from the top, unshifted."""
    spec = charts.vegalite_spec(charts.sign_map(_sign_records(), title="Signs"))
    texts = [l for l in spec["layer"] if l["mark"]["type"] == "text"]
    assert any("\n" in t["data"]["values"][0]["rule"] for t in texts if t["mark"]["baseline"] == "bottom")
    for t in texts:
        mark, lines = t["mark"], t["data"]["values"][0]["rule"].count("\n") + 1
        assert mark["lineBreak"] == "\n" and mark["lineHeight"] == charts.SIGN_LINE_HEIGHT
        lift = (lines - 1) * mark["lineHeight"] if mark["baseline"] == "bottom" else 0
        assert mark.get("dy", 0) == -lift, (t["data"]["values"][0]["rule"], mark)


def test_sign_map_paths_and_the_slider_over_records():
    spec = charts.vegalite_spec(charts.sign_map(_sign_records(), title="Signs"))
    lines = [l for l in spec["layer"] if l["mark"]["type"] == "line"]
    points = [l for l in spec["layer"] if l["mark"]["type"] == "point"]
    assert len(lines) == 1 and len(points) == 1
    assert lines[0]["encoding"]["color"]["field"] == "error" and lines[0]["encoding"]["order"]["field"] == "step"
    assert {r["record"] for r in points[0]["data"]["values"]} == {0, 1, 2}
    (param,) = spec["params"]                        # a top-level parameter, bound to the slider
    assert param["name"] == "record" and param["value"] == 0
    assert param["bind"]["input"] == "range" and (param["bind"]["min"], param["bind"]["max"]) == (0, 2)
    assert points[0]["transform"] == [{"filter": "(datum.record === record)"}]


def test_sign_regions_agree_with_the_rules_of_predict():
    """Each quadrant's category is what labsupport.theory.predict says for an error there (the toy's initial policy,
    an error on a non-optimal, non-negligible output; the lower right also on the best output: harmful)."""
    cases = {(False, False): {"bad1": -0.5}, (False, True): {"bad1": 0.8}, (True, False): {"y_med": -1.0},
             (True, True): {"y_med": 0.9}}
    for signs, errors in cases.items():
        prob = ls.paper_bandit().with_rewards(r_proxy=ls.problems.paper_proxy(errors))
        (row,) = ls.theory.predict(prob)
        assert charts.SIGN_REGIONS[signs][0] == row["predicted"], (signs, row)
    best = ls.paper_bandit().with_rewards(r_proxy=ls.problems.paper_proxy({"y*": -1.0}))
    (row,) = ls.theory.predict(best)
    assert row["predicted"] == "harmful" and "hides the best output" in charts.SIGN_REGIONS[(True, False)][1]


def test_sign_map_needs_its_columns():
    with pytest.raises(ValueError, match="no column"):
        charts.sign_map(_sign_records().drop(columns="A_P"), title="t")
    assert np.isfinite(charts.vegalite_spec(charts.sign_map(_sign_records(), title="t"))["width"])


@pytest.mark.parametrize("cell_width", [charts.CELL_WIDTH, 110])
def test_category_table_breaks_a_long_text_into_lines_that_fit_its_column(cell_width):
    """Every cell shows its whole text: a text wider than the column (by the estimated width of a character) is
    broken at spaces into lines, centred on the row, and every row is tall enough for the most lines a cell takes."""
    kinds = ["demoted mediocre output", "hides the best output", "reward hacking", "stalling"]
    frame = pd.DataFrame({"output": [f"y{i}" for i in range(len(kinds))], "r_true": 0.8, "r_proxy": -1.0,
                          "predicted": ["beneficial", "harmful", "harmful", "unclassified"], "kind": kinds})
    spec = charts.vegalite_spec(charts.category_table(frame, cell_width=cell_width))
    cells = spec["data"]["values"]
    shown = {c["text"].replace("\n", " ") for c in cells if c["column"] == "kind"}
    assert shown == set(kinds)                                          # the whole text, in order
    fits = (cell_width - 6) // charts.CELL_CHAR                         # characters a line of the column holds
    assert all(len(line) <= fits or " " not in line for c in cells for line in c["text"].split("\n"))  # or a word
    assert any("\n" in c["text"] for c in cells)                         # "demoted mediocre output" takes lines
    lines = max(c["text"].count("\n") + 1 for c in cells)
    text = spec["layer"][1]["mark"]
    assert text["lineBreak"] == "\n" and text["lineHeight"] == charts.CELL_LINE
    assert "datum.text" in text["dy"]["expr"]                             # lifted by half a line per extra line
    assert spec["height"] >= len(kinds) * lines * charts.CELL_LINE
    assert spec["width"] == cell_width * 4
