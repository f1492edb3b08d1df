"""Scripted Block Push oracle: one of the 4 orders, drawn uniformly, in a varied style.

At reset it draws the mode (which block first and to which target; the other block then goes
to the other target) and a style: push pace, travel speed, how far behind a block it lines up
(about 5 cm behind the block centre), how close to the target centre it stops, and small
action noise. `act` works closed-loop from the observation alone, per block in the drawn order:

- approach: go to the line-up point behind the block on the block->goal line, on the shortest
  way around both blocks (`push_planning.route`, each block a circle the rod keeps clear of);
- push: move along the line, steering the rod back onto the line through the block's centre;
  re-approach when the rod falls off the line (the block slid or turned away);
- retreat: once a block is placed, back off along the push line before heading for the next;
- a block whose straight path would hit the other, unplaced block is first pushed to a via
  point beside it; a placed block that was knocked out of its target is pushed back.
"""

from __future__ import annotations

import numpy as np

from envs.block_push.env import (
    BLOCK_HALF, MAX_DELTA, NUM_MODES, TARGETS, WORKSPACE, features_yaw,
)
from envs.d3il.push_planning import (
    PushControl, extent, next_stage, perp, route, segment_dist, unit,
)
from envs.d3il.scene import ROD_RADIUS

__all__ = ["BlockPushDemonstrator"]

_CIRCUM = BLOCK_HALF * np.sqrt(2.0)
_CLEAR = _CIRCUM + ROD_RADIUS + 0.012  # rod-centre keep-out radius of the other block
_CLEAR_OWN = _CIRCUM + ROD_RADIUS + 0.005  # ... of the block being lined up
_PLACED_TOL = 0.04  # a placed block further than this from its target is pushed back
# lined-up test and steps (push_planning): tighter than Pushing's for the smaller blocks
_CONTROL = PushControl(max_lead=0.02, hold_lat=0.02, hold_ahead=0.015, start_lat=0.008,
                       start_behind=0.01, steer=0.6)
_BLOCK_DIST = 0.075  # centre distance to a push path below which the other block blocks it
_VIA_SIDE = 0.095  # lateral distance of a via point from the blocking block's centre
_RETREAT = 0.07  # back off this far (effector to block centre) after placing a block
_BOUNDS = (WORKSPACE[0, 0], WORKSPACE[1, 0], WORKSPACE[0, 1], WORKSPACE[1, 1])


class BlockPushDemonstrator:
    """Stochastic, multimodal demonstrations for `BlockPushEnv` (uniform over the 4 modes)."""

    num_modes = NUM_MODES

    def __init__(self, *, pace: tuple[float, float] = (0.007, 0.012),
                 noise: float = 0.001) -> None:
        if not 0.0 < pace[0] <= pace[1] <= MAX_DELTA:
            raise ValueError(f"pace must be (low, high) with 0 < low <= high <= {MAX_DELTA}, "
                             f"got {pace!r}")
        self.pace_range, self.noise = pace, noise
        self.intended_mode = -1

    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None:
        self.rng = rng
        self.intended_mode = int(rng.integers(self.num_modes))
        first, target = divmod(self.intended_mode, 2)  # mode_id(first, target)
        self.plan = [(first, target), (1 - first, 1 - target)]  # (block, target) per stage
        self.pace = rng.uniform(*self.pace_range)
        self.travel = rng.uniform(2.0, 3.0) * self.pace  # speed when not pushing
        self.gap = rng.uniform(0.015, 0.03)  # rod surface to block face when lined up
        self.stop = rng.uniform(0.01, 0.025, size=2)  # per stage: done this close to the target
        self.placed = [False, False]
        self.via: list[np.ndarray | None] = [None, None]
        self.started = [False, False]
        self.pushing = False
        self.retreat_from: np.ndarray | None = None
        self.active = -1

    # ------------------------------------------------------------------ planning
    def _start_stage(self, stage: int, blocks: np.ndarray) -> None:
        """Fix a via point beside the other block if it stands in the way of this push."""
        block, target = self.plan[stage]
        c, goal, other = blocks[block, :2], TARGETS[target], blocks[1 - block, :2]
        self.via[stage] = None
        dist, t = segment_dist(other, c, goal)
        if not self.placed[1 - stage] and dist < _BLOCK_DIST and 0.0 < t < 1.0:
            d, _ = unit(goal - c)
            side = -np.sign(np.dot(other - c, perp(d))) or 1.0
            self.via[stage] = other + side * perp(d) * _VIA_SIDE + d * 0.02
        self.started[stage] = True

    def _goal(self, stage: int, c: np.ndarray) -> np.ndarray:
        """Where the block should head now: the via point (until reached or passed), then
        the target."""
        goal = TARGETS[self.plan[stage][1]]
        via = self.via[stage]
        if via is not None:
            passed = np.dot(c - via, goal - via) > 0.0
            if np.linalg.norm(via - c) < 0.03 or passed:
                self.via[stage] = None
            else:
                return via
        return goal

    # ------------------------------------------------------------------ acting
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != (16,):
            raise ValueError(f"a Block Push observation has 16 values, got shape {obs.shape}")
        des, tcp = obs[0:2], obs[2:4]
        blocks = np.array([[obs[4], obs[5], features_yaw(obs[6], obs[7])],
                           [obs[8], obs[9], features_yaw(obs[10], obs[11])]])
        stage = self._stage(blocks)
        if stage < 0:
            return np.zeros(2)
        if stage != self.active:
            if self.active >= 0 and self.placed[self.active]:
                self.retreat_from = blocks[self.plan[self.active][0], :2].copy()
            self.active, self.pushing = stage, False
            if not self.started[stage]:
                self._start_stage(stage, blocks)
        # step from the desired position (the rod settles there within a step); one run away
        # from a blocked rod is pulled back first
        base = _CONTROL.base(des, tcp)
        if self.retreat_from is not None:
            away, dist = unit(tcp - self.retreat_from)
            if dist < _RETREAT:
                return self._finish(base + away * min(self.travel, _RETREAT + 0.005 - dist), des)
            self.retreat_from = None
        block = self.plan[stage][0]
        c, yaw = blocks[block, :2], blocks[block, 2]
        d, _ = unit(self._goal(stage, c) - c)
        contact = extent(yaw, d, BLOCK_HALF) + ROD_RADIUS
        self.pushing, lat = _CONTROL.pushing(tcp, c, d, contact, self.gap, self.pushing)
        if self.pushing:
            step = _CONTROL.push_step(d, lat, self.pace)
        else:
            line_up = c - d * (contact + self.gap)
            keep_out = [(blocks[k, :2], _CLEAR_OWN if k == block else _CLEAR) for k in range(2)]
            waypoint = route(base, line_up, keep_out, bounds=_BOUNDS)
            step = _CONTROL.approach_step(base, waypoint, self.travel)
        return self._finish(base + step, des)

    def _finish(self, new_des: np.ndarray, des: np.ndarray) -> np.ndarray:
        """The action to `new_des` (kept in the workspace), with a little noise."""
        new_des = np.clip(new_des, WORKSPACE[0], WORKSPACE[1])
        action = new_des - des + self.rng.normal(0.0, self.noise, 2)
        return np.clip(action, -MAX_DELTA, MAX_DELTA)

    def _stage(self, blocks: np.ndarray) -> int:
        """The first push still to do (placed blocks knocked out count again); -1 when done."""
        return next_stage(self.plan, blocks, TARGETS, placed=self.placed, started=self.started,
                          stop=self.stop, placed_tol=_PLACED_TOL)
