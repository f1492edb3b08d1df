"""Scripted Stacking demonstrator: one block order, drawn uniformly, in a varied style.

At reset it draws the order in which the three blocks are stacked (the mode: the first two
blocks to enter the zone) and a style: travel pace, the heights it lifts and carries at, how
wide it opens, where in the zone the stack stands, how long it waits after closing and
releasing, and small action noise. `act` runs a pick-and-place cycle per block, closed loop on
the observation alone (block poses, TCP, finger width):

approach (above the block, turning to the grasp yaw, opening) -> descend (to the block's centre
height, following it) -> close (until the fingers stop) -> lift -> carry (above the stack) ->
lower (onto the stack) -> release -> retreat (up), then the next block.

The grasp yaw closes the fingers across a cube's sides (of the two choices a quarter turn apart,
the one whose open fingers keep clear of the other blocks, then the one nearer the hand's yaw)
and across the blue box's short side. A missed grasp (fingers closed on nothing) or a block
lost in the air sends it back to approach that block; a block that fell off the stack is picked
again before the next one.
"""

from __future__ import annotations

import numpy as np

from envs.d3il.geometry import footprints_overlap
from envs.d3il.gripper_scene import FINGER_HALF, MAX_WIDTH
from envs.d3il.stacking import BLOCK_HALF, MAX_YAW_STEP, ORDERS, ZONE_CENTRE, in_zone

__all__ = ["StackingDemonstrator"]

_OBS_DIM = 20
_MAX_LEAD = 0.02  # the most the desired position may run ahead of the TCP (m)
_AT = 0.006  # a waypoint counts as reached this close (m)
_YAW_AT = 0.05  # ... and the yaw this close (rad)
_BLOCK_H = 0.06  # every block is 6 cm tall
_GRASP_Z = 0.03  # TCP height that grasps a block standing on the table (its centre)


def _wrap_half_turn(yaw: float) -> float:
    """`yaw` mapped into [-pi/2, pi/2) (the hand is symmetric under a half turn)."""
    return float((yaw + np.pi / 2) % np.pi - np.pi / 2)


