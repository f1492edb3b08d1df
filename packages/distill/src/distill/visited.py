"""The states a student's own rollouts visited, kept for VDD's on-policy expert steps.

VDD queries its teacher only where it asks; asked only on demonstration states, its experts
miss the teacher's actions on the states the student itself reaches (README, "Rod tasks:
diagnosis", item 16). `VisitedPool` holds raw observation windows (N, T, O) collected from the
student's rollouts (by whoever runs them: the bench cell, `bench.visited`), newest kept when
full, and draws rows from them uniformly.
"""

from __future__ import annotations

import torch

__all__ = ["VisitedPool"]


class VisitedPool:
    """A bounded FIFO of raw observation windows (N, T, O) on one device."""

    def __init__(self, *, capacity: int, window: int, obs_dim: int,
                 device: str | torch.device = "cpu") -> None:
        if capacity < 1:
            raise ValueError(f"VisitedPool.capacity must be >= 1, got {capacity!r}")
        self.capacity, self.window, self.obs_dim = capacity, window, obs_dim
        self._rows = torch.empty(0, window, obs_dim, device=device)

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, obs_NTO: torch.Tensor) -> None:
        """Append windows (N, T, O), raw units; the oldest go once `capacity` is exceeded."""
        obs = torch.as_tensor(obs_NTO, dtype=torch.float32, device=self._rows.device)
        if obs.dim() != 3 or tuple(obs.shape[1:]) != (self.window, self.obs_dim):
            raise ValueError(f"visited windows must be shaped (N, {self.window}, {self.obs_dim}) "
                             f"like the policy's, got {tuple(obs.shape)}")
        if not torch.isfinite(obs).all():
            raise ValueError("visited windows hold NaN or infinite observations")
        self._rows = torch.cat([self._rows, obs])[-self.capacity:]

    def sample(self, n: int) -> torch.Tensor:
        """(n, T, O) windows drawn uniformly with replacement (torch's global generator)."""
        if not len(self):
            raise ValueError("VisitedPool.sample: the pool is empty; add windows first")
        idx = torch.randint(len(self), (n,), device=self._rows.device)
        return self._rows[idx]
