"""Sphinx extension: the student notebooks of the course assignments, built when the book is built.

Before the sources are read, it builds the student version of every master notebook in ``notebooks/assignments/``
with ``tools/build_assignments.py`` (its :func:`student_notebook`: otter assign, the same leak check as
``make assignments``, without executing the solutions) into ``book/_build/assignments/<name>.ipynb``, where
``book/teaching/assignments.md`` offers them with ``{download}`` links. A notebook newer than its master and than
the builder is not rebuilt. A failed build or a leaking student notebook fails the book build. Building needs
otter-grader (requirements-assignments.txt); in an environment without it the page names each notebook and says
where to get it instead of offering a download, and the build goes on.

It also defines, for that page, MyST substitutions with each assignment's points as its master declares them:
``{{ a1_points }}`` is "18 + 0" (autograded + written) for ``a1-policy-gradient``, and so on.
"""

from __future__ import annotations

import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

BOOK = Path(__file__).resolve().parent.parent
ROOT = BOOK.parent
OUT = BOOK / "_build" / "assignments"
PAGE = "teaching/assignments"
LOGGER = logging.getLogger(__name__)


def _have_otter() -> bool:
    return importlib.util.find_spec("otter") is not None


def _builder():
    """tools/build_assignments.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("build_assignments", ROOT / "tools" / "build_assignments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _key(master: Path) -> str:
    """The substitution prefix of a master: ``a1`` for ``a1-policy-gradient.ipynb``."""
    return master.stem.split("-", 1)[0]


def _add_points(app: Sphinx, config: Config) -> None:
    builder = _builder()
    points = {}
    for master in builder.masters([]):
        auto, manual = builder.question_points(master)
        points[f"{_key(master)}_points"] = f"{auto:g} + {manual:g}"
    config.myst_substitutions = {**points, **(config.myst_substitutions or {})}


def _build_student_notebooks(app: Sphinx) -> None:
    if not _have_otter():
        LOGGER.info("assignments: otter-grader is not installed (requirements-assignments.txt), so the student "
                    "notebooks are not built; the assignments page says where to get them")
        return
    builder = _builder()
    sources = [ROOT / "tools" / "build_assignments.py", builder.AUTOGRADER_REQUIREMENTS]

    def stale(master: Path) -> bool:
        target = OUT / master.name
        newest = max(p.stat().st_mtime for p in [master, *sources])
        return not target.exists() or target.stat().st_mtime < newest

    todo = [m for m in builder.masters([]) if stale(m)]
    if not todo:
        return
    LOGGER.info(f"building the student notebooks of {len(todo)} assignment(s) into {OUT}")
    with ThreadPoolExecutor(max_workers=2) as pool:   # each is its own otter process
        futures = [pool.submit(builder.student_notebook, master, OUT) for master in todo]
        for future in futures:
            try:
                future.result()
            except RuntimeError as error:
                raise ExtensionError(f"assignments: {error}") from error


def _without_downloads(app: Sphinx, docname: str, source: list[str]) -> None:
    """Without otter-grader: the page's download links become the notebook's name and how to build it."""
    if docname == PAGE and not _have_otter():
        source[0] = re.sub(r"\{download\}`([^<`]+?) <[^>]+>`",
                           r"`\1` (`make assignments` builds it; this copy of the book was built without otter-grader)",
                           source[0])


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _add_points)
    app.connect("source-read", _without_downloads)
    app.connect("builder-inited", _build_student_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
