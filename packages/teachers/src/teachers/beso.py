"""BESO: a variance-exploding score-based diffusion policy with EDM preconditioning.

Noisy actions a_sigma = a + sigma * eps (normalised units). The denoiser is
    D(x; sigma | s) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), s)
with c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = log(sigma) / 4 (sd = sigma_data), and F the
DiffusionTransformer. Training minimises lambda(sigma) ||D(a + sigma eps; sigma) - a||^2 with
lambda = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2, i.e. ||F - (a - c_skip x) / c_out||^2.
The score of the noised data is (D(x; sigma) - x) / sigma^2.

Samplers (Karras schedule sigma_max -> sigma_min -> 0, step count chosen per call):
- "ddim": deterministic, x' = (sigma'/sigma) x + (1 - sigma'/sigma) D(x; sigma) (the Euler
  step of the probability-flow ODE in sigma; in VE DDIM and Euler coincide);
- "euler_ancestral": Euler step down to sigma_down, then fresh noise of std sigma_up, with
  sigma_up^2 + sigma_down^2 = sigma'^2 (k-diffusion's convention, eta = 1).
Sampling starts from N(0, sigma_max^2 I): with the default sigma_max = 1 on unit-variance data
that is only an approximation of the noised data (a larger sigma_max is more faithful).

Shapes: B batch, T window, O obs dim, A action dim.
"""

from __future__ import annotations

import math

import torch

from teachers.base import Batch, DiffusionPolicy
from teachers.config import BESOConfig
from teachers.network import EncodedObs
from teachers.schedules import karras_sigmas

__all__ = ["BESOPolicy"]


class BESOPolicy(DiffusionPolicy):
    """Score-based (VE) diffusion teacher with EDM preconditioning; see the module docstring."""

    CONFIG_CLS = BESOConfig
    CHECKPOINT_KIND = "teachers.BESOPolicy"
    config: BESOConfig

    # ------------------------------------------------------------------ the denoiser
    def preconditioning(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(c_skip, c_out, c_in, c_noise) for noise levels of any shape."""
        sd2 = self.config.sigma_data ** 2
        total = sigma**2 + sd2
        return sd2 / total, sigma * self.config.sigma_data / total.sqrt(), total.rsqrt(), \
            sigma.log() / 4

    def denoise(self, x_BTA: torch.Tensor, sigma_B: torch.Tensor,
                obs_norm_BTO: torch.Tensor | EncodedObs) -> torch.Tensor:
        """D(x; sigma | s): the denoised estimate of clean normalised actions, (B, T, A).

        The observations may be given encoded (`self.model.encode_obs`), as the samplers do.

        Samplers, the loss-free paths and `BESOScore` go through this method only, so a test
        may override it with an exact denoiser.
        """
        c_skip, c_out, c_in, c_noise = (c[:, None, None] if c.dim() else c
                                        for c in self.preconditioning(sigma_B))
        out = self.model(c_in * x_BTA, c_noise.reshape(-1), obs_norm_BTO)
        return c_skip * x_BTA + c_out * out

    def sample_train_sigmas(self, n: int, *, generator: torch.Generator | None = None):
        """(n,) training noise levels in [sigma_min, sigma_max]."""
        c = self.config
        if c.sigma_sampling == "loguniform":
            u = torch.rand(n, generator=generator, device=self.device)
            return torch.exp(math.log(c.sigma_min) + u * (math.log(c.sigma_max)
                                                           - math.log(c.sigma_min)))
        z = torch.randn(n, generator=generator, device=self.device)
        return torch.exp(c.lognormal_mean + c.lognormal_std * z).clamp(c.sigma_min, c.sigma_max)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """EDM denoising loss, lambda(sigma)-weighted, mean over batch, window and action dims."""
        obs, a0 = self.normalize_batch(batch)
        sigma = self.sample_train_sigmas(a0.shape[0])
        x = a0 + sigma[:, None, None] * torch.randn_like(a0)
        c_skip, c_out, c_in, c_noise = (c[:, None, None] for c in self.preconditioning(sigma))
        out = self.model(c_in * x, c_noise.reshape(-1), obs)
        target = (a0 - c_skip * x) / c_out
        loss = (out - target).pow(2).mean()
        return loss, {"loss": loss.detach()}  # a tensor: no wait for the device per step

    # ------------------------------------------------------------------ samplers
    def sigmas(self, num_steps: int) -> torch.Tensor:
        """The sampling schedule (num_steps + 1,), last entry 0."""
        c = self.config
        return karras_sigmas(num_steps, c.sigma_min, c.sigma_max, c.rho, device=self.device)

    @torch.no_grad()
    def sample_normalized(self, obs_norm_BTO: torch.Tensor, *, num_steps: int, sampler: str,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        B, T, _ = obs_norm_BTO.shape
        obs = self.model.encode_obs(obs_norm_BTO)  # once for all steps
        sigmas = self.sigmas(num_steps)
        x = torch.randn(B, T, self.config.action_dim, generator=generator, device=self.device)
        x = x * sigmas[0]
        for i in range(num_steps):
            sigma, nxt = sigmas[i], sigmas[i + 1]
            denoised = self.denoise(x, sigma.expand(B), obs)
            if sampler == "ddim":
                x = (nxt / sigma) * x + (1 - nxt / sigma) * denoised
            elif sampler == "euler_ancestral":
                up = torch.minimum(nxt, (nxt**2 * (sigma**2 - nxt**2) / sigma**2).sqrt())
                down = (nxt**2 - up**2).sqrt()
                x = denoised + (down / sigma) * (x - denoised)  # Euler step to sigma_down
                if nxt > 0:
                    x = x + up * torch.randn(x.shape, generator=generator, device=self.device)
            else:
                raise ValueError(f"BESOPolicy samplers are {list(BESOConfig.SAMPLERS)}, "
                                 f"got {sampler!r}")
        return x
