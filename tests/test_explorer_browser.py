"""The Reward Error Explorer on the book's pages (book/_explorer/explorer.mjs, book/_ext/explorer.py).

In Node (no browser, no book build): every preset sets up the kind of error it names, and the core measures the
category the rules predict, as labsupport does; editing one pi_0 rescales the others proportionally.

In the built book (markers ``book`` and ``slow``; the session fixtures ``built_book``, ``book_server`` and
``browser`` of tests/conftest.py): only chapters 2 and 4 load the explorer's files. In headless Chromium (skipped
without Chromium or Playwright unless ``REQUIRE_BROWSER=1``), on chapters 2 and 4 at 1280 and 390 px: the explorer
draws its charts and table; moving y_med's proxy reward from -1 to 1 changes y_med's measured category from
beneficial; the reward-hacking preset shows harmful; outputs are added and removed; no console error, no request off
127.0.0.1, and nothing in the explorer wider than its box except the table's scroll container (which then shows its
cue).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import watched_page

ROOT = Path(__file__).resolve().parents[1]
EXPLORER = ROOT / "book" / "_explorer"
PAGES = ["chapters/02-attracting-probability.html", "chapters/04-taxonomy.html"]
WIDTHS = [1280, 390]
WAIT_MS = 30_000


def node(script: str) -> object:
    """Run an ES-module ``script`` in Node (``EXPLORER`` is its folder URL) and return what it prints as JSON."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("Node.js is not installed")
    source = f"const EXPLORER = {json.dumps(EXPLORER.as_uri() + '/')};\n{script}"
    proc = subprocess.run([exe, "--input-type=module", "-e", source], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


# ------------------------------------------------------------------------------------------------ Node


PRESET_ROWS = """
const { PRESETS } = await import(EXPLORER + "explorer.mjs");
const { categorize } = await import(EXPLORER + "core.mjs");
const out = {};
for (const [key, p] of Object.entries(PRESETS)) {
  const rows = categorize({r_true: p.r_true, r_proxy: p.r_proxy, init_probs: p.init_probs, lr: p.lr, steps: p.steps,
                           names: p.names});
  out[key] = {preset: p, rows: rows.map(({output, predicted, kind, measured, effect}) =>
    ({output, predicted, kind, measured, effect}))};
}
console.log(JSON.stringify(out));
"""


def test_every_preset_measures_the_kind_it_shows():
    """Each preset has exactly one reward error, on its focus output, of the kind and category it names; the core
    measures that category, and labsupport (the reference) measures the same."""
    import labsupport as ls

    presets = node(PRESET_ROWS)
    # one table: the notebook explorer's presets (Python) are the book's (JS), key for key and number for number
    assert list(presets) == list(ls.widgets.PRESETS)
    for key, p in ls.widgets.PRESETS.items():
        assert {k: presets[key]["preset"][k] for k in p} == p, key
    assert {"stalling", "reward-hacking", "below-the-mean", "never-sampled", "hides-best"} <= set(presets)
    assert {p["preset"]["kind"] for p in presets.values()} >= {"demoted mediocre output", "reward hacking",
                                                               "below the mean", "never sampled",
                                                               "hides the best output"}
    for key, found in presets.items():
        p, rows = found["preset"], found["rows"]
        assert [r["output"] for r in rows] == [p["focus"]], (key, rows)
        row = rows[0]
        assert (row["predicted"], row["kind"], row["measured"]) == (p["category"], p["kind"], p["category"]), key
        reference = ls.categorize(ls.Bandit(r_true=p["r_true"], r_proxy=p["r_proxy"], init_probs=p["init_probs"]),
                                  ls.ExactPG(lr=p["lr"]), steps=p["steps"], device="cpu")
        assert reference["measured"].tolist() == [p["category"]], key
        assert reference["effect"].iloc[0] == pytest.approx(row["effect"], rel=1e-9, abs=1e-12, nan_ok=True), key


def test_editing_one_initial_probability_rescales_the_others():
    """pi_0(y_med) := 0.2 in the toy scales the other four by (1 - 0.2) / (1 - 0.5) = 1.6; the sum stays 1."""
    probs = node("""
const { withProbability } = await import(EXPLORER + "explorer.mjs");
console.log(JSON.stringify([withProbability([0.05, 0.5, 0.15, 0.15, 0.15], 1, 0.2),
                            withProbability([0.5, 0.5 - 1e-7, 1e-7], 0, 0.999)]));
""")
    assert probs[0] == pytest.approx([0.08, 0.2, 0.24, 0.24, 0.24], rel=1e-14)
    assert sum(probs[1]) == pytest.approx(1, abs=1e-15) and min(probs[1]) > 0
    assert probs[1][2] / probs[1][1] == pytest.approx(1e-7 / (0.5 - 1e-7), rel=1e-12)


# ------------------------------------------------------------------------------------------------ the browser

# Sets a control of the page's first explorer as a reader does (input, then change) and waits for the redraw.
SET = """async ({selector, value}) => {
  const root = document.querySelector(".reward-explorer");
  const control = root.querySelector(selector);
  if (!control) throw new Error("no control " + selector);
  const redrawn = new Promise(r => root.addEventListener("rex:redrawn", r, {once: true}));
  control.value = value;
  control.dispatchEvent(new Event("input", {bubbles: true}));
  control.dispatchEvent(new Event("change", {bubbles: true}));
  await redrawn;
}"""

CLICK = """async (selector) => {
  const root = document.querySelector(".reward-explorer");
  const redrawn = new Promise(r => root.addEventListener("rex:redrawn", r, {once: true}));
  root.querySelector(selector).click();
  await redrawn;
}"""

# What the page's first explorer shows: lines drawn per chart, outputs, and the table's rows by output name.
STATE = """() => {
  const root = document.querySelector(".reward-explorer");
  const charts = Array.from(root.querySelectorAll("svg.rex-chart"), svg =>
    Array.from(svg.querySelectorAll("polyline"))
      .filter(l => (l.getAttribute("points") || "").trim().split(" ").length > 1).length);
  const rows = {};
  for (const tr of root.querySelectorAll(".rex-table tbody tr[data-name]")) {
    rows[tr.dataset.name] = Object.fromEntries(Array.from(tr.cells, td => [td.dataset.column, td.textContent]));
  }
  return {charts, outputs: root.querySelectorAll("fieldset.rex-output").length, rows,
          message: root.querySelector(".rex-message").textContent};
}"""

# Everything in the explorer that is wider than its box (other than the table's scroll container) or reaches out of
# the explorer, or an SVG text that reaches out of its chart; a table that overflows without its cue (the book's fade
# of a cut edge, book/_static/layout.js and layout.css, and the line of text below the table).
OVERFLOW = """async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));  // resize observers have run
  const root = document.querySelector(".reward-explorer");
  const box = root.getBoundingClientRect();
  const name = e => e.tagName.toLowerCase()
    + (e.className && typeof e.className === "string" ? "." + e.className.split(" ").join(".") : "")
    + (e.dataset && e.dataset.field ? "[" + e.dataset.field + "]" : "");
  const bad = [];
  if (root.scrollWidth > root.clientWidth + 1) bad.push("the explorer's content is wider than its box");
  if (box.width > root.parentElement.clientWidth + 1) bad.push("the explorer is wider than its column");
  const scroller = root.querySelector(".rex-scroll");
  for (const e of root.querySelectorAll("*")) {
    if (scroller.contains(e) && e !== scroller) continue;        // inside the intended scroll container
    if (e.getClientRects().length === 0) continue;                // not displayed
    const r = e.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1) bad.push(name(e) + " reaches out of the explorer");
    if (e instanceof SVGTextElement) {
      const chart = e.ownerSVGElement.getBoundingClientRect();
      if (r.left < chart.left - 1 || r.right > chart.right + 1) {
        bad.push("chart text " + JSON.stringify(e.textContent) + " is clipped");
      }
    }
    if (!(e instanceof HTMLElement) || e === scroller) continue;
    if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) bad.push(name(e) + " content wider than its box");
  }
  const overflows = scroller.scrollWidth > scroller.clientWidth + 1;
  const style = getComputedStyle(scroller);
  const faded = [style.maskImage, style.webkitMaskImage].some(m => m && m !== "none");
  const cue = root.querySelector(".rex-scroll-cue").getClientRects().length > 0;
  if (overflows && (style.overflowX !== "auto" || !faded || !cue)) {
    bad.push(`the table is wider than its box: overflow-x ${style.overflowX}, faded edge ${faded}, cue ${cue}`);
  }
  return bad;
}"""


def open_page(browser, base: str, path: str, width: int):
    """A page at ``width`` px showing ``path``, once its explorer has drawn; and the list its problems go to."""
    page, problems = watched_page(browser, base, width)
    page.goto(base + path, wait_until="load")
    page.wait_for_function("document.querySelector('.reward-explorer .rex-table tbody tr[data-name]') !== null",
                           timeout=WAIT_MS)
    return page, problems


@pytest.mark.book
@pytest.mark.slow
def test_only_pages_with_an_explorer_load_it(built_book: Path):
    """Chapters 2 and 4 hold an explorer and load its script and stylesheet; no other page loads either."""
    pages = {p.relative_to(built_book).as_posix(): p.read_text() for p in built_book.rglob("*.html")
             if not p.relative_to(built_book).as_posix().startswith("_")}
    holding = sorted(path for path, text in pages.items() if 'class="reward-explorer"' in text)
    # what loads the files: the module script's import and the stylesheet link (a docstring may name the files)
    loading = sorted(path for path, text in pages.items()
                     if '_static/explorer.mjs"' in text or "_static/explorer.css" in text)
    assert holding == loading == PAGES, (holding, loading)
    assert all((built_book / "_static" / name).is_file() for name in ("explorer.mjs", "explorer.css", "core.mjs"))


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_explorer_on_the_page(browser, book_server, path: str, width: int):
    page, problems = open_page(browser, book_server, path, width)
    try:
        state = page.evaluate(STATE)
        # the toy: V_G and V_P under both rewards, one probability per output, y_med's error beneficial
        assert state["charts"] == [4, 5], state
        assert state["outputs"] == 5 and list(state["rows"]) == ["y_med"], state
        assert (state["rows"]["y_med"]["predicted"], state["rows"]["y_med"]["measured"]) == ("beneficial",
                                                                                              "beneficial")
        assert page.evaluate(OVERFLOW) == []

        y_med_proxy = 'input[type=range][data-field="r_proxy"][data-output="1"]'
        page.evaluate(SET, {"selector": y_med_proxy, "value": "1"})
        row = page.evaluate(STATE)["rows"]["y_med"]
        assert row["r_P"] == "1" and row["measured"] != "beneficial", row

        page.evaluate(SET, {"selector": "select.rex-preset", "value": "reward-hacking"})
        state = page.evaluate(STATE)
        assert state["rows"]["y_hack"]["predicted"] == state["rows"]["y_hack"]["measured"] == "harmful", state
        assert state["charts"] == [4, 4]

        page.evaluate(CLICK, "button.rex-add")
        state = page.evaluate(STATE)
        assert state["outputs"] == 5 and state["charts"] == [4, 5], state
        page.evaluate(CLICK, 'button.rex-remove[data-output="4"]')
        page.evaluate(CLICK, 'button.rex-remove[data-output="0"]')  # y*, an output without an error
        state = page.evaluate(STATE)
        assert state["outputs"] == 3 and state["charts"] == [4, 3] and state["message"] == "", state
        assert page.evaluate(OVERFLOW) == []
    finally:
        page.close()
    assert not problems, "\n".join(problems)
