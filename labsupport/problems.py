"""Bandit problems: one prompt, N outputs, a ground-truth and a proxy reward, an initial policy.

A :class:`Bandit` holds everything the dynamics depend on, batched over B independent problems:

* ``r_true``  (B, N): ground-truth reward r_G(y)
* ``r_proxy`` (B, N): proxy reward r_P(y), the one training sees
* ``init_logits`` (B, N): log pi_0(y), normalised so that logsumexp = 0
* ``features`` (B or 1, N, d) or ``None``: phi(y) for a log-linear policy; ``None`` is the tabular softmax
* ``theta0``: initial parameters, (B, N) for the tabular policy, (B, d) for features (least-squares
  solution of Phi theta = log pi_0, as in the paper's feature-geometry experiment)

Inputs may be lists, numpy arrays or tensors of shape (N,) or (B, N); rows of shape (N,) are broadcast
against batched ones. Everything is stored in float64 on the CPU; :func:`labsupport.train` moves it to the device
and dtype it trains in, once per problem (:meth:`Bandit.placed`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from ._checks import TensorLike, as_tensor, fits_dtype


def renamed(old: str, old_value: Any, new: str, value: Any, default: Any = None) -> tuple[str, Any]:
    """An argument renamed from ``old`` to ``new`` (kept for one release): (the name the caller used, its value).

    Given under the old name, it is used with a DeprecationWarning; under both names it is an error."""
    if old_value is None:
        return new, value
    if value is not None and value != default:
        raise ValueError(f"{old} is the old name of {new}; give only {new}={value!r}")
    warnings.warn(f"{old}= is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
    return old, old_value

PROB_SUM_TOL = 1e-6
REPRESENT_TOL = 1e-6


class Placed(NamedTuple):
    """A bandit's tensors as training reads them: on one device, in one dtype (see :meth:`Bandit.placed`)."""

    r_true: torch.Tensor
    r_proxy: torch.Tensor
    init_logits: torch.Tensor
    theta0: torch.Tensor
    features: torch.Tensor | None


