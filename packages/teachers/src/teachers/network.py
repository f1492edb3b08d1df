"""The denoiser network shared by both teachers: a GPT over [noise token, observation tokens].

Token layout (L = T + 1 tokens, causal):
    token 0        : embedding of the noise level (one scalar per row, see NoiseEmbedding)
    token 1 + t    : obs_embed(obs_t) + Linear(A -> D)(noisy action_t)
obs_embed is Linear(O -> D) for state observations, timm CNNs + a fusion layer for packed image
observations (moe.make_obs_embedding). The observation part does not depend on the noise, so a
sampler encodes it once (`encode_obs` -> EncodedObs) and passes that in place of the
observations to every denoising step; the network accepts either.
The noisy action of timestep t is *added* to observation token t (no separate action tokens),
so the sequence stays T + 1 long. Token 1 + t sees the noise level and timesteps <= t; a linear
head on it gives the output for action t. What the output means (EDM's F, or epsilon) is the
policy's business.

Shapes: B batch, T window, O obs dim, A action dim, D embedding width, F Fourier features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from moe import GPT, make_obs_embedding

from teachers.config import DiffusionConfig

__all__ = ["NoiseEmbedding", "DiffusionTransformer", "EncodedObs"]


@dataclass(frozen=True)
class EncodedObs:
    """Observation tokens (B, T, D) from `DiffusionTransformer.encode_obs`, passed in place of
    normalised observations (B, T, O) so that many denoising steps share one encoding."""

    tokens_BTD: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.tokens_BTD.shape


class NoiseEmbedding(nn.Module):
    """Scalar noise level (B,) -> (B, D): fixed Fourier features, then a 2-layer MLP.

    Features are [x, sin(pi 2^k x), cos(pi 2^k x)] for k = 0..num_freqs-1, which resolve levels
    1/2^num_freqs apart on the O(1) scalars the policies feed in (BESO: c_noise = log(sigma)/4,
    DDPM: t / N).
    """

    def __init__(self, dim: int, num_freqs: int = 8) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(num_freqs, dtype=torch.float32),
                             persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * num_freqs + 1, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, level_B: torch.Tensor) -> torch.Tensor:
        x = level_B.reshape(-1, 1).to(self.freqs.dtype)
        angles = x * self.freqs  # (B, F)
        return self.mlp(torch.cat([x, angles.sin(), angles.cos()], dim=-1))


class DiffusionTransformer(nn.Module):
    """(noisy actions (B, T, A), noise level (B,), normalised obs (B, T, O) or their
    EncodedObs) -> (B, T, A)."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        c = config
        self.noise_embed = NoiseEmbedding(c.n_embd, c.noise_freqs)
        self.obs_embed = make_obs_embedding(obs_dim=c.obs_dim, n_embd=c.n_embd,
                                            motion=c.obs_motion, **c.image_fields())
        self.action_embed = nn.Linear(c.action_dim, c.n_embd)
        self.backbone = GPT(c.gpt_config())
        self.head = nn.Linear(c.n_embd, c.action_dim)

    def encode_obs(self, obs_BTO: torch.Tensor | EncodedObs) -> EncodedObs:
        """The observation tokens (B, T, D), to reuse across denoising steps."""
        if isinstance(obs_BTO, EncodedObs):
            return obs_BTO
        return EncodedObs(self.obs_embed(obs_BTO))

    def forward(self, noisy_BTA: torch.Tensor, level_B: torch.Tensor,
                obs_BTO: torch.Tensor | EncodedObs) -> torch.Tensor:
        return self.decode(self.noise_embed(level_B), noisy_BTA, obs_BTO)

    def decode(self, noise_BD: torch.Tensor, noisy_BTA: torch.Tensor,
               obs_BTO: torch.Tensor | EncodedObs) -> torch.Tensor:
        """The transformer on [noise token (B, D), observation + noisy action tokens]."""
        if noisy_BTA.shape[:2] != obs_BTO.shape[:2]:
            raise ValueError(
                f"noisy actions {tuple(noisy_BTA.shape)} and observations {tuple(obs_BTO.shape)} "
                "must share (batch, window)"
            )
        obs_tok = self.encode_obs(obs_BTO).tokens_BTD + self.action_embed(noisy_BTA)  # (B, T, D)
        feats = self.backbone(torch.cat([noise_BD.unsqueeze(1), obs_tok], dim=1))  # (B, T+1, D)
        return self.head(feats[:, 1:])
