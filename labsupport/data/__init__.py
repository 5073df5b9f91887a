"""The committed data, shipped inside the package: an installed labsupport loads them as a checkout does.

    from labsupport import data
    sweep = data.load("stress_sweep")        # a pandas DataFrame
    data.path("rm_example")                   # the file itself (str() of it is a path for the command line)

The files, by name (:data:`FILES`):

* ``stress_sweep`` (``stress_sweep.csv.gz``): chapter 5's stress test, predicted and measured category of every
  reward error of 100,000 random bandits under five update rules, one row per (instance, error, algorithm);
* ``rlhf_study`` (``rlhf_study.csv``): chapter 6's reward-model evaluation study, one row per (initial policy,
  reward model); :func:`labsupport.studies.rlhf.load_study` restores its column types;
* ``grpo_optimisers`` (``grpo_optimisers.csv``): chapter 7 under the miniature's SGD and the paper's AdamW recipe,
  binary against partial credit, one row per (part, training, initial policy);
* ``rm_example`` (``rm_example.jsonl``): a few scored responses, the example input of the reward-model report
  (``python -m labsupport rm-report``).

``README.md`` next to the files gives each file's provenance: the command that made it (the scripts in ``tools/``),
the machine, the sizes and every column. Only empty cells are missing values: a label such as ``none`` stays text.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    import pandas as pd

#: name -> file in this folder
FILES = {"stress_sweep": "stress_sweep.csv.gz", "rlhf_study": "rlhf_study.csv",
         "grpo_optimisers": "grpo_optimisers.csv", "rm_example": "rm_example.jsonl"}

__all__ = ["FILES", "load", "path", "read"]


def path(name: str) -> Traversable:
    """The committed file ``name`` (a key of :data:`FILES`), inside the installed package or the checkout."""
    if name not in FILES:
        raise ValueError(f"name must be one of {', '.join(FILES)}, got {name!r}")
    return files(__name__) / FILES[name]


def read(source: Union[str, Path, Traversable]) -> pd.DataFrame:
    """A table file as a DataFrame: CSV (``.csv``, or ``.csv.gz`` compressed) or JSON Lines (``.jsonl``), with only
    empty cells read as missing."""
    import pandas as pd

    file = Path(source) if isinstance(source, str) else source
    if not file.name.endswith((".csv", ".csv.gz", ".jsonl")):
        raise ValueError(f"source must name a .csv, .csv.gz or .jsonl file, got {str(source)!r}")
    if not file.is_file():
        raise ValueError(f"source: no file at {str(source)!r}")
    with file.open("rb") as handle:
        if file.name.endswith(".jsonl"):  # one record a line, each value as JSON typed it (a flag stays a bool)
            return pd.DataFrame([json.loads(line) for line in handle if line.strip()])
        return pd.read_csv(handle, keep_default_na=False, na_values=[""],
                           compression="gzip" if file.name.endswith(".gz") else None)


def load(name: str) -> pd.DataFrame:
    """The committed table ``name`` (a key of :data:`FILES`) as a DataFrame; :func:`path` gives the file itself."""
    return read(path(name))
