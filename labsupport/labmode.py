"""Problem sizes for the lab notebooks: full size by default, small when ``LABSUPPORT_SMALL=1``.

Continuous integration executes every notebook on two CPU cores with ``LABSUPPORT_SMALL=1``; readers with time
or a GPU run them at full size. Notebooks choose sizes with :func:`pick`, never by reading the variable.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

ENV_VAR = "LABSUPPORT_SMALL"


def small_mode() -> bool:
    """True when the environment asks for small problem sizes (``LABSUPPORT_SMALL`` set and not "0")."""
    return os.environ.get(ENV_VAR, "0").strip().lower() not in ("", "0", "false", "no")


def pick(full: T, small: T) -> T:
    """``small`` in small mode, else ``full``: e.g. ``steps = pick(50_000, 5_000)``."""
    return small if small_mode() else full
