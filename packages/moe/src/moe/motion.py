"""An observation embedding that also sees the motion inside the observation window.

A rod-task observation is absolute positions, standardised over the whole workspace (std ~0.1-
0.2 m). One env step moves the robot ~5 mm, i.e. ~0.03 in those units: the direction a policy
has set off in is nearly invisible at the observation's own scale. Measured on Avoiding
(scripts/rod_teacher_study.py, README "Rod tasks: diagnosis"): a DDPM teacher fed the
demonstrations' own first steps kept the side they had chosen only 58% of the time at step 1
and 81% at step 3 (the data: 100%), so in closed loop it dithered between the branches into the
first obstacle. This embedding adds each step's difference to the previous step, rescaled to
unit standard deviation (a scale fitted on the training windows), as a second linear term:

    token_t = W_o obs_t + W_d (obs_t - obs_{t-1}) * scale,    (obs_{-1} := obs_0: no motion)

so motion is as visible as position. State observations only (the differences of camera
pixels are not what this is for).

Shapes: B batch, T window, O obs dim, D embedding width.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["MotionEmbedding", "window_differences", "fit_motion"]


def window_differences(obs_BTO: torch.Tensor) -> torch.Tensor:
    """obs_t - obs_{t-1} along the window, 0 at t = 0 (B, T, O). (Slices, not `Tensor.diff`:
    the same numbers, and ONNX-exportable.)"""
    step = obs_BTO[:, 1:] - obs_BTO[:, :-1]
    return torch.cat([torch.zeros_like(obs_BTO[:, :1]), step], dim=1)


class MotionEmbedding(nn.Module):
    """(B, T, O) normalised observations -> (B, T, D): position and rescaled window motion."""

    def __init__(self, obs_dim: int, n_embd: int, *, min_std: float = 1e-6) -> None:
        super().__init__()
        self.position = nn.Linear(obs_dim, n_embd)
        self.motion = nn.Linear(obs_dim, n_embd, bias=False)  # no motion, no term
        self.min_std = min_std
        # 1 / std of the one-step differences of normalised observations (saved with the model)
        self.register_buffer("motion_scale", torch.ones(obs_dim))

    @torch.no_grad()
    def fit(self, obs_norm_BTO: Any) -> MotionEmbedding:
        """Set `motion_scale` from training windows (N, T, O) of normalised observations.

        A dimension that never moves within a window (e.g. a fixed target pose) keeps scale 1.
        """
        x = torch.as_tensor(np.asarray(obs_norm_BTO) if not torch.is_tensor(obs_norm_BTO)
                            else obs_norm_BTO).double()
        if x.dim() != 3 or x.shape[1] < 2:
            raise ValueError("MotionEmbedding.fit needs observation windows (N, T >= 2, O), got "
                             f"shape {tuple(x.shape)}")
        d = x.diff(dim=1).reshape(-1, x.shape[-1])
        std = d.pow(2).mean(0).sqrt()  # about 0: differences have no offset worth removing
        scale = torch.where(std < self.min_std, torch.ones_like(std), 1.0 / std)
        self.motion_scale.copy_(scale.to(self.motion_scale.dtype))
        return self

    def forward(self, obs_BTO: torch.Tensor) -> torch.Tensor:
        return self.position(obs_BTO) + self.motion(window_differences(obs_BTO) * self.motion_scale)


def fit_motion(embedding: nn.Module, normalizer: nn.Module, obs_BTO: Any) -> None:
    """Fit `embedding`'s motion scale on raw observation windows (N, T, O), normalised by
    `normalizer` (the policy's own, already fitted); a no-op for other embeddings."""
    if isinstance(embedding, MotionEmbedding):
        obs = torch.as_tensor(np.asarray(obs_BTO) if not torch.is_tensor(obs_BTO) else obs_BTO,
                              dtype=torch.float32, device=embedding.motion_scale.device)
        embedding.fit(normalizer.normalize(obs))
