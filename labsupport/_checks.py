"""Input validation shared by the package: every message names the argument and the bad value."""

from __future__ import annotations

import math

import numpy as np
import torch

def as_tensor(name: str, value, dtype=torch.float64) -> torch.Tensor:
    """Convert a list, numpy array or tensor to a floating tensor, rejecting NaN and infinities."""
    try:
        if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
            value = np.asarray(value, dtype=float)  # rows given as arrays: one conversion, not one per element
        t = torch.as_tensor(value, dtype=dtype).detach().clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be numeric (list, numpy array or tensor); got {value!r}") from exc
    if t.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (N,) or (B, N); got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        bad = t[~torch.isfinite(t)].flatten()[0].item()
        raise ValueError(f"{name} must be finite; found {bad} in {_short(t)}")
    return t


def positive(name: str, value: float) -> float:
    """Return value as float if it is a finite number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def non_negative(name: str, value: float) -> float:
    """Return value as float if it is a finite number >= 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def count(name: str, value: int, minimum: int = 0) -> int:
    """Return value if it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return value


def choice(name: str, value, options) -> str:
    """Return value if it is one of options."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def _short(t: torch.Tensor) -> str:
    flat = t.flatten().tolist()
    text = ", ".join(f"{x:.4g}" for x in flat[:8])
    return f"[{text}{', ...' if len(flat) > 8 else ''}]"
