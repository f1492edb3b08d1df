"""What each rollout task is made of: env class, demonstrator, modes, and the original sizes;
and the gymnasium ids of their envs (`gymnasium.make("envs/Avoiding-v0")` after `import envs`).

The D3IL tasks live in `envs.d3il`, Block Push in `envs.block_push`, Relay Kitchen in
`envs.kitchen`. Classes are named by import path and loaded on use, so listing a task costs no
import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["RodTaskSpec", "ROD_TASKS", "load_object", "register_envs"]


def load_object(path: str):
    """'package.module:Name' -> the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True, kw_only=True)
class RodTaskSpec:
    """One task's env and demonstrator, its modes, and the original data and evaluation sizes."""

    env_id: str  # gymnasium id
    env: str  # import path of the env class
    demonstrator: str  # import path of the demonstrator class
    num_modes: int
    num_demos: int  # dataset size of the original (or close to it)
    eval_contexts: int  # original evaluation: contexts x rollouts per context
    eval_rollouts: int
    observation: str = "state"  # "image": the packed image observation (d3il/base.py)
    env_options: tuple[tuple[str, Any], ...] = ()  # constructor settings of the env class

    def env_kwargs(self) -> dict[str, Any]:
        """Constructor settings of the env, the observation kind included."""
        return {**dict(self.env_options), "observation": self.observation}


ROD_TASKS: dict[str, RodTaskSpec] = {
    # Avoiding has no randomisation: one context, 480 rollouts; ~4 demos per path.
    "avoiding": RodTaskSpec(
        env_id="envs/Avoiding-v0", env="envs.d3il.avoiding:AvoidingEnv",
        demonstrator="envs.d3il.avoiding_demo:AvoidingDemonstrator",
        num_modes=24, num_demos=96, eval_contexts=1, eval_rollouts=480),
    "aligning": RodTaskSpec(
        env_id="envs/Aligning-v0", env="envs.d3il.aligning:AligningEnv",
        demonstrator="envs.d3il.aligning_demo:AligningDemonstrator",
        num_modes=2, num_demos=900, eval_contexts=60, eval_rollouts=8),
    "pushing": RodTaskSpec(
        env_id="envs/Pushing-v0", env="envs.d3il.pushing:PushingEnv",
        demonstrator="envs.d3il.pushing_demo:PushingDemonstrator",
        num_modes=4, num_demos=1800, eval_contexts=30, eval_rollouts=16),
    # Sorting: 4 cubes (C(4,2) = 6 colour sequences); 2 and 6 cubes selectable. Image variant:
    # the policy sees two 96x96 cameras and the robot state instead of the cube poses.
    "sorting": RodTaskSpec(
        env_id="envs/Sorting-v0", env="envs.d3il.sorting:SortingEnv",
        demonstrator="envs.d3il.sorting_demo:SortingDemonstrator",
        num_modes=6, num_demos=1000, eval_contexts=60, eval_rollouts=18),
    "sorting_2": RodTaskSpec(
        env_id="envs/Sorting2-v0", env="envs.d3il.sorting:Sorting2Env",
        demonstrator="envs.d3il.sorting_demo:SortingDemonstrator",
        num_modes=2, num_demos=1000, eval_contexts=60, eval_rollouts=18),
    "sorting_6": RodTaskSpec(
        env_id="envs/Sorting6-v0", env="envs.d3il.sorting:Sorting6Env",
        demonstrator="envs.d3il.sorting_demo:SortingDemonstrator",
        num_modes=20, num_demos=1000, eval_contexts=60, eval_rollouts=18),
    # Stacking: 3 blocks grasped and stacked with a parallel gripper; 6 orders; Stacking-1/-2/-3
    # reported as levels. Image variant: two cameras and the gripper state, 1200 steps.
    "stacking": RodTaskSpec(
        env_id="envs/Stacking-v0", env="envs.d3il.stacking:StackingEnv",
        demonstrator="envs.d3il.stacking_demo:StackingDemonstrator",
        num_modes=6, num_demos=1000, eval_contexts=60, eval_rollouts=18),
    "stacking_image": RodTaskSpec(
        env_id="envs/StackingImage-v0", env="envs.d3il.stacking:StackingEnv",
        demonstrator="envs.d3il.stacking_demo:StackingDemonstrator",
        num_modes=6, num_demos=1000, eval_contexts=60, eval_rollouts=18, observation="image"),
    # Block Push (after IBC's BlockPushMultimodal, fixed targets; not a D3IL task): two blocks
    # into two targets, 4 modes (first block x its target); 10 Hz; p1 reported as a level.
    "block_push": RodTaskSpec(
        env_id="envs/BlockPush-v0", env="envs.block_push.env:BlockPushEnv",
        demonstrator="envs.block_push.oracle:BlockPushDemonstrator",
        num_modes=4, num_demos=1000, eval_contexts=100, eval_rollouts=1),
    # Relay Kitchen (FrankaKitchen-v1, not a D3IL task): 4 of 7 subtasks; mode = their order
    # (840 ordered 4-permutations); levels subtasks_1..4; no randomisation (like Avoiding).
    "kitchen": RodTaskSpec(
        env_id="envs/RelayKitchen-v0", env="envs.kitchen.env:RelayKitchenEnv",
        demonstrator="envs.kitchen.planner:KitchenPlanner",
        num_modes=840, num_demos=566, eval_contexts=100, eval_rollouts=1),
    "sorting_image": RodTaskSpec(
        env_id="envs/SortingImage-v0", env="envs.d3il.sorting:SortingEnv",
        demonstrator="envs.d3il.sorting_demo:SortingDemonstrator",
        num_modes=6, num_demos=1000, eval_contexts=60, eval_rollouts=18, observation="image"),
}


def register_envs() -> None:
    """Register every task's env once (episode limits are the env's own `max_steps`)."""
    import gymnasium as gym

    for spec in ROD_TASKS.values():
        if spec.env_id not in gym.registry:
            gym.register(spec.env_id, entry_point=spec.env, disable_env_checker=True,
                         kwargs=spec.env_kwargs())
