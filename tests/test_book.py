"""The book builds (every notebook executed, warnings as errors) and every built page renders offline.

The build runs once per test session (fixture ``built_book`` of conftest.py): ``python tools/vendor_assets.py`` then
``jupyter-book build --all -W -n --keep-going book/`` (output in build/test-book/_build/html, small mode).

The browser test serves that folder on 127.0.0.1 (fixture ``book_server``) and opens every page in headless Chromium
(Debian's ``/usr/bin/chromium``, or ``$CHROMIUM``) driven by Playwright (fixture ``browser``, started once). A page
fails when it requests any other host, logs a console error or throws, leaves raw TeX visible once MathJax has
finished, has a chart with nothing drawn, an ipywidget left unrendered, or, at 1280 or 390 px wide, an element cut
off at the edge of its box, or, at 1280 px, a display equation wider than the column. Without Chromium or
Playwright the browser test is skipped, unless ``REQUIRE_BROWSER=1`` (then it fails).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import BOOK, JUPYTER_BOOK, ROOT, run, serve, tail, watched_page

pytestmark = [pytest.mark.book, pytest.mark.slow]

WAIT_MS = 30_000  # for MathJax, charts and widgets on one page


def toc_files(toc: dict) -> list[str]:
    """Every ``file`` entry of a jb-book _toc.yml, the root included."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return files


def built_pages(html: Path, redirects: bool = True) -> list[str]:
    """The pages of the built site (paths relative to ``html``), without Sphinx's support folders (_static, ...);
    ``redirects=False`` also leaves out one-line redirect pages (index.html -> the root page)."""
    pages = [p.relative_to(html).as_posix() for p in html.rglob("*.html")]
    pages = [p for p in pages if not any(part.startswith("_") for part in p.split("/"))]
    if not redirects:
        pages = [p for p in pages if 'http-equiv="Refresh"' not in (html / p).read_text()[:300]]
    return sorted(pages)


def test_book_builds_every_toc_page(built_book: Path):
    """Every _toc.yml entry is a page; every notebook among them was executed (the sources have no outputs)."""
    files = [Path(f).with_suffix("") for f in toc_files(yaml.safe_load((BOOK / "_toc.yml").read_text()))]
    missing = [str(f) for f in files if not (built_book / f"{f}.html").is_file()]
    assert not missing, f"pages of _toc.yml not in the built book: {missing}"
    notebooks = [f for f in files if (BOOK / f"{f}.ipynb").is_file()]
    unexecuted = [str(f) for f in notebooks if 'class="cell_output' not in (built_book / f"{f}.html").read_text()]
    assert not unexecuted, f"notebook pages without any output (not executed?): {unexecuted}"


def test_every_page_has_a_tab_icon(built_book: Path):
    """Every page links the book's icon (book/_static/favicon.svg, set in _config.yml), and the link resolves to a
    file of the built site, so no browser asks for a /favicon.ico that is not there."""
    missing = {}
    for page in built_pages(built_book, redirects=False):
        links = re.findall(r'<link rel="icon" href="([^"]+)"', (built_book / page).read_text())
        resolved = [(built_book / page).parent / href.split("?")[0] for href in links]
        if not resolved or not all(f.is_file() and f.read_text().lstrip().startswith("<svg") for f in resolved):
            missing[page] = links
    assert not missing, f"pages without a working tab icon: {missing}"


def test_chapters_are_numbered_and_labs_keep_their_own_headings(built_book: Path):
    """Chapter titles carry their number and equations are numbered per chapter; a lab page's title and headings
    show only the numbers written in the notebook (no "1.10. Lab 1" or "5.7.4.3. 4.3 ...")."""
    numbers = re.compile(r'<span class="section-number">([^<]*)</span>')
    chapter = (built_book / "chapters" / "03-accuracy-is-not-enough.html").read_text()
    assert numbers.findall(chapter)[:1] == ["3. "] and '<span class="eqno">(3.1)' in chapter
    labs = sorted((built_book / "notebooks").glob("0*-lab.html"))
    assert len(labs) == 7
    for lab in labs:
        article = re.search(r'<article class="bd-article">(.*?)</article>', lab.read_text(), re.S).group(1)
        title = re.search(r"<h1>(.*?)</h1>", article, re.S).group(1)
        assert re.match(r"Lab \d: ", title), f"{lab.name}: title {title[:60]!r}"
        assert not numbers.search(article), f"{lab.name}: {numbers.findall(article)[:3]}"


