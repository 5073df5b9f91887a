"""Altair charts for the book and the labs: tidy data in, chart out; the charts never compute science.

Builders (each takes a pandas DataFrame, or anything ``pandas.DataFrame(...)`` accepts, and returns an Altair chart
with a title, axis titles with units, a legend and tooltips):

* :func:`value_curves`  expected reward over training steps, one line per run, coloured by a label column;
* :func:`prob_curves`   probability of each output over training steps;
* :func:`category_table` a coloured table of a :func:`labsupport.categorize` result;
* :func:`decomposition_bars` per-output contributions to dV_G/dt;
* :func:`line_chart`    the generic line chart the two curve builders are made of;
* :func:`band_curves`   lines with an optional quantile band, log axes and dash styles (seeds, scaling studies);
* :func:`category_explorer` the kernel-free explorer: range sliders over a precomputed grid pick the curves and
  the categories shown (works in the static book).
* :func:`simplex_flow`  a probability flow on the simplex of three groups of outputs, with trajectories (chapter 2);
* :func:`sign_map`      each error's two advantages over training, on the quadrants of the rules (chapter 4).

Run frames come from ``Run.to_frame()`` (columns step, run, output, prob, true_value, proxy_value); add a ``label``
column (e.g. "trained on r_P") before charting several runs together::

    frame = pd.concat([run_g.to_frame().assign(label="trained on r_G"),
                       run_p.to_frame().assign(label="trained on r_P")])
    charts.value_curves(frame)

Large frames: the curve builders keep at most ``max_steps`` evenly spaced recorded steps (first and last included)
and hand the data to Altair as inline records (:class:`labsupport.render.Records`), so Altair's 5000-row limit does
not apply and no global Altair setting is changed. Keep pages light: every point ends up in the page.

Lines that would mix several series (e.g. two labels charted without ``color="label"``) raise a ValueError
naming the columns, instead of drawing zigzags.

Rendering: importing this module (``from labsupport import charts``, or the first use of ``ls.charts``) makes the
renderer of :mod:`labsupport.render` Altair's active renderer, with the book's colours (:data:`EMBED_OPTIONS`);
``charts.enable()`` does it again after another renderer was chosen. :func:`vegalite_spec` (of that module, also
here) turns a chart into its Vega-Lite JSON fast; the builders' inline data are :class:`labsupport.render.Records`,
which it copies as they are.
"""

from __future__ import annotations

import functools
import json
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import altair as alt
import numpy as np
import pandas as pd

from .render import EMBED_OPTIONS as RENDER_OPTIONS
from .render import VEGALITE_MIMETYPE, Records, vegalite_spec
from .render import enable as enable_renderer
from .render import render as render_chart

__all__ = [
    "CATEGORY_COLORS", "CREDIT_COLORS", "EMBED_OPTIONS", "PALETTE", "REWARD_COLORS", "RM_SOURCE_COLORS",
    "SERIES_COLORS", "SIGN_COLORS", "SIGN_REGIONS", "STAT_COLORS", "VEGALITE_MIMETYPE", "band_curves",
    "category_explorer", "category_table", "confusion_heatmap", "correlation_intervals", "decomposition_bars", "enable",
    "heat_map", "line_chart", "metric_scatter", "prob_curves", "rate_bars", "render", "sign_map", "simplex_flow",
    "value_curves", "vegalite_spec",
]

#: what the builders take as ``data``: a DataFrame, or what ``pandas.DataFrame`` makes one from (columns or records)
Data = Union[pd.DataFrame, Mapping[str, Any], Sequence[Mapping[str, Any]]]

# ------------------------------------------------------------------------------------------------ colour scheme

#: The one palette of the book's charts: the colours of Okabe and Ito ("Color Universal Design", 2008), which readers
#: with the common colour-vision deficiencies tell apart, and a light grey. Every colour mapping below takes its
#: colours from here; tests/test_palette.py checks that the colours of each mapping stay apart under simulated
#: protanopia, deuteranopia and tritanopia.
PALETTE = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00", "sky": "#56B4E9",
           "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000", "grey": "#BBBBBB"}
#: Error categories (the same colours everywhere in the book, the kernel-free explorer included).
CATEGORY_COLORS = {"harmful": PALETTE["vermillion"], "benign": PALETTE["grey"], "beneficial": PALETTE["green"],
                   "unclassified": PALETTE["black"]}
#: Which reward a curve measures: "true" = ground truth r_G, "proxy" = r_P.
REWARD_COLORS = {"true": PALETTE["blue"], "proxy": PALETTE["purple"]}  # the proxy: Okabe and Ito's reddish purple
#: stroke dash of each reward's curves (solid ground truth, dashed proxy)
REWARD_DASHES = {"true": [1, 0], "proxy": [6, 3]}
#: Sign of a contribution to dV_G/dt.
SIGN_COLORS = {"raises V_G": PALETTE["blue"], "lowers V_G": PALETTE["orange"], "no effect": PALETTE["grey"]}
#: Colours, in order, of any other nominal encoding (outputs, run labels, ...): Vega's category range in every chart
#: the renderer draws (``EMBED_OPTIONS``), and the series colours of the book's explorer.
SERIES_COLORS = [PALETTE[c] for c in ("blue", "orange", "black", "sky", "green", "vermillion", "purple", "yellow")]
#: Light colours: text on a fill of one of them is black (white on the others), and text in one of them on the white
#: page would be too faint, so it is written in black instead.
LIGHT_COLORS = frozenset({PALETTE["yellow"], PALETTE["grey"], PALETTE["sky"], PALETTE["orange"]})
#: Run-frame value columns and the reward each measures.
REWARD_OF_COLUMN = {"true_value": "true", "proxy_value": "proxy"}

STEP_TITLE = "step (SGD updates)"
WIDTH, HEIGHT = 440, 260  # one panel; faceted charts draw panels of FACET_WIDTH, two per row
FACET_WIDTH = 250
MAX_STEPS = 200

# ------------------------------------------------------------------------------------------------ renderer

#: vega-embed's options for the book's charts: the renderer's (:data:`labsupport.render.EMBED_OPTIONS`), with
#: SERIES_COLORS as Vega's category range
EMBED_OPTIONS = {**RENDER_OPTIONS, "config": {**RENDER_OPTIONS["config"], "range": {"category": SERIES_COLORS}}}
#: the renderer as it draws the book's charts: :func:`labsupport.render.render` with :data:`EMBED_OPTIONS`
render = functools.partial(render_chart, embed_options=EMBED_OPTIONS)


def enable() -> None:
    """Make the ``labsupport`` renderer (:mod:`labsupport.render`) Altair's active renderer, drawing with
    :data:`EMBED_OPTIONS` (done once when this module is imported)."""
    enable_renderer(**EMBED_OPTIONS)


enable()

# ------------------------------------------------------------------------------------------------ helpers


def _frame(data: Data, needed: Sequence[str | None], builder: str) -> pd.DataFrame:
    """``data`` as a DataFrame, checked for the columns ``builder`` needs."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    missing = [c for c in needed if c and c not in frame.columns]
    if missing:
        raise ValueError(f"{builder}: the data has no column(s) {missing}; its columns are {list(frame.columns)}")
    return frame


def _thin(frame: pd.DataFrame, x: str, max_steps: int | None, log: bool = False) -> pd.DataFrame:
    """Keep at most ``max_steps`` values of ``x`` (first and last included), evenly spaced in x or, with ``log``,
    about evenly in log x; all when None."""
    steps = np.unique(frame[x].to_numpy())
    if max_steps is None or len(steps) <= max_steps:
        return frame
    if max_steps < 2:
        raise ValueError(f"max_steps must be at least 2 or None; got {max_steps!r}")
    if log:
        picks = np.searchsorted(steps, np.geomspace(steps[0], steps[-1], max_steps)).clip(0, len(steps) - 1)
    else:
        picks = np.linspace(0, len(steps) - 1, max_steps).round().astype(int)
    return frame[frame[x].isin(steps[np.unique(picks)])]


def _data(frame: pd.DataFrame, columns: Sequence[str | None]) -> Records:
    """Inline records of ``columns`` (NaN -> null), bypassing Altair's row limit for DataFrames; plain Python values,
    which :func:`vegalite_spec` copies into the spec without Altair's conversion."""
    sub = frame[list(dict.fromkeys(c for c in columns if c))]
    names = list(sub.columns)
    if all(sub[c].dtype.kind in "biuf" or isinstance(sub[c].dtype, pd.StringDtype) for c in names) \
            and not sub.isna().to_numpy().any():  # the common case, 4x faster: columns' tolist() is plain already
        return Records(values=[dict(zip(names, row)) for row in zip(*(sub[c].tolist() for c in names))])
    return Records(values=sub.astype(object).where(sub.notna(), None).to_dict("records"))


