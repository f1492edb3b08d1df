"""Aligning: push an open-top box onto a target pose (position and yaw); 2 modes.

Geometry after D3IL's Aligning: a box with a 0.10 x 0.10 base and 0.09 high thin walls
(0.005 thick), 1 kg, on a free joint, open at the top so the rod can go inside. Its +x wall is
red (the others blue) so its orientation shows in renders; a translucent copy marks the target
pose (visual only). Context (6): box x, y, yaw, target x, y, yaw; box xy in [0.4, 0.6] x
[-0.25, -0.1], target xy in [0.4, 0.6] x [0.2, 0.35], both yaws U(-90, 90) deg. The TCP (the
rod's lower tip) starts at (0.525, -0.35, 0.12): the original's 0.25 is the hand's height and
the rod hangs 0.15 below it, so here its tip starts above the walls. Action: delta of the
desired xyz (3); at most 400 steps. Observation (20): [desired xyz, TCP xyz, box position (3,
its base centre on the table) and quaternion (4, wxyz), target position (3) and quaternion (4)].

Success: box-target xy distance <= 0.018 and `orientation_error` (full quaternion, no
symmetry of the square box) <= 0.048. Failure: the box tipped over (its up axis more than
45 deg from vertical); it can no longer succeed, so the episode ends early.

Mode: where the rod is when the episode ends: inside the box (TCP within 0.051 of the box
centre in xy) is 0 "inside", else 1 "outside" (`aligning_mode`); tracked every step, the value
at the end is the episode's mode.

Differs from the original: the rod is moved by a Cartesian controller instead of a Franka
(scene.py), the TCP is the rod's tip (start height 0.12 instead of the hand's 0.25), the
demonstrations are scripted (aligning_demo.py) instead of human, and the tipped-box failure is
ours.
"""

from __future__ import annotations

import numpy as np

from envs.d3il.base import RodTaskEnv
from envs.d3il.geometry import quat_yaw, yaw_quat
from envs.d3il.scene import OBJECT_CONTACT, scene_xml

__all__ = [
    "AligningEnv", "NUM_MODES", "MODE_NAMES", "BOX_HALF", "WALL_THICKNESS", "WALL_HEIGHT",
    "POS_TOL", "ROT_TOL", "INSIDE_RADIUS", "aligning_mode", "orientation_error", "yaw_quat",
    "quat_yaw", "aligned",
]

NUM_MODES = 2
MODE_NAMES = ("inside", "outside")
BOX_HALF = 0.05  # half the outer side of the base
WALL_THICKNESS = 0.005
WALL_HEIGHT = 0.09
BOX_MASS = 1.0
POS_TOL = 0.018  # success: xy distance (m)
ROT_TOL = 0.048  # success: orientation error (fraction of pi)
INSIDE_RADIUS = 0.051  # mode: TCP this close to the box centre (xy) is inside
TIP_COS = float(np.cos(np.deg2rad(45.0)))  # failure: box up axis z below this
BOX_XY_RANGE = ((0.4, 0.6), (-0.25, -0.1))
TARGET_XY_RANGE = ((0.4, 0.6), (0.2, 0.35))
YAW_RANGE = (-np.pi / 2, np.pi / 2)


def orientation_error(q1: np.ndarray, q2: np.ndarray) -> float:
    """Angle between two orientations (quaternions, wxyz) as a fraction of pi, in [0, 1]."""
    a = np.asarray(q1, dtype=np.float64)
    b = np.asarray(q2, dtype=np.float64)
    d = abs(float(a @ b)) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(2 * np.arccos(min(d, 1.0)) / np.pi)


def aligned(box_xy: np.ndarray, box_quat: np.ndarray, target_xy: np.ndarray,
            target_quat: np.ndarray) -> bool:
    """The success rule: the box within POS_TOL (xy) and ROT_TOL (orientation) of the target."""
    dist = float(np.linalg.norm(np.asarray(box_xy)[:2] - np.asarray(target_xy)[:2]))
    return dist <= POS_TOL and orientation_error(box_quat, target_quat) <= ROT_TOL


def aligning_mode(box_xy: np.ndarray, tcp_xy: np.ndarray) -> int:
    """0 ("inside") if the TCP is within INSIDE_RADIUS of the box centre in xy, else 1."""
    dist = np.linalg.norm(np.asarray(box_xy)[:2] - np.asarray(tcp_xy)[:2])
    return 0 if dist < INSIDE_RADIUS else 1


