"""The course assignments: masters well formed, student versions free of solutions and hidden tests, grading without
Docker gives full marks to the solutions and zero to untouched student notebooks.

The fast tests read the master notebooks in notebooks/assignments/. The slow ones (marked ``book``, like the other
tests that execute notebooks, so that ``-m "not book"`` stays fast) build every assignment with
``tools/build_assignments.py`` into a temporary folder and grade notebooks with ``otter run``, otter-grader's
non-containerised grader, which executes a submission with this environment's Python kernel: about three minutes on
two cores.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("otter", reason="otter-grader is not installed (it is listed in requirements.txt)")

ROOT = Path(__file__).resolve().parents[1]
MASTERS = ROOT / "notebooks" / "assignments"
TOOL = ROOT / "tools" / "build_assignments.py"

# name -> (autograded points, manually graded points), as declared in each master
EXPECTED = {
    "a1-policy-gradient": (18, 0),
    "a2-predicted-categories": (15, 4),
    "a3-stalling": (15, 8),
    "a4-reward-model-metrics": (10, 6),
    "a5-verifiable-reward-design": (19, 8),
}
NAMES = sorted(EXPECTED)


def load_tool():
    spec = importlib.util.spec_from_file_location("build_assignments", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return tool.cell_source(cell)


def questions(master: Path) -> list[dict]:
    """Each question of a master: its config and the public / hidden test functions it holds."""
    import yaml

    found, current, in_tests = [], None, False
    for cell in cells(master):
        src = source(cell)
        if cell["cell_type"] == "raw" and re.match(r"#\s+BEGIN\s+QUESTION", src, re.IGNORECASE):
            current = {"config": yaml.safe_load(src.split("\n", 1)[1]), "public": [], "hidden": []}
            found.append(current)
        elif cell["cell_type"] == "raw" and re.match(r"#\s+(BEGIN|END)\s+TESTS", src, re.IGNORECASE):
            in_tests = src.split()[1].upper() == "BEGIN"
        elif in_tests and cell["cell_type"] == "code":
            kind = "hidden" if src.lstrip().upper().startswith("# HIDDEN") else "public"
            current[kind] += re.findall(r"^def (\w+)\(", src, re.MULTILINE)
    return found


# ---------------------------------------------------------------------------------------------- the masters


def test_the_five_masters_exist():
    assert sorted(p.stem for p in MASTERS.glob("*.ipynb")) == NAMES
    assert (MASTERS / "README.md").exists()


@pytest.mark.parametrize("name", NAMES)
def test_master_is_well_formed(name):
    master = MASTERS / f"{name}.ipynb"
    first = source(cells(master)[0])
    assert first.startswith("# ASSIGNMENT CONFIG") and f"name: {name}" in first
    intro = source(cells(master)[1])
    assert "Learning objectives" in intro and "Estimated time" in intro
    qs = questions(master)
    auto = [q for q in qs if not q["config"].get("manual")]
    manual = [q for q in qs if q["config"].get("manual")]
    for q in auto:   # every autograded question has public checks for students and hidden ones for grading
        assert q["public"] and q["hidden"], q["config"]["name"]
        points = q["config"]["points"]
        if isinstance(points, list):
            assert len(points) == len(q["public"]) + len(q["hidden"]), q["config"]["name"]
    for q in manual:
        assert not q["public"] and not q["hidden"]
    assert tool.question_points(master) == EXPECTED[name]
    text = "\n".join(source(c) for c in cells(master))
    assert text.count("**Answer (for graders") == len(manual)   # a model answer for every written question
    for c in cells(master):   # committed without outputs
        assert not c.get("outputs") and c.get("execution_count") is None


def test_leak_check_finds_solutions_in_a_master():
    """The check used on student notebooks finds the solutions and hidden tests when they are there."""
    master = MASTERS / "a1-policy-gradient.ipynb"
    problems = tool.leaks(master, master)
    assert any("BEGIN SOLUTION" in p for p in problems)
    assert any("hidden test 'test_softmax_hidden'" in p for p in problems)
    assert any("solution text" in p for p in problems)
    assert len(tool.solution_lines(master)) >= 15
    assert tool.hidden_test_names(master) >= {"test_softmax_hidden", "test_pg_hidden", "test_first_step_hidden"}


# ---------------------------------------------------------------------------------- building and grading (slow)


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """All assignments built once into a temporary folder (the solutions are executed by the grading tests)."""
    out = tmp_path_factory.mktemp("assignments")
    proc = run_tool("--out", str(out), "--no-run-tests", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in NAMES:
        assert f"{name}: ok" in proc.stdout
    return out


def grade(notebook: Path, autograder: Path, results: Path) -> dict:
    """``otter run`` on one notebook (no Docker); returns {"total", "possible", "questions": {q: (score, max)}}."""
    results.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder),
                           "-o", str(results), str(notebook)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"otter run failed on {notebook}:\n{(proc.stdout + proc.stderr)[-4000:]}"
    tests = json.loads((results / "results.json").read_text())["tests"]
    scored = {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "max_score" in t}
    return {"total": sum(s for s, _ in scored.values()), "possible": sum(m for _, m in scored.values()),
            "questions": scored, "log": proc.stdout[-3000:]}


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory) -> dict:
    """Every solution notebook and every untouched student notebook, graded two at a time."""
    where = tmp_path_factory.mktemp("grading")
    jobs = []
    for name in NAMES:
        zip_path = built / name / "autograder" / f"{name}-autograder.zip"
        jobs.append(((name, "solution"), built / name / "autograder" / f"{name}.ipynb", zip_path))
        jobs.append(((name, "student"), built / name / "student" / f"{name}.ipynb", zip_path))
    # the slowest (a3) first, so that two workers finish together
    jobs.sort(key=lambda job: job[0][0] != "a3-stalling")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(grade, nb, zf, where / f"{key[0]}-{key[1]}") for key, nb, zf in jobs}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_build_writes_student_solution_and_autograder(built, name):
    folder = built / name
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        f"autograder/{name}-autograder.zip", f"autograder/{name}.ipynb", "autograder/otter_config.json",
        f"student/{name}.ipynb"]
    master = MASTERS / f"{name}.ipynb"
    qs = questions(master)
    auto = [q for q in qs if not q["config"].get("manual")]
    with zipfile.ZipFile(folder / "autograder" / f"{name}-autograder.zip") as zf:
        files = set(zf.namelist())
        assert {f"tests/{q['config']['name']}.py" for q in auto} <= files
        for q in auto:   # the bundle holds the hidden tests, marked hidden
            test_file = zf.read(f"tests/{q['config']['name']}.py").decode()
            for fn in q["hidden"]:
                assert re.search(rf"@test_case\(points=[^)]*hidden=True[^)]*\)\ndef {fn}\(", test_file), fn
            for fn in q["public"]:
                assert re.search(rf"@test_case\(points=[^)]*hidden=False[^)]*\)\ndef {fn}\(", test_file), fn
    config = json.loads((folder / "autograder" / "otter_config.json").read_text())
    assert config["assignment_name"] == name


@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_student_version_has_no_solutions_and_no_hidden_tests(built, name):
    master = MASTERS / f"{name}.ipynb"
    student = built / name / "student" / f"{name}.ipynb"
    nb = json.loads(student.read_text(encoding="utf-8"))
    text = "\n".join(source(c) for c in nb["cells"])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION", "BEGIN TESTS", "# HIDDEN", "Answer (for graders"):
        assert marker not in text, marker
    hidden = {fn for q in questions(master) for fn in q["hidden"]}
    public = {fn for q in questions(master) for fn in q["public"]}
    metadata_tests = "\n".join(nb["metadata"]["otter"]["tests"].values())
    assert hidden and not any(fn in text or fn in metadata_tests for fn in hidden)
    assert all(fn in metadata_tests for fn in public)   # students can run the public checks
    solution = tool.solution_lines(master)
    assert len(solution) >= 5
    assert not [line for line in solution if line in text]
    # the solution notebook, by contrast, still has them: the check above is not vacuous
    solved = "\n".join(source(c) for c in cells(built / name / "autograder" / f"{name}.ipynb"))
    assert [line for line in solution if line in solved]
    assert tool.leaks(master, student) == []


@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_solution_gets_full_marks(graded, name):
    result = graded[(name, "solution")]
    auto, _ = EXPECTED[name]
    assert result["possible"] == auto
    assert result["total"] == auto, f"{result['questions']}\n{result['log']}"


@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_notebook_gets_zero(graded, name):
    result = graded[(name, "student")]
    auto, _ = EXPECTED[name]
    names = {q["config"]["name"] for q in questions(MASTERS / f"{name}.ipynb") if not q["config"].get("manual")}
    assert set(result["questions"]) == names   # graded to the end: every question has a score
    assert result["possible"] == auto
    assert result["total"] == 0, result["questions"]


@pytest.mark.book
def test_build_is_idempotent_and_fails_loudly(built, tmp_path):
    """A second build leaves the same files; a master whose solution fails its tests exits non-zero and leaves the
    earlier output alone."""
    out = tmp_path / "out"
    shutil.copytree(built / "a4-reward-model-metrics", out / "a4-reward-model-metrics")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    proc = run_tool("--out", str(out), "--no-run-tests", "a4-reward-model-metrics")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    a = json.loads((built / "a4-reward-model-metrics" / "student" / "a4-reward-model-metrics.ipynb").read_text())
    b = json.loads((out / "a4-reward-model-metrics" / "student" / "a4-reward-model-metrics.ipynb").read_text())
    assert a == b

    broken = tmp_path / "broken-master.ipynb"
    nb = json.loads((MASTERS / "a4-reward-model-metrics.ipynb").read_text())
    for cell in nb["cells"]:   # a wrong solution: Acc counts ties as correct
        cell["source"] = source(cell).replace(
            "np.mean(np.asarray(r_chosen, float) > np.asarray(r_rejected, float))",
            "np.mean(np.asarray(r_chosen, float) >= np.asarray(r_rejected, float))")
    broken.write_text(json.dumps(nb))
    (out / "broken-master").mkdir()
    (out / "broken-master" / "keep.txt").write_text("earlier output")
    proc = run_tool("--out", str(out), str(broken))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "broken-master: FAILED" in proc.stdout and "q1" in proc.stdout
    assert (out / "broken-master" / "keep.txt").read_text() == "earlier output"
    assert not any(p.name.startswith(".building-") for p in out.iterdir())
