"""Gaussian-mixture targets with full covariances and their exact score, for checking VDD.

`GMMTarget` is p(x) = sum_k w_k N(x; m_k, C_k) in any dimension (numpy, float64): density,
score, samples and the most likely mode of a point. `GMMScore` is its exact score as a VDD score
adapter (normalised units, the state ignored). `target_family()` is a fixed set of layouts that
the shipped toy ring does not exercise: grids, unequal weights, anisotropic (and rotated)
modes, 3-6 dimensions, modes far from the origin.

Shapes: N points, K modes, A action dims.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["GMMTarget", "GMMScore", "target_family", "FAMILY"]


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


@dataclass(frozen=True)
class GMMTarget:
    """sum_k w_k N(x; m_k, L_k L_k^T): means (K, A), scale_trils (K, A, A), weights (K,)."""

    name: str
    means: np.ndarray
    scale_trils: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        means = np.asarray(self.means, dtype=np.float64)
        trils = np.asarray(self.scale_trils, dtype=np.float64)
        weights = np.asarray(self.weights, dtype=np.float64)
        K, A = means.shape if means.ndim == 2 else (0, 0)
        if means.ndim != 2 or trils.shape != (K, A, A) or weights.shape != (K,):
            raise ValueError(f"GMMTarget {self.name!r} needs means (K, A), scale_trils "
                             f"(K, A, A), weights (K,); got {means.shape}, {trils.shape}, "
                             f"{weights.shape}")
        if np.any(np.diagonal(trils, axis1=1, axis2=2) <= 0) or np.any(np.triu(trils, 1)):
            raise ValueError(f"GMMTarget {self.name!r}: scale_trils must be lower triangular "
                             "with a positive diagonal")
        if np.any(weights <= 0) or abs(weights.sum() - 1.0) > 1e-6:
            raise ValueError(f"GMMTarget {self.name!r}: weights must be positive and sum to 1")
        for field_name, value in (("means", means), ("scale_trils", trils), ("weights", weights)):
            object.__setattr__(self, field_name, value)

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def correlated(self) -> bool:
        """Whether some mode is rotated (a covariance with off-diagonal terms): diagonal
        experts cannot represent such a mode."""
        return bool(np.any(np.tril(self.scale_trils, -1)))

    def _white(self, x: np.ndarray) -> np.ndarray:
        """L_k^-1 (x - m_k) for every mode: (..., A) -> (..., K, A)."""
        diff = np.asarray(x, dtype=np.float64)[..., None, :] - self.means
        inv = np.linalg.inv(self.scale_trils)
        return np.einsum("kij,...kj->...ki", inv, diff)

    def mahalanobis(self, x: np.ndarray) -> np.ndarray:
        """Distance of x to every mode in that mode's own metric: (..., A) -> (..., K)."""
        return np.linalg.norm(self._white(x), axis=-1)

    def mode_log_probs(self, x: np.ndarray) -> np.ndarray:
        """log w_k + log N_k(x): (..., A) -> (..., K)."""
        log_det = np.log(np.diagonal(self.scale_trils, axis1=1, axis2=2)).sum(-1)
        return (np.log(self.weights) - 0.5 * np.sum(self._white(x) ** 2, axis=-1) - log_det
                - 0.5 * self.dim * np.log(2 * np.pi))

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        return _logsumexp(self.mode_log_probs(x))

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Most likely mode of each point: (..., A) -> (...) int."""
        return np.argmax(self.mode_log_probs(x), axis=-1)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n points (n, A) and the mode each came from (n,)."""
        modes = rng.choice(self.num_modes, size=n, p=self.weights)
        eps = rng.standard_normal((n, self.dim))
        return self.means[modes] + np.einsum("nij,nj->ni", self.scale_trils[modes], eps), modes


