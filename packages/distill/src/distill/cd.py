"""Consistency distillation (CD, Song et al. 2023) of a BESO teacher into a one-step student.

Per update: a grid index n ~ U{1..N-1}, x_n = a + levels[n] eps; one Heun step of the teacher's
ODE gives x_{n-1}; the student's jump to the clean end from (x_n, levels[n]) is pulled toward
the EMA target's jump from (x_{n-1}, levels[n-1]):
    loss = || f_theta(x_n, t_n) - f_target(x_{n-1}, t_{n-1}) ||^2   (mean over B, T, A).
Either parameterisation has f(x, sigma_min) = x, so the chain is anchored at the clean end.

Shapes: B batch, T window, O obs dim, A action dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distill.consistency_training import ConsistencyTraining, ConsistencyTrainingConfig

__all__ = ["CDConfig", "CD"]


@dataclass(frozen=True)
class CDConfig(ConsistencyTrainingConfig):
    """CD settings; the target EMA of 0.95 is the published CD default.

    `parameterization` is the student's (what `ConsistencyConfig.from_teacher` is given):
    "cm" is the consistency model's own skip scalings; "ctm" jumps to sigma_min with CTM's
    G(x, t, sigma_min), which starts as the teacher's one-step sampler at every level.
    """

    target_ema: float = 0.95
    parameterization: str = "cm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.parameterization not in CD.PARAMETERIZATIONS:
            raise ValueError(f"CDConfig.parameterization must be one of "
                             f"{list(CD.PARAMETERIZATIONS)}, got {self.parameterization!r}")


class CD(ConsistencyTraining):
    """`CD(policy, teacher, config)`: policy a `ConsistencyPolicy` ("cm" or "ctm")."""

    PARAMETERIZATIONS = ("cm", "ctm")

    def loss(self, obs: torch.Tensor, a0: torch.Tensor):
        B = a0.shape[0]
        n = torch.randint(1, self.config.num_levels, (B,), device=a0.device)
        t, u = self.levels[n], self.levels[n - 1]
        x_t = a0 + t[:, None, None] * torch.randn_like(a0)
        x_u = self.ode.solve(x_t, n, n - 1, obs, max_steps=1)
        smin = torch.full_like(t, self.policy.config.sigma_min)
        pred = self.policy.jump(x_t, t, smin, obs)
        with torch.no_grad():
            target = self.target.jump(x_u, u, smin, obs)
        loss = (pred - target).pow(2).mean()
        return loss, loss.detach(), 0.0, 1.0
