"""Stacking: grasp three blocks with a parallel gripper and stack them in the zone; 6 orders.

Geometry after D3IL's Stacking: a red and a green cube (half-size 0.03) and a blue box
(0.06 x 0.10 x 0.06), 0.05 kg each, on free joints; red xy in [0.35, 0.45] x [-0.25, -0.15],
green in [0.35, 0.45] x [-0.1, 0], blue in [0.55, 0.6] x [-0.2, 0], yaws U(-90, 90) deg; the
stack zone is a disc of radius 0.06 about (0.5, 0.2), drawn on the table (no collision). The
gripper (gripper_scene.py) starts open with its TCP at (0.5, -0.3, 0.15).

Context (9): (x, y, yaw) of red, green, blue; `reset(options={"context": ...})` places exactly
that. Observation (20, as the original's): [desired TCP xyz, TCP xyz, hand yaw, finger width,
then per block (red, green, blue) x, y, z, tan(yaw)] (tan has period pi, clipped to +-1e3).
Action (5): [delta of the desired TCP xyz (clipped to +-0.03 m), delta of the desired yaw
(+-0.1 rad), finger width target (0 .. 0.09 m; open above 0.075 like the original hand)]. At
most 1000 steps (1200 with images). The image variant (`observation="image"`, task
`stacking_image`) sees the robot part of the observation (8) and the overview and in-hand
cameras instead of the block poses (base.py).

Success-k (the levels `stacking_1`, `stacking_2`, `stacking_3`): k blocks with their centres
within 0.06 (xy) of the zone centre, pairwise vertically separated (|dz| > 0.03) and resting on
each other: taken bottom up, the first one's centre is below 0.045 m (on the table) and each
next one at most 0.075 m above the one below. The main success is Stacking-3 (all three); it
ends the episode. No failure.

Mode: the order in which the blocks first enter the zone (centre within 0.06 xy of its
centre). Stacking-1's mode is the first block (3 modes); Stacking-2's, Stacking-3's and the
episode's is the order of the first two (which fixes the third): id = index in `ORDERS`
(permutations of red 0, green 1, blue 2, lexicographic), -1 until two blocks have entered.

Differs from the original: a Cartesian gripper instead of a Franka under joint-space control
(so actions are TCP deltas, yaw and width rather than 7 joint deltas and width);
demonstrations are scripted (stacking_demo.py) instead of recorded by people; sampled contexts
whose blocks would overlap are redrawn; the "resting" part of success-k is ours (without it a
block held in the air above the zone would count as stacked).
"""

from __future__ import annotations

import itertools
from typing import Any

import gymnasium as gym
import numpy as np

from envs.d3il.base import RodTaskEnv
from envs.d3il.geometry import footprints_overlap, quat_yaw, yaw_quat
from envs.d3il.gripper_scene import MAX_WIDTH, gripper_scene_xml
from envs.d3il.pushing import TAN_CLIP
from envs.d3il.scene import OBJECT_CONTACT

__all__ = [
    "StackingEnv", "BLOCKS", "BLOCK_HALF", "BLOCK_MASS", "ZONE_CENTRE", "ZONE_RADIUS", "ORDERS",
    "CONTEXT_LOW", "CONTEXT_HIGH", "OPEN_WIDTH", "in_zone", "stacked_blocks", "order_mode",
    "first_block_mode",
]

BLOCKS = ("red", "green", "blue")
BLOCK_HALF = np.array([[0.03, 0.03, 0.03], [0.03, 0.03, 0.03], [0.03, 0.05, 0.03]])
BLOCK_MASS = 0.05
_RGBA = ("0.8 0.12 0.12 1", "0.12 0.65 0.2 1", "0.12 0.25 0.85 1")
ZONE_CENTRE = np.array([0.5, 0.2])
ZONE_RADIUS = 0.06
ORDERS: tuple[tuple[int, int, int], ...] = tuple(itertools.permutations(range(3)))
CONTEXT_LOW = np.array([0.35, -0.25, -np.pi / 2, 0.35, -0.1, -np.pi / 2, 0.55, -0.2, -np.pi / 2])
CONTEXT_HIGH = np.array([0.45, -0.15, np.pi / 2, 0.45, 0.0, np.pi / 2, 0.6, 0.0, np.pi / 2])
OPEN_WIDTH = 0.075  # a width above this counts as open (as the original hand's)
MAX_YAW_STEP = 0.1
DES_Z = (0.025, 0.35)  # desired TCP height limits (m)
DES_YAW = 2.0  # desired yaw limit (rad; the hand is symmetric under a half turn)
_SEPARATED = 0.03  # |dz| between stacked blocks
_ON_TABLE = 0.045  # the bottom block's centre height below this
_ON_BLOCK = 0.075  # a block's centre at most this above the one below


