"""The API reference appendix is generated from the package's docstrings (book/_ext/api_reference.py)."""

import importlib.util
from pathlib import Path

import labsupport as ls

ROOT = Path(__file__).resolve().parents[1]


def render() -> str:
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "book" / "_ext" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render()


def test_every_module_and_the_main_names_are_documented_with_their_docstrings():
    page = render()
    for short in ("problems", "algorithms", "simulate", "theory", "metrics", "charts", "widgets", "data",
                  "studies.verifiable"):
        assert f"## `labsupport.{short}`" in page
    for name in ("Bandit", "ExactPG", "RLOO", "GRPO", "PPO", "train", "categorize", "hacc_w", "value_curves"):
        assert f"### `{name}` (" in page, name
    assert "train(problem: labsupport.problems.Bandit, algorithm: labsupport.algorithms.Algorithm" in page
    assert ls.categorize.__doc__.strip().splitlines()[0] in page