def _box_geoms(prefix: str, extra: str, wall_rgba: str, marker_rgba: str,
               base_rgba: str) -> str:
    """Base plate and four walls of a box whose frame sits at its base centre on the table."""
    h, t, wall = BOX_HALF, WALL_THICKNESS / 2, WALL_HEIGHT
    wall_half = (wall - 2 * t) / 2  # walls stand on the base plate
    wz = 2 * t + wall_half
    parts = [f'<geom name="{prefix}base" type="box" pos="0 0 {t:g}" size="{h:g} {h:g} {t:g}" '
             f'rgba="{base_rgba}" {extra}/>']
    for name, (x, y, sx, sy), rgba in (
            ("px", (h - t, 0.0, t, h), marker_rgba), ("nx", (-(h - t), 0.0, t, h), wall_rgba),
            ("py", (0.0, h - t, h - 2 * t, t), wall_rgba),
            ("ny", (0.0, -(h - t), h - 2 * t, t), wall_rgba)):
        parts.append(f'<geom name="{prefix}wall_{name}" type="box" pos="{x:.4g} {y:.4g} {wz:.4g}" '
                     f'size="{sx:.4g} {sy:.4g} {wall_half:.4g}" rgba="{rgba}" {extra}/>')
    return "\n        ".join(parts)


class AligningEnv(RodTaskEnv):
    """Push the box onto the target pose, from inside the box (mode 0) or outside (mode 1)."""

    action_dims = 3
    max_steps = 400
    start_tcp = (0.525, -0.35, 0.12)
    obs_dim = 20
    num_modes = 2

    def scene(self) -> str:
        mass = BOX_MASS / 5  # spread over the five geoms
        box_geoms = _box_geoms(
            "box_", f'mass="{mass}" friction="0.3 0.005 0.0001" {OBJECT_CONTACT}',
            "0.2 0.35 0.8 1", "0.85 0.2 0.2 1", "0.3 0.45 0.85 1")
        target_geoms = _box_geoms(
            "target_", 'contype="0" conaffinity="0" group="1"', "0.2 0.35 0.8 0.25",
            "0.85 0.2 0.2 0.35", "0.3 0.45 0.85 0.2")
        bodies = (
            '<body name="box" pos="0.5 -0.175 0">\n'
            '        <freejoint name="box"/>\n'
            f'        {box_geoms}\n'
            '    </body>\n'
            '    <body name="target" mocap="true" pos="0.5 0.275 0">\n'
            f'        {target_geoms}\n'
            '    </body>')
        return scene_xml(name="aligning", bodies=bodies, rod_start=self.start_tcp)

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        (bx0, bx1), (by0, by1) = BOX_XY_RANGE
        (tx0, tx1), (ty0, ty1) = TARGET_XY_RANGE
        return np.array([rng.uniform(bx0, bx1), rng.uniform(by0, by1), rng.uniform(*YAW_RANGE),
                         rng.uniform(tx0, tx1), rng.uniform(ty0, ty1), rng.uniform(*YAW_RANGE)])

    def apply_context(self, context: np.ndarray) -> None:
        if context.shape != (6,):
            raise ValueError(f"aligning context is (box x, y, yaw, target x, y, yaw), "
                             f"got shape {context.shape}")
        bx, by, byaw, tx, ty, tyaw = (float(v) for v in context)
        adr = self.model.joint("box").qposadr[0]
        self.data.qpos[adr:adr + 7] = [bx, by, 0.0, *yaw_quat(byaw)]
        mocap = self.model.body("target").mocapid[0]
        self.data.mocap_pos[mocap] = [tx, ty, 0.0]
        self.data.mocap_quat[mocap] = yaw_quat(tyaw)

    def _reset_task(self) -> None:
        self._box_body = self.model.body("box").id
        self._mocap = self.model.body("target").mocapid[0]

    # ------------------------------------------------------------------ state
    @property
    def box_pos(self) -> np.ndarray:
        return self.data.xpos[self._box_body].copy()

    @property
    def box_quat(self) -> np.ndarray:
        return self.data.xquat[self._box_body].copy()

    def state_observation(self) -> np.ndarray:
        return np.concatenate([self.des, self.tcp, self.box_pos, self.box_quat,
                               self.data.mocap_pos[self._mocap],
                               self.data.mocap_quat[self._mocap]])

    def is_success(self) -> bool:
        return aligned(self.box_pos, self.box_quat, self.data.mocap_pos[self._mocap],
                       self.data.mocap_quat[self._mocap])

    def is_failure(self) -> bool:
        up_z = self.data.xmat[self._box_body].reshape(3, 3)[2, 2]
        return bool(up_z < TIP_COS)

    def update_mode(self) -> None:
        self.mode = aligning_mode(self.box_pos, self.tcp)
