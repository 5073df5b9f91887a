"""Input validation shared by the package: every message names the argument and the bad value.

The rules are the same at every public entry point: numpy scalars (``np.int64(3)``, ``np.float32(0.1)``) are taken
like the Python numbers they stand for, a boolean argument takes only ``True`` / ``False`` (or a numpy bool, never
``"no"`` or ``1``), the training dtype is ``torch.float32`` or ``torch.float64`` (or the strings ``"float32"`` /
``"float64"``), rewards must fit that dtype, and memory asked for in one piece is estimated before it is allocated.
This module imports numpy only; torch is imported inside the functions that take tensors.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal, Union, overload

import numpy as np

if TYPE_CHECKING:
    import torch

#: what the entry points take for rewards, probabilities and logits: a list (of numbers, or of rows as lists or
#: arrays), a numpy array or a tensor, of shape (N,) or (B, N)
TensorLike = Union["torch.Tensor", np.ndarray, Sequence[float], Sequence[Sequence[float]], Sequence[np.ndarray]]

#: one allocation larger than this (recordings of :func:`labsupport.train`, batches of :func:`labsupport.categorize`)
#: is refused with a message naming the estimate and the argument that sets it
MEMORY_LIMIT_BYTES = 4 * 2**30
#: the dtypes training runs in, by name
FLOAT_DTYPES = ("float32", "float64")


def _is_real(value: object) -> bool:
    """A real number: int, float or a numpy integer / floating scalar; never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def as_tensor(name: str, value: TensorLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert a list, numpy array or tensor to a float64 (or ``dtype``) tensor of shape (N,) or (B, N), rejecting
    NaN and infinities."""
    import torch

    dtype = torch.float64 if dtype is None else dtype
    try:
        if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
            value = np.asarray(value, dtype=float)  # rows given as arrays: one conversion, not one per element
        elif not isinstance(value, (torch.Tensor, np.ndarray)) and hasattr(value, "__array__"):
            value = np.array(value)  # a pandas Series or DataFrame: a copy of its values (a view is read-only)
        if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
            value = _real_array(value)
        t = torch.as_tensor(value, dtype=dtype).detach().clone()
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ValueError(f"{name} must be numeric (list, numpy array or tensor); got {_short_repr(value)}") from exc
    if t.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (N,) or (B, N); got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        bad = t[~torch.isfinite(t)].flatten()[0].item()
        raise ValueError(f"{name} must be finite; found {bad} in {short_values(t)}")
    return t


def _real_array(a: np.ndarray) -> np.ndarray:
    """An array of Python or numpy numbers (dtype object) as floats; text, complex numbers or dates: TypeError."""
    if a.dtype.kind != "O" or any(isinstance(v, (str, bytes, complex, np.complexfloating)) for v in a.flat):
        raise TypeError(f"dtype {a.dtype}")
    return a.astype(float)


def positive(name: str, value: float) -> float:
    """Return value as float if it is a finite number > 0."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {_short_repr(value)}")
    return float(value)


def non_negative(name: str, value: float) -> float:
    """Return value as float if it is a finite number >= 0."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {_short_repr(value)}")
    return float(value)


def finite(name: str, value: float) -> float:
    """Return value as float if it is a finite number."""
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {_short_repr(value)}")
    return float(value)


def count(name: str, value: int, minimum: int = 0) -> int:
    """Return value as int if it is an integer (Python or numpy) >= minimum. A float with an integer value (``1e4``)
    is refused with a hint to write it as an integer."""
    if not _is_integer(value) or value < minimum:
        hint = ""
        if _is_real(value) and math.isfinite(value) and float(value).is_integer() and value >= minimum:
            hint = f" (a float; give the integer {int(value):_})"
        raise ValueError(f"{name} must be an integer >= {minimum}; got {_short_repr(value)}{hint}")
    return int(value)


#: seeds go to torch's and numpy's generators, which take a signed 64-bit integer
SEED_LIMIT = 2**63


def random_seed(name: str, value: int) -> int:
    """Return value as int if it is an integer (Python or numpy) in [0, 2**63), the seeds a generator takes."""
    if _is_integer(value) and not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**63); got {_short_repr(value)}")
    return count(name, value)


@overload
def flag(name: str, value: object, allow_none: Literal[False] = False) -> bool: ...
@overload
def flag(name: str, value: object, allow_none: bool) -> bool | None: ...
def flag(name: str, value: object, allow_none: bool = False) -> bool | None:
    """Return value as bool if it is True or False (or a numpy bool); ``None`` too when ``allow_none``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        also = " or None" if allow_none else ""
        raise ValueError(f"{name} must be True or False{also}; got {_short_repr(value)}")
    return bool(value)