def _line_records(frame: pd.DataFrame, x: str, y: str, color: str | None = None, *, detail: str | None = None,
                  dash: str | None = None, facet: str | None = None, tooltip: Sequence[str] = ()) -> Records:
    """The inline records :func:`line_chart` draws for its (already thinned) ``frame``: the columns ``x``, ``y``,
    the grouping columns, ``facet`` and ``tooltip``, in that order."""
    groups = [c for c in (color, dash, detail) if c]
    return _data(frame, [x, y, *groups, facet, *tooltip])


def _scale(colors: dict[str, str] | None, present: Iterable[object]) -> alt.Scale | alt.UndefinedType:
    """A fixed colour scale when every value present has a colour in ``colors``."""
    if colors and set(map(str, present)) <= set(colors):
        return alt.Scale(domain=list(colors), range=list(colors.values()))
    return alt.Undefined


def _finish(chart: Any, title: str, width: int | None, height: int, facet: str | None = None) -> Any:
    """Size the chart (``width`` None: the default for a single or a faceted panel), facet it by ``facet`` when
    given (two panels per row), and set its title."""
    chart = chart.properties(width=width or (FACET_WIDTH if facet else WIDTH), height=height)
    if facet:
        chart = chart.facet(facet=alt.Facet(f"{facet}:N", title=None), columns=2)
    return chart.properties(title=title)


# ------------------------------------------------------------------------------------------------ builders


def line_chart(data: Data, x: str, y: str, color: str | None = None, *, detail: str | None = None,
               dash: str | None = None, facet: str | None = None, colors: dict[str, str] | None = None,
               title: str, x_title: str, y_title: str, y_domain: tuple[float, float] | None = None,
               tooltip: Sequence[str] = (), max_steps: int | None = MAX_STEPS, width: int | None = None,
               height: int = HEIGHT) -> alt.Chart:
    """Lines of quantitative ``y`` against quantitative ``x``.

    One line per combination of ``color``, ``detail`` (e.g. the run), ``dash`` and ``facet`` values (all nominal
    columns). ``colors`` maps values of ``color`` to colours (used when it covers them all). Hovering a line shows
    ``x``, ``y``, the grouping columns and ``tooltip`` columns. ``x`` is thinned to ``max_steps`` values.
    """
    frame = _thin(_frame(data, [x, y, color, detail, dash, facet, *tooltip], "line_chart"), x, max_steps)
    keys = [c for c in dict.fromkeys([x, color, dash, detail, facet]) if c]
    if frame.duplicated(keys).any():
        raise ValueError(f"line_chart: several rows share the same {keys}, so their lines would be mixed up; pass the "
                         f"column that tells them apart (e.g. 'label') as color, dash or facet")
    groups = [c for c in (color, dash, detail) if c]
    tips = [alt.Tooltip(f"{c}:N") for c in dict.fromkeys([*groups, facet]) if c]
    tips += [alt.Tooltip(f"{x}:Q", title=x_title), alt.Tooltip(f"{y}:Q", title=y_title, format=".4g")]
    tips += [alt.Tooltip(f"{c}:Q", format=".4g") if pd.api.types.is_numeric_dtype(frame[c]) else alt.Tooltip(f"{c}:N")
             for c in tooltip]
    multi_runs = detail is not None and frame[detail].nunique() > 1
    enc = dict(
        x=alt.X(f"{x}:Q", title=x_title),
        y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(domain=list(y_domain)) if y_domain else alt.Undefined),
        tooltip=tips,
    )
    if color:  # legends above faceted panels, which would push a legend on the right out of the page
        enc["color"] = alt.Color(f"{color}:N", title=color, scale=_scale(colors, frame[color].unique()),
                                 legend=alt.Legend(orient="top") if facet else alt.Undefined)
    if dash:
        rewards = set(map(str, frame[dash].unique())) <= set(REWARD_DASHES)  # ground truth solid, proxy dashed
        enc["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=dash,
                                           scale=alt.Scale(domain=list(REWARD_DASHES),
                                                           range=list(REWARD_DASHES.values()))
                                           if rewards else alt.Undefined,
                                           legend=alt.Legend(orient="top") if facet else alt.Undefined)
    if detail:
        enc["detail"] = alt.Detail(f"{detail}:N")
    # Invisible points carry the tooltips (a line mark alone would show the first point of the whole line).
    records = _line_records(frame, x, y, color, detail=detail, dash=dash, facet=facet, tooltip=tooltip)
    mark = alt.Chart(records).mark_line(
        strokeWidth=1.2 if multi_runs else 2, opacity=0.6 if multi_runs else 1,
        point=alt.OverlayMarkDef(filled=True, opacity=0, size=40))
    return _finish(mark.encode(**enc), title, width, height, facet)


def _value_frame(data: Data, values: Sequence[str], color: str | None) -> tuple[pd.DataFrame, str | None]:
    """:func:`value_curves`' data in long form (columns step, run, ``color``, reward, expected reward; reward is
    "true" / "proxy" for the columns of :data:`REWARD_OF_COLUMN`) and the colour column it draws (``None`` when
    ``color`` is the default ``label`` and the data has no such column)."""
    frame = _frame(data, (), "value_curves")
    color = None if color == "label" and "label" not in frame.columns else color
    frame = _frame(frame, ["step", "run", *values, color], "value_curves")
    frame = frame.drop_duplicates(["step", "run", *values, *([color] if color else [])])  # run frames: 1 row/output
    long = frame.melt(id_vars=[c for c in ("step", "run", color) if c], value_vars=list(values),
                      var_name="reward", value_name="expected reward")
    long["reward"] = long["reward"].map(lambda c: REWARD_OF_COLUMN.get(c, c))
    return long, color


def value_curves(data: Data, value: str | Sequence[str] = "true_value", color: str | None = "label", *,
                 title: str = "Expected reward during training", y_title: str | None = None,
                 max_steps: int | None = MAX_STEPS, width: int | None = None, height: int = HEIGHT) -> alt.Chart:
    """Expected reward over training steps: one line per run, coloured by ``color`` (e.g. ``label``).

    ``value``: ``"true_value"`` (ground truth V_G), ``"proxy_value"`` (V_P) or both as a list; with two values and
    a ``color`` column the proxy curves are dashed; with ``color=None`` the curves are coloured by reward (also
    when the default ``label`` column is absent, e.g. for a single ``Run.to_frame()``).
    """
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise ValueError("value_curves: value must name at least one column, e.g. 'true_value'")
    long, color = _value_frame(data, values, color)
    if y_title is None:
        names = {"true_value": "expected ground-truth reward V_G", "proxy_value": "expected proxy reward V_P"}
        y_title = names.get(values[0], values[0]) if len(values) == 1 else "expected reward"
    by_reward = color is None
    return line_chart(long, "step", "expected reward", "reward" if by_reward else color, detail="run",
                      dash="reward" if color and len(values) > 1 else None,
                      colors=REWARD_COLORS if by_reward else None, title=title, x_title=STEP_TITLE,
                      y_title=y_title, max_steps=max_steps, width=width, height=height)


def prob_curves(data: Data, color: str = "output", facet: str | None = "label", *, outputs: Sequence[str] | None = None,
                title: str = "Probability of each output during training", max_steps: int | None = MAX_STEPS,
                width: int | None = None, height: int = HEIGHT) -> alt.Chart:
    """Probability of each output over training steps, one line per (output, run), coloured by ``color``.

    ``facet``: a column to draw side-by-side panels for (ignored when the data has no such column).
    ``outputs``: only these outputs. A ``color`` column holding categories (harmful, ...) uses the category colours.
    """
    frame = _frame(data, ["step", "run", "output", "prob", color], "prob_curves")
    if outputs is not None:
        frame = frame[frame["output"].isin(list(outputs))]
    facet = facet if facet in frame.columns else None
    return line_chart(frame, "step", "prob", color, detail="run", facet=facet, colors=CATEGORY_COLORS,
                      title=title, x_title=STEP_TITLE, y_title="probability", y_domain=(0, 1),
                      tooltip=["output"] if color != "output" else (), max_steps=max_steps,
                      width=width, height=height)


def _category(value: object) -> str:
    """The category a cell names (harmful / benign / beneficial / unclassified), or "" for other cells."""
    text = str(value).lower()
    return next((c for c in ("harmful", "beneficial", "benign", "unclassified") if c in text), "")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


