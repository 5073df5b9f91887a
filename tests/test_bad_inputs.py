"""Bad input to every public entry point: a ValueError or TypeError whose one-line message names the argument.

One table, ``CASES``: (id, call, fragment). ``call`` is a function of no arguments that makes the bad call; the
error's message must contain ``fragment`` (the argument's name, and the value or dtype where that is the point) and
be one line. ``ACCEPTED``: numpy scalars and the like, which must be taken like the Python numbers they stand for.
``CLI_CASES``: rm-report input files, run as ``python -m labsupport rm-report FILE`` in a subprocess: exit status 2
and one line on stderr naming the line and field.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import labsupport as ls
from labsupport import metrics, theory

TOY = dict(r_true=[1, 0.8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1], init_probs=[0.05, 0.5, 0.15, 0.15, 0.15])


def toy() -> ls.Bandit:
    return ls.Bandit(**TOY)


def train(**kw):
    args = dict(problem=toy(), algorithm=ls.ExactPG(lr=0.1), steps=5, device="cpu")
    args.update(kw)
    return ls.train(**args)


def categorize(**kw):
    args = dict(problem=toy(), steps=5, device="cpu")
    args.update(kw)
    return ls.categorize(**args)


def rm(**kw):
    rec = {"prompt": "a", "response": 1, "proxy": 0.5, "logp": -1.0, "length": 3, "score": 1.0}
    rec.update(kw)
    return ls.rm_report([rec, {"prompt": "a", "response": 2, "proxy": 0.0, "logp": -2.0, "length": 2, "score": 0.0},
                         {"prompt": "a", "v_hat": 0.1}])


def sweeps():
    from labsupport.studies import sweeps as s

    return s


def verifiable():
    from labsupport.studies import verifiable as v

    return v


def rlhf():
    from labsupport.studies import rlhf as r

    return r


def sequence_task(reward=None, theta0=None):
    """Two runs of one prompt, responses of 3 tokens from 4; r_G = 1 when the last token is 1 (or ``reward``)."""
    from labsupport import sequence

    theta0 = torch.zeros(2, 1, 3, 4, 4, dtype=torch.float64) if theta0 is None else theta0
    return sequence.SequenceTask(theta0, reward or (lambda tokens, runs: (tokens[..., -1] == 1).double()))


def train_sequences(**kw):
    from labsupport import sequence

    args = dict(task=sequence_task(), algorithm=ls.GRPO(lr=0.1, group=4), steps=2, reward="true", device="cpu",
                progress=False)
    args.update(kw)
    return sequence.train_sequences(**args)


def nan_logits() -> torch.Tensor:
    theta0 = torch.zeros(2, 1, 3, 4, 4, dtype=torch.float64)
    theta0[1, 0, 2, 3, 0] = math.nan
    return theta0


def widgets():
    from labsupport import widgets as w

    return w


def charts():
    from labsupport import charts as c

    return c


def big_bandit() -> ls.Bandit:
    return ls.Bandit(r_true=torch.zeros(4096, 64), init_logits=torch.zeros(64))


def all_errors(n: int) -> ls.Bandit:
    return ls.Bandit(r_true=np.linspace(0, 1, n), r_proxy=np.linspace(1, 0, n))


CASES = [
    # Bandit
    ("Bandit r_true text", lambda: ls.Bandit(r_true="abc"), "r_true"),
    ("Bandit r_true NaN", lambda: ls.Bandit(r_true=[1.0, math.nan]), "r_true"),
    ("Bandit r_true 3-D", lambda: ls.Bandit(r_true=[[[1.0, 2.0]]]), "r_true"),
    ("Bandit r_true one output", lambda: ls.Bandit(r_true=[1.0]), "r_true"),
    ("Bandit r_proxy length", lambda: ls.Bandit(r_true=[1, 0], r_proxy=[1, 0, 0]), "r_proxy"),
    ("Bandit init_probs sum", lambda: ls.Bandit(r_true=[1, 0], init_probs=[0.5, 0.6]), "init_probs"),
    ("Bandit init_probs negative", lambda: ls.Bandit(r_true=[1, 0], init_probs=[-0.5, 1.5]), "init_probs"),
    ("Bandit both inits", lambda: ls.Bandit(r_true=[1, 0], init_probs=[0.5, 0.5], init_logits=[0, 0]), "init_logits"),
    ("Bandit names", lambda: ls.Bandit(r_true=[1, 0], names=["a"]), "names"),
    ("Bandit features shape", lambda: ls.Bandit(r_true=[1, 0], features=[1.0, 2.0]), "features"),
    ("Bandit rewards over float32", lambda: train(problem=ls.Bandit(r_true=[1e39, 0, -1])), "r_true"),
    ("Bandit proxy over float32", lambda: train(problem=ls.Bandit(r_true=[1, 0, -1], r_proxy=[-1e39, 0, 1])),
     "float32"),
    ("Bandit r_true text Series", lambda: ls.Bandit(r_true=pd.Series(["1", "0"])), "r_true"),
    # algorithms
    ("ExactPG lr negative", lambda: ls.ExactPG(lr=-1.0), "lr"),
    ("ExactPG lr text", lambda: ls.ExactPG(lr="0.1"), "lr"),
    ("ExactPG lr NaN", lambda: ls.ExactPG(lr=math.nan), "lr"),
    ("ExactPG lr bool", lambda: ls.ExactPG(lr=True), "lr"),
    ("ExactPG lr DataFrame", lambda: ls.ExactPG(lr=pd.DataFrame({"lr": [0.1, 0.2]})), "lr"),
    ("ExactPG kl negative", lambda: ls.ExactPG(lr=0.1, kl=-1.0), "kl"),
    ("Reinforce samples 0", lambda: ls.Reinforce(lr=0.1, samples=0), "samples"),
    ("Reinforce samples float", lambda: ls.Reinforce(lr=0.1, samples=2.5), "samples"),
    ("Reinforce baseline", lambda: ls.Reinforce(lr=0.1, baseline="median"), "baseline"),
    ("RLOO k 1", lambda: ls.RLOO(lr=0.1, k=1), "k"),
    ("GRPO group 1", lambda: ls.GRPO(lr=0.1, group=1), "group"),
    ("GRPO eps 0", lambda: ls.GRPO(lr=0.1, eps=0.0), "eps"),
    ("GRPO normalize_std text", lambda: ls.GRPO(lr=0.1, normalize_std="no"), "normalize_std"),
    ("PPO clip 0", lambda: ls.PPO(lr=0.1, clip=0.0), "clip"),
    ("PPO epochs 0", lambda: ls.PPO(lr=0.1, epochs=0), "epochs"),
    # train
    ("train problem", lambda: train(problem=[1, 2, 3]), "problem"),
    ("train algorithm", lambda: train(algorithm="ExactPG"), "algorithm"),
    ("train steps negative", lambda: train(steps=-1), "steps"),
    ("train steps float", lambda: train(steps=2.5), "steps"),
    ("train steps 1e4", lambda: train(steps=1e4), "steps must be an integer >= 0; got 10000.0 (a float; give the "
                                                 "integer 10_000)"),
    ("train reward", lambda: train(reward="both"), "reward"),
    ("train seed", lambda: train(seed=-1), "seed"),
    ("train seed 2**64", lambda: train(seed=2**64), "seed must be an integer in [0, 2**63); got 18446744073709551616"),
    ("train device cudax", lambda: train(device="cudax"), "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got "
                                                          "'cudax'"),
    ("train device gpu", lambda: train(device="gpu"), "'gpu'"),
    ("Bandit no rows", lambda: ls.Bandit(np.zeros((0, 3))), "r_true must hold at least one problem (row); got shape "
                                                            "(0, 3)"),
    ("steps_to text", lambda: train().steps_to("high"), "level must be a finite number; got 'high'"),
    ("steps_to NaN", lambda: train().steps_to(math.nan), "level must be a finite number; got nan"),
    ("train record_every 0", lambda: train(record_every=0), "record_every"),
    ("train device", lambda: train(device="tpu"), "device"),
    ("train dtype int64", lambda: train(dtype=torch.int64), "dtype"),
    ("train dtype text", lambda: train(dtype="int64"), "dtype"),
    ("train dtype numpy", lambda: train(dtype=np.float32), "dtype"),
    ("train progress text", lambda: train(progress="yes"), "progress"),
    ("train track_level", lambda: train(track_level=[0.5, 0.5]), "track_level"),
    ("train common_noise", lambda: train(common_noise=[0, 1]), "common_noise"),
    ("train backend", lambda: train(backend="jax"), "backend"),
    ("train memory", lambda: train(problem=big_bandit(), steps=10_000), "record_every"),
    # theory
    ("values probs shape", lambda: theory.values(toy(), probs=[[0.5, 0.5]]), "probs"),
    ("values probs text", lambda: theory.values(toy(), probs="abc"), "probs"),
    ("advantages probs 2 rows", lambda: theory.advantages(toy(), probs=np.full((2, 5), 0.2)), "probs"),
    ("advantages reward", lambda: theory.advantages(toy(), reward="both"), "reward"),
    ("value_rate train_on", lambda: theory.value_rate(toy(), train_on="both"), "train_on"),
    ("value_at theta shape", lambda: theory.value_at(toy(), theta=[0.0, 1.0]), "theta"),
    ("gradient_at theta shape", lambda: theory.gradient_at(toy(), theta=np.zeros((2, 5))), "theta"),
    ("predict negligible", lambda: theory.predict(toy(), negligible=-1.0), "negligible"),
    ("predict negligible above 1", lambda: theory.predict(toy(), negligible=2.0), "negligible must be a probability"),
    ("values probs sum", lambda: theory.values(toy(), probs=[0.2, 0.2, 0.2, 0.2, 0.1]), "row 0 sums to 0.9"),
    ("prob_velocity probs negative", lambda: theory.prob_velocity(toy(), probs=[-0.2, 0.6, 0.2, 0.2, 0.2]),
     "probs must be probabilities (>= 0); got -0.2"),
    ("categorize list", lambda: ls.categorize([1, 2, 3]), "problem"),
    ("categorize algorithm", lambda: categorize(algorithm="ExactPG"), "algorithm"),
    ("categorize steps 0", lambda: categorize(steps=0), "steps"),
    ("categorize tol", lambda: categorize(tol=-1.0), "tol"),
    ("categorize target", lambda: categorize(target=math.inf), "target"),
    ("categorize seeds", lambda: categorize(seeds=0), "seeds"),
    ("categorize negligible", lambda: categorize(negligible=math.nan), "negligible"),
    ("categorize measure text", lambda: categorize(measure="no"), "measure"),
    ("categorize progress text", lambda: categorize(progress="yes"), "progress"),
    ("categorize memory", lambda: categorize(problem=all_errors(6000), steps=10), "seeds"),
    # metrics
    ("acc lengths", lambda: metrics.acc([1.0], [1.0, 2.0]), "r_rejected"),
    ("acc NaN", lambda: metrics.acc([math.nan], [1.0]), "r_chosen"),
    ("acc 2-D", lambda: metrics.acc([[1.0]], [[1.0]]), "r_chosen"),
    ("acc text", lambda: metrics.acc(["a"], [1.0]), "r_chosen"),
    ("acc numbers as text", lambda: metrics.acc(["1.0"], [0.0]), "r_chosen must hold real numbers; got text '1.0'"),
    ("acc one text entry", lambda: metrics.acc([1.0, "x"], [0.0, 0.0]), "got text 'x' at index 1"),
    ("acc complex", lambda: metrics.acc([1 + 1j], [0.0]), "r_chosen must hold real numbers; got complex"),
    ("acc ragged", lambda: metrics.acc([[1.0], [1.0, 2.0]], [1.0, 2.0]), "r_chosen"),
    ("acc int beyond float", lambda: metrics.acc([10**400], [0]), "r_chosen"),
    ("hacc v_hat scalar", lambda: metrics.hacc([1.0, 2.0], [0.0, 3.0], 1.0), "v_hat must be 1-D (one entry per"),
    ("acc_w logp inf", lambda: metrics.acc_w([1.0], [0.0], [-math.inf], [-1.0]), "logp_chosen"),
    ("acc_w len_rejected missing", lambda: metrics.acc_w([1.0], [0.0], [-1.0], [-1.0], [2]), "len_rejected"),
    ("acc_w len 0", lambda: metrics.acc_w([1.0], [0.0], [-1.0], [-1.0], [0], [1]), "len_chosen"),
    ("hacc v_hat length", lambda: metrics.hacc([1.0], [0.0], [0.0, 1.0]), "v_hat"),
    ("acc_1vk empty group", lambda: metrics.acc_1vk([1.0], [[math.nan]]), "r_rejected"),
    ("acc_w_1vk layout", lambda: metrics.acc_w_1vk([1.0], [[0.0, 1.0]], [-1.0], [[-1.0]]), "logp_rejected"),
    ("preference_pairs 2-D", lambda: metrics.preference_pairs([["a"]], [1.0]), "prompt_ids"),
    ("preference_pairs tol", lambda: metrics.preference_pairs(["a"], [1.0], tol=-1.0), "tol"),
    ("preference_pairs tol text", lambda: metrics.preference_pairs(["a"], [1.0], tol="0"), "tol"),
    ("preference_pairs scores", lambda: metrics.preference_pairs(["a", "a"], [1.0]), "scores"),
    ("preference_pairs dict ids", lambda: metrics.preference_pairs([{"a": 1}, {"a": 1}], [1.0, 0.0]),
     "prompt_ids must hold hashable ids"),
    ("preference_pairs NaN ids", lambda: metrics.preference_pairs(np.array([1.0, np.nan, np.nan]), [1.0, 0.0, 2.0]),
     "prompt_ids must not hold NaN"),
    ("bootstrap_ci stat array", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], lambda x, y: x, 5), "stat"),
    ("bootstrap_ci stat text", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], lambda x, y: "x", 5), "stat"),
    ("bootstrap_ci stat", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "tau"), "stat"),
    ("bootstrap_ci n_resamples", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", 0), "n_resamples"),
    ("bootstrap_ci level", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", level=1.5), "level"),
    ("bootstrap_ci seed", lambda: metrics.bootstrap_ci([1.0, 2.0], [1.0, 2.0], "pearson", seed=-1), "seed"),
    ("pearson lengths", lambda: metrics.pearson([1.0, 2.0], [1.0]), "y"),
    # rm_report (Python)
    ("rm_report length_norm", lambda: ls.rm_report([], length_norm="no"), "length_norm"),
    ("rm_report source", lambda: ls.rm_report(5), "path_or_records"),
    ("rm_report proxy text", lambda: rm(proxy="high"), "proxy"),
    ("rm_report logp positive", lambda: rm(logp=0.5), "logp"),
    ("rm_report logp huge int", lambda: rm(logp=-10**400), "logp"),
    ("rm_report length float", lambda: rm(length=2.5), "length"),
    ("rm_report extra field", lambda: rm(color="red"), "color"),
    # sweeps
    ("random_instances n", lambda: sweeps().random_instances(0), "n"),
    ("random_instances n_outputs", lambda: sweeps().random_instances(2, n_outputs=2), "n_outputs"),
    ("random_instances errors", lambda: sweeps().random_instances(2, errors="some"), "errors"),
    ("random_instances entropy", lambda: sweeps().random_instances(2, entropy=2.0), "entropy"),
    ("random_instances seed", lambda: sweeps().random_instances(2, seed=-1), "seed"),
    ("default_algorithms lr", lambda: sweeps().default_algorithms(lr=0.0), "lr"),
    ("stress_test memory_mb", lambda: sweeps().stress_test(toy(), sweeps().default_algorithms(), steps=5,
                                                           memory_mb=math.inf), "memory_mb"),
    ("stress_test progress", lambda: sweeps().stress_test(toy(), sweeps().default_algorithms(), steps=5,
                                                          progress="yes"), "progress"),
    # verifiable
    ("check tokens", lambda: verifiable().check(np.zeros((2, 0))), "tokens"),
    ("grpo_advantages NaN", lambda: verifiable().grpo_advantages([[1.0, math.nan]]), "rewards"),
    ("grpo_advantages eps", lambda: verifiable().grpo_advantages([[1.0, 0.0]], eps=-1.0), "eps"),
    ("make_task p1", lambda: verifiable().make_task(1.5, 0.5), "p1"),
    ("make_task vocab", lambda: verifiable().make_task(0.5, 0.5, vocab=1), "vocab"),
    ("train_grpo steps", lambda: verifiable().train_grpo(verifiable().make_task(0.5, 0.5), "binary", -1), "steps"),
    ("train_grpo progress", lambda: verifiable().train_grpo(verifiable().make_task(0.5, 0.5), "binary", 2,
                                                            progress="yes", device="cpu"), "progress"),
    ("silent_probability group", lambda: verifiable().silent_probability([0.25, 0.25, 0.5], 0.0, 0), "group"),
    ("silent_probability shape", lambda: verifiable().silent_probability([0.5, 0.5], 0.0, 4),
     "outcome_probs must have shape (B, 3)"),
    ("silent_probability sum", lambda: verifiable().silent_probability([[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]], 0.0, 4),
     "row 1 is [0.5, 0.5, 0.5]"),
    ("silent_probability weight", lambda: verifiable().silent_probability([0.2, 0.3, 0.5], math.nan, 4), "weight"),
    ("check float tokens", lambda: verifiable().check([[0.5, 1.2]]), "tokens must be integer token ids"),
    ("check keyword text", lambda: verifiable().check([[0, 1]], keyword="a"), "keyword"),
    ("binary_credit fractions", lambda: verifiable().binary_credit([0.5], [1.0]), "c1 must hold booleans"),
    ("partial_credit shapes", lambda: verifiable().partial_credit([True, False], [True, False, True]),
     "c1 and c2 must have the same shape; got (2,) and (3,)"),
    ("mixed_credit weight", lambda: verifiable().mixed_credit([True], [False], 2.0),
     "weight must be a number in [0, 1]"),
    ("make_task p1 text", lambda: verifiable().make_task("a", 0.5), "p1"),
    ("make_task end_bias", lambda: verifiable().make_task(0.3, 0.3, end_bias=math.nan), "end_bias"),
    ("make_task tol", lambda: verifiable().make_task(0.3, 0.3, tol=0), "tol"),
    ("make_task keyword", lambda: verifiable().make_task(0.3, 0.3, keyword=(9,)), "keyword must be a non-empty "
                                                                               "sequence of token ids (integers >= "
                                                                               "0, below 8); got (9,)"),
    ("make_task seed", lambda: verifiable().make_task(0.3, 0.3, seed=2**63), "seed"),
    ("train_grpo switch_at", lambda: verifiable().train_grpo(verifiable().make_task(0.5, 0.5), "switch", 2,
                                                             switch_at=2.0, device="cpu"), "switch_at"),
    ("train_grpo weight_decay inf", lambda: verifiable().train_grpo(verifiable().make_task(0.5, 0.5), "binary", 2,
                                                                    optimizer="adamw", weight_decay=math.inf,
                                                                    device="cpu"), "weight_decay"),
    ("train_grpo reward list", lambda: verifiable().train_grpo(verifiable().make_task(0.5, 0.5), ["binary"] * 2, 2,
                                                               device="cpu"), "a list of 1"),
    # sequence
    ("SequenceTask theta0 NaN", lambda: sequence_task(theta0=nan_logits()), "theta0 must be finite; found nan"),
    ("train_sequences weight_decay", lambda: train_sequences(optimizer="adamw", weight_decay=True), "weight_decay"),
    ("train_sequences seed", lambda: train_sequences(seed=-1), "seed"),
    ("SequenceTask reward shape", lambda: train_sequences(task=sequence_task(reward=lambda tokens, runs: tokens.sum(
        (-1, -2)).double())), "true_reward must return a tensor of shape"),
    ("SequenceTask reward list", lambda: train_sequences(task=sequence_task(reward=lambda tokens, runs: [1.0])),
     "got a list"),
    ("train_sequences step reward", lambda: train_sequences(reward=lambda tokens, step: tokens[..., 0, 0].double()),
     "reward must return a tensor of shape (2, 1, 4), one reward per response (tokens' shape without L); got "
     "shape (2, 1)"),
    # rlhf
    ("run_study size", lambda: rlhf().run_study(size="huge"), "size"),
    ("pair_metrics lengths", lambda: rlhf().pair_metrics(["a", "a"], [1.0, 0.0], [1.0], [-1.0, -1.0], [1, 1],
                                                         [0.0, 0.0]), "r_proxy"),
    # widgets and charts
    ("normalize negative", lambda: widgets().normalize([-1.0, 2.0]), "init_probs"),
    ("explorer r_true", lambda: widgets().explorer(r_true=[1.0, math.nan, 0.0]), "r_true"),
    ("line_chart column", lambda: charts().line_chart([{"a": 1, "b": 2}], x="step", y="b", title="t",
                                                      x_title="x", y_title="y"), "step"),
]

ACCEPTED = [
    ("ExactPG lr float32", lambda: ls.ExactPG(lr=np.float32(0.1))),
    ("Reinforce samples int64", lambda: ls.Reinforce(lr=0.1, samples=np.int64(4))),
    ("GRPO normalize_std numpy bool", lambda: ls.GRPO(lr=0.1, normalize_std=np.bool_(False))),
    ("train steps int64", lambda: train(steps=np.int64(3), seed=np.int32(1), record_every=np.int64(2))),
    ("train dtype float64 text", lambda: train(dtype="float64")),
    ("categorize tol float32", lambda: categorize(tol=np.float32(0.05), measure=False)),
    ("bootstrap_ci n_resamples int64", lambda: metrics.bootstrap_ci([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], "pearson",
                                                                     np.int64(5), level=np.float64(0.9))),
    ("preference_pairs tol float32", lambda: metrics.preference_pairs(["a", "a"], [1.0, 0.0], tol=np.float32(0.5))),
]


def test_rewards_from_pandas_are_their_values():
    """A Series is a row of rewards and a DataFrame a batch (rows: problems, columns: outputs)."""
    frame = pd.DataFrame([[1.0, 0.8, -1.0], [0.0, 1.0, 0.5]], columns=["a", "b", "c"])
    prob = ls.Bandit(r_true=frame, r_proxy=pd.Series([1.0, -1.0, -1.0]))
    assert prob.r_true.tolist() == [[1.0, 0.8, -1.0], [0.0, 1.0, 0.5]]
    assert prob.r_proxy.tolist() == [[1.0, -1.0, -1.0]] * 2


def test_theory_takes_probs_that_are_distributions():
    """A record of a float32 run (rows sum to 1 within rounding) is taken, and gives V_G = <probs, r_G>; a row that
    is off by 1e-3 is refused, naming the row."""
    probs = train(steps=200, dtype="float32").probs[-1]
    v_g, _ = theory.values(toy(), probs=probs)
    assert v_g == pytest.approx(probs @ np.array(TOY["r_true"]), rel=1e-12)
    with pytest.raises(ValueError, match=r"^probs must sum to 1 over the 5 outputs; row 1 sums to 1\.001$"):
        theory.values(toy().rows([0, 0]), probs=[[0.2] * 5, [0.2, 0.2, 0.2, 0.2, 0.201]])


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, f"message is not one line: {text!r}"
    return text


@pytest.mark.parametrize("call, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(call, fragment):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert fragment in _one_line(info.value)


@pytest.mark.parametrize("call", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_numpy_scalars_accepted(call):
    call()


def test_a_cuda_device_beyond_the_machines_gpus_is_named(monkeypatch):
    """cuda:N is checked against the GPUs there are (here a machine made to show one)."""
    from labsupport import simulate

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"^device='cuda:3' was requested but this machine has 1 CUDA GPU "
                                         r"\(cuda:0 to cuda:0\)$"):
        simulate.resolve_device("cuda:3")
    assert simulate.resolve_device("cuda:0") == torch.device("cuda:0")


def test_ids_of_different_types_are_different_prompts():
    """The prompt ids "1" and 1 are two prompts (Python equality), so no pair joins their responses."""
    pairs = metrics.preference_pairs(["1", 1, "1", 1], [1.0, 0.0, 0.0, 1.0])
    assert pairs.chosen.tolist() == [0, 3] and pairs.rejected.tolist() == [2, 1] and pairs.n_ties == 0


# ---------------------------------------------------------------------------------------------- rm-report files

GOOD = {"prompt": "a", "response": 1, "proxy": 0.5, "logp": -1.0, "length": 3, "score": 1.0, "policy_sample": True}
OTHER = {"prompt": "a", "response": 2, "proxy": 0.0, "logp": -2.0, "length": 2, "score": 0.0}


def _with(**kw) -> str:
    return json.dumps({**GOOD, **kw}) + "\n" + json.dumps(OTHER)


def _raw(field: str, text: str) -> str:
    rec = json.dumps({**GOOD, field: 0}).replace(f'"{field}": 0', f'"{field}": {text}')
    return rec + "\n" + json.dumps(OTHER)


CLI_CASES = [
    ("proxy text", _with(proxy="high"), "line 1", "proxy"),
    ("proxy 400 digits", _raw("proxy", "9" * 400), "line 1", "proxy"),
    ("score 400 digits", _raw("score", "9" * 400), "line 1", "score"),
    ("logp 400 digits", _raw("logp", "-" + "9" * 400), "line 1", "logp"),
    ("length 400 digits", _raw("length", "9" * 400), "line 1", "length"),
    ("length 5000 digits", _raw("length", "9" * 5000), "line 1", "length"),
    ("proxy 5000 digits", _raw("proxy", "9" * 5000), "line 1", "proxy"),
    ("proxy 1e400", _raw("proxy", "1e400"), "line 1", "proxy"),
    ("proxy NaN", _raw("proxy", "NaN"), "line 1", "proxy"),
    ("logp -Infinity", _raw("logp", "-Infinity"), "line 1", "logp"),
    ("deep nesting", _raw("proxy", "[" * 100_000 + "]" * 100_000), "line 1", "nested"),
    ("deep nesting invalid", "[" * 100_000, "line 1", "JSON"),
    ("logp positive", _with(logp=0.5), "line 1", "logp"),
    ("length 0", _with(length=0), "line 1", "length"),
    ("policy_sample text", _with(policy_sample="yes"), "line 1", "policy_sample"),
    ("unknown field", _with(colour="red"), "line 1", "colour"),
    ("duplicate key", '{"prompt": "a", "prompt": "b"}', "line 1", "prompt"),
    ("not an object", "[1, 2]", "line 1", "JSON object"),
    ("invalid JSON", "{", "line 1", "JSON"),
    ("not UTF-8", b"\xff\xfe{".decode("latin-1"), "line 1", "UTF-8"),
    ("pair unknown response", json.dumps(GOOD) + "\n" + json.dumps(OTHER) + "\n"
     + json.dumps({"prompt": "a", "chosen": 1, "rejected": 9}), "line 3", "rejected"),
]


@pytest.mark.parametrize("text, where, fragment", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_rm_report_file_one_line_exit_2(tmp_path, text, where, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode("utf-8"))
    done = subprocess.run([sys.executable, "-m", "labsupport", "rm-report", str(path), "--json", "-"],
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and where in lines[0] and fragment in lines[0], done.stderr[-2000:]
    assert done.stdout == ""


def test_vendor_assets_refuses_members_outside_the_target(tmp_path):
    """tools/vendor_assets.py: a crafted npm tarball with a member climbing out, an absolute member or a link
    pointing outside is refused before anything is written; a clean one extracts."""
    import importlib.util
    import io
    import tarfile
    from pathlib import Path

    tool = Path(__file__).parents[1] / "tools" / "vendor_assets.py"
    spec = importlib.util.spec_from_file_location("vendor_assets", tool)
    va = importlib.util.module_from_spec(spec)
    sys.modules["vendor_assets"] = va  # dataclasses look their module up there
    spec.loader.exec_module(va)
    pkg = va.Package(name="x", version="1", folder="x", keep=("dist/*",))

    def tarball(name: str, *members: tarfile.TarInfo) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for m in members:
                data = b"x" if m.isfile() else b""
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data) if m.isfile() else None)
        return path

    def member(name: str, kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        return info

    staging = tmp_path / "staging"
    for label, bad in [("climbs", member("package/../../evil.js")),
                       ("absolute", member("/tmp/evil.js")),
                       ("symlink", member("package/dist/a.js", tarfile.SYMTYPE, "../../../etc/passwd")),
                       ("hardlink", member("package/dist/b.js", tarfile.LNKTYPE, "../outside"))]:
        with pytest.raises(ValueError, match="leaves|absolute"):
            va.extract(pkg, tarball(f"{label}.tgz", member("package/dist/ok.js"), bad), staging)
        assert not (tmp_path / "evil.js").exists() and not staging.exists()
    assert va.extract(pkg, tarball("clean.tgz", member("package/dist/ok.js")), staging) == ["x/dist/ok.js"]
    assert (staging / "x" / "dist" / "ok.js").read_bytes() == b"x"
