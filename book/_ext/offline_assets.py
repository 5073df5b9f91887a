"""Sphinx extension: serve the vendored browser libraries (``book/_vendor/``) and keep the pages' consoles clean.

When ``tools/vendor_assets.py`` has filled ``book/_vendor/`` (its ``manifest.json`` lists files that all exist), this
extension

* adds ``_vendor`` to ``html_static_path``, so its contents are copied to ``_static/`` of the built site
  (``_static/mathjax/``, ``_static/requirejs/``, ``_static/html-manager/``, ``_static/vega/``);
* sets ``mathjax_path`` to the vendored MathJax 3;
* sets ``nb_ipywidgets_js`` (myst-nb) to the vendored require.js and ipywidgets ``embed-amd.js``.

Otherwise it leaves the CDN defaults and logs an info line (not a warning: the book is built with ``-W``).
``labsupport.charts`` loads vega from ``<content root>/_static/vega/`` on its own (with a CDN fallback).
The files are kept out of ``book/_static/`` on purpose: Jupyter Book links every ``.js``/``.css`` found there into
every page.

It also fixes three faults of the stock stack that show up as errors in the browser console (the book's browser
test fails on any console error):

* the ipywidgets bundle typesets widget labels with the MathJax 2 call ``MathJax.Hub.Queue``; on MathJax 3 pages a
  small shim forwards it to ``MathJax.typesetPromise``;
* the bundle looks for its icon fonts next to its require.js module path (by default, the page's own folder); a
  require.js ``paths`` entry points that at the folder ``embed-amd.js`` is served from;
* (not a browser fault) myst-nb warns "skipping unknown output mime type" for the Vega-Lite JSON that
  ``labsupport.charts`` puts next to the chart's HTML, and the build turns warnings into errors; that one notice
  is dropped, for Vega-Lite mimetypes only (``suppress_warnings`` could only silence every unknown mimetype);
* Sphinx writes an inline script added after the builder started (sphinx-thebe's) twice, which redeclares a
  ``const``; duplicates are dropped. The theme's default colour mode (``html_context["default_mode"]``) is set to
  "light": the theme logs an empty mode as an error, and the charts are drawn on white.
"""

from __future__ import annotations

import json
import logging as pylogging
import posixpath
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

VENDOR = Path(__file__).resolve().parent.parent / "_vendor"
MATHJAX = "mathjax/es5/tex-mml-chtml.js"
REQUIRE = "requirejs/require.js"
WIDGETS = "html-manager/embed-amd.js"
WIDGETS_MODULE = "@jupyter-widgets/html-manager/dist"  # the require.js module folder of embed-amd.js

# Before MathJax loads: keep a `Hub.Queue` on whatever object ends up as window.MathJax (MathJax 3 replaces the
# configuration object with itself), forwarding to MathJax 3's typesetPromise once it has started.
MATHJAX2_SHIM = """(function () {
  var current = window.MathJax;
  function typeset(job) {
    var mj = window.MathJax, el = job && job[2];
    if (!mj || !mj.startup || !el) return;
    mj.startup.promise.then(function () { return mj.typesetPromise([el]); })
      .catch(function (err) { console.warn("MathJax could not typeset a widget label: " + err); });
  }
  function withHub(value) {
    if (value && value.version && !value.Hub) value.Hub = {Queue: typeset};
    return value;
  }
  Object.defineProperty(window, "MathJax", {configurable: true, enumerable: true,
    get: function () { return current; }, set: function (value) { current = withHub(value); }});
})();"""


class DropVegaLiteNotice(pylogging.Filter):
    """Drop myst-nb's notice that it skips a Vega-Lite output (the chart's text/html is rendered instead)."""

    PREFIX = "skipping unknown output mime type: application/vnd.vegalite."

    def filter(self, record: pylogging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.PREFIX)


def vendor_complete(folder: Path = VENDOR) -> bool:
    """True when ``folder`` holds a manifest whose files all exist, including the ones this extension links."""
    try:
        files = json.loads((folder / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    needed = set(files) | {MATHJAX, REQUIRE, WIDGETS}
    return all((folder / f).is_file() for f in needed)


def configure(app: Sphinx, config: Config) -> None:
    """Point MathJax and ipywidgets at the vendored files, or keep the CDN defaults and say so."""
    config.html_context = {"default_mode": "light", **(config.html_context or {})}
    if not vendor_complete():
        logger.info("offline_assets: %s is missing or incomplete; pages load MathJax, ipywidgets and vega from "
                    "CDNs. Run `python tools/vendor_assets.py` to serve them from the book itself.", VENDOR)
        return
    config.html_static_path = [*config.html_static_path, str(VENDOR)]
    config.mathjax_path = MATHJAX  # relative paths are resolved against _static/ by Sphinx
    config.nb_ipywidgets_js = {REQUIRE: {}, WIDGETS: {}}
    logger.info("offline_assets: serving MathJax, ipywidgets and vega from %s", VENDOR)


def _widgets_dir_js(embed_src: str) -> str:
    """A JavaScript expression for the URL folder of ``embed_src`` (absolute, or relative to the page)."""
    folder = posixpath.dirname(embed_src)
    if "://" in folder:
        return json.dumps(folder)
    return f"document.documentElement.dataset.content_root + {json.dumps(folder)}"


def page_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Drop duplicate scripts; on pages with ipywidgets add the MathJax 2 shim and the require.js font path."""
    scripts = context.get("script_files")
    if scripts is None:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique
    embed = next((js.filename for js in scripts if (js.filename or "").endswith("embed-amd.js")), None)
    if embed:
        paths = f"var require = {{paths: {{{json.dumps(WIDGETS_MODULE)}: {_widgets_dir_js(embed)}}}}};"
        # priority 450: before MathJax's configuration, require.js and embed-amd.js (all 500)
        app.builder.add_js_file(None, body=MATHJAX2_SHIM + "\n" + paths, priority=450)


def setup(app: Sphinx) -> dict:
    # Sphinx's log handlers exist by now; the filter goes first, before the one that counts warnings as errors.
    for handler in pylogging.getLogger("sphinx").handlers:
        if not any(isinstance(f, DropVegaLiteNotice) for f in handler.filters):
            handler.filters.insert(0, DropVegaLiteNotice())
    # config-inited runs after _config.yml's values are set, before builders and extensions use them.
    app.connect("config-inited", configure)
    # after myst-nb and sphinx.ext.mathjax have added the page's scripts (default priority 500)
    app.connect("html-page-context", page_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
