"""Reward-model metrics (Acc, Acc-W, HAcc, HAcc-W) and the correlation helpers of the evaluation study.

Definitions follow section 4 of Shang et al. (2026), "When Errors Can Be Beneficial". A *pair* p is a preference
pair (y+, y-) of one prompt x with
r_G(y+) > r_G(y-); all pairs of all prompts are flattened into one axis of length P. With r_P the proxy reward:

    Acc    = mean_p 1[r_P(y+) > r_P(y-)]                                  (strict: a proxy tie is an error)
    HAcc   = mean_p 1[r_P(y+) > r_P(y-)  or  r_P(y-) < V_hat_P(x)]        (harmless mis-rankings are forgiven)
    Acc-W  = sum_p w_p 1[r_P(y+) > r_P(y-)]
    HAcc-W = sum_p w_p 1[r_P(y+) > r_P(y-)  or  r_P(y-) < V_hat_P(x)]
    w_p    = exp(s_p) / sum_q exp(s_q),   s_p = l(y+) + l(y-),   l(y) = log pi_0(y)  (or log pi_0(y) / |y|)

so w_p is proportional to pi_0(y+) pi_0(y-), normalised over all pairs of all prompts together. The one-vs-many
forms (``*_1vk``) compare one chosen response with K rejected ones: the chosen one must beat the best rejected one,
a mis-ranking is forgiven when every rejected reward lies below V_hat_P(x), and s = l(y+) + sum_k l(y_k-).

Inputs may be lists, numpy arrays or torch tensors (on any device); results are Python floats. Every check raises a
one-line ``ValueError`` that names the argument and the bad value or shape.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Callable, NamedTuple, Union

import numpy as np

from ._checks import count, non_negative, random_seed

ArrayLike = Any
"""A list, numpy array or torch tensor."""

__all__ = [
    "PreferencePairs",
    "TIE_CONVENTIONS",
    "acc",
    "acc_1vk",
    "acc_w",
    "acc_w_1vk",
    "as_vector",
    "bootstrap_ci",
    "group_weights",
    "hacc",
    "hacc_1vk",
    "hacc_w",
    "hacc_w_1vk",
    "harm_free",
    "kendall",
    "LogMass",
    "pair_blocks",
    "pair_weights",
    "pearson",
    "preference_pairs",
    "spearman",
    "weight_scale",
]


# ----------------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------------


def _numpy(x: ArrayLike, name: str) -> np.ndarray:
    """numpy view of x; torch tensors are detached and moved to the CPU first. A ragged list (rows of different
    lengths) is a ValueError naming ``name``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except ValueError:  # numpy: "setting an array element with a sequence ... inhomogeneous shape"
        raise ValueError(f"{name} must be a flat list or 1-D array of numbers; got a ragged list "
                         f"{_short(x)}") from None


def _short(value: object) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _float(a: np.ndarray, name: str, given: object = None) -> np.ndarray:
    """a as floats; text (even "1.0"), complex numbers and integers beyond the float range are refused by name.
    ``given``: the list a was made from, whose entries the message shows (numpy turns [1.0, "x"] into text)."""
    if a.dtype.kind in "USOc":
        entries = given if isinstance(given, (list, tuple)) and len(given) == a.size else a.flat
        for i, v in enumerate(entries):
            v = v.item() if isinstance(v, np.generic) else v
            if isinstance(v, (str, bytes, complex)):
                at = np.unravel_index(i, a.shape)
                kind = "complex number" if isinstance(v, complex) else "text"
                raise ValueError(f"{name} must hold real numbers; got {kind} {_short(v)} at index "
                                 f"{at[0] if len(at) == 1 else tuple(int(j) for j in at)}")
    try:
        return a.astype(float)
    except OverflowError:
        raise ValueError(f"{name} holds an integer beyond the float range (about 1.8e308)") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric; got dtype {a.dtype}") from None


def _check_finite(a: np.ndarray, name: str, allow_nan: bool = False) -> None:
    bad = ~np.isfinite(a)
    if allow_nan:
        bad &= ~np.isnan(a)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        at_text = at[0] if len(at) == 1 else at
        raise ValueError(f"{name} must be finite; got {a[at]} at index {at_text}")


def as_vector(x: ArrayLike, name: str) -> np.ndarray:
    """x as a non-empty, finite, 1-D float array; ``name`` is the argument the error message names. The input check
    of every metric, shared with the studies that compute metrics on their own arrays."""
    a = _numpy(x, name)
    if a.ndim == 0:
        raise ValueError(f"{name} must be 1-D (one entry per pair or response); got the scalar {_short(x)}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty; need at least one entry")
    a = _float(a, name, x)
    _check_finite(a, name)
    return a


