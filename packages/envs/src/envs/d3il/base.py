"""The shared gymnasium env of the rod tasks (Avoiding, Aligning, Pushing, Sorting, Stacking,
and Block Push in `envs.block_push`): desired-position actions, the Cartesian controller (rod or
gripper), seeded contexts, success/failure, mode tracking and headless rendering.

A task subclass supplies its scene bodies, its context (sampled or given through
`reset(options={"context": ...})`), its observation, and its success / failure / mode rules.
Actions are deltas of the desired TCP position (a_t = des[t+1] - des[t]); at reset the desired
position equals the TCP. Episodes end on success, failure or after `max_steps` (truncation).
`info` carries "success", "failure", "mode" (-1 until known) and "context"; tasks with graded
success (Stacking-1/-2/-3) add "levels": {name: (success, mode)} (see `levels`).

Observations: `configured_observation()` is what `reset` and `step` return, of the kind
configured: `observation="state"` (default) gives the task's state vector
(`state_observation()`, a task hook); `observation="image"` gives the image variants' gymnasium
`Dict` observation (`envs.image_obs`): {"state": the robot state (`image_state()`: desired and
current TCP position), float64; "images": {camera: (image_size, image_size, 3) uint8} for the
`cameras` (overview and in-hand, RGB)}. A policy's adapter packs it into its float input
(`moe.pack_image_obs`: [state, cam0 (3, H, W), cam1 (3, H, W)] flattened, `packed_obs_dim()`
values); the env never converts pixels to floats.
"""

from __future__ import annotations

import atexit
import importlib.util
import sys
import weakref
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from envs.d3il.scene import FRAME_SKIP
from envs.image_obs import image_observation, image_observation_space

__all__ = ["RodTaskEnv"]

# Envs holding a GL context, closed at exit. The hook is registered after the first renderer
# exists, so it runs before mujoco's own EGL teardown (atexit runs last-registered first).
_RENDERING: weakref.WeakSet = weakref.WeakSet()
_HOOKED: list[bool] = []


def _load_triton_first() -> None:
    """Mesa's software EGL and triton (torch's GPU compiler) each bring their own LLVM; loading
    triton after an EGL context exists crashes the process (torch 2.14 + mujoco 3.11, measured),
    while the other order works. So triton, where installed, is loaded before the first
    context. Costs about a second, once per rendering process."""
    if "triton" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    try:
        import triton  # noqa: F401
    except Exception:  # a broken triton install is torch's business, not ours
        pass


def _close_renderers() -> None:
    for env in list(_RENDERING):
        env.close()


