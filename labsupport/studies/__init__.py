"""The chapters' studies, built on the core (problems, algorithms, simulate, sequence, theory, metrics):

* :mod:`labsupport.studies.sweeps`     chapter 5: random bandits, predicted against measured categories, in bulk;
* :mod:`labsupport.studies.rlhf`       chapter 6: RLHF in miniature and the reward-model evaluation study;
* :mod:`labsupport.studies.verifiable` chapter 7: binary against partial credit under GRPO.

The core never imports a study. Each study is imported on first use (``ls.studies.rlhf``), like the package's
other modules.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

#: the studies, by module name
STUDIES = ("sweeps", "rlhf", "verifiable")

__all__ = list(STUDIES)


def __getattr__(name: str) -> ModuleType:
    """Import the study ``name`` on first access and keep it as a module attribute."""
    if name not in STUDIES:
        raise AttributeError(f"module 'labsupport.studies' has no attribute {name!r}")
    module = import_module(f".{name}", __name__)
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted({*globals(), *STUDIES})