def test_vendored_libraries_are_served_locally(built_book: Path):
    """With book/_vendor complete, no page links a script or stylesheet from another host."""
    manifest = BOOK / "_vendor" / "manifest.json"
    if not manifest.is_file():
        pytest.skip("book/_vendor was not filled (npm missing or registry unreachable): the book uses CDNs")
    assert (built_book / "_static" / "vega" / "vega-embed.min.js").is_file()
    remote = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)="(https?://[^"]+)""")
    found = {page: remote.findall((built_book / page).read_text()) for page in built_pages(built_book)}
    found = {page: urls for page, urls in found.items() if urls}
    assert not found, f"pages load assets from other hosts: {json.dumps(found, indent=1)}"


# ------------------------------------------------------------------------------------------------ a failing notebook


FAILING_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "boom", "metadata": {}, "outputs": [],
               "source": "raise RuntimeError('deliberate failure in a lab notebook')"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_failing_notebook_fails_the_build(tmp_path: Path):
    """The book's own configuration makes a notebook that raises fail the build (even without -W)."""
    book = tmp_path / "book"
    book.mkdir()
    for name in ("_config.yml", "references.bib"):
        shutil.copy(BOOK / name, book / name)
    shutil.copytree(BOOK / "_ext", book / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("tools", "notebooks"):  # extensions read the repository's scripts and notebooks next to the book
        (tmp_path / folder).symlink_to(ROOT / folder, target_is_directory=True)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: lab\n")
    (book / "intro.md").write_text("# Intro\n\nA page.\n")
    (book / "lab.ipynb").write_text(json.dumps(FAILING_NOTEBOOK))
    build = run([*JUPYTER_BOOK, "build", "--all", str(book)], cwd=tmp_path)
    assert build.returncode != 0, f"a failing notebook did not fail the build:\n{tail(build)}"
    assert "deliberate failure in a lab notebook" in build.stdout + build.stderr, tail(build)


# ------------------------------------------------------------------------------------------------ the browser test


# Runs in the page once it has loaded: waits for MathJax, charts and widgets, then reports what is wrong.
INSPECT = """async (waitMs) => {
  const problems = [];
  const until = async (test, what) => {
    const end = Date.now() + waitMs;
    while (!test()) {
      if (Date.now() > end) { problems.push("timed out waiting for " + what); return; }
      await new Promise(r => setTimeout(r, 100));
    }
  };
  if (window.MathJax) {
    await until(() => window.MathJax.startup && window.MathJax.startup.promise, "MathJax to start");
    if (window.MathJax.startup) await window.MathJax.startup.promise;
  }
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  const shown = v => { const p = v.previousElementSibling;
                       return p && p.matches(".widget-subarea") && p.querySelector(".jupyter-widgets") !== null; };
  await until(() => views.every(shown), "ipywidgets to render");
  views.filter(v => !shown(v)).forEach(v => problems.push("ipywidget not rendered: " + v.textContent.slice(0, 120)));
  // after the widgets: charts inside Output widgets only exist once those are rendered
  const charts = Array.from(document.querySelectorAll(".labsupport-chart, .vega-embed, [id^='altair-viz']"));
  const drawn = c => c.querySelector("svg.marks, canvas.marks") !== null;
  await until(() => charts.every(drawn), "charts to be drawn");
  charts.filter(c => !drawn(c)).forEach(c =>
    problems.push("chart " + (c.id || c.className) + " has nothing drawn: " + c.textContent.slice(0, 200)));
  if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
  const skip = "script, style, pre, code, textarea, mjx-container, .highlight, .vega-embed";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent;
    if (node.parentElement.closest(skip)) continue;
    for (const raw of ["\\\\(", "\\\\[", "$$", "\\\\begin{"]) {
      if (!text.includes(raw)) continue;
      problems.push("raw TeX " + JSON.stringify(raw) + " in: " + text.trim().slice(0, 160));
      break;
    }
  }
  document.querySelectorAll("mjx-merror").forEach(e => problems.push("MathJax error: " + e.textContent.slice(0, 160)));
  return problems;
}"""


# Runs in a laid-out page: the elements of the article (.bd-article) whose content is wider than their box and cut
# off. An element may be wider than its box only as an intended scroll container (overflow-x auto or scroll) that
# shows it: a horizontal scrollbar that takes room, or a fade at the cut edge (a mask image; book/_static/layout.js
# and layout.css add one while the content overflows; headless Chromium draws no scrollbars). Content spilling out
# of a box inside such a container is reached by scrolling it. Reports the innermost offenders, and a page wider
# than the window (it would scroll sideways).
CLIPPED = """async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));  // resize observers have run
  const article = document.querySelector(".bd-article");
  const wider = document.documentElement.scrollWidth > window.innerWidth + 1 ?
    ["the page is " + document.documentElement.scrollWidth + " px wide and scrolls sideways"] : [];
  if (!article) return wider;
  // MathJax's screen-reader copy of a formula is invisible: not part of what is measured
  const hide = document.createElement("style");
  hide.textContent = "mjx-assistive-mml { display: none !important; }";
  document.head.appendChild(hide);
  const scrolls = s => s.overflowX === "auto" || s.overflowX === "scroll";
  const shown = s => ["maskImage", "webkitMaskImage"].some(k => s[k] && s[k] !== "none");
  const flagged = [];
  for (const el of article.querySelectorAll("*")) {
    if (!(el instanceof HTMLElement) || el.closest(".noUi-target")) continue;  // SVG, MathML; a slider's handles
    if (el.parentElement.closest("mjx-container")) continue;  // a formula is measured as a whole
    if (el.scrollWidth <= el.clientWidth + 1) continue;
    const style = getComputedStyle(el);
    if (style.display === "inline" || style.display === "contents" || el.getClientRects().length === 0) continue;
    if (scrolls(style)) {
      const bar = el.offsetHeight - el.clientHeight - parseFloat(style.borderTopWidth) -
                  parseFloat(style.borderBottomWidth);
      if (bar <= 0 && !shown(style)) flagged.push({el, why: "scrolls with no visible cue (scrollbar or fade)"});
      continue;
    }
    let reachable = false;
    for (let a = el.parentElement; a && a !== article && !reachable; a = a.parentElement)
      reachable = scrolls(getComputedStyle(a));
    if (!reachable) flagged.push({el, why: "overflow-x " + style.overflowX});
  }
  hide.remove();
  const innermost = flagged.filter(f => !flagged.some(g => g !== f && f.el.contains(g.el)));
  return wider.concat(innermost.map(({el, why}) => {
    const math = el.closest(".math");
    const number = math && math.querySelector(".eqno") ? "equation " + math.querySelector(".eqno").textContent.trim()
                                                       : "";
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
                 Array.from(el.classList).slice(0, 3).map(c => "." + c).join("");
    const text = el.textContent.trim().replace(/\\s+/g, " ").slice(0, 80);
    return `clipped ${name} ${number}(${el.scrollWidth} px of content in ${el.clientWidth} px, ${why}): ${text}`;
  }));
}"""

# Runs in a page whose charts are drawn (as SVG): axis labels or titles of one axis that overlap, and axis or legend
# labels that vega shortened with an ellipsis (a label limit too small).
LEGIBLE = """() => {
  const problems = [];
  const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 &&
                            a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const shown = t => t.textContent.trim() !== "" && t.getAttribute("opacity") !== "0";
  for (const chart of document.querySelectorAll(".vega-embed")) {
    const title = chart.querySelector("g.role-title-text text");
    const name = "chart " + (title ? JSON.stringify(title.textContent) : (chart.closest("[id]") || chart).id);
    for (const t of chart.querySelectorAll("g.role-axis-label text, g.role-legend-label text, g.role-axis-title text"))
      if (shown(t) && t.textContent.endsWith("\u2026")) problems.push(`${name}: label cut short: ${t.textContent}`);
    for (const axis of chart.querySelectorAll("g.role-axis")) {
      const texts = Array.from(axis.querySelectorAll("g.role-axis-label text, g.role-axis-title text")).filter(shown);
      const boxes = texts.map(t => t.getBoundingClientRect());
      for (let i = 0; i < texts.length; i++)
        for (let j = i + 1; j < texts.length; j++)
          if (overlap(boxes[i], boxes[j]))
            problems.push(`${name}: axis texts overlap: ${texts[i].textContent} / ${texts[j].textContent}`);
    }
  }
  return problems;
}"""

# Runs in a laid-out page: the display equations of the article wider than their box. On a phone a long formula
# scrolls inside its box (CLIPPED accepts that: layout.css gives it a fade); on a laptop every formula fits the column,
# so that no reader at that width scrolls sideways to read one (a wide one is broken into lines: aligned, cases).
WIDE_EQUATIONS = """async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const hide = document.createElement("style");  // the screen-reader copy of a formula is not what the reader sees
  hide.textContent = "mjx-assistive-mml { display: none !important; }";
  document.head.appendChild(hide);
  const wide = Array.from(document.querySelectorAll(".bd-article mjx-container[display='true']"))
    .filter(m => m.getClientRects().length > 0 && m.scrollWidth > m.clientWidth + 1)
    .map(m => {
      const math = m.closest(".math");
      const number = math && math.querySelector(".eqno") ? "equation " + math.querySelector(".eqno").textContent
        .replace(/#/g, "").trim() : "an unnumbered equation";
      const section = m.closest("section[id]");
      return `${number}${section ? " (section #" + section.id + ")" : ""} is ${m.scrollWidth} px wide in a ` +
             `${m.clientWidth} px column`;
    });
  hide.remove();
  return wide;
}"""

#: the widths every page is checked at: a laptop and a phone
WIDTHS = (1280, 390)
#: the width at which every display equation fits the column (WIDE_EQUATIONS)
LAPTOP = 1280


def inspect_page(browser, base: str, page_path: str, widths: tuple[int, ...] = WIDTHS) -> list[str]:
    """Everything wrong with one page, as messages prefixed by the page path: loaded at the first of ``widths``,
    then checked for clipped elements at each of them (900 px high), and at ``LAPTOP`` for display equations wider
    than the column."""
    page, problems = watched_page(browser, base, widths[0])
    try:
        page.goto(base + page_path, wait_until="load")
        # every section rendered, also those the book's layout.css leaves unrendered while off-screen
        # (content-visibility), so that the checks below measure the whole page
        page.add_style_tag(content="* { content-visibility: visible !important; }")
        problems += page.evaluate(INSPECT, WAIT_MS)
        problems += page.evaluate(LEGIBLE)
        for width in widths:
            page.set_viewport_size({"width": width, "height": 900})
            problems += [f"at {width} px: {p}" for p in page.evaluate(CLIPPED)]
            if width == LAPTOP:
                problems += [f"at {width} px: {p}" for p in page.evaluate(WIDE_EQUATIONS)]
    finally:
        page.close()
    return [f"{page_path}: {p}" for p in problems]


def test_every_page_renders_offline(browser, built_book: Path, book_server: str):
    """Every page at 1280 and 390 px: no request off 127.0.0.1, no console error, no raw TeX, charts drawn and legible
    (LEGIBLE), widgets rendered, nothing clipped (CLIPPED); each problem is printed with its page, width and element."""
    pages = built_pages(built_book, redirects=False)
    assert pages, f"no pages found in {built_book}"
    problems = [p for page in pages for p in inspect_page(browser, book_server, page)]
    assert not problems, f"{len(problems)} problem(s) in {len(pages)} pages:\n" + "\n".join(problems)


CLIPPING_PAGE = """<!doctype html><html><head><link rel="stylesheet" href="layout.css"><script src="layout.js"></script>
<style>.box { width: 200px; } .wide { width: 600px; height: 20px; background: #ddd; }</style></head><body>
<article class="bd-article">
  <div class="box" id="cut" style="overflow: hidden"><div class="wide"></div></div>
  <div class="box" id="spills"><div class="wide"></div></div>
  <div class="box" id="silent" style="overflow-x: auto; scrollbar-width: none"><div class="wide"></div></div>
  <div class="box pst-scrollable-table-container" id="cued"><div class="wide"></div></div>
  <div class="box" id="fits"><div style="width: 150px; height: 20px"></div></div>
</article></body></html>"""


def test_clipping_check_tells_cut_content_from_scroll_boxes(browser, tmp_path: Path):
    """CLIPPED flags content cut off by its box, content spilling past its box, and a scroll box with no visible
    cue; it passes a box that fits and a scroll box that the book's layout.js and layout.css give a fade."""
    for name in ("layout.css", "layout.js"):
        shutil.copy(BOOK / "_static" / name, tmp_path / name)
    (tmp_path / "page.html").write_text(CLIPPING_PAGE)
    with serve(tmp_path) as base:
        page = browser.new_page(viewport={"width": 800, "height": 600})
        try:
            page.goto(base + "page.html", wait_until="load")
            found = page.evaluate(CLIPPED)
            fade = page.eval_on_selector("#cued", "e => e.getAttribute('data-overflow')")
        finally:
            page.close()
    flagged = sorted(re.findall(r"clipped div#(\w+)", "\n".join(found)))
    assert flagged == ["cut", "silent", "spills"], found
    assert fade == "right"


EQUATIONS_PAGE = """<!doctype html><html><head><link rel="stylesheet" href="layout.css">
<script src="layout.js"></script></head><body><article class="bd-article" style="width: 600px">
  <section id="wide"><div class="math"><span class="eqno">(1.1)</span>
    <mjx-container display="true" style="display: block"><span style="display: inline-block; width: 900px">x</span>
    </mjx-container></div></section>
  <section id="fits"><div class="math"><span class="eqno">(1.2)</span>
    <mjx-container display="true" style="display: block"><span style="display: inline-block; width: 300px">y</span>
    </mjx-container></div></section>
</article></body></html>"""


def test_equation_check_flags_a_formula_wider_than_the_column(browser, tmp_path: Path):
    """WIDE_EQUATIONS names a display equation wider than its column (which the book's layout.css lets scroll inside
    its box, so CLIPPED accepts it) by number, section and widths, and passes one that fits."""
    for name in ("layout.css", "layout.js"):
        shutil.copy(BOOK / "_static" / name, tmp_path / name)
    (tmp_path / "page.html").write_text(EQUATIONS_PAGE)
    with serve(tmp_path) as base:
        page = browser.new_page(viewport={"width": 800, "height": 600})
        try:
            page.goto(base + "page.html", wait_until="load")
            wide = page.evaluate(WIDE_EQUATIONS)
            clipped = page.evaluate(CLIPPED)
        finally:
            page.close()
    assert len(wide) == 1 and wide[0].startswith("equation (1.1) (section #wide) is 900 px wide in a 600 px"), wide
    assert not clipped, clipped  # a scroll box with a fade: not cut off, only too wide for a laptop


PROSE = "the proxy stops the policy from stalling on this output, leaving better outputs to attract probability"
TABLE_PAGE = f"""<!doctype html><html><head><link rel="stylesheet" href="layout.css"></head><body>
<article class="bd-article" style="width: 358px"><div class="pst-scrollable-table-container"><table>
<thead><tr><th>rule</th><th>category</th><th>kind</th><th>what the error does</th></tr></thead>
<tbody>{"<tr><td>a rule of a few words</td><td>beneficial</td><td>demoted mediocre output</td>"
        f"<td>{PROSE}</td></tr>" * 3}</tbody></table></div></article></body></html>"""


def test_a_table_with_a_column_of_prose_scrolls_on_a_phone_in_rows_of_a_few_lines(browser, tmp_path: Path):
    """At 390 px a table wider than the column scrolls sideways, and its columns wrap at 16rem (a prose cell of about
    100 characters in at most 5 lines), not at the 7rem minimum, which made chapter 4's table 1,896 px tall."""
    shutil.copy(BOOK / "_static" / "layout.css", tmp_path / "layout.css")
    (tmp_path / "page.html").write_text(TABLE_PAGE)
    with serve(tmp_path) as base:
        page = browser.new_page(viewport={"width": 390, "height": 800})
        try:
            page.goto(base + "page.html", wait_until="load")
            box = page.eval_on_selector(".pst-scrollable-table-container", "e => [e.clientWidth, e.scrollWidth]")
            cell = page.eval_on_selector("td:last-child", "e => [e.getBoundingClientRect().width, "
                                         "e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).fontSize)]")
        finally:
            page.close()
    assert box[1] > box[0], f"the table should scroll sideways: {box}"
    width, height, font = cell
    assert 200 <= width <= 16 * 16 + 40, f"a prose column wraps at 16rem (and its padding): {width} px wide"
    assert height <= 5 * 1.5 * font + 24, f"a prose cell {height} px tall in a {font} px font: more than 5 lines"


def test_legibility_check_flags_overlapping_and_shortened_labels(browser, tmp_path: Path):
    """LEGIBLE flags a chart whose long category labels overlap and one whose legend labels are cut short, and passes
    a chart of the package drawn by its renderer (which lets no label be cut short)."""
    import altair as alt
    import pandas as pd

    from labsupport import charts

    vega = BOOK / "_vendor" / "vega"
    if not (BOOK / "_vendor" / "manifest.json").is_file():
        pytest.skip("book/_vendor was not filled (npm missing or registry unreachable): charts need the CDN")
    shutil.copytree(vega, tmp_path / "_static" / "vega")
    names = pd.DataFrame({"name": [f"a rather long category name {i}" for i in range(6)], "n": range(6)})
    crowded = alt.Chart(names, title="crowded").mark_bar().encode(
        x=alt.X("name:N", title="name", axis=alt.Axis(labelAngle=0, labelOverlap=False)), y=alt.Y("n:Q", title="n"),
    ).properties(width=120)
    cut = alt.Chart(names, title="cut").mark_point().encode(
        x=alt.X("n:Q", title="n"), color=alt.Color("name:N", legend=alt.Legend(labelLimit=40)))
    run = pd.DataFrame({"step": [0, 1, 2] * 2, "run": 0, "true_value": [0.1, 0.5, 0.9, 0.2, 0.3, 0.4],
                        "label": ["trained on r_G"] * 3 + ["trained on r_P"] * 3})
    fine = charts.value_curves(run)
    body = "".join(f'<div id="{name}">{charts.render(charts.vegalite_spec(chart))["text/html"]}</div>'
                   for name, chart in (("crowded", crowded), ("cut", cut), ("fine", fine)))
    (tmp_path / "page.html").write_text(f'<!doctype html><html data-content_root=""><head><meta charset="utf-8"></head>'
                                       f'<body>{body}</body></html>')
    with serve(tmp_path) as base:
        problems = inspect_page(browser, base, "page.html", widths=(1280,))
    assert any('chart "crowded": axis texts overlap' in p for p in problems), problems
    assert any('chart "cut": label cut short' in p for p in problems), problems
    assert not [p for p in problems if "crowded" not in p and "cut" not in p], problems

# The search controls of the page that a reader sees (drawn, with a size), by where they sit.
SEARCH_CONTROLS = """() => Array.from(document.querySelectorAll(".search-button__button"))
  .filter(b => b.getClientRects().length > 0 && b.getBoundingClientRect().height > 0)
  .map(b => (b.closest(".bd-header, .bd-sidebar-primary, .bd-header-article") || {className: "elsewhere"})
            .className.split(" ")[0])"""


def test_one_search_control_at_each_width(browser, built_book: Path, book_server: str):
    """A reader sees one search control, not two: at 1280 px the primary sidebar's search field (the theme's top bar,
    which repeats it and takes 64 px of the window, is hidden by layout.css), at 390 px the article header's button."""
    seen = {}
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            page.goto(book_server + "intro.html", wait_until="load")
            seen[width] = page.evaluate(SEARCH_CONTROLS)
            seen[f"top bar at {width}"] = page.eval_on_selector(".bd-header", "h => h.getBoundingClientRect().height")
        finally:
            page.close()
    assert seen[1280] == ["bd-sidebar-primary"], seen
    assert seen[390] == ["bd-header-article"], seen
    assert seen["top bar at 1280"] == 0 and seen["top bar at 390"] == 0, seen


def test_sidebar_buttons_of_the_article_header_work(browser, built_book: Path, book_server: str):
    """The buttons a reader sees at the top of a chapter: on a phone (390 px) the menu button opens the book's
    chapters over the page, and a chapter link there leads to its page; the list button opens the page's sections; at
    1280 px the menu button hides the chapters' sidebar. (The themes bind their toggles to the first button of each
    kind in the page, the hidden top bar's; book/_static/layout.js hands the visible buttons' clicks to those.)"""
    chapter = "chapters/04-taxonomy.html"
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone.goto(book_server + chapter, wait_until="load")
        phone.tap(".bd-header-article .primary-toggle")
        phone.wait_for_function("document.querySelector('#pst-primary-sidebar-modal').open", timeout=WAIT_MS)
        link = phone.locator("#pst-primary-sidebar-modal a[href$='bibliography.html']")
        assert link.is_visible()
        link.click()
        phone.wait_for_url("**/bibliography.html", timeout=WAIT_MS)
        phone.goto(book_server + chapter, wait_until="load")
        phone.tap(".bd-header-article .secondary-toggle")
        phone.wait_for_function("document.querySelector('#pst-secondary-sidebar-modal').open", timeout=WAIT_MS)
        assert phone.locator("#pst-secondary-sidebar-modal a[href='#the-reward-error-explorer']").is_visible()
    finally:
        phone.close()
    laptop = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        laptop.goto(book_server + chapter, wait_until="load")
        assert laptop.locator(".bd-sidebar-primary").is_visible()
        laptop.click(".bd-header-article .primary-toggle")
        laptop.wait_for_function("!document.querySelector('.bd-sidebar-primary').checkVisibility({visibilityProperty: "
                                 "true})", timeout=WAIT_MS)
    finally:
        laptop.close()


# Runs in a page with kernel-free interactive charts: moves each chart's first range slider to its other end and
# reports the charts whose drawing did not change.
MOVE_SLIDERS = """async () => {
  const charts = Array.from(document.querySelectorAll(".vega-embed"))
    .filter(c => c.querySelector(".vega-bind input[type=range]"));
  const picture = c => { const s = c.querySelector("svg.marks"); const k = c.querySelector("canvas.marks");
                         return s ? s.outerHTML : (k ? k.toDataURL() : ""); };
  const unchanged = [];
  for (const chart of charts) {
    const before = picture(chart);
    const slider = chart.querySelector(".vega-bind input[type=range]");
    slider.value = slider.value === slider.max ? slider.min : slider.max;
    slider.dispatchEvent(new Event("input", {bubbles: true}));
    slider.dispatchEvent(new Event("change", {bubbles: true}));
    await new Promise(r => setTimeout(r, 500));
    if (picture(chart) === before) unchanged.push(chart.id || chart.className);
  }
  return {count: charts.length, unchanged};
}"""


def test_static_sliders_change_what_is_drawn(browser, built_book: Path, book_server: str):
    """Kernel-free interactivity: on every page with slider-bound charts, moving a slider redraws the chart."""
    pages = [p for p in built_pages(built_book, redirects=False) if "vega-bind" in (built_book / p).read_text()
             or "binding_range" in (built_book / p).read_text() or '"bind"' in (built_book / p).read_text()]
    results = {}
    for path in pages:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(book_server + path, wait_until="load")
            page.evaluate(INSPECT, WAIT_MS)  # waits until every chart is drawn
            results[path] = page.evaluate(MOVE_SLIDERS)
        finally:
            page.close()
    with_sliders = {p: r for p, r in results.items() if r["count"]}
    assert with_sliders, f"no page has a chart with a range slider (looked at {sorted(results)})"
    assert all(not r["unchanged"] for r in with_sliders.values()), with_sliders


def test_charts_in_jupyterlab_load_the_vendored_libraries(built_book: Path, tmp_path: Path, monkeypatch, browser):
    """A chart shown in a JupyterLab started at the repository root (as `make lab` does) loads vega, vega-lite and
    vega-embed from the server's /files/ handler, so it draws offline: the page below has JupyterLab's config block
    and serves the repository under /files/ as Jupyter does, and any request to another host fails the test."""
    import altair as alt
    import pandas as pd

    from labsupport import charts, render

    if not (BOOK / "_vendor" / "manifest.json").is_file():
        pytest.skip("book/_vendor was not filled (npm missing or registry unreachable): charts use the CDN")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert render.served_vega() is None  # not under a Jupyter server (e.g. the book's own build): no local path
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/lab.ipynb")
    chart = alt.Chart(pd.DataFrame({"step": [0, 1, 2], "V": [0.1, 0.5, 0.9]}), title="t").mark_line().encode(
        x=alt.X("step:Q", title="step"), y=alt.Y("V:Q", title="V"))
    html = charts.render(charts.vegalite_spec(chart))["text/html"]
    assert render.VENDOR_VEGA.as_posix() in html
    site = tmp_path / "site"
    site.mkdir()
    (site / "files").symlink_to(ROOT, target_is_directory=True)
    config = json.dumps({"baseUrl": "/", "serverRoot": ROOT.as_posix()})
    (site / "lab.html").write_text('<!doctype html><html><head><script id="jupyter-config-data" '
                                   f'type="application/json">{config}</script></head><body>{html}</body></html>')
    with serve(site) as base:  # JupyterLab is a desktop application: checked at the laptop width only
        problems = inspect_page(browser, base, "lab.html", widths=(1280,))
    assert not problems, "\n".join(problems)