def _same_length(ref: np.ndarray, ref_name: str, other: np.ndarray, other_name: str) -> None:
    if other.shape[0] != ref.shape[0]:
        raise ValueError(f"{other_name} has length {other.shape[0]} but {ref_name} has length {ref.shape[0]}")


def _check_positive(a: np.ndarray, name: str) -> None:
    bad = a <= 0  # NaN padding compares False and passes
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be positive (tokens); got {a[at]} at index {at[0] if len(at) == 1 else at}")


def _both_or_neither(len_chosen: ArrayLike | None, len_rejected: ArrayLike | None) -> None:
    if (len_chosen is None) != (len_rejected is None):
        missing = "len_rejected" if len_rejected is None else "len_chosen"
        raise ValueError(f"{missing} is None; give len_chosen and len_rejected together or neither")


def _ragged(x: ArrayLike, name: str) -> np.ndarray:
    """Rejected responses of P groups as a (P, K) float array, NaN marking missing entries.

    Accepts a (P, K) array with NaN padding, a list of P 1-D arrays of any lengths, or a 1-D array (K = 1).
    Infinities are refused and every group must hold at least one value. Trailing all-NaN columns are dropped, so two
    inputs with the same groups have the same shape however they were padded.
    """
    if isinstance(x, (list, tuple)) and any(np.ndim(_numpy(row, f"{name}[{i}]")) >= 1 for i, row in enumerate(x)):
        rows = []
        for i, row in enumerate(x):
            r = _numpy(row, f"{name}[{i}]")
            if r.ndim > 1:
                raise ValueError(f"{name}[{i}] must be 1-D; got shape {r.shape}")
            rows.append(_float(np.atleast_1d(r), f"{name}[{i}]", row))
        a = np.full((len(rows), max(r.size for r in rows)), np.nan)
        for i, r in enumerate(rows):
            a[i, : r.size] = r
    else:
        a = _numpy(x, name)
        if a.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape (P,) or (P, K), or be a list of 1-D arrays; got shape {a.shape}")
        a = _float(a, name) if a.ndim == 2 else _float(a, name)[:, None]
    if a.size == 0:
        raise ValueError(f"{name} is empty; got shape {a.shape}")
    _check_finite(a, name, allow_nan=True)
    present = ~np.isnan(a)
    empty = ~present.any(axis=1)
    if empty.any():
        raise ValueError(f"{name} group {int(np.flatnonzero(empty)[0])} has no value (all NaN); need at least one")
    width = int(np.flatnonzero(present.any(axis=0))[-1]) + 1
    return a[:, :width]


def _same_layout(ref: np.ndarray, ref_name: str, other: np.ndarray, other_name: str) -> None:
    """Both (P, K) arrays hold values at the same places (ragged groups of the same sizes)."""
    _same_length(ref, ref_name, other, other_name)
    width = max(ref.shape[1], other.shape[1])
    ref_has, other_has = (np.pad(~np.isnan(a), ((0, 0), (0, width - a.shape[1]))) for a in (ref, other))
    differs = (ref_has != other_has).any(axis=1)
    if differs.any():
        g = int(np.flatnonzero(differs)[0])
        raise ValueError(
            f"{other_name} group {g} has values at positions {np.flatnonzero(other_has[g]).tolist()} but {ref_name} "
            f"has them at {np.flatnonzero(ref_has[g]).tolist()}"
        )


# ----------------------------------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------------------------------


class LogMass:
    """Sums of exp(c t_p) over scores t added in blocks, shifted by the running maximum (log-sum-exp in float64).

    The weights of Acc-W and HAcc-W are w_p = exp(s_p) / sum_q exp(s_q); the scores s_p (sums of log-probabilities,
    down to -1.8e308 each) are passed divided by a power of two c (t = s / c, exact), so that no sum overflows to
    -inf even when s itself would. ``shares()`` gives, for each boolean mask passed to ``add``, sum_{p in mask} w_p,
    clipped to [0, 1] against rounding. Memory: one block at a time, so pairs can be streamed.
    """

    def __init__(self, scale: float, n_masks: int):
        self.scale, self.top, self.total, self.parts = float(scale), -math.inf, 0.0, np.zeros(n_masks)

    def add(self, t: np.ndarray, masks: Iterable[np.ndarray]) -> LogMass:
        if t.size == 0:
            return self
        m = float(t.max())
        if m > self.top:  # rescale what was summed so far to the new maximum
            factor = 0.0 if self.top == -math.inf else math.exp(self.scale * (self.top - m))  # -inf * ...: 0
            self.total, self.parts, self.top = self.total * factor, self.parts * factor, m
        with np.errstate(over="ignore"):  # below the float range: -inf, weight exactly 0
            e = np.exp(self.scale * (t - self.top))  # in [0, 1]; the maximum gives exactly 1
        self.total += float(e.sum())
        self.parts += [float(e[k].sum()) for k in masks]
        return self

    def shares(self) -> np.ndarray:
        return np.minimum(1.0, self.parts / self.total)


