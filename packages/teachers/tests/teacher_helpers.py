"""Shared test helpers: tiny configs and teachers with an exact denoiser for Gaussian data."""

from __future__ import annotations

import torch

from teachers import BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy

TINY = dict(n_layer=1, n_head=2, n_embd=32)


def beso_config(**kw) -> BESOConfig:
    return BESOConfig(**{"obs_dim": 1, "action_dim": 2, **TINY, **kw})


def ddpm_config(**kw) -> DDPMConfig:
    return DDPMConfig(**{"obs_dim": 1, "action_dim": 2, **TINY, **kw})


class ExactBESO(BESOPolicy):
    """BESO whose denoiser is the exact one for normalised data ~ N(m, s^2 I)."""

    def __init__(self, config: BESOConfig, m: torch.Tensor, s: float) -> None:
        super().__init__(config)
        self.m, self.s = m, s

    def denoise(self, x_BTA, sigma_B, obs_norm_BTO):
        s2, sig2 = self.s**2, sigma_B[:, None, None] ** 2
        return (s2 * x_BTA + sig2 * self.m) / (s2 + sig2)


def vp_marginal_score(x, ab, m, s):
    """Score of x_t = sqrt(ab) a0 + sqrt(1 - ab) eps, a0 ~ N(m, s^2 I)."""
    return -(x - ab.sqrt() * m) / (ab * s**2 + 1 - ab)


class ExactDDPM(DDPMPolicy):
    """DDPM whose epsilon predictor is exact for normalised data ~ N(m, s^2 I)."""

    def __init__(self, config: DDPMConfig, m: torch.Tensor, s: float) -> None:
        super().__init__(config)
        self.m, self.s = m, s

    def predict_eps(self, x_BTA, t_B, obs_norm_BTO):
        ab = self.alpha_bars[t_B][:, None, None]
        return -(1 - ab).sqrt() * vp_marginal_score(x_BTA, ab, self.m, self.s)
