"""Committed notebooks hold no outputs and no volatile metadata, and tools/clean_notebooks.py is what cleans them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

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
