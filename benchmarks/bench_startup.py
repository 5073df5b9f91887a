"""Command-line start-up: wall time of fresh interpreters running the practitioner commands, and whether any of
them imported PyTorch.

    .venv/bin/python benchmarks/bench_startup.py            # median of 5 runs of each command

Each command runs in a new process; its wall time and its CPU time (user + system, which a busy machine inflates
less) are printed as medians. For scale, the same interpreter importing torch is timed too. Goal: under 0.5 s for
``rm-report --help`` and a small report, no torch imported.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "labsupport/data/rm_example.jsonl"
#: label -> Python code run in a fresh interpreter; each prints whether torch was imported
CASES = {
    "python -m labsupport rm-report --help": "import runpy, sys; sys.argv = ['labsupport', 'rm-report', '--help']",
    f"python -m labsupport rm-report {EXAMPLE}":
        f"import runpy, sys; sys.argv = ['labsupport', 'rm-report', '{EXAMPLE}']",
    "python -m labsupport --version": "import runpy, sys; sys.argv = ['labsupport', '--version']",
    "import labsupport": "import labsupport",
    "import torch (for scale)": "import torch",
}
RUN_MAIN = ("\nimport contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        runpy.run_module('labsupport', run_name='__main__')\n"
            "    except SystemExit:\n        pass")
REPORT = "\nimport sys as _s; print('torch imported' if 'torch' in _s.modules else 'no torch')"


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(code: str, repeat: int) -> tuple[float, float, str]:
    """Median wall and CPU time of ``repeat`` fresh interpreters running ``code``, and what the last one printed."""
    times, cpu, said = [], [], ""
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), children_cpu()
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        cpu.append(children_cpu() - start_cpu)
        said = done.stdout.strip().splitlines()[-1] if done.returncode == 0 else f"failed (exit {done.returncode})"
    return statistics.median(times), statistics.median(cpu), said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (default 5)")
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs (load average {load}); median of {args.repeat}")
    for label, code in CASES.items():
        if code.startswith("import runpy"):
            code += RUN_MAIN
        seconds, cpu, said = timed(code + REPORT, args.repeat)
        goal = "   (goal: < 0.5 s, no torch)" if "rm-report" in label else ""
        print(f"{label:66} {seconds:6.2f} s wall, {cpu:5.2f} s CPU  {said}{goal}")


if __name__ == "__main__":
    main()
