"""Create ./.venv and install everything the project needs (runtime, book, tests), then labsupport itself.

    python3 tools/install_env.py          # idempotent: does nothing when requirements are unchanged

PyTorch: on a machine without an NVIDIA GPU a CPU build is installed when one can be found, instead of the
multi-GB CUDA build that a plain ``pip install torch`` picks on Linux. The order of preference is
1. a CPU wheel that pip can already see without downloading (a local wheel directory configured for pip),
2. the CPU wheels published by the PyTorch project (https://download.pytorch.org/whl/cpu),
3. the default wheel from PyPI (with a printed notice).
With a GPU (``nvidia-smi`` works) the default wheel is installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".installed"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=check)


def pip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(str(PY), "-m", "pip", "--disable-pip-version-check", *args, check=check)


def torch_requirement() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip().startswith("torch"):
            return line.split("#")[0].strip()
    raise SystemExit("requirements.txt has no torch line")


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def install_cpu_torch(req: str) -> None:
    """Install a CPU build of torch (see the module docstring for the order of preference)."""
    with tempfile.TemporaryDirectory() as tmp:
        found = subprocess.run(
            [str(PY), "-m", "pip", "download", "-q", "--no-index", "--no-deps", "-d", tmp, req],
            capture_output=True,
        )
        wheels = [w for w in Path(tmp).glob("torch-*.whl") if "+cpu" in w.name]
        if found.returncode == 0 and wheels:
            print(f"Using the local CPU build of PyTorch: {wheels[0].name}")
            pip("install", "-q", str(wheels[0]))
            return
    if pip("install", "-q", "--timeout", "30", "--retries", "1", "--index-url", CPU_INDEX, req, check=False).returncode == 0:
        return
    print("NOTICE: no CPU build of PyTorch could be reached; installing the default wheel from PyPI instead.")
    pip("install", "-q", req)


def main() -> None:
    key = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in ("requirements.txt", "pyproject.toml"))).hexdigest()
    if STAMP.exists() and STAMP.read_text() == key:
        print(f"{VENV} is up to date.")
        return
    if not PY.exists():
        sh(sys.executable, "-m", "venv", str(VENV))
    gpu = has_gpu()
    print(f"NVIDIA GPU found: {gpu}")
    if not gpu:
        install_cpu_torch(torch_requirement())
    pip("install", "-q", "-r", str(ROOT / "requirements.txt"))
    pip("install", "-q", "--no-deps", "-e", str(ROOT))
    STAMP.write_text(key)
    print(f"Installed into {VENV}.")


if __name__ == "__main__":
    main()
