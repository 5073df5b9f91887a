"""Problem sizes for the lab notebooks: three levels, chosen by :func:`pick`.

* **small** (``LABSUPPORT_SMALL=1``): continuous integration executes every notebook on two CPU cores in minutes;
* **full** (the default): the sizes the book states its results at, chosen so that a first build of the whole book
  on a two-core CPU machine takes a few minutes;
* **gpu** (a CUDA GPU is available and the notebook gives a ``gpu`` size): larger sizes for smoother curves, more
  seeds or longer horizons, at about the same wall time on the GPU.

Notebooks choose sizes with :func:`pick`, never by reading the variable or probing the device themselves.
"""

from __future__ import annotations

import os
from typing import TypeVar

ENV_VAR = "LABSUPPORT_SMALL"

T = TypeVar("T")


def small_mode() -> bool:
    """True when the environment asks for small problem sizes (``LABSUPPORT_SMALL`` set and not "0")."""
    return os.environ.get(ENV_VAR, "0").strip().lower() not in ("", "0", "false", "no")


def gpu_available() -> bool:
    """True when PyTorch sees a CUDA GPU (imports torch on first call, not when labsupport is imported)."""
    import torch

    return torch.cuda.is_available()


def pick(full: T, small: T, gpu: T | None = None) -> T:
    """The size for this machine: ``small`` in small mode; else ``gpu`` when given and a CUDA GPU is available; else
    ``full``. E.g. ``steps = pick(10_000, 2_000, gpu=50_000)``: 10,000 steps on a CPU, 50,000 on a GPU, 2,000 in
    small mode (which wins on a GPU machine too)."""
    if small_mode():
        return small
    if gpu is not None and gpu_available():
        return gpu
    return full