def in_zone(xy: np.ndarray) -> bool:
    """Whether a block centre `xy` is within ZONE_RADIUS of the zone centre."""
    return float(np.linalg.norm(np.asarray(xy, np.float64)[:2] - ZONE_CENTRE)) < ZONE_RADIUS


def stacked_blocks(positions: np.ndarray) -> int:
    """How many blocks (positions (3, 3)) stand stacked in the zone: the most blocks in the
    zone, pairwise vertically separated and resting bottom up (see the module docstring)."""
    inside = sorted(float(p[2]) for p in np.asarray(positions) if in_zone(p))
    best = 0
    for start, z0 in enumerate(inside):  # a stack must start on the table
        if z0 >= _ON_TABLE:
            continue
        height, count = z0, 1
        for z in inside[start + 1:]:
            if _SEPARATED < z - height <= _ON_BLOCK:
                height, count = z, count + 1
        best = max(best, count)
    return best


def order_mode(sequence) -> int:
    """Mode id (index in ORDERS) of the first two blocks to enter the zone, or -1."""
    seq = [int(b) for b in sequence]
    if len(seq) < 2:
        return -1
    third = ({0, 1, 2} - set(seq[:2])).pop()
    return ORDERS.index((seq[0], seq[1], third))


def first_block_mode(sequence) -> int:
    """Stacking-1's mode: the first block to enter the zone (0..2), or -1."""
    return int(sequence[0]) if len(sequence) else -1


