"""Execute lab notebooks top to bottom, each on a fresh kernel, and report each one's time: the check that the labs
run at full size where the book build does not run them (a GPU machine), or at small size with LABSUPPORT_SMALL=1.

    python tools/run_labs.py                          # every notebook in notebooks/ (not the assignments)
    python tools/run_labs.py notebooks/07-*.ipynb     # some of them
    LABSUPPORT_SMALL=1 python tools/run_labs.py       # small sizes

The notebooks are read, executed in memory (their folder as working directory) and never written back. A failure (a
cell's error, a cell over the time limit, a kernel that dies or does not start) prints its error and the next notebook
still runs; the exit status is 1 when any notebook failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, timeout: int) -> float:
    """Execute one notebook on a fresh python3 kernel; returns the seconds it took. Raises what nbclient raises."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    folder = {"metadata": {"path": str(path.parent)}}  # the notebook's folder is the kernel's working directory
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=folder).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell (default 1200)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    failed = 0
    for path in paths:
        try:
            print(f"{path.name}: ok in {run(path.resolve(), args.timeout):.1f} s", flush=True)
        except Exception as error:  # noqa: BLE001 (any failure of one notebook is reported, the others still run)
            failed += 1
            print(f"{path.name}: FAILED ({type(error).__name__})\n{error}", flush=True)
    print(f"{len(paths) - failed} of {len(paths)} notebooks ran", flush=True)
    return int(failed > 0)


if __name__ == "__main__":
    sys.exit(main())
