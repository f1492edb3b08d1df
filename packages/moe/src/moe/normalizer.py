"""Observation/action standardisation that lives inside a policy and is saved with it.

Policies train and distil in the normalised space; `act` takes raw observations and returns raw
actions. A dimension whose data never varies (e.g. the toy task's constant observation) keeps
scale 1 so it is passed through shifted but not blown up.

With `passthrough` P > 0 the inputs are (..., dim + P): the first `dim` features (the robot
state of a packed image observation) are standardised, the trailing P (pixels, which the image
encoder scales itself) pass unchanged and are never read by `fit`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Normalizer"]


class Normalizer(nn.Module):
    """x_norm = (x - mean) / std per feature, with std floored at `min_std` (then set to 1);
    `passthrough` trailing features pass unchanged (buffers stay of size `dim`)."""

    def __init__(self, dim: int, *, passthrough: int = 0, min_std: float = 1e-6) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"Normalizer dim must be >= 1, got {dim}")
        if passthrough < 0:
            raise ValueError(f"Normalizer passthrough must be >= 0, got {passthrough}")
        self.dim = dim
        self.passthrough = passthrough
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, data: Any) -> Normalizer:
        """Set mean/std from samples shaped (..., dim) or (..., dim + passthrough).

        Reads only `data[..., :dim]`, so a lazy dataset object that supports that slicing never
        has to materialise its pixels.
        """
        allowed = sorted({self.dim, self.dim + self.passthrough})
        if isinstance(data, (list, tuple)):
            data = np.asarray(data)  # a plain sequence: nothing lazy to protect
        width = tuple(getattr(data, "shape", ()))
        if len(width) and width[-1] not in allowed:
            raise ValueError(f"Normalizer.fit expects last dim {' or '.join(map(str, allowed))}, "
                             f"got {width[-1]}")
        part = data[..., :self.dim] if self.passthrough else data
        x = torch.as_tensor(part if torch.is_tensor(part) else np.asarray(part))
        x = x.reshape(-1, x.shape[-1]).double()
        if x.shape[-1] != self.dim:
            raise ValueError(f"Normalizer.fit expects last dim {' or '.join(map(str, allowed))}, "
                             f"got {x.shape[-1]}")
        if not torch.isfinite(x).all():
            raise ValueError("Normalizer.fit got NaN or inf in the data; clean the dataset first")
        std = x.std(dim=0, unbiased=False)
        std = torch.where(std < self.min_std, torch.ones_like(std), std)
        self.mean.copy_(x.mean(dim=0).to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.passthrough and x.shape[-1] != self.dim:
            return torch.cat([self.normalize(x[..., :self.dim]), x[..., self.dim:]], dim=-1)
        return (x - self.mean) / self.std

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.passthrough and x.shape[-1] != self.dim:
            return torch.cat([self.unnormalize(x[..., :self.dim]), x[..., self.dim:]], dim=-1)
        return x * self.std + self.mean

    def log_abs_det_jacobian(self) -> torch.Tensor:
        """log |d x_norm / d x| = -sum log std: add to a normalised-space log-density
        (passthrough features contribute 0)."""
        return -torch.log(self.std).sum()
