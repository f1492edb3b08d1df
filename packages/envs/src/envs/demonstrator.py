"""Scripted demonstrators and the episode runner shared by data generation and tests.

A demonstrator is stochastic and multimodal like the people who recorded the original data:
at `reset` it draws a mode (uniformly over the task's modes) and a style (speed, curvature,
noise), then `act` maps each observation to a desired-position delta. It sees only the
observation, like a policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["Demonstrator", "Episode", "run_episode"]


class Demonstrator(Protocol):
    num_modes: int
    intended_mode: int  # the mode drawn at the last reset

    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class Episode:
    """One rollout: observations (L+1, O) incl. the last, actions (L, A), outcome and mode.

    Recorded with `record_images`, also the camera frames (L+1, K, 3, H, W) uint8 and the
    robot state of the image observation (L+1, S) at every observation."""

    observations: np.ndarray
    actions: np.ndarray
    success: bool
    failure: bool
    mode: int  # -1: undecided / failed
    context: np.ndarray
    seed: int
    images: np.ndarray | None = None
    image_states: np.ndarray | None = None

    @property
    def length(self) -> int:
        return len(self.actions)


def run_episode(env, demonstrator: Demonstrator, *, seed: int,
                context: np.ndarray | None = None, record_images: bool = False,
                action_noise: float = 0.0) -> Episode:
    """Roll the demonstrator out in `env` from `reset(seed=seed)` until the episode ends.

    The demonstrator's randomness comes from the same seed (independent stream), so an episode
    is a function of (env, demonstrator, seed, context). The demonstrator always sees the state
    observation; `record_images` also renders the env's cameras at every observation (the
    image variants' data).

    `action_noise` > 0 injects noise the DART way: the env executes the action plus Gaussian
    noise of that std (per dimension, its own stream of the seed) while the episode records the
    demonstrator's clean action, so the data shows how to recover from small deviations."""
    options = None if context is None else {"context": context}
    noise_rng = np.random.default_rng([seed, 2])
    obs, info = env.reset(seed=seed, options=options)
    demonstrator.reset(obs, np.random.default_rng([seed, 1]))
    observations, actions, images, states = [obs], [], [], []

    def record() -> None:
        if record_images:
            images.append(env.render_cameras().transpose(0, 3, 1, 2))
            states.append(env.image_state())

    record()
    while True:
        action = np.asarray(demonstrator.act(obs), dtype=np.float64)
        executed = (action + noise_rng.normal(0.0, action_noise, action.shape)
                    if action_noise > 0 else action)
        obs, _, terminated, truncated, info = env.step(executed)
        observations.append(obs)
        actions.append(action)
        record()
        if terminated or truncated:
            break
    success = bool(info["success"])
    return Episode(np.asarray(observations), np.asarray(actions), success,
                   bool(info["failure"]), int(info["mode"]) if success else -1,
                   np.asarray(info["context"]), seed,
                   np.stack(images) if record_images else None,
                   np.asarray(states) if record_images else None)
