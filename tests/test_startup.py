"""Start fast, copy late: the package and its command line start without PyTorch (every public name still resolves,
imported on first use), and a training's results are copied to the host only when read.

Each check runs in a fresh interpreter, so what the test process imported earlier cannot hide an import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import labsupport as ls

ROOT = Path(__file__).resolve().parents[1]


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter (in the repository root); it prints one JSON object, returned here."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["rm-report", "--help"],
        ["rm-report", "labsupport/data/rm_example.jsonl"],
        ["rm-report", "labsupport/data/rm_example.jsonl", "--json", "-"],
    ],
)
def test_the_command_line_imports_no_torch(argv):
    code = (
        "import contextlib, io, json, sys\n"
        "import labsupport\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    status = labsupport.cli.main({argv!r})\n"
        "print(json.dumps({'status': status, 'torch': 'torch' in sys.modules, 'out': out.getvalue()}))"
    )
    result = _fresh(code)
    assert result["status"] == 0
    assert result["torch"] is False
    assert result["out"].strip()


def test_import_labsupport_imports_no_torch_until_a_name_needs_it():
    result = _fresh(
        "import json, sys\nimport labsupport as ls\nbefore = 'torch' in sys.modules\nls.train\n"
        "print(json.dumps({'before': before, 'after': 'torch' in sys.modules}))"
    )
    assert result == {"before": False, "after": True}


def test_every_public_name_resolves_to_its_definition_and_dir_lists_it():
    from labsupport import algorithms, labmode, problems, rmreport, sequence, simulate, theory

    homes = {"Algorithm": algorithms, "ExactPG": algorithms, "GRPO": algorithms, "PPO": algorithms,
             "RLOO": algorithms, "Reinforce": algorithms, "Bandit": problems, "paper_bandit": problems,
             "Run": simulate, "train": simulate, "categorize": theory, "pick": labmode, "small_mode": labmode,
             "rm_report": rmreport, "SequenceRun": sequence, "SequenceTask": sequence,
             "train_sequences": sequence}
    assert set(ls.__all__) == set(homes) | {"metrics", "theory"}
    for name, module in homes.items():
        assert getattr(ls, name) is getattr(module, name), name
    assert ls.theory is theory and ls.metrics.__name__ == "labsupport.metrics"
    assert ls.charts.__name__ == "labsupport.charts" and ls.cli.__name__ == "labsupport.cli"
    assert set(ls.__all__) | {"charts", "widgets", "studies", "cli"} <= set(dir(ls))
    assert ls.studies.rlhf.__name__ == "labsupport.studies.rlhf"
    from labsupport import Bandit, train  # the from-import form goes through the same hook

    assert (Bandit, train) == (problems.Bandit, simulate.train)


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        ls.trian  # noqa: B018


def test_version_matches_the_package_metadata_and_both_program_names(capsys):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert ls.__version__ == version
    assert ls.cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"labsupport {version}\n"
    done = subprocess.run([sys.executable, "-m", "labsupport", "rm-report", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m labsupport rm-report")
    assert ls.cli.main(["rm-report", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: labsupport rm-report")


# ----------------------------------------------------------------------------------------------------------------------
# Results stay where training left them until they are read
# ----------------------------------------------------------------------------------------------------------------------


def test_a_runs_results_are_converted_on_first_read_only_and_as_before():
    import numpy as np
    import torch

    prob = ls.Bandit(r_true=[[1, 0.8, -1], [0, 1, 0.5]], r_proxy=[[1, -1, -1], [0, 1, 1]], init_probs=[0.2, 0.5, 0.3])
    run = ls.train(prob, ls.ExactPG(lr=0.5), 40, reward="proxy", record_every=10, dtype=torch.float32,
                   track_level=0.6, device="cpu")
    stored, hits = run.__dict__["_probs"], run.__dict__["_hit_steps"]
    assert isinstance(stored, torch.Tensor) and stored.dtype == torch.float32 and stored.shape == (5, 2, 3)
    assert isinstance(hits, torch.Tensor)
    probs = run.probs
    assert isinstance(probs, np.ndarray) and probs.dtype == np.float64
    assert np.array_equal(probs, stored.to(torch.float64).numpy())  # exactly the old eager conversion
    assert run.probs is probs and run.__dict__["_probs"] is probs  # converted once, then kept
    assert run.hit_steps.dtype == np.int64 and np.array_equal(run.hit_steps, hits.numpy())
    assert np.allclose(run.true_value, np.einsum("rbn,bn->rb", probs, prob.r_true.numpy()))


def test_training_a_problem_again_copies_and_converts_nothing_of_batch_size(monkeypatch):
    """What makes a GPU training return in the time of its kernel: the second training of a problem moves no input
    to the device or dtype again, and nothing becomes a numpy array (a host copy) before it is read."""
    import numpy as np
    import torch

    b, n = 64, 8
    rng = np.random.default_rng(0)
    prob = ls.Bandit(r_true=rng.uniform(-1, 1, (b, n)), r_proxy=rng.uniform(-1, 1, (b, n)),
                     init_logits=rng.normal(size=(b, n)))
    calls = []
    to, numpy = torch.Tensor.to, torch.Tensor.numpy

    def counted(name, method):
        def call(self, *args, **kwargs):
            if self.numel() >= b * n:
                calls.append(name)
            return method(self, *args, **kwargs)
        return call

    monkeypatch.setattr(torch.Tensor, "to", counted("to", to))
    monkeypatch.setattr(torch.Tensor, "numpy", counted("numpy", numpy))

    def train(reward):
        return ls.train(prob, ls.RLOO(k=4, lr=0.5), 5, reward=reward, dtype=torch.float32, device="cpu")

    first = train("proxy")
    assert calls.count("to") >= 4 and "numpy" not in calls  # the first training moves the inputs, once
    calls.clear()
    again, other = train("proxy"), train("true")
    assert calls == []  # nothing of size B x N moved or converted
    probs = again.probs
    assert calls == ["to", "numpy"]  # read: converted once, then
    assert np.array_equal(probs, first.probs)
    assert np.array_equal(other.r_true, prob.r_true.numpy()) and not np.array_equal(other.probs, probs)


@pytest.mark.parametrize("dtype, algorithm", [("float64", "exact"), ("float32", "rloo"), ("float64", "grpo")])
def test_a_prepared_training_runs_again_from_the_start_and_is_what_train_returns(dtype, algorithm):
    """``prepare(...).execute()`` is train's inner call (what the results benchmark times alone): executing it again
    starts from theta_0 and the seed, and gives train's result (the numpy loop for tiny float64 ExactPG, the step
    loop otherwise)."""
    import numpy as np
    import torch

    from labsupport.simulate import prepare

    rule = {"exact": ls.ExactPG(lr=0.5), "rloo": ls.RLOO(k=4, lr=0.5), "grpo": ls.GRPO(group=4, lr=0.5)}[algorithm]
    prob = ls.paper_bandit(p_star=[0.05, 0.1, 0.2])
    args = dict(steps=30, seed=7, record_every=10, dtype=getattr(torch, dtype), track_level=0.6, device="cpu")
    prepared = prepare(prob, rule, **args)
    assert prepared.numpy_loop == (algorithm == "exact") and prepared.fused is None
    theta0 = prepared.placed.theta0.clone()
    first, hit = prepared.execute()
    again, hit_again = prepared.execute()
    assert torch.equal(first, again) and torch.equal(hit, hit_again)
    assert torch.equal(prepared.placed.theta0, theta0)  # the placed parameters are trained on a copy
    run = ls.train(prob, rule, **args)
    assert np.array_equal(run.probs, first.to(torch.float64).numpy()) and np.array_equal(run.hit_steps, hit.numpy())
    assert not torch.equal(first[0], first[-1])  # it trained


def test_a_bandit_keeps_the_copy_for_its_latest_device_and_dtype_and_pickles_without_it():
    import pickle

    import torch

    prob = ls.paper_bandit(p_star=[0.05, 0.1])
    single = prob.placed("cpu", torch.float32)
    assert single.r_proxy.dtype == torch.float32 and prob.placed("cpu", torch.float32) is single
    double = prob.placed(torch.device("cpu"), torch.float64)
    assert double.r_true is prob.r_true and double.theta0 is prob.theta0  # in float64 on the CPU: its own tensors
    latest = prob.placed("cpu", torch.float32)
    assert latest is not single and prob.placed("cpu", torch.float32) is latest  # one kept copy: the latest
    restored = pickle.loads(pickle.dumps(prob))
    assert "_placed" not in restored.__dict__ and torch.equal(restored.r_proxy, prob.r_proxy)
    prob.release()
    assert prob.__dict__["_placed"] is None and prob.placed("cpu", torch.float32) is not latest  # placed anew
    with pytest.raises(ValueError, match="r_proxy holds 1e\\+30"):
        ls.Bandit(r_true=[0, 1], r_proxy=[0, 1e30]).placed("cpu", torch.float32)


def test_a_runs_rewards_are_copies_of_the_problems():
    prob = ls.paper_bandit()
    run = ls.train(prob, ls.ExactPG(lr=1.0), 3)
    run.r_true[0, 1] = 5.0
    run.r_proxy[0, 1] = 5.0
    assert prob.r_true[0, 1].item() == 0.8 and prob.r_proxy[0, 1].item() == -1.0


def test_a_run_built_from_numpy_keeps_its_arrays_and_hit_steps_defaults_to_none():
    import numpy as np

    probs = np.full((1, 1, 2), 0.5)
    run = ls.Run(steps=np.array([0]), probs=probs, r_true=np.zeros((1, 2)), r_proxy=np.zeros((1, 2)),
                 names=("a", "b"), reward="true", algorithm=ls.ExactPG())
    assert run.probs is probs and run.hit_steps is None



FORMS = ["import labsupport.{name}", "from labsupport import {name}", "labsupport.{name}"]
FORMER = ["sweeps", "rlhf", "verifiable"]


@pytest.fixture(scope="module")
def former_paths() -> dict:
    """Each way of reaching each former study path, tried in one new interpreter, each from a fresh import of the
    package (every ``labsupport`` module dropped first): the warning it raised, and whether the old path, the package
    attribute and the module in ``labsupport.studies`` are one module."""
    code = f"""import importlib, json, sys, warnings
results = {{}}
for form in {FORMS!r}:
    for name in {FORMER!r}:
        for module in [m for m in sys.modules if m == "labsupport" or m.startswith("labsupport.")]:
            del sys.modules[module]
        import labsupport
        warnings.simplefilter("error")
        try:
            exec(form.format(name=name))
            said = None
        except DeprecationWarning as w:
            said = str(w)
        warnings.simplefilter("ignore")
        old = importlib.import_module("labsupport." + name)
        now = importlib.import_module("labsupport.studies." + name)
        results[form.format(name=name)] = [said, old is getattr(labsupport, name) is now]
print(json.dumps(results))
"""
    return _fresh(code)


@pytest.mark.parametrize("name", FORMER)
@pytest.mark.parametrize("form", FORMS)
def test_a_former_study_path_warns_and_gives_the_module_now_in_studies(former_paths, name, form):
    said, same = former_paths[form.format(name=name)]
    assert said == f"labsupport.{name} is now labsupport.studies.{name}; the old path goes in the next release"
    assert same
