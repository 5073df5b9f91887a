"""Sphinx extension: the Reward Error Explorer, computed live in the reader's browser.

The explorer is two ES modules and a stylesheet in ``book/_explorer/``: ``core.mjs`` (the compute core, a port of
labsupport's exact path) and ``explorer.mjs`` + ``explorer.css`` (the view: controls, SVG charts and the table of
categories). This extension

* adds ``book/_explorer`` to ``html_static_path``, so the three files are served from ``_static/`` (not from
  ``book/_static/``: Jupyter Book links every ``.js``/``.css`` found there into every page);
* gives the directive ::

      ```{reward-explorer}
      :preset: stalling
      ```

  which writes a container ``<div class="reward-explorer">`` carrying the preset and the book's palette
  (``labsupport.charts``: the category colours, the reward colours and dashes, the series colours) as data
  attributes, so the page's colours follow the Python charts;
* on the pages that hold such a container, and only there, links ``explorer.css`` and adds one
  ``<script type="module">`` that imports ``explorer.mjs`` relative to the page's content root
  (``document.documentElement.dataset.content_root``) and mounts every container of the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.docutils import SphinxDirective

FOLDER = Path(__file__).resolve().parent.parent / "_explorer"


# Imports explorer.mjs from <content root>/_static/ once per page and mounts every explorer container on it.
LOADER = """const root = document.documentElement.dataset.content_root ?? "";
import(root + "_static/explorer.mjs")
  .then((explorer) => explorer.mountAll(document))
  .catch((err) => console.error("Reward Error Explorer: could not load " + root + "_static/explorer.mjs: " + err));"""


class reward_explorer(nodes.General, nodes.Element):  # noqa: N801 (docutils names nodes in lower case)
    """The container of one explorer; ``preset`` and ``palette`` (a JSON string) are its attributes."""


def presets() -> tuple[str, ...]:
    """The presets the view knows, in the order of its menu: those of the notebook explorer,
    ``labsupport.widgets.PRESETS`` (``explorer.mjs`` holds the same table; tests/test_explorer_browser.py checks that
    they agree)."""
    from labsupport import widgets

    return tuple(widgets.PRESETS)


def palette() -> dict:
    """The book's colours, from labsupport.charts: category, reward and series colours, reward dashes."""
    from labsupport import charts

    return {"categories": dict(charts.CATEGORY_COLORS), "rewards": dict(charts.REWARD_COLORS),
            "dashes": {k: list(v) for k, v in charts.REWARD_DASHES.items()},
            "series": list(getattr(charts, "SERIES_COLORS", SERIES_FALLBACK))}


#: Vega's default categorical scheme ("tableau10"), which Altair uses for the lines of labels and outputs; used
#: only while labsupport.charts names no SERIES_COLORS of its own.
SERIES_FALLBACK = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6")


class RewardExplorerDirective(SphinxDirective):
    """``{reward-explorer}`` with option ``:preset:`` (one of :func:`presets`, default the first, ``stalling``)."""

    has_content = False
    option_spec = {"preset": lambda value: directives.choice(value, presets())}

    def run(self) -> list[nodes.Node]:
        node = reward_explorer(preset=self.options.get("preset", presets()[0]), palette=json.dumps(palette()))
        self.set_source_info(node)
        return [node]


def visit_html(translator, node: reward_explorer) -> None:
    translator.body.append(
        f'<div class="reward-explorer" data-preset="{html.escape(node["preset"])}" '
        f'data-palette="{html.escape(node["palette"])}">'
        '<p class="rex-loading">The Reward Error Explorer runs in your browser (JavaScript modules needed).</p>'
        "</div>\n")
    raise nodes.SkipNode


def skip(translator, node: reward_explorer) -> None:
    """Other builders (LaTeX, text, ...) leave the interactive explorer out."""
    raise nodes.SkipNode


def configure(app: Sphinx, config: Config) -> None:
    """Serve book/_explorer's files from _static/."""
    config.html_static_path = [*config.html_static_path, str(FOLDER)]


def page_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """On a page with an explorer: its stylesheet and the module script that mounts it (this page only)."""
    if doctree is None or doctree.next_node(reward_explorer) is None:
        return
    app.add_css_file("explorer.css")
    app.add_js_file(None, body=LOADER, type="module")


def setup(app: Sphinx) -> dict:
    app.add_node(reward_explorer, html=(visit_html, None),
                 **{builder: (skip, None) for builder in ("latex", "text", "man", "texinfo")})
    app.add_directive("reward-explorer", RewardExplorerDirective)
    app.connect("config-inited", configure)
    app.connect("html-page-context", page_assets)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
