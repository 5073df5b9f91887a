"""The Altair renderer of the book and the labs, and the fast path from a chart to its Vega-Lite spec.

:func:`enable` registers the renderer ``"labsupport"`` with Altair and makes it the active one (``labsupport.charts``
does it when imported, with the book's colours). For each chart, :func:`render` returns a mimebundle with the
Vega-Lite JSON (mimetype ``application/vnd.vegalite.v<major>+json``, for frontends that render that version
natively), a ``text/html`` that draws the chart with vega-embed, with tooltips, and a plain-text stand-in.

The HTML is a ``<div>`` and a script: the function in ``render.js`` (a file of this package), called with the spec,
the div's id, the embed options, the CDN addresses and the vendored folder. In the built book it loads vega,
vega-lite and vega-embed once per page from ``<content root>/_static/vega/`` (vendored by
``tools/vendor_assets.py``), falling back to a CDN when those files are missing. JupyterLab 4 prefers ``text/html``
to Vega-Lite (and renders Vega-Lite only up to v5), so there too the HTML draws the chart: in a notebook kernel
started by a Jupyter server (``JPY_SESSION_NAME`` set) it loads :data:`VENDOR_VEGA` through the server's ``/files/``
handler when that folder is complete and lies under the server's root, as with ``make lab`` (offline), and the CDN
otherwise. The book's ``_config.yml`` makes myst-nb pick ``text/html``.

:func:`vegalite_spec` is where a chart becomes its Vega-Lite JSON, the same dict as ``chart.to_dict()`` without
Altair walking the inline records one by one (the slow part of showing a chart of many points); :class:`Records`
marks the inline data it may copy as they are.
"""

from __future__ import annotations

import json
import os
import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeGuard

import altair as alt
from altair.utils.schemapi import debug_mode

__all__ = ["CDN", "EMBED_OPTIONS", "RENDERER", "Records", "VEGALITE_MIMETYPE", "VENDOR_VEGA", "enable", "render",
           "served_vega", "vegalite_spec"]

RENDERER = "labsupport"
VEGALITE_MIMETYPE = f"application/vnd.vegalite.v{alt.VEGALITE_VERSION.split('.')[0]}+json"
CDN = {  # the same versions Altair's own HTML output asks for
    "vega": f"https://cdn.jsdelivr.net/npm/vega@{alt.VEGA_VERSION}",
    "vega-lite": f"https://cdn.jsdelivr.net/npm/vega-lite@{alt.VEGALITE_VERSION}",
    "vega-embed": f"https://cdn.jsdelivr.net/npm/vega-embed@{alt.VEGAEMBED_VERSION}",
}
#: vega-embed's options for every chart, before those given to :func:`enable`. SVG (not canvas): the book's
#: stylesheet (book/_static/layout.css) scales a chart wider than its column down to fit. Axis labels are never
#: truncated; labels closer than 4 px count as overlapping and are thinned out (on a log axis, "30 40 50" would
#: otherwise run together).
EMBED_OPTIONS: dict[str, Any] = {
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
    "tooltip": {"theme": "light"}, "renderer": "svg",
    "config": {"background": "white", "legend": {"labelLimit": 0},
               "axis": {"labelLimit": 0, "labelOverlap": True, "labelSeparation": 4}}}
#: the vendored browser libraries of a source checkout (``tools/vendor_assets.py`` fills them); an installed package
#: has none there, and its charts in JupyterLab load the libraries from the CDN
VENDOR_VEGA = Path(__file__).resolve().parent.parent / "book" / "_vendor" / "vega"
_SOURCE = (files(__package__) / "render.js").read_text(encoding="utf-8")
#: the chart-drawing function of ``render.js``, without its leading comment
LOADER = _SOURCE[_SOURCE.index("(function"):].strip()


def _js(value: Any) -> str:
    """JSON for inlining in a <script>: '<' escaped so the text can never close the script element."""
    return json.dumps(value).replace("<", "\\u003c")


def served_vega() -> str | None:
    """The vendored vega folder (absolute, with /) when this kernel was started by a Jupyter server for a notebook
    (``JPY_SESSION_NAME`` is set) and the folder is complete; the chart's script then asks that server for it, so
    charts in a local JupyterLab draw offline. ``None`` elsewhere (e.g. while the book executes the labs)."""
    if not os.environ.get("JPY_SESSION_NAME"):
        return None
    if not all((VENDOR_VEGA / f"{name}.min.js").is_file() for name in CDN):
        return None
    return VENDOR_VEGA.as_posix()


