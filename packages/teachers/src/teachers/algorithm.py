"""Training a diffusion teacher: AdamW on the denoising loss, an EMA of the weights.

The policy handed to `DiffusionAlgorithm` *is* the EMA model: it is what `sample_actions`,
`save` and the score adapters use. The algorithm trains a private online copy
(`algorithm.online`) and after every step moves the policy's weights toward it. So fit the
policy's normalisers before building the algorithm (the online copy is taken then).

Batches are dicts {"obs": (B, T, O), "actions": (B, T, A)} in raw units.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch

from teachers.base import Batch, DiffusionPolicy
from teachers.ema import EMA

__all__ = ["TeacherTrainingConfig", "DiffusionStats", "DiffusionAlgorithm"]


@dataclass(frozen=True)
class TeacherTrainingConfig:
    """How a teacher is trained. lr: linear warmup over `warmup_steps`, then constant or cosine
    decay to `min_lr_ratio * lr` at `iterations`."""

    iterations: int = 50_000
    batch_size: int = 512
    lr: float = 1e-4
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    ema_warmup: bool = True
    warmup_steps: int = 0
    lr_schedule: str = "constant"  # "constant" or "cosine"
    min_lr_ratio: float = 0.0
    grad_clip: float = 0.0  # max grad norm; 0 = off

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"TeacherTrainingConfig.{name} must be a positive int, got {value!r}"
                )
        if not self.lr > 0:
            raise ValueError(f"TeacherTrainingConfig.lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(
                f"TeacherTrainingConfig.weight_decay must be >= 0, got {self.weight_decay!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(
                f"TeacherTrainingConfig.ema_decay must lie in [0, 1), got {self.ema_decay!r}"
            )
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(
                f"TeacherTrainingConfig.warmup_steps must be an int >= 0, got {self.warmup_steps!r}"
            )
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"TeacherTrainingConfig.lr_schedule must be 'constant' or 'cosine', got "
                f"{self.lr_schedule!r}"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(
                f"TeacherTrainingConfig.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio!r}"
            )
        if not self.grad_clip >= 0:
            raise ValueError(
                f"TeacherTrainingConfig.grad_clip must be >= 0, got {self.grad_clip!r}"
            )

    def lr_factor(self, step: int) -> float:
        """Multiplier of `lr` at optimiser step `step` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return 1.0
        span = max(1, self.iterations - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DiffusionStats:
    """What one `update` did. `loss` and `grad_norm` are 0-dim tensors on the model's device
    (reading them, `float(stats.loss)`, waits for the device: a loop reads them only when it
    logs, so a GPU step does not stall)."""

    loss: torch.Tensor  # the online model's denoising loss on the batch (before the step)
    lr: float
    ema_decay: float
    grad_norm: torch.Tensor

    def to_dict(self) -> dict[str, float | torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class DiffusionAlgorithm:
    """Trains a BESO or DDPM teacher; `update([batch])` runs one optimiser step."""

    def __init__(self, policy: DiffusionPolicy, config: TeacherTrainingConfig) -> None:
        if not isinstance(policy, DiffusionPolicy):
            raise TypeError(
                f"DiffusionAlgorithm needs a diffusion policy, got {type(policy).__name__}"
            )
        self.policy, self.config = policy, config
        self.online = copy.deepcopy(policy).train()
        self.optimizer = torch.optim.AdamW(self.online.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, config.lr_factor)
        self.ema = EMA(config.ema_decay, warmup=config.ema_warmup)
        self.iteration = 0

    @property
    def batches_per_update(self) -> int:
        return 1

    def update(self, batches: Sequence[Batch]) -> DiffusionStats:
        if len(batches) != 1:
            raise ValueError(f"DiffusionAlgorithm.update needs 1 batch, got {len(batches)}")
        self.online.train()
        loss, _ = self.online.compute_loss(batches[0])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.online.parameters(), max_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        decay = self.ema.update(self.policy, self.online)
        self.iteration += 1
        return DiffusionStats(loss=loss.detach(), lr=lr, ema_decay=decay,
                              grad_norm=grad_norm.detach())
