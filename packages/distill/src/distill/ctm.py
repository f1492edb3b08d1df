"""Consistency trajectory models (CTM, Kim et al. 2024) distilled from a BESO teacher.

The student G(x_t, t, s) jumps from any level t to any s <= t along the teacher's ODE. Per
update, grid indices n_t ~ U{1..N-1}, n_s ~ U{0..n_t-1} and n_u ~ U{max(n_s, n_t - K)..n_t-1}
(K = `max_teacher_steps` bounds the teacher's Heun steps per sample); x_t = a + t eps and
x_u = teacher ODE from t to u. Both the student's jump and the target's two-stage jump
(t -> u by the teacher, u -> s by the target) are carried to sigma_min by the target, and
compared there (CTM's "soft consistency" matching, with the target an EMA):
    L_ctm = || G_tgt(G_theta(x_t, t, s), s, smin) - G_tgt(G_tgt(x_u, u, s), s, smin) ||^2
plus the denoising term that keeps g(x, t, t) a denoiser:
    L_dsm = || g_theta(x_t, t, t) - a ||^2,     loss = L_ctm + dsm_weight * L_dsm
(means over B, T, A). The GAN term of the paper is left out.

Shapes: B batch, T window, O obs dim, A action dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distill.checks import check_positive_int
from distill.consistency_training import ConsistencyTraining, ConsistencyTrainingConfig

__all__ = ["CTMConfig", "CTM"]


@dataclass(frozen=True)
class CTMConfig(ConsistencyTrainingConfig):
    """CTM settings (target EMA 0.999 as published)."""

    dsm_weight: float = 0.1  # measured on the toy: 1.0 let the noisy DSM term drown the CTM term
    max_teacher_steps: int = 4  # K: most Heun steps of the teacher per sample

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.dsm_weight >= 0:
            raise ValueError(f"CTMConfig.dsm_weight must be >= 0, got {self.dsm_weight!r}")
        check_positive_int(type(self).__name__, max_teacher_steps=self.max_teacher_steps)


class CTM(ConsistencyTraining):
    """`CTM(policy, teacher, config)`: policy a `ConsistencyPolicy` with parameterization="ctm"."""

    PARAMETERIZATIONS = ("ctm",)

    def loss(self, obs: torch.Tensor, a0: torch.Tensor):
        c = self.config
        B, dev = a0.shape[0], a0.device
        n_t = torch.randint(1, c.num_levels, (B,), device=dev)
        n_s = self._index(torch.zeros_like(n_t), n_t - 1)
        n_u = self._index(torch.maximum(n_s, n_t - c.max_teacher_steps), n_t - 1)
        t, u, s = self.levels[n_t], self.levels[n_u], self.levels[n_s]
        smin = torch.full_like(t, self.policy.config.sigma_min)
        x_t = a0 + t[:, None, None] * torch.randn_like(a0)
        x_u = self.ode.solve(x_t, n_t, n_u, obs, max_steps=c.max_teacher_steps)
        with torch.no_grad():  # the target's observation tokens: encoded once, used 3 times
            target_obs = self.target.model.encode_obs(obs)
            target = self.target.jump(self.target.jump(x_u, u, s, target_obs), s, smin,
                                      target_obs)
        estimate = self.target.jump(self.policy.jump(x_t, t, s, obs), s, smin, target_obs)
        consistency = (estimate - target).pow(2).mean()
        dsm = (self.policy.denoise(x_t, t, obs) - a0).pow(2).mean()
        loss = consistency + c.dsm_weight * dsm
        return (loss, consistency.detach(), dsm.detach(), (n_t - n_u).float().mean())
