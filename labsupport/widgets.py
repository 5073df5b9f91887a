"""Interactive apps for the labs (ipywidgets 8): read the controls, call simulate / theory, hand the results to
:mod:`labsupport.charts`. Nothing here computes science.

The **Reward Error Explorer** (:class:`RewardErrorExplorer`, or :func:`explorer`) puts a slider on every output's
proxy reward r_P(y), ground-truth reward r_G(y) and initial probability pi_0(y), plus the update rule and its
learning rate. On every change it

1. categorises every reward error with :func:`labsupport.categorize`: the predicted category (the paper's rules,
   read off pi_0) and, with ``measure=True``, the measured one (the proxy as given against the proxy with each
   error corrected);
2. trains on the proxy and on the ground truth in the **same** batched training: categorize is given two problems,
   the proxy [r_P] and the corrected proxy [r_G] (no error), and returns its run (``return_run=True``), whose
   first rows are these two trainings (sampled rules: ``seeds`` runs of each); draws the expected ground-truth and
   proxy reward over the steps and each output's probability.

Charts are handed to :class:`ipywidgets.Output` areas as display data (the active Altair renderer's mimebundle),
so the explorer also works, and can be tested, without a kernel: setting ``slider.value`` fires the update.
An input that labsupport rejects (a ``ValueError``, e.g. an initial probability of zero) is shown as a message in
the widget; the previous charts and results stay.

    import labsupport as ls
    app = ls.widgets.explorer()          # the paper's toy; a cell ending in `app` shows it
    app.sliders["r_proxy"][1].value = 0.8     # the same as dragging y_med's proxy reward to its true value
    app.categories                            # the latest categorize() frame (now empty: no error left)
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import altair as alt
import ipywidgets as w
import numpy as np
import pandas as pd
import torch

from . import charts
from .algorithms import GRPO, PPO, RLOO, Algorithm, ExactPG, Reinforce
from .problems import PAPER_NAMES, PAPER_R_PROXY, PAPER_R_TRUE, Bandit, paper_init_probs
from .simulate import threads
from .theory import categorize, values

# ------------------------------------------------------------------------------------------------ defaults

#: what the explorer takes for rewards and initial probabilities: N numbers, as a list or a 1-d array
Numbers = Sequence[float] | np.ndarray
#: The paper's controlled experiment (labsupport.problems): y*, a mediocre output y_med and three bad outputs.
TOY_R_TRUE, TOY_R_PROXY, TOY_NAMES = PAPER_R_TRUE, PAPER_R_PROXY, PAPER_NAMES
TOY_INIT_PROBS = tuple(paper_init_probs())

#: Dropdown label -> update rule for a learning rate.
ALGORITHMS: dict[str, Callable[[float], Algorithm]] = {
    "exact": lambda lr: ExactPG(lr=lr),
    "REINFORCE": lambda lr: Reinforce(samples=1, lr=lr),
    "RLOO": lambda lr: RLOO(k=4, lr=lr),
    "GRPO": lambda lr: GRPO(group=8, lr=lr),
    "PPO": lambda lr: PPO(lr=lr),
}

#: Labels of the two trainings in every chart.
TRAINED_ON_PROXY = "trained on r_P"
TRAINED_ON_TRUE = "trained on r_G"

REWARD_RANGE = (-2.0, 2.0)   # slider range for rewards, widened to hold the given values
REWARD_STEP = 0.05
PROB_STEP = 0.005
LR_EXPONENTS = (-3.0, 0.5)   # learning-rate slider: 10^-3 .. 10^0.5
DECIMALS = 9                 # slider values are rounded to this many decimals (so 0.8 on a slider equals 0.8)

SLIDER_LAYOUT = dict(width="220px")
#: the explorer trains in float64: its problems are tiny, and the exact rule then runs as one numpy loop (simulate)
DTYPE = torch.float64


def _round(value: float) -> float:
    return round(float(value), DECIMALS)


def _numbers(name: str, value: object, n: int | None = None) -> list[float]:
    """A flat list of finite floats (length ``n`` when given), or a ValueError naming the argument."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of numbers; got {value!r}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one list of N numbers (one problem); got shape {array.shape}")
    out = [float(v) for v in array]
    if n is not None and len(out) != n:
        raise ValueError(f"{name} must have {n} entries, one per output; got {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite; got {out}")
    return out