@dataclass(frozen=True, init=False)
class Bandit:
    """A batch of B bandit problems with N outputs each.

    Args:
        r_true: ground-truth reward, shape (N,) or (B, N).
        r_proxy: proxy reward, same shape rules; ``None`` means a perfect proxy (r_proxy = r_true).
        init_probs: initial policy pi_0 as probabilities (each row > 0, sums to 1).
        init_logits: initial policy as logits (any real numbers); give this or ``init_probs``,
            neither means the uniform policy.
        features: phi, shape (N, d) shared by all problems or (B, N, d); ``None`` gives the tabular
            softmax (phi = identity). The initial weights solve Phi theta = log pi_0 by least squares, and
            the features must be able to represent pi_0 (checked).
        names: output names, length N; default ``y0 .. y{N-1}``.

    A Bandit is immutable: to change a reward, build a new one (:meth:`with_rewards`); never write into its tensors,
    since training keeps copies of them on its device (:meth:`placed`).

    Example:
        >>> prob = Bandit(r_true=[1, .8, -1, -1, -1], r_proxy=[1, -1, -1, -1, -1],
        ...               init_probs=[.05, .5, .15, .15, .15])
        >>> prob.batch_size, prob.n_outputs
        (1, 5)
    """

    # the fields as stored: float64 tensors of shape (B, N) (features (B or 1, N, d) or None), N names
    r_true: torch.Tensor
    r_proxy: torch.Tensor
    init_probs: torch.Tensor
    init_logits: torch.Tensor
    features: torch.Tensor | None
    names: tuple[str, ...]
    theta0: torch.Tensor = field(init=False, repr=False)
    batched: bool = field(init=False, repr=False)

    def __init__(self, r_true: TensorLike, r_proxy: TensorLike | None = None, init_probs: TensorLike | None = None,
                 init_logits: TensorLike | None = None, features: TensorLike | None = None,
                 names: Iterable[object] | None = None) -> None:
        true = as_tensor("r_true", r_true)
        proxy = true.clone() if r_proxy is None else as_tensor("r_proxy", r_proxy)
        n = true.shape[-1]
        if n < 2:
            raise ValueError(f"r_true must have at least 2 outputs; got shape {tuple(true.shape)}")
        if true.ndim == 2 and true.shape[0] == 0:
            raise ValueError(f"r_true must hold at least one problem (row); got shape {tuple(true.shape)}")
        if init_probs is not None and init_logits is not None:
            raise ValueError("give init_probs or init_logits, not both")
        if init_probs is not None:
            logits = _logits_from_probs(as_tensor("init_probs", init_probs))
            init_name = "init_probs"
        elif init_logits is not None:
            logits = as_tensor("init_logits", init_logits)
            init_name = "init_logits"
        else:
            logits, init_name = torch.zeros(n, dtype=torch.float64), "init_probs"
        shapes = {"r_true": true, "r_proxy": proxy, init_name: logits}
        feature_shape = () if features is None else tuple(np.shape(features))
        feature_rows = feature_shape[0] if len(feature_shape) == 3 else 1
        batched = feature_rows > 1 or any(t.ndim == 2 for t in shapes.values())
        for name, t in shapes.items():
            if t.shape[-1] != n:
                raise ValueError(f"{name} has shape {tuple(t.shape)} but r_true has {n} outputs")
        try:
            rows = torch.zeros(feature_rows, 1, dtype=torch.float64)
            true, proxy, logits, _ = torch.broadcast_tensors(*(t.reshape(-1, n) for t in shapes.values()), rows)
        except RuntimeError:
            sizes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in shapes.items())
            sizes += f", features {feature_shape}" if feature_rows > 1 else ""
            raise ValueError(f"batch sizes do not match: {sizes}") from None
        logits = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
        labels = tuple(f"y{i}" for i in range(n)) if names is None else tuple(str(x) for x in names)
        if len(labels) != n or len(set(labels)) != n:
            raise ValueError(f"names must be {n} distinct strings; got {list(labels)!r}")
        phi, theta0 = _features_and_theta0(features, logits)
        set_ = object.__setattr__
        set_(self, "r_true", true.contiguous())
        set_(self, "r_proxy", proxy.contiguous())
        set_(self, "init_logits", logits.contiguous())
        set_(self, "init_probs", logits.exp())
        set_(self, "features", phi)
        set_(self, "names", labels)
        set_(self, "theta0", theta0)
        set_(self, "batched", batched)

    @property
    def batch_size(self) -> int:
        """B, the number of independent problems."""
        return self.r_true.shape[0]

    @property
    def n_outputs(self) -> int:
        """N, the number of outputs."""
        return self.r_true.shape[1]

    @property
    def tabular(self) -> bool:
        """True for the tabular softmax policy (no features)."""
        return self.features is None

    def reward(self, reward: str | None = None, *, which: str | None = None) -> torch.Tensor:
        """The (B, N) reward named ``"true"`` (r_G) or ``"proxy"`` (r_P). (``which=`` is its deprecated name.)"""
        name, reward = renamed("which", which, "reward", reward)
        if reward == "true":
            return self.r_true
        if reward == "proxy":
            return self.r_proxy
        raise ValueError(f"{name} must be 'true' or 'proxy'; got {reward!r}")

    def placed(self, device: torch.device | str, dtype: torch.dtype) -> Placed:
        """The tensors training reads, on ``device`` in ``dtype``, each reward checked to fit ``dtype``.

        Made on the first call and kept for the latest device and dtype, so that training the same problem again (on
        the other reward, with another algorithm or seed) copies nothing (at B = 1,048,576 runs of 64 outputs the
        inputs are 2 GiB of float64 to move and convert). The kept copy lives as long as the Bandit (on a GPU,
        B x N x 4 bytes per tensor in float32) or until :meth:`release`; on the CPU in float64 the tensors are the
        Bandit's own.
        """
        key = (torch.device(device), dtype)
        kept = self.__dict__.get("_placed")
        if kept is not None and kept[0] == key:
            return kept[1]
        fits_dtype("r_true", self.r_true, dtype)
        fits_dtype("r_proxy", self.r_proxy, dtype)
        object.__setattr__(self, "_placed", None)  # drop the previous copy before making the next one
        true, proxy, logits, theta0 = (t.to(device=key[0], dtype=dtype)
                                       for t in (self.r_true, self.r_proxy, self.init_logits, self.theta0))
        features = None if self.features is None else self.features.to(device=key[0], dtype=dtype)
        placed = Placed(true, proxy, logits, theta0, features)
        object.__setattr__(self, "_placed", (key, placed))
        return placed

    def release(self) -> None:
        """Drop the copy kept by :meth:`placed`, e.g. to give its GPU memory back while the Bandit is still needed
        (``torch.cuda.empty_cache()`` then returns it to the device). The next training places the problem again."""
        object.__setattr__(self, "_placed", None)

    def __getstate__(self) -> dict:
        """Pickled without the copies kept by :meth:`placed` (they may live on a GPU)."""
        return {k: v for k, v in self.__dict__.items() if k != "_placed"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def kernel(self) -> torch.Tensor | None:
        """<phi(y), phi(z)> as a (B or 1, N, N) tensor, or ``None`` for the tabular policy (identity)."""
        if self.features is None:
            return None
        return self.features @ self.features.transpose(-1, -2)

    def errors(self, atol: float = 1e-12) -> torch.Tensor:
        """Boolean (B, N) mask of the outputs where the proxy differs from the ground truth."""
        return (self.r_proxy - self.r_true).abs() > atol

    def with_rewards(self, r_true: TensorLike | None = None, r_proxy: TensorLike | None = None) -> Bandit:
        """A copy with new rewards and the same initial policy, features and names."""
        return Bandit(
            r_true=self.r_true if r_true is None else r_true,
            r_proxy=self.r_proxy if r_proxy is None else r_proxy,
            init_logits=self.init_logits,
            features=self.features if self.features is None or self.features.shape[0] > 1 else self.features[0],
            names=self.names,
        )

    def rows(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> Bandit:
        """The sub-batch ``index`` (a list or tensor of row numbers), as a batched Bandit."""
        rows = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        feats = self.features
        if feats is not None:
            feats = feats[0] if feats.shape[0] == 1 else feats[rows]
        return Bandit(r_true=self.r_true[rows], r_proxy=self.r_proxy[rows], init_logits=self.init_logits[rows],
                      features=feats, names=self.names)


def _logits_from_probs(probs: torch.Tensor) -> torch.Tensor:
    if (probs < 0).any():
        bad = probs[probs < 0].flatten()[0].item()
        raise ValueError(f"init_probs must be non-negative; found {bad:.4g}")
    sums = probs.sum(-1)
    off = (sums - 1).abs() > PROB_SUM_TOL
    if off.any():
        raise ValueError(f"init_probs must sum to 1 over outputs; a row sums to {sums[off].flatten()[0].item():.6g}")
    if (probs == 0).any():
        where = (probs == 0).nonzero()[0].tolist()
        raise ValueError(
            f"init_probs has a zero at index {where}: a softmax policy needs every probability > 0 "
            "(use a tiny value such as 1e-9 for an output that is never sampled)"
        )
    return probs.log()


def _features_and_theta0(features: TensorLike | None, logits: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Validate Phi and solve Phi theta = log pi_0 (least squares) for each problem."""
    if features is None:
        return None, logits.clone()
    phi = torch.as_tensor(features, dtype=torch.float64).detach().clone()
    n = logits.shape[-1]
    if phi.ndim == 2:
        phi = phi.unsqueeze(0)
    if phi.ndim != 3 or phi.shape[1] != n or phi.shape[0] not in (1, logits.shape[0]):
        raise ValueError(
            f"features must have shape (N, d) or (B, N, d) with N = {n}, B = {logits.shape[0]}; "
            f"got {tuple(torch.as_tensor(features).shape)}"
        )
    if not torch.isfinite(phi).all():
        raise ValueError("features must be finite; found NaN or infinity")
    theta0 = torch.linalg.lstsq(phi.expand(logits.shape[0], -1, -1), logits.unsqueeze(-1)).solution.squeeze(-1)
    got = torch.log_softmax((phi @ theta0.unsqueeze(-1)).squeeze(-1), dim=-1)
    err = (got.exp() - logits.exp()).abs().amax().item()
    if err > REPRESENT_TOL:
        rank = int(torch.linalg.matrix_rank(phi[0]).item())
        raise ValueError(
            f"features (rank {rank}, d = {phi.shape[-1]}) cannot represent the initial policy: the least-squares "
            f"weights give probabilities off by {err:.3g}; add features or change init_probs"
        )
    return phi, theta0


__all__ = ["Bandit", "PAPER_GEOMETRIES", "PAPER_NAMES", "PAPER_R_PROXY", "PAPER_R_TRUE", "paper_bandit",
           "paper_features", "paper_init_probs", "paper_proxy"]


# ------------------------------------------------------------------------ the paper's controlled experiment

#: outputs of the paper's controlled experiment (its section 3.3): the best output, a mediocre one, three bad ones
PAPER_NAMES = ("y*", "y_med", "bad1", "bad2", "bad3")
#: ground truth r_G and the proxy r_P whose only error demotes the mediocre output
PAPER_R_TRUE = (1.0, 0.8, -1.0, -1.0, -1.0)
PAPER_R_PROXY = (1.0, -1.0, -1.0, -1.0, -1.0)
#: phi(y_med) in the feature-geometry variant: orthogonal to phi(y*), or at a negative / positive inner product
PAPER_GEOMETRIES = {
    "orthogonal": (0.0, 1.0, 0.0, 0.0, 0.0),
    "negative": (-2**-0.5, 2**-0.5, 0.0, 0.0, 0.0),
    "positive": (2**-0.5, 2**-0.5, 0.0, 0.0, 0.0),
}


def paper_init_probs(p_star: float = 0.05, p_med: float = 0.5) -> list[float]:
    """pi_0 of the paper's experiment: y* gets ``p_star``, y_med ``p_med``, the three bad outputs share the rest."""
    rest = (1 - p_star - p_med) / 3
    if min(p_star, p_med, rest) <= 0:
        raise ValueError(f"p_star and p_med must be > 0 with p_star + p_med < 1; got p_star={p_star!r}, "
                         f"p_med={p_med!r}")
    return [p_star, p_med, rest, rest, rest]


def paper_proxy(errors: dict[str, float]) -> np.ndarray:
    """A proxy for the paper's toy: r_G, except that each output named in ``errors`` gets the reward given there.

    ``paper_proxy({"y_med": -1.0})`` is the paper's r_P; ``paper_proxy({"bad1": 0.8, "bad2": 1.4})`` has two errors.
    """
    unknown = [name for name in errors if name not in PAPER_NAMES]
    if unknown:
        raise ValueError(f"errors must name outputs of {list(PAPER_NAMES)}; got {unknown}")
    r_p = np.array(PAPER_R_TRUE)
    for name, reward in errors.items():
        r_p[PAPER_NAMES.index(name)] = reward
    return r_p


def paper_features(y_med_row: str | Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Phi (5 x 5) of the feature-geometry variant: phi(y*) = 1.5 e1, phi(y_med) = ``y_med_row`` (a row of
    :data:`PAPER_GEOMETRIES`, or any 5 numbers), bad outputs e3, e4, e5. ``None`` gives the one-hot (tabular)
    features, the identity."""
    phi = np.eye(5)
    if y_med_row is not None:
        row = np.asarray(PAPER_GEOMETRIES.get(y_med_row, y_med_row) if isinstance(y_med_row, str) else y_med_row,
                         dtype=float)
        if row.shape != (5,):
            raise ValueError(f"y_med_row must be a name in {list(PAPER_GEOMETRIES)} or 5 numbers; got {y_med_row!r}")
        phi[0, 0] = 1.5
        phi[1] = row
    return phi


def paper_bandit(p_star: float | Sequence[float] | np.ndarray = 0.05, p_med: float = 0.5,
                 geometry: str | Sequence[str] | None = None) -> Bandit:
    """The paper's toy: r_G = (1, .8, -1, -1, -1), r_P = (1, -1, -1, -1, -1), pi_0 from :func:`paper_init_probs`.

    ``p_star`` may be a list (one problem per value); ``geometry`` a name of :data:`PAPER_GEOMETRIES` or a list of
    them (one problem per geometry, with the features of :func:`paper_features`); ``None`` is the tabular policy.
    """
    stars = list(np.atleast_1d(p_star))
    probs = [paper_init_probs(p, p_med) for p in stars]
    features = None
    if geometry is not None:
        names = [geometry] if isinstance(geometry, str) else list(geometry)
        features = np.stack([paper_features(g) for g in names])
        if len(names) == 1:
            features = features[0]
    return Bandit(r_true=PAPER_R_TRUE, r_proxy=PAPER_R_PROXY, init_probs=probs[0] if np.ndim(p_star) == 0 else probs,
                  features=features, names=PAPER_NAMES)
