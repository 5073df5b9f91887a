"""Grade a folder of submissions with an assignment's autograder zip, without Docker: a loop over ``otter run``.

    python tools/grade_all.py build/assignments/a1-policy-gradient/autograder/a1-policy-gradient-autograder.zip \\
        submissions/a1/ --out results/a1 --jobs 2

Every ``*.ipynb`` and ``*.zip`` directly inside the submissions folder is graded by its own ``otter run`` process
(otter-grader's non-containerised grader: it unpacks the autograder and executes the submission with this
environment's Python kernel), so a submission that crashes or hangs does not stop the others. Per submission,
``OUT/<submission name>/results.json`` is otter's full result; ``OUT/scores.csv`` has one row per submission: its
file, total, possible, one column per question, and an error column for a submission that could not be graded.

otter runs student code with your permissions: run this under an account, in a container or a virtual machine that
holds nothing you care about.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def grade_one(submission: Path, autograder: Path, out: Path, timeout: float | None = None) -> dict:
    """Grade one submission with ``otter run``; its results go to ``out`` (created).

    Returns ``{"submission", "total", "possible", "questions": {name: (score, max)}, "error", "log"}``; when otter
    fails, "error" says why and the scores are empty."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder), "-o", str(out), str(submission)]
    result = {"submission": submission.name, "total": None, "possible": None, "questions": {}, "error": "", "log": ""}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        result["error"] = f"otter run took longer than {timeout:g} s"
        return result
    result["log"] = (proc.stdout + proc.stderr)[-4000:]
    results_file = out / "results.json"
    if proc.returncode != 0 or not results_file.exists():
        last = [line for line in result["log"].splitlines() if line.strip()]
        result["error"] = f"otter run exited with {proc.returncode}: {last[-1] if last else 'no output'}"
        return result
    tests = json.loads(results_file.read_text(encoding="utf-8"))["tests"]
    scored = {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "max_score" in t}
    result.update(questions=scored, total=sum(s for s, _ in scored.values()),
                  possible=sum(m for _, m in scored.values()))
    return result


def submissions_in(folder: Path) -> list[Path]:
    """The submissions directly inside ``folder``: notebooks and the zip files otter's export cell writes."""
    if not folder.is_dir():
        raise SystemExit(f"error: submissions {str(folder)!r} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix in (".ipynb", ".zip") and p.is_file())


def write_csv(results: list[dict], path: Path) -> None:
    """One row per submission: file, total, possible, each question's score, error."""
    questions = sorted({q for r in results for q in r["questions"]}, key=lambda q: (len(q), q))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "total", "possible", *questions, "error"])
        for r in results:
            writer.writerow([r["submission"], r["total"], r["possible"],
                             *(r["questions"].get(q, (None,))[0] for q in questions), r["error"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("autograder", type=Path, help="the assignment's autograder zip (from make assignments)")
    parser.add_argument("submissions", type=Path, help="folder of submissions (.ipynb or exported .zip)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results/)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded at the same time (default 1)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per submission (default: none)")
    args = parser.parse_args(argv)
    if not args.autograder.is_file() or args.autograder.suffix != ".zip":
        parser.error(f"autograder must be an autograder zip file; got {str(args.autograder)!r}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1; got {args.jobs}")
    if args.timeout is not None and args.timeout <= 0:
        parser.error(f"--timeout must be positive; got {args.timeout}")
    todo = submissions_in(args.submissions)
    if not todo:
        print(f"no .ipynb or .zip submissions in {args.submissions}")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    autograder = args.autograder.resolve()

    def one(submission: Path) -> dict:
        start = time.perf_counter()
        r = grade_one(submission.resolve(), autograder, args.out.resolve() / submission.stem, args.timeout)
        took = time.perf_counter() - start
        score = f"ERROR {r['error']}" if r["error"] else f"{r['total']:g} / {r['possible']:g}"
        print(f"  {submission.name}: {score} ({took:.0f} s)", flush=True)
        return r

    print(f"Grading {len(todo)} submission(s) with {args.autograder.name}", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, todo))
    write_csv(results, args.out / "scores.csv")
    failed = sum(1 for r in results if r["error"])
    print(f"Scores in {args.out / 'scores.csv'}" + (f"; {failed} submission(s) could not be graded" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
