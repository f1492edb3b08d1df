"""DDPM: a variance-preserving diffusion policy with epsilon prediction and a cosine schedule.

Forward process over train steps t = 1..N (normalised actions a_0):
    x_t = sqrt(alpha_bar_t) a_0 + sqrt(1 - alpha_bar_t) eps,    alpha_bar_0 = 1.
The network predicts eps from (x_t, t / N, s); the loss is the plain MSE to the drawn eps.
The score of the step-t marginal is -eps(x, t) / sqrt(1 - alpha_bar_t).

Sampling visits a subsequence of the train steps (`step_subsequence`, count chosen per call)
with the generalised DDIM update (Song et al. 2021):
    x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)      (clipped to +-clip_sample)
    x_t' = sqrt(ab_t') x0 + sqrt(1 - ab_t' - s^2) eps + s z,
    s = eta sqrt((1 - ab_t') / (1 - ab_t)) sqrt(1 - ab_t / ab_t')
"ddim" is eta = 0 (deterministic); "ddpm" is eta = 1, which with every step is the original
ancestral sampler (posterior variance beta-tilde) and with fewer steps its skip-step analogue.
One step ("DDPM-1") is a single x0 prediction from pure noise.

Shapes: B batch, T window, O obs dim, A action dim, N train steps.
"""

from __future__ import annotations

import torch

from teachers.base import Batch, DiffusionPolicy
from teachers.config import DDPMConfig
from teachers.network import EncodedObs
from teachers.schedules import cosine_alpha_bars, step_subsequence

__all__ = ["DDPMPolicy"]


class DDPMPolicy(DiffusionPolicy):
    """Epsilon-predicting (VP) diffusion teacher; see the module docstring."""

    CONFIG_CLS = DDPMConfig
    CHECKPOINT_KIND = "teachers.DDPMPolicy"
    config: DDPMConfig

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__(config)
        # derived from the config, so not saved (and not part of the state dict)
        self.register_buffer(
            "alpha_bars",
            cosine_alpha_bars(config.num_train_steps, config.cosine_s, config.max_beta),
            persistent=False,
        )

    # ------------------------------------------------------------------ the eps predictor
    def predict_eps(self, x_BTA: torch.Tensor, t_B: torch.Tensor,
                    obs_norm_BTO: torch.Tensor | EncodedObs) -> torch.Tensor:
        """eps(x_t, t | s), (B, T, A), for integer train steps t in 1..N (observations raw
        normalised or encoded by `self.model.encode_obs`, as the samplers pass them).

        Samplers and `DDPMScore` go through this method only, so a test may override it with
        an exact predictor.
        """
        return self.model(x_BTA, t_B.float() / self.config.num_train_steps, obs_norm_BTO)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Epsilon MSE at t ~ U{1..N}, mean over batch, window and action dims."""
        obs, a0 = self.normalize_batch(batch)
        t = torch.randint(1, self.config.num_train_steps + 1, (a0.shape[0],), device=self.device)
        ab = self.alpha_bars[t][:, None, None]
        eps = torch.randn_like(a0)
        x = ab.sqrt() * a0 + (1 - ab).sqrt() * eps
        loss = (self.predict_eps(x, t, obs) - eps).pow(2).mean()
        return loss, {"loss": loss.detach()}  # a tensor: no wait for the device per step

    # ------------------------------------------------------------------ samplers
    @torch.no_grad()
    def sample_normalized(self, obs_norm_BTO: torch.Tensor, *, num_steps: int, sampler: str,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        if sampler not in DDPMConfig.SAMPLERS:
            raise ValueError(
                f"DDPMPolicy samplers are {list(DDPMConfig.SAMPLERS)}, got {sampler!r}"
            )
        eta = 1.0 if sampler == "ddpm" else 0.0
        clip = self.config.clip_sample
        B, T, _ = obs_norm_BTO.shape
        obs = self.model.encode_obs(obs_norm_BTO)  # once for all steps
        steps = step_subsequence(num_steps, self.config.num_train_steps)
        x = torch.randn(B, T, self.config.action_dim, generator=generator, device=self.device)
        for t, prev in zip(steps[:-1], steps[1:]):
            ab, ab_prev = self.alpha_bars[t], self.alpha_bars[prev]
            eps = self.predict_eps(x, torch.full((B,), t, device=self.device), obs)
            x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            if clip > 0:
                x0 = x0.clamp(-clip, clip)
                eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()  # consistent with the clipped x0
            s = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
            x = ab_prev.sqrt() * x0 + (1 - ab_prev - s**2).clamp_min(0).sqrt() * eps
            if eta > 0 and prev > 0:
                x = x + s * torch.randn(x.shape, generator=generator, device=self.device)
        return x
