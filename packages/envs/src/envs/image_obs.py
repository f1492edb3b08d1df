"""The image variants' observation, as gymnasium, Minari and lerobot users expect it.

One observation is a nested gymnasium `Dict`:

    {"state": Box(-inf, inf, (S,), float64),            robot state (`image_state()`)
     "images": Dict({"<camera>": Box(0, 255, (H, W, 3), uint8), ...})}

The keys map one to one to lerobot's features (`state` -> `observation.state`,
`images/<camera>` -> `observation.images.<camera>`) and to Minari's nested Dict storage.
gymnasium sorts a Dict's keys, so the camera order a network packs in is never the Dict's:
it is the env's `cameras` (overview, then in-hand). Packing for a network is the policy
adapter's job (`moe.pack_image_obs`); nothing here converts pixels to floats.

A vector env's batch has the same nesting with a leading batch axis B: `stack_observations`
builds it from single observations and `replace_rows` updates some of its rows (plain arrays
work too, so the evaluation runner treats state and image tasks alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["STATE_KEY", "IMAGES_KEY", "image_observation_space", "image_observation",
           "stack_observations", "replace_rows", "batch_size"]

STATE_KEY = "state"
IMAGES_KEY = "images"


def image_observation_space(*, state_dim: int, cameras: Sequence[str], image_size: int):
    """The Dict space of an image observation (see the module docstring)."""
    import gymnasium as gym

    if not isinstance(state_dim, int) or state_dim < 1:
        raise ValueError(f"state_dim must be an int >= 1, got {state_dim!r}")
    if not cameras or len(set(cameras)) != len(cameras):
        raise ValueError(f"cameras must be distinct names, at least one, got {cameras!r}")
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    image = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
    return gym.spaces.Dict({
        STATE_KEY: gym.spaces.Box(-np.inf, np.inf, (state_dim,), np.float64),
        IMAGES_KEY: gym.spaces.Dict({name: image for name in cameras}),
    })


def image_observation(state_S: np.ndarray, frames_KHW3: np.ndarray,
                      cameras: Sequence[str]) -> dict[str, Any]:
    """One observation from the robot state (S,) and the cameras' frames (K, H, W, 3) uint8."""
    frames = np.asarray(frames_KHW3)
    if frames.dtype != np.uint8 or frames.ndim != 4 or len(frames) != len(cameras):
        raise ValueError(f"frames must be uint8 ({len(cameras)}, H, W, 3), got {frames.dtype} "
                         f"{frames.shape}")
    return {STATE_KEY: np.asarray(state_S, dtype=np.float64),
            IMAGES_KEY: {name: frames[k] for k, name in enumerate(cameras)}}


def stack_observations(items: Sequence[Any]) -> Any:
    """Single observations (arrays or nested dicts of arrays) -> one batch (leading axis B)."""
    if not len(items):
        raise ValueError("no observations to stack")
    if isinstance(items[0], Mapping):
        return {key: stack_observations([item[key] for item in items]) for key in items[0]}
    return np.stack([np.asarray(item) for item in items])


def replace_rows(batch: Any, ids: np.ndarray, rows: Any) -> Any:
    """A fresh copy of `batch` whose rows `ids` are `rows` (a batch of len(ids))."""
    if isinstance(batch, Mapping):
        return {key: replace_rows(batch[key], ids, rows[key]) for key in batch}
    out = np.array(batch, copy=True)
    out[ids] = rows
    return out


def batch_size(batch: Any) -> int:
    """The number of rows B of a batch (array or nested dict of arrays)."""
    while isinstance(batch, Mapping):
        batch = next(iter(batch.values()))
    return len(batch)
