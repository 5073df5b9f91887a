"""Sphinx extension: ``{glue:figure}`` from another document, so a chapter shows a chart its lab computed.

myst-nb pastes a glued output from another document with ``{glue:any}`` and its ``:doc:`` option, or with the
``{glue:text}`` role's ``path::key`` form, but its ``{glue:figure}`` only reads the glue of its own page. This
extension lets the figure directive take the same ``path::key`` form::

    ```{glue:figure} ../notebooks/02-attracting-probability-lab.ipynb::fig-flow
    :name: fig-ch2-flow

    The caption (a paragraph; further paragraphs become the legend).
    ```

The result is a numbered, captioned figure (``{numref}`` and ``{ref}`` reach it by its ``:name:``) whose content is
the lab's output, pasted by myst-nb's own cross-document machinery (a pending reference that myst-nb resolves once
every notebook has been executed), with the book's mime priorities: an Altair chart of ``labsupport.charts`` comes
as its ``text/html``, which draws it with the vendored vega. A key without ``::`` is myst-nb's directive unchanged.
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.ext.glue.directives import PasteFigureDirective
from myst_nb.ext.glue.utils import PendingGlueReferenceError, create_pending_glue_ref, glue_warning
from sphinx.application import Sphinx


class CrossDocumentFigure(PasteFigureDirective):
    """``{glue:figure}`` that also accepts ``<document path>::<key>`` (the path relative to the page)."""

    def run(self) -> list[nodes.Node]:
        """A figure holding a pending glue reference to ``key`` of the other document, captioned by the content."""
        doc, sep, key = self.arguments[0].rpartition("::")
        if not sep:
            return super().run()
        try:
            ref = create_pending_glue_ref(self.document, self.source, self.line, doc, key)
        except PendingGlueReferenceError as exc:
            return [glue_warning(str(exc), self.document, self.line)]
        figure = nodes.figure("", ref)
        self.set_source_info(figure)
        figure["classes"] += self.options.get("figclass", [])
        if "align" in self.options:
            figure["align"] = self.options["align"]
        self.add_name(figure)
        if self.content:
            parsed = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, parsed)
            first = parsed[0]
            if not isinstance(first, nodes.paragraph):
                return [figure, glue_warning("Figure caption must be a paragraph.", self.document, self.lineno)]
            caption = nodes.caption(first.rawsource, "", *first.children)
            caption.source, caption.line = first.source, first.line
            figure += caption
            if len(parsed) > 1:
                figure += nodes.legend("", *parsed[1:])
        return [figure]


def setup(app: Sphinx) -> dict:
    """Register the directive as the ``figure`` of myst-nb's ``glue`` domain (after myst-nb has added the domain)."""
    app.setup_extension("myst_nb")
    app.add_directive_to_domain("glue", "figure", CrossDocumentFigure, override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
