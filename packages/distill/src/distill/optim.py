"""What every MoE algorithm (VDD, EM, IMC) sets up the same way: the experts' starting means
and the optimisers (Adam for the experts, i.e. backbone and heads, and Adam for the gating,
each with an optional linear decay to 0)."""

from __future__ import annotations

import torch

from moe import MoEPolicy

__all__ = ["prepare_mixture"]


def prepare_mixture(policy: MoEPolicy, config, *, init_actions):
    """Place the experts per `config.expert_init` ("data": k-means++ on `init_actions`, the
    demonstration actions; "random": as built) and return (expert optimiser, gating optimiser
    or None for a uniform gating, LR schedulers) from `config`'s lr, gating_lr, lr_decay and
    iterations. The optimisers hold only parameters with requires_grad (a frozen image encoder
    stays frozen)."""
    c = config
    if c.expert_init == "data":
        if init_actions is None:
            raise ValueError(
                f"{type(c).__name__}.expert_init='data' needs init_actions (demo actions)")
        policy.init_experts_from_actions(init_actions)
    # only trainable parameters: a frozen image encoder must stay frozen
    expert = torch.optim.Adam([p for p in policy.expert_parameters() if p.requires_grad],
                              lr=c.lr)
    gating = (torch.optim.Adam([p for p in policy.gating_parameters() if p.requires_grad],
                               lr=c.gating_lr)
              if policy.gating is not None else None)
    decay = (lambda it: max(0.0, 1.0 - it / c.iterations)) if c.lr_decay else (lambda it: 1.0)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, decay)
                  for o in (expert, gating) if o is not None]
    return expert, gating, schedulers
