"""Sphinx extension: the ``labsupport`` API reference appendix, generated from the docstrings at every build.

Before the sources are read, it writes ``book/api/labsupport.md`` (ignored by git: generated, never committed): for
each module of the package, its docstring, then the signature and docstring of every public name it defines. The
docstrings are shown verbatim in fenced blocks (they carry plain-text formulas, not reStructuredText), so the page
always says exactly what ``help()`` says.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

PAGE = Path(__file__).resolve().parent.parent / "api" / "labsupport.md"
#: by layer, as README.md's architecture section draws them: core, the chapters' studies, presentation, front
MODULES = ("problems", "policies", "algorithms", "simulate", "fused", "sequence", "theory", "metrics", "labmode",
           "rmreport", "data", "studies", "studies.sweeps", "studies.rlhf", "studies.verifiable", "render", "charts",
           "widgets", "cli", "exercises")
INTRO = """# API reference: `labsupport`

Everything the labs call, generated from the package's docstrings when the book is built (the same text as
`help()` in a notebook). `import labsupport as ls` exposes the main names directly: `ls.Bandit`, `ls.train`,
`ls.ExactPG`, `ls.Reinforce`, `ls.RLOO`, `ls.GRPO`, `ls.PPO`, `ls.categorize`, `ls.metrics`, `ls.theory`,
`ls.pick`, `ls.rm_report`; `ls.charts`, `ls.widgets`, the committed data `ls.data` and the chapters' studies
`ls.studies.sweeps`, `ls.studies.rlhf` and `ls.studies.verifiable` are imported on first use.

The modules below come in layers, bottom up: the core every chapter uses (`problems` to `rmreport`, and `data`), the
chapters' studies on top of it (`studies`), the presentation (`render`, `charts`, `widgets`), and the front
(`cli`, `exercises`). A module imports its own layer and those below, never one above.
"""


def _fence(text: str) -> str:
    text = inspect.cleandoc(text or "(no docstring)")
    ticks = "`" * max(3, max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{ticks}text\n{text}\n{ticks}\n"


def _public(module) -> list[tuple[str, object]]:
    """The public classes and functions defined in ``module`` (its ``__all__`` when it has one), in source order."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    members = [(n, getattr(module, n)) for n in names if hasattr(module, n)]
    members = [(n, m) for n, m in members if (inspect.isclass(m) or inspect.isfunction(m))
               and getattr(m, "__module__", None) == module.__name__]
    return sorted(members, key=lambda item: inspect.getsourcelines(item[1])[1])


def _signature(name: str, obj) -> str:
    for evaluate in (True, False):  # annotations as types where they resolve, else as written
        try:
            return f"{name}{inspect.signature(obj, eval_str=evaluate)}"
        except Exception:  # noqa: BLE001 - an annotation that does not evaluate
            continue
    return name


def _methods(cls) -> list[tuple[str, object]]:
    own = [(n, m) for n, m in vars(cls).items() if not n.startswith("_") and (inspect.isfunction(m) or
                                                                              isinstance(m, property))]
    return [(n, m.fget if isinstance(m, property) else m) for n, m in own]


def render() -> str:
    """The whole page as MyST Markdown."""
    parts = [INTRO]
    for short in MODULES:
        try:
            module = importlib.import_module(f"labsupport.{short}")
        except ImportError as err:  # labsupport.fused needs Triton, which exists for Linux only
            parts.append(f"\n## `labsupport.{short}`\n\nNot documented in this build: {err}.\n")
            continue
        parts.append(f"\n## `labsupport.{short}`\n\n{_fence(module.__doc__)}")
        for name, obj in _public(module):
            kind = "class" if inspect.isclass(obj) else "function"
            parts.append(f"\n### `{name}` ({kind})\n\n```python\n{_signature(name, obj)}\n```\n\n{_fence(obj.__doc__)}")
            if inspect.isclass(obj):
                for method, fn in _methods(obj):
                    if fn.__doc__:
                        parts.append(f"\n**`{name}.{method}`**: `{_signature(method, fn)}`\n\n{_fence(fn.__doc__)}")
    return "".join(parts)


def write_page(app: Sphinx, config: Config) -> None:
    text = render()
    if not PAGE.exists() or PAGE.read_text() != text:  # unchanged text keeps incremental builds incremental
        PAGE.parent.mkdir(exist_ok=True)
        PAGE.write_text(text)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", write_page, priority=100)  # before the table of contents is read
    return {"parallel_read_safe": True, "parallel_write_safe": True}
