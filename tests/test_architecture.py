"""The package's import graph, read from its source: no cycle, and no module imports one from a layer above its own
(the core never imports a study, a chart or a widget). Every import counts, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "labsupport"

#: the layers, bottom up: a module may import its own layer and those below
LAYERS = {
    "core": {"labsupport._checks", "labsupport.policies", "labsupport.problems", "labsupport.algorithms",
             "labsupport.fused", "labsupport.simulate", "labsupport.sequence", "labsupport.theory",
             "labsupport.metrics", "labsupport.labmode", "labsupport.data", "labsupport.rmreport"},
    "studies": {"labsupport.studies", "labsupport.studies.sweeps", "labsupport.studies.rlhf",
                "labsupport.studies.verifiable"},
    "presentation": {"labsupport.render", "labsupport.charts", "labsupport.widgets"},
    # the package's front (the lazy namespace, the command line, the labs' exercises) and the studies' former paths
    "front": {"labsupport", "labsupport.__main__", "labsupport.cli", "labsupport.exercises", "labsupport.sweeps",
              "labsupport.rlhf", "labsupport.verifiable"},
}
RANK = {module: rank for rank, members in enumerate(LAYERS.values()) for module in members}


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    found = {}
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from . import x`` counts as importing ``x`` when ``x`` is a
    module, else as importing the package that defines it)."""
    known = modules(root)
    graph = {}
    for name, file in known.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                subs = {f"{base}.{alias.name}" for alias in node.names} & known.keys()
                targets.update(subs if len(subs) == len(node.names) else subs | {base})
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as a path [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a module to one in a higher layer, as "a -> b"."""
    return [f"{a} -> {b}" for a in sorted(graph) for b in sorted(graph[a]) if RANK[b] > RANK[a]]


def test_every_module_has_a_layer():
    assert set(modules()) == set(RANK), "place a new module in LAYERS (tests/test_architecture.py) and the README"


def test_the_import_graph_has_no_cycle():
    assert cycle(import_graph()) == []


def test_no_module_imports_from_a_layer_above_its_own():
    graph = import_graph()
    assert upward(graph) == []
    assert "labsupport.studies.rlhf" in graph["labsupport.exercises"]         # the graph does see imports
    assert {"labsupport.sequence", "labsupport.data"} <= graph["labsupport.studies.rlhf"]


def test_the_checks_find_a_cycle_and_an_upward_import(tmp_path: Path):
    root = tmp_path / "labsupport"
    (root / "studies").mkdir(parents=True)
    for name, text in {"__init__.py": "", "problems.py": "", "theory.py": "from .studies import sweeps\n",
                       "simulate.py": "def f():\n    from labsupport import problems\n", "studies/__init__.py": "",
                       "studies/sweeps.py": "from ..simulate import x\nfrom .. import theory\n"}.items():
        (root / name).write_text(text)
    graph = import_graph(root)
    assert graph["labsupport.simulate"] == {"labsupport.problems"}           # an import inside a function counts
    assert graph["labsupport.studies.sweeps"] == {"labsupport.simulate", "labsupport.theory"}
    assert cycle(graph) == ["labsupport.studies.sweeps", "labsupport.theory", "labsupport.studies.sweeps"]
    assert upward(graph) == ["labsupport.theory -> labsupport.studies.sweeps"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []

