"""RLHF in miniature: a sequence task with mediocre modes, SFT initial policies, learned reward models, RLOO, and the
reward-model evaluation study of chapter 6 (section 4 of Shang et al. 2026, at toy scale).

The pieces, in the order the study uses them::

    task = SequenceTask(prompts=8, vocab=4, length=6)            # P prompts, responses = token sequences
    init = sft(task, DEFAULT_SFT)                                # (I, P, L, V, V) logits of I initial policies
    rms = train_reward_models(task, default_reward_models(), init)   # R Bradley-Terry reward models (+ perturbations)
    rows = torch.arange(len(rms)).repeat(len(init))              # run b: initial policy b // R, reward model b % R
    run = rloo(task, init.repeat_interleave(len(rms), 0), rms.scorer(rows), steps=200)   # RLOO (or PPO), one batch
    table = evaluate_reward_models(task, init, rms)              # Acc, Acc-W, HAcc, HAcc-W at each initial policy
    study = run_study("small")                                   # everything above; study.frame has one row per run
    correlation_table(study.frame)                               # metric vs ground-truth gain, with bootstrap CIs

**Responses.** Tokens are 0..V-1; token 0 is EOS, 1..V-1 are content tokens. A response is at most L tokens long and
ends at its first EOS (or after L tokens). Batches of responses are long tensors (..., L) padded after the EOS with
``task.pad`` = V; the length |y| counts the EOS. There are sum_{l<L} (V-1)^(l-1) + V (V-1)^(L-1) distinct responses
per prompt (1093 for V = 4, L = 6): up to ``EXACT_LIMIT`` of them, expectations are exact sums over all responses,
beyond it Monte-Carlo averages.

**Policy.** The sequence engine's (:class:`labsupport.sequence.SequencePolicy` with end token EOS,
``task.policy``): per prompt p, position t and previous token, a row of V logits, ``logits[..., p, t, prev, :]`` of
shape (..., P, L, V, V). The previous token of position 0 is index 0 (EOS never precedes a token, so its slot is free
to mean "start"). log pi(y | p) = sum_{t < |y|} log softmax(logits[p, t, y_{t-1}])[y_t].

**Ground truth.** Each prompt has a best answer a_p (L - 1 content tokens, then EOS) and a mediocre answer m_p, the
first h = ceil((L - 1) / 2) tokens of a_p, then EOS: a partially right, short answer. With
q(y, s) = (positions t < max(|y|, |s|) where y and s agree) / max(|y|, |s|),

    r_G(y) = 2 max( q(y, a_p)^gamma, rho q(y, m_p)^gamma ) - 1,    rho = (1 + mediocre_value) / 2,

so r_G(a_p) = 1, r_G(m_p) = mediocre_value (0.8, as in the paper's toy), unrelated responses sit near -1 and partial
matches in between: the mediocre answer is a mode of its own, and near-misses of a_p score below it.

**Initial policies.** :func:`sft` fits the policy by gradient descent on the log-likelihood of imperfect
demonstrations (mixtures of best, mediocre, corrupted and random responses, :class:`SFTSpec`), from uniform logits.

**Reward models.** :func:`train_reward_models` fits Bradley-Terry models r(y) = sum_t w[p, t, y_t] (a weight per
prompt, position and token-or-padding: a positional bag of tokens) on preference pairs labelled by r_G, from
initial-policy samples or from an offline distribution, with a fraction of flipped labels (:class:`RMSpec`).
Perturbations then change the reward of one chosen response per prompt: demote the mediocre answer, or reward a rare
(or a common) bad response above everything else.

**RLOO.** :func:`rloo`: per step and prompt, k samples; proxy rewards whitened per run over the batch, minus
kl * (log pi(y) - log pi_0(y)); leave-one-out advantages (:meth:`labsupport.RLOO.advantages`); one Adam step on the
logits: :func:`labsupport.sequence.train_sequences` with ``optimizer="adam"``, ``whiten=True``. Any other sampled
rule runs the same way (``algorithm=labsupport.PPO(...)``). Outcome: the ground-truth gain V_G(final) - V_G(pi_0).

**Metrics.** :func:`evaluate_reward_models` computes the four metrics of :mod:`labsupport.metrics` at each initial
policy on on-policy pairs (all pairs of 10 samples per prompt, ground-truth ties dropped and counted; V_hat = mean
proxy reward of those samples) and on offline pairs, with and without length normalisation of the weights.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from .. import metrics
from .. import sequence as sq
from .._checks import choice, count, positive, random_seed
from ..algorithms import RLOO, Algorithm
from ..data import path as data_path
from ..data import read as read_data
from ..sequence import EXACT_LIMIT, SequenceRun, TaskReward, draw_uniforms
from ..simulate import resolve_device

__all__ = [
    "COLUMN_LABELS", "correlation_table", "default_reward_models", "DEFAULT_SFT", "demonstrations", "EOS",
    "evaluate_reward_models", "EXACT_LIMIT", "heldout_accuracy", "load_study", "log_probs", "METRIC_COLUMNS",
    "METRIC_LABELS", "offline_responses", "pair_metrics", "PERTURBATIONS", "policy_values", "REFERENCES",
    "RewardModels", "RLHFRun", "rloo", "RMSpec", "run_study", "sample_responses", "SequenceTask", "sft", "SFTSpec",
    "SIZES", "STUDY_CSV", "StudyResult", "StudySize", "train_reward_models",
]

EOS = 0
#: what :func:`rloo` returned before it ran on the sequence engine; kept as a name for one release
RLHFRun = SequenceRun


# ----------------------------------------------------------------------------------------------------------------------
# The task
# ----------------------------------------------------------------------------------------------------------------------


class SequenceTask:
    """P prompts whose responses are token sequences; the ground truth r_G has a best and a mediocre mode per prompt.

    Args:
        prompts: P, the number of prompts.
        vocab: V >= 3 tokens (token 0 = EOS).
        length: L >= 3, the maximum response length in tokens (EOS included).
        mediocre_value: r_G of the mediocre answer m_p, strictly between -1 and 1.
        sharpness: gamma >= 1 in r_G (larger: partial matches score lower).
        seed: seeds the best answers a_p.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.

    Attributes:
        best, mediocre: (P, L) long tensors, the padded answers a_p and m_p.
        pad: the padding value V.
        n_responses: distinct responses per prompt; ``exact``: whether expectations enumerate them.
        policy: the sequence engine's policy family (:class:`labsupport.sequence.SequencePolicy`, end token EOS).
    """

    def __init__(self, prompts: int = 8, vocab: int = 4, length: int = 6, mediocre_value: float = 0.8,
                 sharpness: float = 2.0, seed: int = 0, device: Union[str, torch.device] = "auto"):
        self.prompts = count("prompts", prompts, minimum=1)
        self.vocab = count("vocab", vocab, minimum=3)
        self.length = count("length", length, minimum=3)
        if not (isinstance(mediocre_value, (int, float)) and -1 < mediocre_value < 1):
            raise ValueError(f"mediocre_value must lie strictly between -1 and 1; got {mediocre_value!r}")
        if positive("sharpness", sharpness) < 1:
            raise ValueError(f"sharpness must be >= 1; got {sharpness!r}")
        self.mediocre_value = float(mediocre_value)
        self.sharpness = float(sharpness)
        self.rho = (1 + self.mediocre_value) / 2
        self.seed = random_seed("seed", seed)
        self.device = resolve_device(device)
        self.pad = vocab
        self.h = math.ceil((length - 1) / 2)
        g = torch.Generator().manual_seed(seed)
        content = torch.randint(1, vocab, (prompts, length - 1), generator=g)
        best = torch.cat([content, torch.full((prompts, 1), EOS)], 1)
        mediocre = torch.full((prompts, length), self.pad)
        mediocre[:, : self.h] = content[:, : self.h]
        mediocre[:, self.h] = EOS
        self.best = best.to(self.device)
        self.mediocre = mediocre.to(self.device)
        self.policy = sq.SequencePolicy(vocab, length, end=EOS)
        self.n_responses = self.policy.n_sequences()
        self.exact = self.n_responses <= EXACT_LIMIT
        self._all: Optional[torch.Tensor] = None

    def __repr__(self):
        return (f"SequenceTask(prompts={self.prompts}, vocab={self.vocab}, length={self.length}, "
                f"mediocre_value={self.mediocre_value}, sharpness={self.sharpness}, seed={self.seed}, "
                f"device={str(self.device)!r})")

    # responses ---------------------------------------------------------------------------------------------------

    def engine(self, init_logits: torch.Tensor, proxy: Optional[TaskReward] = None) -> sq.SequenceTask:
        """This task on the sequence engine: runs starting from ``init_logits`` (B, P, L, V, V), r_G the ground
        truth, r_P ``proxy`` (a reward (tokens (B', P, N, L), runs (B',)) -> (B', P, N), e.g.
        :meth:`RewardModels.scorer`), tokens drawn position by position as decoding does."""

        def truth(tokens: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
            return self.ground_truth(tokens)

        return sq.SequenceTask(init_logits, truth, proxy, end=EOS, draw="position")

    def sample(self, logits: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        """n responses per prompt from each policy, token by token: logits (B, P, L, V, V) -> (B, P, n, L)."""
        b, p, L = logits.shape[:3]
        u = draw_uniforms(generator, (b, p, n, L), "position", logits.dtype)
        return self.policy.sample(self.policy.conditionals(logits.detach()), u)

    def lengths(self, seqs: torch.Tensor) -> torch.Tensor:
        """|y| in tokens (EOS included), shape seqs.shape[:-1]."""
        return (seqs != self.pad).sum(-1)

    def all_responses(self) -> torch.Tensor:
        """Every distinct response, (n_responses, L): content prefixes ending in EOS, and all full-length ones."""
        if self._all is None:
            self._all = self.policy.all_sequences(self.device)
        return self._all

    def random_responses(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        """Responses of uniformly random length 1..L and uniformly random tokens, shape (*shape, L)."""
        L = self.length
        tokens = torch.randint(1, self.vocab, (*shape, L), generator=generator, device=self.device)
        n = torch.randint(1, L + 1, tuple(shape), generator=generator, device=self.device)
        pos = torch.arange(L, device=self.device)
        out = torch.where(pos < (n - 1)[..., None], tokens, torch.full_like(tokens, self.pad))
        eos_at = (pos == (n - 1)[..., None]) & (n < L)[..., None]
        out = torch.where(eos_at, torch.full_like(out, EOS), out)
        last = torch.randint(0, self.vocab, tuple(shape), generator=generator, device=self.device)
        full = (pos == L - 1) & (n == L)[..., None]  # full length: the last token may be EOS or content
        return torch.where(full, last[..., None].expand_as(out), out)

    def corrupt(self, seqs: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
        """Replace each content token, with probability ``rate``, by a uniformly random content token."""
        hit = (torch.rand(seqs.shape, generator=generator, device=self.device) < rate) & (seqs != EOS) & (
            seqs != self.pad)
        new = torch.randint(1, self.vocab, seqs.shape, generator=generator, device=self.device)
        return torch.where(hit, new, seqs)

    # the ground truth --------------------------------------------------------------------------------------------

    def _q(self, seqs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """q(y, s): agreement over max(|y|, |s|) positions; seqs (..., P, N, L), target (P, L) -> (..., P, N)."""
        t = target[:, None, :]
        n = torch.maximum(self.lengths(seqs), self.lengths(t))
        agree = (seqs == t).sum(-1) - (self.length - n)  # positions past both ends are padding on both sides
        return agree / n

    def ground_truth(self, seqs: torch.Tensor) -> torch.Tensor:
        """r_G(y) = 2 max(q(y, a_p)^gamma, rho q(y, m_p)^gamma) - 1; seqs (..., P, N, L) -> (..., P, N) float."""
        self._check(seqs)
        g = self.sharpness
        best = self._q(seqs, self.best) ** g
        med = self.rho * self._q(seqs, self.mediocre) ** g
        return 2 * torch.maximum(best, med) - 1

    def ground_truth_demoted(self, seqs: torch.Tensor) -> torch.Tensor:
        """r_G with the mediocre answer m_p demoted to -1 (the lowest reward): the paper's toy proxy, transplanted."""
        is_med = (seqs == self.mediocre[:, None, :]).all(-1)
        return torch.where(is_med, torch.full_like(is_med, -1.0, dtype=torch.float), self.ground_truth(seqs))

    def _check(self, seqs: torch.Tensor) -> None:
        if seqs.dim() < 3 or seqs.shape[-1] != self.length or seqs.shape[-3] != self.prompts:
            raise ValueError(f"seqs must have shape (..., P={self.prompts}, N, L={self.length}); got "
                             f"{tuple(seqs.shape)}")


# ----------------------------------------------------------------------------------------------------------------------
# The autoregressive policy
# ----------------------------------------------------------------------------------------------------------------------


def log_probs(logits: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
    """Deprecated: ``task.policy.log_prob(logits, seqs)`` (:meth:`labsupport.sequence.SequencePolicy.log_prob`)."""
    warnings.warn("rlhf.log_probs is deprecated; use task.policy.log_prob(logits, seqs)", DeprecationWarning,
                  stacklevel=2)
    return sq.SequencePolicy(logits.shape[-1], logits.shape[2], end=EOS).log_prob(logits, seqs)


def sample_responses(logits: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Deprecated: ``task.sample(logits, n, generator)`` (:meth:`SequenceTask.sample`)."""
    warnings.warn("rlhf.sample_responses is deprecated; use task.sample(logits, n, generator)", DeprecationWarning,
                  stacklevel=2)
    policy = sq.SequencePolicy(logits.shape[-1], logits.shape[2], end=EOS)
    b, p, L = logits.shape[:3]
    return policy.sample(policy.conditionals(logits.detach()), draw_uniforms(generator, (b, p, n, L), "position",
                                                                             logits.dtype))


@torch.no_grad()
def policy_values(task: SequenceTask, logits: torch.Tensor, reward: Optional[Callable] = None,
                  samples: int = 512, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """E_{y ~ pi(.|p)}[r(y)] per policy and prompt, shape (B, P); r = r_G unless ``reward`` (seqs (B', P, N, L) ->
    (B', P, N)) is given: :meth:`labsupport.sequence.SequenceTask.expected` on :meth:`SequenceTask.engine`.

    Exact (a sum over every response) when ``task.exact``, else the mean over ``samples`` responses per prompt drawn
    with ``generator``; :data:`labsupport.sequence.EVAL_CHUNK` policies at a time.
    """
    fn = task.ground_truth if reward is None else reward
    return task.engine(logits).expected(logits, lambda tokens, runs: fn(tokens), generator, samples)


# ----------------------------------------------------------------------------------------------------------------------
# Supervised finetuning on imperfect demonstrations
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SFTSpec:
    """One initial policy: fractions of demonstrations of each kind, and the number of full-batch SFT epochs.

    Kinds: ``best`` (a_p), ``mediocre`` (m_p), ``corrupted`` (a_p or m_p in the ratio best : mediocre, each content
    token replaced with probability ``corruption``), ``random`` (:meth:`SequenceTask.random_responses`).
    """

    name: str
    best: float
    mediocre: float
    corrupted: float
    random: float
    epochs: int
    corruption: float = 0.3

    def __post_init__(self):
        fractions = (self.best, self.mediocre, self.corrupted, self.random)
        if any(not isinstance(f, (int, float)) or f < 0 for f in fractions) or not math.isclose(sum(fractions), 1):
            raise ValueError(f"SFTSpec {self.name!r}: fractions must be >= 0 and sum to 1; got {fractions}")
        count("epochs", self.epochs, minimum=1)


#: The three initial policies of the study: mediocre-heavy, balanced, and briefly trained on noisier data.
DEFAULT_SFT = (
    SFTSpec("SFT-mediocre", best=0.00, mediocre=0.70, corrupted=0.20, random=0.10, epochs=100),
    SFTSpec("SFT-balanced", best=0.20, mediocre=0.45, corrupted=0.25, random=0.10, epochs=100),
    SFTSpec("SFT-brief", best=0.03, mediocre=0.50, corrupted=0.30, random=0.17, epochs=10),
)


def demonstrations(task: SequenceTask, spec: SFTSpec, n: int, generator: torch.Generator) -> torch.Tensor:
    """n demonstrations per prompt in the proportions of ``spec`` (rounded; the rest are mediocre), (P, n, L)."""
    sizes = [round(f * n) for f in (spec.best, spec.corrupted, spec.random)]
    n_med = n - sum(sizes)
    if n_med < 0:
        raise ValueError(f"n={n} is too small for the proportions of {spec.name!r}")
    P, L = task.prompts, task.length
    best = task.best[:, None].expand(P, sizes[0], L)
    med = task.mediocre[:, None].expand(P, n_med, L)
    share = spec.best / (spec.best + spec.mediocre) if spec.best + spec.mediocre > 0 else 0.5
    which = torch.rand((P, sizes[1], 1), generator=generator, device=task.device) < share
    base = torch.where(which, task.best[:, None], task.mediocre[:, None])
    corrupted = task.corrupt(base, spec.corruption, generator)
    rnd = task.random_responses((P, sizes[2]), generator)
    return torch.cat([best, med, corrupted, rnd], 1)


def sft(task: SequenceTask, specs: Sequence[SFTSpec] = DEFAULT_SFT, demos: int = 64, lr: float = 4.0,
        seed: int = 0) -> torch.Tensor:
    """Initial policies by supervised finetuning: logits (I, P, L, V, V), one policy per spec.

    From zero logits (uniform), ``spec.epochs`` full-batch gradient-ascent steps of size ``lr`` on
    (1/n) sum_demos log pi(y | p) per prompt (all specs in one batch; a spec stops after its own epochs). A context
    seen in a fraction f of the demonstrations moves at rate f: frequent paths converge, rare ones stay soft.
    """
    count("demos", demos, minimum=4)
    positive("lr", lr)
    g = torch.Generator(device=task.device).manual_seed(random_seed("seed", seed))
    data = torch.stack([demonstrations(task, s, demos, g) for s in specs])  # (I, P, n, L)
    I, P, L, V = len(specs), task.prompts, task.length, task.vocab
    logits = torch.zeros((I, P, L, V, V), device=task.device, requires_grad=True)
    epochs = torch.tensor([s.epochs for s in specs], device=task.device)
    for epoch in range(int(epochs.max())):
        nll = -task.policy.log_prob(logits, data).mean(-1).sum()
        (grad,) = torch.autograd.grad(nll, logits)
        with torch.no_grad():
            live = (epoch < epochs).to(grad.dtype).reshape(I, 1, 1, 1, 1)
            logits -= lr * live * grad
    return logits.detach()


# ----------------------------------------------------------------------------------------------------------------------
# Reward models
# ----------------------------------------------------------------------------------------------------------------------

PERTURBATIONS = ("demote-mediocre", "reward-rare-bad", "reward-common-bad")


@dataclass(frozen=True)
class RMSpec:
    """One reward model: learned from ``pairs`` preference pairs per prompt drawn from ``source`` ("policy": two
    samples of one randomly chosen initial policy; "offline": two draws of the offline distribution), each label
    flipped with probability ``noise``; or, with ``perturb``, a copy of the learned model ``base`` with one response
    per prompt re-scored (one of PERTURBATIONS)."""

    name: str
    source: str = "policy"
    pairs: int = 64
    noise: float = 0.0
    perturb: Optional[str] = None
    base: Optional[str] = None

    def __post_init__(self):
        if self.perturb is None:
            if self.source not in ("policy", "offline"):
                raise ValueError(f"RMSpec {self.name!r}: source must be 'policy' or 'offline'; got {self.source!r}")
            count("pairs", self.pairs, minimum=1)
            if not (isinstance(self.noise, (int, float)) and 0 <= self.noise < 0.5):
                raise ValueError(f"RMSpec {self.name!r}: noise must lie in [0, 0.5); got {self.noise!r}")
        elif self.perturb not in PERTURBATIONS or self.base is None:
            raise ValueError(f"RMSpec {self.name!r}: perturb must be one of {PERTURBATIONS} with a base model; got "
                             f"perturb={self.perturb!r}, base={self.base!r}")

    @property
    def learned(self) -> str:
        """The name of the learned model behind this one: its own, or its base's for a perturbed copy."""
        return self.name if self.perturb is None or self.base is None else self.base


def default_reward_models(pairs: tuple[int, int, int] = (4, 16, 64),
                          noise: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)) -> tuple[RMSpec, ...]:
    """The reward models of the study: one learned model per (source, pairs per prompt, label noise), 24 with the
    defaults, then 4 perturbed copies of learned ones.

    Names read ``<source>-<pairs>-noise<noise>``; a perturbed model appends ``+<perturbation>`` to its base's name.
    """
    specs = [RMSpec(f"{src}-{n}-noise{eps:g}", src, n, eps) for src in ("policy", "offline") for n in pairs
             for eps in noise]
    best = f"policy-{pairs[-1]}-noise0"
    mid = f"offline-{pairs[1]}-noise{noise[len(noise) // 2]:g}"
    specs += [
        RMSpec(f"{best}+demote-mediocre", perturb="demote-mediocre", base=best),
        RMSpec(f"{mid}+demote-mediocre", perturb="demote-mediocre", base=mid),
        RMSpec(f"{best}+reward-rare-bad", perturb="reward-rare-bad", base=best),
        RMSpec(f"{best}+reward-common-bad", perturb="reward-common-bad", base=best),
    ]
    return tuple(specs)


@dataclass
class RewardModels:
    """R reward models r(y) = sum_t weights[r, p, t, y_t] (y_t = V for padding), with per-prompt overrides.

    Attributes:
        specs: the R specs, in order.
        weights: (R, P, L, V + 1).
        override_seqs: (R, P, O, L) responses whose reward is replaced; override_values (R, P, O);
            override_mask (R, P, O) which overrides are in use.
        train_pairs: (R,) preference pairs each learned model was fitted on (ties in r_G removed); perturbed models
            repeat their base's count.
    """

    specs: tuple[RMSpec, ...]
    weights: torch.Tensor
    override_seqs: torch.Tensor
    override_values: torch.Tensor
    override_mask: torch.Tensor
    train_pairs: np.ndarray

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def __len__(self) -> int:
        return len(self.specs)

    @torch.no_grad()
    def __call__(self, seqs: torch.Tensor, rows: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Rewards. seqs (P, N, L) -> (R, P, N) for every model; with ``rows`` (B,) of model indices and seqs
        (B, P, N, L), row b scored by model rows[b] -> (B, P, N)."""
        if rows is None:
            rows = torch.arange(len(self), device=seqs.device)
            seqs = seqs.unsqueeze(0).expand(len(self), *seqs.shape)
        r = _linear_scores(self.weights, seqs, rows)
        hit = (seqs[:, :, :, None, :] == self.override_seqs[rows][:, :, None]).all(-1)  # (B, P, N, O)
        hit &= self.override_mask[rows][:, :, None]
        if hit.any():
            value = (hit * self.override_values[rows][:, :, None]).sum(-1)
            r = torch.where(hit.any(-1), value, r)
        return r

    def scorer(self, rows: torch.Tensor, task: Optional[SequenceTask] = None,
               reference: Optional[torch.Tensor] = None) -> TaskReward:
        """A reward of the runs it is given, (tokens (B', P, N, L), runs (B',)) -> (B', P, N), for :func:`rloo`:
        run b is scored by model rows[b], unless ``reference`` (B,) says otherwise: 1 = the task's ground truth
        r_G, 2 = r_G with the mediocre answer demoted (:meth:`SequenceTask.ground_truth_demoted`), 0 = the model."""
        if reference is not None and task is None:
            raise ValueError("scorer: reference needs the task whose ground truth it names; pass task=")
        truths = () if task is None else ((1, task.ground_truth), (2, task.ground_truth_demoted))

        def reward(seqs: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
            r = self(seqs, rows[runs])
            if reference is not None:
                ref = reference[runs]
                for kind, fn in truths:
                    if bool((ref == kind).any()):
                        r = torch.where((ref == kind)[:, None, None], fn(seqs), r)
            return r

        return reward


def offline_responses(task: SequenceTask, n: int, generator: torch.Generator) -> torch.Tensor:
    """The offline distribution, (P, n, L): a third corrupted copies of a_p, a third of m_p (rate 0.35), a third
    random responses (by position: i mod 3)."""
    P, L = task.prompts, task.length
    kind = torch.arange(n, device=task.device) % 3
    base = torch.where((kind == 0)[None, :, None], task.best[:, None], task.mediocre[:, None]).expand(P, n, L)
    corrupted = task.corrupt(base, 0.35, generator)
    rnd = task.random_responses((P, n), generator)
    return torch.where((kind == 2)[None, :, None], rnd, corrupted)


def _pair_pool(task: SequenceTask, source: str, n: int, init_logits: torch.Tensor, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """n candidate pairs per prompt from ``source``: (P, n, L) twice."""
    if source == "offline":
        return offline_responses(task, n, generator), offline_responses(task, n, generator)
    I = init_logits.shape[0]
    draws = task.sample(init_logits, 2 * math.ceil(n / I), generator)  # (I, P, 2m, L)
    m = draws.shape[2] // 2
    first = draws[:, :, :m].transpose(0, 1).reshape(task.prompts, I * m, -1)[:, :n]
    second = draws[:, :, m:].transpose(0, 1).reshape(task.prompts, I * m, -1)[:, :n]
    return first, second


def train_reward_models(task: SequenceTask, specs: Sequence[RMSpec], init_logits: torch.Tensor, steps: int = 300,
                        lr: float = 0.05, l2: float = 1e-3, seed: int = 0, progress: Optional[bool] = None
                        ) -> RewardModels:
    """Fit the learned models of ``specs`` by Bradley-Terry (all in one batch), then apply the perturbations.

    For each learned model: ``pairs`` pairs per prompt from its source; pairs tied in r_G are dropped; the response
    with the higher r_G is labelled chosen, and each label is flipped with probability ``noise``. Loss per model:
    mean over its pairs of -log sigmoid(r(chosen) - r(rejected)) + l2 ||w||^2, minimised by ``steps`` Adam steps.

    Perturbations (each relative to the base model's range per prompt, lo = sum_t min w, hi = sum_t max w, which
    bound every response's reward): "demote-mediocre" gives m_p the reward lo - 0.05 (hi - lo); "reward-rare-bad"
    gives a rare bad response (every content token of a_p shifted to another token: r_G near -1, pi_0 tiny) the
    reward hi + 0.05 (hi - lo); "reward-common-bad" does the same for the most likely response with r_G < 0 among 64
    samples per initial policy and prompt (the largest mean pi_0 over the initial policies).
    """
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"reward model names must be unique; got {names}")
    learned = [s for s in specs if s.perturb is None]
    for s in specs:
        if s.perturb is not None and s.base not in [x.name for x in learned]:
            raise ValueError(f"RMSpec {s.name!r}: base {s.base!r} is not a learned model of specs")
    g = torch.Generator(device=task.device).manual_seed(random_seed("seed", seed))
    P, L, V, dev = task.prompts, task.length, task.vocab, task.device
    n_max = max(s.pairs for s in learned)
    chosen = torch.full((len(learned), P, n_max, L), task.pad, dtype=torch.long, device=dev)
    rejected = chosen.clone()
    mask = torch.zeros((len(learned), P, n_max), dtype=torch.bool, device=dev)
    for i, s in enumerate(learned):
        a, b = _pair_pool(task, s.source, s.pairs, init_logits, g)
        ra, rb = task.ground_truth(a), task.ground_truth(b)
        a_wins = ra > rb
        flip = torch.rand(ra.shape, generator=g, device=dev) < s.noise
        a_chosen = a_wins ^ flip
        chosen[i, :, : s.pairs] = torch.where(a_chosen[..., None], a, b)
        rejected[i, :, : s.pairs] = torch.where(a_chosen[..., None], b, a)
        mask[i, :, : s.pairs] = ra != rb
    w = torch.zeros((len(learned), P, L, V + 1), device=dev, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr)
    n_valid = mask.sum((1, 2)).clamp_min(1)
    rows = torch.arange(len(learned), device=dev)
    work = steps * len(learned) * P * n_max * L
    bar = tqdm(range(steps), desc="reward models", leave=False,
               disable=not progress if progress is not None else work < 2e8)
    for _ in bar:
        margin = _linear_scores(w, chosen, rows) - _linear_scores(w, rejected, rows)
        loss = ((torch.nn.functional.softplus(-margin) * mask).sum((1, 2)) / n_valid).sum() + l2 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    weights = w.detach()
    learned_pairs = {s.name: int(k) for s, k in zip(learned, mask.sum((1, 2)).tolist())}

    # the full bank: learned models, then perturbed copies
    index = {s.name: i for i, s in enumerate(learned)}
    all_w = torch.stack([weights[index[s.learned]] for s in specs])
    o_seqs, o_vals, o_mask = _no_overrides(len(specs), P, L, dev)
    lo = all_w.min(-1).values.sum(-1)  # (R, P)
    hi = all_w.max(-1).values.sum(-1)
    special = {}
    if any(s.perturb == "reward-rare-bad" for s in specs):
        content = task.best[:, : L - 1]
        shifted = (content % (V - 1)) + 1  # another content token at every position
        special["reward-rare-bad"] = torch.cat([shifted, task.best[:, L - 1:]], 1)
    if any(s.perturb == "reward-common-bad" for s in specs):
        special["reward-common-bad"] = _common_bad(task, init_logits, g)
    special["demote-mediocre"] = task.mediocre
    for r, s in enumerate(specs):
        if s.perturb is None:
            continue
        spread = hi[r] - lo[r]
        o_seqs[r, :, 0] = special[s.perturb]
        o_vals[r, :, 0] = lo[r] - 0.05 * spread if s.perturb == "demote-mediocre" else hi[r] + 0.05 * spread
        o_mask[r, :, 0] = True
    train_pairs = np.array([learned_pairs[s.learned] for s in specs])
    return RewardModels(tuple(specs), all_w, o_seqs, o_vals, o_mask, train_pairs)


def _linear_scores(w: torch.Tensor, seqs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """sum_t w[rows, p, t, y_t] for seqs (R, P, N, L) -> (R, P, N) (differentiable in w)."""
    b, p, n, L = seqs.shape
    flat = w[rows].reshape(b, p, -1)
    idx = torch.arange(L, device=seqs.device) * (flat.shape[-1] // L) + seqs
    return flat.gather(2, idx.reshape(b, p, n * L)).reshape(b, p, n, L).sum(-1)


def _no_overrides(r: int, p: int, L: int, dev: torch.device | str
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.zeros((r, p, 1, L), dtype=torch.long, device=dev), torch.zeros((r, p, 1), device=dev),
            torch.zeros((r, p, 1), dtype=torch.bool, device=dev))


def _common_bad(task: SequenceTask, init_logits: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per prompt, the response with r_G < 0 of largest mean pi_0 among 64 samples per initial policy, (P, L)."""
    I = init_logits.shape[0]
    pool = task.sample(init_logits, 64, g).transpose(0, 1).reshape(task.prompts, I * 64, -1)  # (P, M, L)
    mean_pi = task.policy.log_prob(init_logits, pool).exp().mean(0)  # (P, M)
    bad = task.ground_truth(pool) < 0
    score = torch.where(bad, mean_pi, torch.full_like(mean_pi, -1.0))
    pick = score.argmax(-1)
    return pool[torch.arange(task.prompts, device=task.device), pick]


@torch.no_grad()
def heldout_accuracy(task: SequenceTask, rms: RewardModels, init_logits: torch.Tensor, pairs: int = 256,
                     seed: int = 12345) -> np.ndarray:
    """Plain accuracy of each model on fresh held-out pairs (half policy samples, half offline), ties dropped, (R,)."""
    g = torch.Generator(device=task.device).manual_seed(random_seed("seed", seed))
    parts = [_pair_pool(task, src, pairs // 2, init_logits, g) for src in ("policy", "offline")]
    a = torch.cat([x[0] for x in parts], 1)
    b = torch.cat([x[1] for x in parts], 1)
    ra, rb = task.ground_truth(a), task.ground_truth(b)
    keep = ra != rb
    sa, sb = rms(a), rms(b)
    right = torch.where(ra > rb, sa > sb, sb > sa) & keep
    return (right.sum((1, 2)) / keep.sum()).cpu().numpy()


# ----------------------------------------------------------------------------------------------------------------------
# RLOO
# ----------------------------------------------------------------------------------------------------------------------


def rloo(task: SequenceTask, init_logits: torch.Tensor, reward: Optional[TaskReward], steps: int, k: int = 4,
         kl: float = 0.01, lr: float = 0.05, whiten: bool = True, seed: int = 0, record_every: int = 25,
         eval_samples: int = 512, progress: Optional[bool] = None, algorithm: Optional[Algorithm] = None
         ) -> SequenceRun:
    """RLOO from each initial policy (B runs in one batch) against ``reward`` ((tokens (B', P, N, L), runs (B',)) ->
    (B', P, N), e.g. :meth:`RewardModels.scorer`; ``None``: the ground truth r_G).

    Per step, for each run b and prompt p: y_1..y_k ~ pi_b(.|p);
        s_i   = (r(y_i) - mean) / (std + 1e-8)        mean and std over the P k rewards of run b (``whiten``)
        s_i  -= kl * (log pi_b(y_i) - log pi_0(y_i))   the KL penalty to the initial policy, per sequence
        A_i   = s_i - (1 / (k - 1)) sum_{j != i} s_j   leave-one-out baseline
        loss  = -(1 / (P k)) sum_{p, i} A_i log pi_b(y_i)
    and one Adam step (learning rate ``lr``) on the logits: :func:`labsupport.sequence.train_sequences` on
    :meth:`SequenceTask.engine` with ``RLOO(k=k, lr=lr, kl=kl)``, ``optimizer="adam"``. ``algorithm`` replaces
    that rule, e.g. ``labsupport.PPO(clip=0.2, epochs=4, k=4, lr=0.05, kl=0.01)``. V_G is recorded every
    ``record_every`` steps and at the end (exact, or sampled with ``eval_samples`` per prompt when the task is too
    large to enumerate). Returns a :class:`labsupport.sequence.SequenceRun` (``true_value``, ``proxy_reward``,
    ``kl``, ``gain``, final logits ``theta``).
    """
    count("steps", steps, minimum=1)
    rule = RLOO(k=k, lr=lr, kl=kl) if algorithm is None else algorithm
    trained_on = "true" if reward is None else "proxy"
    return sq.train_sequences(task.engine(init_logits, reward), rule, steps, reward=trained_on,
                              seed=seed, device=str(init_logits.device), record_every=record_every,
                              dtype=init_logits.dtype, optimizer="adam", whiten=whiten, eval_samples=eval_samples,
                              progress=progress)


# ----------------------------------------------------------------------------------------------------------------------
# Metrics at the initial policy
# ----------------------------------------------------------------------------------------------------------------------

#: metric column suffixes, in the order of the book's tables, and their labels
METRIC_LABELS = {
    "acc": "Acc", "hacc": "HAcc", "acc_w": "Acc-W", "hacc_w": "HAcc-W",
    "acc_w_len": "Acc-W (length-norm.)", "hacc_w_len": "HAcc-W (length-norm.)",
}
#: every metric column of the study frame: <pairs>_<metric> for on-policy and offline pairs
METRIC_COLUMNS = [f"{src}_{m}" for src in ("onpolicy", "offline") for m in METRIC_LABELS]
#: (pairs, metric label) of every column correlation_table knows; rm_heldout_acc is plain accuracy on a held-out
#: mix of policy samples and offline pairs, independent of the initial policy (like a public benchmark)
COLUMN_LABELS = {**{c: tuple(c.split("_", 1)) for c in METRIC_COLUMNS}, "rm_heldout_acc": ("held-out", "acc")}


def pair_metrics(prompt_ids: np.ndarray | Sequence[int], r_true: ArrayLike, r_proxy: ArrayLike, logp: ArrayLike,
                 length: ArrayLike, v_hat: ArrayLike, pairs: Optional[metrics.PreferencePairs] = None
                 ) -> dict[str, float]:
    """The four metrics of one reward model on all ground-truth pairs of some responses.

    Args (all shape (M,), one entry per response): prompt_ids; r_true (r_G); r_proxy (r_P); logp (log pi_0(y));
    length (tokens); v_hat (V_hat_P of the response's prompt). ``pairs``: the result of
    ``metrics.preference_pairs(prompt_ids, r_true)`` when already built.

    Returns acc, hacc, acc_w, hacc_w (weights from log pi_0), acc_w_len, hacc_w_len (from log pi_0 / |y|), computed
    by :mod:`labsupport.metrics`, and three counts: pairs, ties (ground-truth ties dropped) and forgiven (mis-ranked
    pairs, r_P(y+) <= r_P(y-), that HAcc forgives because r_P(y-) < V_hat), so hacc = acc + forgiven / pairs.
    """
    m = len(prompt_ids)
    rp, lp, n, v = (metrics.as_vector(x, name) for x, name in ((r_proxy, "r_proxy"), (logp, "logp"), (length, "length"),
                                                              (v_hat, "v_hat")))
    for x, name in ((rp, "r_proxy"), (lp, "logp"), (n, "length"), (v, "v_hat")):
        if x.size != m:
            raise ValueError(f"{name} has length {x.size} but prompt_ids has length {m}")
    pp = metrics.preference_pairs(prompt_ids, r_true) if pairs is None else pairs
    c, j = pp.chosen, pp.rejected
    rc, rr, vc = rp[c], rp[j], v[c]
    return {
        "acc": metrics.acc(rc, rr),
        "hacc": metrics.hacc(rc, rr, vc),
        "acc_w": metrics.acc_w(rc, rr, lp[c], lp[j]),
        "hacc_w": metrics.hacc_w(rc, rr, vc, lp[c], lp[j]),
        "acc_w_len": metrics.acc_w(rc, rr, lp[c], lp[j], n[c], n[j]),
        "hacc_w_len": metrics.hacc_w(rc, rr, vc, lp[c], lp[j], n[c], n[j]),
        "pairs": int(c.size),
        "ties": int(pp.n_ties),
        "forgiven": int(((rc <= rr) & (rr < vc)).sum()),
    }


@torch.no_grad()
def evaluate_reward_models(task: SequenceTask, init_logits: torch.Tensor, rms: RewardModels,
                           init_names: Optional[Sequence[str]] = None, samples_per_prompt: int = 10,
                           offline_per_prompt: int = 10, seed: int = 7, onpolicy_ties: str = "drop"
                           ) -> pd.DataFrame:
    """Acc, Acc-W, HAcc, HAcc-W (weights plain and length-normalised) of every model at every initial policy.

    On-policy pairs: ``samples_per_prompt`` samples of the initial policy per prompt, every pair of them that r_G
    does not tie (10 samples: up to 45 pairs per prompt); ``onpolicy_ties="keep"`` keeps the tied pairs too, oriented
    by sample order, as the paper's official evaluation does (:func:`labsupport.metrics.preference_pairs`). Offline
    pairs: every untied pair among ``offline_per_prompt`` fixed draws of the offline distribution per prompt (the same
    for every initial policy; ties dropped, as the paper does for offline data).
    V_hat_P(x) is the mean proxy reward of the on-policy samples of the prompt in both cases; log pi_0 and lengths
    come from the initial policy.

    Returns one row per (init, rm): ``init``, ``rm``, the columns of METRIC_COLUMNS, and
    ``{onpolicy,offline}_{pairs,ties,forgiven}`` (see :func:`pair_metrics`).
    """
    choice("onpolicy_ties", onpolicy_ties, metrics.TIE_CONVENTIONS)
    g = torch.Generator(device=task.device).manual_seed(random_seed("seed", seed))
    names = init_names or [f"init{i}" for i in range(init_logits.shape[0])]
    offline = offline_responses(task, offline_per_prompt, g)  # (P, M, L)
    rows = []
    for i, name in enumerate(names):
        pol = init_logits[i: i + 1]
        onpol = task.sample(pol, samples_per_prompt, g)[0]  # (P, N, L)
        proxy_on = rms(onpol)  # (R, P, N)
        v_hat = proxy_on.mean(-1)  # (R, P)
        sets = {}
        for src, seqs, proxy in (("onpolicy", onpol, proxy_on), ("offline", offline, rms(offline))):
            m = seqs.shape[1]
            ids = np.repeat(np.arange(task.prompts), m)
            truth = task.ground_truth(seqs).reshape(-1).cpu().numpy()
            pp = metrics.preference_pairs(ids, truth, tie=onpolicy_ties if src == "onpolicy" else "drop")
            logp = task.policy.log_prob(pol, seqs)[0].reshape(-1).cpu().numpy()
            length = task.lengths(seqs).reshape(-1).cpu().numpy()
            sets[src] = (ids, truth, pp, logp, length, proxy.reshape(len(rms), -1).cpu().numpy(),
                         v_hat.repeat_interleave(m, 1).cpu().numpy())
        for r, rm in enumerate(rms.names):
            row: dict[str, object] = {"init": name, "rm": rm}
            for src, (ids, truth, pp, logp, length, scores, vh) in sets.items():
                res = pair_metrics(ids, truth, scores[r], logp, length, vh[r], pairs=pp)
                row.update({f"{src}_{key}": val for key, val in res.items()})
            rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------------------
# The study
# ----------------------------------------------------------------------------------------------------------------------

#: the reference runs of every initial policy: trained on r_G, and on r_G with the mediocre answer demoted
REFERENCES = ("ground truth", "ground truth+demote-mediocre")


@dataclass(frozen=True)
class StudySize:
    """Sizes of one study.

    Attributes:
        prompts, vocab, length: the :class:`SequenceTask` (P, V, L).
        demos: SFT demonstrations per prompt. rm_pairs: (few, some, many) training pairs per prompt of the learned
            reward models (:func:`default_reward_models`). rm_steps: Adam steps of reward-model training.
        rl_steps: RLOO steps; rl_seeds: RL runs per (initial policy, reward model); lr, kl: RLOO's Adam learning
            rate and KL coefficient; record_every: steps between V_G records; eval_samples: samples per prompt and
            run for V_G when the task is too large to enumerate.
    """

    prompts: int
    vocab: int
    length: int
    demos: int = 64
    rm_pairs: tuple[int, int, int] = (4, 16, 64)
    rm_steps: int = 300
    rl_steps: int = 200
    rl_seeds: int = 1
    lr: float = 0.05
    kl: float = 0.01
    record_every: int = 25
    eval_samples: int = 512


#: "tiny": the lab in small mode (exact expectations, seconds); "small": the live lab at full size (exact);
#: "cpu": the study on a CPU (8 minutes on two shared cores, sampled expectations); "full": the committed study, made
#: on one GPU (under a minute on an H100).
SIZES = {
    "tiny": StudySize(prompts=4, vocab=4, length=5, demos=32, rm_pairs=(4, 16, 32), rm_steps=200, rl_steps=100,
                      record_every=25),
    "small": StudySize(prompts=8, vocab=4, length=6, demos=48, rm_steps=200, rl_steps=300, record_every=25),
    "cpu": StudySize(prompts=96, vocab=5, length=7, rl_steps=500, rl_seeds=5, record_every=100),
    "full": StudySize(prompts=64, vocab=8, length=10, demos=128, rm_pairs=(8, 32, 256), rm_steps=500,
                      rl_steps=800, rl_seeds=4, record_every=50, eval_samples=1024),
}


@dataclass
class StudyResult:
    """What :func:`run_study` returns.

    Attributes:
        frame: the study's setting (size, prompts, vocab, length, rl_steps, rl_seeds, device) in every row, then
            one row per (initial policy, reward model), plus two reference rows per initial policy (``reference``
            True, no metrics): trained on r_G itself (``rm`` = "ground truth") and on r_G with the mediocre answer
            demoted ("ground truth+demote-mediocre"). Columns: metrics at pi_0, V_G before and after RLOO (mean over
            seeds), the gain and its spread over seeds, the model's description and held-out accuracy.
        curves: tidy V_G over training (step, init, rm, true_value), mean over seeds.
        task, init_logits, reward_models: the objects of the study. size: the StudySize. seconds: per phase.
    """

    frame: pd.DataFrame
    curves: pd.DataFrame
    task: SequenceTask
    init_logits: torch.Tensor
    reward_models: RewardModels
    size: StudySize
    seconds: dict = field(default_factory=dict)


def run_study(size: Union[str, StudySize] = "small", sft_specs: Sequence[SFTSpec] = DEFAULT_SFT,
              rm_specs: Optional[Sequence[RMSpec]] = None, seed: int = 0, device: str = "auto",
              progress: Optional[bool] = None, algorithm: Optional[Algorithm] = None) -> StudyResult:
    """The whole study: task, SFT policies, reward models, metrics at pi_0, RLOO of every (policy, model, seed).

    All runs, including two references per initial policy (r_G itself and r_G with m_p demoted), go into one RLOO
    batch of I x (R + 2) x rl_seeds runs (seeds are separate rows with their own samples). ``algorithm``: another
    sampled rule in place of RLOO(k=4, lr=size.lr, kl=size.kl), e.g. ``labsupport.PPO(clip=0.2, epochs=4, k=4,
    lr=0.05, kl=0.01)`` (see :func:`rloo`).
    """
    sz = SIZES[choice("size", size, SIZES)] if isinstance(size, str) else size
    clock = {}
    t0 = time.perf_counter()
    task = SequenceTask(sz.prompts, sz.vocab, sz.length, seed=seed, device=device)
    init = sft(task, sft_specs, demos=sz.demos, seed=seed)
    specs = tuple(rm_specs) if rm_specs is not None else default_reward_models(sz.rm_pairs)
    rms = train_reward_models(task, specs, init, steps=sz.rm_steps, seed=seed, progress=progress)
    held = heldout_accuracy(task, rms, init)
    clock["sft and reward models"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    init_names = [s.name for s in sft_specs]
    table = evaluate_reward_models(task, init, rms, init_names, seed=seed + 7)
    clock["metrics"] = time.perf_counter() - t0

    # runs: init-major, then reward model (the last one r_G), then seed
    I, R, S = len(sft_specs), len(rms), sz.rl_seeds
    dev = task.device
    init_of = torch.arange(I, device=dev).repeat_interleave((R + 2) * S)
    rm_of = torch.arange(R + 2, device=dev).repeat_interleave(S).repeat(I)
    reward = rms.scorer(rm_of.clamp(max=R - 1), task, reference=(rm_of - R + 1).clamp(min=0))
    t0 = time.perf_counter()
    run = rloo(task, init[init_of], reward, steps=sz.rl_steps, kl=sz.kl, lr=sz.lr, seed=seed + 11,
               record_every=sz.record_every, eval_samples=sz.eval_samples, progress=progress, algorithm=algorithm)
    clock["RLOO"] = time.perf_counter() - t0

    rm_names = [*rms.names, *REFERENCES]
    tv = run.true_value.reshape(len(run.steps), I, R + 2, S)
    kl_final = run.kl[-1].reshape(I, R + 2, S)
    out = []
    for i, iname in enumerate(init_names):
        for r, rname in enumerate(rm_names):
            gains = tv[-1, i, r] - tv[0, i, r]
            row = {"init": iname, "rm": rname, "reference": r >= R,
                   "v_true_init": float(tv[0, i, r].mean()), "v_true_final": float(tv[-1, i, r].mean()),
                   "gain": float(gains.mean()), "gain_sd": float(gains.std(ddof=1)) if S > 1 else float("nan"),
                   "kl_final": float(kl_final[i, r].mean())}
            if r < R:
                spec = rms.specs[r]
                row.update(rm_source=spec.source if spec.perturb is None else "perturbed",
                           rm_pairs=spec.pairs if spec.perturb is None else np.nan,
                           rm_noise=spec.noise if spec.perturb is None else np.nan,
                           rm_perturbation=spec.perturb or "", rm_base=spec.base or "",
                           rm_train_pairs=int(rms.train_pairs[r]), rm_heldout_acc=float(held[r]))
            out.append(row)
    frame = pd.DataFrame(out).merge(table, on=["init", "rm"], how="left")
    setting = {"size": size if isinstance(size, str) else "custom", "prompts": sz.prompts, "vocab": sz.vocab,
               "length": sz.length, "rl_steps": sz.rl_steps, "rl_seeds": sz.rl_seeds, "device": str(task.device)}
    for k, (name, value) in enumerate(setting.items()):
        frame.insert(k, name, value)
    curves = pd.DataFrame([
        {"step": int(s), "init": init_names[i], "rm": rm_names[r], "true_value": float(tv[j, i, r].mean())}
        for j, s in enumerate(run.steps) for i in range(I) for r in range(R + 2)])
    return StudyResult(frame, curves, task, init, rms, sz, clock)


#: the committed study table, ``data.path("rlhf_study")`` (written by tools/run_rlhf_study.py; described in
#: labsupport/data/README.md)
STUDY_CSV = data_path("rlhf_study")


def load_study(path: Union[str, Path, None] = None) -> pd.DataFrame:
    """The committed study table (default :data:`STUDY_CSV`, read by :func:`labsupport.data.read`) with its types
    restored: ``reference`` bool, text columns with "" for "none" (perturbation, base), NaN for the metrics of the
    reference rows."""
    if path is not None and not Path(path).is_file():
        raise ValueError(f"path: no study table at {str(path)!r} (write one with tools/run_rlhf_study.py)")
    frame = read_data(STUDY_CSV if path is None else path)
    frame["reference"] = frame["reference"].astype(bool)
    for col in ("rm_source", "rm_perturbation", "rm_base"):
        frame[col] = frame[col].fillna("")
    return frame


# ----------------------------------------------------------------------------------------------------------------------
# Correlations with the ground-truth gain
# ----------------------------------------------------------------------------------------------------------------------


def correlation_table(frame: pd.DataFrame, columns: Sequence[str] = METRIC_COLUMNS, outcome: str = "gain",
                      by: str = "init", stats: Sequence[str] = ("pearson", "spearman", "kendall"),
                      n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per group (initial policy), the correlation of each metric column with ``outcome`` across reward models.

    Rows with ``reference`` True (training on r_G itself) are left out. Each correlation comes with a percentile
    bootstrap interval over reward models (:func:`labsupport.metrics.bootstrap_ci`; resamples where the correlation
    is undefined, e.g. a constant metric, are left out and counted in ``undefined``). Returns one row per
    (group, metric, statistic): columns ``init``, ``pairs`` (onpolicy/offline), ``metric`` (label), ``column``,
    ``stat``, ``value``, ``ci_low``, ``ci_high``, ``n`` (reward models), ``undefined``.
    """
    data = frame[~frame["reference"].astype(bool)] if "reference" in frame.columns else frame
    rows = []
    for group, part in data.groupby(by, sort=False):
        y = part[outcome].to_numpy(float)
        for col in columns:
            x = part[col].to_numpy(float)
            if col not in COLUMN_LABELS:
                raise ValueError(f"columns: unknown column {col!r}; known: {', '.join(COLUMN_LABELS)}")
            src, key = COLUMN_LABELS[col]
            for stat in stats:
                value = getattr(metrics, stat)(x, y)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    lo, hi = metrics.bootstrap_ci(x, y, stat, n_resamples=n_resamples, level=level, seed=seed)
                undefined = sum(int(str(w.message).split()[1]) for w in caught
                                if str(w.message).startswith("bootstrap_ci:"))
                rows.append({by: group, "pairs": src, "metric": METRIC_LABELS[key], "column": col, "stat": stat,
                             "value": value, "ci_low": lo, "ci_high": hi, "n": len(x), "undefined": undefined})
    return pd.DataFrame(rows)
