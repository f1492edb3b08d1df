"""What each rod task is made of: env class, demonstrator, modes, and the original sizes.

Classes are named by import path and loaded on use, so listing a task costs no import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

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
    observation: str = "state"  # "image": the packed image observation (base.py)
    env_options: tuple[tuple[str, Any], ...] = ()  # constructor settings of the env class

    def env_kwargs(self) -> dict[str, Any]:
        """Constructor settings of the env, the observation kind included."""
        return {**dict(self.env_options), "observation": self.observation}


ROD_TASKS: dict[str, RodTaskSpec] = {
    # Avoiding has no randomisation: one context, 480 rollouts; ~4 demos per path.
    "avoiding": RodTaskSpec("envs/Avoiding-v0", "envs.d3il.avoiding:AvoidingEnv",
                            "envs.d3il.avoiding_demo:AvoidingDemonstrator", 24, 96, 1, 480),
    "aligning": RodTaskSpec("envs/Aligning-v0", "envs.d3il.aligning:AligningEnv",
                            "envs.d3il.aligning_demo:AligningDemonstrator", 2, 900, 60, 8),
    "pushing": RodTaskSpec("envs/Pushing-v0", "envs.d3il.pushing:PushingEnv",
                           "envs.d3il.pushing_demo:PushingDemonstrator", 4, 1800, 30, 16),
    # Sorting: 4 cubes (C(4,2) = 6 colour sequences); 2 and 6 cubes selectable. Image variant:
    # the policy sees two 96x96 cameras and the robot state instead of the cube poses.
    "sorting": RodTaskSpec("envs/Sorting-v0", "envs.d3il.sorting:SortingEnv",
                           "envs.d3il.sorting_demo:SortingDemonstrator", 6, 1000, 60, 18),
    "sorting_2": RodTaskSpec("envs/Sorting2-v0", "envs.d3il.sorting:Sorting2Env",
                             "envs.d3il.sorting_demo:SortingDemonstrator", 2, 1000, 60, 18),
    "sorting_6": RodTaskSpec("envs/Sorting6-v0", "envs.d3il.sorting:Sorting6Env",
                             "envs.d3il.sorting_demo:SortingDemonstrator", 20, 1000, 60, 18),
    # Stacking: 3 blocks grasped and stacked with a parallel gripper; 6 orders; Stacking-1/-2/-3
    # reported as levels. Image variant: two cameras and the gripper state, 1200 steps.
    "stacking": RodTaskSpec("envs/Stacking-v0", "envs.d3il.stacking:StackingEnv",
                            "envs.d3il.stacking_demo:StackingDemonstrator", 6, 1000, 60, 18),
    "stacking_image": RodTaskSpec("envs/StackingImage-v0", "envs.d3il.stacking:StackingEnv",
                                  "envs.d3il.stacking_demo:StackingDemonstrator", 6, 1000, 60,
                                  18, observation="image"),
    # Block Push (after IBC's BlockPushMultimodal, fixed targets; not a D3IL task): two blocks
    # into two targets, 4 modes (first block x its target); 10 Hz; p1 reported as a level.
    "block_push": RodTaskSpec("envs/BlockPush-v0", "envs.d3il.block_push:BlockPushEnv",
                              "envs.d3il.block_push_demo:BlockPushDemonstrator", 4, 1000, 100, 1),
    # Relay Kitchen (FrankaKitchen-v1, not a D3IL task): 4 of 7 subtasks; mode = their order
    # (840 ordered 4-permutations); levels subtasks_1..4; no randomisation (like Avoiding).
    "kitchen": RodTaskSpec("envs/RelayKitchen-v0", "envs.kitchen.env:RelayKitchenEnv",
                           "envs.kitchen.planner:KitchenPlanner", 840, 566, 100, 1),
    "sorting_image": RodTaskSpec("envs/SortingImage-v0", "envs.d3il.sorting:SortingEnv",
                                 "envs.d3il.sorting_demo:SortingDemonstrator", 6, 1000, 60, 18,
                                 observation="image"),
}