class StackingDemonstrator:
    """Stochastic, multimodal demonstrations for `StackingEnv` (uniform over the 6 orders)."""

    num_modes = len(ORDERS)

    def __init__(self, *, pace: tuple[float, float] = (0.008, 0.013), noise: float = 0.0004):
        self.pace_range, self.noise = pace, noise
        self.intended_mode = -1

    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None:
        if len(obs) != _OBS_DIM:
            raise ValueError(f"a Stacking observation has {_OBS_DIM} values, got {len(obs)}")
        self.rng = rng
        self.intended_mode = int(rng.integers(self.num_modes))
        self.order = ORDERS[self.intended_mode]
        self.pace = rng.uniform(*self.pace_range)
        self.lift = rng.uniform(0.11, 0.16)  # height above a block before descending
        self.carry = rng.uniform(0.22, 0.27)  # TCP height while carrying
        self.open = rng.uniform(0.082, MAX_WIDTH)
        self.base = ZONE_CENTRE + rng.uniform(-0.015, 0.015, 2)  # where the stack stands
        self.close_wait = int(rng.integers(6, 12))
        self.release_wait = int(rng.integers(5, 10))
        self.done = 0  # blocks of the order stacked
        self.stack: list[int] = []
        self.cmd_yaw = 0.0  # the desired yaw it has commanded (the env starts it at 0)
        self._begin("approach")

    def _begin(self, phase: str) -> None:
        self.phase, self.timer = phase, 0

    # ------------------------------------------------------------------ geometry
    def _grasp_yaw(self, k: int, blocks: np.ndarray, hand_yaw: float) -> float:
        """Hand yaw that closes the fingers across block k (clear of the others if it can)."""
        yaw = float(np.arctan(blocks[k, 3]))
        if k == 2:  # the box: fingers across its short (x) side
            return _wrap_half_turn(yaw + np.pi / 2)
        candidates = [_wrap_half_turn(yaw), _wrap_half_turn(yaw + np.pi / 2)]
        clearance = [self._finger_clearance(k, blocks, c) for c in candidates]
        near = [abs(_wrap_half_turn(c - hand_yaw)) for c in candidates]
        best = max(range(2), key=lambda i: (clearance[i], -near[i]))
        return candidates[best]

    def _finger_clearance(self, k: int, blocks: np.ndarray, yaw: float) -> bool:
        """Whether the open fingers at `yaw` about block k keep clear of the other blocks."""
        across = np.array([-np.sin(yaw), np.cos(yaw)])
        for side in (1.0, -1.0):
            pad = blocks[k, :2] + side * across * (self.open / 2 + FINGER_HALF[1])
            for j in range(3):
                if j != k and footprints_overlap((*pad, yaw), np.asarray(FINGER_HALF[:2]) + 0.004,
                                                 (*blocks[j, :2], np.arctan(blocks[j, 3])),
                                                 BLOCK_HALF[j, :2]):
                    return False
        return True

    def _place_xy(self, blocks: np.ndarray) -> np.ndarray:
        """On top of the stack's highest block, or at the chosen base."""
        if self.stack:
            return blocks[self.stack[-1], :2].copy()
        return self.base

    # ------------------------------------------------------------------ control
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        des, tcp, hand_yaw, width = obs[0:3], obs[3:6], obs[6], obs[7]
        blocks = obs[8:].reshape(3, 4)
        self.timer += 1
        self._check_stack(blocks)
        if self.done == 3:
            return self._move(des, tcp, tcp, self.cmd_yaw, 0.0)
        k = self.order[self.done]
        block = blocks[k, :3]
        grip, yaw = 0.0, self.cmd_yaw
        target = tcp.copy()
        if self.phase == "approach":
            self.yaw = self._grasp_yaw(k, blocks, hand_yaw)
            target = np.r_[block[:2], max(block[2], _GRASP_Z) + self.lift]
            yaw, grip = self.yaw, self.open
            if self._reached(tcp, target, hand_yaw, yaw):
                self._begin("descend")
        elif self.phase == "descend":
            target = np.r_[block[:2], block[2]]
            yaw, grip = self.yaw, self.open
            if self._reached(tcp, target, hand_yaw, yaw, tol=0.004):
                self._begin("close")
        elif self.phase == "close":
            target, yaw = np.r_[block[:2], block[2]], self.yaw
            if self.timer >= self.close_wait:
                grasped = 0.03 < width < 2 * BLOCK_HALF[k, 0] + 0.01
                self._begin("lift" if grasped else "approach")
        elif self.phase in ("lift", "carry", "lower"):
            if np.linalg.norm(block - tcp) > 0.03:  # lost it
                self._begin("approach")
                return self._move(des, tcp, np.r_[tcp[:2], tcp[2] + 0.05], yaw, self.open)
            place = self._place_xy(blocks)
            if self.phase == "lift":
                target = np.r_[tcp[:2], self.carry]
                if tcp[2] > self.carry - 0.02:
                    self._begin("carry")
            elif self.phase == "carry":
                target = np.r_[place, self.carry]
                if np.linalg.norm(tcp[:2] - place) < _AT:
                    self._begin("lower")
            else:
                target = np.r_[place, _GRASP_Z + _BLOCK_H * len(self.stack) + 0.004]
                if tcp[2] < target[2] + 0.004 or self.timer > 80:
                    self._begin("release")
        elif self.phase == "release":
            grip = self.open
            target = des.copy()
            if self.timer >= self.release_wait:
                self.stack.append(k)
                self.done += 1
                self._begin("retreat")
        elif self.phase == "retreat":
            grip = self.open
            target = np.r_[tcp[:2], self.carry]
            if tcp[2] > self.carry - 0.02:  # clear of the stack before moving on
                self._begin("approach")
        return self._move(des, tcp, target, yaw, grip)

    def _check_stack(self, blocks: np.ndarray) -> None:
        """Blocks stacked so far that left the zone or fell go back on the to-do list."""
        for i, k in enumerate(self.stack):
            on_top = blocks[k, 2] > _GRASP_Z + _BLOCK_H * i - 0.02
            if not (in_zone(blocks[k, :2]) and on_top):
                self.stack, self.done = self.stack[:i], i
                self._begin("approach") if self.phase != "retreat" else None
                return

    def _reached(self, tcp, target, hand_yaw, yaw, tol: float = _AT) -> bool:
        return (np.linalg.norm(tcp - target) < tol
                and abs(_wrap_half_turn(hand_yaw - yaw)) < _YAW_AT)

    def _move(self, des, tcp, target, yaw, grip) -> np.ndarray:
        """Step the desired position toward `target` at the pace, kept near the TCP, and the
        desired yaw toward `yaw`."""
        step = target - des
        dist = np.linalg.norm(step)
        if dist > self.pace:
            step *= self.pace / dist
        new = des + step
        lead = new - tcp
        if np.linalg.norm(lead) > _MAX_LEAD:
            new = tcp + lead * (_MAX_LEAD / np.linalg.norm(lead))
        delta = new - des + self.rng.normal(0.0, self.noise, 3)
        dyaw = float(np.clip(yaw - self.cmd_yaw, -MAX_YAW_STEP, MAX_YAW_STEP))
        self.cmd_yaw += dyaw
        return np.r_[delta, dyaw, grip]
