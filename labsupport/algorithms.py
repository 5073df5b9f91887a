"""Policy-gradient update rules on a batch of bandit problems.

Each algorithm is a small frozen dataclass with plain parameters and one method, :meth:`Algorithm.step`,
which updates theta in place. All of them work on the logits: they compute an ascent direction ``g`` (B, N)
for the objective with respect to z, then take one SGD step ``theta += lr * Phi^T (g - kl * g_KL)``.

Notation (per problem): pi = softmax(z), r the reward being trained on, V = <pi, r> its expected value,
A(y) = r(y) - V the advantage, e_y the one-hot vector of output y. The score function of a softmax is
d log pi(y) / dz = e_y - pi.

KL penalty (every algorithm): with ``kl = beta > 0`` the objective is V - beta KL(pi || pi_0). Its exact
gradient on the logits is  g_KL = pi * (l - <pi, l>)  with l = log pi - log pi_0; it is computed exactly
(the bandit's distribution is known) and subtracted from every algorithm's direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ._checks import choice, count, flag, non_negative, positive
from .policies import SoftmaxPolicy, sample

BASELINES = ("none", "mean", "loo")
#: GRPO's epsilon in (r - mean) / (std + eps), the default of :class:`GRPO` (and of the fused kernels)
GRPO_EPS = 1e-8

#: stores a checked parameter on a frozen dataclass (numpy scalars become Python numbers)
_set = object.__setattr__


@dataclass
class StepInput:
    """What one update needs; built once per run by :func:`labsupport.train`.

    Attributes:
        policy: the softmax policy (maps theta to logits and directions back to theta).
        reward: (B, N) reward being trained on.
        log_pi0: (B, N) log-probabilities of the initial policy (for the KL penalty).
        uniforms: function k -> (B, k) uniform numbers in [0, 1), the run's only source of randomness.
    """

    policy: SoftmaxPolicy
    reward: torch.Tensor
    log_pi0: torch.Tensor
    uniforms: Callable[[int], torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class Algorithm:
    """Base class: learning rate ``lr`` and KL coefficient ``kl`` (keyword-only) shared by all update rules."""

    lr: float = 0.1
    kl: float = 0.0

    def __post_init__(self):
        _set(self, "lr", positive("lr", self.lr))
        _set(self, "kl", non_negative("kl", self.kl))

    @property
    def samples_per_step(self) -> int:
        """Outputs sampled per step (0 for the exact expected gradient)."""
        return 0

    def step(self, theta: torch.Tensor, pi: torch.Tensor, inp: StepInput) -> None:
        """One update of theta (in place) from the current policy pi (B, N)."""
        raise NotImplementedError

    def _ascend(self, theta: torch.Tensor, pi: torch.Tensor, g: torch.Tensor, inp: StepInput) -> None:
        """theta += lr * Phi^T (g - kl * pi * (l - <pi, l>)),  l = log pi - log pi_0."""
        if self.kl:
            l = pi.clamp_min(torch.finfo(pi.dtype).tiny).log() - inp.log_pi0
            g = g - self.kl * pi * (l - (pi * l).sum(-1, keepdim=True))
        theta.add_(inp.policy.theta_direction(g), alpha=self.lr)


@dataclass(frozen=True)
class ExactPG(Algorithm):
    """Exact (expected) policy gradient: the paper's controlled dynamics.

    Update:  theta += lr * Phi^T [ pi * (r - <pi, r>) ]     (tabular: theta_y += lr * pi(y) A(y))

    This is the gradient of V(theta) = sum_y pi_theta(y) r(y); as lr -> 0 it follows gradient flow.
    """

    def step(self, theta: torch.Tensor, pi: torch.Tensor, inp: StepInput) -> None:
        r = inp.reward
        g = pi * (r - (pi * r).sum(-1, keepdim=True))
        self._ascend(theta, pi, g, inp)


def score_direction(pi: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(1/K) sum_k weight_k (e_{y_k} - pi): the sampled score-function direction, shape (B, N)."""
    k = y.shape[1]
    g = torch.zeros_like(pi).scatter_add_(1, y, weight)
    return (g - pi * weight.sum(1, keepdim=True)) / k


def silent_groups(r: torch.Tensor) -> torch.Tensor:
    """Which groups of sampled rewards r (..., K) are silent, all K rewards equal (no signal): (...) bool."""
    return (r == r[..., :1]).all(-1)