def weight_scale(terms: int) -> int:
    """The power of two c >= terms: a sum of ``terms`` values >= -1.8e308, each divided by c, stays finite (the
    scaling of the weights' log-sum-exp, exact in floating point; shared with rm-report's streamed weights)."""
    return 1 << max(1, (terms - 1).bit_length())


def _weights(t: np.ndarray, scale: int) -> np.ndarray:
    """softmax(scale * t), stable for any finite t (see :class:`LogMass`)."""
    with np.errstate(over="ignore"):  # scale * (t - max) below the float range is -inf: weight exactly 0
        e = np.exp(scale * (t - t.max()))
    return e / e.sum()


def _weighted(w: np.ndarray, ok: np.ndarray) -> float:
    """sum_p w_p 1[ok_p], clipped to 1 against rounding (the weights sum to 1 within a few ulp)."""
    return min(1.0, float(np.sum(w * ok)))


def _response_logp(logp: ArrayLike, length: ArrayLike | None, name: str, len_name: str) -> np.ndarray:
    """l(y) = log pi_0(y), or log pi_0(y) / |y| when lengths (in tokens) are given; shape (P,)."""
    lp = as_vector(logp, name)
    if length is None:
        return lp
    n = as_vector(length, len_name)
    _same_length(lp, name, n, len_name)
    _check_positive(n, len_name)
    return lp / n


def pair_weights(
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
) -> np.ndarray:
    """Pair weights w_p proportional to pi_0(y+) pi_0(y-), normalised over all pairs of all prompts.

    w_p = softmax_p( l(y+_p) + l(y-_p) ),  l(y) = log pi_0(y)   or, with lengths, l(y) = log pi_0(y) / |y|.

    Shapes: every argument (P,); lengths in tokens, > 0. Returns (P,) non-negative weights summing to 1, computed with
    log-sum-exp, so log-probabilities of -1000 are fine.

    >>> pair_weights([-1000.0, -1001.0], [-1000.0, -1000.0]).round(4)
    array([0.7311, 0.2689])
    """
    _both_or_neither(len_chosen, len_rejected)
    lc = _response_logp(logp_chosen, len_chosen, "logp_chosen", "len_chosen")
    lr = _response_logp(logp_rejected, len_rejected, "logp_rejected", "len_rejected")
    _same_length(lc, "logp_chosen", lr, "logp_rejected")
    return _weights(*_pair_scores(lc, lr))


def _pair_scores(lc: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, int]:
    """(t, c) with c t = l(y+) + l(y-), computed without overflow."""
    return lc / 2 + lr / 2, 2


def group_weights(
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
) -> np.ndarray:
    """One-vs-many group weights, normalised over all groups: w_g = softmax_g( l(y+_g) + sum_k l(y-_{g,k}) ).

    l(y) as in :func:`pair_weights`. Shapes: logp_chosen and len_chosen (P,); logp_rejected and len_rejected (P, K)
    with NaN for missing entries, or a list of P 1-D arrays (ragged groups); the two must have the same layout.

    >>> group_weights([-1.0, -1.0], [[-1.0, -1.0], [-1.0, np.nan]]).round(4)
    array([0.2689, 0.7311])
    """
    _both_or_neither(len_chosen, len_rejected)
    lc = _response_logp(logp_chosen, len_chosen, "logp_chosen", "len_chosen")
    lr = _ragged(logp_rejected, "logp_rejected")
    _same_length(lc, "logp_chosen", lr, "logp_rejected")
    if len_rejected is not None:
        n = _ragged(len_rejected, "len_rejected")
        _same_layout(lr, "logp_rejected", n, "len_rejected")
        _check_positive(n, "len_rejected")
        lr = lr / n
    return _weights(*_group_scores(lc, lr))


