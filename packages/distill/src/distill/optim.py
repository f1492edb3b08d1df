"""The optimisers every MoE algorithm (VDD, EM, IMC) uses: Adam for the experts (backbone and
heads) and Adam for the gating, each with an optional linear decay to 0."""

from __future__ import annotations

import torch

from moe import MoEPolicy

__all__ = ["mixture_optimizers"]


def mixture_optimizers(policy: MoEPolicy, *, lr: float, gating_lr: float, lr_decay: bool,
                       iterations: int):
    """(expert optimiser, gating optimiser or None for a uniform gating, LR schedulers)."""
    expert = torch.optim.Adam(policy.expert_parameters(), lr=lr)
    gating = (torch.optim.Adam(policy.gating_parameters(), lr=gating_lr)
              if policy.gating is not None else None)
    decay = (lambda it: max(0.0, 1.0 - it / iterations)) if lr_decay else (lambda it: 1.0)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, decay)
                  for o in (expert, gating) if o is not None]
    return expert, gating, schedulers
