"""Sphinx extension: a lab's links to the book's pages resolve both in the repository and in the book.

A lab lives in ``notebooks/`` and links to a chapter as ``../book/chapters/X.md``, the path that works where readers
open it (JupyterLab started in the repository root, GitHub's notebook view). In the book the same notebook is the
document ``notebooks/X`` of ``book/`` (through the ``book/notebooks`` link), where that path would point at
``book/book/chapters/X.md``. Before MyST parses a document under ``notebooks/``, the ``source-read`` handler rewrites
every Markdown link target (``](../book/...``, also ``](<../book/...``) to ``../...``. For a notebook the source is
the ``.ipynb`` JSON text, in which these characters are written as they are, so the same replacement applies.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx

LAB_FOLDER = "notebooks/"
BOOK_LINK = re.compile(r"(\]\(<?)\.\./book/")


def rewrite(docname: str, text: str) -> str:
    """``text`` with its links ``../book/...`` made relative to the book when ``docname`` is under notebooks/."""
    return BOOK_LINK.sub(r"\1../", text) if docname.startswith(LAB_FOLDER) else text


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    source[0] = rewrite(docname, source[0])


def setup(app: Sphinx) -> dict:
    app.connect("source-read", source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
