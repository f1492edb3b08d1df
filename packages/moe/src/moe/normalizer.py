"""Observation/action standardisation that lives inside a policy and is saved with it.

Policies train and distil in the normalised space; `act` takes raw observations and returns raw
actions. A dimension whose data never varies (e.g. the toy task's constant observation) keeps
scale 1 so it is passed through shifted but not blown up.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["Normalizer"]


class Normalizer(nn.Module):
    """x_norm = (x - mean) / std per feature, with std floored at `min_std` (then set to 1)."""

    def __init__(self, dim: int, *, min_std: float = 1e-6) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"Normalizer dim must be >= 1, got {dim}")
        self.dim = dim
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, data: np.ndarray | torch.Tensor) -> Normalizer:
        """Set mean/std from samples shaped (..., dim)."""
        x = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data)
        x = x.reshape(-1, x.shape[-1]).double()
        if x.shape[-1] != self.dim:
            raise ValueError(f"Normalizer.fit expects last dim {self.dim}, got {x.shape[-1]}")
        if not torch.isfinite(x).all():
            raise ValueError("Normalizer.fit got NaN or inf in the data; clean the dataset first")
        std = x.std(dim=0, unbiased=False)
        std = torch.where(std < self.min_std, torch.ones_like(std), std)
        self.mean.copy_(x.mean(dim=0).to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def log_abs_det_jacobian(self) -> torch.Tensor:
        """log |d x_norm / d x| = -sum log std: add to a normalised-space log-density."""
        return -torch.log(self.std).sum()
