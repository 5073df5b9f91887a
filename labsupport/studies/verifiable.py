"""Verifiable rewards in miniature: sequence tasks with two checkable constraints, binary vs partial credit, GRPO.

The task
--------
An output is a token sequence y = (y_0, ..., y_{L-1}) over a vocabulary of V tokens. Two checkable constraints:

* **C1, "contains a keyword"**: some position holds a token of the set ``S1`` (default: token 0);
* **C2, "ends with a terminator"**: the last token is in the set ``S2`` (default: token 1).

Ground truth = **binary credit**, r_G(y) = 1[C1 and C2]. Proxy = **partial credit**, r_P(y) = (1[C1] + 1[C2]) / 2.
The proxy's only error is the 0.5 it gives to half-correct outputs, whose ground truth is 0 (the setup of Section 5
of Shang et al. 2026, with instruction-following constraints replaced by two token constraints).

The policy
----------
:class:`SequencePolicy` is autoregressive, first order: the token at position l is drawn from
softmax(theta[l, y_{l-1}, :]), and the first token from softmax(theta[0, START, :]) with ``START = 0`` (the other
rows of position 0 are never used). theta has shape (B, L, V, V): one logit table per position and previous
token, B independent runs in a batch. Because the policy is a Markov chain, the exact probabilities of C1, C2 and
of both are computed by a forward pass over (previous token, keyword seen) states, :meth:`SequenceTask.success`,
and they are differentiable in theta (used to solve for the initial policy and for the expected GRPO signal).

Difficulty
----------
:func:`make_task` builds the initial logits as seeded random "habits" (normal, scale ``base_scale``) plus three
logit biases on the checked tokens, solved by Newton's method so that the initial success probabilities are exactly
the requested ones:

* beta_1 on the keyword tokens at every position,
* beta_2 on the terminator tokens at the last position,
* beta_end, an extra bias of the keyword tokens at the last position ("the policy tends to end with the keyword").

With ``joint`` given, beta_end is solved for so that P(C1 and C2) = joint; otherwise it is fixed (``end_bias``).
A large beta_end means the policy satisfies C1 mostly *at the last position*, where it excludes C2: the two
constraints then compete for the same token, and the joint success is well below p1 * p2.

Training
--------
:func:`train_grpo` runs GRPO (Shao et al. 2024) on the batch: per step and run a group of G sequences is sampled
on the device, A_i = (r_i - mean) / (std + 1e-8) (population std, :meth:`labsupport.GRPO.advantages`), and
theta += lr * (1/G) sum_i A_i grad log pi(y_i); no KL, no clipping, one update per group. The reward is binary,
partial, or a mix (1 - w) * binary + w * partial whose weight w follows a schedule (``"anneal"``: w falls linearly
from 1 to 0 over ``anneal_steps``; ``"switch"``: w = 1 until the run's observed joint success, averaged over recent
groups, reaches ``switch_at``, then 0 for good). Recorded: the exact P(C1), P(C2), P(both) at each record, and at
every step, per run, whether its group had zero reward variance (no signal), the sampled joint success and the weight.

Theory
------
:func:`value_weights`, :func:`expected_update` and :func:`expected_signal` give the exact expected GRPO update of a
group of size G (:func:`sampled_update` estimates it by Monte Carlo, for checking):
E[update] = sum_v m_v grad P(r = v), where m_v is the expected advantage of a sample whose reward is v (over the
other G - 1 draws of its group). Binary credit: m_1 - m_0 times grad P(both); partial credit:
(m_half - m_0) (grad p1 + grad p2) + (m_1 - 2 m_half + m_0) grad P(both). Chapter 7 derives both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from .. import sequence
from .._checks import choice, count, finite, non_negative, positive, random_seed, short_values
from ..algorithms import GRPO, GRPO_EPS, Algorithm
from ..sequence import OPTIMIZERS, START, WARMUP, SequenceRun, softmax, train_sequences
from ..simulate import BACKENDS, resolve_device, threads

if TYPE_CHECKING:
    import pandas as pd

#: the rewards a run can train on
REWARDS = ("binary", "partial", "anneal", "switch")
#: GRPO's epsilon in (r - mean) / (std + eps) (the one of :class:`labsupport.GRPO`)
EPS = GRPO_EPS
#: Newton iterations allowed when solving for the initial biases (a feasible target takes far fewer)
MAX_NEWTON = 60
#: the two trainings of :func:`recipe`: the miniature's and the paper's (open-instruct's GRPO)
RECIPES = ("miniature", "paper")
#: prompts per step in the paper's runs: in the miniature's one-prompt tasks, groups per step
PAPER_PROMPTS = 16
#: AdamW's learning rate on the miniature's logits under the paper's recipe (chosen by lab 7's sweep, chapter 7)
PAPER_LR = 0.03


# ------------------------------------------------------------------------------------------------ rewards


def check(tokens: ArrayLike, keyword: Sequence[int] = (0,), terminator: Sequence[int] = (1,)
          ) -> tuple[np.ndarray, np.ndarray]:
    """The two constraints on sequences ``tokens`` (..., L) of token ids.

    Returns:
        (c1, c2): boolean arrays of shape (...): c1 = some token is in ``keyword``, c2 = the last token is in
        ``terminator``.
    """
    a = np.asarray(tokens)
    if a.dtype.kind not in "iu":
        raise ValueError(f"tokens must be integer token ids; got an array of dtype {a.dtype}")
    t = torch.as_tensor(a)
    if t.ndim < 1 or t.shape[-1] < 1:
        raise ValueError(f"tokens must have shape (..., L) with L >= 1; got shape {tuple(t.shape)}")
    keyword, terminator = _token_set("keyword", keyword), _token_set("terminator", terminator)
    c1, c2 = _check(t, torch.as_tensor(list(keyword)), torch.as_tensor(list(terminator)))
    return c1.numpy(), c2.numpy()


def _token_set(name: str, tokens: Any, vocab: int | None = None) -> tuple[int, ...]:
    """``tokens`` as a tuple of token ids if it is a non-empty sequence (or set) of integers >= 0 (below ``vocab`` if
    given)."""
    top = "" if vocab is None else f", below {vocab}"
    listed = isinstance(tokens, (Collection, np.ndarray)) and not isinstance(tokens, (str, bytes))
    items = list(tokens) if listed else []
    if not items or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) and 0 <= t
                            and (vocab is None or t < vocab) for t in items):
        raise ValueError(f"{name} must be a non-empty sequence of token ids (integers >= 0{top}); got {tokens!r}")
    return tuple(int(t) for t in (sorted(items) if isinstance(tokens, (set, frozenset)) else items))


def _constraints(c1: ArrayLike, c2: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """c1 and c2 as boolean arrays of one shape: booleans, or numbers that are all 0 or 1."""
    out = []
    for name, c in (("c1", c1), ("c2", c2)):
        a = np.asarray(c)
        if a.dtype.kind not in "biuf" or (a.dtype.kind != "b" and not np.isin(a, (0, 1)).all()):
            raise ValueError(f"{name} must hold booleans (or 0 and 1), one per sequence; got {short_values(a)}")
        out.append(a.astype(bool))
    if out[0].shape != out[1].shape:
        raise ValueError(f"c1 and c2 must have the same shape; got {out[0].shape} and {out[1].shape}")
    return out[0], out[1]


def _weights(weight: ArrayLike) -> np.ndarray:
    """The partial-credit weight(s) as a float array, each finite and in [0, 1]."""
    try:
        w = np.asarray(weight, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"weight must be a number in [0, 1] (or an array of them); got {weight!r}") from None
    if not (np.isfinite(w) & (w >= 0) & (w <= 1)).all():
        raise ValueError(f"weight must be a number in [0, 1] (or an array of them); got {short_values(w)}")
    return w


def _check(tokens: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s1, s2 = s1.to(tokens.device), s2.to(tokens.device)
    c1 = torch.isin(tokens, s1).any(-1)
    c2 = torch.isin(tokens[..., -1], s2)
    return c1, c2


def binary_credit(c1: ArrayLike, c2: ArrayLike) -> np.ndarray:
    """Ground truth: 1 if both constraints hold, else 0 (float, same shape as c1)."""
    c1, c2 = _constraints(c1, c2)
    return (c1 & c2).astype(float)


def partial_credit(c1: ArrayLike, c2: ArrayLike) -> np.ndarray:
    """Proxy: 0.5 per satisfied constraint (0, 0.5 or 1)."""
    c1, c2 = _constraints(c1, c2)
    return 0.5 * (c1.astype(float) + c2.astype(float))


def mixed_credit(c1: ArrayLike, c2: ArrayLike, weight: ArrayLike) -> np.ndarray:
    """(1 - weight) * binary + weight * partial: weight 0 is binary credit, 1 partial credit."""
    w = _weights(weight)
    return (1 - w) * binary_credit(c1, c2) + w * partial_credit(c1, c2)


def grpo_advantages(rewards: ArrayLike, eps: float = EPS) -> np.ndarray:
    """GRPO's advantages of groups of rewards (..., G): (r - mean) / (population std + eps).

    A group whose rewards are all equal gets advantage 0 for every member. Same formula as
    :meth:`labsupport.GRPO.advantages`, which it calls.
    """
    r = torch.as_tensor(np.asarray(rewards, dtype=float))
    if r.ndim < 1 or r.shape[-1] < 2:
        raise ValueError(f"rewards must have shape (..., G) with G >= 2; got shape {tuple(r.shape)}")
    if not torch.isfinite(r).all():
        raise ValueError(f"rewards must be finite; found {r[~torch.isfinite(r)].flatten()[0].item()}")
    g = r.shape[-1]
    flat = r.reshape(-1, g)
    return GRPO(group=g, eps=eps).advantages(flat).reshape(r.shape).numpy()


# ------------------------------------------------------------------------------------------------ the policy


class SequencePolicy(sequence.SequencePolicy):
    """The engine's policy (:class:`labsupport.sequence.SequencePolicy`, no end token) for tasks of one prompt, in
    this chapter's shapes: theta (B, L, V, V), tokens (B, G, L), weights (B, G) (the engine's with P = 1 left out).

    Row theta[b, l, prev] holds the logits of the token at position l after token ``prev``; position 0 uses row
    ``START``. pi(y) = prod_l softmax(theta[l, y_{l-1}])[y_l] with y_{-1} = START.
    """

    def sample(self, cond: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Sequences (B, G, L) drawn by inverting each conditional CDF of cond (B, L, V, V), uniforms (B, G, L)."""
        return super().sample(cond[:, None], uniforms[:, None])[:, 0]

    def log_prob(self, theta: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log pi(y) of sequences ``tokens`` (B, G, L), shape (B, G)."""
        return super().log_prob(theta[:, None], tokens[:, None])[:, 0]

    def score_direction(self, cond: torch.Tensor, tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(1/G) sum_i weights_i grad_theta log pi(y_i), shape (B, L, V, V)."""
        return super().score_direction(cond[:, None], tokens[:, None], weights[:, None])[:, 0]


# ------------------------------------------------------------------------------------------------ the task


@dataclass(frozen=True)
class SequenceTask:
    """A batch of B two-constraint sequence tasks sharing vocabulary, length and checked token sets.

    Attributes:
        theta0: (B, L, V, V) float64 initial logits (CPU).
        keyword, terminator: the token sets S1 and S2 (disjoint).
        biases: (B, 3) float64: beta_1, beta_2, beta_end of each row (see the module docstring).
        base: (L, V, V) float64 random habits shared by all rows.
    """

    theta0: torch.Tensor
    keyword: tuple[int, ...] = (0,)
    terminator: tuple[int, ...] = (1,)
    biases: torch.Tensor | None = None
    base: torch.Tensor | None = None
    policy: SequencePolicy = field(init=False, repr=False)

    def __post_init__(self):
        if self.theta0.ndim != 4 or self.theta0.shape[2] != self.theta0.shape[3]:
            raise ValueError(f"theta0 must have shape (B, L, V, V); got {tuple(self.theta0.shape)}")
        v = self.theta0.shape[-1]
        _token_set("keyword", self.keyword, v)
        _token_set("terminator", self.terminator, v)
        if set(self.keyword) & set(self.terminator):
            raise ValueError(f"keyword and terminator tokens must be disjoint; got {self.keyword!r} and "
                             f"{self.terminator!r}")
        object.__setattr__(self, "policy", SequencePolicy(v, self.theta0.shape[1]))

    @property
    def batch_size(self) -> int:
        return self.theta0.shape[0]

    @property
    def vocab(self) -> int:
        return self.theta0.shape[-1]

    @property
    def length(self) -> int:
        return self.theta0.shape[1]

    def rows(self, index: ArrayLike) -> SequenceTask:
        """The tasks of rows ``index`` (an int array), e.g. to repeat each task over seeds."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return SequenceTask(self.theta0[idx], self.keyword, self.terminator,
                            None if self.biases is None else self.biases[idx], self.base)

    def engine_task(self) -> sequence.SequenceTask:
        """These tasks on the sequence engine: one prompt, r_G = binary credit, r_P = partial credit, tokens drawn
        sequence by sequence, and the exact P(C1), P(C2), P(both) recorded (V_G = P(both), V_P = their mean)."""
        s1, s2 = torch.as_tensor(self.keyword), torch.as_tensor(self.terminator)

        def binary(tokens: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
            c1, c2 = _check(tokens, s1, s2)
            return (c1 & c2).double()

        def partial(tokens: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
            c1, c2 = _check(tokens, s1, s2)
            return 0.5 * (c1.double() + c2.double())

        def measure(theta: torch.Tensor) -> dict[str, torch.Tensor]:
            s = _success(theta[:, 0].to(torch.float64), self.keyword, self.terminator)
            return _measures(s["p1"], s["p2"], s["joint"])

        return sequence.SequenceTask(self.theta0[:, None], binary, partial, draw="sequence", measure=measure)

    def success(self, theta: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Exact P(C1), P(C2) and P(C1 and C2) under the policy theta (default theta0); each of shape (B,).

        A forward pass over the states (previous token, keyword seen yet): O(L V^2) per row, differentiable.
        """
        theta = self.theta0 if theta is None else theta
        return _success(theta, self.keyword, self.terminator)

    def outcome_probs(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        """Exact probabilities of the three outcomes (none, exactly one, both constraints hold), shape (B, 3)."""
        s = self.success(theta)
        both = s["joint"]
        one = s["p1"] + s["p2"] - 2 * both
        return torch.stack([1 - s["p1"] - s["p2"] + both, one, both], -1)

    def sample(self, n: int, seed: int = 0, theta: torch.Tensor | None = None) -> np.ndarray:
        """n sequences per task drawn from the policy theta (default theta0): int array (B, n, L)."""
        count("n", n, minimum=1)
        theta = (self.theta0 if theta is None else theta).to(torch.float64)
        gen = torch.Generator().manual_seed(random_seed("seed", seed))
        u = torch.rand((self.batch_size, n, self.length), generator=gen, dtype=torch.float64)
        return self.policy.sample(self.policy.conditionals(theta), u).numpy()

    def last_token_view(self, theta: torch.Tensor | None = None) -> pd.DataFrame:
        """What each reward says about the last token: one row per task and class of last token.

        Classes: ``keyword`` (S1), ``terminator`` (S2), ``other``. Columns: ``q`` = P(last token in the class);
        ``e`` = P(a keyword among the first L - 1 tokens | last token in the class); ``E[r_bin | last]`` and
        ``E[r_part | last]``, the expected binary and partial credit given the class; ``A_bin`` and ``A_part``, those
        minus the reward's expected value (the class's advantage). Exact (forward pass), for any policy theta.
        """
        import pandas as pd

        theta = (self.theta0 if theta is None else theta).detach()
        seen, unseen = _forward(theta[:, :-1], self.keyword)                         # over the first L - 1 tokens
        last = softmax(theta[:, -1])                                                   # (B, V_prev, V)
        if self.length == 1:
            seen, unseen = torch.zeros_like(seen), torch.zeros_like(seen)
            unseen[:, START] = 1.0
        before = torch.einsum("bv,bvw->bw", seen, last)                                 # P(keyword before, last = w)
        total = torch.einsum("bv,bvw->bw", seen + unseen, last)                         # P(last = w)
        v = self.vocab
        cls = np.full(v, 2)
        cls[list(self.keyword)] = 0
        cls[list(self.terminator)] = 1
        rows = []
        s = self.success(theta)
        value_bin = s["joint"].numpy()
        value_part = 0.5 * (s["p1"] + s["p2"]).numpy()
        for c, name in enumerate(("keyword", "terminator", "other")):
            mask = torch.as_tensor(cls == c)
            q = total[:, mask].sum(-1).numpy()
            e = before[:, mask].sum(-1).numpy() / np.maximum(q, 1e-300)
            r_bin = e if name == "terminator" else np.zeros_like(e)
            r_part = {"keyword": np.full_like(e, 0.5), "terminator": 0.5 + 0.5 * e, "other": 0.5 * e}[name]
            rows.append(pd.DataFrame({"task": np.arange(self.batch_size), "last token": name, "q": q, "e": e,
                                      "E[r_bin | last]": r_bin, "E[r_part | last]": r_part,
                                      "A_bin": r_bin - value_bin, "A_part": r_part - value_part}))
        return pd.concat(rows).sort_values(["task"], kind="stable").reset_index(drop=True)

    def describe(self) -> pd.DataFrame:
        """The initial success probabilities and biases, one row per task (pandas DataFrame)."""
        import pandas as pd

        s = {k: v.detach().numpy() for k, v in self.success().items()}
        frame = pd.DataFrame({"P(C1)": s["p1"], "P(C2)": s["p2"], "P(both)": s["joint"],
                              "P(C1) P(C2)": s["p1"] * s["p2"]})
        if self.biases is not None:
            for i, name in enumerate(("beta_1", "beta_2", "beta_end")):
                frame[name] = self.biases[:, i].numpy()
        return frame


def _forward(theta: torch.Tensor, keyword) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward pass of the chain over the positions of theta (B, L', V, V): (seen, unseen), each (B, V), the
    probabilities of the last token being w with / without a keyword among the L' tokens."""
    v = theta.shape[-1]
    is1 = torch.zeros(v, dtype=torch.bool, device=theta.device)
    is1[list(keyword)] = True
    if theta.shape[1] == 0:
        return torch.zeros(theta.shape[0], v, dtype=theta.dtype), torch.zeros(theta.shape[0], v, dtype=theta.dtype)
    p = softmax(theta[:, 0, START])                                                       # (B, V)
    seen = p * is1                     # P(y_0 = w, keyword seen)
    unseen = p * ~is1                  # P(y_0 = w, keyword not seen)
    for pos in range(1, theta.shape[1]):
        trans = softmax(theta[:, pos])                                                  # (B, V_prev, V)
        to_seen = torch.einsum("bv,bvw->bw", seen, trans)
        to_unseen = torch.einsum("bv,bvw->bw", unseen, trans)
        seen = to_seen + to_unseen * is1
        unseen = to_unseen * ~is1
    return seen, unseen


def _success(theta: torch.Tensor, keyword, terminator) -> dict[str, torch.Tensor]:
    v = theta.shape[-1]
    is2 = torch.zeros(v, dtype=torch.bool, device=theta.device)
    is2[list(terminator)] = True
    seen, unseen = _forward(theta, keyword)
    p1 = seen.sum(-1)
    p2 = ((seen + unseen) * is2).sum(-1)
    joint = (seen * is2).sum(-1)
    return {"p1": p1, "p2": p2, "joint": joint}


def _biased(base: torch.Tensor, biases: torch.Tensor, keyword, terminator) -> torch.Tensor:
    """theta0 = base + beta_1 on keyword tokens everywhere + (beta_end on keywords, beta_2 on terminators) at the
    last position; base (L, V, V), biases (B, 3) -> (B, L, V, V)."""
    length, v, _ = base.shape
    k = torch.zeros(v, dtype=base.dtype)
    k[list(keyword)] = 1
    t = torch.zeros(v, dtype=base.dtype)
    t[list(terminator)] = 1
    last = torch.zeros(length, dtype=base.dtype)
    last[-1] = 1
    b1, b2, be = biases[:, 0], biases[:, 1], biases[:, 2]
    add = (b1[:, None, None] * k + (be[:, None, None] * k + b2[:, None, None] * t) * last[None, :, None])  # (B, L, V)
    return base.unsqueeze(0) + add[:, :, None, :]


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-300, 1 - 1e-16)
    return torch.log(p) - torch.log1p(-p)


def make_task(p1: ArrayLike, p2: ArrayLike, joint: ArrayLike | None = None, *, end_bias: float = 0.0, vocab: int = 8,
              length: int = 6, keyword: Sequence[int] = (0,), terminator: Sequence[int] = (1,),
              base_scale: float = 0.5, seed: int = 0, tol: float = 1e-9) -> SequenceTask:
    """Tasks whose initial policy satisfies C1 with probability ``p1``, C2 with ``p2`` (and both with ``joint``).

    Args:
        p1, p2: target initial success probabilities of the two constraints, scalars or arrays of shape (B,).
        joint: target P(C1 and C2) (scalar or (B,)); ``None`` fixes the keyword's extra bias at the last position
            to ``end_bias`` instead, and the joint success is whatever follows (see :meth:`SequenceTask.describe`).
        end_bias: beta_end when ``joint`` is None: how much more the policy likes the keyword at the last position.
        vocab, length: V and L. keyword, terminator: the token sets S1 and S2.
        base_scale: standard deviation of the random habits (the autoregressive part of the initial logits); 0 gives
            a product policy (every position independent of the previous token).
        seed: seeds the habits (shared by all rows).
        tol: the solve stops when every target is met to this (in logit units).

    Returns:
        A :class:`SequenceTask` with B rows, the broadcast shape of the targets. Raises ValueError when a target
        cannot be met (e.g. a joint success above what independent constraints give, or below p1 + p2 - 1).
    """
    non_negative("base_scale", base_scale)
    random_seed("seed", seed)
    count("vocab", vocab, minimum=2)
    count("length", length, minimum=1)
    finite("end_bias", end_bias)
    positive("tol", tol)
    keyword, terminator = _token_set("keyword", keyword, vocab), _token_set("terminator", terminator, vocab)
    names = ["p1", "p2", "joint"]
    targets = []
    for name, target in zip(names, (p1, p2) if joint is None else (p1, p2, joint)):
        try:
            targets.append(np.asarray(target, dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a probability or an array of them; got {target!r}") from None
    for name, target in zip(names, targets):
        if not np.all((target > 0) & (target < 1)):
            raise ValueError(f"{name} must lie strictly between 0 and 1; got {target.tolist()!r}")
    targets = list(np.broadcast_arrays(*[np.atleast_1d(target) for target in targets]))
    if targets[0].ndim != 1:
        raise ValueError(f"p1, p2 and joint must be scalars or 1-d arrays; got shape {targets[0].shape}")
    if joint is not None:
        bad = targets[2] >= np.minimum(targets[0], targets[1])
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"joint must be below min(p1, p2); got joint={targets[2][i]!r} with p1={targets[0][i]!r}, "
                             f"p2={targets[1][i]!r}")
    gen = torch.Generator().manual_seed(seed)
    base = base_scale * torch.randn((length, vocab, vocab), generator=gen, dtype=torch.float64)
    b = len(targets[0])
    want = _logit(torch.as_tensor(np.stack(targets, -1)))                         # (B, k)
    k = want.shape[1]
    x = torch.zeros((b, 3), dtype=torch.float64)
    x[:, 2] = 0.0 if joint is not None else float(end_bias)
    task = SequenceTask(_biased(base, x, keyword, terminator), tuple(keyword), tuple(terminator))  # validates sets

    def residual(u):
        full = torch.cat([u, x[:, k:]], 1) if k < 3 else u
        s = _success(_biased(base, full, keyword, terminator), task.keyword, task.terminator)
        got = torch.stack([s[n] for n in names[:k]], -1)
        return _logit(got) - want

    u = x[:, :k].clone()
    for _ in range(MAX_NEWTON):
        u_req = u.detach().requires_grad_(True)
        f = residual(u_req)
        if f.detach().abs().max() < tol:
            break
        jac = torch.stack([torch.autograd.grad(f[:, i].sum(), u_req, retain_graph=i < k - 1)[0] for i in range(k)], 1)
        with torch.no_grad():
            try:
                step = torch.linalg.solve(jac, f.detach().unsqueeze(-1)).squeeze(-1)
            except RuntimeError:
                step = torch.linalg.lstsq(jac, f.detach().unsqueeze(-1)).solution.squeeze(-1)
            size = step.abs().amax(-1, keepdim=True)
            u = u - step * torch.clamp(2.0 / size, max=1.0)                          # damped Newton step
    with torch.no_grad():
        f = residual(u)
    if not torch.isfinite(f).all() or f.abs().max() > 1e-6:
        i = int(torch.nan_to_num(f.abs(), nan=np.inf).amax(-1).argmax())
        asked = ", ".join(f"{n}={t[i]:.4g}" for n, t in zip(names, targets))
        raise ValueError(f"make_task: cannot reach {asked} (row {i}) with this policy family; a joint success must lie "
                         f"between max(0, p1 + p2 - 1) and about p1 * p2")
    full = torch.cat([u, x[:, k:]], 1)
    return SequenceTask(_biased(base, full, keyword, terminator), tuple(keyword), tuple(terminator), full, base)


# ------------------------------------------------------------------------------------------------ training


@dataclass
class GRPORun:
    """The record of one batched GRPO training on a :class:`SequenceTask`.

    Attributes:
        steps: (R,) int array, the step of each record (0 = initial policy).
        p1, p2, joint: (R, B) exact P(C1), P(C2), P(both) at each record.
        silent: (S, B) bool, whether the group of run b at step s had zero reward variance (no update).
        sampled_joint: (S, B) fraction of the group that satisfied both constraints at step s.
        weight: (S, B) weight of partial credit in the reward at step s (0 binary, 1 partial).
        reward: (B,) the reward each run trained on (one of ``REWARDS``).
        group: the group size G (the rule's samples per step).
        engine: the engine's record (:class:`labsupport.sequence.SequenceRun`: the rule, the final logits, ...).
    """

    steps: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    joint: np.ndarray
    silent: np.ndarray
    sampled_joint: np.ndarray
    weight: np.ndarray
    reward: np.ndarray
    group: int
    engine: SequenceRun | None = None

    def steps_to(self, level: float) -> np.ndarray:
        """Per run, the first recorded step with exact joint success >= level; -1 if never. Shape (B,)."""
        hit = self.joint >= finite("level", level)
        return np.where(hit.any(0), self.steps[hit.argmax(0)], -1)

    def expected_silent(self) -> np.ndarray:
        """Per record and run, the exact probability that a group drawn from the recorded policy is silent (zero
        reward variance) under the reward weight in force at that step, shape (R, B); see :func:`silent_probability`.
        """
        one = self.p1 + self.p2 - 2 * self.joint
        probs = np.stack([1 - self.p1 - self.p2 + self.joint, one, self.joint], -1)         # (R, B, 3)
        at = np.minimum(self.steps, len(self.weight) - 1)
        w = self.weight[at] if len(self.weight) else np.where(self.reward == "binary", 0.0, 1.0)[None]
        flat = silent_probability(probs.reshape(-1, 3), np.broadcast_to(w, self.p1.shape).reshape(-1), self.group)
        return flat.reshape(self.p1.shape)

    def silent_fraction(self, window: int = 1) -> np.ndarray:
        """Per step and run, the fraction of zero-variance groups over the last ``window`` steps, shape (S, B)."""
        count("window", window, minimum=1)
        s = self.silent.astype(float)
        c = np.cumsum(np.vstack([np.zeros((1, s.shape[1])), s]), 0)
        lo = np.maximum(np.arange(1, len(s) + 1) - window, 0)
        return (c[1:] - c[lo]) / (np.arange(1, len(s) + 1) - lo)[:, None]

    def to_frame(self, labels: Sequence[str] | np.ndarray | None = None, every: int = 1) -> pd.DataFrame:
        """Tidy pandas DataFrame, one row per (record, run): step, run, reward, P(C1), P(C2), P(both).

        ``labels``: optional (B,) extra column ``label`` (e.g. the regime); ``every``: keep every k-th record.
        """
        import pandas as pd

        keep = np.unique(np.r_[np.arange(0, len(self.steps), every), len(self.steps) - 1])
        r, b = len(keep), self.p1.shape[1]
        frame = pd.DataFrame({"step": np.repeat(self.steps[keep], b), "run": np.tile(np.arange(b), r),
                              "reward": np.tile(self.reward, r), "P(C1)": self.p1[keep].reshape(-1),
                              "P(C2)": self.p2[keep].reshape(-1), "P(both)": self.joint[keep].reshape(-1)})
        if labels is not None:
            frame["label"] = np.tile(np.asarray(labels, dtype=object), r)
        return frame


class CreditMix:
    """Chapter 7's rewards as a reward to train on (:func:`labsupport.sequence.train_sequences`): per run,
    (1 - w) binary + w partial credit with the weight w of its schedule (:data:`REWARDS`, see :func:`train_grpo`).

    Called with a step's tokens (B, 1, G, L) and the step t, it returns the rewards (B, 1, G) and keeps, per step and
    run, the sampled joint success (``sampled``) and the weight used (``weight``), both (steps, B). Its
    :meth:`fused` hook hands a whole GRPO training to chapter 7's fused kernel.
    """

    def __init__(self, task: SequenceTask, kinds: np.ndarray, steps: int, anneal_steps: int, switch_at: float = 0.2,
                 switch_window: int = 10, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        dev = resolve_device(device)
        self.task, self.kinds = task, np.asarray(kinds, dtype=object)
        self.s1 = torch.as_tensor(task.keyword, device=dev)
        self.s2 = torch.as_tensor(task.terminator, device=dev)
        self.kind = {k: torch.as_tensor(self.kinds == k, device=dev) for k in REWARDS}
        self.sampled = torch.zeros((steps, len(self.kinds)), dtype=dtype, device=dev)
        self.weight = torch.zeros((steps, len(self.kinds)), dtype=dtype, device=dev)
        self.switched = torch.zeros(len(self.kinds), dtype=torch.bool, device=dev)
        self.anneal_steps, self.switch_at, self.window, self.dtype = anneal_steps, switch_at, switch_window, dtype

    def __call__(self, tokens: torch.Tensor, t: int) -> torch.Tensor:
        c1, c2 = _check(tokens[:, 0], self.s1, self.s2)
        both = (c1 & c2).to(self.dtype)
        half = 0.5 * (c1.to(self.dtype) + c2.to(self.dtype))
        if t >= self.window:
            self.switched |= self.sampled[t - self.window:t].mean(0) >= self.switch_at
        k = self.kind
        w = (k["partial"].to(self.dtype) + k["anneal"] * max(0.0, 1 - t / self.anneal_steps)
             + k["switch"] * (~self.switched).to(self.dtype))
        self.sampled[t] = both.mean(1)
        self.weight[t] = w
        return ((1 - w[:, None]) * both + w[:, None] * half)[:, None]

    def fused(self, task: sequence.SequenceTask, algorithm: Algorithm, steps: int, seed: int, record_at: list[int],
              device: torch.device, dtype: torch.dtype, bar: Any
              ) -> str | tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The whole training in chapter 7's fused kernel (:func:`labsupport.fused.train_sequences`): the values
        and silent shares as :class:`labsupport.sequence.SequenceRun` holds them, or why the kernel cannot run it
        (plain GRPO with normalised std and no KL, CUDA, float32, V a power of two up to 16)."""
        if (type(algorithm) is not GRPO or algorithm.kl or not algorithm.normalize_std or algorithm.groups != 1
                or algorithm.filter_silent):
            return f"the kernel runs plain GRPO (no KL, normalize_std=True, one group per step); got {algorithm!r}"
        try:
            from .. import fused
        except ImportError as err:
            return f"it needs Triton, which could not be imported ({err})"
        why = fused.sequence_unsupported(self.task, algorithm.group, device, dtype)
        if why is not None:
            return why
        rec, silent, self.sampled, self.weight = fused.train_sequences(
            self.task, self.kinds, steps, algorithm.group, algorithm.lr, seed, record_at, self.anneal_steps,
            self.switch_at, self.window, device, bar, start_token=START, eps=algorithm.eps)
        return _measures(rec[:, 0], rec[:, 1], rec[:, 2]), silent.to(dtype)


def recipe(name: str, group: int = 96, lr: float | None = None) -> dict:
    """The keyword arguments of :func:`train_grpo` (and :func:`phase_diagram`) for one of :data:`RECIPES`.

    ``"miniature"``: plain SGD on the logits at ``lr`` (default 1), one group of ``group`` per step, a silent group
    counted as a zero update: ``GRPO(group, lr)``, ``optimizer="sgd"``, ``schedule="constant"``.
    ``"paper"``: open-instruct's GRPO as the paper runs it: AdamW (betas 0.9, 0.999, eps 1e-8, no weight decay) at
    ``lr`` (default :data:`PAPER_LR`) with a linear warm-up over 3% of the steps and a linear decay to 0,
    :data:`PAPER_PROMPTS` groups per step, silent groups filtered out of the batch:
    ``GRPO(group, lr, groups=16, filter_silent=True)``, ``optimizer="adamw"``, ``schedule="linear"``.
    """
    choice("recipe", name, RECIPES)
    if name == "miniature":
        return {"algorithm": GRPO(group=group, lr=1.0 if lr is None else lr), "optimizer": "sgd",
                "schedule": "constant"}
    return {"algorithm": GRPO(group=group, lr=PAPER_LR if lr is None else lr, groups=PAPER_PROMPTS,
                              filter_silent=True), "optimizer": "adamw", "schedule": "linear"}


def load_optimisers() -> pd.DataFrame:
    """The committed comparison of the two trainings of :func:`recipe` (``labsupport/data/grpo_optimisers.csv``,
    written by ``tools/run_grpo_optimisers.py``): one row per (part, training, initial policy), the columns of
    :func:`compare_credit` and ``size``, ``part`` (``sweep``, ``regimes``, ``phase``), ``training``, ``lr``,
    ``family``, ``regime``. A pandas DataFrame."""
    from .. import data

    return data.load("grpo_optimisers")


def _measures(p1: torch.Tensor, p2: torch.Tensor, joint: torch.Tensor) -> dict[str, torch.Tensor]:
    """The recorded statistics of chapter 7: P(C1), P(C2), P(both); V_G = P(both) (binary credit) and
    V_P = (P(C1) + P(C2)) / 2 (partial credit)."""
    return {"p1": p1, "p2": p2, "joint": joint, "true_value": joint, "proxy_value": 0.5 * (p1 + p2)}


def train_grpo(task: SequenceTask, reward: str | Sequence[str] | np.ndarray, steps: int, *, group: int = 32,
               lr: float = 1.0, seed: int = 0, device: str = "auto", record_every: int = 1,
               anneal_steps: int | None = None, switch_at: float = 0.2, switch_window: int = 10,
               dtype: torch.dtype = torch.float32, progress: bool | None = None, backend: str = "auto",
               algorithm: Algorithm | None = None, optimizer: str = "sgd", schedule: str = "constant",
               warmup: float = WARMUP, weight_decay: float = 0.0) -> GRPORun:
    """GRPO (or another update rule) on every row of ``task`` at once, each row with its own reward and random numbers:
    :func:`labsupport.sequence.train_sequences` on :meth:`SequenceTask.engine_task` with a :class:`CreditMix`.

    Args:
        task: B tasks (their initial policies).
        reward: ``"binary"``, ``"partial"``, ``"anneal"`` or ``"switch"`` for all rows, or a sequence of B of them.
            ``"anneal"`` trains on (1 - w) binary + w partial with w = max(0, 1 - t / anneal_steps);
            ``"switch"`` uses partial credit (w = 1) until the mean sampled joint success of the run's last
            ``switch_window`` groups reaches ``switch_at``, then binary credit (w = 0) for good.
        steps: number of updates (one group per run per step).
        group: G, samples per group. lr: SGD step size on the logits. Both set the default rule, GRPO(group, lr).
        seed: seeds the sampling; the same seed gives the same runs.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``; sampling happens on that device.
        record_every: record the exact success probabilities every k steps (and at the last step).
        anneal_steps: length of the anneal (default: half of ``steps``).
        dtype: floating type of the training.
        progress: show a progress bar; ``None`` shows one for long trainings.
        backend: ``"torch"`` (tensor operations per step, the reference), ``"fused"`` (one Triton kernel for all
            steps, :func:`labsupport.fused.train_sequences`: plain GRPO, CUDA, float32, V a power of two up to 16;
            its samples come from another random stream, with the same distribution) or ``"auto"`` (fused on CUDA
            when it can).
        algorithm: the update rule, e.g. ``labsupport.PPO(clip=0.2, epochs=4, k=32, lr=1.0)`` or the paper's
            ``GRPO(group=96, lr=0.03, groups=16, filter_silent=True)``; default ``GRPO(group=group, lr=lr)``.
        optimizer, schedule, warmup, weight_decay: the engine's (:func:`labsupport.sequence.train_sequences`):
            ``"sgd"`` or ``"adamw"`` (or ``"adam"``), ``"constant"`` or ``"linear"`` (warm-up share ``warmup``, then
            linear decay to 0). :func:`recipe` gives the miniature's and the paper's choices together.

    Returns:
        A :class:`GRPORun`.
    """
    if not isinstance(task, SequenceTask):
        raise ValueError(f"task must be a SequenceTask (see make_task); got {type(task).__name__}")
    count("steps", steps)
    count("group", group, minimum=2)
    positive("lr", lr)
    count("switch_window", switch_window, minimum=1)
    if not 0 < switch_at <= 1:
        raise ValueError(f"switch_at must lie in (0, 1]; got {switch_at!r}")
    kinds = _kinds(reward, task.batch_size)
    anneal_steps = max(1, steps // 2) if anneal_steps is None else count("anneal_steps", anneal_steps, minimum=1)
    choice("backend", backend, BACKENDS)
    choice("optimizer", optimizer, OPTIMIZERS)
    rule = GRPO(group=group, lr=lr) if algorithm is None else algorithm
    mix = CreditMix(task, kinds, steps, anneal_steps, switch_at, switch_window, dtype, device)
    run = train_sequences(task.engine_task(), rule, steps, reward=mix, seed=seed, device=device,
                          record_every=record_every, dtype=dtype, progress=progress, backend=backend,
                          optimizer=optimizer, schedule=schedule, warmup=warmup, weight_decay=weight_decay)
    v = run.values
    return GRPORun(steps=run.steps, p1=v["p1"], p2=v["p2"], joint=v["joint"], silent=run.silent == 1,
                   sampled_joint=mix.sampled.cpu().double().numpy(), weight=mix.weight.cpu().double().numpy(),
                   reward=kinds, group=rule.samples_per_step, engine=run)


def _kinds(reward, b: int) -> np.ndarray:
    """The reward schedule of each of the b runs, checked: (B,) object array of names from :data:`REWARDS`."""
    kinds = np.asarray([reward] * b if isinstance(reward, str) else list(reward), dtype=object)
    if kinds.shape != (b,):
        raise ValueError(f"reward must be one name or a list of {b} (one per run of the task); got {len(kinds)} names")
    for k in kinds:
        choice("reward", k, REWARDS)
    return kinds


def _grpo_steps(task, kinds, steps, group, lr, seed, record_at, anneal_steps, switch_at, switch_window, dev, dtype,
                bar, draw=None):
    """The torch path of :func:`train_grpo` in the fused kernel's layout: rec (records, 3, B) and silent, sampled,
    weights (steps, B). ``draw(t)`` supplies step t's (B, G, L) uniform numbers (the kernel's stream, to compare single
    steps exactly)."""
    every = record_at[1] - record_at[0] if len(record_at) > 1 else None
    mix = CreditMix(task, kinds, steps, anneal_steps, switch_at, switch_window, dtype, dev)
    run = train_sequences(task.engine_task(), GRPO(group=group, lr=lr), steps, reward=mix, seed=seed, device=dev,
                          record_every=every or steps or 1, dtype=dtype, progress=False, backend="torch",
                          uniforms=None if draw is None else (lambda t: draw(t)[:, None]))
    rec = torch.as_tensor(np.stack([run.values[k] for k in ("p1", "p2", "joint")], 1))
    return rec, torch.as_tensor(run.silent == 1), mix.sampled, mix.weight


# ------------------------------------------------------------------------------------------------ theory


def _compositions(total: int, parts: int) -> np.ndarray:
    """All vectors of ``parts`` non-negative integers summing to ``total``, shape (M, parts)."""
    rows = [c for c in itertools.product(range(total + 1), repeat=parts - 1) if sum(c) <= total]
    return np.array([[*c, total - sum(c)] for c in rows], dtype=np.int64)


def value_weights(outcome_probs: ArrayLike, values: ArrayLike, group: int | None, eps: float = EPS) -> np.ndarray:
    """Expected GRPO advantage m_k of a sample whose outcome is k, averaged over the other G - 1 draws of its group.

    Args:
        outcome_probs: (B, K) or (K,) probabilities of K outcome classes (rows sum to 1).
        values: (K,) or (B, K) reward of each class, e.g. (0, 0.5, 1) for (none, one, both) under partial credit.
        group: G >= 2, or ``None`` for the large-group limit m_k = (values_k - mean) / std.
        eps: GRPO's epsilon.

    Returns:
        (B, K) array. The expected GRPO update is sum_k m_k grad P(outcome k) (see :func:`expected_update`).
        Exact: the other G - 1 rewards are enumerated as multinomial counts (K <= 3 keeps this small).
    """
    p = torch.as_tensor(np.atleast_2d(np.asarray(outcome_probs, dtype=float)))
    val = torch.as_tensor(np.asarray(values, dtype=float)).expand_as(p)
    b, k = p.shape
    if group is None:
        mean = (p * val).sum(-1, keepdim=True)
        sd = ((p * (val - mean) ** 2).sum(-1, keepdim=True)).sqrt()
        return ((val - mean) / (sd + eps)).numpy()
    count("group", group, minimum=2)
    if k > 3:
        raise ValueError(f"value_weights enumerates groups exactly and takes at most 3 outcome classes; got {k}")
    comp = torch.as_tensor(_compositions(group - 1, k), dtype=torch.float64)                   # (M, K)
    log_coef = torch.lgamma(torch.tensor(float(group))) - torch.lgamma(comp + 1).sum(-1)      # (M,)
    log_prob = log_coef + torch.xlogy(comp[None], p[:, None]).sum(-1)                        # (B, M)
    prob = log_prob.exp()
    out = torch.empty((b, k), dtype=torch.float64)
    for j in range(k):
        n = comp + torch.nn.functional.one_hot(torch.tensor(j), k).to(comp.dtype)            # the whole group
        mean = (n[None] * val[:, None]).sum(-1) / group                                        # (B, M)
        var = (n[None] * (val[:, None] - mean[..., None]) ** 2).sum(-1) / group
        adv = (val[:, j:j + 1] - mean) / (var.clamp_min(0).sqrt() + eps)
        out[:, j] = (prob * adv).sum(-1)
    return out.numpy()


def _outcome_values(weight) -> np.ndarray:
    """Rewards of the outcomes (none, one, both) under (1 - w) binary + w partial, shape (B, 3)."""
    w = np.atleast_1d(np.asarray(weight, dtype=float))
    return np.stack([np.zeros_like(w), 0.5 * w, np.ones_like(w)], -1)


def expected_update(task: SequenceTask, weight: ArrayLike = 0.0, group: int | None = 64,
                    theta: torch.Tensor | None = None, eps: float = EPS) -> torch.Tensor:
    """Exact expected GRPO update direction E[(1/G) sum_i A_i grad log pi(y_i)], shape (B, L, V, V).

    With outcome classes none / one / both (probabilities P_k, rewards v_k = 0, w/2, 1 for the partial-credit weight
    ``weight`` w: 0 binary, 1 partial), E[A_1 grad log pi(y_1)] = sum_k m_k grad P_k because
    E[1[y in class k] grad log pi(y)] = grad P_k; m_k from :func:`value_weights`.
    """
    theta = (task.theta0 if theta is None else theta).detach().to(torch.float64).requires_grad_(True)
    probs = task.outcome_probs(theta)
    m = value_weights(probs.detach().numpy(), _outcome_values(weight), group, eps)
    (grad,) = torch.autograd.grad((torch.as_tensor(m) * probs).sum(), theta)
    return grad


def expected_signal(task: SequenceTask, weight: ArrayLike = 0.0, group: int | None = 64,
                    theta: torch.Tensor | None = None, eps: float = EPS) -> pd.DataFrame:
    """How fast P(C1), P(C2) and P(both) change under the expected GRPO update (per unit of learning rate).

    rate(q) = <grad q, E[update]> for q = P(C1), P(C2), P(both): the first-order change of q in one GRPO step
    with lr = 1, averaged over groups. Returns a pandas DataFrame with one row per task: the three rates, the
    weights m_none, m_one, m_both and the probability that a group is silent.
    """
    import pandas as pd

    theta = (task.theta0 if theta is None else theta).detach().to(torch.float64)
    direction = expected_update(task, weight, group, theta, eps)
    th = theta.clone().requires_grad_(True)
    s = task.success(th)
    rates = {}
    for name, key in (("rate P(C1)", "p1"), ("rate P(C2)", "p2"), ("rate P(both)", "joint")):
        (g,) = torch.autograd.grad(s[key].sum(), th, retain_graph=True)
        rates[name] = (g * direction).sum((1, 2, 3)).numpy()
    probs = task.outcome_probs(theta).numpy()
    m = value_weights(probs, _outcome_values(weight), group, eps)
    frame = pd.DataFrame(rates)
    for j, name in enumerate(("m_none", "m_one", "m_both")):
        frame[name] = m[:, j]
    if group is not None:
        frame["P(silent group)"] = silent_probability(probs, weight, group)
    return frame


def sampled_update(task: SequenceTask, weight: ArrayLike = 0.0, group: int = 64, groups: int = 1000, seed: int = 0,
                   theta: torch.Tensor | None = None) -> torch.Tensor:
    """Monte Carlo average of the GRPO update direction over ``groups`` groups per task, shape (B, L, V, V).

    The same computation as one step of :func:`train_grpo` (without the step itself), in float64 on the CPU: an
    unbiased estimate of :func:`expected_update`, for checking it.
    """
    count("groups", groups, minimum=1)
    theta = (task.theta0 if theta is None else theta).to(torch.float64)
    cond = task.policy.conditionals(theta)
    gen = torch.Generator().manual_seed(random_seed("seed", seed))
    s1, s2 = torch.as_tensor(task.keyword), torch.as_tensor(task.terminator)
    w = torch.as_tensor(np.broadcast_to(np.asarray(weight, dtype=float), (task.batch_size,)).copy())[:, None, None]
    algo = GRPO(group=group, eps=EPS)
    total = torch.zeros_like(theta)
    chunk = max(1, min(groups, 2_000_000 // (task.batch_size * group * task.length)))
    done = 0
    with threads(1):
        while done < groups:
            k = min(chunk, groups - done)
            u = torch.rand((task.batch_size, k, group, task.length), generator=gen, dtype=torch.float64)
            rep = cond.repeat_interleave(k, 0)                                          # (B k, L, V, V)
            tokens = task.policy.sample(rep, u.reshape(-1, group, task.length))
            c1, c2 = _check(tokens, s1, s2)
            both, half = (c1 & c2).double(), 0.5 * (c1.double() + c2.double())
            r = ((1 - w) * both.reshape(task.batch_size, k, group) + w * half.reshape(task.batch_size, k, group))
            d = task.policy.score_direction(rep, tokens, algo.advantages(r.reshape(-1, group)))
            total += d.reshape(task.batch_size, k, *d.shape[1:]).sum(1)
            done += k
    return total / groups


#: how far outcome probabilities computed in float32 may fall below 0 or their sum miss 1
PROB_TOL = 1e-5


def silent_probability(outcome_probs: ArrayLike, weight: ArrayLike, group: int) -> np.ndarray:
    """Probability that a group of G samples has zero reward variance (all rewards equal), shape (B,).

    outcome_probs: (B, 3) probabilities of none / one / both. With weight 0 (binary credit) "none" and "one" share
    the reward 0: P = (1 - P_both)^G + P_both^G; otherwise P = P_none^G + P_one^G + P_both^G.
    """
    p = np.atleast_2d(np.asarray(outcome_probs, dtype=float))
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"outcome_probs must have shape (B, 3) (none, one, both); got shape {p.shape}")
    off = ~((p >= -PROB_TOL).all(1) & (np.abs(p.sum(1) - 1) <= PROB_TOL))
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(f"outcome_probs must be probabilities that sum to 1 per row; row {i} is {p[i].tolist()}")
    p = np.clip(p, 0.0, None)  # a float32 policy's none = 1 - p1 - p2 + both can come out as -6e-8
    w = _weights(weight)
    try:
        w = np.broadcast_to(w, p.shape[:1])
    except ValueError:
        raise ValueError(f"weight must be one number or one per row of outcome_probs ({p.shape[0]}); got shape "
                         f"{w.shape}") from None
    count("group", group, minimum=2)
    binary = (p[:, 0] + p[:, 1]) ** group + p[:, 2] ** group
    partial = (p ** group).sum(-1)
    return np.where(w == 0, binary, partial)


# ------------------------------------------------------------------------------------------------ phase diagram


def phase_diagram(p1_values: Sequence[float], p2_values: Sequence[float], *, steps: int, target: float = 0.5,
                  end_bias: float = 0.0, seeds: int = 4, group: int = 64, lr: float = 1.0, record_every: int = 5,
                  tolerance: float = 0.1, seed: int = 0, device: str = "auto", progress: bool | None = None,
                  training: dict | None = None, **task_options: Any) -> pd.DataFrame:
    """Which reward reaches joint success ``target`` first, over a grid of initial success probabilities.

    All cells x {binary, partial} x seeds train in one batch (:func:`train_grpo`, with GRPO(group, lr) and SGD, or
    with ``training``, its further keyword arguments, e.g. ``recipe("paper")`` for the paper's AdamW recipe, whose
    ``algorithm`` replaces ``group`` and ``lr``). Initial policies come from
    :func:`make_task` with ``joint=None`` and the given ``end_bias`` (so the joint success follows from p1, p2 and
    how strongly the policy puts the keyword at the end; it is reported per cell).

    Returns:
        pandas DataFrame, one row per cell: ``P(C1)``, ``P(C2)``, ``P(both)`` (initial, exact); ``steps binary`` and
        ``steps partial`` (median over seeds of the first recorded step with P(both) >= target, ``inf`` when most
        seeds never reach it within ``steps``); ``reached binary`` / ``reached partial`` (fraction of seeds that
        reach it); ``ratio`` = steps partial / steps binary (> 1: binary is faster; an ``inf`` median counts as
        ``steps``, a bound) and ``log2 ratio``; ``winner``: "binary" or "partial" when the ratio is beyond
        1 +- ``tolerance`` and the medians differ by more than ``record_every`` (or only one reward reaches the
        target), "tie" otherwise, "neither" when both medians are ``inf``; ``label``: a short text for the cell.
    """
    g1, g2 = np.meshgrid(np.asarray(p1_values, dtype=float), np.asarray(p2_values, dtype=float), indexing="ij")
    cells = np.stack([g1.ravel(), g2.ravel()], -1)                                     # (C, 2)
    task = make_task(cells[:, 0], cells[:, 1], end_bias=end_bias, **task_options)
    frame = compare_credit(task, steps=steps, target=target, seeds=seeds, group=group, lr=lr,
                           record_every=record_every, tolerance=tolerance, seed=seed, device=device, progress=progress,
                           training=training)
    frame["P(C1)"], frame["P(C2)"] = cells[:, 0], cells[:, 1]
    return frame


def compare_credit(task: SequenceTask, *, steps: int, target: float = 0.5, seeds: int = 4, group: int = 64,
                   lr: float = 1.0, record_every: int = 5, tolerance: float = 0.1, seed: int = 0, device: str = "auto",
                   progress: bool | None = None, training: dict | None = None) -> pd.DataFrame:
    """Binary against partial credit from each initial policy of ``task``: the rows of :func:`phase_diagram` (which
    calls it on a grid), here for any tasks, e.g. the three regimes. ``P(C1)``, ``P(C2)``, ``P(both)`` are the rows'
    exact initial probabilities; the other arguments and columns are :func:`phase_diagram`'s."""
    import pandas as pd

    count("seeds", seeds, minimum=1)
    if not 0 < target < 1:
        raise ValueError(f"target must lie strictly between 0 and 1; got {target!r}")
    n_cells = task.batch_size
    start = task.describe()
    rewards = ("binary", "partial")
    order = np.arange(n_cells).repeat(len(rewards) * seeds)                         # cell of each run
    kinds = np.tile(np.repeat(rewards, seeds), n_cells)
    run = train_grpo(task.rows(order), kinds, steps, group=group, lr=lr, seed=seed, device=device,
                     record_every=record_every, progress=progress, **(training or {}))
    hit = run.steps_to(target).astype(float)
    hit[hit < 0] = np.inf
    hit = hit.reshape(n_cells, len(rewards), seeds)
    med = np.median(hit, -1)
    reached = np.isfinite(hit).mean(-1)
    verdict = [_verdict(tb, tp, steps, record_every, tolerance) for tb, tp in med]
    return pd.DataFrame({"P(C1)": start["P(C1)"].to_numpy(), "P(C2)": start["P(C2)"].to_numpy(),
                         "P(both)": start["P(both)"].to_numpy(),
                         "steps binary": med[:, 0], "steps partial": med[:, 1], "reached binary": reached[:, 0],
                         "reached partial": reached[:, 1], "ratio": [v[0] for v in verdict],
                         "log2 ratio": [v[1] for v in verdict], "winner": [v[2] for v in verdict],
                         "label": [v[3] for v in verdict]})


def _verdict(t_binary: float, t_partial: float, horizon: int, resolution: int, tolerance: float):
    """(ratio, log2 ratio, winner, label) of one cell from the median steps to target of the two rewards.

    A median of ``inf`` (not reached within the horizon) counts as the horizon, so the ratio is then a bound and
    the label says which reward alone reached the target ("B only", "P only"). Both ``inf``: winner "neither",
    label "none", ratio and log2 ratio NaN. Otherwise the label is the winner's initial and the factor, e.g. "B 1.4x".
    """
    if math.isinf(t_binary) and math.isinf(t_partial):
        return math.nan, math.nan, "neither", "none"
    tb, tp = max(min(t_binary, horizon), 1), max(min(t_partial, horizon), 1)    # both 0 only if target met at start
    bound = math.isinf(t_binary) or math.isinf(t_partial)
    ratio = tp / tb
    if not bound and (abs(tp - tb) <= resolution or 1 / (1 + tolerance) <= ratio <= 1 + tolerance):
        return ratio, 0.0, "tie", "tie"
    winner = "binary" if ratio > 1 else "partial"
    size = max(ratio, 1 / ratio)
    label = f"{winner[0].upper()} only" if bound else f"{winner[0].upper()} {size:.2g}x"
    return ratio, math.log2(ratio), winner, label


# ------------------------------------------------------------------------------------------------ summaries


def band_frame(run: GRPORun, labels: Sequence[str] | np.ndarray, quantiles: Sequence[float] = (0.1, 0.5, 0.9),
               every: int = 1) -> pd.DataFrame:
    """Quantiles over the runs that share a (label, reward), per recorded step: a tidy DataFrame with columns
    step, label, reward, quantity (P(C1), P(C2), P(both)), low, median, high."""
    frame = run.to_frame(labels, every=every).melt(id_vars=["step", "run", "reward", "label"],
                                                   value_vars=["P(C1)", "P(C2)", "P(both)"], var_name="quantity")
    grouped = frame.groupby(["step", "label", "reward", "quantity"], sort=False)["value"]
    out = grouped.quantile(list(quantiles)).unstack()
    out.columns = ["low", "median", "high"]
    return out.reset_index()


def silent_frame(run: GRPORun, labels: Sequence[str] | np.ndarray, window: int = 10) -> pd.DataFrame:
    """Fraction of zero-variance groups per step, averaged over the runs of each (label, reward): measured (over
    the last ``window`` steps) and expected (exact, :meth:`GRPORun.expected_silent`, at the recorded steps).
    Tidy DataFrame: step, label, reward, source ("measured" / "exact"), silent."""
    import pandas as pd

    labels = np.asarray(labels, dtype=object)
    keys = sorted(set(zip(labels, run.reward)), key=lambda k: (str(k[0]), REWARDS.index(k[1])))
    measured = run.silent_fraction(window)
    exact = run.expected_silent()
    parts = []
    for label, reward in keys:
        m = (labels == label) & (run.reward == reward)
        steps = np.arange(1, len(measured) + 1) - 1
        parts.append(pd.DataFrame({"step": steps, "label": label, "reward": reward, "source": "measured",
                                   "silent": measured[:, m].mean(1)}))
        parts.append(pd.DataFrame({"step": run.steps, "label": label, "reward": reward, "source": "exact",
                                   "silent": exact[:, m].mean(1)}))
    return pd.concat(parts, ignore_index=True)


def summary_table(run: GRPORun, labels: Sequence[str] | np.ndarray, target: float = 0.5, early: int = 100
                  ) -> pd.DataFrame:
    """One row per (label, reward): the median and the 10%-90% range over runs of the steps to P(both) >= target
    (``inf`` = not reached within the horizon), the fraction of runs that reach it, the median final P(C1), P(C2)
    and P(both), and the fraction of silent groups over the first ``early`` steps and over all steps."""
    import pandas as pd

    labels = np.asarray(labels, dtype=object)
    hit = run.steps_to(target).astype(float)
    hit[hit < 0] = np.inf
    rows = []
    for label in dict.fromkeys(labels):
        for reward in [r for r in REWARDS if ((labels == label) & (run.reward == r)).any()]:
            m = (labels == label) & (run.reward == reward)
            h = hit[m]
            rows.append({"label": label, "reward": reward, "steps to target (median)": float(np.median(h)),
                         "steps (10%)": float(np.quantile(h, 0.1, method="inverted_cdf")),
                         "steps (90%)": float(np.quantile(h, 0.9, method="inverted_cdf")),
                         "reached": float(np.isfinite(h).mean()),
                         "final P(C1)": float(np.median(run.p1[-1, m])), "final P(C2)": float(np.median(run.p2[-1, m])),
                         "final P(both)": float(np.median(run.joint[-1, m])),
                         f"silent (first {early} steps)": float(run.silent[:early, m].mean()),
                         "silent (all steps)": float(run.silent[:, m].mean())})
    return pd.DataFrame(rows)
