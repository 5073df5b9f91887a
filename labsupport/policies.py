"""Softmax policies over a finite set of outputs: tabular (one logit per output) and log-linear.

A log-linear policy has logits z = Phi theta, i.e. pi_theta(y) = exp(<phi(y), theta>) / sum_z exp(<phi(z), theta>).
The tabular policy is the special case Phi = identity, where theta *are* the logits.

Every update rule in :mod:`labsupport.algorithms` produces an ascent direction ``g`` with respect to the
logits (shape (B, N)); the chain rule turns it into a direction for theta: d/dtheta = Phi^T d/dz.
"""

from __future__ import annotations

import torch


class SoftmaxPolicy:
    """Tabular (``features=None``) or log-linear softmax policy, batched over B problems.

    Args:
        features: Phi of shape (B or 1, N, d), or ``None`` for the tabular policy.
    """

    def __init__(self, features: torch.Tensor | None = None):
        self.features = features

    def logits(self, theta: torch.Tensor) -> torch.Tensor:
        """z = Phi theta, shape (B, N); theta has shape (B, N) (tabular) or (B, d)."""
        if self.features is None:
            return theta
        return (self.features @ theta.unsqueeze(-1)).squeeze(-1)

    def probs(self, theta: torch.Tensor) -> torch.Tensor:
        """pi_theta, shape (B, N)."""
        return torch.softmax(self.logits(theta), dim=-1)

    def theta_direction(self, g: torch.Tensor) -> torch.Tensor:
        """Map a direction on the logits (B, N) to theta: Phi^T g, shape like theta."""
        if self.features is None:
            return g
        return (g.unsqueeze(-2) @ self.features).squeeze(-2)


def sample(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Draw outputs by inverting the CDF: y = min{y : sum_{z <= y} pi(z) > u}.

    Args:
        probs: (B, N) probabilities.
        uniforms: (B, K) numbers in [0, 1).

    Returns:
        (B, K) long tensor of output indices. Using the inverse CDF (rather than ``torch.multinomial``) lets
        runs that share ``uniforms`` share their randomness (common random numbers for counterfactuals).
    """
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, uniforms * cdf[:, -1:], right=True)
    return idx.clamp_(max=probs.shape[-1] - 1)
