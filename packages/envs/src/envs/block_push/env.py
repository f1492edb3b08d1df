"""Block Push: push two cubes into two targets, in any order and assignment; 4 modes.

After IBC's BlockPushMultimodal (fixed-target variant). Not a D3IL task, but built on the D3IL
tasks' rod env (`envs.d3il.base.RodTaskEnv`), scene and push planning.

Geometry: two 4 cm cubes (half-size 0.02, 0.05 kg) on free joints; two targets (drawn on the
table, no collision, 0.10 x 0.10) at TARGETS = (0.28, 0.2) and (0.52, 0.2), i.e. x = 0.4 -+ 0.12,
drawn at yaw pi -+ pi/30 (their yaw does not enter success). The effector is the rod of
scene.py (a cylinder, radius 0.01) whose flat lower end (the TCP) moves at z = 0.01, so it hits
the cubes' sides below their centres; it starts at (0.3, -0.4).

Context (6): block 0 (x, y, yaw), block 1 (x, y, yaw); sampled with x ~ U(0.3, 0.5),
y ~ U(-0.35, -0.05), yaw ~ U(0, pi), redrawn while the centres are closer than 0.1;
`reset(options={"context": ...})` places exactly that.

Observation (16): [desired xy, effector xy, block 0 xy, cos 4yaw0, sin 4yaw0, block 1 xy,
cos 4yaw1, sin 4yaw1, target 0 xy, target 1 xy]. A cube looks the same every quarter turn,
so its yaw is encoded with that period and without a jump (4yaw on the unit circle).
Action (2): delta of the desired effector xy, clipped to +-0.1 per step; the desired position is
clipped to the workspace x in [0.15, 0.7], y in [-0.5, 0.5]. One step = 100 physics steps of
1 ms (10 Hz). At most 350 steps (35 s): about 3x the oracle's mean episode (~120 steps, the
original data's ~117), so a slower policy still has room.

Success (p2): both blocks within 0.05 (xy, centre to centre) of distinct targets; it ends the
episode. No failure. p1, reported as the level "p1": a block has been in a target. Reward:
0.49 the first time each block enters a target, plus 0.51 on success (so a return >= 0.49
means p1 and >= 0.99 means p2; the benchmark itself scores `info["success"]` and the level).

Mode: the block that first enters a target (block 0 wins a tie) and which target:
id = 2 * block + target (0: block 0 -> target 0, 1: block 0 -> target 1, 2: block 1 ->
target 0, 3: block 1 -> target 1). In a successful episode the second block's target follows.
p1's mode is the same id.

Differs from the original: MuJoCo and a Cartesian-controlled rod instead of PyBullet and an
xArm (the original's effector height 0.06 is the arm's tool frame; here the flat end of the
cylinder sits 1 cm above the table, so it pushes the 4 cm cubes without tipping them); the
targets are fixed (the fixed-target variant; no target randomisation); the target tolerance is
0.05 (IBC's BlockPushMultimodal default is 0.04; diffusion-policy's copy of the env uses 0.05,
as does D3IL Pushing here); block mass and friction are ours; a block's yaw is observed as
(cos 4yaw, sin 4yaw) instead of the raw angle (which jumps at +-pi and tells nothing a cube
shows), and the fixed target yaws are not observed; blocks placed in a target by a hand-made
context count for the mode at reset but earn no reward; the oracle is ours
(`envs.block_push.oracle`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.d3il.base import RodTaskEnv
from envs.d3il.geometry import quat_yaw, yaw_quat
from envs.d3il.scene import OBJECT_CONTACT, scene_xml

__all__ = [
    "BlockPushEnv", "BLOCK_HALF", "TARGETS", "TARGET_RADIUS", "NUM_MODES", "CONTEXT_LOW",
    "CONTEXT_HIGH", "MIN_BLOCK_DIST", "WORKSPACE", "MAX_DELTA", "in_target", "block_push_success",
    "block_push_mode", "mode_id", "yaw_features", "features_yaw",
]

BLOCK_HALF = 0.02
BLOCK_MASS = 0.05
TARGETS = np.array([[0.28, 0.2], [0.52, 0.2]])
TARGET_YAWS = (np.pi - np.pi / 30, np.pi + np.pi / 30)  # drawn only
TARGET_HALF = 0.05
TARGET_RADIUS = 0.05  # a block is in a target when its centre is closer than this
NUM_MODES = 4
CONTEXT_LOW = np.array([0.3, -0.35, 0.0, 0.3, -0.35, 0.0])
CONTEXT_HIGH = np.array([0.5, -0.05, np.pi, 0.5, -0.05, np.pi])
MIN_BLOCK_DIST = 0.1
WORKSPACE = np.array([[0.15, -0.5], [0.7, 0.5]])  # low, high of the desired effector xy
MAX_DELTA = 0.1
ENTER_REWARD, SUCCESS_REWARD = 0.49, 0.51
_RGBA = ("0.8 0.15 0.15 1", "0.15 0.3 0.85 1")
_TARGET_RGBA = ("0.55 0.85 0.55 1", "0.9 0.85 0.45 1")


def in_target(xy: np.ndarray) -> int:
    """The target (0/1) whose centre is closer than TARGET_RADIUS to `xy`, or -1."""
    dist = np.linalg.norm(TARGETS - np.asarray(xy, dtype=np.float64)[:2], axis=1)
    hit = np.nonzero(dist < TARGET_RADIUS)[0]
    return int(hit[0]) if len(hit) else -1


def block_push_success(xy0: np.ndarray, xy1: np.ndarray) -> bool:
    """Both blocks in a target, not the same one (either assignment counts)."""
    t0, t1 = in_target(xy0), in_target(xy1)
    return t0 >= 0 and t1 >= 0 and t0 != t1


def mode_id(block: int, target: int) -> int:
    """Mode of 'block `block` (0/1) entered target `target` (0/1) first'."""
    return 2 * int(block) + int(target)


def block_push_mode(xy0: np.ndarray, xy1: np.ndarray) -> int:
    """The mode (0..3) of block trajectories (L, 2) each, or -1 while no block entered a target.

    The first step at which a block is in a target decides it (block 0 first at a tie)."""
    a, b = np.asarray(xy0, np.float64), np.asarray(xy1, np.float64)
    if a.shape != b.shape or (a.size and (a.ndim != 2 or a.shape[1] < 2)):
        raise ValueError(f"block trajectories must both be (L, 2), got {a.shape} and {b.shape}")
    for p0, p1 in zip(a, b, strict=True):
        for block, xy in ((0, p0), (1, p1)):
            target = in_target(xy)
            if target >= 0:
                return mode_id(block, target)
    return -1


def yaw_features(yaw: float) -> np.ndarray:
    """(cos 4yaw, sin 4yaw): a cube's yaw, continuous and with the cube's quarter-turn period."""
    return np.array([np.cos(4 * yaw), np.sin(4 * yaw)])


def features_yaw(cos4: float, sin4: float) -> float:
    """The yaw in (-pi/4, pi/4] encoded by `yaw_features` (any cube yaw modulo a quarter turn)."""
    return float(np.arctan2(sin4, cos4) / 4)


class BlockPushEnv(RodTaskEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    action_dims = 2
    max_steps = 350
    max_delta = MAX_DELTA
    frame_skip = 100  # 10 Hz
    start_tcp = (0.3, -0.4, 0.01)
    obs_dim = 16
    num_modes = NUM_MODES
    levels = {"p1": NUM_MODES}

    def scene(self) -> str:
        blocks = "\n".join(
            f'<body name="block{k}" pos="{0.3 + 0.2 * k} -0.2 {BLOCK_HALF}">'
            f'<freejoint name="block{k}_joint"/>'
            f'<geom name="block{k}" type="box" size="{BLOCK_HALF} {BLOCK_HALF} {BLOCK_HALF}" '
            f'mass="{BLOCK_MASS}" rgba="{_RGBA[k]}" friction="0.3 0.005 0.0001" {OBJECT_CONTACT}/>'
            '</body>'
            for k in range(2))
        targets = "\n".join(
            f'<geom name="target{k}" type="box" pos="{x} {y} 0.0005" '
            f'euler="0 0 {yaw}" size="{TARGET_HALF} {TARGET_HALF} 0.0005" rgba="{_TARGET_RGBA[k]}" '
            'contype="0" conaffinity="0"/>'
            for k, ((x, y), yaw) in enumerate(zip(TARGETS, TARGET_YAWS, strict=True)))
        return scene_xml(name="block_push", bodies=blocks + "\n" + targets,
                         rod_start=self.start_tcp)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._qpos_adr = [int(self.model.joint(f"block{k}_joint").qposadr[0]) for k in range(2)]
        self.entered = np.zeros(2, bool)
        self._reward = 0.0

    # ------------------------------------------------------------------ actions
    def make_action_space(self) -> gym.spaces.Box:
        high = np.full(2, MAX_DELTA, dtype=np.float32)
        return gym.spaces.Box(-high, high, dtype=np.float32)

    def apply_action(self, action: np.ndarray) -> None:
        self.des[:2] = np.clip(self.des[:2] + np.clip(action, -MAX_DELTA, MAX_DELTA),
                               WORKSPACE[0], WORKSPACE[1])
        self.data.ctrl[:] = self.des - np.asarray(self.start_tcp)

    # ------------------------------------------------------------------ context
    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform in the ranges, redrawn while the blocks are closer than MIN_BLOCK_DIST."""
        while True:
            context = rng.uniform(CONTEXT_LOW, CONTEXT_HIGH)
            if np.linalg.norm(context[:2] - context[3:5]) >= MIN_BLOCK_DIST:
                return context

    def apply_context(self, context: np.ndarray) -> None:
        if np.shape(context) != (6,):
            raise ValueError("a Block Push context is (x, y, yaw) of block 0 and block 1, (6,), "
                             f"got shape {np.shape(context)}")
        for adr, (x, y, yaw) in zip(self._qpos_adr, np.reshape(context, (2, 3)), strict=True):
            self.data.qpos[adr: adr + 7] = [x, y, BLOCK_HALF, *yaw_quat(yaw)]

    def _reset_task(self) -> None:
        self.entered = np.zeros(2, bool)
        self._reward = 0.0
        self.update_mode()

    # ------------------------------------------------------------------ state
    def block_pose(self, k: int) -> np.ndarray:
        """(x, y, yaw) of block `k` (0/1) now."""
        q = self.data.qpos[self._qpos_adr[k]: self._qpos_adr[k] + 7]
        return np.array([q[0], q[1], quat_yaw(q[3:7])])

    def state_observation(self) -> np.ndarray:
        parts = [self.des[:2], self.tcp[:2]]
        for k in range(2):
            x, y, yaw = self.block_pose(k)
            parts += [np.array([x, y]), yaw_features(yaw)]
        return np.concatenate(parts + [TARGETS.reshape(-1)])

    # ------------------------------------------------------------------ outcome
    def is_success(self) -> bool:
        return block_push_success(self.block_pose(0)[:2], self.block_pose(1)[:2])

    def update_mode(self) -> None:
        """Record first entries (mode, reward) of the blocks into targets."""
        self._reward = 0.0
        for k in range(2):
            target = in_target(self.block_pose(k)[:2])
            if target >= 0 and not self.entered[k]:
                self.entered[k] = True
                self._reward += ENTER_REWARD
                if self.mode < 0:
                    self.mode = mode_id(k, target)

    def level_info(self) -> dict[str, tuple[bool, int]]:
        return {"p1": (self.mode >= 0, int(self.mode))}

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        reward = self._reward + (SUCCESS_REWARD if info["success"] else 0.0)
        return obs, reward, terminated, truncated, info