def normalize(weights: Sequence[float]) -> list[float]:
    """The weights divided by their sum: the initial probabilities pi_0. All zero (or negative) is a ValueError."""
    weights = [float(x) for x in weights]
    if any(x < 0 for x in weights):
        raise ValueError(f"init_probs must be non-negative; got {weights}")
    total = sum(weights)
    if total <= 0:
        raise ValueError("init_probs are all zero: raise at least one initial-probability slider")
    return [x / total for x in weights]


@contextlib.contextmanager
def _quick() -> Iterator[None]:
    """No Altair schema validation while the charts are built (the builders' output is validated in the tests;
    validating every record of the inline data costs more than the training), and one torch thread (every tensor
    here is tiny, and each of torch's parallel regions would wake, then spin, a second thread: about 12 ms of CPU
    per update on two cores); both restored afterwards."""
    with alt.utils.schemapi.debug_mode(False), threads(1):
        yield


def _bundle(chart: alt.TopLevelMixin) -> dict:
    """The active Altair renderer's mimebundle for ``chart`` (unvalidated spec), as an Output-widget item."""
    spec = charts.vegalite_spec(chart, validate=False)
    renderer = alt.renderers.get()
    if renderer is None:
        raise ValueError(f"the active Altair renderer {alt.renderers.active!r} is not registered")
    data = renderer(spec)
    metadata: dict = {}
    if isinstance(data, tuple):
        data, metadata = data
    if not data:
        raise ValueError(f"the active Altair renderer {alt.renderers.active!r} returned no output")
    return {"output_type": "display_data", "data": data, "metadata": metadata or {}}


def _html_item(text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": text, "text/plain": html.unescape(text)},
            "metadata": {}}


# ------------------------------------------------------------------------------------------------ the explorer


