"""Build the course assignments: student notebooks and autograder bundles from the otter-grader masters.

For every master notebook ``notebooks/assignments/<name>.ipynb`` (otter-grader's assign format) this runs
``otter assign`` and writes

    build/assignments/<name>/student/<name>.ipynb                  what students get: no solutions, no hidden tests
    build/assignments/<name>/autograder/<name>.ipynb               the solution notebook (for instructors)
    build/assignments/<name>/autograder/<name>-autograder.zip      the autograder bundle (hidden tests included)
    build/assignments/<name>/autograder/otter_config.json

The autograder zip is self-contained for Gradescope: each master's assignment config names
``notebooks/assignments/autograder-requirements.txt`` (otter's ``requirements``), which installs a CPU build of PyTorch
and ``labsupport`` from a wheel that this script builds from the working tree and puts in the zip (otter's
``autograder_files``, under ``files/wheels/``). Otter writes these requirements, after its own, into the zip's
``environment.yml``, from which Gradescope builds the grading environment.

By default ``otter assign`` also executes each solution notebook and runs every test, public and hidden, against
it; a failing test fails the build. Before an assignment is put in place, its student notebook is checked for
leaks: no solution markers, no cell tagged as a solution, no hidden test and no line of solution code.

Each assignment is built in a scratch folder and moved into place only when everything succeeded, so a failed build
leaves the previous output untouched, and running the script twice gives the same notebooks (cell ids are made
stable, and the zip is renamed from otter's time-stamped name to a stable one). The exit status is non-zero when
any assignment failed.

Usage:
    python tools/build_assignments.py                 # all assignments, into build/assignments/
    python tools/build_assignments.py a3-stalling     # only these (names or master paths)
    python tools/build_assignments.py --no-run-tests  # skip executing the solutions (faster; tests are not run)
    python tools/build_assignments.py --out DIR       # somewhere else
    python tools/build_assignments.py --jobs 2        # two assignments at a time

Grading (no Docker): ``otter run -a build/assignments/<name>/autograder/<name>-autograder.zip SUBMISSION.ipynb``,
run with this project's environment (it executes the submission with the local Python kernel, where labsupport is
installed), or ``python tools/grade_all.py`` for a folder of submissions. See notebooks/assignments/README.md.

The book's assignments page gets its student notebooks from :func:`student_notebook` (the same build, without
executing the solutions).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MASTERS = ROOT / "notebooks" / "assignments"
DEFAULT_OUT = ROOT / "build" / "assignments"
# otter's `requirements` in every master's config: what grading needs besides otter-grader itself
AUTOGRADER_REQUIREMENTS = MASTERS / "autograder-requirements.txt"
WHEELS = "wheels"   # otter's `autograder_files` in every master's config: the folder that holds the labsupport wheel

SOLUTION_MARKERS = ("# BEGIN SOLUTION", "# END SOLUTION", "# SOLUTION", "# BEGIN QUESTION", "# BEGIN TESTS",
                    "# ASSIGNMENT CONFIG", "# HIDDEN")
SOLUTION_TAG = "otter_assign_solution_cell"


# ------------------------------------------------------------------------------------------- reading a master


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def masters(names: list[str]) -> list[Path]:
    """The master notebooks to build: all of notebooks/assignments/*.ipynb, or the ones named."""
    found = sorted(p for p in MASTERS.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        return found
    by_name = {p.stem: p for p in found}
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
        elif name in by_name:
            chosen.append(by_name[name])
        else:
            raise SystemExit(f"error: no master notebook named {name!r}; known: {', '.join(sorted(by_name)) or 'none'}")
    return chosen


def questions(master: Path) -> list[dict]:
    """Each question of a master, in order: ``{"config": ..., "public": [...], "hidden": [...]}``, its assignment config
    (name, points, manual) and the names of the public and hidden test functions it holds."""
    found: list[dict] = []
    current: dict | None = None
    in_tests = False
    for cell in json.loads(master.read_text(encoding="utf-8"))["cells"]:
        src = cell_source(cell)
        if cell["cell_type"] == "raw" and re.match(r"#\s+BEGIN\s+QUESTION", src, re.IGNORECASE):
            current = {"config": yaml.safe_load(src.split("\n", 1)[1]) or {}, "public": [], "hidden": []}
            found.append(current)
        elif cell["cell_type"] == "raw" and re.match(r"#\s+(BEGIN|END)\s+TESTS", src, re.IGNORECASE):
            in_tests = src.split()[1].upper() == "BEGIN"
        elif in_tests and current is not None and cell["cell_type"] == "code":
            kind = "hidden" if src.lstrip().upper().startswith("# HIDDEN") else "public"
            current[kind] += re.findall(r"^def (\w+)\(", src, re.MULTILINE)
    return found


def question_points(master: Path) -> tuple[float, float]:
    """(autograded points, manually graded points) declared in the master's question cells."""
    auto = manual = 0.0
    for question in questions(master):
        points = question["config"].get("points", 1)
        total = float(sum(points)) if isinstance(points, list) else float(points or 0)
        if question["config"].get("manual"):
            manual += total
        else:
            auto += total
    return auto, manual


def solution_lines(master: Path) -> set[str]:
    """Substantive lines of solution code and solution prose in a master, to look for in student notebooks.

    Code: the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` and the lines ending in ``# SOLUTION`` (their
    right-hand side); prose: Markdown cells inside solution blocks. Lines that also occur outside solutions (shared
    set-up code) and short lines are left out.
    """
    cells = json.loads(master.read_text(encoding="utf-8"))["cells"]
    in_solution_block = False
    solution, elsewhere = set(), set()
    for cell in cells:
        src = cell_source(cell)
        if cell["cell_type"] == "raw":
            if re.match(r"#\s+BEGIN\s+SOLUTION", src, re.IGNORECASE):
                in_solution_block = True
            elif re.match(r"#\s+END\s+SOLUTION", src, re.IGNORECASE):
                in_solution_block = False
            continue
        inside = False
        for line in src.splitlines():
            text = line.strip()
            if cell["cell_type"] == "code":
                if text.startswith("# BEGIN SOLUTION"):
                    inside = True
                    continue
                if text.startswith("# END SOLUTION"):
                    inside = False
                    continue
                if text.endswith("# SOLUTION"):
                    rhs = text[: -len("# SOLUTION")].strip()
                    solution.add(rhs.split("=", 1)[1].strip() if "=" in rhs else rhs)
                    continue
                (solution if inside else elsewhere).add(text)
            elif in_solution_block:
                solution.add(text)
            else:
                elsewhere.add(text)
    return {line for line in solution - elsewhere if len(line) >= 12}


def hidden_test_names(master: Path) -> set[str]:
    """Names of the hidden test functions of a master (test cells whose first line is ``# HIDDEN``)."""
    names = set()
    for cell in json.loads(master.read_text(encoding="utf-8"))["cells"]:
        src = cell_source(cell)
        if cell["cell_type"] == "code" and src.lstrip().upper().startswith("# HIDDEN"):
            names.update(re.findall(r"^def (\w+)\(", src, re.MULTILINE))
    return names


def leaks(master: Path, student: Path) -> list[str]:
    """Problems with a student notebook: anything of the solutions or hidden tests that it still contains."""
    nb = json.loads(student.read_text(encoding="utf-8"))
    problems = []
    text = "\n".join(cell_source(c) for c in nb["cells"])
    everything = text + "\n" + json.dumps(nb.get("metadata", {}))
    for marker in SOLUTION_MARKERS:
        if re.search(rf"^\s*{re.escape(marker)}\b", text, re.MULTILINE):
            problems.append(f"contains the marker {marker!r}")
    for i, cell in enumerate(nb["cells"]):
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            problems.append(f"cell {i} is tagged {SOLUTION_TAG!r}")
    for name in sorted(hidden_test_names(master)):
        if name in everything:
            problems.append(f"contains the hidden test {name!r}")
    for line in sorted(solution_lines(master)):
        if line in text:
            problems.append(f"contains solution text {line[:60]!r}")
    return problems


# ------------------------------------------------------------------------------------------------ building


def stable_cell_ids(path: Path) -> None:
    """Replace the random cell ids otter writes by ids that depend only on the cell's position, so that building
    twice gives identical notebooks."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if "id" in cell:
            cell["id"] = f"cell-{i:03d}"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def build_wheel(dest: Path) -> Path:
    """Build a wheel of labsupport (without its dependencies) from the working tree into ``dest``; returns its path.

    The package is copied to a temporary folder first, so the build writes nothing into the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "labsupport", src / "labsupport", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                               "--no-index", "-w", str(dest), str(src)], capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("labsupport-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"building the labsupport wheel failed:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return wheels[0]


def build_one(master: Path, out: Path, run_tests: bool, wheels: Path) -> tuple[bool, str]:
    """Run otter assign for one master into out/<name>; returns (ok, one line of summary or the error).

    The master is staged in a scratch folder next to what its config names: the autograder requirements and the
    folder ``wheels`` (a copy of ``wheels``, the folder holding the labsupport wheel)."""
    name = master.stem
    scratch = out / f".building-{name}"
    shutil.rmtree(scratch, ignore_errors=True)
    source, dist = scratch / "source", scratch / "dist"
    source.mkdir(parents=True)
    shutil.copy2(master, source / master.name)
    shutil.copy2(AUTOGRADER_REQUIREMENTS, source / AUTOGRADER_REQUIREMENTS.name)
    shutil.copytree(wheels, source / WHEELS)
    cmd = [sys.executable, "-m", "otter", "assign", "--no-pdfs", *([] if run_tests else ["--no-run-tests"]),
           str(source / master.name), str(dist)]
    proc = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                           if "Kernel is running over TCP" not in line)
        return False, f"otter assign exited with {proc.returncode}:\n{output[-4000:]}"
    zips = sorted((dist / "autograder").glob(f"{name}-autograder_*.zip"))
    student = dist / "student" / f"{name}.ipynb"
    solution = dist / "autograder" / f"{name}.ipynb"
    if len(zips) != 1 or not student.exists() or not solution.exists():
        shutil.rmtree(scratch, ignore_errors=True)
        return False, f"otter assign did not produce the expected files in {dist}"
    zips[0].rename(dist / "autograder" / f"{name}-autograder.zip")
    for notebook in (student, solution):
        stable_cell_ids(notebook)
    problems = leaks(master, student)
    if problems:
        shutil.rmtree(scratch, ignore_errors=True)
        return False, "the student notebook leaks:\n  " + "\n  ".join(problems)
    target = out / name
    shutil.rmtree(target, ignore_errors=True)
    dist.rename(target)
    shutil.rmtree(scratch, ignore_errors=True)
    auto, manual = question_points(master)
    return True, f"{auto:g} autograded + {manual:g} manual points"


def student_notebook(master: Path, dest: Path) -> Path:
    """The student version of one master, built as ``make assignments`` builds it but without executing the solution
    (and with an empty wheels folder, since the autograder is thrown away), written to ``dest/<name>.ipynb``.

    Raises RuntimeError with otter's message when the build fails or the student notebook leaks a solution."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / WHEELS
        wheels.mkdir()
        ok, message = build_one(master, Path(tmp), run_tests=False, wheels=wheels)
        if not ok:
            raise RuntimeError(f"{master.name}: {message}")
        partial = dest / f".{master.stem}.ipynb.partial"
        shutil.copy2(Path(tmp) / master.stem / "student" / master.name, partial)
        return partial.replace(dest / master.name)   # atomic: a reader never sees half a notebook


def build_all(todo: list[Path], out: Path, run_tests: bool, wheels: Path,
              jobs: int) -> list[tuple[str, bool, str, float]]:
    """Build the masters ``todo`` into ``out``, ``jobs`` at a time, printing one line each; returns
    (name, ok, message, seconds) per master."""

    def one(master: Path) -> tuple[str, bool, str, float]:
        start = time.perf_counter()
        ok, message = build_one(master, out, run_tests=run_tests, wheels=wheels)
        took = time.perf_counter() - start
        print(f"  {master.stem}: " + (f"ok ({message}; {took:.0f} s)" if ok else f"FAILED ({took:.0f} s)\n{message}"),
              flush=True)
        return master.stem, ok, message, took

    with ThreadPoolExecutor(max_workers=jobs) as pool:   # each build is its own otter process
        return list(pool.map(one, todo))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default: all masters in notebooks/assignments)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--no-run-tests", action="store_true",
                        help="do not execute the solution notebooks against the tests")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="assignments built at the same time (default 1)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1; got {args.jobs}")
    todo = masters(args.names)
    if not todo:
        print(f"no master notebooks found in {MASTERS}")
        return 1
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"Building {len(todo)} assignment(s) into {out}"
          + (" (tests not run)" if args.no_run_tests else " (each solution is executed against all its tests)"),
          flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp) / WHEELS)
        print(f"  built {wheel.name}", flush=True)
        results = build_all(todo, out, not args.no_run_tests, wheel.parent, args.jobs)
    failed = [name for name, ok, _, _ in results if not ok]
    if failed:
        print(f"{len(failed)} of {len(todo)} assignment(s) failed: {', '.join(failed)}")
        return 1
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"Done: student notebooks in {shown}/<name>/student/, solutions and autograder zips in "
          f"{shown}/<name>/autograder/")
    print(f"Grade a submission without Docker: .venv/bin/otter run -a {shown}/<name>/autograder/<name>-autograder.zip "
          "SUBMISSION.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