class RodTaskEnv(gym.Env):
    """Base of the rod tasks (see each task's docstring for its rules)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1000 // FRAME_SKIP}

    action_dims: int = 2  # TCP dims moved: 2: x, y (z held); 3: x, y, z
    extra_action_dims: int = 0  # further action values after the TCP delta (Stacking: 2)
    max_steps: int = 250
    frame_skip: int = FRAME_SKIP  # physics steps (1 ms) per env step (Block Push: 100)
    max_delta: float = 0.03  # per-step clip of the desired-position delta (m)
    start_tcp: tuple[float, float, float] = (0.5, 0.0, 0.01)
    obs_dim: int = 4  # of the state observation
    num_modes: int = 1
    # graded success levels reported beside the main success: name -> number of modes
    levels: dict[str, int] = {}
    cameras: tuple[str, ...] = ("overview", "in_hand")  # of the image observation
    image_state_dim: int = 0  # 0: 2 * action_dims (desired and current TCP position)

    def __init__(self, *, render_mode: str | None = None, width: int = 160, height: int = 160,
                 camera: str = "top", observation: str = "state", image_size: int = 96) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if observation not in ("state", "image"):
            raise ValueError(f"observation must be 'state' or 'image', got {observation!r}")
        if not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
        self.render_mode, self.width, self.height, self.camera = render_mode, width, height, camera
        self.observation_mode, self.image_size = observation, image_size
        self.model = mujoco.MjModel.from_xml_string(self.scene())
        self.data = mujoco.MjData(self.model)
        self._tcp_site = self.model.site("tcp").id
        self._rod_geom = self.model.geom("rod").id if self._has_geom("rod") else -1
        self._renderer: mujoco.Renderer | None = None
        self._camera_renderer: mujoco.Renderer | None = None
        self.action_space = self.make_action_space()
        self.observation_space = (
            image_observation_space(state_dim=self.image_state_size(), cameras=self.cameras,
                                    image_size=image_size) if observation == "image"
            else gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float64))
        self.des = np.zeros(3)
        self.context: np.ndarray = np.zeros(0)
        self.steps = 0
        self.mode = -1

    def _has_geom(self, name: str) -> bool:
        return mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name) >= 0

    @classmethod
    def action_size(cls) -> int:
        """Length of an action: the TCP delta and any task-specific values."""
        return cls.action_dims + cls.extra_action_dims

    @classmethod
    def image_state_size(cls) -> int:
        return cls.image_state_dim or 2 * cls.action_dims

    @classmethod
    def packed_obs_dim(cls, image_size: int = 96) -> int:
        """Length of the packed image observation a policy takes (`moe.pack_image_obs`): robot
        state + cameras x 3 x image_size^2."""
        return cls.image_state_size() + len(cls.cameras) * 3 * image_size * image_size

    # ------------------------------------------------------------------ task hooks
    def make_action_space(self) -> gym.spaces.Box:
        high = np.full(self.action_dims, self.max_delta, dtype=np.float32)
        return gym.spaces.Box(-high, high, dtype=np.float32)

    def apply_action(self, action: np.ndarray) -> None:
        """Set the controls for one env step from a (validated-shape) action."""
        a = np.clip(action, -self.max_delta, self.max_delta)
        self.des[: self.action_dims] += a
        self.data.ctrl[:] = self.des - np.asarray(self.start_tcp)

    def image_state(self) -> np.ndarray:
        """The robot part of the image observation: desired and current TCP position."""
        return np.concatenate([self.des[: self.action_dims], self.tcp[: self.action_dims]])

    def level_info(self) -> dict[str, tuple[bool, int]]:
        """Per level in `levels`: (reached, mode or -1)."""
        return {}

    def scene(self) -> str:
        raise NotImplementedError

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(0)

    def apply_context(self, context: np.ndarray) -> None:
        """Place the task's bodies for `context` (qpos of free joints, target poses)."""

    def state_observation(self) -> np.ndarray:
        """The task's state vector (obs_dim,), whatever observation kind is configured."""
        raise NotImplementedError

    def is_success(self) -> bool:
        raise NotImplementedError

    def is_failure(self) -> bool:
        return False

    def update_mode(self) -> None:
        """Track the mode after each step (sets `self.mode`, -1 while undecided)."""

    # ------------------------------------------------------------------ state
    @property
    def tcp(self) -> np.ndarray:
        return self.data.site_xpos[self._tcp_site].copy()

    def rod_contacts(self, geom_ids) -> bool:
        """Whether the rod touches any of `geom_ids` now."""
        n = self.data.ncon
        if n == 0:  # the binding's empty contact view is slow to iterate
            return False
        g1, g2 = self.data.contact.geom1[:n], self.data.contact.geom2[:n]
        ids = np.asarray(list(geom_ids))
        return bool(np.any(((g1 == self._rod_geom) & np.isin(g2, ids))
                           | ((g2 == self._rod_geom) & np.isin(g1, ids))))

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        mujoco.mj_resetData(self.model, self.data)
        context = options.get("context")
        if context is None:
            context = self.sample_context(self.np_random)
        self.context = np.asarray(context, dtype=np.float64).copy()
        self.apply_context(self.context)
        self.des = np.asarray(self.start_tcp, dtype=np.float64).copy()
        self.data.ctrl[:] = 0.0
        mujoco.mj_forward(self.model, self.data)
        self.steps, self.mode = 0, -1
        self._reset_task()
        return self.configured_observation(), self._info(False, False)

    def _reset_task(self) -> None:
        """Per-episode task state (mode trackers)."""

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.size != self.action_space.shape[0]:
            raise ValueError(f"{type(self).__name__} takes actions of {self.action_space.shape[0]} "
                             f"values, got shape {action.shape}")
        self.apply_action(action.reshape(-1))
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self.steps += 1
        self.update_mode()
        success, failure = self.is_success(), self.is_failure()
        terminated = success or failure
        truncated = not terminated and self.steps >= self.max_steps
        return (self.configured_observation(), float(success), terminated, truncated,
                self._info(success, failure))

    def configured_observation(self) -> np.ndarray | dict[str, Any]:
        """The observation of the configured kind: `state_observation()`, or the Dict image
        observation {"state": image_state(), "images": {camera: uint8 frame}}."""
        if self.observation_mode == "state":
            return self.state_observation()
        return image_observation(self.image_state(), self.render_cameras(), self.cameras)

    def render_cameras(self) -> np.ndarray:
        """The `cameras` now, (K, image_size, image_size, 3) uint8 (deterministic in the state)."""
        if self._camera_renderer is None:
            self._camera_renderer = self._make_renderer(self.image_size, self.image_size)
        frames = []
        for cam in self.cameras:
            self._camera_renderer.update_scene(self.data, camera=cam)
            frames.append(self._camera_renderer.render())
        return np.stack(frames)

    def _info(self, success: bool, failure: bool) -> dict[str, Any]:
        info = {"success": bool(success), "failure": bool(failure), "mode": int(self.mode),
                "context": self.context.copy()}
        if self.levels:
            info["levels"] = self.level_info()
        return info

    def _make_renderer(self, height: int, width: int) -> mujoco.Renderer:
        _load_triton_first()
        try:
            renderer = mujoco.Renderer(self.model, height, width)
        except mujoco.FatalError as e:
            raise RuntimeError(
                "offscreen rendering failed: set MUJOCO_GL=egl (or osmesa) before mujoco is "
                f"first imported (import envs first, or export it) ({e})") from e
        _RENDERING.add(self)
        if not _HOOKED:
            atexit.register(_close_renderers)
            _HOOKED.append(True)
        return renderer

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = self._make_renderer(self.height, self.width)
        self._renderer.update_scene(self.data, camera=self.camera)
        return self._renderer.render()

    def close(self) -> None:
        for name in ("_renderer", "_camera_renderer"):
            renderer = getattr(self, name, None)
            if renderer is not None:
                renderer.close()
                setattr(self, name, None)

