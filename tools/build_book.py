"""Build the book incrementally and say which notebooks were executed and how long each took.

    .venv/bin/python tools/build_book.py                 # what `make book` runs: book/ -> book/_build/html
    .venv/bin/python tools/build_book.py --all           # re-read every page (executed notebooks still cached)
    .venv/bin/python tools/build_book.py --path-output build/mine   # another output folder

Notebook execution is cached by jupyter-cache (book/_config.yml, ``execute_notebooks: cache``), keyed on each
notebook's code: a second build with nothing changed executes no notebook, and a change to one lab re-executes that
lab only. The cache cannot see what a notebook's code calls, so it is emptied (and every page re-read) when anything
else the outputs depend on changes: the labsupport package, its committed data (labsupport/data), or the problem sizes
(``LABSUPPORT_SMALL``, and whether a CUDA GPU is there: ``ls.pick`` gives it larger sizes). After the build, the
notebooks executed in it are listed from jupyter-cache's records.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
#: jupyter-book's command line, run by this Python (works whether or not the venv's bin/ is on PATH)
JUPYTER_BOOK = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]


def fingerprint() -> str:
    """A digest of what the executed outputs depend on beside the notebooks' own code."""
    sys.path.insert(0, str(ROOT))
    from labsupport.labmode import gpu_available, small_mode

    digest = hashlib.sha256(f"small={small_mode()} gpu={gpu_available()}".encode())
    for path in sorted({*(ROOT / "labsupport").rglob("*.py"), *(ROOT / "labsupport" / "data").glob("*")}):
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def records(cache_dir: Path) -> dict[int, tuple[str, float | None]]:
    """jupyter-cache's records: primary key -> (notebook path, execution seconds)."""
    if not cache_dir.exists():
        return {}
    from jupyter_cache import get_cache

    return {r.pk: (r.uri, r.data.get("execution_seconds")) for r in get_cache(str(cache_dir)).list_cache_records()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/build_book.py", description=__doc__.splitlines()[0])
    parser.add_argument("--path-output", type=Path, default=BOOK, help="where _build/ goes (default: book/)")
    parser.add_argument("--all", action="store_true", help="re-read every page (jupyter-book build --all)")
    args = parser.parse_args(argv)
    build = args.path_output.resolve() / "_build"
    cache_dir, stamp = build / ".jupyter_cache", build / ".outputs-depend-on"
    key = fingerprint()
    full = args.all
    if cache_dir.exists() and (not stamp.exists() or stamp.read_text() != key):
        print("labsupport (code or data) or the lab sizes (LABSUPPORT_SMALL, a GPU) changed since the last build: "
              "every notebook runs again.")
        shutil.rmtree(cache_dir)
        full = True
    before = records(cache_dir)
    command = [*JUPYTER_BOOK, "build", "-W", "-n", "--keep-going", *(["--all"] if full else []),
               "--path-output", str(args.path_output), str(BOOK)]
    print("+ jupyter-book " + " ".join(command[3:]), flush=True)
    start = time.perf_counter()
    status = subprocess.run(command, cwd=ROOT).returncode
    seconds = time.perf_counter() - start
    build.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)
    executed = [v for pk, v in records(cache_dir).items() if pk not in before]
    print(f"\nBuilt in {seconds:.0f} s; {len(executed)} notebook(s) executed"
          + (":" if executed else "; every page's outputs came from the cache."))
    for uri, secs in sorted(executed, key=lambda item: -(item[1] or 0)):
        print(f"  {secs:7.1f} s  {_short(uri)}")
    for uri in failed(cache_dir):
        print(f"  failed: {_short(uri)} (its traceback is in the build output above; it runs again next build)")
    return status


def failed(cache_dir: Path) -> list[str]:
    """The notebooks whose latest execution raised (jupyter-cache keeps their traceback)."""
    if not cache_dir.exists():
        return []
    from jupyter_cache import get_cache

    return sorted(r.uri for r in get_cache(str(cache_dir)).list_project_records() if r.traceback)


def _short(path: str) -> str:
    return str(Path(path).relative_to(ROOT)) if Path(path).is_relative_to(ROOT) else path


if __name__ == "__main__":
    sys.exit(main())