class RewardErrorExplorer:
    """Sliders for r_P, r_G and pi_0 of every output; curves and error categories that follow them.

    Args:
        r_true: ground-truth reward r_G per output (N numbers). Default: the paper's toy [1, .8, -1, -1, -1].
        r_proxy: proxy reward r_P per output. Default [1, -1, -1, -1, -1] (y_med demoted).
        init_probs: initial probabilities (non-negative weights; renormalised to sum to 1). Default
            [.05, .5, .15, .15, .15].
        names: output names. Default ["y*", "y_med", "bad1", "bad2", "bad3"] (``y0 ..`` when N differs).
        steps: training steps (SGD updates) of every run, and the horizon of the measured categories.
        algorithm: initial choice of update rule, a key of :data:`ALGORITHMS`.
        lr: initial learning rate.
        seeds: runs per reward for the sampled rules (REINFORCE, RLOO, GRPO, PPO), batched in the same call;
            also the seeds of their measured categories. The exact rule uses one run.
        measure: fill the measured column via :func:`labsupport.categorize` (one more batched training per
            change, roughly doubling the update time); ``False`` shows the predicted categories only.
        points: about this many recorded steps per curve (``record_every = steps // points``, plus step 0), which
            keeps the chart data small; the charts draw every recorded step.
        device: where to train, ``"cpu"`` (default: the runs are small) or ``"auto"`` / ``"cuda"``.

    Attributes:
        sliders: dict of lists of FloatSliders, keys ``"r_proxy"``, ``"r_true"``, ``"init_probs"`` (one per output).
        prob_labels: the normalised pi_0 shown beside each initial-probability slider.
        algorithm: the update-rule Dropdown; ``lr``: the learning-rate FloatLogSlider.
        problem: the latest valid :class:`labsupport.Bandit` (B = 1).
        frame: the latest tidy run frame (``Run.to_frame()`` columns plus ``label`` and ``seed``; the
            ``proxy_value`` column is V_P under r_P for both trainings).
        categories: the latest :func:`labsupport.categorize` DataFrame (no rows when the proxy has no error).
        charts: the latest Altair charts, keys ``"values"``, ``"probs"``, ``"categories"`` (None without errors).
        outputs: the ipywidgets Output areas, same keys.
        message: the latest error text, or ``""`` after a successful update; ``message_area`` shows it.
        last_update_seconds: wall time of the latest update (training, categorising, charting, redrawing);
            ``status`` shows it.
        widget: the top-level VBox; a notebook cell ending in the explorer shows it.
        names, steps, seeds, measure, device, record_every: the settings given to the constructor (read-only).
    """

    def __init__(self, r_true: Numbers | None = None, r_proxy: Numbers | None = None,
                 init_probs: Numbers | None = None, names: Sequence[object] | None = None, *, steps: int = 2000,
                 algorithm: str = "exact", lr: float = 0.1, seeds: int = 4, measure: bool = True,
                 points: int = 200, device: str = "cpu"):
        toy = r_true is None
        r_true = _numbers("r_true", TOY_R_TRUE if toy else r_true)
        n = len(r_true)
        if n < 2:
            raise ValueError(f"r_true must have at least 2 outputs; got {n}")
        default_proxy = TOY_R_PROXY if toy else r_true
        r_proxy = _numbers("r_proxy", default_proxy if r_proxy is None else r_proxy, n)
        if init_probs is None:
            init_probs = TOY_INIT_PROBS if n == len(TOY_INIT_PROBS) else [1.0 / n] * n
        weights = _numbers("init_probs", init_probs, n)
        normalize(weights)  # rejects negative or all-zero weights now
        if names is None:
            names = TOY_NAMES if n == len(TOY_NAMES) else [f"y{i}" for i in range(n)]
        names = [str(x) for x in names]
        if len(names) != n or len(set(names)) != n:
            raise ValueError(f"names must be {n} distinct strings; got {names!r}")
        for name, value, low in (("steps", steps, 1), ("seeds", seeds, 1), ("points", points, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(map(repr, ALGORITHMS))}; got {algorithm!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
        if not isinstance(measure, bool):
            raise ValueError(f"measure must be True or False; got {measure!r}")

        self.names = tuple(names)
        self.steps = steps
        self.seeds = seeds
        self.measure = measure
        self.device = device
        self.record_every = max(1, steps // points)

        self.problem: Bandit | None = None
        self.frame: pd.DataFrame | None = None
        self.categories: pd.DataFrame | None = None
        self.charts: dict = {"values": None, "probs": None, "categories": None}
        self.message = ""
        self.last_update_seconds = float("nan")

        self._build_controls(r_true, r_proxy, weights, algorithm, lr)
        self._build_layout()
        if not self.update():
            raise ValueError(self.message)
        for slider in (s for group in self.sliders.values() for s in group):
            slider.observe(self._on_change, names="value")
        self.algorithm.observe(self._on_change, names="value")
        self.lr.observe(self._on_change, names="value")

    # -------------------------------------------------------------------------------------------- controls

    def _build_controls(self, r_true, r_proxy, weights, algorithm, lr):
        lo = min(REWARD_RANGE[0], math.floor(min(r_true + r_proxy)))
        hi = max(REWARD_RANGE[1], math.ceil(max(r_true + r_proxy)))

        def reward_slider(value, what, name):
            return w.FloatSlider(value=value, min=lo, max=hi, step=REWARD_STEP, readout_format=".2f",
                                 continuous_update=False,
                                 layout=w.Layout(**SLIDER_LAYOUT), tooltip=f"{what} of {name}")

        top = max(1.0, max(weights))
        self.sliders = {
            "r_proxy": [reward_slider(v, "proxy reward r_P", y) for v, y in zip(r_proxy, self.names)],
            "r_true": [reward_slider(v, "ground-truth reward r_G", y) for v, y in zip(r_true, self.names)],
            "init_probs": [w.FloatSlider(value=v, min=0.0, max=top, step=PROB_STEP, readout_format=".3f",
                                         continuous_update=False, layout=w.Layout(**SLIDER_LAYOUT),
                                         tooltip=f"initial weight of {y} (renormalised to pi_0)")
                           for v, y in zip(weights, self.names)],
        }
        self.prob_labels = [w.Label(layout=w.Layout(width="80px")) for _ in self.names]
        self.algorithm = w.Dropdown(options=list(ALGORITHMS), value=algorithm, description="algorithm")
        self.lr = w.FloatLogSlider(value=lr, base=10, min=min(LR_EXPONENTS[0], math.log10(lr)),
                                   max=max(LR_EXPONENTS[1], math.log10(lr)), step=0.1, readout_format=".3g",
                                   description="learning rate", continuous_update=False,
                                   style={"description_width": "initial"})

    def _build_layout(self):
        head = ["output", "proxy reward r_P", "ground-truth reward r_G", "initial weight", "pi_0 (normalised)"]
        cells = [w.HTML(f"<b>{html.escape(h)}</b>") for h in head]
        for i, name in enumerate(self.names):
            cells += [w.Label(name), self.sliders["r_proxy"][i], self.sliders["r_true"][i],
                      self.sliders["init_probs"][i], self.prob_labels[i]]
        grid = w.GridBox(cells, layout=w.Layout(grid_template_columns="80px 230px 230px 230px 110px",
                                                align_items="center"))
        self.summary = w.HTML()
        self.message_area = w.HTML()
        self.status = w.Label()
        self.outputs = {key: w.Output() for key in ("values", "probs", "categories")}
        captions = {
            "values": "Expected ground-truth reward V_G and proxy reward V_P (line style, see the legend) while "
                      "training on the proxy (r_P) and on the ground truth (r_G). Sampled rules: one thin line per "
                      "seed.",
            "probs": "Probability of each output while training on each reward (sampled rules: mean over seeds).",
            "categories": "Every output whose proxy reward differs from its ground truth: the predicted category "
                          "(the paper's rules at pi_0) and the measured one (train with the error vs with it "
                          "corrected). Hover a row for the rule and the evidence.",
        }
        blocks = []
        for key, out in self.outputs.items():
            blocks += [out, w.HTML(f"<small><i>{html.escape(captions[key])}</i></small>")]
        self.widget = w.VBox([
            w.HTML("<h3>Reward Error Explorer</h3>"),
            grid,
            w.HBox([self.algorithm, self.lr]),
            self.summary,
            self.message_area,
            self.status,
            *blocks,
        ])

    # -------------------------------------------------------------------------------------------- display

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -------------------------------------------------------------------------------------------- updates

    def _on_change(self, change):
        self.update()

    def _read(self) -> tuple[list[float], list[float], list[float]]:
        """(r_true, r_proxy, normalised pi_0) from the sliders; refreshes the pi_0 labels."""
        r_true = [_round(s.value) for s in self.sliders["r_true"]]
        r_proxy = [_round(s.value) for s in self.sliders["r_proxy"]]
        weights = [_round(s.value) for s in self.sliders["init_probs"]]
        try:
            probs = normalize(weights)
        except ValueError:
            for label in self.prob_labels:
                label.value = "—"
            raise
        for label, p in zip(self.prob_labels, probs):
            label.value = f"{p:.3f}"
        return r_true, r_proxy, probs

    def update(self) -> bool:
        """Recompute and redraw from the current controls. Returns False (and shows the message) when labsupport
        rejects the input; the previous results and charts then stay."""
        start = time.perf_counter()
        self.status.value = "computing…"
        try:
            with _quick():
                result = self._compute()
        except ValueError as exc:
            self.message = str(exc)
            self.message_area.value = (f'<div style="color:{charts.CATEGORY_COLORS["harmful"]}">'
                                       f"<b>Not updated:</b> {html.escape(self.message)}</div>")
            self.last_update_seconds = time.perf_counter() - start
            self.status.value = ""
            return False
        self._draw(result)
        self.last_update_seconds = time.perf_counter() - start
        self.status.value = f"updated in {self.last_update_seconds * 1e3:.0f} ms"
        return True

    def _compute(self) -> dict:
        """Train, categorise and build the charts; raises ValueError for rejected input, changes no state."""
        r_true, r_proxy, probs = self._read()
        problem = Bandit(r_true=r_true, r_proxy=r_proxy, init_probs=probs, names=self.names)
        algo = ALGORITHMS[self.algorithm.value](float(self.lr.value))
        sampled = algo.samples_per_step > 0
        seeds = self.seeds if sampled else 1
        # One batched call: categorize trains problem 0 (r_P) and problem 1 (r_P := r_G, no error) as given, each
        # `seeds` times, then problem 0 with each error corrected; its first 2 * seeds runs are the two trainings.
        both = Bandit(r_true=[r_true] * 2, r_proxy=[r_proxy, r_true], init_probs=[probs] * 2, names=self.names)
        categories, run = categorize(both, algo, steps=self.steps, seeds=seeds if sampled else None,
                                     measure=self.measure, device=self.device, dtype=DTYPE, progress=False,
                                     record_every=self.record_every, return_run=True)
        # Both trainings are judged on the same proxy: V_P of the r_G-trained runs uses r_P, not their training rows.
        run = dataclasses.replace(run, probs=run.probs[:, :2 * seeds], r_true=run.r_true[:2 * seeds],
                                  r_proxy=np.repeat(problem.r_proxy.numpy(), 2 * seeds, axis=0), hit_steps=None)
        frame = run.to_frame()
        labels = np.array([TRAINED_ON_PROXY] * seeds + [TRAINED_ON_TRUE] * seeds, dtype=object)
        frame["label"] = labels[frame["run"].to_numpy()]
        frame["seed"] = frame["run"].to_numpy() % seeds

        what = f"{self.algorithm.value}, lr = {self.lr.value:.3g}, {self.steps} steps"
        what += f", {seeds} seeds" if sampled else ""
        value_chart = charts.value_curves(frame, value=["true_value", "proxy_value"], color="label", max_steps=None,
                                          title=f"Expected reward, trained on the proxy vs the ground truth ({what})")
        prob_frame = frame
        if seeds > 1:  # mean over seeds: one line per (training, output)
            prob_frame = (frame.groupby(["label", "step", "output"], sort=False, as_index=False)["prob"].mean()
                          .assign(run=lambda f: (f["label"] == TRAINED_ON_TRUE).astype(int)))
        prob_chart = charts.prob_curves(prob_frame, color="output", facet="label", max_steps=None,
                                        title=f"Probability of each output ({what})")
        table = charts.category_table(categories) if len(categories) else None
        items = {"values": _bundle(value_chart), "probs": _bundle(prob_chart),
                 "categories": _bundle(table) if table is not None else _html_item(
                     "<p>The proxy equals the ground truth on every output: there is no reward error to "
                     "categorise.</p>")}
        v_g, v_p = values(problem)
        summary = (f"At pi_0: V_G = {v_g[0]:.3f}, V_P = {v_p[0]:.3f}. An output's logit rises under r_P exactly "
                   f"when r_P(y) &gt; V_P.")
        return dict(problem=problem, frame=frame, categories=categories,
                    charts={"values": value_chart, "probs": prob_chart, "categories": table},
                    items=items, summary=summary)

    def _draw(self, result: dict) -> None:
        self.problem = result["problem"]
        self.frame = result["frame"]
        self.categories = result["categories"]
        self.charts = result["charts"]
        for key, item in result["items"].items():
            self.outputs[key].outputs = (item,)
        self.summary.value = result["summary"]
        self.message = ""
        self.message_area.value = ""


def explorer(r_true: Numbers | None = None, r_proxy: Numbers | None = None, init_probs: Numbers | None = None,
             names: Sequence[object] | None = None, **options: Any) -> RewardErrorExplorer:
    """A :class:`RewardErrorExplorer` (defaults: the paper's toy); a notebook cell ending in it shows it."""
    return RewardErrorExplorer(r_true, r_proxy, init_probs, names, **options)


__all__ = ["ALGORITHMS", "RewardErrorExplorer", "TRAINED_ON_PROXY", "TRAINED_ON_TRUE", "explorer", "normalize"]
