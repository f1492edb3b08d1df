"""Training windows: the demonstrations' steps as the observation windows a policy sees."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.demonstrator import Episode
from envs.image_store import ImageFrames, PackedWindows, packed_windows

__all__ = ["make_windows"]


def make_windows(episodes: Sequence[Episode], window: int,
                 images: ImageFrames | None = None) -> dict[str, np.ndarray | PackedWindows]:
    """Every step of every episode as a window of the last `window` observations and the
    actions taken at them: obs (N, T, O), actions (N, T, A), float32; N = total steps.

    The start of an episode is padded by repeating its first observation and action, the way
    a policy's observation window is filled at the start of a rollout. With the episodes'
    camera frames (`images`), obs are the packed image observations, built lazily
    (`PackedWindows`)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    obs_w, act_w = [], []
    for ep in episodes:
        obs, act = ep.observations[:-1], ep.actions  # (L, O), (L, A)
        pad = window - 1
        act = np.concatenate([np.repeat(act[:1], pad, 0), act])
        idx = np.arange(ep.length)[:, None] + np.arange(window)[None, :]  # (L, T)
        if images is None:
            obs = np.concatenate([np.repeat(obs[:1], pad, 0), obs])
            obs_w.append(obs[idx])
        act_w.append(act[idx])
    actions = np.concatenate(act_w).astype(np.float32)
    if images is not None:
        return {"obs": packed_windows(images, [ep.length for ep in episodes], window),
                "actions": actions}
    return {"obs": np.concatenate(obs_w).astype(np.float32), "actions": actions}
