"""Noise schedules: Karras sigmas (VE / BESO) and the cosine alpha_bar schedule (VP / DDPM).

Shapes: S sampling steps, N train steps.
"""

from __future__ import annotations

import math

import torch

__all__ = ["karras_sigmas", "cosine_alpha_bars", "step_subsequence"]


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0,
                  *, device: torch.device | str | None = None) -> torch.Tensor:
    """(S + 1,) noise levels sigma_max -> sigma_min spaced as in Karras et al., then a final 0.

    With num_steps = 1 this is [sigma_max, 0]: a single jump to the denoiser's output.
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    ramp = torch.linspace(0.0, 1.0, num_steps, dtype=torch.float64, device=device)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(dtype=torch.float32)


def cosine_alpha_bars(num_train_steps: int, s: float = 0.008,
                      max_beta: float = 0.999) -> torch.Tensor:
    """(N + 1,) alpha_bar_t for t = 0..N, alpha_bar_0 = 1 (Nichol & Dhariwal 2021).

    alpha_bar(t) = f(t) / f(0) with f(t) = cos^2((t/N + s) / (1 + s) * pi / 2); the per-step
    betas 1 - alpha_bar_t / alpha_bar_{t-1} are clipped at `max_beta`, and alpha_bar is rebuilt
    from the clipped betas (so alpha_bar_N > 0).
    """
    t = torch.arange(num_train_steps + 1, dtype=torch.float64)
    f = torch.cos((t / num_train_steps + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = (1 - ab[1:] / ab[:-1]).clamp(0.0, max_beta)
    return torch.cat([ab.new_ones(1), torch.cumprod(1 - betas, 0)]).float()


def step_subsequence(num_steps: int, num_train_steps: int) -> list[int]:
    """Decreasing train steps to visit when sampling in `num_steps` steps, then 0.

    Evenly spaced from N down to 1: num_steps = N visits every step, num_steps = 1 jumps
    from N straight to the clean action.
    """
    if not isinstance(num_steps, int) or not 1 <= num_steps <= num_train_steps:
        raise ValueError(
            f"num_steps must be an int in 1..{num_train_steps} (the train steps), got {num_steps!r}"
        )
    if num_steps == 1:
        return [num_train_steps, 0]
    span = (num_train_steps - 1) / (num_steps - 1)
    steps = [math.floor(num_train_steps - i * span + 0.5) for i in range(num_steps)]
    return steps + [0]