def drop_silent(a: torch.Tensor, r: torch.Tensor, group: int) -> torch.Tensor:
    """Weights of batches of groups with the silent groups filtered out (open-instruct's ``filter_zero_std_samples``).

    a and r: (B, n G), per row one update's batch of n groups of G advantages and rewards. A silent group's
    advantages are already 0; the others are scaled by n / (number of non-silent groups), so that an update that
    averages over all n G samples averages over the samples of the non-silent groups only. A row whose groups are
    all silent stays 0 (no update).
    """
    b = r.shape[0]
    quiet = silent_groups(r.reshape(b, -1, group))                                            # (B, n)
    active = (~quiet).sum(-1, keepdim=True).clamp_min(1).to(a.dtype)
    return (a.reshape(b, -1, group) * (quiet.shape[1] / active).unsqueeze(-1)).reshape(a.shape)


def _baseline_advantage(r: torch.Tensor, baseline: str) -> torch.Tensor:
    """Advantages of K sampled rewards r (B, K): no baseline, minus their mean, or minus the others' mean."""
    if baseline == "none":
        return r
    k = r.shape[1]
    total = r.sum(1, keepdim=True)
    if baseline == "mean":
        return r - total / k
    return r - (total - r) / (k - 1)


class _Sampled(Algorithm):
    """Shared step of the sampled rules: draw K outputs, weight their score functions by advantages."""

    def advantages(self, r: torch.Tensor) -> torch.Tensor:
        """Per-sample weights (B, K) from the sampled rewards (B, K)."""
        raise NotImplementedError

    def batch_weights(self, r: torch.Tensor) -> torch.Tensor:
        """Per-sample weights (B, K) of one update's batch of sampled rewards (B, K): the advantages, unless the rule
        changes the batch (GRPO's ``filter_silent``)."""
        return self.advantages(r)

    def step(self, theta: torch.Tensor, pi: torch.Tensor, inp: StepInput) -> None:
        y = sample(pi, inp.uniforms(self.samples_per_step))
        a = self.batch_weights(inp.reward.gather(1, y))
        self._ascend(theta, pi, score_direction(pi, y, a), inp)


@dataclass(frozen=True)
class Reinforce(_Sampled):
    """REINFORCE (Williams 1992) with K samples per step and an optional baseline.

    Sample y_1..y_K ~ pi, then  theta += lr * Phi^T (1/K) sum_k (r(y_k) - b_k) (e_{y_k} - pi)  with
    b_k = 0 (``baseline="none"``; the paper's appendix variant is K = 1), the mean of the K rewards
    (``"mean"``), or the mean of the other K - 1 rewards (``"loo"``, unbiased; needs K >= 2).
    """

    samples: int = 1
    baseline: str = "none"

    def __post_init__(self):
        super().__post_init__()
        _set(self, "samples", count("samples", self.samples, minimum=1))
        choice("baseline", self.baseline, BASELINES)
        if self.baseline == "loo" and self.samples < 2:
            raise ValueError(f"samples must be >= 2 for the leave-one-out baseline; got {self.samples}")

    @property
    def samples_per_step(self) -> int:
        return self.samples

    def advantages(self, r: torch.Tensor) -> torch.Tensor:
        return _baseline_advantage(r, self.baseline)


@dataclass(frozen=True)
class RLOO(_Sampled):
    """REINFORCE leave-one-out (Ahmadian et al. 2024) with k samples per step.

    theta += lr * Phi^T (1/k) sum_i (r(y_i) - (1/(k-1)) sum_{j != i} r(y_j)) (e_{y_i} - pi)
    """

    k: int = 4

    def __post_init__(self):
        super().__post_init__()
        _set(self, "k", count("k", self.k, minimum=2))

    @property
    def samples_per_step(self) -> int:
        return self.k

    def advantages(self, r: torch.Tensor) -> torch.Tensor:
        return _baseline_advantage(r, "loo")


