"""Pushing: push a red and a green cube into two target zones; 4 modes.

Geometry after D3IL's Pushing: two cubes (half-size 0.03, 0.05 kg) on free joints; two target
zones (0.10 x 0.10, drawn on the table, no collision), the red one centred at (0.42, 0.3) and
the green one at (0.63, 0.3). Context (6): red x, y, yaw, green x, y, yaw with red xy in
[0.4, 0.5] x [-0.15, 0], green xy in [0.55, 0.65] x [-0.15, 0], yaws U(-90, 90) deg.
`reset(options={"context": ...})` places exactly that. The TCP starts at (0.525, -0.3) with the
rod tip 2 cm above the table, so the rod hits the cubes' sides (below their centres, which
keeps them from tipping). Observation (10): [des xy, TCP xy, red xy, tan(red yaw), green xy,
tan(green yaw)] (tan has period pi and is clipped to +-1e3); action a delta of the desired xy
(2); at most 400 steps.

Success: both cubes within 0.05 (xy distance to the zone centre) of distinct targets, either
assignment (red->red and green->green, or swapped); it ends the episode. No failure.

Mode: the cube that first reaches a target (within 0.05 of its centre; red wins a tie) and
which target it reached: id = 2 * (first cube is green) + (it reached the other colour's
target), i.e. 0 red->red first, 1 red->green first, 2 green->green first, 3 green->red first.
In a successful episode the second cube's target follows.

Differs from the original: the rod is moved by a Cartesian controller instead of a Franka
(scene.py) and the TCP is the rod's tip; demonstrations are scripted (pushing_demo.py) instead
of recorded from people; sampled contexts whose cubes would overlap are redrawn (the original
ranges allow the two rotated cubes to intersect); the mode is read here from the cubes'
trajectories (first zone reached) rather than from labels of the recorded demonstrations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.d3il.base import RodTaskEnv
from envs.d3il.geometry import footprints_overlap, quat_yaw, yaw_quat
from envs.d3il.scene import OBJECT_CONTACT, scene_xml

__all__ = [
    "PushingEnv", "CUBE_HALF", "TARGETS", "TARGET_RADIUS", "NUM_MODES", "CONTEXT_LOW",
    "CONTEXT_HIGH", "reached_target", "pushing_success", "pushing_mode", "mode_id",
    "cubes_overlap",
]

CUBE_HALF = 0.03
CUBE_MASS = 0.05
TARGET_HALF = 0.05
TARGETS = np.array([[0.42, 0.3], [0.63, 0.3]])  # red zone, green zone
TARGET_RADIUS = 0.05  # a cube is in a zone when its centre is this close to the zone centre
NUM_MODES = 4
RED, GREEN = 0, 1
CONTEXT_LOW = np.array([0.4, -0.15, -np.pi / 2, 0.55, -0.15, -np.pi / 2])
CONTEXT_HIGH = np.array([0.5, 0.0, np.pi / 2, 0.65, 0.0, np.pi / 2])
TAN_CLIP = 1e3


def reached_target(xy: np.ndarray) -> int:
    """The target zone (RED 0 / GREEN 1) whose centre is within TARGET_RADIUS of `xy`, or -1."""
    dist = np.linalg.norm(TARGETS - np.asarray(xy, dtype=np.float64)[:2], axis=1)
    hit = np.nonzero(dist < TARGET_RADIUS)[0]
    return int(hit[0]) if len(hit) else -1


def pushing_success(red_xy: np.ndarray, green_xy: np.ndarray) -> bool:
    """Both cubes in a zone, and not the same zone (either assignment counts)."""
    r, g = reached_target(red_xy), reached_target(green_xy)
    return r >= 0 and g >= 0 and r != g


def mode_id(first_cube: int, target: int) -> int:
    """Mode of 'cube `first_cube` (RED/GREEN) reached zone `target` (RED/GREEN) first'."""
    return 2 * int(first_cube) + int(first_cube != target)


def pushing_mode(red_xy: np.ndarray, green_xy: np.ndarray) -> int:
    """The mode (0..3) of cube trajectories (L, 2) each, or -1 while no cube reached a zone.

    The first step at which a cube is in a zone decides it (red first at a tie)."""
    red, green = np.asarray(red_xy, np.float64), np.asarray(green_xy, np.float64)
    for r_xy, g_xy in zip(red, green):
        for cube, xy in ((RED, r_xy), (GREEN, g_xy)):
            target = reached_target(xy)
            if target >= 0:
                return mode_id(cube, target)
    return -1


def cubes_overlap(a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> bool:
    """Whether two cube footprints (x, y, yaw) come closer than `gap` (separating axes)."""
    return footprints_overlap(a, (CUBE_HALF, CUBE_HALF), b, (CUBE_HALF, CUBE_HALF), gap)


class PushingEnv(RodTaskEnv):
    action_dims = 2
    max_steps = 400
    start_tcp = (0.525, -0.3, 0.02)
    obs_dim = 10
    num_modes = 4

    def scene(self) -> str:
        cubes = "\n".join(
            f'<body name="{name}_cube" pos="{x} -0.1 {CUBE_HALF}">'
            f'<freejoint name="{name}_joint"/>'
            f'<geom name="{name}_cube" type="box" size="{CUBE_HALF} {CUBE_HALF} {CUBE_HALF}" '
            f'mass="{CUBE_MASS}" rgba="{rgba}" friction="0.3 0.005 0.0001" {OBJECT_CONTACT}/>'
            '</body>'
            for name, x, rgba in (("red", 0.45, "0.8 0.15 0.15 1"),
                                  ("green", 0.6, "0.15 0.65 0.2 1")))
        zones = "\n".join(
            f'<geom name="{name}_target" type="box" pos="{x} {y} 0.0005" '
            f'size="{TARGET_HALF} {TARGET_HALF} 0.0005" rgba="{rgba}" contype="0" conaffinity="0"/>'
            for name, (x, y), rgba in (("red", TARGETS[RED], "0.9 0.5 0.5 1"),
                                       ("green", TARGETS[GREEN], "0.5 0.85 0.5 1")))
        return scene_xml(name="pushing", bodies=cubes + "\n" + zones, rod_start=self.start_tcp)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._qpos_adr = {name: int(self.model.joint(f"{name}_joint").qposadr[0])
                          for name in ("red", "green")}

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform in the D3IL ranges, redrawn while the two cubes would overlap."""
        while True:
            context = rng.uniform(CONTEXT_LOW, CONTEXT_HIGH)
            if not cubes_overlap(context[:3], context[3:], gap=0.005):
                return context

    def apply_context(self, context: np.ndarray) -> None:
        if np.shape(context) != (6,):
            raise ValueError(f"a Pushing context is (red x, y, yaw, green x, y, yaw), got "
                             f"shape {np.shape(context)}")
        for name, (x, y, yaw) in (("red", context[:3]), ("green", context[3:])):
            adr = self._qpos_adr[name]
            self.data.qpos[adr: adr + 7] = [x, y, CUBE_HALF, *yaw_quat(yaw)]

    def cube_pose(self, name: str) -> np.ndarray:
        """(x, y, yaw) of the "red" or "green" cube now."""
        adr = self._qpos_adr[name]
        q = self.data.qpos[adr: adr + 7]
        return np.array([q[0], q[1], quat_yaw(q[3:7])])

    def state_observation(self) -> np.ndarray:
        parts = [self.des[:2], self.tcp[:2]]
        for name in ("red", "green"):
            x, y, yaw = self.cube_pose(name)
            parts.append(np.array([x, y, np.clip(np.tan(yaw), -TAN_CLIP, TAN_CLIP)]))
        return np.concatenate(parts)

    def is_success(self) -> bool:
        return pushing_success(self.cube_pose("red")[:2], self.cube_pose("green")[:2])

    def update_mode(self) -> None:
        if self.mode < 0:
            self.mode = pushing_mode(self.cube_pose("red")[None, :2],
                                     self.cube_pose("green")[None, :2])
