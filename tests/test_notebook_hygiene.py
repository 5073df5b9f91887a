"""Committed notebooks hold no outputs and no volatile metadata, and tools/clean_notebooks.py is what cleans them;
their relative links resolve in the repository, and (through book/_ext/lab_links.py) in the book."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "clean_notebooks.py"
spec = importlib.util.spec_from_file_location("clean_notebooks", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

COMMITTED = tool.notebooks([])


def test_the_notebooks_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in COMMITTED}
    assert {"notebooks/01-policy-gradient-lab.ipynb", "notebooks/assignments/a1-policy-gradient.ipynb"} <= names
    assert len([n for n in names if n.startswith("notebooks/assignments/")]) == 5


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_notebook_is_clean(path):
    removed = tool.check(path)
    assert not removed, (f"{path.relative_to(ROOT)} has {', '.join(removed)}; "
                         f"clean it with: .venv/bin/python tools/clean_notebooks.py {path.relative_to(ROOT)}")


def dirty_copy(tmp_path: Path) -> tuple[Path, dict]:
    """A copy of lab 1 as JupyterLab leaves it after a run: outputs, counts, timestamps, view state, widget state,
    the kernel's versions; plus a tag and a kernelspec that must survive."""
    nb = json.loads((ROOT / "notebooks" / "01-policy-gradient-lab.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]
    code[0]["execution_count"] = 7
    code[0]["metadata"].update(collapsed=False, scrolled=True, tags=["keep-me"],
                               execution={"iopub.execute_input": "2026-01-01T00:00:00.000000Z"})
    code[1]["metadata"]["jupyter"] = {"outputs_hidden": True}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "codemirror_mode": {"version": 3}}
    path = tmp_path / "lab.ipynb"
    path.write_text(json.dumps(nb, indent=2), encoding="utf-8")   # not nbformat's layout either
    return path, nb


def test_clean_removes_exactly_the_volatile_parts_and_is_idempotent(tmp_path):
    path, before = dirty_copy(tmp_path)
    assert set(tool.check(path)) == {"outputs", "execution counts", "cell metadata 'collapsed'",
                                     "cell metadata 'scrolled'", "cell metadata 'execution'",
                                     "cell metadata 'jupyter'", "notebook metadata 'widgets'",
                                     "kernel versions in 'language_info'"}
    assert json.loads(path.read_text()) == before   # --check writes nothing
    tool.clean_file(path)
    after = json.loads(path.read_text(encoding="utf-8"))
    assert [c["source"] for c in after["cells"]] == [c["source"] for c in before["cells"]]
    assert [c.get("id") for c in after["cells"]] == [c.get("id") for c in before["cells"]]
    code = [c for c in after["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert code[0]["metadata"] == {"tags": ["keep-me"]}
    assert after["metadata"] == {"kernelspec": before["metadata"]["kernelspec"], "language_info": {"name": "python"}}
    text = path.read_text(encoding="utf-8")
    assert tool.check(path) == [] and tool.clean_file(path) == [] and path.read_text(encoding="utf-8") == text
    # a clean committed notebook comes out of the cleaner byte for byte unchanged
    lab = ROOT / "notebooks" / "01-policy-gradient-lab.ipynb"
    assert tool.dumps(json.loads(lab.read_text(encoding="utf-8"))) == lab.read_text(encoding="utf-8")


def test_command_line_check_and_clean(tmp_path):
    path, _ = dirty_copy(tmp_path)
    run = [sys.executable, str(TOOL)]
    checked = subprocess.run([*run, "--check", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 1 and "would remove outputs" in checked.stdout, checked.stdout + checked.stderr
    cleaned = subprocess.run([*run, str(tmp_path)], capture_output=True, text=True, check=False)
    assert cleaned.returncode == 0 and "removed outputs" in cleaned.stdout, cleaned.stdout + cleaned.stderr
    again = subprocess.run([*run, "--check", str(path)], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and again.stdout == "", again.stdout
    bad = subprocess.run([*run, str(tmp_path / "missing.ipynb")], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "missing.ipynb" in bad.stderr and "neither a notebook nor a folder" in bad.stderr


# ------------------------------------------------------------------------------------------------ relative links

BOOK = ROOT / "book"
LABS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("lab_links", BOOK / "_ext" / "lab_links.py")
lab_links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_links)


def relative_links(nb: dict) -> list[str]:
    """The relative link and image targets of the notebook's Markdown cells, without #anchors (http(s), mailto and
    in-page links left out)."""
    md = MarkdownIt("commonmark")
    targets = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for token in md.parse(source):
            for child in token.children or []:
                target = child.attrGet("href") if child.type == "link_open" else child.attrGet("src")
                if child.type in ("link_open", "image") and target:
                    target = urllib.parse.unquote(target.split("#", 1)[0])
                    if target and not target.startswith(("http://", "https://", "mailto:")):
                        targets.append(target)
    return targets


def unresolved(folder: Path, targets: list[str], within: Path) -> list[str]:
    """The targets that, read from ``folder`` (without following links), leave ``within`` or name no file."""
    bad = []
    for target in targets:
        path = Path(os.path.normpath(folder / target))
        if not path.is_relative_to(within):
            bad.append(f"{target} (outside {within})")
        elif not path.is_file():
            bad.append(f"{target} (no such file)")
    return bad


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_relative_links_resolve_in_the_repository(path):
    """Opened from the repository (JupyterLab in the repository root, GitHub's notebook view), every relative link of
    a notebook's Markdown names a file of the repository."""
    targets = relative_links(json.loads(path.read_text(encoding="utf-8")))
    bad = unresolved(path.parent, targets, ROOT)
    assert not bad, f"{path.relative_to(ROOT)} has broken links: {bad}"


@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_a_labs_links_resolve_in_the_book(path):
    """In the book the lab is book/notebooks/<name>; after lab_links' rewrite of its source (the .ipynb text, as
    Sphinx's source-read passes it), every relative link names a file of the book, and the lab links to a chapter."""
    text = lab_links.rewrite(f"notebooks/{path.stem}", path.read_text(encoding="utf-8"))
    targets = relative_links(json.loads(text))
    assert any(t.startswith("../chapters/") for t in targets), f"{path.name} links to no chapter"
    bad = unresolved(BOOK / "notebooks", targets, BOOK)
    assert not bad, f"{path.relative_to(ROOT)} has links that are broken in the book: {bad}"


def test_the_hook_rewrites_only_a_labs_links_to_the_book():
    lab = '"See [Chapter 4](../book/chapters/04-taxonomy.md#sec), ![a](<../book/_static/x.svg>).\\n",'
    assert lab_links.rewrite("notebooks/04-taxonomy-lab", lab) == (
        '"See [Chapter 4](../chapters/04-taxonomy.md#sec), ![a](<../_static/x.svg>).\\n",')
    chapter = "The [lab](../notebooks/04-taxonomy-lab.ipynb) and [a path](../book/chapters/x.md)."
    assert lab_links.rewrite("chapters/04-taxonomy", chapter) == chapter
    other = "[a](../booklet/x.md) [b](../../book/x.md) [c](https://example.org/../book/x)"
    assert lab_links.rewrite("notebooks/04-taxonomy-lab", other) == other
    source = [lab]
    lab_links.source_read(None, "notebooks/04-taxonomy-lab", source)
    assert source == [lab_links.rewrite("notebooks/04-taxonomy-lab", lab)]