class GMMScore:
    """The exact score of a `GMMTarget` in the student's normalised action units (a VDD score
    adapter): d/d a_norm log p = action_std * grad_a log p(a) at a = a_norm * std + mean."""

    def __init__(self, *, target: GMMTarget, action_mean, action_std) -> None:
        self.means = torch.as_tensor(target.means, dtype=torch.float32)
        precision = np.linalg.inv(target.scale_trils @ np.swapaxes(target.scale_trils, 1, 2))
        self.precision = torch.as_tensor(precision, dtype=torch.float32)
        log_det = np.log(np.diagonal(target.scale_trils, axis1=1, axis2=2)).sum(-1)
        self.log_norm = torch.as_tensor(np.log(target.weights) - log_det, dtype=torch.float32)
        self.action_mean = torch.as_tensor(action_mean, dtype=torch.float32).detach().cpu()
        self.action_std = torch.as_tensor(action_std, dtype=torch.float32).detach().cpu()

    @torch.no_grad()
    def score(self, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        std, mean = self.action_std.to(actions), self.action_mean.to(actions)
        diff = self.means.to(actions) - (actions * std + mean).unsqueeze(-2)  # (..., K, A)
        pull = torch.einsum("kij,...kj->...ki", self.precision.to(actions), diff)
        log_joint = self.log_norm.to(actions) - 0.5 * (diff * pull).sum(-1)
        resp = torch.softmax(log_joint, dim=-1)
        return (resp.unsqueeze(-1) * pull).sum(-2) * std


def _rot2(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _tril(cov: np.ndarray) -> np.ndarray:
    return np.linalg.cholesky(cov)


def _isotropic(name, means, std, weights=None) -> GMMTarget:
    means = np.asarray(means, float)
    K, A = means.shape
    w = np.full(K, 1.0 / K) if weights is None else np.asarray(weights, float)
    return GMMTarget(name, means, np.broadcast_to(std * np.eye(A), (K, A, A)).copy(), w)


def _diag(name, means, stds_KA, weights) -> GMMTarget:
    stds_KA = np.asarray(stds_KA, float)
    return GMMTarget(name, np.asarray(means, float), np.stack([np.diag(s) for s in stds_KA]),
                     np.asarray(weights, float) / np.sum(weights))


def _grid(rows: int, cols: int, spacing: float) -> np.ndarray:
    ys, xs = np.meshgrid(np.arange(rows) - (rows - 1) / 2, np.arange(cols) - (cols - 1) / 2,
                         indexing="ij")
    return spacing * np.stack([xs.ravel(), ys.ravel()], axis=-1)


def target_family() -> dict[str, GMMTarget]:
    """The fixed family (name -> target). Modes are >= 5 of their stds apart along the line
    between them, so a mode is unambiguous and coverage is a meaningful score."""
    ring = 2 * np.pi * np.arange(12) / 12
    # grid 3x3 of the toy's spacing and width (the layout of the outside report)
    fam = [_isotropic("grid3x3", _grid(3, 3, 4.0), 0.4)]
    # a 12-mode ring with weights 0.02-0.16, heavy modes beside light ones
    ring_w = [0.02, 0.16, 0.04, 0.14, 0.06, 0.12, 0.08, 0.10, 0.03, 0.11, 0.05, 0.09]
    fam.append(_isotropic("ring12_unequal", 4.0 * np.stack([np.cos(ring), np.sin(ring)], -1),
                          0.4, ring_w))
    # 5 elongated, rotated modes (std 0.9 x 0.15) off the origin, unequal weights
    centres = np.array([[0.0, 0.0], [5.0, 1.0], [1.0, 5.0], [6.0, 6.0], [-4.0, 4.0]]) + [3, -8]
    trils = np.stack([_tril(_rot2(a) @ np.diag([0.9**2, 0.15**2]) @ _rot2(a).T)
                      for a in (0.0, 0.6, 1.2, 2.0, 2.7)])
    fam.append(GMMTarget("aniso5_2d", centres, trils, np.array([0.3, 0.25, 0.2, 0.15, 0.1])))
    # 3-D: the 8 corners of a cube (side 4) off the origin, axis-aligned anisotropic modes
    corners = 4.0 * np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], float)
    rng = np.random.default_rng(3)  # fixed: part of the target's definition
    fam.append(_diag("cube3d", corners + [5.0, -2.0, 3.0], rng.uniform(0.25, 0.6, (8, 3)),
                     [1, 2, 3, 4, 1, 2, 3, 4]))
    # 6-D: 6 modes on the axes (distance 4.2 apart) off the origin, unequal weights
    fam.append(_diag("axes6d", 3.0 * np.eye(6) + [1.0, -2.0, 0.5, 3.0, 0.0, -1.0],
                     rng.uniform(0.2, 0.5, (6, 6)), [0.3, 0.25, 0.15, 0.12, 0.1, 0.08]))
    return {t.name: t for t in fam}


FAMILY = tuple(target_family())  # the target names, in order
