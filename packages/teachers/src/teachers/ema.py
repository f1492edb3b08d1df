"""Exponential moving average of a module's weights.

`EMA.update(ema_model, model)` moves every floating parameter of `ema_model` toward `model`'s:
p_ema <- d p_ema + (1 - d) p, and copies the buffers (normaliser statistics) verbatim. With
`warmup` the decay ramps up as min(decay, (1 + n) / (10 + n)) over the first updates, so a short
run is not dominated by the initial weights.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """Decay schedule plus the in-place averaging step; holds no weights of its own."""

    def __init__(self, decay: float, *, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay!r}")
        self.decay, self.warmup = decay, warmup
        self.num_updates = 0

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, ema_model: nn.Module, model: nn.Module) -> float:
        """One averaging step; returns the decay that was used."""
        d = self.current_decay()
        ema_params = dict(ema_model.named_parameters())
        for name, p in model.named_parameters():
            ema_params[name].lerp_(p.detach(), 1.0 - d)
        ema_buffers = dict(ema_model.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)
        self.num_updates += 1
        return d
