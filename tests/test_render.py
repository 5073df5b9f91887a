"""The renderer (labsupport/render.py and its render.js): the mimebundle it returns, the options it passes to
vega-embed, the vendored libraries it offers a Jupyter server, and the fast path from a chart to its spec."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import altair as alt
import numpy as np
import pytest

from labsupport import render


def chart(data) -> alt.Chart:
    return alt.Chart(data).mark_line().encode(x="x:Q", y="y:Q", color="c:N").properties(title="a </script> title")


RECORDS = [{"x": i, "y": i / 4, "c": None if i % 3 else "a"} for i in range(50)]


def test_the_loader_is_the_function_of_render_js_called_with_its_five_arguments():
    assert render.LOADER.startswith("(function (spec, id, opts, cdn, vendor) {") and render.LOADER.endswith("})")
    out = subprocess.run(["node", "-e", f"console.log(typeof ({render.LOADER}), ({render.LOADER}).length)"],
                         capture_output=True, text=True, check=True)              # it parses as JavaScript
    assert out.stdout.strip() == "function 5"


def test_render_returns_the_spec_an_html_fragment_and_a_title():
    spec = render.vegalite_spec(chart(render.Records(values=RECORDS)))
    bundle = render.render(spec, embed_options={"config": {"range": {"category": ["#000000"]}}})
    assert set(bundle) == {render.VEGALITE_MIMETYPE, "text/html", "text/plain"}
    assert bundle[render.VEGALITE_MIMETYPE] is spec
    assert bundle["text/plain"] == "<Altair chart: a </script> title>"
    html = bundle["text/html"]
    chart_id = re.match(r'<div class="labsupport-chart" id="(labsupport-chart-[0-9a-f]{32})"></div>\n<script', html)[1]
    assert html.count("</script>") == 1 and html.endswith("</script>")       # the title's tag is escaped
    args = html[html.index(render.LOADER) + len(render.LOADER):-len(";</script>")]
    spec_back, id_back, options, cdn, vendor = json.loads(f"[{args[1:-1]}]")
    assert (spec_back, id_back, cdn, vendor) == (spec, chart_id, render.CDN, None)
    assert options == {**render.EMBED_OPTIONS, "config": {"range": {"category": ["#000000"]}}}


def test_axis_labels_keep_a_gap_between_them():
    """Axis labels closer than 4 px count as overlapping, so Vega thins them out instead of running them together
    (on a log axis, "30 4050"); on a log axis of the book's builders the thinning is greedy, so every decade keeps
    its label (parity, the config's, would drop every other label, decades included)."""
    from labsupport import charts

    axis = render.EMBED_OPTIONS["config"]["axis"]
    assert axis["labelOverlap"] is True and axis["labelSeparation"] >= 4 and axis["labelLimit"] == 0
    frame = {"K": [1, 2, 4, 8, 16, 32, 64], "v": [3, 1.5, 0.75, 0.4, 0.2, 0.1, 0.05]}
    for log_x, log_y in [(True, False), (False, True), (True, True)]:
        spec = render.vegalite_spec(charts.band_curves(frame, "K", "v", log_x=log_x, log_y=log_y, low="v", high="v",
                                                       max_steps=None, title="t", x_title="K", y_title="v"))
        for layer in spec["layer"]:
            for channel, log in (("x", log_x), ("y", log_y)):
                axis = layer["encoding"][channel].get("axis", {})
                assert axis.get("labelOverlap") == ("greedy" if log else None), (channel, layer["mark"], axis)


def test_enable_makes_the_renderer_active_with_its_options():
    previous, options = alt.renderers.active, alt.renderers.options
    try:
        render.enable(config={"background": "black"})
        bundle = alt.Chart(render.Records(values=RECORDS)).mark_point().encode(x="x:Q")._repr_mimebundle_()
        html = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/html"]
        assert alt.renderers.active == render.RENDERER and '"config": {"background": "black"}' in html
        assert '"renderer": "svg"' in html
    finally:
        alt.renderers.enable(previous, **options)


def test_the_vendored_folder_is_offered_only_to_a_kernel_of_a_jupyter_server(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(render, "VENDOR_VEGA", tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    for name in render.CDN:
        (tmp_path / f"{name}.min.js").write_text("")
    assert render.served_vega() is None
    monkeypatch.setenv("JPY_SESSION_NAME", "lab.ipynb")
    assert render.served_vega() == tmp_path.as_posix()
    (tmp_path / "vega-lite.min.js").unlink()                                 # incomplete: the CDN instead
    assert render.served_vega() is None


@pytest.mark.parametrize("values", [RECORDS, [{"x": np.float64(1.5), "y": 2, "c": "a"}]], ids=["plain", "numpy"])
@pytest.mark.parametrize("kind", [render.Records, alt.Data])
def test_vegalite_spec_is_altairs_spec_for_every_layout(kind, values):
    one = chart(kind(values=values))
    for layout in (one, alt.layer(one, one.mark_point()), alt.hconcat(one, one), one.facet("c:N")):
        assert render.vegalite_spec(layout) == layout.to_dict()
        assert render.vegalite_spec(layout, validate=False) == layout.to_dict(validate=False)
    assert one.data.values is values                                         # the chart is left as it was


def test_an_invalid_chart_still_raises():
    bad = chart(render.Records(values=RECORDS))
    bad.mark = {"type": "nope"}                                              # set after the checks of construction
    with pytest.raises(alt.utils.schemapi.SchemaValidationError, match="nope"):
        render.vegalite_spec(bad)
    assert render.vegalite_spec(bad, validate=False)["mark"] == {"type": "nope"}


def test_records_skip_altairs_check_of_each_record_and_leave_its_debug_mode_as_it_was(monkeypatch):
    checked = []
    original = alt.Data.to_dict

    def to_dict(self, *args, **kwargs):
        checked.append(kwargs.get("validate"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(alt.Data, "to_dict", to_dict)
    alt.Data(values=[{"a": 1}])
    assert checked == [True]  # what Altair does for inline data at construction, in its default debug mode
    checked.clear()
    records = render.Records(values=[{"a": i} for i in range(3)])
    assert checked == [] and records.values[2] == {"a": 2}
    assert alt.utils.schemapi.DEBUG_MODE