#: the category table's cells: column width (px), font size, line height (px), and the width of one character of
#: that font, estimated on the wide side, by which a cell's text is broken into lines that fit its column
CELL_WIDTH, CELL_FONT, CELL_LINE, CELL_CHAR = 80, 11, 13, 6.5


def _wrap(text: str, width: float) -> str:
    """``text`` broken at spaces into lines of at most ``width`` px (estimated), joined by newlines; a word longer
    than that keeps a line of its own."""
    return "\n".join(textwrap.wrap(text, max(1, int(width // CELL_CHAR)), break_long_words=False)) or text


def _table_cells(data: Data, columns: Sequence[str] | None = None, cell_width: int = CELL_WIDTH
                 ) -> tuple[list[str], list[str], list[str], list[dict[str, str]], int]:
    """What :func:`category_table` draws: its columns, its row labels, the extra tooltip columns (rule, evidence),
    one inline record per cell (row, column, text broken into lines that fit ``cell_width``, category and the extra
    columns) and the most lines a cell takes."""
    frame = _frame(data, ["output"], "category_table").reset_index(drop=True)
    shown = ("r_true", "r_proxy", "pi0", "predicted", "kind", "measured", "effect")
    columns = [c for c in shown if c in frame.columns] if columns is None else list(columns)
    _frame(frame, columns, "category_table")
    several = "run" in frame.columns and frame["run"].nunique() > 1
    rows = [f"run {r.run}: {r.output}" if several else str(r.output) for r in frame.itertuples()]
    extra = [c for c in ("rule", "evidence") if c in frame.columns]
    cells = [dict(row=rows[i], column=c, text=_wrap(_cell(frame.at[i, c]), cell_width - 8),
                  category=_category(frame.at[i, c]) if c in ("predicted", "measured") else "",
                  **{e: _cell(frame.at[i, e]) for e in extra})
             for i in range(len(frame)) for c in columns]
    return columns, rows, extra, cells, max((cell["text"].count("\n") + 1 for cell in cells), default=1)


def category_table(data: Data, columns: Sequence[str] | None = None, *,
                   title: str = "Reward errors and their categories",
                   cell_width: int = CELL_WIDTH, row_height: int = 24) -> alt.Chart:
    """A :func:`labsupport.categorize` frame drawn as a table; the predicted and measured cells take the colour of
    their category. Hover a row for the rule that fired and the measured evidence.

    ``columns``: which columns to show (default: those of r_true, r_proxy, pi0, predicted, kind, measured, effect
    that the frame has). Rows are labelled by output (and run, when the frame holds several runs). Every column is
    ``cell_width`` px wide; a text longer than that (e.g. the kind "demoted mediocre output") is broken into lines,
    and every row is then tall enough for the most lines a cell takes (at least ``row_height`` px).
    """
    columns, rows, extra, cells, lines = _table_cells(data, columns, cell_width)
    base = alt.Chart().encode(  # the data joins the layer last: Altair deep-copies the layers' data when combining
        x=alt.X("column:N", sort=columns, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("row:N", sort=rows, title="output"),
        tooltip=[alt.Tooltip("row:N", title="output"), alt.Tooltip("column:N"), alt.Tooltip("text:N", title="value"),
                 *[alt.Tooltip(f"{e}:N") for e in extra]],
    )
    rect = base.mark_rect(stroke="white").encode(color=alt.Color(
        "category:N", title="category",
        scale=alt.Scale(domain=[*CATEGORY_COLORS, ""], range=[*CATEGORY_COLORS.values(), "#f2f2f2"]),
        legend=alt.Legend(values=list(CATEGORY_COLORS), orient="bottom", direction="horizontal")))
    light = json.dumps(["", *(k for k, c in CATEGORY_COLORS.items() if c in LIGHT_COLORS)])  # black text on these
    # Channel objects, not a shorthand string or alt.condition's dict, which Altair would parse against the schema
    # on every call (several ms; the explorer builds this table on every slider change). The spec is the same.
    # a cell's lines are centred on its row: the first is lifted by half a line per line below it
    text = base.mark_text(fontSize=CELL_FONT, lineBreak="\n", lineHeight=CELL_LINE, limit=cell_width - 6,
                          dy=alt.expr(f"-{CELL_LINE / 2} * (length(split(datum.text, '\\n')) - 1)")).encode(
        text=alt.Text("text:N"), color=alt.ColorValue(**alt.condition(f"indexof({light}, datum.category) >= 0",
                                                                       alt.value("black"), alt.value("white"))))
    height = max(row_height, CELL_LINE * lines + 10)
    return (rect + text).properties(title=title, width=cell_width * len(columns),
                                    height=height * max(len(rows), 2), data=Records(values=cells))


def decomposition_bars(data: Data, value: str = "term", color: str | None = None, facet: str | None = None, *,
                       title: str = "Contribution of each output to dV_G/dt",
                       x_title: str = "contribution to dV_G/dt (reward per unit of training time)",
                       width: int | None = None, height: int | None = None) -> alt.Chart:
    """Horizontal bars: each output's term of the dV_G/dt decomposition (columns output and ``value``).

    Bars are coloured by ``color`` (a category column such as ``predicted`` uses the category colours) or, when it
    is None, by sign (raises / lowers V_G). ``facet``: a column to draw side-by-side panels for.
    """
    frame = _frame(data, ["output", value, color, facet], "decomposition_bars").copy()
    if color is None:
        color = "sign"
        frame[color] = np.select([frame[value] > 0, frame[value] < 0], ["raises V_G", "lowers V_G"], "no effect")
    colors = SIGN_COLORS if color == "sign" else CATEGORY_COLORS
    order = list(dict.fromkeys(frame["output"].astype(str)))
    frame["output"] = frame["output"].astype(str)
    base = alt.Chart(_data(frame, ["output", value, color, facet]))
    bars = base.mark_bar().encode(
        x=alt.X(f"{value}:Q", title=x_title),
        y=alt.Y("output:N", sort=order, title="output"),
        color=alt.Color(f"{color}:N", title=color, scale=_scale(colors, frame[color].unique())),
        tooltip=[alt.Tooltip("output:N"), alt.Tooltip(f"{value}:Q", title=x_title, format=".4g"),
                 alt.Tooltip(f"{color}:N"), *([alt.Tooltip(f"{facet}:N")] if facet else [])],
    )
    zero = base.mark_rule(color="black").encode(x=alt.datum(0))
    return _finish(bars + zero, title, width, height or 22 * len(order), facet)


# ------------------------------------------------------------------------------------------------ bands, explorer
# Curves with a spread band and optional log axes, and a kernel-free explorer of a
# precomputed grid (two range sliders bound to Altair parameters). Column names are passed as fields, not as
# Altair shorthands, so names such as "pi_0(y*)" are taken literally.


def _positive(frame: pd.DataFrame, columns: Sequence[str | None], builder: str, what: str) -> None:
    """A ValueError unless every value of ``columns`` is > 0 (log axes)."""
    for c in columns:
        if c and not (frame[c].dropna() > 0).all():
            raise ValueError(f"{builder}: {what} needs positive values, but column {c!r} has values <= 0 "
                             f"(on a step axis, drop step 0 before charting)")


def _axis(log: bool) -> alt.Axis | alt.UndefinedType:
    """The axis of a scale, log or not. A log axis removes overlapping labels greedily, left to right (Vega-Lite's
    own choice for log axes, which the renderer's ``labelOverlap: true`` would replace by parity: every other label
    dropped until none overlap, decades included, on an axis whose ticks are not evenly spaced)."""
    return alt.Axis(labelOverlap="greedy") if log else alt.Undefined


def _tip(frame: pd.DataFrame, column: str, title: str | None = None) -> alt.Tooltip:
    if pd.api.types.is_numeric_dtype(frame[column]):
        return alt.Tooltip(field=column, type="quantitative", title=title or column, format=".4g")
    return alt.Tooltip(field=column, type="nominal", title=title or column)


def band_curves(data: Data, x: str, y: str, color: str | None = None, *, low: str | None = None,
                high: str | None = None, dash: str | None = None, detail: str | None = None,
                facet: str | None = None, colors: dict[str, str] | None = None, title: str, x_title: str,
                y_title: str, log_x: bool = False, log_y: bool = False,
                y_domain: tuple[float, float] | None = None, points: bool | Sequence[str] = False,
                tooltip: Sequence[str] = (),
                max_steps: int | None = MAX_STEPS, width: int | None = None, height: int = HEIGHT) -> alt.TopLevelMixin:
    """Lines of quantitative ``y`` against ``x``, each with an optional shaded band from column ``low`` to ``high``.

    The band draws a spread computed before charting, e.g. the mean of V_G over seeds as ``y`` and its 10% and 90%
    quantiles per step as ``low`` and ``high``. One line (and band) per combination of ``color``, ``dash``,
    ``detail`` and ``facet`` values (nominal columns; ``facet`` draws side-by-side panels, two per row); ``colors``
    maps values of ``color`` to colours (used when it covers them all).

    ``log_x`` / ``log_y``: logarithmic axes (the columns must then be positive). ``x`` is thinned to at most
    ``max_steps`` values, evenly spaced in log x with ``log_x`` and evenly spaced otherwise (None keeps all).
    ``points``: True draws a visible point at every row (for short series, e.g. a scaling study); a list of values
    of ``dash`` draws points only on those lines (e.g. on measurements, not on fitted lines). Hovering shows
    ``x``, ``y``, the band limits, the grouping columns and the ``tooltip`` columns.
    """
    if (low is None) != (high is None):
        raise ValueError(f"band_curves: give both low and high, or neither; got low={low!r}, high={high!r}")
    if not isinstance(points, bool) and dash is None:
        raise ValueError(f"band_curves: points={points!r} names values of the dash column, but dash is None")
    frame = _frame(data, [x, y, low, high, color, dash, detail, facet, *tooltip], "band_curves")
    if log_x:
        _positive(frame, [x], "band_curves", "log_x")
    if log_y:
        _positive(frame, [y, low, high], "band_curves", "log_y")
    frame = _thin(frame, x, max_steps, log=log_x)
    keys = [c for c in dict.fromkeys([x, color, dash, detail, facet]) if c]
    if frame.duplicated(keys).any():
        raise ValueError(f"band_curves: several rows share the same {keys}, so their lines would be mixed up; pass "
                         f"the column that tells them apart (e.g. 'label') as color, dash, detail or facet")
    groups = [c for c in dict.fromkeys([color, dash, detail]) if c]
    tips = [alt.Tooltip(field=c, type="nominal") for c in dict.fromkeys([*groups, facet]) if c]
    tips += [_tip(frame, x, x_title), _tip(frame, y, y_title), *[_tip(frame, c) for c in (low, high) if c]]
    tips += [_tip(frame, c) for c in tooltip]
    y_scale = alt.Scale(type="log" if log_y else "linear", domain=list(y_domain) if y_domain else alt.Undefined)
    common: dict[str, Any] = {"x": alt.X(field=x, type="quantitative", title=x_title, axis=_axis(log_x),
                         scale=alt.Scale(type="log") if log_x else alt.Undefined)}
    legend = alt.Legend(orient="top") if facet else alt.Undefined
    if color:
        common["color"] = alt.Color(field=color, type="nominal", title=color,
                                    scale=_scale(colors, frame[color].unique()), legend=legend)
    line = dict(common, y=alt.Y(field=y, type="quantitative", title=y_title, scale=y_scale, axis=_axis(log_y)),
                tooltip=tips)
    if dash:
        order = list(dict.fromkeys(frame[dash].astype(str)))  # dash patterns by first appearance: first is solid
        line["strokeDash"] = alt.StrokeDash(field=dash, type="nominal", title=dash, sort=order, legend=alt.Legend(
            symbolType="stroke", symbolStrokeColor="black", orient="top" if facet else alt.Undefined))
    separate = [c for c in (dash, detail) if c]  # one band per line, also where lines differ only in dash
    layers = []
    if low and high:
        area = dict(common, y=alt.Y(field=low, type="quantitative", title=y_title, scale=y_scale, axis=_axis(log_y)),
                    y2=alt.Y2(field=high))
        if separate:
            area["detail"] = [alt.Detail(field=c, type="nominal") for c in separate]
        layers.append(alt.Chart().mark_area(opacity=0.2).encode(**area))
    if detail:
        line["detail"] = alt.Detail(field=detail, type="nominal")
    # Points are layers of their own, without strokeDash (a point overlay on the line would hide the dash legend's
    # symbols): invisible ones carry the tooltips, visible ones (``points``) mark the rows.
    layers.append(alt.Chart().mark_line(strokeWidth=2).encode(**{k: v for k, v in line.items() if k != "tooltip"}))
    dot = {k: v for k, v in line.items() if k != "strokeDash"}
    if dash:
        dot["detail"] = [alt.Detail(field=c, type="nominal") for c in separate]
    layers.append(alt.Chart().mark_point(filled=True, size=40, opacity=0).encode(**dot))
    if points is not False:
        dots = alt.Chart().mark_point(filled=True, size=45, opacity=1).encode(**dot)
        if points is not True and dash is not None:
            dots = dots.transform_filter(alt.FieldOneOfPredicate(field=dash, oneOf=[str(v) for v in points]))
        layers.append(dots)
    chart = alt.layer(*layers, data=_data(frame, [x, y, low, high, *groups, facet, *tooltip]))
    return _finish(chart, title, width, height, facet)


def _slider_values(cells: pd.DataFrame, column: str) -> tuple[np.ndarray, float]:
    """The sorted grid values of a slider column and their (even) spacing."""
    values = np.unique(cells[column].to_numpy(dtype=float))
    if len(values) < 2:
        raise ValueError(f"category_explorer: column {column!r} must take at least 2 values to drive a slider; "
                         f"got {values.tolist()}")
    gaps = np.diff(values)
    if not np.allclose(gaps, gaps[0], rtol=1e-6, atol=1e-12):
        raise ValueError(f"category_explorer: the values of {column!r} must be evenly spaced (a slider has one "
                         f"step); got {values.tolist()}")
    return values, float(np.round(gaps.mean(), 12))


def _near(column: str, param: str, half: float, any_when_missing: bool = False) -> str:
    """Vega expression: the datum's ``column`` equals the slider ``param`` within half a slider step (and, with
    ``any_when_missing``, a missing value matches every slider position)."""
    field = f"datum[{json.dumps(column)}]"
    test = f"abs({field} - {param}) < {half!r}"
    return f"(!isValid({field}) || {test})" if any_when_missing else f"({test})"


def category_explorer(curves: pd.DataFrame, cells: pd.DataFrame, first: str, second: str, *, first_title: str,
                      second_title: str, x: str = "step", y: str = "true_value", color: str = "label",
                      categories: Sequence[str] = ("predicted",), notes: Sequence[str] = (),
                      colors: dict[str, str] | None = None, title: str, x_title: str = STEP_TITLE,
                      y_title: str = "expected ground-truth reward V_G", y_domain: tuple[float, float] | None = None,
                      y_rule: float | None = None, log_x: bool = False, initial: tuple[float, float] | None = None,
                      max_steps: int | None = 80, decimals: int = 4, width: int | None = None,
                      height: int = HEIGHT, cell_size: int = 26, wrap: int = 90) -> alt.TopLevelMixin:
    """A kernel-free explorer of a precomputed grid: two sliders pick a cell; its curves and categories show.

    Everything is computed before charting; the chart only filters the embedded data, so it works in a static
    page (no kernel, no server).

    Args:
        curves: tidy frame, columns ``first``, ``second``, ``x``, ``y``, ``color``: one line per ``color`` value and
            cell. A missing value (NaN or None) in ``first`` or ``second`` means the row holds for every value of that
            slider (e.g. a run trained on r_G does not depend on the proxy), so such curves are stored once.
        cells: one row per combination of the slider values (every combination exactly once, checked), with the
            columns ``first``, ``second``, the ``categories`` columns (text naming a category: harmful, benign,
            beneficial or unclassified, possibly followed by more words) and the ``notes`` columns (any text).
        first, second: the grid columns the two sliders set; the values of each must be evenly spaced.
        first_title, second_title: the sliders' labels (also the axis titles of the maps).
        categories: columns drawn as maps of the whole grid coloured by category (the selected cell outlined) and
            as coloured lines of text for the selected cell.
        notes: text columns shown for the selected cell below the categories, wrapped at ``wrap`` characters.
        colors: colours of the ``color`` values. y_domain: the y range (default: the range of all curves, so the
            axis stays put while the sliders move). y_rule: a dashed horizontal line at this y (e.g. a target).
        log_x: logarithmic x axis (``x`` must be positive). initial: the sliders' starting values (default: the
            smallest of each). max_steps: keep at most this many ``x`` values (evenly spaced, in log x with
            ``log_x``). decimals: ``y`` is rounded to this many decimals in the page.

    Returns:
        A vertically concatenated chart (curves; maps; the selected cell in words) whose two parameters,
        ``slider_<first>`` and ``slider_<second>`` (non-identifier characters replaced by ``_``), are bound to
        range sliders.
    """
    import re

    if not categories:
        raise ValueError("category_explorer: categories must name at least one column, e.g. 'predicted'")
    cells = _frame(cells, [first, second, *categories, *notes], "category_explorer").reset_index(drop=True)
    curves = _frame(curves, [first, second, x, y, color], "category_explorer")
    if cells[[first, second]].isna().any().any():
        raise ValueError(f"category_explorer: cells must give {first!r} and {second!r} in every row")
    (v1, step1), (v2, step2) = _slider_values(cells, first), _slider_values(cells, second)
    if cells.duplicated([first, second]).any() or len(cells) != len(v1) * len(v2):
        raise ValueError(f"category_explorer: cells must hold every combination of {first!r} ({len(v1)} values) "
                         f"and {second!r} ({len(v2)} values) exactly once; got {len(cells)} rows")
    for column, values, step in ((first, v1, step1), (second, v2, step2)):
        given = curves[column].dropna().to_numpy(dtype=float)
        off = np.abs(given[:, None] - values[None, :]).min(1) > step / 100
        if off.any():
            raise ValueError(f"category_explorer: curves has {column!r} = {given[off][0]!r}, which is not a grid "
                             f"value {values.tolist()}")
    if log_x:
        _positive(curves, [x], "category_explorer", "log_x")
    curves = _thin(curves, x, max_steps, log=log_x).copy()
    curves[y] = curves[y].round(decimals)

    start = (v1[0], v2[0]) if initial is None else initial
    names = [f"slider_{re.sub(r'[^0-9A-Za-z_]', '_', c)}" for c in (first, second)]
    params = [alt.param(name=n, value=float(s), bind=alt.binding_range(min=float(v[0]), max=float(v[-1]), step=st,
                                                                        name=f"{label} "))
              for n, s, v, st, label in zip(names, start, (v1, v2), (step1, step2), (first_title, second_title))]
    halves = (step1 / 2, step2 / 2)
    pick_curve = " && ".join(_near(c, n, h, any_when_missing=True) for c, n, h in zip((first, second), names, halves))
    pick_cell = " && ".join(_near(c, n, h) for c, n, h in zip((first, second), names, halves))
    ink = ["black" if c in LIGHT_COLORS else c for c in CATEGORY_COLORS.values()]  # text on the white page
    text_colors = alt.Scale(domain=[*CATEGORY_COLORS, ""], range=[*ink, "black"])
    fill_colors = alt.Scale(domain=list(CATEGORY_COLORS), range=list(CATEGORY_COLORS.values()))
    panel_width = width or WIDTH

    # the selected cell's curves
    lo, hi = (float(curves[y].min()), float(curves[y].max())) if y_domain is None else y_domain
    x_scale = alt.Scale(type="log" if log_x else "linear", domain=[float(curves[x].min()), float(curves[x].max())])
    lines = alt.Chart(_data(curves, [first, second, x, y, color])).mark_line(
        strokeWidth=2, point=alt.OverlayMarkDef(filled=True, opacity=0, size=40)).encode(
        x=alt.X(field=x, type="quantitative", title=x_title, scale=x_scale, axis=_axis(log_x)),
        y=alt.Y(field=y, type="quantitative", title=y_title, scale=alt.Scale(domain=[lo, hi])),
        color=alt.Color(field=color, type="nominal", title=color, scale=_scale(colors, curves[color].unique()),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip(field=color, type="nominal"), _tip(curves, x, x_title), _tip(curves, y, y_title)],
    ).transform_filter(pick_curve).add_params(*params)
    panel = lines
    if y_rule is not None:
        rule = alt.Chart(Records(values=[{"y": float(y_rule)}])).mark_rule(strokeDash=[4, 4], color="black")
        panel = alt.layer(lines, rule.encode(y=alt.Y(field="y", type="quantitative")))
    panel = panel.properties(width=panel_width, height=height, title="The selected cell during training")

    # one map of the whole grid per category column, the selected cell outlined
    grid = cells[[first, second]].astype(float)
    for i, c in enumerate(categories):
        grid[f"text_{i}"] = cells[c].map(_cell)
        grid[f"category_{i}"] = cells[c].map(_category)
    maps = []
    for i, c in enumerate(categories):
        maps.append(alt.Chart(_data(grid, [first, second, f"text_{i}", f"category_{i}"])).mark_rect().encode(
            x=alt.X(field=first, type="ordinal", title=first_title, axis=alt.Axis(format="~g", labelAngle=-45)),
            y=alt.Y(field=second, type="ordinal", title=second_title, sort="descending", axis=alt.Axis(format="~g")),
            color=alt.Color(field=f"category_{i}", type="nominal", title="category", scale=fill_colors),
            stroke=alt.condition(pick_cell, alt.value("black"), alt.value("white")),
            strokeWidth=alt.condition(pick_cell, alt.value(3), alt.value(0.5)),
            tooltip=[alt.Tooltip(field=first, type="quantitative", title=first_title, format=".4g"),
                     alt.Tooltip(field=second, type="quantitative", title=second_title, format=".4g"),
                     alt.Tooltip(field=f"text_{i}", type="nominal", title=c)],
        ).properties(width=cell_size * len(v1), height=cell_size * len(v2), title=f"{c}: the whole grid"))

    # the selected cell in words: slider values, categories (coloured), notes (wrapped)
    said_rows: list[dict[str, Any]] = []
    for row in cells.to_dict("records"):
        said = [(f"{first_title} = {row[first]:.4g}, {second_title} = {row[second]:.4g}", "")]
        said += [(f"{c}: {_cell(row[c])}", _category(row[c])) for c in categories]
        for c in notes:
            said += [(part, "") for part in textwrap.wrap(f"{c}: {_cell(row[c])}", wrap)]
        said_rows += [{first: float(row[first]), second: float(row[second]), "line": k, "text": t, "category": cat}
                      for k, (t, cat) in enumerate(said)]
    n_lines = max(r["line"] for r in said_rows) + 1
    words = alt.Chart(Records(values=said_rows)).mark_text(
        align="left", baseline="middle", fontSize=12, limit=panel_width + 60).encode(
        x=alt.value(0), y=alt.Y(field="line", type="ordinal", axis=None), text=alt.Text(field="text", type="nominal"),
        color=alt.Color(field="category", type="nominal", scale=text_colors, legend=None),
    ).transform_filter(pick_cell).properties(width=panel_width + 60, height=18 * n_lines,
                                             view=alt.ViewBackground(stroke=None), title="The selected cell in words")
    return (alt.vconcat(panel, alt.hconcat(*maps), words).properties(title=title)
            .resolve_scale(color="independent"))


# ------------------------------------------------------------------------------------------------ simplex and sign map
# Builders added for chapters 2 and 4: where a policy of the toy moves (drawn on the probability simplex of three
# groups of outputs) and where each reward error sits among the categories of the rules (the advantages' signs).

#: corners of the simplex in the plane: the first group on top, the second bottom left, the third bottom right
_CORNERS = ((0.5, math.sqrt(3) / 2), (0.0, 0.0), (1.0, 0.0))


def _barycentric(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Plane coordinates (x, y) of the points whose three weights are ``columns`` (corners at :data:`_CORNERS`);
    applied to velocities (columns summing to 0) it gives their direction in the plane."""
    weights = frame[list(columns)].to_numpy(float)
    corners = np.array(_CORNERS)
    return weights @ corners[:, 0], weights @ corners[:, 1]


def simplex_flow(field: pd.DataFrame, paths: pd.DataFrame, corners: Sequence[str], velocities: Sequence[str], *,
                 panel: str, title: str, corner_titles: Sequence[str], path: str = "start", step: str = "step",
                 marks: Sequence[int] = (0, 10, 100, 1_000, 10_000, 100_000),
                 colors: dict[str, str] | None = None, arrow: float = 0.045,
                 width: int = FACET_WIDTH) -> alt.HConcatChart:
    """A flow on the probability simplex of three groups of outputs, one panel per value of ``panel``.

    ``field``: one row per grid point and panel, with the three probabilities ``corners`` (summing to 1) and their
    time derivatives ``velocities`` (e.g. from ``labsupport.theory.prob_velocity``, summed over each group). Each
    row draws a short arrow of length ``arrow`` (in units of the triangle's side) in the direction of motion, shaded
    by the speed (log scale; faint arrows: the policy barely moves there). ``paths``: one row per recorded step of
    each trajectory (``path`` names it, ``step`` orders it) with the same ``corners``; drawn as lines over the field,
    with a dot at each recorded step listed in ``marks`` (log-spaced by default, so dots that pile up show where a
    run lingers for decades of steps). ``colors`` maps panel values to the colour of their trajectories.

    Geometry only: barycentric coordinates become the plane with corner ``corners[0]`` on top, ``corners[1]`` bottom
    left and ``corners[2]`` bottom right (labelled ``corner_titles``); the speed shown is the length of the velocity
    in that plane. The simplex has no axes: its corners are its scale.
    """
    if len(corners) != 3 or len(velocities) != 3 or len(corner_titles) != 3:
        raise ValueError(f"simplex_flow: corners, velocities and corner_titles need three names each; got "
                         f"{list(corners)!r}, {list(velocities)!r}, {list(corner_titles)!r}")
    field = _frame(field, [*corners, *velocities, panel], "simplex_flow").copy()
    paths = _frame(paths, [*corners, path, step, panel], "simplex_flow").sort_values([panel, path, step]).copy()
    field["x"], field["y"] = _barycentric(field, corners)
    dx, dy = _barycentric(field, velocities)
    speed = np.hypot(dx, dy)
    if not (speed > 0).all():
        raise ValueError("simplex_flow: every row of field needs a nonzero velocity (a direction to draw)")
    field["x2"], field["y2"] = field["x"] + arrow * dx / speed, field["y"] + arrow * dy / speed
    field["angle"] = 90 - np.degrees(np.arctan2(dy, dx))   # clockwise from "up", as Vega-Lite turns a triangle
    field["log10 speed"] = np.log10(speed)
    paths["x"], paths["y"] = _barycentric(paths, corners)
    height = round(width * _CORNERS[0][1])
    sx, sy = alt.Scale(domain=[-0.08, 1.08]), alt.Scale(domain=[-0.1, _CORNERS[0][1] + 0.1])
    x = alt.X(field="x", type="quantitative", axis=None, scale=sx)
    y = alt.Y(field="y", type="quantitative", axis=None, scale=sy)
    edge = pd.DataFrame([*_CORNERS, _CORNERS[0]], columns=["x", "y"]).assign(order=range(4))
    names = pd.DataFrame({"x": [c[0] for c in _CORNERS], "y": [c[1] + 0.05 if i == 0 else -0.06
                                                                for i, c in enumerate(_CORNERS)],
                          "text": list(corner_titles)})
    shade = alt.Color(field="log10 speed", type="quantitative", scale=alt.Scale(scheme="greys"),
                      legend=alt.Legend(title="log10 speed |dπ/dt|", orient="bottom"))
    tips = [*(_tip(field, c) for c in corners), *(_tip(field, c) for c in velocities)]
    panels = []
    for value in dict.fromkeys(field[panel]):
        here, runs = field[field[panel] == value], paths[paths[panel] == value]
        line_color = (colors or {}).get(value, REWARD_COLORS["true"])
        layers = [
            alt.Chart(_data(edge, ["x", "y", "order"])).mark_line(color="black", strokeWidth=1).encode(
                x=x, y=y, order=alt.Order(field="order", type="quantitative")),
            alt.Chart(_data(here, ["x", "y", "x2", "y2", "log10 speed", *corners, *velocities])).mark_rule(
                strokeWidth=1.2).encode(x=x, y=y, x2=alt.X2(field="x2"), y2=alt.Y2(field="y2"), color=shade,
                                        tooltip=tips),
            alt.Chart(_data(here, ["x2", "y2", "angle", "log10 speed"])).mark_point(
                shape="triangle-up", filled=True, size=18, opacity=1).encode(
                x=alt.X(field="x2", type="quantitative", axis=None, scale=sx),
                y=alt.Y(field="y2", type="quantitative", axis=None, scale=sy),
                angle=alt.Angle(field="angle", type="quantitative", scale=None), color=shade),
            alt.Chart(_data(runs, ["x", "y", path, step, *corners])).mark_line(
                color=line_color, strokeWidth=2.2).encode(
                x=x, y=y, detail=alt.Detail(field=path, type="nominal"),
                order=alt.Order(field=step, type="quantitative")),
            alt.Chart(_data(runs[runs[step].isin(list(marks))], ["x", "y", path, step, *corners])).mark_point(
                color=line_color, filled=True, size=30, opacity=1).encode(
                x=x, y=y, tooltip=[_tip(runs, path), _tip(runs, step), *(_tip(runs, c) for c in corners)]),
            alt.Chart(_data(names, ["x", "y", "text"])).mark_text(fontSize=12, fontWeight="bold").encode(
                x=x, y=y, text=alt.Text(field="text", type="nominal")),
        ]
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=str(value),
                                                    view=alt.ViewBackground(stroke=None)))
    return alt.hconcat(*panels).properties(title=title)


#: The quadrants of the sign map: (A_G > 0, A_P > 0) -> the category the rules of ``labsupport.theory.predict``
#: give an output there (with non-negligible probability), and the rule in words.
SIGN_REGIONS = {
    (False, False): ("benign", "below the mean: benign"),
    (False, True): ("harmful", "stalling or reward hacking: harmful"),
    (True, False): ("beneficial", "demoted mediocre output: beneficial\n(hides the best output: harmful)"),
    (True, True): ("unclassified", "both above the mean:\nthe rules are silent"),
}
#: line height (px) of the labels of :data:`SIGN_REGIONS` on the sign map (font size 11)
SIGN_LINE_HEIGHT = 13


def sign_map(data: Data, x: str = "A_G", y: str = "A_P", color: str = "error", *, step: str = "step", title: str,
             x_title: str = "ground-truth advantage A_G(y)", y_title: str = "proxy advantage A_P(y)",
             width: int = WIDTH, height: int = WIDTH) -> alt.Chart:
    """Where each reward error sits among the rules' categories, and how it moves as the policy trains.

    ``data``: one row per error (named by ``color``) and recorded step, with the error's advantages ``x`` (ground
    truth) and ``y`` (proxy) at that step's policy, e.g. from ``labsupport.theory.advantages`` on a run's recorded
    policies. The four quadrants are shaded in the colour of the category the rules give there
    (:data:`SIGN_REGIONS`, colours of :data:`CATEGORY_COLORS`) and labelled with the rule. Each error's path over
    training is a line; a slider ("training record") moves a dot along every path, starting at the initial policy,
    where the rules read the signs. The slider runs over the recorded steps in order (so log-spaced records move
    evenly through decades).
    """
    frame = _frame(data, [x, y, color, step], "sign_map").sort_values([color, step]).copy()
    frame["record"] = frame.groupby(color)[step].rank(method="dense").astype(int) - 1
    reach = 1.15 * max(float(frame[[x, y]].abs().to_numpy().max()), 1e-12)
    quads = pd.DataFrame([{"x1": 0.0 if gx else -reach, "x2": reach if gx else 0.0, "y1": 0.0 if gy else -reach,
                           "y2": reach if gy else 0.0, "tx": 0.97 * reach * (1 if gx else -1),
                           "ty": 0.97 * reach * (1 if gy else -1), "align": "right" if gx else "left",
                           "baseline": "top" if gy else "bottom",
                           "category": cat, "rule": rule} for (gx, gy), (cat, rule) in SIGN_REGIONS.items()])
    domain = [-reach, reach]
    sx = alt.Scale(domain=domain, nice=False, zero=False)
    sy = alt.Scale(domain=domain, nice=False, zero=False)
    area = alt.Chart(_data(quads, ["x1", "x2", "y1", "y2", "category", "rule"])).mark_rect(opacity=0.18).encode(
        x=alt.X(field="x1", type="quantitative", title=x_title, scale=sx),
        y=alt.Y(field="y1", type="quantitative", title=y_title, scale=sy),
        x2=alt.X2(field="x2"), y2=alt.Y2(field="y2"),
        fill=alt.Fill(field="category", type="nominal", title="category of the rules",
                      scale=_scale(CATEGORY_COLORS, quads["category"]),
                      legend=alt.Legend(orient="bottom", direction="vertical")),
        tooltip=[alt.Tooltip(field="rule", type="nominal")])
    # a label at the bottom grows upwards: its first line is lifted by the lines below it, which would otherwise
    # run over the x axis
    words = [alt.Chart(_data(quads.iloc[[k]], ["tx", "ty", "rule"])).mark_text(
        align=row.align, baseline=row.baseline, lineBreak="\n", fontSize=11, lineHeight=SIGN_LINE_HEIGHT,
        dy=-SIGN_LINE_HEIGHT * row.rule.count("\n") if row.baseline == "bottom" else 0,
        limit=width / 2 - 8).encode(
        x=alt.X(field="tx", type="quantitative", scale=sx), y=alt.Y(field="ty", type="quantitative", scale=sy),
        text=alt.Text(field="rule", type="nominal")) for k, row in enumerate(quads.itertuples())]
    records = int(frame["record"].max())
    moment = alt.param(name="record", value=0, bind=alt.binding_range(min=0, max=records, step=1,
                                                                     name="training record "))
    cols = [x, y, color, step, "record"]
    paths = alt.Chart(_data(frame, cols)).mark_line(strokeWidth=1.5, opacity=0.8).encode(
        x=alt.X(field=x, type="quantitative", scale=sx), y=alt.Y(field=y, type="quantitative", scale=sy),
        color=alt.Color(field=color, type="nominal", title=color, legend=alt.Legend(orient="bottom", columns=1)),
        order=alt.Order(field=step, type="quantitative"))
    dots = alt.Chart(_data(frame, cols)).mark_point(filled=True, size=90, opacity=1, stroke="black",
                                                   strokeWidth=0.8).encode(
        x=alt.X(field=x, type="quantitative", scale=sx), y=alt.Y(field=y, type="quantitative", scale=sy),
        color=alt.Color(field=color, type="nominal", title=color, legend=None),
        tooltip=[alt.Tooltip(field=color, type="nominal"), alt.Tooltip(field=step, type="quantitative"),
                 _tip(frame, x, x_title), _tip(frame, y, y_title)],
    ).add_params(moment).transform_filter(alt.datum.record == moment)
    zero = alt.Chart(_data(pd.DataFrame({"v": [0.0]}), ["v"]))
    axes = [zero.mark_rule(color="black", strokeWidth=1).encode(x=alt.X(field="v", type="quantitative", scale=sx)),
            zero.mark_rule(color="black", strokeWidth=1).encode(y=alt.Y(field="v", type="quantitative", scale=sy))]
    return (alt.layer(area, *words, *axes, paths, dots).resolve_scale(color="independent")
            .properties(width=width, height=height, title=title))


# ------------------------------------------------------------------------------------------------ heat map
# Builder added for chapter 7: a grid of cells coloured by a signed quantity (e.g. which of two rewards reaches a
# target first, and by what factor) with a label written in each cell. Fields are passed as fields, not shorthands.

#: Chapter 7's rewards: binary credit is the ground truth and partial credit the proxy (the colours of
#: REWARD_COLORS); the two adaptive schemes get colours of their own.
CREDIT_COLORS = {"binary": REWARD_COLORS["true"], "partial": REWARD_COLORS["proxy"], "anneal": PALETTE["sky"],
                 "switch": PALETTE["black"]}


def heat_map(data: Data, x: str, y: str, color: str, *, text: str | None = None, facet: str | None = None, title: str,
             x_title: str, y_title: str, color_title: str, limit: float | None = None,
             colors: tuple[str, str] = (REWARD_COLORS["proxy"], REWARD_COLORS["true"]),
             tooltip: Sequence[str] = (), cell_size: int = 52, missing: str = "#d9d9d9") -> alt.TopLevelMixin:
    """A grid of cells (``x``, ``y`` read as ordinal values) coloured by the quantitative column ``color``.

    The colour scale diverges from ``colors[0]`` at ``-limit`` through white at 0 to ``colors[1]`` at ``+limit``
    (default ``limit``: the largest absolute value); values beyond +-limit take the end colours. Cells whose
    ``color`` is missing (NaN) are drawn in ``missing``. ``text``: a column written in each cell. ``facet``: a column
    to draw side-by-side panels for (two per row). Larger ``y`` values are drawn on top. Hovering a cell shows
    ``x``, ``y``, ``color``, ``text`` and the ``tooltip`` columns.
    """
    frame = _frame(data, [x, y, color, text, facet, *tooltip], "heat_map")
    if frame.duplicated([c for c in (x, y, facet) if c]).any():
        raise ValueError(f"heat_map: several rows share the same ({x!r}, {y!r}{', ' + repr(facet) if facet else ''}); "
                         f"each cell must appear once per panel")
    values = pd.to_numeric(frame[color], errors="coerce")
    if limit is None:
        finite = values[np.isfinite(values)].abs()
        limit = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
    if not limit > 0:
        raise ValueError(f"heat_map: limit must be > 0; got {limit!r}")
    frame = frame.copy()
    frame[color] = values.where(np.isfinite(values))
    for c in frame.columns:  # JSON has no infinities: show them as missing
        if pd.api.types.is_float_dtype(frame[c]):
            frame[c] = frame[c].where(~np.isinf(frame[c]))
    tips = [_tip(frame, x, x_title), _tip(frame, y, y_title), _tip(frame, color, color_title)]
    tips += [_tip(frame, c) for c in dict.fromkeys([text, facet, *tooltip]) if c and c not in (x, y, color)]
    enc = dict(x=alt.X(field=x, type="ordinal", title=x_title, axis=alt.Axis(format="~g", labelAngle=0)),
               y=alt.Y(field=y, type="ordinal", title=y_title, sort="descending", axis=alt.Axis(format="~g")),
               tooltip=tips)
    scale = alt.Scale(domain=[-limit, 0, limit], range=[colors[0], "#ffffff", colors[1]], clamp=True, interpolate="rgb")
    layers = [
        alt.Chart().mark_rect(color=missing, stroke="white").encode(**enc),
        alt.Chart().mark_rect(stroke="white").encode(
            color=alt.Color(field=color, type="quantitative", title=color_title, scale=scale,
                            legend=alt.Legend(orient="top" if facet else "right", gradientLength=160)), **enc
        ).transform_filter(f"isValid(datum[{json.dumps(color)}])"),
    ]
    if text:
        layers.append(alt.Chart().mark_text(fontSize=10, color="black").encode(
            text=alt.Text(field=text, type="nominal"), **enc))
    chart = alt.layer(*layers, data=_data(frame, [x, y, color, text, facet, *tooltip]))
    width = cell_size * frame[x].nunique()
    return _finish(chart, title, width, cell_size * frame[y].nunique(), facet)


# ------------------------------------------------------------------------------------------------ metric vs outcome
# Builders added for chapter 6: reward-model metrics against the ground-truth gain after RL (one point per reward
# model, one panel per initial policy), and correlations drawn as points with confidence intervals. Fields are
# passed as fields, not shorthands.

#: Where a reward model of chapter 6 comes from: learned on initial-policy samples, on offline data, or a perturbed
#: copy of a learned model.
RM_SOURCE_COLORS = {"policy": PALETTE["blue"], "offline": PALETTE["orange"], "perturbed": PALETTE["black"]}
#: The three correlation statistics of chapter 6.
STAT_COLORS = {"pearson": PALETTE["blue"], "spearman": PALETTE["orange"], "kendall": PALETTE["black"]}


def metric_scatter(data: Data, x: str, y: str = "gain", color: str | None = None, *, facet: str | None = None,
                   reference: str | None = None, colors: dict[str, str] | None = None, title: str, x_title: str,
                   y_title: str, tooltip: Sequence[str] = (), width: int | None = None, height: int = HEIGHT
                   ) -> alt.TopLevelMixin:
    """One point per row: quantitative ``x`` (a metric) against ``y`` (an outcome), coloured by ``color``.

    ``reference``: a boolean column; its True rows are drawn as dashed horizontal rules at their ``y`` (e.g. the
    gain of training on the ground truth itself) instead of points, per ``facet`` panel. ``facet`` draws one panel per
    value (two per row); ``colors`` maps values of ``color`` to colours (used when it covers them all). Hovering a
    point shows ``x``, ``y``, ``color`` and the ``tooltip`` columns.
    """
    frame = _frame(data, [x, y, color, facet, reference, *tooltip], "metric_scatter").copy()
    is_ref = frame[reference].astype(bool) if reference else pd.Series(False, index=frame.index)
    frame["_reference"] = is_ref.to_numpy()
    if frame.loc[~is_ref, [x, y]].isna().any().any():
        raise ValueError(f"metric_scatter: columns {x!r} and {y!r} must be given in every point row")
    tips = [_tip(frame, c) for c in dict.fromkeys([*tooltip, color, facet]) if c]
    tips += [_tip(frame, x, x_title), _tip(frame, y, y_title)]
    enc = dict(x=alt.X(field=x, type="quantitative", title=x_title, scale=alt.Scale(zero=False)),
               y=alt.Y(field=y, type="quantitative", title=y_title), tooltip=tips)
    if color:
        enc["color"] = alt.Color(field=color, type="nominal", title=color,
                                 scale=_scale(colors, frame.loc[~is_ref, color].unique()),
                                 legend=alt.Legend(orient="top") if facet else alt.Undefined)
    layers = [alt.Chart().mark_point(filled=True, size=55, opacity=0.85).encode(**enc)
              .transform_filter("!datum._reference")]
    if reference and is_ref.any():
        layers.append(alt.Chart().mark_rule(strokeDash=[5, 4], color="black").encode(
            y=alt.Y(field=y, type="quantitative"),
            tooltip=[_tip(frame, c) for c in dict.fromkeys([*tooltip, facet, y]) if c])
            .transform_filter("datum._reference"))
    chart = alt.layer(*layers, data=_data(frame, [x, y, color, facet, "_reference", *tooltip]))
    return _finish(chart, title, width, height, facet)


def correlation_intervals(data: Data, x: str = "value", y: str = "metric", color: str = "stat", *, low: str = "ci_low",
                          high: str = "ci_high", facet: str | None = None, colors: dict[str, str] | None = None,
                          title: str, x_title: str = "correlation with the ground-truth gain", y_title: str = "metric",
                          tooltip: Sequence[str] = (), width: int | None = None, row_height: int = 22
                          ) -> alt.TopLevelMixin:
    """Correlations as points with horizontal interval bars from ``low`` to ``high``: one row per ``y`` value
    (kept in the order of first appearance), the ``color`` values side by side within a row; a rule marks 0.

    ``facet``: one panel per value (two per row). Hovering shows the value, the interval and the ``tooltip`` columns.
    """
    frame = _frame(data, [x, y, color, low, high, facet, *tooltip], "correlation_intervals")
    if frame.duplicated([c for c in (y, color, facet) if c]).any():
        raise ValueError(f"correlation_intervals: several rows share the same ({y!r}, {color!r}"
                         f"{', ' + repr(facet) if facet else ''}); each interval must appear once per panel")
    order = list(dict.fromkeys(frame[y].astype(str)))
    tips = [_tip(frame, c) for c in dict.fromkeys([y, color, facet, x, low, high, *tooltip]) if c]
    enc = dict(y=alt.Y(field=y, type="nominal", sort=order, title=y_title),
               yOffset=alt.YOffset(field=color, type="nominal", sort=list(dict.fromkeys(frame[color].astype(str)))),
               color=alt.Color(field=color, type="nominal", title=color,
                               scale=_scale(colors, frame[color].unique()),
                               legend=alt.Legend(orient="top") if facet else alt.Undefined),
               tooltip=tips)
    bars = alt.Chart().mark_rule(strokeWidth=2, opacity=0.7).encode(
        x=alt.X(field=low, type="quantitative", title=x_title, scale=alt.Scale(domain=[-1, 1])),
        x2=alt.X2(field=high), **enc)
    dots = alt.Chart().mark_point(filled=True, size=45, opacity=1).encode(
        x=alt.X(field=x, type="quantitative", title=x_title), **enc)
    zero = alt.Chart().mark_rule(color="black", strokeDash=[3, 3]).encode(x=alt.datum(0))
    chart = alt.layer(bars, dots, zero, data=_data(frame, [x, y, color, low, high, facet, *tooltip]))
    height = row_height * len(order) * max(1, min(frame[color].nunique(), 3)) // 2 + 20
    return _finish(chart, title, width, height, facet)


# ------------------------------------------------------------------------------------------------ stress test
# Builders added for chapter 5: confusion matrices of predicted against measured error categories, and grouped bars of
# rates (e.g. the agreement of the rules with the measurement per algorithm and entropy bin). The numbers come
# precomputed from labsupport.studies.sweeps (confusion, agreement); the charts only draw them.

#: labsupport.theory's CATEGORIES and MEASURED_CATEGORIES, in their order (the colour map's keys are CATEGORIES, tested;
#: read from it so that drawing a chart does not import the training code)
PREDICTED_ORDER = list(CATEGORY_COLORS)
MEASURED_ORDER = PREDICTED_ORDER[:3]                 # all but unclassified, as in theory


def confusion_heatmap(data: Data, facet: str | None = "algorithm", *, value: str = "share", count: str = "count",
                      title: str = "Predicted against measured error categories", columns: int = 3,
                      cell: int = 46) -> alt.Chart:
    """Confusion matrices as heat maps: one panel per ``facet`` value, rows = predicted category, columns = measured.

    ``data``: tidy rows with columns predicted, measured, ``value`` (the cell's shade, in [0, 1]: by default the share
    of the row's errors, as :func:`labsupport.studies.sweeps.confusion` computes it) and ``count`` (printed in the
    cell). Hovering a cell shows the category pair, the count and the share. Panels wrap after ``columns``.
    """
    frame = _frame(data, ["predicted", "measured", value, count, facet], "confusion_heatmap").copy()
    frame["_label"] = frame[count].map(lambda c: f"{int(c)}")
    rows = [c for c in PREDICTED_ORDER if c in set(frame["predicted"])] or sorted(set(frame["predicted"]))
    cols = [c for c in MEASURED_ORDER if c in set(frame["measured"])] or sorted(set(frame["measured"]))
    base = alt.Chart().encode(
        x=alt.X(field="measured", type="nominal", sort=cols, title="measured category",
                axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y(field="predicted", type="nominal", sort=rows, title="predicted category"),
        tooltip=[alt.Tooltip(field="predicted", type="nominal"), alt.Tooltip(field="measured", type="nominal"),
                 alt.Tooltip(field=count, type="quantitative", title="errors"),
                 alt.Tooltip(field=value, type="quantitative", title="share of the predicted row", format=".1%"),
                 *([alt.Tooltip(field=facet, type="nominal")] if facet else [])],
    )
    rect = base.mark_rect(stroke="white").encode(color=alt.Color(
        field=value, type="quantitative", title="share of the predicted row",
        scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=alt.Legend(format=".0%", orient="top")))
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text(field="_label", type="nominal"),
        color=alt.condition(f"datum[{json.dumps(value)}] > 0.5", alt.value("white"), alt.value("black")))
    layer = alt.layer(rect, text, data=_data(frame, ["predicted", "measured", value, count, "_label", facet]))
    layer = layer.properties(width=cell * len(cols), height=cell * len(rows))
    if facet:
        layer = layer.facet(facet=alt.Facet(field=facet, type="nominal", title=None,
                                            sort=list(dict.fromkeys(frame[facet].astype(str)))), columns=columns)
    return layer.properties(title=title)


def rate_bars(data: Data, x: str, y: str, color: str | None = None, *, title: str, x_title: str, y_title: str,
              colors: dict[str, str] | None = None, y_domain: tuple[float, float] | None = (0, 1),
              percent: bool = True, tooltip: Sequence[str] = (), width: int | None = None,
              height: int = HEIGHT) -> alt.Chart:
    """Grouped vertical bars of a precomputed rate ``y`` for each value of the nominal ``x``, one bar per ``color``
    value side by side (e.g. the agreement rate per entropy bin, one bar per algorithm).

    ``percent`` formats the axis and tooltips as percentages; ``colors`` maps ``color`` values to colours (used when
    it covers them all); ``tooltip`` adds columns to the hover text. Bars keep the order of first appearance.
    """
    frame = _frame(data, [x, y, color, *tooltip], "rate_bars").copy()
    keys = [c for c in (x, color) if c]
    if frame.duplicated(keys).any():
        raise ValueError(f"rate_bars: several rows share the same {keys}; aggregate them first")
    fmt = ".0%" if percent else "~g"
    order_x = list(dict.fromkeys(frame[x].astype(str)))
    frame[x] = frame[x].astype(str)
    tips = [alt.Tooltip(field=c, type="nominal") for c in keys]
    tips += [alt.Tooltip(field=y, type="quantitative", title=y_title, format=".1%" if percent else ".4g")]
    tips += [_tip(frame, c) for c in tooltip]
    enc = dict(x=alt.X(field=x, type="nominal", sort=order_x, title=x_title, axis=alt.Axis(labelAngle=0)),
               y=alt.Y(field=y, type="quantitative", title=y_title, axis=alt.Axis(format=fmt),
                       scale=alt.Scale(domain=list(y_domain)) if y_domain else alt.Undefined),
               tooltip=tips)
    if color:
        order_c = list(dict.fromkeys(frame[color].astype(str)))
        frame[color] = frame[color].astype(str)
        scale = _scale(colors, order_c)
        enc["color"] = alt.Color(field=color, type="nominal", title=color, sort=order_c,
                                 scale=scale if scale is not alt.Undefined else alt.Scale(domain=order_c))
        enc["xOffset"] = alt.XOffset(field=color, type="nominal", sort=order_c)
    chart = alt.Chart(_data(frame, [x, y, color, *tooltip])).mark_bar().encode(**enc)
    return _finish(chart, title, width, height)


