"""Scripted, stochastic demonstrator for Aligning: push the box onto the target pose from
inside the box (mode 0) or from outside (mode 1).

Closed loop from the observation alone (box and target poses are in it). A push is aimed at
one face of the box: the face whose push direction is nearest the wanted travel direction
(towards the target, turned back by half the remaining yaw error, since the push direction
turns with the box). The contact sits off the face centre by an offset proportional to the
yaw error (a push at offset s along the face gives a torque -s |F| about the box centre), so
large yaw errors get near-corner pushes that mostly rotate the box and small ones are held
while it translates. Contact point and push direction are recomputed every step in the box
frame, so the rod follows the box as it turns; the push speed drops near the target. A face
is dropped when it no longer helps (then the rod walks to the next: inside the box straight
across, outside around the box's corners at a clearance, or straight when that is clear).

Mode 0 brings the rod over the box above the walls (the TCP starts above them), lowers it
inside and pushes the inner walls outwards; mode 1 lowers it beside the box and pushes the
outer walls. The episode ends when the box is aligned, so the rod is then inside the box
(mode 0) or outside it (mode 1). Style per episode: speeds, push height, the clearance around
the box, the curvature of the first approach, the turning gain, action noise.
"""

from __future__ import annotations

import numpy as np

from envs.d3il.aligning import BOX_HALF, WALL_HEIGHT, WALL_THICKNESS, AligningEnv
from envs.d3il.geometry import quat_yaw
from envs.d3il.scene import ROD_RADIUS

__all__ = ["AligningDemonstrator"]

_INNER = BOX_HALF - WALL_THICKNESS  # centre to the inner wall face
_SAFE_Z = WALL_HEIGHT + 0.02  # rod tip clears the walls above this height


def _rot(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s], [s, c]])


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


