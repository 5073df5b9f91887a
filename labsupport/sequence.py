"""One sequence engine: autoregressive tabular policies over token sequences, trained by the bandit's update rules.

Chapters 6 and 7 train language-model-like policies: an output is a sequence of tokens, drawn one token at a time.
This module holds the one policy family they share and the one training loop, driven by the same update-rule objects
as the bandit (:class:`~labsupport.algorithms.RLOO`, :class:`~labsupport.algorithms.GRPO`,
:class:`~labsupport.algorithms.PPO`, :class:`~labsupport.algorithms.Reinforce`, each with ``kl=``)::

    task = SequenceTask(theta0, true_reward=r_G, proxy_reward=r_P, end=0)     # theta0: (B, P, L, V, V)
    run = train_sequences(task, ls.GRPO(group=32, lr=1.0), steps=300, reward="proxy", seed=0)
    run.true_value, run.proxy_value, run.steps_to(0.5), run.to_frame()          # the accessors of ls.Run

The policy
----------
B runs, each with P prompts; a response is y = (y_0, ..., y_{L-1}) over V tokens. Per prompt, position l and previous
token u there is a row of V logits, theta[b, p, l, u, :], so theta has shape (B, P, L, V, V) and

    pi(y | p) = prod_l softmax(theta[p, l, y_{l-1}])[y_l],        y_{-1} = START = 0.

With an end token e (``end=e``) a response stops at its first e: later positions hold the padding value V and count
for nothing. The flat-index trick is written once (:meth:`SequencePolicy.index`): position l with context u and token
v is entry (l V + u) V + v of the flattened (L, V, V) table of a prompt, so log-probabilities are one gather and the
score function one scatter-add.

Training
--------
Per step, every run draws G = ``algorithm.samples_per_step`` responses per prompt, scores them with the reward
trained on, and turns the rewards r (B, P, G) into per-sample weights by the rule's own advantages, exactly as the
bandit does (``algorithm.advantages`` on each group of G; GRPO's silent groups are exactly silent). Options that the
chapters use, each written once:

* ``kl=`` of the rule: on sequences the KL penalty is the sampled per-sequence one, r - kl (log pi(y) - log pi_0(y)),
  subtracted from the reward before the advantages (the exact gradient the bandit uses would need a sum over all
  responses);
* ``whiten=True``: rewards standardised per run over the step's P G samples before the penalty (chapter 6);
* ``optimizer``: ``"sgd"`` adds lr times the ascent direction (1/(P G)) sum_i w_i grad log pi(y_i), written in closed
  form (:meth:`SequencePolicy.score_direction`, like the bandit's rules; chapter 7); ``"adam"`` hands the gradient of
  the surrogate loss -(1/(P G)) sum_i w_i log pi(y_i), computed by autograd, to ``torch.optim.Adam`` (chapter 6). The
  two are the same gradient (tested to 1e-14); each path keeps the operations of the chapter that uses it, so both
  chapters' results stay exactly what they were. ``"adamw"`` hands the closed-form direction, negated, as the
  gradient to ``torch.optim.AdamW`` (decoupled weight decay ``weight_decay``, default 0 as in open-instruct; betas
  (0.9, 0.999) and eps 1e-8, PyTorch's defaults): the paper's optimiser (chapter 7).
* ``schedule``: ``"constant"`` (lr at every step) or ``"linear"``: the learning rate of step t (0-based) is
  lr * :func:`lr_factor` (t, steps, warm-up steps), a linear warm-up over ``int(warmup * steps)`` steps from 0, then
  a linear decay that reaches 0 one step after the last, as ``transformers.get_linear_schedule_with_warmup``
  (open-instruct's ``lr_scheduler_type="linear"``, ``warmup_ratio=0.03``). It applies to every optimiser.
* a rule option that changes the batch, GRPO's ``filter_silent`` (silent groups dropped, the update averaged over
  the others), changes the weights, and with them the normaliser P G, in one place, the step of ``_train_steps``
  (:func:`labsupport.algorithms.drop_silent`, over the step's P n groups of a run; GRPO's ``groups=n`` draws n groups
  per prompt).
* PPO: each step samples once from pi_old and takes ``epochs`` updates with weights 1[not clipped] rho_i A_i,
  rho_i = pi(y_i) / pi_old(y_i) for the whole sequence.

Recorded every ``record_every`` steps: V_G and V_P (exact sums over every response when a prompt has at most
``EXACT_LIMIT`` of them, else means over ``eval_samples`` sampled responses), the task's own exact statistics
(``measure``), the mean raw reward and sampled KL of the step; at every step the share of silent groups.

Why a function of its own, not ``train`` dispatching on the problem type: the two take different options (an
optimiser, whitening, evaluation samples here; common noise and first-passage tracking there), their records differ
(per-output probabilities there, expectations over responses here), and the bandit core stays free of sequences:
this module sits above :mod:`labsupport.simulate` and :mod:`labsupport.algorithms` and nothing below imports it.
A sequence of length 1 with one prompt is a bandit, and there the two entry points agree (tested).

Random numbers
--------------
One generator seeded with ``seed`` draws every response by inverting the conditional CDFs (one uniform number per
token). ``draw="sequence"`` takes a step's numbers as (B, P, G, L), each response's L numbers together (chapter 7);
``draw="position"`` as (L, B, P, G), one position of every response after the other, as decoding does (chapter 6).
Both give the same distribution; the task keeps its chapter's order so that the chapter's results stay what they
were. Sampled expectations use generators seeded ``seed + 1`` (V_G) and ``seed + 2`` (V_P).

The chapters as studies on top
------------------------------
Chapter 7 (``verifiable``): ``verifiable.SequenceTask.engine_task()`` is its task here (P = 1, r_G binary credit, r_P
partial credit, ``draw="sequence"``, the exact P(C1), P(C2), P(both) as ``measure``); ``verifiable.train_grpo`` is
:func:`train_sequences` with ``GRPO(group, lr)`` (or ``algorithm=``) and ``verifiable.CreditMix``, the binary /
partial / anneal / switch schedules as a reward, whose ``fused`` hook runs chapter 7's kernel
(:func:`labsupport.fused.train_sequences`).

Chapter 6 (``rlhf``): ``rlhf.SequenceTask.engine(init, reward)`` is its task here (``end=EOS``,
``draw="position"``, r_P a reward of the runs it is given, e.g. ``RewardModels.scorer``); ``rlhf.rloo`` is
:func:`train_sequences` with ``RLOO(k, lr, kl)`` (or ``algorithm=``), ``optimizer="adam"``, ``whiten=True``.

The engine takes its CDFs from :func:`softmax` where chapter 6's sampler used ``torch.softmax``; they differ by
rounding only, and the study's records agree with those made before (tests/test_study_regression.py).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
import torch

from ._checks import choice, count, finite, flag, float_dtype, non_negative, random_seed
from .algorithms import Algorithm, ExactPG, drop_silent, silent_groups
from .simulate import BACKENDS, progress_bar, record_steps, resolve_device, threads

if TYPE_CHECKING:
    import pandas as pd

#: the context row of the first position
START = 0
#: how a step's uniform numbers are laid out (see "Random numbers" in the module docstring)
DRAWS = ("sequence", "position")
#: the optimisers of :func:`train_sequences`
OPTIMIZERS = ("sgd", "adam", "adamw")
#: the learning-rate schedules of :func:`train_sequences`
SCHEDULES = ("constant", "linear")
#: the share of the steps that warm the learning rate up under ``schedule="linear"`` (open-instruct's warmup_ratio)
WARMUP = 0.03
#: AdamW's betas and eps: PyTorch's defaults (``torch.optim.AdamW``)
ADAMW_BETAS = (0.9, 0.999)
ADAMW_EPS = 1e-8
#: a prompt with at most this many distinct responses gets exact expectations (a sum over every response)
EXACT_LIMIT = 5_000
#: epsilon of the per-run reward standardisation (``whiten=True``): (r - mean) / (std + eps)
WHITEN_EPS = 1e-8
#: runs evaluated together when expectations are computed (bounds the memory of the sum over responses)
EVAL_CHUNK = 8
#: on the CPU, steps with fewer sampled entries than this (B x P x G x L x V) run on one thread
SINGLE_THREAD_TOKENS = 2**21
#: above this many sampled token choices (steps x B x P x G x L x V) a progress bar is shown by default
PROGRESS_TOKENS = 5e9

#: a reward of the task: tokens (B', P, N, L) of runs ``runs`` (B',) -> rewards (B', P, N)
TaskReward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: a reward to train on: tokens (B, P, G, L) of the step ``step`` -> rewards (B, P, G)
StepReward = Callable[[torch.Tensor, int], torch.Tensor]


# ------------------------------------------------------------------------------------------------ the schedule


def warmup_steps(steps: int, warmup: float) -> int:
    """The warm-up steps of a training of ``steps`` updates with warm-up share ``warmup``: int(warmup * steps), as
    open-instruct computes them from ``warmup_ratio``."""
    return int(warmup * steps)


def lr_factor(step: int, steps: int, warmup: int) -> float:
    """The linear schedule with warm-up (``transformers.get_linear_schedule_with_warmup``): the factor of the
    learning rate at update ``step`` (0-based) of ``steps``, step / warmup during the ``warmup`` first updates, then
    (steps - step) / (steps - warmup), falling linearly to 1 / (steps - warmup) at the last update."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (steps - step) / max(1, steps - warmup))


