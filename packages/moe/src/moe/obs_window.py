"""The observation window a policy keeps in a control loop (one `act` call per env step)."""

from __future__ import annotations

from collections import deque
from typing import Any

import torch

__all__ = ["ObservationWindow", "check_obs_window"]


def check_obs_window(obs_BTO: torch.Tensor, *, obs_dim: int, window: int) -> None:
    """Raise a ValueError naming the problem unless obs is (B, T, obs_dim) with 1 <= T <= window."""
    if obs_BTO.dim() != 3:
        raise ValueError(
            f"observations must be shaped (batch, window, obs_dim), got {tuple(obs_BTO.shape)}"
        )
    if obs_BTO.shape[-1] != obs_dim:
        raise ValueError(
            f"observations have obs_dim {obs_BTO.shape[-1]}, the policy expects {obs_dim}"
        )
    if not 1 <= obs_BTO.shape[1] <= window:
        raise ValueError(
            f"observation window of {obs_BTO.shape[1]} steps, the policy takes 1..{window}"
        )


class ObservationWindow:
    """The last `window` raw observations, batched (B, O) per step; at the start of an episode
    the first observation is repeated to fill the window. `clear()` between episodes."""

    def __init__(self, window: int, obs_dim: int) -> None:
        self.window, self.obs_dim = window, obs_dim
        self._queue: deque[torch.Tensor] = deque(maxlen=window)

    def push(self, obs: Any, device: torch.device) -> tuple[torch.Tensor, bool, bool]:
        """Add one observation (O,) or a batch (B, O); return the window (B, T, O), whether the
        input was a single observation, and whether it was numpy (to answer in kind)."""
        as_numpy = not torch.is_tensor(obs)
        x = torch.as_tensor(obs, dtype=torch.float32, device=device)
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)
        if x.dim() != 2 or x.shape[-1] != self.obs_dim:
            raise ValueError(
                f"act expects one observation (obs_dim={self.obs_dim},) or a batch "
                f"(B, {self.obs_dim}), got {tuple(x.shape)}"
            )
        if self._queue and self._queue[-1].shape[0] != x.shape[0]:
            raise ValueError(
                f"act got a batch of {x.shape[0]} after batches of {self._queue[-1].shape[0]};"
                " call reset() when the number of environments changes"
            )
        if not self._queue:
            self._queue.extend([x] * self.window)
        else:
            self._queue.append(x)
        return torch.stack(list(self._queue), dim=1), single, as_numpy

    def clear(self) -> None:
        self._queue.clear()

    @staticmethod
    def answer(action: torch.Tensor, single: bool, as_numpy: bool) -> Any:
        """Shape and type the action like the observation that asked for it."""
        if single:
            action = action[0]
        return action.cpu().numpy() if as_numpy else action
