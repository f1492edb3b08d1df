"""Gymnasium ids of the rod tasks: `gymnasium.make("envs/Avoiding-v0")` after `import envs`."""

from __future__ import annotations

from envs.d3il.tasks import ROD_TASKS

__all__ = ["register_envs"]


def register_envs() -> None:
    """Register every rod task once (episode limits are the env's own `max_steps`)."""
    import gymnasium as gym

    for spec in ROD_TASKS.values():
        if spec.env_id not in gym.registry:
            gym.register(spec.env_id, entry_point=spec.env, disable_env_checker=True,
                         kwargs=spec.env_kwargs())