def _group_scores(lc: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, int]:
    """(t, c) with c t = l(y+) + sum_k l(y_k-) (lr: (P, K) with NaN padding), computed without overflow."""
    c = weight_scale(lr.shape[1] + 1)
    return lc / c + np.nansum(lr / c, axis=1), c


# ----------------------------------------------------------------------------------------------------------------------
# Pairwise metrics
# ----------------------------------------------------------------------------------------------------------------------


def _pair_rewards(r_chosen: ArrayLike, r_rejected: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    rc, rr = as_vector(r_chosen, "r_chosen"), as_vector(r_rejected, "r_rejected")
    _same_length(rc, "r_chosen", rr, "r_rejected")
    return rc, rr


def _v_hat(v_hat: ArrayLike, rc: np.ndarray) -> np.ndarray:
    v = as_vector(v_hat, "v_hat")
    _same_length(rc, "r_chosen", v, "v_hat")
    return v


def harm_free(rc: np.ndarray, r_worst_rival: np.ndarray, v: np.ndarray) -> np.ndarray:
    """1[r+ > r- or r- < V_hat]: ranked right, or the wrongly favoured output lies strictly below the policy mean
    (HAcc's indicator, elementwise over pairs; shared with rm-report's streamed pairs)."""
    return (rc > r_worst_rival) | (r_worst_rival < v)


def acc(r_chosen: ArrayLike, r_rejected: ArrayLike) -> float:
    """Acc = mean_p 1[r_P(y+_p) > r_P(y-_p)] over all P pairs; a proxy tie counts as an error.

    Shapes: r_chosen (P,), r_rejected (P,): proxy rewards of the chosen and rejected response of each pair.

    >>> acc([1.0, 2.0, 0.0], [0.0, 2.0, 1.0])
    0.3333333333333333
    """
    rc, rr = _pair_rewards(r_chosen, r_rejected)
    return float(np.mean(rc > rr))


def acc_w(
    r_chosen: ArrayLike,
    r_rejected: ArrayLike,
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
) -> float:
    """Acc-W = sum_p w_p 1[r_P(y+_p) > r_P(y-_p)],  w_p proportional to pi_0(y+_p) pi_0(y-_p) (see pair_weights).

    Shapes: all (P,). logp_*: log pi_0 of each response under the initial policy (summed over tokens); len_*: optional
    lengths in tokens, which switch on the length-normalised weights log pi_0(y) / |y|.

    >>> acc_w([1.0, 0.0], [0.0, 1.0], logp_chosen=[-1.0, -2.0], logp_rejected=[-1.0, -1.0])  # e / (e + 1)
    0.7310585786300049
    """
    rc, rr = _pair_rewards(r_chosen, r_rejected)
    w = pair_weights(logp_chosen, logp_rejected, len_chosen, len_rejected)
    _same_length(rc, "r_chosen", w, "logp_chosen")
    return _weighted(w, rc > rr)


def hacc(r_chosen: ArrayLike, r_rejected: ArrayLike, v_hat: ArrayLike) -> float:
    """HAcc = mean_p 1[r_P(y+_p) > r_P(y-_p)  or  r_P(y-_p) < V_hat_P(x_p)].

    A mis-ranking is forgiven only when the wrongly favoured response scores strictly below V_hat_P of its prompt (the
    initial policy's expected proxy reward): such an output does not attract probability. r_P(y-) == V_hat is not
    forgiven. Shapes: all (P,); v_hat holds, for each pair, the V_hat_P of that pair's prompt.

    >>> hacc([1.0, 0.0, 0.0], [0.0, 0.5, 0.2], v_hat=[0.5, 0.5, 0.5])  # pair 2 forgiven, pair 1 (boundary) not
    0.6666666666666666
    """
    rc, rr = _pair_rewards(r_chosen, r_rejected)
    return float(np.mean(harm_free(rc, rr, _v_hat(v_hat, rc))))


def hacc_w(
    r_chosen: ArrayLike,
    r_rejected: ArrayLike,
    v_hat: ArrayLike,
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
) -> float:
    """HAcc-W = sum_p w_p 1[r_P(y+_p) > r_P(y-_p)  or  r_P(y-_p) < V_hat_P(x_p)], with the weights of acc_w.

    Shapes: all (P,).

    >>> hacc_w([1.0, 0.0], [0.0, 1.0], [0.0, 2.0], logp_chosen=[-1.0, -2.0], logp_rejected=[-1.0, -1.0])
    1.0
    """
    rc, rr = _pair_rewards(r_chosen, r_rejected)
    v = _v_hat(v_hat, rc)
    w = pair_weights(logp_chosen, logp_rejected, len_chosen, len_rejected)
    _same_length(rc, "r_chosen", w, "logp_chosen")
    return _weighted(w, harm_free(rc, rr, v))


# ----------------------------------------------------------------------------------------------------------------------
# One-vs-many metrics
# ----------------------------------------------------------------------------------------------------------------------


def _group_rewards(r_chosen: ArrayLike, r_rejected: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r+ of shape (P,), max_k r_k- of shape (P,), rejected rewards of shape (P, K) with NaN padding)."""
    rc, rr = as_vector(r_chosen, "r_chosen"), _ragged(r_rejected, "r_rejected")
    _same_length(rc, "r_chosen", rr, "r_rejected")
    return rc, np.nanmax(rr, axis=1), rr


def _group_weights_matching(
    rr: np.ndarray,
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None,
    len_rejected: ArrayLike | None,
) -> np.ndarray:
    _same_layout(rr, "r_rejected", _ragged(logp_rejected, "logp_rejected"), "logp_rejected")
    w = group_weights(logp_chosen, logp_rejected, len_chosen, len_rejected)
    _same_length(rr, "r_rejected", w, "logp_chosen")
    return w


def acc_1vk(r_chosen: ArrayLike, r_rejected: ArrayLike) -> float:
    """Acc_1vK = mean_g 1[r_P(y+_g) > max_k r_P(y-_{g,k})]; a tie with the best rejected response is an error.

    Shapes: r_chosen (P,); r_rejected (P, K) with NaN marking missing entries, or a list of P 1-D arrays (groups may
    have different sizes). With K = 1 this is :func:`acc`.

    >>> acc_1vk([1.0, 0.0], [[0.0, 0.5], [0.3, np.nan]])
    0.5
    """
    rc, rmax, _ = _group_rewards(r_chosen, r_rejected)
    return float(np.mean(rc > rmax))


def acc_w_1vk(
    r_chosen: ArrayLike,
    r_rejected: ArrayLike,
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
) -> float:
    """Acc-W_1vK = sum_g w_g 1[r_P(y+_g) > max_k r_P(y-_{g,k})],  w_g from :func:`group_weights`.

    Shapes: r_chosen, logp_chosen, len_chosen (P,); r_rejected, logp_rejected, len_rejected (P, K) with NaN padding or
    lists of 1-D arrays, all with the same missing entries.

    >>> acc_w_1vk([1.0, 0.0], [[0.0, 0.5], [0.3]], [-1.0, -1.0], [[-1.0, -1.0], [-1.0]])  # weights 1/(1+e), e/(1+e)
    0.2689414213699951
    """
    rc, rmax, rr = _group_rewards(r_chosen, r_rejected)
    w = _group_weights_matching(rr, logp_chosen, logp_rejected, len_chosen, len_rejected)
    return _weighted(w, rc > rmax)


def hacc_1vk(r_chosen: ArrayLike, r_rejected: ArrayLike, v_hat: ArrayLike) -> float:
    """HAcc_1vK = mean_g 1[r_P(y+_g) > max_k r_P(y-_{g,k})  or  max_k r_P(y-_{g,k}) < V_hat_P(x_g)].

    The second clause forgives a group whose every rejected response scores strictly below V_hat_P of its prompt.
    Shapes: r_chosen, v_hat (P,); r_rejected (P, K) with NaN padding or a list of 1-D arrays.

    >>> hacc_1vk([1.0, 0.0], [[0.0, 0.5], [0.3]], v_hat=[0.0, 0.4])
    1.0
    """
    rc, rmax, _ = _group_rewards(r_chosen, r_rejected)
    return float(np.mean(harm_free(rc, rmax, _v_hat(v_hat, rc))))


def hacc_w_1vk(
    r_chosen: ArrayLike,
    r_rejected: ArrayLike,
    v_hat: ArrayLike,
    logp_chosen: ArrayLike,
    logp_rejected: ArrayLike,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
) -> float:
    """HAcc-W_1vK: the HAcc_1vK indicator weighted by :func:`group_weights`. Shapes as in :func:`acc_w_1vk`.

    >>> hacc_w_1vk([1.0, 0.0], [[0.0, 0.5], [0.3]], [0.0, 0.3], [-1.0, -1.0], [[-1.0, -1.0], [-1.0]])
    0.2689414213699951
    """
    rc, rmax, rr = _group_rewards(r_chosen, r_rejected)
    v = _v_hat(v_hat, rc)
    w = _group_weights_matching(rr, logp_chosen, logp_rejected, len_chosen, len_rejected)
    return _weighted(w, harm_free(rc, rmax, v))


# ----------------------------------------------------------------------------------------------------------------------
# Building preference pairs
# ----------------------------------------------------------------------------------------------------------------------


class PreferencePairs(NamedTuple):
    """Pairs built by :func:`preference_pairs`: indices into the per-response inputs, and the number of pairs tied in
    the ground truth (dropped with ``tie="drop"``, among the pairs with ``tie="keep"``)."""

    chosen: np.ndarray
    rejected: np.ndarray
    n_ties: int


#: the conventions for pairs tied in the ground truth (see :func:`preference_pairs`)
TIE_CONVENTIONS = ("drop", "keep")


def preference_pairs(prompt_ids: ArrayLike, scores: ArrayLike, tol: float = 0.0, tie: str = "drop"
                     ) -> PreferencePairs:
    """All preference pairs within each prompt, ordered by the ground-truth score; ties dropped or kept, and counted.

    For every prompt and every two of its responses i, j with |r_G(i) - r_G(j)| > tol, one pair (chosen, rejected) with
    r_G(chosen) > r_G(rejected). Pairs with |r_G(i) - r_G(j)| <= tol are ties in the ground truth, counted in
    ``n_ties``, and ``tie`` says what happens to them:

    - ``"drop"`` (default): not returned. A tie carries no ground-truth preference, so no reward model can be right
      or wrong on it; this is how the paper treats its offline pairs, and what every study of the book uses.
    - ``"keep"``: returned, oriented by position: the response that comes first in the input is chosen. This is the
      official evaluation's treatment of on-policy pairs (ties kept, oriented arbitrarily), made deterministic; with
      samples in the order they were drawn, position carries no information about the responses. Acc then counts a
      tied pair right exactly when r_P(first) > r_P(second); two identical responses are a proxy tie, an error for
      every reward model.

    Ten responses to a prompt give up to 45 pairs (exactly 45 with ``tie="keep"``). Prompts appear in order of first
    appearance, and pairs within a prompt in the order of the responses' positions.

    Shapes: prompt_ids (M,) of any hashable values, compared as Python values (``"1"`` and ``1`` are two prompts;
    give a list to keep them apart, as a numpy array holds one type), scores (M,). Returns
    ``PreferencePairs(chosen, rejected, n_ties)``
    with index arrays of shape (P,) into the inputs; e.g. ``r_proxy[pairs.chosen]`` gives the chosen rewards.

    >>> pairs = preference_pairs(["a", "a", "a", "b", "b"], [1.0, 0.0, 1.0, 2.0, 3.0])
    >>> pairs.chosen.tolist(), pairs.rejected.tolist(), pairs.n_ties
    ([0, 2, 4], [1, 1, 3], 1)
    >>> pairs = preference_pairs(["a", "a", "a", "b", "b"], [1.0, 0.0, 1.0, 2.0, 3.0], tie="keep")
    >>> pairs.chosen.tolist(), pairs.rejected.tolist(), pairs.n_ties
    ([0, 0, 2, 4], [1, 2, 1, 3], 1)
    """
    blocks = list(pair_blocks(prompt_ids, scores, tol, tie=tie))
    return PreferencePairs(np.concatenate([b.chosen for b in blocks]), np.concatenate([b.rejected for b in blocks]),
                           sum(b.n_ties for b in blocks))


#: candidate pairs per block of :func:`pair_blocks` (about 50 MB of index and score arrays)
PAIR_BLOCK = 1 << 20


def pair_blocks(prompt_ids: ArrayLike, scores: ArrayLike, tol: float = 0.0,
                block: int = PAIR_BLOCK, tie: str = "drop") -> Iterator[PreferencePairs]:
    """The pairs of :func:`preference_pairs` (same ``tol`` and ``tie``), in the same order, as blocks of at most about
    ``block`` candidate pairs (``n_ties``: the ties of that block), so that memory stays linear in the responses
    however many pairs the prompts give (12,000 responses to one prompt give 72 million). Prompt ids compare as
    Python values: ``"1"`` and ``1`` are two prompts. The first block is checked before any is yielded; at least one
    block is yielded.
    """
    if isinstance(prompt_ids, (list, tuple)) and all(np.ndim(k) == 0 for k in prompt_ids):
        ids = np.empty(len(prompt_ids), dtype=object)  # keep Python values: np.asarray(["1", 1]) makes both "1"
        ids[:] = prompt_ids
    else:
        ids = _numpy(prompt_ids, "prompt_ids")
    if ids.ndim == 0:
        raise ValueError(f"prompt_ids must be 1-D (one id per response); got the scalar {_short(prompt_ids)}")
    if ids.ndim != 1:
        raise ValueError(f"prompt_ids must be 1-D; got shape {ids.shape}")
    if ids.size == 0:
        raise ValueError("prompt_ids is empty; need at least one response")
    s = as_vector(scores, "scores")
    _same_length(ids, "prompt_ids", s, "scores")
    tol = non_negative("tol", tol)
    block = count("block", block, minimum=1)
    if not isinstance(tie, str) or tie not in TIE_CONVENTIONS:
        raise ValueError(f"tie must be one of {', '.join(map(repr, TIE_CONVENTIONS))}; got {tie!r}")
    return _pair_blocks(_prompt_codes(ids), s, tol, block, tie == "keep")


def _prompt_codes(ids: np.ndarray) -> np.ndarray:
    """Each response's prompt as 0, 1, ... in order of first appearance; ids compare as Python values. An id that
    cannot be compared so (a list, a dict) or a NaN (not equal to itself: each NaN would be a prompt of its own) is a
    ValueError naming its index."""
    codes: dict = {}
    values = ids.tolist()
    try:
        group = np.fromiter((codes.setdefault(k, len(codes)) for k in values), dtype=np.intp, count=ids.size)
    except TypeError:
        i = next(i for i, k in enumerate(values) if not _hashable(k))
        raise ValueError(f"prompt_ids must hold hashable ids such as strings or integers; got "
                         f"{type(values[i]).__name__} {_short(values[i])} at index {i}") from None
    for i, k in enumerate(values):
        if k != k:  # NaN
            raise ValueError(f"prompt_ids must not hold NaN (a missing prompt id?); got {_short(k)} at index {i}")
    return group


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _pair_blocks(group: np.ndarray, s: np.ndarray, tol: float, block: int, keep_ties: bool
                 ) -> Iterator[PreferencePairs]:
    order = np.argsort(group, kind="stable")  # by prompt (first appearance), then position
    end = np.repeat(np.cumsum(np.bincount(group)), np.bincount(group))  # per row of `order`: its prompt's end
    rows = np.arange(group.size)
    partners = end - 1 - rows  # row r pairs with rows r+1 .. end-1 of its prompt
    done = np.cumsum(partners)
    a = 0
    while a < group.size:
        b = max(a + 1, int(np.searchsorted(done, (done[a - 1] if a else 0) + block, side="right")))
        k = partners[a:b]
        first = np.repeat(rows[a:b] + 1 - (np.cumsum(k) - k), k)
        i = np.repeat(order[a:b], k)
        j = order[first + np.arange(first.size)]
        diff = s[i] - s[j]  # i comes before j in the input
        tie = np.abs(diff) <= tol
        i_chosen = (diff > 0) | tie  # a tie, if kept, is oriented by position: the earlier response chosen
        keep = slice(None) if keep_ties else ~tie
        yield PreferencePairs(np.where(i_chosen, i, j)[keep].astype(np.intp),
                              np.where(i_chosen, j, i)[keep].astype(np.intp), int(tie.sum()))
        a = b


# ----------------------------------------------------------------------------------------------------------------------
# Correlations
# ----------------------------------------------------------------------------------------------------------------------


def _xy(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_vector(x, "x"), as_vector(y, "y")
    _same_length(x, "x", y, "y")
    return x, y


def _constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a[0]))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if _constant(x) or _constant(y):
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    return float(np.clip(xc @ yc / np.sqrt((xc @ xc) * (yc @ yc)), -1.0, 1.0))


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n; tied values share the average of the ranks they span."""
    order = np.argsort(a, kind="stable")
    new_value = np.r_[True, a[order][1:] != a[order][:-1]]
    starts = np.flatnonzero(new_value)
    sizes = np.diff(np.r_[starts, a.size])
    ranks = np.empty(a.size)
    ranks[order] = (starts + (sizes + 1) / 2)[np.cumsum(new_value) - 1]
    return ranks


def _tied_pairs(a: np.ndarray) -> int:
    _, counts = np.unique(a, return_counts=True)
    return int(np.sum(counts * (counts - 1) // 2))


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson correlation sum_i (x_i - mean x)(y_i - mean y) / sqrt(sum_i (x_i - mean x)^2 sum_i (y_i - mean y)^2).

    Shapes: x, y (n,). Returns nan when x or y is constant (including n = 1): the correlation is undefined there.

    >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
    0.9934
    """
    return _pearson(*_xy(x, y))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman correlation: the Pearson correlation of the ranks, tied values taking their average rank.

    Shapes: x, y (n,). Returns nan when x or y is constant.

    >>> round(spearman([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0]), 4)
    0.9487
    """
    x, y = _xy(x, y)
    return _pearson(_average_ranks(x), _average_ranks(y))


def kendall(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall's tau-b, which accounts for ties:  tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2)).

    C, D: concordant and discordant pairs, n0 = n(n-1)/2, n1 and n2: pairs tied in x and in y. Shapes: x, y (n,).
    Costs O(n^2) time (in blocks of bounded memory). Returns nan when x or y is constant.

    >>> round(kendall([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]), 4)
    0.3333
    """
    x, y = _xy(x, y)
    if _constant(x) or _constant(y):
        return float("nan")
    n = x.size
    block = max(1, 2_000_000 // n)
    c_minus_d = 0.0
    for start in range(0, n, block):  # every unordered pair counted twice over the full n x n sign matrix
        rows = slice(start, start + block)
        c_minus_d += float(np.sum(np.sign(x[rows, None] - x) * np.sign(y[rows, None] - y)))
    n0 = n * (n - 1) // 2
    return float(np.clip(c_minus_d / 2 / np.sqrt((n0 - _tied_pairs(x)) * (n0 - _tied_pairs(y))), -1.0, 1.0))


_STATISTICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "pearson": pearson,
    "spearman": spearman,
    "kendall": kendall,
}


def _one_number(stat: Callable[[np.ndarray, np.ndarray], float], x: np.ndarray, y: np.ndarray) -> float:
    """stat(x, y), which must be one real number (or nan)."""
    value = stat(x, y)
    a = _numpy(value, "stat's result")
    if a.ndim != 0 or a.dtype.kind not in "iuf":
        raise ValueError(f"stat must return one number for each resample; {getattr(stat, '__name__', 'stat')}(x, y) "
                         f"returned {_short(value)}")
    return float(a)


def bootstrap_ci(
    x: ArrayLike,
    y: ArrayLike,
    stat: Union[str, Callable[[np.ndarray, np.ndarray], float]],
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for a paired statistic such as a correlation.

    Draws n_resamples index vectors i_1..i_n uniformly with replacement (numpy Generator seeded with ``seed``),
    evaluates stat(x[i], y[i]) on each, and returns the (1 - level)/2 and (1 + level)/2 quantiles as (low, high).
    ``stat`` is a callable of (x, y) or one of "pearson", "spearman", "kendall". Resamples where the statistic is
    undefined (nan, e.g. a resample that repeats one point) are left out with a RuntimeWarning giving their count;
    if all are undefined the result is (nan, nan). Shapes: x, y (n,).

    >>> x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    >>> bootstrap_ci(x, [2 * v for v in x], "pearson", n_resamples=200)  # every resample lies on a line
    (1.0, 1.0)
    """
    x, y = _xy(x, y)
    if isinstance(stat, str):
        if stat not in _STATISTICS:
            raise ValueError(f"stat must be a callable or one of {', '.join(map(repr, _STATISTICS))}; got {stat!r}")
        stat = _STATISTICS[stat]
    elif not callable(stat):
        raise ValueError(f"stat must be a callable or a statistic name; got {stat!r}")
    n_resamples = count("n_resamples", n_resamples, minimum=1)
    if not (isinstance(level, (int, float, np.floating)) and 0.0 < level < 1.0):
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")
    seed = random_seed("seed", seed)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, x.size, size=(int(n_resamples), x.size))
    values = np.array([_one_number(stat, x[i], y[i]) for i in draws], dtype=float)
    defined = np.isfinite(values)
    if not defined.all():
        warnings.warn(
            f"bootstrap_ci: {int((~defined).sum())} of {n_resamples} resamples gave an undefined statistic and were "
            f"left out",
            RuntimeWarning,
            stacklevel=2,
        )
    if not defined.any():
        return float("nan"), float("nan")
    low, high = np.quantile(values[defined], [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