# ------------------------------------------------------------------------------------------------ the policy


def softmax(x: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis, exp(x - max) / sum; written out because torch.softmax is several times slower on
    the CPU for rows of a few entries (and this is the formula of the fused kernel)."""
    e = (x - x.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


class SequencePolicy:
    """First-order autoregressive tabular policy over responses of ``length`` tokens from ``vocab`` tokens.

    Logits theta: (B, P, L, V, V); row theta[b, p, l, u] holds the logits of the token at position l after token u
    (u = START at position 0). With ``end`` set, a response stops at its first ``end`` token and later positions hold
    the padding value ``pad`` = V.
    """

    def __init__(self, vocab: int, length: int, end: Optional[int] = None):
        self.vocab = count("vocab", vocab, minimum=2)
        self.length = count("length", length, minimum=1)
        if end is not None and not (isinstance(end, (int, np.integer)) and 0 <= end < vocab):
            raise ValueError(f"end must be None or a token id in [0, {vocab}); got {end!r}")
        self.end = None if end is None else int(end)
        self.pad = self.vocab

    def conditionals(self, theta: torch.Tensor) -> torch.Tensor:
        """The conditional distributions softmax(theta) over the last axis, shape like theta."""
        return softmax(theta)

    def index(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The flat-index trick: for tokens (..., L), the entry (l V + y_{l-1}) V + y_l of each position in the
        flattened (L, V, V) table of its prompt, and which positions are part of the response (``None``: all, the
        policy has no end token). Padding counts as token V - 1 in the index (its entries are masked)."""
        v = self.vocab
        tok = tokens if self.end is None else tokens.clamp(max=v - 1)
        prev = torch.cat([torch.full_like(tok[..., :1], START), tok[..., :-1]], -1)
        idx = (torch.arange(tokens.shape[-1], device=tokens.device) * v + prev) * v + tok
        return idx, None if self.end is None else tokens != self.pad

    def sample(self, cond: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Draw responses by inverting each conditional CDF: y_l = #{v : CDF(v) <= u_l}.

        Args:
            cond: (B, P, L, V, V) conditional distributions, from :meth:`conditionals`.
            uniforms: (B, P, G, L) numbers in [0, 1).

        Returns:
            tokens, a (B, P, G, L) long tensor (padded with V after an end token).
        """
        b, p, g, length = uniforms.shape
        v = self.vocab
        cdf = cond.cumsum(-1)
        prev = torch.full((b, p, g), START, dtype=torch.long, device=cond.device)
        done = torch.zeros((b, p, g), dtype=torch.bool, device=cond.device)
        tokens = torch.empty((b, p, g, length), dtype=torch.long, device=cond.device)
        for pos in range(length):
            rows = cdf[:, :, pos].gather(2, prev.unsqueeze(-1).expand(b, p, g, v))               # (B, P, G, V)
            y = (uniforms[..., pos:pos + 1] * rows[..., -1:] >= rows).sum(-1).clamp_(max=v - 1)
            if self.end is not None:
                y = torch.where(done, torch.full_like(y, self.pad), y)
                done = done | (y == self.end)
                prev = y.clamp(max=v - 1)
            else:
                prev = y
            tokens[..., pos] = y
        return tokens

    def log_prob(self, theta: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log pi(y | p) of responses ``tokens`` (P, N, L) or (B, P, N, L) under theta (B, P, L, V, V): (B, P, N).

        Differentiable in theta."""
        b, p, length, v, _ = theta.shape
        if tokens.dim() == 3:
            tokens = tokens.unsqueeze(0).expand(b, *tokens.shape)
        n = tokens.shape[2]
        idx, active = self.index(tokens)
        table = torch.log_softmax(theta, -1).reshape(b, p, length * v * v)
        vals = table.gather(2, idx.reshape(b, p, n * length)).reshape(b, p, n, length)
        if active is not None:
            vals = torch.where(active, vals, torch.zeros_like(vals))
        return vals.sum(-1)

    def score_direction(self, cond: torch.Tensor, tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(1/(P G)) sum_{p, i} weights_{p,i} grad_theta log pi(y_{p,i} | p), shape (B, P, L, V, V).

        grad log pi(y) puts e_{y_l} - cond[l, y_{l-1}] on row (l, y_{l-1}) of each position l of the response. Summed:
        the weighted counts C[l, u, v] = sum_i w_i 1[y_{i,l-1} = u, y_{i,l} = v] minus their row sums times the
        row's distribution, (C - C.sum(-1) cond) / (P G).

        Args:
            cond: (B, P, L, V, V) conditionals of theta; tokens: (B, P, G, L); weights: (B, P, G).
        """
        b, p, g, length = tokens.shape
        v = self.vocab
        idx, active = self.index(tokens)
        w = weights.unsqueeze(-1).expand(b, p, g, length)
        if active is not None:
            w = w * active
        counts = torch.zeros((b, p, length * v * v), dtype=cond.dtype, device=cond.device)
        counts.scatter_add_(2, idx.reshape(b, p, -1), w.reshape(b, p, -1))
        counts = counts.reshape(b, p, length, v, v)
        return (counts - counts.sum(-1, keepdim=True) * cond) / (p * g)

    def all_sequences(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Every distinct response, (S, L). Without an end token: all V^L sequences in lexicographic order. With one:
        by length 1..L, the responses of length l < L (l - 1 other tokens, then the end token), then all full-length
        ones (any last token); within a length in lexicographic order, padded with V."""
        v, length = self.vocab, self.length
        if self.end is None:
            grid = list(itertools.product(range(v), repeat=length))
            return torch.tensor(grid, dtype=torch.long, device=device).reshape(len(grid), length)
        others = [t for t in range(v) if t != self.end]
        rows = []
        for n in range(1, length + 1):
            prefixes = torch.tensor(list(itertools.product(others, repeat=n - 1)), dtype=torch.long)
            prefixes = prefixes.reshape(len(prefixes), n - 1)
            last = torch.arange(v) if n == length else torch.tensor([self.end])
            body = torch.cat([prefixes.repeat_interleave(len(last), 0), last.repeat(len(prefixes))[:, None]], 1)
            rows.append(torch.cat([body, torch.full((len(body), length - n), self.pad)], 1))
        return torch.cat(rows).to(device)

    def n_sequences(self) -> int:
        """The number of distinct responses per prompt: V^L, or with an end token
        sum_{l < L} (V-1)^(l-1) + V (V-1)^(L-1)."""
        v, length = self.vocab, self.length
        if self.end is None:
            return v ** length
        return sum((v - 1) ** (n - 1) for n in range(1, length)) + v * (v - 1) ** (length - 1)


def draw_uniforms(generator: torch.Generator, shape: tuple[int, int, int, int], order: str,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A step's uniform numbers, shape (B, P, G, L), drawn in the order ``order`` (one of :data:`DRAWS`):
    ``"sequence"`` fills them in (B, P, G, L) order, ``"position"`` in (L, B, P, G) order."""
    b, p, g, length = shape
    dev = generator.device
    if order == "sequence":
        return torch.rand(shape, generator=generator, device=dev, dtype=dtype)
    # one call per position: on the CPU the same numbers as one (L, B, P, G) call, on CUDA the same as decoding draws
    return torch.stack([torch.rand((b, p, g), generator=generator, device=dev, dtype=dtype) for _ in range(length)], -1)


# ------------------------------------------------------------------------------------------------ the task


@dataclass(frozen=True, eq=False)
class SequenceTask:
    """B runs of P prompts whose responses are token sequences, with a ground truth and a proxy reward.

    Attributes:
        theta0: (B, P, L, V, V) initial logits (any float dtype; training converts them).
        true_reward: r_G, a function (tokens (B', P, N, L), runs (B',) long) -> (B', P, N): the rewards of responses
            of runs ``runs`` (a reward may differ per run, e.g. one reward model per run).
        proxy_reward: r_P, the same kind of function, or ``None`` (then only r_G can be trained on).
        end: the end token, or ``None`` for responses of exactly L tokens.
        draw: the order of the random numbers, ``"sequence"`` or ``"position"`` (module docstring).
        measure: optional exact statistics of a policy: theta (B, P, L, V, V) -> {name: (B,) tensor}, recorded at
            every record. Names ``true_value`` / ``proxy_value`` replace the expectations of r_G / r_P.
        policy: the :class:`SequencePolicy` (derived).
    """

    theta0: torch.Tensor
    true_reward: TaskReward
    proxy_reward: Optional[TaskReward] = None
    end: Optional[int] = None
    draw: str = "sequence"
    measure: Optional[Callable[[torch.Tensor], dict]] = None
    policy: SequencePolicy = field(init=False, repr=False)

    def __post_init__(self):
        t = self.theta0
        if not isinstance(t, torch.Tensor) or t.ndim != 5 or t.shape[3] != t.shape[4] or not t.is_floating_point():
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"theta0 must be a float tensor of shape (B, P, L, V, V); got {shape}")
        if not torch.isfinite(t).all():
            raise ValueError(f"theta0 must be finite; found {t[~torch.isfinite(t)].flatten()[0].item()} in "
                             f"{tuple(t.shape)} logits")
        if not callable(self.true_reward):
            raise ValueError(f"true_reward must be a function (tokens, runs) -> rewards; got {self.true_reward!r}")
        if self.proxy_reward is not None and not callable(self.proxy_reward):
            raise ValueError(f"proxy_reward must be None or a function (tokens, runs) -> rewards; got "
                             f"{self.proxy_reward!r}")
        choice("draw", self.draw, DRAWS)
        object.__setattr__(self, "policy", SequencePolicy(t.shape[-1], t.shape[2], self.end))

    @property
    def batch_size(self) -> int:
        return self.theta0.shape[0]

    @property
    def prompts(self) -> int:
        return self.theta0.shape[1]

    @property
    def length(self) -> int:
        return self.theta0.shape[2]

    @property
    def vocab(self) -> int:
        return self.theta0.shape[-1]

    @property
    def exact(self) -> bool:
        """Whether expectations are exact sums over every response (at most :data:`EXACT_LIMIT` per prompt)."""
        return self.policy.n_sequences() <= EXACT_LIMIT

    def reward(self, which: str) -> TaskReward:
        """r_G (``"true"``) or r_P (``"proxy"``)."""
        fn = self.true_reward if choice("reward", which, ("true", "proxy")) == "true" else self.proxy_reward
        if fn is None:
            raise ValueError("reward='proxy' needs a task with a proxy_reward; this one has none")
        return fn

    def _scored(self, reward: TaskReward, tokens: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
        """``reward(tokens, runs)``, checked to be one reward per response (a tensor of shape tokens.shape[:-1])."""
        name = ("true_reward" if reward is self.true_reward else "proxy_reward" if reward is self.proxy_reward
                else "reward")
        return _checked_rewards(name, reward(tokens, runs), tuple(tokens.shape[:-1]))

    @torch.no_grad()
    def expected(self, theta: torch.Tensor, reward: TaskReward, generator: Optional[torch.Generator] = None,
                 samples: int = 512) -> torch.Tensor:
        """E_{y ~ pi(.|p)}[r(y)] per run and prompt: (B, P).

        Exact (a sum over every response) when :attr:`exact`, else the mean over ``samples`` responses per prompt
        drawn with ``generator`` in the task's order. :data:`EVAL_CHUNK` runs at a time."""
        b, p, length = theta.shape[0], self.prompts, self.length
        out = []
        if self.exact:
            every = self.policy.all_sequences(theta.device)
            seqs = every.unsqueeze(0).expand(p, *every.shape)                                   # (P, S, L)
            for start in range(0, b, EVAL_CHUNK):
                runs = torch.arange(start, min(b, start + EVAL_CHUNK), device=theta.device)
                lp = self.policy.log_prob(theta[runs], seqs)
                out.append((lp.exp() * self._scored(reward, seqs.expand(len(runs), *seqs.shape), runs)).sum(-1))
            return torch.cat(out)
        if generator is None:
            raise ValueError("generator is None; sampled expectations (task.exact is False) need a torch.Generator")
        for start in range(0, b, EVAL_CHUNK):
            runs = torch.arange(start, min(b, start + EVAL_CHUNK), device=theta.device)
            u = draw_uniforms(generator, (len(runs), p, samples, length), self.draw, theta.dtype)
            tokens = self.policy.sample(self.policy.conditionals(theta[runs]), u)
            out.append(self._scored(reward, tokens, runs).mean(-1))
        return torch.cat(out)


# ------------------------------------------------------------------------------------------------ the result


@dataclass
class SequenceRun:
    """The record of one batched training on a :class:`SequenceTask`.

    Attributes:
        steps: (R,) int array, the step of each record (0 = initial policy).
        values: name -> (R, B) float64 array: ``true_value`` (V_G, mean over prompts), ``proxy_value`` (V_P, when the
            task has r_P) and the task's ``measure`` statistics.
        proxy_reward: (R, B) mean raw reward trained on over the step's samples (before whitening); NaN at step 0.
        kl: (R, B) mean sampled log pi(y) - log pi_0(y) of the step's samples; 0 at step 0.
        silent: (S, B) share of the run's prompts whose group of rewards had zero variance at step s (no signal).
        theta: (B, P, L, V, V) the final logits (on the training device); ``None`` after the fused kernel.
        algorithm: the update rule; reward: what was trained on ("true", "proxy" or "custom"); seconds: the loop's
        wall-clock time.
    """

    steps: np.ndarray
    values: dict
    proxy_reward: np.ndarray
    kl: np.ndarray
    silent: np.ndarray
    theta: Optional[torch.Tensor]
    algorithm: Algorithm
    reward: str
    seconds: float

    @property
    def true_value(self) -> np.ndarray:
        """V_G = E_pi[r_G] (mean over prompts) at each record, shape (R, B)."""
        return self.values["true_value"]

    @property
    def proxy_value(self) -> np.ndarray:
        """V_P = E_pi[r_P] (mean over prompts) at each record, shape (R, B)."""
        if "proxy_value" not in self.values:
            raise ValueError("this run's task has no proxy_reward, so no proxy_value was recorded")
        return self.values["proxy_value"]

    @property
    def gain(self) -> np.ndarray:
        """V_G(final) - V_G(initial) per run, (B,)."""
        return self.true_value[-1] - self.true_value[0]

    def steps_to(self, level: float, reward: str = "true") -> np.ndarray:
        """Per run, the first recorded step whose V_G (``reward="true"``) or V_P (``"proxy"``) is >= level; -1 if
        never. Shape (B,)."""
        level = finite("level", level)
        values = self.true_value if choice("reward", reward, ("true", "proxy")) == "true" else self.proxy_value
        hit = values >= level
        return np.where(hit.any(0), self.steps[hit.argmax(0)], -1)

    def to_frame(self) -> pd.DataFrame:
        """Tidy pandas DataFrame, one row per (record, run): step, run, then one column per recorded value."""
        import pandas as pd

        r, b = len(self.steps), self.true_value.shape[1]
        frame = pd.DataFrame({"step": np.repeat(self.steps, b), "run": np.tile(np.arange(b), r)})
        for name, value in self.values.items():
            frame[name] = value.reshape(-1)
        return frame


# ------------------------------------------------------------------------------------------------ training


def train_sequences(task: SequenceTask, algorithm: Algorithm, steps: int, reward: str | StepReward = "proxy",
                    seed: int = 0, device: str = "auto", record_every: int = 1, dtype: torch.dtype = torch.float32,
                    optimizer: str = "sgd", whiten: bool = False, eval_samples: int = 512,
                    progress: Optional[bool] = None, backend: str = "auto",
                    uniforms: Optional[Callable[[int], torch.Tensor]] = None, schedule: str = "constant",
                    warmup: float = WARMUP, weight_decay: float = 0.0) -> SequenceRun:
    """Train the B runs of ``task`` together for ``steps`` updates of ``algorithm``.

    Args:
        task: the runs' initial policies and rewards.
        algorithm: a sampled update rule, ``RLOO``, ``GRPO``, ``PPO`` or ``Reinforce`` (``lr``, ``kl``; see the module
            docstring for ``kl`` on sequences). Its ``samples_per_step`` responses are drawn per prompt and step.
        steps: number of updates (PPO: sampling rounds).
        reward: ``"proxy"`` (r_P), ``"true"`` (r_G), or a function (tokens (B, P, G, L), step) -> rewards (B, P, G)
            for rewards that change during training (it may keep its own records). Such a function may offer the
            fused kernel a whole training: a method ``fused(task, algorithm, steps, seed, record_at, device, dtype,
            bar)`` returning ``(values, silent)`` as :class:`SequenceRun` holds them (on the device), or a sentence
            saying why it cannot; with ``optimizer="sgd"`` and no whitening it is asked on CUDA with ``backend="auto"``
            and always with ``"fused"`` (then ``SequenceRun.theta`` is ``None``: the kernel keeps the logits).
        seed: seeds the sampling; the same seed gives the same run.
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        record_every: record every k steps (and at the last step).
        dtype: floating type of the training.
        optimizer: ``"sgd"`` (theta += lr * direction), ``"adam"`` (``torch.optim.Adam`` with the rule's lr, on the
            surrogate's autograd gradient) or ``"adamw"`` (``torch.optim.AdamW`` on the closed-form direction, betas
            :data:`ADAMW_BETAS`, eps :data:`ADAMW_EPS`, decoupled decay ``weight_decay``).
        whiten: standardise the rewards per run over the step's P G samples before the KL penalty.
        eval_samples: responses per prompt for V_G and V_P when the task is too large for exact sums.
        progress: show a progress bar; ``None`` shows one for long trainings.
        backend: ``"torch"`` (tensor operations per step), ``"fused"`` (the reward's fused hook, an error when it
            cannot run) or ``"auto"``.
        uniforms: a function step -> that step's (B, P, G, L) uniform numbers, in place of the seeded generator
            (torch path only; tests feed it the fused kernel's random stream to compare single steps).
        schedule: ``"constant"`` or ``"linear"`` (warm-up over ``int(warmup * steps)`` updates, then linear decay to
            0; :func:`lr_factor`), for every optimiser.
        warmup: the warm-up share of the steps under ``schedule="linear"``, in [0, 1).
        weight_decay: AdamW's decoupled weight decay (``optimizer="adamw"`` only).

    Returns:
        A :class:`SequenceRun`.
    """
    if not isinstance(task, SequenceTask):
        raise ValueError(f"task must be a labsupport.sequence.SequenceTask; got {type(task).__name__}")
    if not isinstance(algorithm, Algorithm) or isinstance(algorithm, ExactPG):
        raise ValueError(f"algorithm must be a sampled update rule (RLOO, GRPO, PPO or Reinforce); got {algorithm!r}")
    count("steps", steps)
    random_seed("seed", seed)
    count("record_every", record_every, minimum=1)
    count("eval_samples", eval_samples, minimum=1)
    choice("optimizer", optimizer, OPTIMIZERS)
    choice("schedule", schedule, SCHEDULES)
    if isinstance(warmup, bool) or not (isinstance(warmup, (int, float, np.floating)) and 0 <= warmup < 1):
        raise ValueError(f"warmup must be a share of the steps in [0, 1); got {warmup!r}")
    weight_decay = non_negative("weight_decay", weight_decay)
    if weight_decay and optimizer != "adamw":
        raise ValueError(f"weight_decay applies to optimizer='adamw' only; got optimizer={optimizer!r}")
    choice("backend", backend, BACKENDS)
    whiten = bool(flag("whiten", whiten))
    progress = flag("progress", progress, allow_none=True)
    dtype = float_dtype("dtype", dtype)
    if isinstance(reward, str):
        step_reward = _fixed_reward(task.reward(reward))
        kind = reward
    elif callable(reward):
        step_reward, kind = reward, "custom"
    else:
        raise ValueError(f"reward must be 'proxy', 'true' or a function (tokens, step) -> rewards; got {reward!r}")
    dev = resolve_device(device)
    record_at = record_steps(steps, record_every)
    b, p, length, v = task.batch_size, task.prompts, task.length, task.vocab
    g = algorithm.samples_per_step
    bar = progress_bar(steps, progress, steps * b * p * g * length * v, PROGRESS_TOKENS, "training")
    start = time.perf_counter()
    fused = None
    if backend == "fused" or (backend == "auto" and dev.type == "cuda"):
        plain = optimizer == "sgd" and schedule == "constant" and not whiten and uniforms is None
        hook = getattr(reward, "fused", None) if plain else None
        fused = None if hook is None else hook(task, algorithm, steps, seed, record_at, dev, dtype, bar)
        if backend == "fused" and not isinstance(fused, tuple):
            why = fused or ("the kernel runs SGD at a constant learning rate without whitening for a reward with a "
                            "fused hook (chapter 7's credit schedules), on CUDA")
            raise ValueError(f"backend='fused' cannot run this training: {why} (use backend='auto' or 'torch')")
    if isinstance(fused, tuple):
        values, silent = fused
        proxy = torch.full((len(record_at), b), float("nan"))
        kl = torch.zeros((len(record_at), b))
        theta = None
    else:
        rate = _Rate(algorithm.lr, steps, schedule, warmup)
        values, proxy, kl, silent, theta = _train_steps(task, algorithm, steps, step_reward, seed, record_at, dev,
                                                        dtype, optimizer, whiten, eval_samples, bar, uniforms, rate,
                                                        weight_decay)
    if bar is not None:
        bar.close()
    return SequenceRun(
        steps=np.asarray(record_at),
        values={name: value.cpu().double().numpy() for name, value in values.items()},
        proxy_reward=proxy.cpu().double().numpy(), kl=kl.cpu().double().numpy(),
        silent=silent.cpu().double().numpy(), theta=theta, algorithm=algorithm, reward=kind,
        seconds=time.perf_counter() - start)


def _checked_rewards(name: str, rewards: object, shape: tuple[int, ...]) -> torch.Tensor:
    """``rewards``, the output of the reward function ``name``, if it is a tensor of ``shape`` (one reward per
    response); else a ValueError naming the function, the shape it should have and what it gave."""
    if not isinstance(rewards, torch.Tensor) or tuple(rewards.shape) != shape:
        got = f"shape {tuple(rewards.shape)}" if isinstance(rewards, torch.Tensor) else f"a {type(rewards).__name__}"
        raise ValueError(f"{name} must return a tensor of shape {shape}, one reward per response (tokens' shape "
                         f"without L); got {got}")
    return rewards


def _fixed_reward(fn: TaskReward) -> StepReward:
    """A task reward as a reward to train on: every run scored by its own function, the same at every step."""

    def reward(tokens: torch.Tensor, step: int) -> torch.Tensor:
        return fn(tokens, torch.arange(tokens.shape[0], device=tokens.device))

    return reward


@dataclass(frozen=True)
class _Rate:
    """The learning rate of each update: the rule's lr, times :func:`lr_factor` under ``schedule="linear"``."""

    lr: float
    steps: int
    schedule: str
    warmup: float

    def at(self, step: int) -> float:
        if self.schedule == "constant":
            return self.lr
        return self.lr * lr_factor(step, self.steps, warmup_steps(self.steps, self.warmup))


def _train_steps(task, algorithm, steps, reward, seed, record_at, dev, dtype, optimizer, whiten, eval_samples, bar,
                 uniforms=None, rate=None, weight_decay=0.0):
    """The torch path of :func:`train_sequences`. Returns values {name: (R, B)}, proxy and kl (R, B), silent
    (S, B) and the final theta, on the device."""
    policy = task.policy
    b, p, length, v = task.batch_size, task.prompts, task.length, task.vocab
    g = algorithm.samples_per_step
    size = getattr(algorithm, "group", g)                                 # GRPO's groups: n of them per prompt
    rate = _Rate(algorithm.lr, steps, "constant", 0.0) if rate is None else rate
    ref = task.theta0.to(device=dev, dtype=dtype)
    theta = ref.clone()
    adam = opt = None
    if optimizer == "adam":
        theta.requires_grad_(True)
        adam = opt = torch.optim.Adam([theta], lr=algorithm.lr)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW([theta], lr=algorithm.lr, betas=ADAMW_BETAS, eps=ADAMW_EPS, weight_decay=weight_decay)
    gen = torch.Generator(device=dev).manual_seed(seed)
    evals = {name: torch.Generator(device=dev).manual_seed(seed + k)
             for k, name in ((1, "true_value"), (2, "proxy_value"))}
    records: list[dict] = []
    proxy = torch.full((len(record_at), b), float("nan"), dtype=dtype, device=dev)
    kl = torch.zeros((len(record_at), b), dtype=dtype, device=dev)
    silent = torch.zeros((steps, b), dtype=dtype, device=dev)
    raw: torch.Tensor | None = None
    kl_mean: torch.Tensor | None = None
    clip = getattr(algorithm, "clip", None)
    epochs = getattr(algorithm, "epochs", 1)
    small = dev.type == "cpu" and b * p * g * length * v < SINGLE_THREAD_TOKENS
    with threads(1 if small else None):
        for t in range(steps + 1):
            if len(records) < len(record_at) and record_at[len(records)] == t:
                if t:
                    assert raw is not None and kl_mean is not None  # set by step t - 1, which precedes a record
                    proxy[len(records)], kl[len(records)] = raw, kl_mean
                records.append(_values(task, theta.detach(), evals, eval_samples))
            if t == steps:
                break
            with torch.no_grad():
                cond = policy.conditionals(theta.detach())
                u = draw_uniforms(gen, (b, p, g, length), task.draw, dtype) if uniforms is None else uniforms(t)
                tokens = policy.sample(cond, u.to(dtype))
                r = _checked_rewards("reward", reward(tokens, t), (b, p, g)).to(dtype)
                raw = r.mean((1, 2))
                if whiten:
                    r = (r - r.mean((1, 2), keepdim=True)) / (r.std((1, 2), keepdim=True) + WHITEN_EPS)
            logp = policy.log_prob(theta, tokens) if adam is not None else None
            with torch.no_grad():
                old = logp.detach() if logp is not None else None
                if algorithm.kl or (t + 1) in record_at or clip is not None:
                    old = policy.log_prob(theta.detach(), tokens) if old is None else old
                    kl_est = old - policy.log_prob(ref, tokens)
                    kl_mean = kl_est.mean((1, 2))
                if algorithm.kl:
                    r = r - algorithm.kl * kl_est
                groups = r.reshape(-1, g)
                a = algorithm.advantages(groups).reshape(r.shape)
                if getattr(algorithm, "filter_silent", False):
                    a = drop_silent(a.reshape(b, -1), r.reshape(b, -1), size).reshape(r.shape)
                silent[t] = silent_groups(r.reshape(b, -1, size)).to(dtype).mean(-1)
                lr = rate.at(t)
                if opt is not None:
                    opt.param_groups[0]["lr"] = lr
            for epoch in range(epochs):
                w = a
                if clip is not None:
                    with torch.no_grad():
                        if epoch:
                            cond = policy.conditionals(theta.detach())
                            now = policy.log_prob(theta.detach(), tokens)
                        else:
                            now = old
                        rho = (now - old).exp()
                        clipped = ((a > 0) & (rho > 1 + clip)) | ((a < 0) & (rho < 1 - clip))
                        w = rho * a * ~clipped
                if opt is None:
                    with torch.no_grad():
                        theta.add_(policy.score_direction(cond, tokens, w), alpha=lr)
                elif adam is None:
                    with torch.no_grad():
                        theta.grad = -policy.score_direction(cond, tokens, w)
                    opt.step()
                else:
                    if epoch:
                        logp = policy.log_prob(theta, tokens)
                    loss = -(w * logp).mean((1, 2)).sum()
                    adam.zero_grad()
                    loss.backward()
                    adam.step()
            if bar is not None and (t + 1) % bar.chunk == 0:
                bar.update(bar.chunk)
    values = {name: torch.stack([rec[name] for rec in records]) for name in records[0]}
    return values, proxy, kl, silent, theta.detach()


def _values(task: SequenceTask, theta: torch.Tensor, evals: dict, samples: int) -> dict:
    """The recorded statistics of the policy theta: the task's measures, then V_G and V_P unless measured."""
    with torch.no_grad():
        out = dict(task.measure(theta)) if task.measure is not None else {}
        for name, fn in (("true_value", task.true_reward), ("proxy_value", task.proxy_reward)):
            if fn is not None and name not in out:
                out[name] = task.expected(theta, fn, evals[name], samples).mean(-1)
    return out


__all__ = ["ADAMW_BETAS", "ADAMW_EPS", "DRAWS", "EXACT_LIMIT", "OPTIMIZERS", "SCHEDULES", "SequencePolicy",
           "SequenceRun", "SequenceTask", "WARMUP", "draw_uniforms", "lr_factor", "softmax", "train_sequences",
           "warmup_steps"]