class StackingEnv(RodTaskEnv):
    action_dims = 3  # TCP xyz
    extra_action_dims = 2  # yaw delta, finger width (`make_action_space`)
    max_steps = 1000
    start_tcp = (0.5, -0.3, 0.15)
    obs_dim = 20
    num_modes = 6
    levels = {"stacking_1": 3, "stacking_2": 6, "stacking_3": 6}
    image_state_dim = 8

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("observation") == "image":
            self.max_steps = 1200
        super().__init__(**kwargs)
        self._qpos_adr = [int(self.model.joint(f"{b}_joint").qposadr[0]) for b in BLOCKS]
        self._finger_adr = [int(self.model.joint(f).qposadr[0]) for f in ("finger_l", "finger_r")]
        self._yaw_adr = int(self.model.joint("hand_yaw").qposadr[0])
        self.des_yaw, self.des_width = 0.0, MAX_WIDTH
        self.sequence: list[int] = []
        self.entered = np.zeros(3, bool)

    def scene(self) -> str:
        blocks = "\n".join(
            f'<body name="{b}" pos="{0.3 + 0.1 * k} 0.45 {BLOCK_HALF[k, 2]}">'
            f'<freejoint name="{b}_joint"/>'
            f'<geom name="{b}" type="box" size="{" ".join(map(str, BLOCK_HALF[k]))}" '
            f'mass="{BLOCK_MASS}" rgba="{_RGBA[k]}" friction="0.8 0.005 0.0001" condim="4" '
            f'{OBJECT_CONTACT}/></body>'
            for k, b in enumerate(BLOCKS))
        zone = (f'<geom name="zone" type="cylinder" pos="{ZONE_CENTRE[0]} {ZONE_CENTRE[1]} 0.0005" '
                f'size="{ZONE_RADIUS} 0.0005" rgba="0.95 0.85 0.45 1" '
                'contype="0" conaffinity="0"/>')
        return gripper_scene_xml(name="stacking", bodies=blocks + "\n" + zone,
                                 hand_start=self.start_tcp)

    # ------------------------------------------------------------------ actions
    def make_action_space(self) -> gym.spaces.Box:
        high = np.array([self.max_delta] * 3 + [MAX_YAW_STEP, MAX_WIDTH], dtype=np.float32)
        low = np.array([-self.max_delta] * 3 + [-MAX_YAW_STEP, 0.0], dtype=np.float32)
        return gym.spaces.Box(low, high, dtype=np.float32)

    def apply_action(self, action: np.ndarray) -> None:
        self.des[:3] += np.clip(action[:3], -self.max_delta, self.max_delta)
        self.des[2] = np.clip(self.des[2], *DES_Z)
        self.des_yaw = float(np.clip(self.des_yaw + np.clip(action[3], -MAX_YAW_STEP,
                                                            MAX_YAW_STEP), -DES_YAW, DES_YAW))
        self.des_width = float(np.clip(action[4], 0.0, MAX_WIDTH))
        self._set_ctrl()

    def _set_ctrl(self) -> None:
        self.data.ctrl[:3] = self.des - np.asarray(self.start_tcp)
        self.data.ctrl[3] = self.des_yaw
        self.data.ctrl[4:6] = self.des_width / 2

    # ------------------------------------------------------------------ context
    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        """Each block uniform in its range; redrawn while two footprints come within 1 cm."""
        while True:
            context = rng.uniform(CONTEXT_LOW, CONTEXT_HIGH)
            poses = context.reshape(3, 3)
            if not any(footprints_overlap(poses[i], BLOCK_HALF[i, :2], poses[j],
                                          BLOCK_HALF[j, :2], gap=0.01)
                       for i, j in itertools.combinations(range(3), 2)):
                return context

    def apply_context(self, context: np.ndarray) -> None:
        if np.shape(context) != (9,):
            raise ValueError("a Stacking context is (x, y, yaw) of red, green and blue, (9,), "
                             f"got shape {np.shape(context)}")
        for k, (adr, (x, y, yaw)) in enumerate(zip(self._qpos_adr, np.reshape(context, (3, 3)),
                                                   strict=True)):
            self.data.qpos[adr: adr + 7] = [x, y, BLOCK_HALF[k, 2], *yaw_quat(yaw)]
        self.data.qpos[self._finger_adr] = MAX_WIDTH / 2  # start open

    def _reset_task(self) -> None:
        self.des_yaw, self.des_width = 0.0, MAX_WIDTH
        self._set_ctrl()
        self.sequence, self.entered = [], np.zeros(3, bool)
        self.update_mode()

    # ------------------------------------------------------------------ state
    @property
    def hand_yaw(self) -> float:
        return float(self.data.qpos[self._yaw_adr])

    @property
    def finger_width(self) -> float:
        """Distance between the finger pads now (m)."""
        return float(self.data.qpos[self._finger_adr].sum())

    def block_poses(self) -> np.ndarray:
        """(3, 4): x, y, z, yaw of red, green, blue now."""
        return np.array([[*self.data.qpos[adr: adr + 3], quat_yaw(self.data.qpos[adr + 3: adr + 7])]
                         for adr in self._qpos_adr])

    def robot_state(self) -> np.ndarray:
        """(8): desired TCP xyz, TCP xyz, hand yaw, finger width."""
        return np.concatenate([self.des, self.tcp, [self.hand_yaw, self.finger_width]])

    def state_observation(self) -> np.ndarray:
        poses = self.block_poses()
        poses[:, 3] = np.clip(np.tan(poses[:, 3]), -TAN_CLIP, TAN_CLIP)
        return np.concatenate([self.robot_state(), poses.reshape(-1)])

    def image_state(self) -> np.ndarray:
        return self.robot_state()

    # ------------------------------------------------------------------ outcome
    def stacked(self) -> int:
        return stacked_blocks(self.block_poses()[:, :3])

    def is_success(self) -> bool:
        return self.stacked() == 3

    def update_mode(self) -> None:
        for k, pose in enumerate(self.block_poses()):
            if not self.entered[k] and in_zone(pose[:2]):
                self.entered[k] = True
                self.sequence.append(k)
        self.mode = order_mode(self.sequence)

    def level_info(self) -> dict[str, tuple[bool, int]]:
        stacked = self.stacked()
        return {"stacking_1": (stacked >= 1, first_block_mode(self.sequence) if stacked >= 1
                               else -1),
                "stacking_2": (stacked >= 2, order_mode(self.sequence) if stacked >= 2 else -1),
                "stacking_3": (stacked >= 3, order_mode(self.sequence) if stacked >= 3 else -1)}
