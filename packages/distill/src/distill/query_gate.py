"""Which (state, expert) pairs VDD asks its teacher about (`VDDConfig.query_min_weight`).

VDD's expert loss weighs expert z's terms at state s by q(z|s), and a trained gating gives
most experts ~0 at most states, yet every expert's samples cost teacher queries. `gate_pairs`
keeps a pair whose weight reaches `min_weight` (at some step of the window) always, and any
other with probability w / min_weight, and divides the weights of the kept ones by that
probability: the loss is then an unbiased Monte Carlo estimate of the full one (every expert
keeps its expected gradient), at the cost of ~sum_z min(1, w_z / min_weight) of Z queries.

Shapes: B batch, T window, Z experts.
"""

from __future__ import annotations

import torch

__all__ = ["gate_pairs"]


def gate_pairs(weights_BTZ: torch.Tensor, min_weight: float, *,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep (B, Z) bool, loss weights (B, T, Z)): the pairs to query, and q(z|s) divided by
    each kept pair's keep probability (0 for the pairs left out)."""
    if not 0 < min_weight < 1:
        raise ValueError(f"gate_pairs needs 0 < min_weight < 1, got {min_weight!r}")
    p_BZ = (weights_BTZ.amax(1) / min_weight).clamp(max=1.0)
    u = torch.rand(p_BZ.shape, generator=generator, device=p_BZ.device)
    keep_BZ = u < p_BZ
    scale_BZ = torch.where(keep_BZ, 1.0 / p_BZ.clamp(min=torch.finfo(p_BZ.dtype).tiny), 0.0)
    return keep_BZ, weights_BTZ * scale_BZ[:, None]