def choice(name: str, value: object, options: Collection[str]) -> str:
    """Return value if it is one of options."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {_short_repr(value)}")
    return value


def float_dtype(name: str, value: torch.dtype | str) -> torch.dtype:
    """The torch dtype for ``torch.float32`` / ``torch.float64`` or their names ``"float32"`` / ``"float64"``."""
    import torch

    if isinstance(value, str) and value in FLOAT_DTYPES:
        return getattr(torch, value)
    if value in (torch.float32, torch.float64):
        return value
    raise ValueError(f"{name} must be torch.float32 or torch.float64 (or 'float32' / 'float64'); "
                     f"got {_short_repr(value)}")


def fits_dtype(name: str, values: torch.Tensor, dtype: torch.dtype) -> None:
    """Refuse values whose magnitude exceeds sqrt(largest number of ``dtype``): beyond it, squares (variances) and
    sums of rewards overflow to infinity and training turns into NaN. float32: about 1.8e19, float64: 1.3e154."""
    import torch

    limit = math.sqrt(torch.finfo(dtype).max)
    big = values.abs() > limit
    if big.any():
        bad = values[big].flatten()[0].item()
        raise ValueError(f"{name} holds {bad:.4g}, beyond what training in {str(dtype).removeprefix('torch.')} "
                         f"can square (|value| <= {limit:.3g}); rescale the rewards or use dtype=torch.float64")


def memory(what: str, estimate_bytes: float, change: str, device: torch.device | None = None) -> None:
    """Refuse an allocation estimated above what it may take, naming the estimate and what to change.

    The limit is :data:`MEMORY_LIMIT_BYTES` on the CPU (a laptop's share), and the memory free on the device for a
    CUDA ``device``: there the card is the limit, and a user asks for large batches on purpose."""
    limit, where = MEMORY_LIMIT_BYTES, ""
    if device is not None and device.type == "cuda":
        import torch

        limit, where = torch.cuda.mem_get_info(device)[0], f" free on {device}"
    if estimate_bytes > limit:
        raise ValueError(f"{what} would take about {estimate_bytes / 2**30:.1f} GiB (limit "
                         f"{limit / 2**30:.1f} GiB{where}); {change}")


def _short_repr(value: object) -> str:
    """repr(value) on one line (a DataFrame's repr spans several), cut to 60 characters."""
    try:
        text = " ".join(repr(value).split())
    except ValueError:  # an int too long to print (Python's limit of 4,300 digits)
        text = f"<an integer of about {value.bit_length() * math.log10(2):.0f} digits>"  # type: ignore[attr-defined]
    return text if len(text) <= 60 else text[:57] + "..."


def short_values(t: torch.Tensor | np.ndarray) -> str:
    """The first 8 values of a tensor or array (any shape, flattened), for a message: "[1, 0.5, ...]"."""
    flat = np.asarray(t).reshape(-1).tolist()
    text = ", ".join(f"{x:.4g}" if isinstance(x, (int, float)) else repr(x) for x in flat[:8])
    return f"[{text}{', ...' if len(flat) > 8 else ''}]"
