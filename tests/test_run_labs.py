"""tools/run_labs.py, the check that runs lab notebooks where the book build does not (a GPU machine): it reports
each notebook's time, names the failing one with its error, and counts failures in its exit status."""

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, path)
    return path


def test_run_labs_reports_each_notebook_and_counts_failures(tmp_path):
    good = notebook(tmp_path / "good.ipynb", "from pathlib import Path\nassert Path('good.ipynb').exists()")  # cwd
    bad = notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('planted failure')")
    dead = notebook(tmp_path / "dead.ipynb", "import os\nos._exit(1)")  # the kernel dies: the next notebook still runs
    last = notebook(tmp_path / "last.ipynb", "1 + 1")
    before = bad.read_text()
    out = subprocess.run([sys.executable, "tools/run_labs.py", str(good), str(bad), str(dead), str(last)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "good.ipynb: ok in" in out.stdout and "last.ipynb: ok in" in out.stdout
    assert "bad.ipynb: FAILED (CellExecutionError)" in out.stdout and "planted failure" in out.stdout
    assert "dead.ipynb: FAILED (DeadKernelError)" in out.stdout
    assert "2 of 4 notebooks ran" in out.stdout
    assert bad.read_text() == before  # notebooks are never written back


def test_run_labs_names_a_missing_notebook():
    out = subprocess.run([sys.executable, "tools/run_labs.py", "no-such-lab.ipynb"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "no such notebook: no-such-lab.ipynb" in out.stderr