@dataclass(frozen=True)
class GRPO(_Sampled):
    """Group-relative policy gradient (Shao et al. 2024), one update per group, no clipping.

    Sample a group of G outputs, A_i = (r_i - mean(r)) / (std(r) + eps) with the population standard deviation
    of the group (``normalize_std=False`` keeps only r_i - mean(r)), then
    theta += lr * Phi^T (1/G) sum_i A_i (e_{y_i} - pi).  A group whose rewards are all equal gives no signal.

    Options of the paper's recipe (open-instruct's GRPO), off by default:

    * ``groups=n``: n groups per prompt and step (a batch of n prompts, each with its group; in a task of one prompt,
      n groups of it), one update from all n G samples: theta += lr * Phi^T (1/(n G)) sum_i A_i (e_{y_i} - pi), each
      A_i standardised within its own group;
    * ``filter_silent=True``: silent groups are dropped from the batch (``filter_zero_std_samples``), so the update
      averages over the samples of the non-silent groups only, 1/(n' G) with n' of them, and there is no update when
      all are silent (:func:`drop_silent`). Off, a silent group counts as a zero update in the 1/(n G) average.
    """

    group: int = 8
    normalize_std: bool = True
    eps: float = GRPO_EPS
    groups: int = 1
    filter_silent: bool = False

    def __post_init__(self):
        super().__post_init__()
        _set(self, "group", count("group", self.group, minimum=2))
        _set(self, "eps", positive("eps", self.eps))
        _set(self, "normalize_std", flag("normalize_std", self.normalize_std))
        _set(self, "groups", count("groups", self.groups, minimum=1))
        _set(self, "filter_silent", flag("filter_silent", self.filter_silent))

    @property
    def samples_per_step(self) -> int:
        return self.group * self.groups

    def advantages(self, r: torch.Tensor) -> torch.Tensor:
        """Advantages (B, K) of rewards r (B, K), K a multiple of G, each run of G samples standardised as a group."""
        shape = r.shape
        r = r.reshape(-1, self.group)
        a = r - r.mean(1, keepdim=True)
        if self.normalize_std:
            a = a / (r.std(1, unbiased=False, keepdim=True) + self.eps)
        # a group of equal rewards is exactly silent: its mean can be off by a rounding error, which the division
        # by std + eps (both ~1e-8 then) would blow up into advantages of order 1
        return a.masked_fill(silent_groups(r).unsqueeze(1), 0.0).reshape(shape)

    def batch_weights(self, r: torch.Tensor) -> torch.Tensor:
        return drop_silent(self.advantages(r), r, self.group) if self.filter_silent else self.advantages(r)


@dataclass(frozen=True)
class PPO(_Sampled):
    """PPO with the clipped surrogate (Schulman et al. 2017) and leave-one-out advantages.

    Each step samples k outputs from pi_old, computes A_i = r(y_i) - mean of the other k - 1 rewards, then takes
    ``epochs`` SGD steps on  L(theta) = (1/k) sum_i min(rho_i A_i, clip(rho_i, 1 - c, 1 + c) A_i),
    rho_i = pi(y_i) / pi_old(y_i).  Its gradient on the logits is (1/k) sum_i 1[not clipped] rho_i A_i (e_{y_i} - pi);
    sample i is clipped when A_i > 0 and rho_i > 1 + c, or A_i < 0 and rho_i < 1 - c. ``steps`` in
    :func:`labsupport.train` counts sampling rounds, each with ``epochs`` updates; ``epochs=1`` is RLOO.
    """

    clip: float = 0.2
    epochs: int = 4
    k: int = 4

    def __post_init__(self):
        super().__post_init__()
        _set(self, "clip", positive("clip", self.clip))
        _set(self, "epochs", count("epochs", self.epochs, minimum=1))
        _set(self, "k", count("k", self.k, minimum=2))

    @property
    def samples_per_step(self) -> int:
        return self.k

    def advantages(self, r: torch.Tensor) -> torch.Tensor:
        return _baseline_advantage(r, "loo")

    def step(self, theta: torch.Tensor, pi_old: torch.Tensor, inp: StepInput) -> None:
        y = sample(pi_old, inp.uniforms(self.k))
        a = self.advantages(inp.reward.gather(1, y))
        p_old = pi_old.gather(1, y)
        pi = pi_old
        for epoch in range(self.epochs):
            if epoch:
                pi = inp.policy.probs(theta)
            rho = pi.gather(1, y) / p_old
            clipped = ((a > 0) & (rho > 1 + self.clip)) | ((a < 0) & (rho < 1 - self.clip))
            self._ascend(theta, pi, score_direction(pi, y, rho * a * ~clipped), inp)


__all__ = ["Algorithm", "BASELINES", "ExactPG", "GRPO", "GRPO_EPS", "PPO", "Reinforce", "RLOO", "StepInput",
           "drop_silent", "score_direction", "silent_groups"]