def _clip_norm(v: np.ndarray, limit: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v if n <= limit else v * (limit / n)


class AligningDemonstrator:
    """Pushes the box to the target from inside (mode 0) or outside (mode 1), drawn uniformly
    at reset unless `mode` fixes it."""

    num_modes = 2

    def __init__(self, mode: int | None = None) -> None:
        if mode not in (None, 0, 1):
            raise ValueError(f"mode must be None, 0 or 1, got {mode}")
        self.fixed_mode = mode
        self.intended_mode = -1

    # ------------------------------------------------------------------ episode state
    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None:
        self.rng = rng
        drawn = int(rng.integers(2))  # drawn even when fixed: the same seed, the same style
        self.intended_mode = drawn if self.fixed_mode is None else self.fixed_mode
        self.inside = self.intended_mode == 0
        # style
        self.v_free = rng.uniform(0.009, 0.013)  # free moves (m / step)
        self.v_push = rng.uniform(0.005, 0.007)  # pushing
        self.v_slow = rng.uniform(0.0015, 0.0025)  # pushing near the goal
        self.z_push = rng.uniform(0.015, 0.03) if self.inside else rng.uniform(0.015, 0.04)
        self.clearance = rng.uniform(0.015, 0.03)  # rod-wall gap when walking around the box
        self.curve = rng.uniform(-0.4, 0.4)  # curvature of the first approach
        self.noise = rng.uniform(0.0002, 0.0006)
        self.k_turn = rng.uniform(0.12, 0.2)  # push offset per rad of yaw error
        self.s_max = 0.03 if self.inside else 0.035
        self.face: int | None = None  # the face being pushed
        self.pushing = False
        self.entered = False  # mode 0: rod lowered into the box

    # ------------------------------------------------------------------ geometry
    def _parse(self, obs: np.ndarray) -> None:
        self.des, self.tcp = obs[0:3], obs[3:6]
        self.box = obs[6:8]
        self.yaw = quat_yaw(obs[9:13])
        self.err = obs[13:15] - self.box
        self.dist = float(np.linalg.norm(self.err))
        self.dyaw = _wrap(quat_yaw(obs[16:20]) - self.yaw)
        self.R = _rot(self.yaw)

    def _push_dir(self, face: int) -> np.ndarray:
        """World push direction for a face (0..3: box +x, +y, -x, -y walls)."""
        n = self.R @ np.array([np.cos(face * np.pi / 2), np.sin(face * np.pi / 2)])
        return n if self.inside else -n  # inside: push the wall outwards; outside: inwards

    def _contact(self, face: int, s: float, back: float) -> np.ndarray:
        """World xy of the rod centre touching `face` at offset s, backed off by `back`."""
        u = self._push_dir(face)
        t = np.array([-u[1], u[0]])
        if self.inside:
            depth = _INNER - ROD_RADIUS - back
            return self.box + depth * u + s * t
        return self.box - (BOX_HALF + ROD_RADIUS + back) * u + s * t

    def _local(self, xy: np.ndarray) -> np.ndarray:
        return self.R.T @ (xy - self.box)

    # ------------------------------------------------------------------ planning
    def _offset(self) -> float:
        """Push offset along the face: turns the box towards the target yaw (torque = -s F)."""
        return float(np.clip(-self.k_turn * self.dyaw, -self.s_max, self.s_max))

    def _want(self) -> np.ndarray:
        """The push direction wanted now: towards the target, turned back by half the remaining
        rotation (the push direction turns with the box while it rotates)."""
        heading = np.arctan2(self.err[1], self.err[0]) - np.clip(0.5 * self.dyaw, -1.0, 1.0)
        return np.array([np.cos(heading), np.sin(heading)])

    def _choose(self) -> int:
        """The face whose push direction is nearest the wanted one (outside: and the rod)."""
        want = self._want()
        scores = []
        for face in range(4):
            score = float(self._push_dir(face) @ want)
            if not self.inside:  # prefer faces near the rod (walking around costs time)
                near = self._contact(face, 0.0, 0.02) - self.tcp[:2]
                score -= 1.0 * float(np.linalg.norm(near))
            scores.append(score)
        return int(np.argmax(scores))

    def _face_valid(self) -> bool:
        """Whether the current face still helps: turning, its push direction within 75 deg of
        the wanted one; translating, some error left along it (the rest goes to another face)."""
        u = self._push_dir(self.face)
        if self.pushing and not self.inside:  # slipped off the face?
            lateral = float(np.array([-u[1], u[0]]) @ (self.tcp[:2] - self.box))
            if abs(lateral) > BOX_HALF + 0.004:
                return False
        if abs(self.dyaw) > 0.3:  # mostly turning: keep the face while it roughly helps
            return float(u @ self._want()) > np.cos(np.deg2rad(75))
        return float(u @ self.err) > 0.003

    # ------------------------------------------------------------------ control
    def _move(self, goal_xy: np.ndarray, goal_z: float, speed: float) -> np.ndarray:
        """Delta of the desired position towards a goal, at most `speed` in xy."""
        dxy = _clip_norm(goal_xy - self.des[:2], speed)
        dz = float(np.clip(goal_z - self.des[2], -self.v_free, self.v_free))
        return np.array([dxy[0], dxy[1], dz])

    def act(self, obs: np.ndarray) -> np.ndarray:
        self._parse(obs)
        action = self._act()
        action = action + self.rng.normal(0.0, self.noise, 3)
        return np.clip(action, -AligningEnv.max_delta, AligningEnv.max_delta)

    def _act(self) -> np.ndarray:
        local = np.abs(self._local(self.tcp[:2]))
        low = self.tcp[2] < _SAFE_Z - 0.005
        if self.inside and self.entered and low and local.max() > _INNER:
            self.entered, self.face = False, None  # out of the box (should not happen): re-enter
        if self.inside and not self.entered:
            return self._enter()
        if not self.inside and self.tcp[2] < _SAFE_Z and local.max() < BOX_HALF:  # over the box
            self.face, self.pushing = None, False
            return self._move(self.tcp[:2], _SAFE_Z + 0.01, self.v_free)
        if self.face is not None and not self._face_valid():
            self.face, self.pushing = None, False
        if self.face is None:
            self.face, self.pushing = self._choose(), False
        s = self._offset()
        if not self.pushing:
            pre = self._contact(self.face, s, 0.015)
            if np.linalg.norm(self.tcp[:2] - pre) < 0.006 and abs(self.tcp[2] - self.z_push) < 0.01:
                self.pushing = True
            else:
                return self._walk(pre)
        goal = self._contact(self.face, s, -0.012)  # 12 mm past the contact: keep pushing
        along = float(self._push_dir(self.face) @ self.err)
        speed = self.v_push if abs(self.dyaw) > 0.3 else float(
            np.clip(0.15 * along, self.v_slow, self.v_push))
        return self._move(goal, self.z_push, speed)

    def _enter(self) -> np.ndarray:
        """Mode 0: over the box at safe height, then down inside it."""
        high = self.tcp[2] > _SAFE_Z - 0.005
        over = np.linalg.norm(self.tcp[:2] - self.box) < 0.012
        if not (high or over):
            return self._move(self.tcp[:2], _SAFE_Z + 0.01, self.v_free)  # lift first
        if over:
            if self.tcp[2] < self.z_push + 0.01:
                self.entered = True
            return self._move(self.box, self.z_push, self.v_free)
        d = self.box - self.des[:2]
        goal = self.des[:2] + d + self.curve * np.array([-d[1], d[0]])
        return self._move(goal, max(self.des[2], _SAFE_Z), self.v_free)

    def _walk(self, pre: np.ndarray) -> np.ndarray:
        """Move to the pre-push point without hitting the box (inside: straight)."""
        if self.inside:
            return self._move(pre, self.z_push, self.v_free)
        pos = self.tcp[:2]
        if self.tcp[2] > _SAFE_Z:  # above the walls: straight there, come down beside the box
            d = pre - self.des[:2]
            if np.linalg.norm(pre - pos) > 0.02:
                d = d + self.curve * np.array([-d[1], d[0]])
                return self._move(self.des[:2] + d, self.des[2], self.v_free)
            return self._move(pre, self.z_push, self.v_free)
        if self._clear(pos, pre):
            return self._move(pre, self.z_push, self.v_free)
        # around the box: the next corner of a square `clearance` off the walls
        a0 = float(np.arctan2(*self._local(pos)[::-1]))
        a1 = float(np.arctan2(*self._local(pre)[::-1]))
        ccw = _wrap(a1 - a0) > 0
        k = np.floor((a0 - np.pi / 4) / (np.pi / 2))
        corner_r = (BOX_HALF + ROD_RADIUS + self.clearance) * np.sqrt(2)
        for step in range(2):
            a = np.pi / 4 + (k + (1 + step if ccw else -step)) * np.pi / 2
            wp = self.box + self.R @ (corner_r * np.array([np.cos(a), np.sin(a)]))
            if np.linalg.norm(wp - pos) > 0.008:
                break
        return self._move(wp, self.z_push, self.v_free)

    def _clear(self, p: np.ndarray, q: np.ndarray) -> bool:
        """Whether the rod moving straight from p to q keeps off the box walls (sampled)."""
        pts = self._local(p)[None] + np.linspace(0, 1, 9)[:, None] * (self.R.T @ (q - p))[None]
        gap = np.linalg.norm(np.maximum(np.abs(pts) - BOX_HALF, 0.0), axis=1)
        return bool(gap.min() > ROD_RADIUS + 0.006)
