"""Relay Kitchen: Gymnasium-Robotics' FrankaKitchen-v1 behind the rod tasks' env interface.

The wrapped env is FrankaKitchen-v1's class (`KitchenEnv`) with all 7 subtasks and no
termination of its own: action 9 joint velocities in [-1, 1] (x 2 rad/s, the env's scaling),
12.5 Hz (40 physics steps of 2 ms), observation its 59-D vector (robot qpos 9, qvel 9, object
qpos 21, object qvel 20, with the env's observation noise). A subtask counts as done the first
time its joints are within 0.3 (norm) of the goal (`OBS_ELEMENT_GOALS`, `BONUS_THRESH`) and
stays done, like the original. Episodes end when 4 subtasks are done (success) or after 280
steps.

Mode: the order of the first 4 subtasks done, the index of that ordered 4-permutation of the 7
`SUBTASKS` in `itertools.permutations` order (840 modes; -1 until 4 are done). Graded levels
"subtasks_k" (k = 1..4): (at least k done, index of the ordered k-prefix among the 7!/(7-k)!
k-permutations), so the mean number of subtasks done is the sum of the level rates.
Context: none (size 0); the kitchen has no object randomisation, like Avoiding; episodes
differ only through the observation noise, seeded by `reset(seed=...)`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from math import perm
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["RelayKitchenEnv", "SUBTASKS", "NUM_MODES", "order_mode", "subtasks_done",
           "SUBTASK_QPOS", "SUBTASK_GOALS", "THRESHOLD"]

SUBTASKS: tuple[str, ...] = ("microwave", "kettle", "bottom burner", "top burner",
                             "light switch", "slide cabinet", "hinge cabinet")


def _kitchen_module():
    """gymnasium-robotics' kitchen module, imported without the notice about its Adroit envs
    that the package prints to stderr on import (it does not concern the kitchen)."""
    with contextlib.redirect_stderr(io.StringIO()):
        from gymnasium_robotics.envs.franka_kitchen import kitchen_env
    return kitchen_env


_KITCHEN = _kitchen_module()
# qpos indices and goals of each subtask and the completion threshold: FrankaKitchen's own
SUBTASK_QPOS: dict[str, tuple[int, ...]] = {
    name: tuple(int(i) for i in _KITCHEN.OBS_ELEMENT_INDICES[name]) for name in SUBTASKS}
SUBTASK_GOALS: dict[str, tuple[float, ...]] = {
    name: tuple(float(g) for g in _KITCHEN.OBS_ELEMENT_GOALS[name]) for name in SUBTASKS}
THRESHOLD: float = _KITCHEN.BONUS_THRESH
NUM_DONE = 4  # subtasks of a successful episode
NUM_MODES = perm(len(SUBTASKS), NUM_DONE)  # 840
OBJ_QPOS_OBS = 18  # the object qpos (qpos[9:30]) starts at observation index 18
_PERMS = {k: {p: i for i, p in enumerate(itertools.permutations(range(len(SUBTASKS)), k))}
          for k in range(1, NUM_DONE + 1)}


def order_mode(order: list[str] | tuple[str, ...]) -> int:
    """Index of an ordered list of k distinct subtasks among the k-permutations of the 7."""
    try:
        key = tuple(SUBTASKS.index(name) for name in order)
    except ValueError as e:
        raise ValueError(f"unknown subtask in {order!r}; choose from {SUBTASKS}") from e
    if key not in _PERMS.get(len(key), {}):
        raise ValueError(f"order must list 1..{NUM_DONE} distinct subtasks, got {order!r}")
    return _PERMS[len(key)][key]


def subtasks_done(qpos: np.ndarray) -> list[str]:
    """The subtasks whose joints in the 30-D kitchen `qpos` are within THRESHOLD of the goal."""
    return [name for name in SUBTASKS
            if np.linalg.norm(qpos[list(SUBTASK_QPOS[name])]
                              - np.asarray(SUBTASK_GOALS[name])) < THRESHOLD]


class RelayKitchenEnv(gym.Env):
    """FrankaKitchen-v1 with the rod tasks' interface (success, mode, levels, context)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 12}
    obs_dim: int = 59
    max_steps: int = 280
    num_modes: int = NUM_MODES
    levels: dict[str, int] = {f"subtasks_{k}": perm(len(SUBTASKS), k)
                              for k in range(1, NUM_DONE + 1)}
    cameras: tuple[str, ...] = ()

    def __init__(self, *, render_mode: str | None = None, observation: str = "state",
                 width: int = 160, height: int = 160) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if observation != "state":
            raise ValueError(f"kitchen has only the state observation, got {observation!r}")
        self.render_mode, self.observation_mode = render_mode, observation
        self.kitchen = _KITCHEN.KitchenEnv(tasks_to_complete=list(SUBTASKS),
                                           terminate_on_tasks_completed=False,
                                           render_mode=render_mode, width=width, height=height)
        self.model, self.data = self.kitchen.model, self.kitchen.data
        # fast headless frames (the renderer is built at the first render): no shadows, no
        # multisampling (~50 ms a 160 x 160 frame on 2 CPU cores instead of over a second)
        self.model.vis.quality.shadowsize = 0
        self.model.vis.quality.offsamples = 0
        self.action_space = gym.spaces.Box(-1.0, 1.0, (9,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float64)
        self.context: np.ndarray = np.zeros(0)
        self.completed: list[str] = []
        self.steps, self.mode = 0, -1

    @classmethod
    def action_size(cls) -> int:
        return 9

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        """No randomisation: the empty context."""
        return np.zeros(0)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        context = (options or {}).get("context")
        self.context = np.zeros(0) if context is None else np.asarray(context, np.float64)
        if seed is None:  # keep the wrapped env's noise stream a function of our generator
            seed = int(self.np_random.integers(2**31))
        obs, _ = self.kitchen.reset(seed=seed)
        self.completed, self.steps, self.mode = [], 0, -1
        return obs["observation"].copy(), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.size != 9:
            raise ValueError(f"RelayKitchenEnv takes actions of 9 values, got {action.shape}")
        obs, _, _, _, _ = self.kitchen.step(action.reshape(9))
        self.steps += 1
        newly = [n for n in subtasks_done(self.data.qpos) if n not in self.completed]
        reward = float(len(newly))
        self.completed.extend(newly)
        success = len(self.completed) >= NUM_DONE
        if success:
            self.mode = order_mode(self.completed[:NUM_DONE])
        truncated = not success and self.steps >= self.max_steps
        return obs["observation"].copy(), reward, success, truncated, self._info()

    def level_info(self) -> dict[str, tuple[bool, int]]:
        """Per level subtasks_k: (k done, index of the ordered first k)."""
        out = {}
        for k in range(1, NUM_DONE + 1):
            done = len(self.completed) >= k
            out[f"subtasks_{k}"] = (done, order_mode(self.completed[:k]) if done else -1)
        return out

    def _info(self) -> dict[str, Any]:
        success = len(self.completed) >= NUM_DONE
        return {"success": success, "failure": False, "mode": int(self.mode),
                "context": self.context.copy(), "levels": self.level_info(),
                "completed": list(self.completed)}

    def render(self):
        return self.kitchen.render() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self.kitchen.close()
