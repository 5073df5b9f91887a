"""Strip outputs and volatile metadata from notebooks, so that committed notebooks hold only what their authors wrote.

    python tools/clean_notebooks.py               # clean notebooks/*.ipynb and notebooks/assignments/*.ipynb in place
    python tools/clean_notebooks.py --check       # change nothing; list what would change, exit 1 if anything would
    python tools/clean_notebooks.py PATH ...      # only these notebooks (or every notebook in these folders)

What goes: every output and execution count; per cell, the view state that Jupyter front ends write (``collapsed``,
``scrolled``, ``jupyter`` (hidden inputs/outputs), ``execution`` timestamps, ``ExecuteTime``, ``trusted``); per
notebook, saved widget state (``widgets``), the kernel's versions (``language_info`` keeps only ``name``) and
front-end state (``toc``, ``varInspector``, ``celltoolbar``, ``vscode``, ``interpreter``, ``colab``). What stays: the
cells' sources, ids, tags and other author metadata, and the ``kernelspec`` that says which kernel runs the notebook.

The notebooks are written as nbformat writes them (keys sorted, one-space indent, UTF-8, final newline), so a clean
notebook is left byte for byte as it is: running the command twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDERS = (ROOT / "notebooks", ROOT / "notebooks" / "assignments")
VOLATILE_CELL_KEYS = ("collapsed", "scrolled", "jupyter", "execution", "ExecuteTime", "trusted")
VOLATILE_NOTEBOOK_KEYS = ("widgets", "toc", "varInspector", "celltoolbar", "vscode", "interpreter", "colab")


def clean(nb: dict) -> list[str]:
    """Clean a notebook (the parsed JSON) in place; returns what was removed, one short phrase per kind."""
    removed: dict[str, int] = {}

    def note(what: str) -> None:
        removed[what] = removed.get(what, 0) + 1

    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            if cell.get("outputs"):
                note("outputs")
            if cell.get("execution_count") is not None:
                note("execution counts")
            cell["outputs"], cell["execution_count"] = [], None
        for key in VOLATILE_CELL_KEYS:
            if key in cell.get("metadata", {}):
                del cell["metadata"][key]
                note(f"cell metadata {key!r}")
    metadata = nb.setdefault("metadata", {})
    for key in VOLATILE_NOTEBOOK_KEYS:
        if key in metadata:
            del metadata[key]
            note(f"notebook metadata {key!r}")
    language = metadata.get("language_info")
    if isinstance(language, dict) and set(language) - {"name"}:
        metadata["language_info"] = {"name": language.get("name", "python")}
        note("kernel versions in 'language_info'")
    return [f"{what} ({count})" if count > 1 else what for what, count in removed.items()]


def dumps(nb: dict) -> str:
    """The notebook's text as nbformat writes it."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def check(path: Path) -> list[str]:
    """What cleaning would change in the notebook at ``path`` (empty when it is clean); writes nothing."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    removed = clean(nb)
    if not removed and dumps(nb) != text:
        removed = ["formatting (not as nbformat writes it)"]
    return removed


def clean_file(path: Path) -> list[str]:
    """Clean the notebook at ``path`` in place; returns what was removed (nothing is written when it is clean)."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    removed = clean(nb)
    if dumps(nb) != text:
        path.write_text(dumps(nb), encoding="utf-8")
        removed = removed or ["formatting (not as nbformat writes it)"]
    return removed


def notebooks(paths: list[Path]) -> list[Path]:
    """The notebooks named, or found directly inside the folders named (default: notebooks/ and
    notebooks/assignments/); checkpoints are skipped."""
    found: list[Path] = []
    for path in paths or list(DEFAULT_FOLDERS):
        if path.is_dir():
            found += sorted(path.glob("*.ipynb"))
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"error: path {str(path)!r} is neither a notebook nor a folder")
    return [p for p in found if ".ipynb_checkpoints" not in p.parts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks or folders (default: notebooks/ and "
                                                            "notebooks/assignments/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any notebook is not clean")
    args = parser.parse_args(argv)
    dirty = 0
    for path in notebooks(args.paths):
        removed = check(path) if args.check else clean_file(path)
        if removed:
            dirty += 1
            shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
            print(f"{shown}: {'would remove' if args.check else 'removed'} {', '.join(removed)}")
    if args.check and dirty:
        print(f"{dirty} notebook(s) not clean; run: python tools/clean_notebooks.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