def render(spec: dict, **metadata: Any) -> dict:
    """Altair renderer: a mimebundle with the Vega-Lite JSON, an HTML page fragment and a plain-text stand-in.
    ``metadata["embed_options"]`` (what :func:`enable` was given) updates :data:`EMBED_OPTIONS`."""
    chart_id = f"labsupport-chart-{uuid.uuid4().hex}"
    options = {**EMBED_OPTIONS, **metadata.get("embed_options", {})}
    script = f"{LOADER}({_js(spec)}, {_js(chart_id)}, {_js(options)}, {_js(CDN)}, {_js(served_vega())});"
    html = (f'<div class="labsupport-chart" id="{chart_id}"></div>\n'
            f'<script type="text/javascript">{script}</script>')
    title = spec.get("title", "")
    title = title.get("text", "") if isinstance(title, dict) else title
    return {VEGALITE_MIMETYPE: spec, "text/html": html, "text/plain": f"<Altair chart: {title}>" if title else
            "<Altair chart>"}


def enable(**embed_options: Any) -> None:
    """Register the ``labsupport`` renderer with Altair (once) and make it the active renderer; ``embed_options``
    (vega-embed's, e.g. ``config``) update :data:`EMBED_OPTIONS` for every chart drawn from now on."""
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, render)
    alt.renderers.enable(RENDERER, embed_options=embed_options)


class Records(alt.Data):
    """Inline data ``Records(values=records)`` whose records are dicts of plain JSON values (str keys; str, int,
    float, bool or None values): :func:`vegalite_spec` copies them into the spec as they are, where Altair would
    convert and check each one. Any other inline data goes through Altair as usual.

    Made without Altair's check of each record at construction (which its debug mode, on by default, runs: about
    0.3 s for 4,000 records): plain records are valid inline data whatever they hold."""

    def __init__(self, values: list[dict[str, Any]]) -> None:
        with debug_mode(False):
            super().__init__(values=values)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain(data: Any) -> TypeGuard[Records]:
    """Whether ``data`` is a :class:`Records` whose records are plain, as its docstring requires."""
    values = data.values if type(data) is Records else None
    return type(values) is list and all(
        type(record) is dict and all(type(k) is str and type(v) in _PLAIN for k, v in record.items())
        for record in values)


def vegalite_spec(chart: alt.TopLevelMixin, *, validate: bool = True) -> dict:
    """The Vega-Lite spec of ``chart``: the dict ``chart.to_dict(validate=validate)`` returns when Altair displays
    the chart (``pre_transform`` off), built without walking inline data records one by one.

    Altair converts every record of inline data field by field and validates each, which for a chart of a few
    thousand points costs more than the training behind it. :class:`Records` that are plain (as the chart builders
    make them) are set aside while the spec is built, under a placeholder name, and copied back into the finished
    spec; any other data goes through Altair as usual. ``validate`` checks the rest of the spec against the
    Vega-Lite schema (the set-aside records are valid inline data whatever they hold), so an invalid chart raises as
    ``chart.to_dict()`` does. This is the one place where a chart becomes a spec without Altair's display path: the
    explorer's charts (``validate=False``) use it.
    """
    prefix = f"labsupport-inline-{uuid.uuid4().hex}-"
    stash: list[tuple[Any, Records]] = []

    def set_aside(obj: Any) -> None:
        data = getattr(obj, "data", alt.Undefined)
        if _plain(data):
            stash.append((obj, data))
            obj.data = alt.Data(name=f"{prefix}{len(stash) - 1}")
        for key in ("layer", "concat", "hconcat", "vconcat"):
            subs: Any = getattr(obj, key, alt.Undefined)
            for sub in () if subs is alt.Undefined else subs:
                set_aside(sub)
        spec = getattr(obj, "spec", alt.Undefined)
        if spec is not alt.Undefined:
            set_aside(spec)

    try:
        set_aside(chart)
        spec = chart.to_dict(validate=validate, context={"pre_transform": False})
    finally:
        for obj, data in stash:
            obj.data = data
    if not stash:
        return spec
    records = {f"{prefix}{i}": data.values for i, (_, data) in enumerate(stash)}

    def put_back(node: Any) -> Any:
        if isinstance(node, dict):
            name = node.get("name")
            if isinstance(name, str) and name in records and set(node) == {"name"}:
                return {"values": [dict(record) for record in records[name]]}
            return {key: put_back(value) for key, value in node.items()}
        if isinstance(node, list):
            return [put_back(value) for value in node]
        return node

    return put_back(spec)
