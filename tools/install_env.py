"""Create ./.venv and install what the project needs, then labsupport itself.

    python3 tools/install_env.py                      # readers: requirements.txt (the labs and the book)
    python3 tools/install_env.py --group assignments  # + requirements-assignments.txt (otter-grader)
    python3 tools/install_env.py --group test         # + requirements-test.txt (the test tools; developers, CI)
    python3 tools/install_env.py --venv /tmp/env      # into another environment (e.g. to measure its size)

Each group's requirements file includes the one before it, so a group contains the smaller ones. Idempotent: does
nothing when the requirements have not changed since the last install of this group or a larger one. pip shows its
progress (the first install downloads about 200 MB) and compiles no bytecode up front: Python compiles each module
on its first import, so only what is used takes disk space.

PyTorch: on a machine without an NVIDIA GPU a CPU build is installed when one can be found, instead of the
multi-GB CUDA build that a plain ``pip install torch`` picks on Linux. The order of preference is
1. a CPU wheel that pip can already see without downloading (a local wheel directory configured for pip),
2. the CPU wheels published by the PyTorch project (https://download.pytorch.org/whl/cpu),
3. the default wheel from PyPI (with a printed notice).
With a GPU (``nvidia-smi`` works) the default wheel is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: group -> its requirements file, smallest first; each file includes the one before it (``-r ...``)
GROUPS = {"reader": ROOT / "requirements.txt", "assignments": ROOT / "requirements-assignments.txt",
          "test": ROOT / "requirements-test.txt"}
KEY_FILES = ("requirements.txt", "requirements-assignments.txt", "requirements-test.txt", "pyproject.toml")


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=check)


def pip(py: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(str(py), "-m", "pip", "--disable-pip-version-check", *args, check=check)


def torch_requirement() -> str:
    for line in GROUPS["reader"].read_text().splitlines():
        if line.strip().startswith("torch"):
            return line.split("#")[0].strip()
    raise SystemExit("requirements.txt has no torch line")


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


@contextmanager
def local_cpu_torch_wheel(py: Path, req: str) -> Iterator[Path | None]:
    """The CPU build of PyTorch matching ``req`` that pip (of the interpreter ``py``) can see without downloading, in
    a local wheel directory configured for pip: its path, valid inside the ``with`` block, or None when there is none.
    Also used by the tests that build an autograder's environment the way Gradescope does."""
    with tempfile.TemporaryDirectory() as tmp:
        found = subprocess.run(
            [str(py), "-m", "pip", "download", "-q", "--no-index", "--no-deps", "-d", tmp, req],
            capture_output=True,
        )
        wheels = [w for w in Path(tmp).glob("torch-*.whl") if "+cpu" in w.name]
        yield wheels[0] if found.returncode == 0 and wheels else None


def install_cpu_torch(py: Path, req: str) -> None:
    """Install a CPU build of torch (see the module docstring for the order of preference)."""
    with local_cpu_torch_wheel(py, req) as wheel:
        if wheel is not None:
            print(f"Using the local CPU build of PyTorch: {wheel.name}", flush=True)
            pip(py, "install", "--no-compile", str(wheel))
            return
    cpu = pip(py, "install", "--no-compile", "--timeout", "30", "--retries", "1", "--index-url", CPU_INDEX, req,
              check=False)
    if cpu.returncode == 0:
        return
    print("NOTICE: no CPU build of PyTorch could be reached; installing the default wheel from PyPI instead.")
    pip(py, "install", "--no-compile", req)


def stamp_key() -> str:
    """A digest of every file that decides what is installed."""
    return hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in KEY_FILES)).hexdigest()


def up_to_date(stamp: Path, group: str) -> bool:
    """True when ``stamp`` records the current requirements installed for ``group`` or a larger group."""
    if not stamp.exists():
        return False
    key, _, installed = stamp.read_text().partition(" ")
    order = list(GROUPS)
    return key == stamp_key() and installed.strip() in order[order.index(group):]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 tools/install_env.py", description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=list(GROUPS), default="reader",
                        help="what to install: reader (default), assignments or test; each contains the one before")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the environment to create (default .venv)")
    args = parser.parse_args(argv)
    group = args.group
    venv = args.venv.resolve()
    py, stamp = venv / "bin" / "python", venv / ".installed"
    if up_to_date(stamp, group):
        print(f"{venv} is up to date ({group} requirements).")
        return
    start = time.perf_counter()
    if not py.exists():
        sh(sys.executable, "-m", "venv", str(venv))
    gpu = has_gpu()
    print(f"NVIDIA GPU found: {gpu}", flush=True)
    if not gpu:
        install_cpu_torch(py, torch_requirement())
    pip(py, "install", "--no-compile", "-r", str(GROUPS[group]))
    pip(py, "install", "-q", "--no-deps", "-e", str(ROOT))
    stamp.write_text(f"{stamp_key()} {group}")
    print(f"Installed the {group} requirements into {venv} in {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
