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
import yaml

pytest.importorskip("otter", reason="otter-grader is not installed (it is listed in requirements-assignments.txt)")

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


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool("build_assignments")
grade_all = load_tool("grade_all")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return tool.cell_source(cell)


questions = tool.questions


def requirement_lines(text: str) -> list[str]:
    """The lines of a requirements file that pip reads (no comments, no blank lines)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


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


def public_test(name: str, test: str):
    """The public test function ``test`` of the master ``name``, defined from its cell (the call that ends the cell is
    left out), as the student version runs it."""
    for cell in cells(MASTERS / f"{name}.ipynb"):
        src = source(cell)
        if cell["cell_type"] == "code" and src.startswith(f"def {test}("):
            namespace: dict = {}
            exec(src.rsplit("\n\n", 1)[0], namespace)
            return namespace[test]
    raise AssertionError(f"{name} has no public test {test}")


def failure(test, *answers) -> str:
    """The message a public test fails with on ``answers`` (an AssertionError, not another exception)."""
    with pytest.raises(AssertionError) as failed:
        test(*answers)
    return str(failed.value)


def test_public_tests_say_what_is_wrong_with_a_typical_wrong_answer():
    """The public checks a student runs name the quantity, its value and what was expected, so that a failing
    ``grader.check`` helps: an unchanged placeholder, one step too few, a log-probability for a probability, an array
    for a list, outcome probabilities that count the joint success twice (0.6 + 0.08 + ... sums to 1.03, not 1)."""
    import numpy as np

    def softmax(z):
        z = np.asarray(z, dtype=float)
        return np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)

    def exact_pg(theta0, r, lr, steps, phi=None):
        theta, probs = np.array(theta0, dtype=float), []
        for _ in range(steps + 1):
            probs.append(softmax(theta))
            theta = theta + lr * probs[-1] * (r - probs[-1] @ r)
        return np.array(probs)

    a1 = "a1-policy-gradient"
    assert "returned None" in failure(public_test(a1, "test_softmax_public"), lambda z: None)
    assert "sums to 1.1, not 1" in failure(public_test(a1, "test_softmax_public"), lambda z: softmax(z) * 1.1)
    pg = public_test(a1, "test_pg_public")
    pg(exact_pg)                                                        # the right answer passes
    assert "shape (4, 3); expected (steps + 1, N) = (5, 3)" in failure(pg, lambda *a, **k: exact_pg(*a, **k)[1:])
    assert "initial policy" in failure(pg, lambda *a, **k: np.log(exact_pg(*a, **k)))
    no_baseline = failure(public_test(a1, "test_tabular_public"), lambda th, r, phi=None: float(softmax(th) @ r),
                          lambda th, r, phi=None: softmax(th) * r)
    assert "sums to zero" in no_baseline and "-0.9" in no_baseline
    rising = public_test(a1, "test_rising_public")
    rising([0], [np.int64(0), np.int64(1)])                             # numpy ints are ints
    assert "Python list" in failure(rising, np.array([0]), [0, 1])
    p = np.array([1 - 0.6 - 0.08, 0.6, 0.08, 0.03])                     # P(C1) and P(C2) with the joint success in
    twice = failure(public_test("a5-verifiable-reward-design", "test_q1_public"), p, np.full(4, 0.25))
    assert "sums to 1.03, not 1" in twice and "disjoint" in twice
    steps = failure(public_test("a3-stalling", "test_q1_public"), np.full((3, 5), 0.2), [1, 2, 3], [5, -1, 7])
    assert "a -1 means never" in steps


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
    """``otter run`` on one notebook (no Docker), as tools/grade_all.py runs it; returns
    {"total", "possible", "questions": {q: (score, max)}, "log"}."""
    result = grade_all.grade_one(notebook, autograder, results)
    assert not result["error"], f"otter run failed on {notebook}: {result['error']}\n{result['log']}"
    return result


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


@pytest.mark.slow
@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_build_writes_student_solution_and_autograder(built, name):
    folder = built / name
    wheel = "labsupport-0.1.0-py3-none-any.whl"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        f"autograder/{name}-autograder.zip", f"autograder/{name}.ipynb", "autograder/otter_config.json",
        "autograder/requirements.txt", f"autograder/wheels/{wheel}", f"student/{name}.ipynb"]
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
        # what Gradescope installs: otter-grader, then the project's autograder requirements, with labsupport's wheel
        environment = yaml.safe_load(zf.read("environment.yml"))
        pip_lines = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
        assert pip_lines[0].startswith("otter-grader[grading,plugins]==")
        assert pip_lines[1:] == requirement_lines(tool.AUTOGRADER_REQUIREMENTS.read_text())
        assert {"labsupport", "torch>=2.2,<3", "--extra-index-url https://download.pytorch.org/whl/cpu",
                "--find-links /autograder/source/files/wheels"} <= set(pip_lines)
        with zf.open(f"files/wheels/{wheel}") as inner, zipfile.ZipFile(inner) as whl:
            packaged = {n for n in whl.namelist() if n.startswith("labsupport/")}
    assert packaged >= {f"labsupport/{p.relative_to(ROOT / 'labsupport').as_posix()}"
                        for p in (ROOT / "labsupport").rglob("*") if p.suffix in (".py", ".jsonl")}
    config = json.loads((folder / "autograder" / "otter_config.json").read_text())
    assert config["assignment_name"] == name


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_solution_gets_full_marks(graded, name):
    result = graded[(name, "solution")]
    auto, _ = EXPECTED[name]
    assert result["possible"] == auto
    assert result["total"] == auto, f"{result['questions']}\n{result['log']}"


@pytest.mark.slow
@pytest.mark.book
@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_notebook_gets_zero(graded, name):
    result = graded[(name, "student")]
    auto, _ = EXPECTED[name]
    names = {q["config"]["name"] for q in questions(MASTERS / f"{name}.ipynb") if not q["config"].get("manual")}
    assert set(result["questions"]) == names   # graded to the end: every question has a score
    assert result["possible"] == auto
    assert result["total"] == 0, result["questions"]


@pytest.mark.slow
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


# ------------------------------------------------------------------------- grading from the autograder zip alone

ZIP_CASE = "a1-policy-gradient"
# the wrong submission: a softmax without the max subtracted (overflows on large logits); only the hidden check of
# question 1 that feeds it extreme logits can see it, so it loses exactly that check's points
UNSTABLE_SOFTMAX = "    z = z - z.max(axis=-1, keepdims=True)\n"


def local_cpu_torch() -> str | None:
    """The version of the CPU build of PyTorch that pip finds without downloading, as tools/install_env.py looks for
    one (its ``local_cpu_torch_wheel``); None when there is none."""
    install_env = load_tool("install_env")
    with install_env.local_cpu_torch_wheel(Path(sys.executable), install_env.torch_requirement()) as wheel:
        return wheel.name.split("-")[1] if wheel is not None else None


def environment_from_zip(zip_path: Path, where: Path) -> tuple[Path, dict]:
    """A fresh virtual environment made only from what the autograder zip says, as Gradescope makes it.

    Gradescope unpacks the zip into /autograder/source and creates the conda environment of its environment.yml
    there (conda runs pip in that folder). Here: the zip is unpacked into ``where/source``; the environment's
    Python packages (its conda packages other than python and pip, then its pip lines, unchanged) go into one
    requirements file in that folder, which a new venv installs with pip run in that folder. Not from the zip: the
    interpreter (this one, not conda's Python) and a constraint pinning torch to the local CPU build, when the
    PyTorch CPU index cannot be reached (pip skips an index it cannot reach). Returns (the venv's bin folder, the
    environment variables to run it with)."""
    source = where / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    dependencies = yaml.safe_load((source / "environment.yml").read_text())["dependencies"]
    conda = [d for d in dependencies if isinstance(d, str) and not re.match(r"(python|pip)\b", d)]
    pip_lines = next(d["pip"] for d in dependencies if isinstance(d, dict))
    (source / "requirements-from-environment.txt").write_text("\n".join(conda + pip_lines) + "\n")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraint = where / "constraint.txt"
    cpu_torch = local_cpu_torch()
    constraint.write_text(f"torch=={cpu_torch}\n" if cpu_torch else "")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "LABSUPPORT_SMALL")}
    env.update(PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--retries", "0",
                           "-r", "requirements-from-environment.txt", "-c", str(constraint)],
                          cwd=source, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return venv / "bin", env


@pytest.mark.slow
@pytest.mark.book
def test_autograder_zip_alone_grades_in_a_fresh_environment(built, tmp_path):
    """Gradescope's route: a virtual environment made only from the zip's requirements and files (labsupport from
    the wheel inside the zip, a CPU build of PyTorch) grades a right and a wrong submission with otter: 18/18 and 18
    minus the points of the hidden check of question 1 (its wrong softmax overflows only on extreme logits)."""
    import time

    zip_path = built / ZIP_CASE / "autograder" / f"{ZIP_CASE}-autograder.zip"
    start = time.perf_counter()
    bin_dir, env = environment_from_zip(zip_path, tmp_path / "env")
    installed = time.perf_counter() - start
    probe = subprocess.run([str(bin_dir / "python"), "-c",
                            "import labsupport, torch, otter; print(labsupport.__file__); print(torch.__version__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert probe[0].startswith(str(tmp_path / "env" / "venv")), probe   # the wheel from the zip, not this checkout
    assert probe[1].endswith("+cpu"), probe

    solution = cells(built / ZIP_CASE / "autograder" / f"{ZIP_CASE}.ipynb")
    right = json.loads((built / ZIP_CASE / "autograder" / f"{ZIP_CASE}.ipynb").read_text())
    wrong = json.loads(json.dumps(right))
    for cell in wrong["cells"]:
        cell["source"] = source(cell).replace(UNSTABLE_SOFTMAX, "")
    assert sum(source(c).count(UNSTABLE_SOFTMAX) for c in solution) == 1   # the mistake is made exactly once
    scores = {}
    for label, nb in (("right", right), ("wrong", wrong)):
        path = tmp_path / label / f"{ZIP_CASE}.ipynb"
        path.parent.mkdir()
        path.write_text(json.dumps(nb))
        proc = subprocess.run([str(bin_dir / "python"), "-m", "otter", "run", "--no-logo", "-a", str(zip_path),
                               "-o", str(path.parent), str(path)], cwd=path.parent, env=env, capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        tests = json.loads((path.parent / "results.json").read_text())["tests"]
        scores[label] = {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "max_score" in t}
    graded = time.perf_counter() - start - installed
    print(f"\nfresh environment from the zip: {installed:.0f} s; two submissions graded: {graded:.0f} s")

    auto, _ = EXPECTED[ZIP_CASE]
    assert sum(m for _, m in scores["right"].values()) == auto
    assert sum(s for s, _ in scores["right"].values()) == auto, scores["right"]
    q1 = questions(MASTERS / f"{ZIP_CASE}.ipynb")[0]   # its points: one number shared by its checks, or a list
    checks = q1["public"] + q1["hidden"]
    assert q1["config"]["name"] == "q1" and len(q1["hidden"]) == 1
    points = q1["config"]["points"]
    hidden_points = (points[checks.index(q1["hidden"][0])] if isinstance(points, list) else points / len(checks))
    lost = {q: m - s for q, (s, m) in scores["wrong"].items() if s != m}
    assert lost == {"q1": hidden_points}, scores["wrong"]


@pytest.mark.slow
@pytest.mark.book
def test_grade_all_grades_a_folder_of_submissions(built, tmp_path):
    """tools/grade_all.py: one row per submission in scores.csv (full marks, zero, and an error for a file that is
    not a notebook), exit status 1 because one submission could not be graded."""
    import csv

    name = "a4-reward-model-metrics"
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(built / name / "autograder" / f"{name}.ipynb", folder / "alice.ipynb")
    shutil.copy(built / name / "student" / f"{name}.ipynb", folder / "bob.ipynb")
    (folder / "carol.ipynb").write_text("this is not a notebook")
    (folder / "notes.txt").write_text("not a submission")
    zip_path = built / name / "autograder" / f"{name}-autograder.zip"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "grade_all.py"), str(zip_path), str(folder),
                           "--out", str(tmp_path / "results"), "--jobs", "2"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    with (tmp_path / "results" / "scores.csv").open() as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    auto, _ = EXPECTED[name]
    assert set(rows) == {"alice.ipynb", "bob.ipynb", "carol.ipynb"}
    assert (float(rows["alice.ipynb"]["total"]), float(rows["alice.ipynb"]["possible"])) == (auto, auto)
    assert (float(rows["bob.ipynb"]["total"]), float(rows["bob.ipynb"]["possible"])) == (0, auto)
    assert rows["carol.ipynb"]["total"] == "" and rows["carol.ipynb"]["error"].startswith("otter run exited with")
    assert (tmp_path / "results" / "alice" / "results.json").exists()
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "grade_all.py"), str(folder / "notes.txt"), str(folder)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "notes.txt" in bad.stderr
    assert "autograder must be an autograder zip file" in bad.stderr


# ------------------------------------------------------------------------------------ the book's assignments page

PAGE = ROOT / "book" / "teaching" / "assignments.md"


def test_book_page_offers_every_assignment():
    """book/teaching/assignments.md has, per master, a download of the student notebook where book/_ext/assignments.py
    writes it, its points substitution and links to chapters; it is in the table of contents."""
    text = PAGE.read_text(encoding="utf-8")
    for name in NAMES:
        assert f"{{download}}`{name}.ipynb <../_build/assignments/{name}.ipynb>`" in text, name
        assert f"{{{{ {name.split('-')[0]}_points }}}}" in text, name
    assert len(re.findall(r"\{ref\}`Chapter \d <ch\d>`", text)) >= len(NAMES)
    assert "- file: teaching/assignments" in (ROOT / "book" / "_toc.yml").read_text()
    assert "assignments: _ext" in (ROOT / "book" / "_config.yml").read_text()


@pytest.mark.slow
@pytest.mark.book
def test_book_gets_the_student_notebook_make_assignments_builds(built, tmp_path):
    """The book's student notebook (tools/build_assignments.student_notebook, called by book/_ext/assignments.py) is
    the one `make assignments` hands out, byte for byte; the extension's points substitutions are the masters'."""
    import importlib

    name = "a2-predicted-categories"
    path = tool.student_notebook(MASTERS / f"{name}.ipynb", tmp_path)
    assert path == tmp_path / f"{name}.ipynb" and not list(tmp_path.glob(".*"))
    assert path.read_bytes() == (built / name / "student" / f"{name}.ipynb").read_bytes()
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        ext = importlib.import_module("assignments")
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    config = type("Config", (), {"myst_substitutions": {"other": "kept"}})()
    ext._add_points(None, config)
    assert config.myst_substitutions == {"other": "kept", **{
        f"{n.split('-')[0]}_points": "{:g} + {:g}".format(*EXPECTED[n]) for n in NAMES}}


def test_book_page_without_otter_names_the_notebooks_instead(monkeypatch):
    """Where otter-grader is missing (a readers-only environment), book/_ext/assignments.py builds nothing and turns
    the page's download links into the notebooks' names and how to build them, so the book still builds."""
    spec = importlib.util.spec_from_file_location("assignments_ext", ROOT / "book" / "_ext" / "assignments.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    monkeypatch.setattr(ext, "_have_otter", lambda: False)
    monkeypatch.setattr(ext, "_builder", lambda: pytest.fail("the builder must not run without otter"))
    ext._build_student_notebooks(None)
    source = [PAGE.read_text(encoding="utf-8")]
    ext._without_downloads(None, "teaching/assignments", source)
    assert "{download}" not in source[0]
    assert all(f"`{name}.ipynb` (`make assignments` builds it" in source[0] for name in NAMES)
    other = [PAGE.read_text(encoding="utf-8")]
    ext._without_downloads(None, "teaching/guide", other)   # other pages are left alone
    assert other[0] == PAGE.read_text(encoding="utf-8")
