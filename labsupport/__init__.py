"""labsupport: policy-gradient simulations, the error categorisation and reward-model metrics for the book
"Imperfect Rewards".

    import labsupport as ls
    prob = ls.Bandit(r_true=[1, .8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1],
                     init_probs=[.05, .5, .15, .15, .15])
    run = ls.train(prob, ls.ExactPG(lr=0.1), steps=2000, reward="proxy")
    ls.categorize(prob)

Token sequences (chapters 6 and 7) train through the same update rules with ``ls.train_sequences(task, ls.GRPO(),
steps)`` on an ``ls.SequenceTask``, returning an ``ls.SequenceRun`` with the accessors of ``ls.Run``.

Every name is imported on first use (PEP 562), so ``import labsupport`` is instant and imports no PyTorch: the
command line (``python -m labsupport rm-report``) and the reward-model report start without it. Charts
(``ls.charts``), widgets (``ls.widgets``) and the chapters' studies (``ls.studies``: ``sweeps``, ``rlhf``,
``verifiable``) are modules reached the same way. The studies' former paths (``ls.rlhf``, ``import labsupport.rlhf``)
still work for one release, with a DeprecationWarning. The committed data load by name, from an installed package as
from a checkout: ``ls.data.load("stress_sweep")``.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

#: public name -> the submodule that defines it (``ls.train`` is ``labsupport.simulate.train``)
NAMES = {
    "Algorithm": "algorithms", "ExactPG": "algorithms", "GRPO": "algorithms", "PPO": "algorithms",
    "RLOO": "algorithms", "Reinforce": "algorithms",
    "Bandit": "problems", "paper_bandit": "problems",
    "Run": "simulate", "train": "simulate",
    "SequenceRun": "sequence", "SequenceTask": "sequence", "train_sequences": "sequence",
    "categorize": "theory",
    "pick": "labmode", "small_mode": "labmode",
    "rm_report": "rmreport",
}
#: submodules reached as attributes (``ls.metrics``, ``ls.charts``, ...), imported on first use
MODULES = ("metrics", "theory", "problems", "sequence", "charts", "widgets", "studies", "data", "cli", "exercises")
#: the modules that pull in Altair, ipywidgets or more (kept for code that lists them)
LAZY = ("charts", "widgets", "studies", "cli")
#: former module paths, kept for one release (they warn): old name -> the module's place now
MOVED = {"sweeps": "studies.sweeps", "rlhf": "studies.rlhf", "verifiable": "studies.verifiable"}

__all__ = sorted([*NAMES, "metrics", "theory"], key=lambda n: (n[0].islower(), n))


def __getattr__(name: str) -> Any:
    """Import ``name`` from its submodule on first access and keep it as a module attribute."""
    if name in NAMES:
        value = getattr(import_module(f".{NAMES[name]}", __name__), name)
    elif name in MODULES:
        value = import_module(f".{name}", __name__)
    elif name in MOVED:
        value = moved(name, stacklevel=3)
    else:
        raise AttributeError(f"module 'labsupport' has no attribute {name!r}")
    globals()[name] = value
    return value


def moved(name: str, stacklevel: int = 2) -> ModuleType:
    """The module formerly at ``labsupport.<name>`` (a key of :data:`MOVED`), with a DeprecationWarning naming its
    place now."""
    if name not in MOVED:
        raise ValueError(f"name must be one of {sorted(MOVED)}, got {name!r}")
    warnings.warn(f"labsupport.{name} is now labsupport.{MOVED[name]}; the old path goes in the next release",
                  DeprecationWarning, stacklevel=stacklevel)
    return import_module(f".{MOVED[name]}", __name__)


def __dir__() -> list[str]:
    return sorted({*globals(), *NAMES, *MODULES})
