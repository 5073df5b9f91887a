"""Interactive apps for the labs (ipywidgets 8): read the controls, call simulate / theory, hand the results to
:mod:`labsupport.charts`. Nothing here computes science.

The **Reward Error Explorer** (:class:`RewardErrorExplorer`, or :func:`explorer`) has the controls of the book's
explorer: presets (:data:`PRESETS`, the book's table), 2 to 8 outputs each with a slider on its ground-truth reward
r_G(y), proxy reward r_P(y) and initial probability pi_0(y) (the others rescale), the learning rate and the horizon;
plus the update rule. On every change it

1. categorises every reward error with :func:`labsupport.categorize`: the predicted category (the paper's rules,
   read off pi_0) and, with ``measure=True``, the measured one (the proxy as given against the proxy with each
   error corrected);
2. trains on the proxy and on the ground truth in the **same** batched training: categorize is given two problems,
   the proxy [r_P] and the corrected proxy [r_G] (no error), and returns its run (``return_run=True``), whose
   first rows are these two trainings (sampled rules: ``seeds`` runs of each); draws the expected ground-truth and
   proxy reward over the steps and each output's probability.

Charts are handed to :class:`ipywidgets.Output` areas as display data (the active Altair renderer's mimebundle),
so the explorer also works, and can be tested, without a kernel: setting ``slider.value`` fires the update. Each
chart's Vega-Lite spec is built with Altair once per structure (outputs, table rows) and then refilled with the new
records and title on every change (``_SpecCache``): the same spec, without Altair's cost on every slider move.
An input that labsupport rejects (a ``ValueError``, e.g. an initial probability of zero) is shown as a message in
the widget; the previous charts and results stay.

    import labsupport as ls
    app = ls.widgets.explorer()          # the paper's toy; a cell ending in `app` shows it
    app.sliders["r_proxy"][1].value = 0.8     # the same as dragging y_med's proxy reward to its true value
    app.categories                            # the latest categorize() frame (now empty: no error left)
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import gc
import html
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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

#: The run frame's columns the value chart draws, V_G solid and V_P dashed.
VALUE_COLUMNS = ["true_value", "proxy_value"]
#: Labels of the two trainings in every chart.
TRAINED_ON_PROXY = "trained on r_P"
TRAINED_ON_TRUE = "trained on r_G"

REWARD_RANGE = (-2.0, 2.0)   # slider range for rewards, widened to hold the given values
REWARD_STEP = 0.05
PROB_STEP = 0.001
LR_EXPONENTS = (-3.0, 0.5)   # learning-rate slider: 10^-3 .. 10^0.5
STEPS_RANGE = (100, 10_000)  # horizon slider, widened to hold the given value
STEPS_STEP = 100
MIN_OUTPUTS, MAX_OUTPUTS = 2, 8
DECIMALS = 9                 # slider values are rounded to this many decimals (so 0.8 on a slider equals 0.8)
#: the preset menu's entry once a control has changed a preset's settings
CUSTOM = "custom"

#: a reward or probability slider fills its column of the grid (140 to 230 px: the grid fits a 617 px book column
#: and widens in a wide notebook)
SLIDER_LAYOUT = dict(width="100%", min_width="0")
#: the grid's columns: output name, r_G, r_P and pi_0 sliders, remove button (544 px at least; a narrower notebook
#: scrolls the grid sideways)
GRID_COLUMNS = "80px repeat(3, minmax(140px, 230px)) 44px"
#: rows of controls wrap onto a second line in a narrow column instead of running past it
WRAP = dict(flex_flow="row wrap", align_items="center")
#: the explorer trains in float64: its problems are tiny, and the exact rule then runs as one numpy loop (simulate)
DTYPE = torch.float64

_UNIFORM4 = (0.25, 0.25, 0.25, 0.25)

#: Presets, one per kind of reward error; the book's explorer (book/_explorer/explorer.mjs) holds the same table
#: (tests/test_explorer_browser.py checks they agree). ``focus`` is the output whose error the preset shows, and
#: ``category`` and ``kind`` what the paper's rules give it; training measures the same category
#: (tests/test_widgets.py). Rewards, probabilities, learning rate and horizon are setup constants.
PRESETS: dict[str, dict[str, Any]] = {
    "stalling": dict(
        label="Stalling, cured by a demoted mediocre output (the paper's toy)",
        names=["y*", "y_med", "bad1", "bad2", "bad3"], r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1],
        init_probs=[0.05, 0.5, 0.15, 0.15, 0.15], lr=0.1, steps=2000, focus=1, category="beneficial",
        kind="demoted mediocre output"),
    "reward-hacking": dict(
        label="Reward hacking", names=["y*", "y_ok", "y_hack", "y_bad"], r_true=[1, 0.2, -1, -1],
        r_proxy=[1, 0.2, 1.5, -1], init_probs=list(_UNIFORM4), lr=0.1, steps=2000, focus=2, category="harmful",
        kind="reward hacking"),
    "promoted-stall": dict(
        label="Stalling on a promoted bad output", names=["y*", "y_pro", "bad1", "bad2", "bad3"],
        r_true=[1, -1, -1, -1, -1], r_proxy=[1, 0.5, -1, -1, -1], init_probs=[0.05, 0.5, 0.15, 0.15, 0.15], lr=0.1,
        steps=2000, focus=1, category="harmful", kind="stalling"),
    "below-the-mean": dict(
        label="An error below the mean", names=["y*", "y_mid", "bad1", "bad2"], r_true=[1, 0, -1, -1],
        r_proxy=[1, 0, -1, -0.9], init_probs=list(_UNIFORM4), lr=0.1, steps=2000, focus=3, category="benign",
        kind="below the mean"),
    "never-sampled": dict(
        label="An error on a never-sampled output", names=["y*", "y_mid", "y_rare"], r_true=[1, 0, -1],
        r_proxy=[1, 0, 2], init_probs=[0.5, 0.5 - 1e-7, 1e-7], lr=0.1, steps=2000, focus=2, category="benign",
        kind="never sampled"),
    "hides-best": dict(
        label="A proxy that hides the best output", names=["y*", "y_mid", "bad1", "bad2"], r_true=[1, 0.5, -1, -1],
        r_proxy=[-1, 0.5, -1, -1], init_probs=list(_UNIFORM4), lr=0.1, steps=2000, focus=0, category="harmful",
        kind="hides the best output"),
}


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


def with_probability(probs: Sequence[float], index: int, p: float) -> list[float]:
    """pi_0 with entry ``index`` set to ``p`` and the others rescaled proportionally, by (1 - p) / (their sum), so
    the sum stays 1 and positive entries stay positive (the book's explorer does the same). ``p`` must lie strictly
    between 0 and 1."""
    probs = [float(q) for q in probs]
    if not 0 <= index < len(probs):
        raise ValueError(f"index must be in 0..{len(probs) - 1}; got {index}")
    if not 0 < p < 1:
        raise ValueError(f"init_probs must be strictly between 0 and 1; got {p}")
    rest = sum(q for j, q in enumerate(probs) if j != index)
    if rest <= 0:
        raise ValueError(f"init_probs: the other outputs' probabilities sum to {rest}; nothing to rescale")
    return [p if j == index else q * (1 - p) / rest for j, q in enumerate(probs)]


def _fresh_name(names: Sequence[str]) -> str:
    """y0, y1, ...: the first not taken, counting from the number of outputs (as the book's explorer names them)."""
    k = len(names)
    while f"y{k}" in names:
        k += 1
    return f"y{k}"


@contextlib.contextmanager
def _quick() -> Iterator[None]:
    """No Altair schema validation while the charts are built (the builders' output is validated in the tests;
    validating every record of the inline data costs more than the training), and one torch thread (every tensor
    here is tiny, and each of torch's parallel regions would wake, then spin, a second thread: about 12 ms of CPU
    per update on two cores); both restored afterwards."""
    with alt.utils.schemapi.debug_mode(False), threads(1):
        yield


def _bundle(spec: dict) -> dict:
    """The active Altair renderer's mimebundle for a chart's Vega-Lite ``spec``, as an Output-widget item."""
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


def _copy(node: Any) -> Any:
    """A copy of a JSON-like tree: its dicts and lists copied, the leaves shared."""
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node


def _inline_values(node: Any) -> int:
    """How many inline data (``{"values": [...]}``) a spec holds, nested ones included."""
    if isinstance(node, dict):
        own = int(set(node) == {"values"} and isinstance(node["values"], list))
        return own + sum(_inline_values(value) for value in node.values())
    if isinstance(node, list):
        return sum(_inline_values(value) for value in node)
    return 0


class _SpecCache:
    """The Vega-Lite specs of the explorer's charts, built once per structure and then refilled.

    Building a chart with Altair and turning it into its spec costs more than the training behind it, yet from one
    slider change to the next only the chart's inline data (and the title, which names the rule and the horizon)
    change. So each chart's spec is built once per *key*, which holds everything else the spec depends on (the
    outputs' names, the number of runs, the table's rows and columns and the most lines a cell of it takes), and
    stored without its data; on a change the new records and title are put into a copy of it. The result is the dict
    ``charts.vegalite_spec`` gives for the chart built afresh (tests/test_widgets_cache.py checks it after every kind
    of change). A spec whose inline data is not the single top-level ``data`` is not stored: that chart is built on
    every change.
    """

    def __init__(self, size: int = 32):
        self.size = size
        self._specs: dict[tuple, dict | None] = {}

    def spec(self, key: tuple, records: list[dict], title: str | None,
             build: Callable[[], alt.TopLevelMixin]) -> tuple[dict, alt.TopLevelMixin | None]:
        """The spec of the chart that ``build`` makes, whose inline records are ``records`` and whose title is
        ``title`` (``None``: part of the key); also the chart when it was built, else None."""
        if key in self._specs:
            template = self._specs[key]
            if template is not None:
                spec = _copy(template)
                spec["data"] = {"values": records}
                if title is not None:
                    spec["title"] = title
                return spec, None
        chart = build()
        spec = charts.vegalite_spec(chart, validate=False)
        data = spec.get("data")
        reusable = (isinstance(data, dict) and set(data) == {"values"} and _inline_values(spec) == 1
                    and (title is None or spec.get("title") == title))
        if len(self._specs) >= self.size:  # forget the oldest structure
            del self._specs[next(iter(self._specs))]
        self._specs[key] = _copy({**spec, "data": None}) if reusable else None
        return spec, chart


class _Charts(Mapping[str, Any]):
    """One update's Altair charts, keys ``"values"``, ``"probs"``, ``"categories"``: each built when first read
    (the update itself draws cached specs, :class:`_SpecCache`), or the one the update built."""

    def __init__(self, builders: dict[str, Callable[[], Any]], built: dict[str, Any]):
        self._builders = builders
        self._built = dict(built)

    def __getitem__(self, key: str) -> Any:
        if key not in self._built:
            builder = self._builders[key]
            with _quick():
                self._built[key] = builder()
        return self._built[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def _html_item(text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": text, "text/plain": html.unescape(text)},
            "metadata": {}}


# ------------------------------------------------------------------------------------------------ the explorer


@functools.cache
def _settle_heap() -> None:
    """Once per process: collect the garbage, then exclude every object alive now (the imported libraries' several
    hundred thousand) from the cyclic garbage collector's later passes (``gc.freeze``). Without it, a full pass over
    them paused one update in every 20 to 40 for about 150 ms while a slider was dragged; with it, the slowest of 80
    updates took under 50 ms. Objects frozen are still freed when no reference to them remains; only a cycle among
    them that later becomes garbage is kept, until the interpreter exits: they are unfrozen then, so that its last
    collection frees them (extension modules such as Triton's report objects left unfreed as leaks)."""
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)


class RewardErrorExplorer:
    """Presets, and for every output sliders for r_G, r_P and pi_0; curves and error categories that follow them.

    The controls are those of the book's explorer (book/_explorer/explorer.mjs): a preset menu (:data:`PRESETS`),
    the learning rate, the horizon, outputs added and removed (2 to 8), and per output r_G, r_P, pi_0 in that order
    (a slider whose readout takes typed numbers). Setting one pi_0 rescales the others (:func:`with_probability`):
    every entry stays > 0 and the sum 1. Unlike the book's, every control updates on release
    (``continuous_update=False``): each update is a round trip to the kernel, and one per input event would lag.
    The notebook adds the sampled update rules, several seeds and the GPU. Its probability chart has one panel per
    training (the book draws the r_P training only): the richer view costs nothing here. The table keeps the rule and
    the evidence in each row's tooltip (the book shows them as columns): its cells have one width, too narrow for
    sentences.

    Args:
        r_true: ground-truth reward r_G per output (N numbers). Default: the paper's toy [1, .8, -1, -1, -1].
        r_proxy: proxy reward r_P per output. Default [1, -1, -1, -1, -1] (y_med demoted).
        init_probs: initial probabilities (non-negative weights; renormalised to sum to 1). Default
            [.05, .5, .15, .15, .15].
        names: output names. Default ["y*", "y_med", "bad1", "bad2", "bad3"] (``y0 ..`` when N differs).
        steps: initial horizon: training steps (SGD updates) of every run, and the horizon of the measured
            categories.
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
        sliders: dict of lists of FloatSliders, keys ``"r_true"``, ``"r_proxy"``, ``"init_probs"`` (one per output;
            rebuilt when a preset is loaded or an output added or removed).
        remove_buttons: one Button per output; ``add_button`` adds one (see :meth:`add_output`,
            :meth:`remove_output`).
        preset: the preset Dropdown (keys of :data:`PRESETS`, and :data:`CUSTOM` once a control has changed).
        algorithm: the update-rule Dropdown; ``lr``: the learning-rate FloatLogSlider; ``horizon``: the steps
            IntSlider.
        problem: the latest valid :class:`labsupport.Bandit` (B = 1).
        frame: the latest tidy run frame (``Run.to_frame()`` columns plus ``label`` and ``seed``; the
            ``proxy_value`` column is V_P under r_P for both trainings).
        categories: the latest :func:`labsupport.categorize` DataFrame (no rows when the proxy has no error).
        charts: the latest Altair charts, keys ``"values"``, ``"probs"``, ``"categories"`` (None without errors);
            each is built when first read: an update draws the charts' Vega-Lite specs, built once per structure
            and refilled with the new data on every change.
        outputs: the ipywidgets Output areas, same keys.
        message: the latest error text, or ``""`` after a successful update; ``message_area`` shows it.
        last_update_seconds: wall time of the latest update (training, categorising, charting, redrawing);
            ``status`` shows it. The first explorer of a process collects the garbage and freezes the objects alive
            then (``gc.freeze``), so that the garbage collector's full passes no longer pause updates.
        widget: the top-level VBox; a notebook cell ending in the explorer shows it.
        names, steps, record_every: the current outputs' names, horizon and recording interval (read-only);
        seeds, measure, device: the settings given to the constructor.
    """

    def __init__(self, r_true: Numbers | None = None, r_proxy: Numbers | None = None,
                 init_probs: Numbers | None = None, names: Sequence[object] | None = None, *, steps: int = 2000,
                 algorithm: str = "exact", lr: float = 0.1, seeds: int = 4, measure: bool = True,
                 points: int = 200, device: str = "cpu"):
        toy = r_true is None
        r_true = _numbers("r_true", TOY_R_TRUE if toy else r_true)
        n = len(r_true)
        if not MIN_OUTPUTS <= n <= MAX_OUTPUTS:
            raise ValueError(f"r_true must have {MIN_OUTPUTS} to {MAX_OUTPUTS} outputs; got {n}")
        default_proxy = TOY_R_PROXY if toy else r_true
        r_proxy = _numbers("r_proxy", default_proxy if r_proxy is None else r_proxy, n)
        if init_probs is None:
            init_probs = TOY_INIT_PROBS if n == len(TOY_INIT_PROBS) else [1.0 / n] * n
        probs = normalize(_numbers("init_probs", init_probs, n))  # rejects negative or all-zero weights now
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

        self.seeds = seeds
        self.measure = measure
        self.device = device
        self.points = points
        #: the outputs as the controls set them (the sliders show these; a slider cannot hold pi_0 = 1e-7 exactly)
        self.state: dict[str, list] = dict(names=names, r_true=[_round(v) for v in r_true],
                                           r_proxy=[_round(v) for v in r_proxy], init_probs=probs)

        self.problem: Bandit | None = None
        self.frame: pd.DataFrame | None = None
        self.categories: pd.DataFrame | None = None
        self.charts: Mapping[str, Any] = {"values": None, "probs": None, "categories": None}
        self._specs = _SpecCache()
        self.message = ""
        self.last_update_seconds = float("nan")
        self._quiet = False  # set while the explorer itself moves controls: their observers then do nothing

        self._build_controls(algorithm, lr, steps)
        self._build_layout()
        self._build_outputs()
        for key, p in PRESETS.items():  # the menu names the preset these settings are, if any
            if all(p[k] == self.state[k] for k in self.state) and (p["lr"], p["steps"]) == (lr, steps):
                with self._moving():
                    self.preset.value = key
        if not self.update():
            raise ValueError(self.message)
        _settle_heap()

    # -------------------------------------------------------------------------------------------- controls

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.state["names"])

    @property
    def steps(self) -> int:
        return int(self.horizon.value)

    @property
    def record_every(self) -> int:
        return max(1, self.steps // self.points)

    def _build_controls(self, algorithm: str, lr: float, steps: int) -> None:
        self.preset = w.Dropdown(options=[(p["label"], key) for key, p in PRESETS.items()]
                                 + [("your own settings", CUSTOM)], value=CUSTOM, description="preset",
                                 layout=w.Layout(width="480px", max_width="100%"))
        self.algorithm = w.Dropdown(options=list(ALGORITHMS), value=algorithm, description="algorithm")
        self.lr = w.FloatLogSlider(value=lr, base=10, min=min(LR_EXPONENTS[0], math.log10(lr)),
                                   max=max(LR_EXPONENTS[1], math.log10(lr)), step=0.1, readout_format=".3g",
                                   description="learning rate", continuous_update=False,
                                   style={"description_width": "initial"})
        self.horizon = w.IntSlider(value=steps, min=min(STEPS_RANGE[0], steps), max=max(STEPS_RANGE[1], steps),
                                   step=STEPS_STEP, description="horizon (steps)", continuous_update=False,
                                   style={"description_width": "initial"})
        self.add_button = w.Button(description="add an output", tooltip=f"at most {MAX_OUTPUTS} outputs")
        self.preset.observe(self._on_preset, names="value")
        for control in (self.algorithm, self.lr, self.horizon):
            control.observe(self._on_setting, names="value")
        self.add_button.on_click(lambda _: self.add_output())

    def _build_outputs(self) -> None:
        """(Re)build the per-output rows from ``state``: r_G, r_P and pi_0 sliders and a remove button each."""
        for old in getattr(self, "_row_widgets", []):
            old.close()
        s = self.state
        lo = min(REWARD_RANGE[0], math.floor(min(s["r_true"] + s["r_proxy"])))
        hi = max(REWARD_RANGE[1], math.ceil(max(s["r_true"] + s["r_proxy"])))
        tips = {"r_true": "ground-truth reward r_G", "r_proxy": "proxy reward r_P",
                "init_probs": "initial probability pi_0 (the others rescale to keep the sum 1)"}
        self.sliders = {}
        for key in ("r_true", "r_proxy", "init_probs"):
            prob = key == "init_probs"
            self.sliders[key] = [
                w.FloatSlider(value=v, min=0.0 if prob else lo, max=1.0 if prob else hi,
                              step=PROB_STEP if prob else REWARD_STEP, readout_format=".4g" if prob else ".2f",
                              continuous_update=False, layout=w.Layout(**SLIDER_LAYOUT),
                              tooltip=f"{tips[key]} of {y}")
                for v, y in zip(s[key], s["names"])]
            for i, slider in enumerate(self.sliders[key]):
                slider.observe(functools.partial(self._on_output, key, i), names="value")
        n = len(s["names"])
        self.remove_buttons = [w.Button(description="×", tooltip=f"remove {y}", disabled=n <= MIN_OUTPUTS,
                                        layout=w.Layout(width="36px")) for y in s["names"]]
        for i, button in enumerate(self.remove_buttons):
            button.on_click(functools.partial(lambda i, _: self.remove_output(i), i))
        self.add_button.disabled = n >= MAX_OUTPUTS
        labels = [w.Label(y) for y in s["names"]]
        self._row_widgets = [*labels, *self.remove_buttons, *(x for group in self.sliders.values() for x in group)]
        cells = list(self._head)
        for i in range(n):
            cells += [labels[i], self.sliders["r_true"][i], self.sliders["r_proxy"][i],
                      self.sliders["init_probs"][i], self.remove_buttons[i]]
        self.grid.children = cells

    def _build_layout(self) -> None:
        self._head = [w.HTML(f"<b>{html.escape(h)}</b>")
                      for h in ("output", "ground-truth reward r_G", "proxy reward r_P", "initial probability pi_0",
                                "")]
        self.grid = w.GridBox(layout=w.Layout(grid_template_columns=GRID_COLUMNS, align_items="center",
                                              overflow="auto"))  # narrower than its columns' minimum: scrolls
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
            w.HBox([self.preset, self.add_button], layout=w.Layout(**WRAP)),
            w.HBox([self.lr, self.horizon, self.algorithm], layout=w.Layout(**WRAP)),
            self.grid,
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

    # -------------------------------------------------------------------------------------------- edits

    @contextlib.contextmanager
    def _moving(self) -> Iterator[None]:
        """The explorer moves its own controls: their observers stay silent."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def _custom(self) -> None:
        with self._moving():
            self.preset.value = CUSTOM

    def _on_output(self, key: str, index: int, change: dict) -> None:
        if self._quiet:
            return
        value = _round(change["new"])
        if key == "init_probs":
            try:
                probs = with_probability(self.state["init_probs"], index, value)
            except ValueError as exc:
                with self._moving():  # the slider shows the kept value again
                    change["owner"].value = self.state["init_probs"][index]
                self._fail(str(exc).replace("init_probs", f"init_probs[{self.state['names'][index]}]", 1))
                return
            self.state["init_probs"] = probs
            with self._moving():
                for slider, p in zip(self.sliders["init_probs"], probs):
                    slider.value = p
        else:
            self.state[key][index] = value
        self._custom()
        self.update()

    def _on_setting(self, change: dict) -> None:
        if self._quiet:
            return
        if change["owner"] is not self.algorithm:  # presets set lr and horizon, not the update rule
            self._custom()
        self.update()

    def _on_preset(self, change: dict) -> None:
        if not self._quiet and change["new"] != CUSTOM:
            self.load(change["new"])

    def load(self, key: str) -> bool:
        """Set every output, the learning rate and the horizon from :data:`PRESETS` ``[key]``, and update."""
        if key not in PRESETS:
            raise ValueError(f"key must be one of {', '.join(map(repr, PRESETS))}; got {key!r}")
        p = PRESETS[key]
        self.state = dict(names=list(p["names"]), r_true=list(p["r_true"]), r_proxy=list(p["r_proxy"]),
                          init_probs=list(p["init_probs"]))
        with self._moving():
            self.preset.value = key
            self.lr.value = p["lr"]
            self.horizon.value = p["steps"]
        self._build_outputs()
        return self.update()

    def add_output(self) -> bool:
        """Add an output with no error (r_G = r_P = 0) and pi_0 = 1 / (N + 1), the others rescaled, and update.
        At :data:`MAX_OUTPUTS` outputs nothing changes and the message says why (returns False)."""
        s = self.state
        n = len(s["names"])
        if n >= MAX_OUTPUTS:
            return self._fail(f"outputs: the explorer holds at most {MAX_OUTPUTS} outputs; it has {n}")
        s["init_probs"] = with_probability([*s["init_probs"], 0.0], n, 1 / (n + 1))
        s["names"].append(_fresh_name(s["names"]))
        s["r_true"].append(0.0)
        s["r_proxy"].append(0.0)
        self._custom()
        self._build_outputs()
        return self.update()

    def remove_output(self, index: int) -> bool:
        """Remove output ``index`` (pi_0 of the others renormalised) and update. At :data:`MIN_OUTPUTS` outputs
        nothing changes and the message says why (returns False)."""
        s = self.state
        n = len(s["names"])
        if not 0 <= index < n:
            raise ValueError(f"index must be in 0..{n - 1}; got {index!r}")
        if n <= MIN_OUTPUTS:
            return self._fail(f"outputs: the explorer holds at least {MIN_OUTPUTS} outputs; cannot remove "
                              f"{s['names'][index]}")
        for key in ("names", "r_true", "r_proxy", "init_probs"):
            del s[key][index]
        s["init_probs"] = normalize(s["init_probs"])
        self._custom()
        self._build_outputs()
        return self.update()

    # -------------------------------------------------------------------------------------------- updates

    def _fail(self, message: str) -> bool:
        """Show ``message``; the previous results and charts stay. Returns False."""
        self.message = message
        self.message_area.value = (f'<div style="color:{charts.CATEGORY_COLORS["harmful"]}">'
                                   f"<b>Not updated:</b> {html.escape(message)}</div>")
        return False

    def update(self) -> bool:
        """Recompute and redraw from the current controls. Returns False (and shows the message) when labsupport
        rejects the input; the previous results and charts then stay."""
        start = time.perf_counter()
        self.status.value = "computing…"
        try:
            with _quick():
                result = self._compute()
        except ValueError as exc:
            self.last_update_seconds = time.perf_counter() - start
            self.status.value = ""
            return self._fail(str(exc))
        self._draw(result)
        self.last_update_seconds = time.perf_counter() - start
        self.status.value = f"updated in {self.last_update_seconds * 1e3:.0f} ms"
        return True

    def _compute(self) -> dict:
        """Train, categorise and build the charts; raises ValueError for rejected input, changes no state."""
        s = self.state
        r_true, r_proxy, probs = s["r_true"], s["r_proxy"], s["init_probs"]
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
        value_title = f"Expected reward, trained on the proxy vs the ground truth ({what})"
        prob_frame = frame
        if seeds > 1:  # mean over seeds: one line per (training, output)
            prob_frame = (frame.groupby(["label", "step", "output"], sort=False, as_index=False)["prob"].mean()
                          .assign(run=lambda f: (f["label"] == TRAINED_ON_TRUE).astype(int)))
        prob_title = f"Probability of each output ({what})"
        # V_G and V_P repeat on every output's row: the value chart needs one row per (step, run), and the same rows
        # as value_curves' own drop_duplicates leave (that step is then fast)
        per_run = frame[frame["output"].to_numpy() == self.names[0]]
        builders: dict[str, Callable[[], Any]] = {
            "values": lambda: charts.value_curves(per_run, value=VALUE_COLUMNS, color="label", max_steps=None,
                                                  title=value_title),
            "probs": lambda: charts.prob_curves(prob_frame, color="output", facet="label", max_steps=None,
                                                title=prob_title),
            "categories": lambda: charts.category_table(categories) if len(categories) else None,
        }
        # The same charts' specs without building them (_SpecCache): the builders' own data steps give the records.
        long, color = charts._value_frame(per_run, VALUE_COLUMNS, "label")
        runs = long["run"].nunique()
        value_records = charts._line_records(long, "step", "expected reward", color, detail="run", dash="reward")
        prob_records = charts._line_records(prob_frame, "step", "prob", "output", detail="run", facet="label")
        specs: dict[str, tuple[tuple, list[dict], str | None]] = {
            "values": (("values", color, runs), value_records.values, value_title),
            "probs": (("probs", self.names, prob_frame["run"].nunique()), prob_records.values, prob_title),
        }
        if len(categories):
            columns, rows, extra, cells, lines = charts._table_cells(categories)
            specs["categories"] = (("categories", *map(tuple, (columns, rows, extra)), lines), cells, None)
        items: dict[str, dict] = {}
        built: dict[str, alt.TopLevelMixin | None] = {}
        for key, (structure, records, title) in specs.items():
            spec, chart = self._specs.spec(structure, records, title, builders[key])
            items[key] = _bundle(spec)
            if chart is not None:
                built[key] = chart
        if not len(categories):
            items["categories"] = _html_item("<p>The proxy equals the ground truth on every output: there is no "
                                             "reward error to categorise.</p>")
            built["categories"] = None
        v_g, v_p = values(problem)
        summary = (f"At pi_0: V_G = {v_g[0]:.3f}, V_P = {v_p[0]:.3f}. An output's logit rises under r_P exactly "
                   f"when r_P(y) &gt; V_P.")
        return dict(problem=problem, frame=frame, categories=categories, charts=_Charts(builders, built),
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


__all__ = ["ALGORITHMS", "CUSTOM", "MAX_OUTPUTS", "MIN_OUTPUTS", "PRESETS", "RewardErrorExplorer", "TRAINED_ON_PROXY",
           "TRAINED_ON_TRUE", "explorer", "normalize", "with_probability"]
