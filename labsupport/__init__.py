"""labsupport: policy-gradient simulations, the error categorisation and reward-model metrics for the book
"Imperfect Rewards".

    import labsupport as ls
    prob = ls.Bandit(r_true=[1, .8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1],
                     init_probs=[.05, .5, .15, .15, .15])
    run = ls.train(prob, ls.ExactPG(lr=0.1), steps=2000, reward="proxy")
    ls.categorize(prob)

Charts (``ls.charts``), widgets (``ls.widgets``) and the larger studies (``ls.verifiable``, ``ls.rlhf``,
``ls.sweeps``) are imported on first use.
"""

from importlib import import_module

from . import metrics, theory
from .labmode import pick, small_mode
from .algorithms import GRPO, PPO, RLOO, Algorithm, ExactPG, Reinforce
from .problems import Bandit, paper_bandit
from .rmreport import rm_report
from .simulate import Run, train
from .theory import categorize

__all__ = [
    "Algorithm", "Bandit", "ExactPG", "GRPO", "PPO", "RLOO", "Reinforce", "Run",
    "categorize", "metrics", "paper_bandit", "pick", "rm_report", "small_mode", "theory", "train",
]
__version__ = "0.1.0"


#: modules imported on first use (``ls.charts``, ``ls.verifiable``, ...): they pull in Altair, ipywidgets or more
LAZY = ("charts", "widgets", "verifiable", "rlhf", "sweeps", "cli")


def __getattr__(name):
    if name in LAZY:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labsupport' has no attribute {name!r}")
