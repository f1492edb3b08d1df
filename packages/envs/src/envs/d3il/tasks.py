"""What each rod task is made of: env class, demonstrator, modes, and the original sizes.

Classes are named by import path and loaded on use, so listing a task costs no import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["RodTaskSpec", "ROD_TASKS", "load_object"]


def load_object(path: str):
    """'package.module:Name' -> the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class RodTaskSpec:
    env_id: str  # gymnasium id
    env: str  # import path of the env class
    demonstrator: str  # import path of the demonstrator class
    num_modes: int
    num_demos: int  # dataset size of the original (or close to it)
    eval_contexts: int  # original evaluation: contexts x rollouts per context
    eval_rollouts: int


ROD_TASKS: dict[str, RodTaskSpec] = {
    # Avoiding has no randomisation: one context, 480 rollouts; ~4 demos per path.
    "avoiding": RodTaskSpec("envs/Avoiding-v0", "envs.d3il.avoiding:AvoidingEnv",
                            "envs.d3il.avoiding_demo:AvoidingDemonstrator", 24, 96, 1, 480),
    "aligning": RodTaskSpec("envs/Aligning-v0", "envs.d3il.aligning:AligningEnv",
                            "envs.d3il.aligning_demo:AligningDemonstrator", 2, 900, 60, 8),
    "pushing": RodTaskSpec("envs/Pushing-v0", "envs.d3il.pushing:PushingEnv",
                           "envs.d3il.pushing_demo:PushingDemonstrator", 4, 1800, 30, 16),
}
