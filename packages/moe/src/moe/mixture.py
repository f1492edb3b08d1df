"""A batch of Gaussian mixtures, q(a) = sum_z w_z N(a; mu_z, L_z L_z^T), as plain tensors.

Leading dimensions (here written `...`, usually B batch and T window) are shared by all fields.
Shapes: Z experts, A action dim, N samples.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

__all__ = ["GaussianMixture", "gaussian_log_prob", "gaussian_entropy", "experts_from_uniform"]

_LOG_2PI = math.log(2.0 * math.pi)


def tril_inverse(scale_tril: torch.Tensor) -> torch.Tensor:
    """L^-1 of lower-triangular factors (..., A, A)."""
    eye = torch.eye(scale_tril.shape[-1], dtype=scale_tril.dtype, device=scale_tril.device)
    return torch.linalg.solve_triangular(scale_tril, eye.expand_as(scale_tril), upper=False)


def _log_density(white: torch.Tensor, scale_tril: torch.Tensor) -> torch.Tensor:
    """log N from whitened residuals (..., A) and the matching factors' (..., A, A)."""
    A = white.shape[-1]
    half_log_det = torch.diagonal(scale_tril, dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * white.pow(2).sum(-1) - half_log_det - 0.5 * A * _LOG_2PI


def _full_precision(device_type: str):
    """Autocast switched off where it is on (bf16 training on CUDA), else nothing."""
    if device_type in ("cuda", "cpu") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def gaussian_log_prob(
    x_ZA: torch.Tensor, mean_ZA: torch.Tensor, scale_tril_ZAA: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, L L^T) for broadcastable (..., A) inputs and (..., A, A) factors -> (...).
    Computed in float32 also under autocast (bf16 has no triangular solve, and too few bits)."""
    with _full_precision(x_ZA.device.type):
        x_ZA, mean_ZA, scale_tril_ZAA = (t.float() for t in (x_ZA, mean_ZA, scale_tril_ZAA))
        inv = tril_inverse(scale_tril_ZAA)
        white = torch.einsum("...ij,...j->...i", inv, x_ZA - mean_ZA)
        return _log_density(white, scale_tril_ZAA)


def gaussian_entropy(scale_tril_ZAA: torch.Tensor) -> torch.Tensor:
    """Analytic entropy of N(., L L^T): A/2 (1 + log 2 pi) + sum log diag L -> (...)."""
    A = scale_tril_ZAA.shape[-1]
    half_log_det = torch.diagonal(scale_tril_ZAA, dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * A * (1.0 + _LOG_2PI) + half_log_det


def experts_from_uniform(log_weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Expert index per mixture by inverting the gating's CDF at uniform draws u in [0, 1).

    log_weights (..., Z) (or (Z,), shared by every draw), u (...) -> (...) long. The eager policy
    and its ONNX export both choose experts this way, so one draw gives one action in both.
    """
    cdf = log_weights.exp().cumsum(-1)
    below = cdf < (u.unsqueeze(-1) * cdf[..., -1:])  # the total, not 1: rounding stays inside
    return below.sum(-1).clamp(max=log_weights.shape[-1] - 1)


@dataclass
class GaussianMixture:
    """Gating log-probabilities (..., Z), means (..., Z, A), Cholesky factors (..., Z, A, A)."""

    log_weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor

    def __post_init__(self) -> None:
        for name in ("log_weights", "means", "scale_tril"):  # autocast's bf16: the mixture's
            value = getattr(self, name)                       # math stays float32
            if value.dtype in (torch.bfloat16, torch.float16):
                setattr(self, name, value.float())
        lead = self.log_weights.shape
        if self.means.shape[:-1] != lead or self.scale_tril.shape[:-2] != lead:
            raise ValueError(
                f"GaussianMixture shapes disagree: log_weights {tuple(lead)}, means "
                f"{tuple(self.means.shape)}, scale_tril {tuple(self.scale_tril.shape)}"
            )

    @property
    def num_experts(self) -> int:
        return self.means.shape[-2]

    @property
    def action_dim(self) -> int:
        return self.means.shape[-1]

    @property
    def weights(self) -> torch.Tensor:
        return self.log_weights.exp()

    @property
    def covariance(self) -> torch.Tensor:
        """Expert covariances L L^T, (..., Z, A, A)."""
        return self.scale_tril @ self.scale_tril.transpose(-1, -2)

    def detach(self) -> GaussianMixture:
        return GaussianMixture(
            self.log_weights.detach(), self.means.detach(), self.scale_tril.detach()
        )

    def expert_log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """log N_z(a) for every expert.

        actions (..., A) gives (..., Z); actions (..., Z, V, A) (V samples per expert, e.g. the
        reparameterised samples of VDD) gives (..., Z, V, Z): every sample under every expert.
        """
        if actions.dim() == self.means.dim() - 1:  # (..., A)
            return gaussian_log_prob(actions.unsqueeze(-2), self.means, self.scale_tril)
        # Samples (..., Z, V, A) through every expert's L^-1 (..., Z', A, A) as one batched
        # matmul, instead of materialising a (..., Z, V, Z', A, A) broadcast.
        inv = tril_inverse(self.scale_tril)
        white = torch.einsum("...kij,...zvj->...zvki", inv, actions) - torch.einsum(
            "...kij,...kj->...ki", inv, self.means
        )[..., None, None, :, :]
        return _log_density(white, self.scale_tril[..., None, None, :, :, :])

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Mixture log-density log q(a), actions (..., A) -> (...)."""
        self._check_actions(actions)
        return torch.logsumexp(self.expert_log_prob(actions) + self.log_weights, dim=-1)

    def responsibilities(self, actions: torch.Tensor) -> torch.Tensor:
        """Posterior q(z | a) over experts, actions (..., A) -> (..., Z)."""
        self._check_actions(actions)
        return torch.softmax(self.expert_log_prob(actions) + self.log_weights, dim=-1)

    def entropies(self) -> torch.Tensor:
        """Analytic entropy of each expert, (..., Z)."""
        return gaussian_entropy(self.scale_tril)

    def rsample_experts(self, num_samples: int, generator: torch.Generator | None = None):
        """V reparameterised samples from every expert: (..., Z, V, A), differentiable."""
        eps = torch.randn(
            (*self.means.shape[:-1], num_samples, self.action_dim),
            generator=generator, device=self.means.device, dtype=self.means.dtype,
        )
        noise = (self.scale_tril.unsqueeze(-3) @ eps.unsqueeze(-1)).squeeze(-1)
        return self.means.unsqueeze(-2) + noise

    def sample_experts(self, *, greedy: bool = False, generator: torch.Generator | None = None,
                       u: torch.Tensor | None = None):
        """Pick one expert per mixture: sampled from the gating, or its argmax. -> (...) long.

        `u` (...), uniform draws in [0, 1): choose by inverting the gating's CDF
        (`experts_from_uniform`, as the ONNX export does) instead of drawing with `generator`.
        """
        if greedy:
            return self.log_weights.argmax(-1)
        if u is not None:
            u = torch.as_tensor(u, dtype=self.log_weights.dtype, device=self.log_weights.device)
            if u.shape != self.log_weights.shape[:-1]:
                raise ValueError(f"u must be shaped {tuple(self.log_weights.shape[:-1])} (one "
                                 f"draw per mixture), got {tuple(u.shape)}")
            return experts_from_uniform(self.log_weights, u)
        flat = self.log_weights.reshape(-1, self.num_experts).exp()
        z = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
        return z.reshape(self.log_weights.shape[:-1])

    def select(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (..., A) and Cholesky factor (..., A, A) of expert z (...) in each mixture."""
        idx = z[..., None, None].expand(*z.shape, 1, self.action_dim)
        mean = self.means.gather(-2, idx).squeeze(-2)
        idx2 = z[..., None, None, None].expand(*z.shape, 1, self.action_dim, self.action_dim)
        return mean, self.scale_tril.gather(-3, idx2).squeeze(-3)

    @torch.no_grad()
    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw a ~ q per mixture: (..., A)."""
        z = self.sample_experts(generator=generator)
        mean, tril = self.select(z)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + (tril @ eps.unsqueeze(-1)).squeeze(-1)

    def mean(self) -> torch.Tensor:
        """Mixture mean sum_z w_z mu_z, (..., A)."""
        return (self.weights.unsqueeze(-1) * self.means).sum(-2)

    def mixture_covariance(self) -> torch.Tensor:
        """Mixture covariance (law of total covariance), (..., A, A)."""
        w = self.weights[..., None, None]
        centred = (self.means - self.mean().unsqueeze(-2)).unsqueeze(-1)
        return (w * (self.covariance + centred @ centred.transpose(-1, -2))).sum(-3)

    def _check_actions(self, actions: torch.Tensor) -> None:
        if actions.shape[-1] != self.action_dim:
            raise ValueError(
                f"actions have last dim {actions.shape[-1]}, the mixture's action dim is "
                f"{self.action_dim}"
            )
