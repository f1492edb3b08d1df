"""Scripted Pushing demonstrator: one of the 4 modes, drawn uniformly, in a varied style.

At reset it draws the mode (which cube goes first and to which zone; the other cube then goes
to the other zone) and a style: pace, approach speed, how far behind a cube it lines up, how
close to the zone centre it stops, a bend of each push path and small action noise. `act`
pushes closed-loop from the observation alone:

- approach: go to a point behind the cube on the cube->goal line, around the cubes (each a
  circle the rod keeps clear of, passed on a tangent);
- push: move along the line, steering the rod back onto the line through the cube's centre
  (a cube that drifts left is pushed left of centre and turns back); re-approach when the rod
  falls off the line (the cube slid or rotated away);
- a cube whose straight path to its zone would hit the other, unplaced cube is first pushed up
  past it (a via point); a placed cube that was knocked out of its zone is pushed back.
"""

from __future__ import annotations

import numpy as np

from envs.d3il.push_planning import (
    PushControl, bent_goal, detour, extent, next_stage, perp, segment_dist, unit,
)
from envs.d3il.pushing import CUBE_HALF, NUM_MODES, TARGETS
from envs.d3il.scene import ROD_RADIUS

__all__ = ["PushingDemonstrator"]

_CLEAR = CUBE_HALF * np.sqrt(2.0) + ROD_RADIUS + 0.008  # rod-centre keep-out radius per cube
_CLEAR_OWN = CUBE_HALF * np.sqrt(2.0) + ROD_RADIUS + 0.003  # ... for the cube being lined up
_PLACED_TOL = 0.04  # a placed cube further than this from its zone centre is pushed back
_CONTROL = PushControl(max_lead=0.012)  # lined-up test and steps (push_planning)
_BLOCK_DIST = 0.1  # centre distance to a push path below which the other cube blocks it


class PushingDemonstrator:
    """Stochastic, multimodal demonstrations for `PushingEnv` (uniform over the 4 modes)."""

    num_modes = NUM_MODES

    def __init__(self, *, pace: tuple[float, float] = (0.004, 0.0065), noise: float = 0.0003):
        self.pace_range, self.noise = pace, noise
        self.intended_mode = -1

    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None:
        self.rng = rng
        self.intended_mode = int(rng.integers(self.num_modes))
        first, swapped = divmod(self.intended_mode, 2)
        first_target = first ^ swapped  # mode_id(first, first_target) == intended_mode
        self.plan = [(first, first_target), (1 - first, 1 - first_target)]  # (cube, zone)
        self.pace = rng.uniform(*self.pace_range)
        self.travel = self.pace * rng.uniform(1.3, 1.8)  # speed when not pushing
        self.gap = rng.uniform(0.02, 0.04)  # lining-up distance behind the cube
        self.stop = rng.uniform(0.01, 0.025, size=2)  # per cube: done this close to the zone
        self.bend = rng.uniform(-0.05, 0.05, size=2)  # per cube: lateral aim offset
        self.via_rise = rng.uniform(0.11, 0.15)
        self.placed = [False, False]
        self.via: list[np.ndarray | None] = [None, None]
        self.via_done = [False, False]
        self.started = [False, False]
        self.pushing = False
        self.active = -1

    # ------------------------------------------------------------------ planning
    def _start_stage(self, stage: int, cubes: np.ndarray) -> None:
        """Fix the via point and bend of a cube's push when its turn comes."""
        cube, zone = self.plan[stage]
        c, goal = cubes[cube, :2], TARGETS[zone]
        other = cubes[1 - cube, :2]
        self.via[stage], self.via_done[stage] = None, False
        if not self.placed[1 - stage] and self._blocks(other, c, goal):
            away = np.sign(c[0] - other[0]) or 1.0
            self.via[stage] = np.array([c[0] + away * self.rng.uniform(0.0, 0.02),
                                        other[1] + self.via_rise])
        u, _ = unit(goal - c)
        bent = goal + perp(u) * self.bend[stage]
        if not self.placed[1 - stage] and self._blocks(other, c, bent):
            self.bend[stage] = 0.0
        self.started[stage] = True

    @staticmethod
    def _blocks(other: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
        dist, t = segment_dist(other, a, b)
        return dist < _BLOCK_DIST and t > 0.0

    def _goal(self, stage: int, c: np.ndarray) -> np.ndarray:
        """Where the cube should head now: the via point, then the (bent) zone centre."""
        zone = TARGETS[self.plan[stage][1]]
        via = self.via[stage]
        if via is not None and not self.via_done[stage]:
            if np.linalg.norm(via - c) < 0.03 or c[1] > via[1]:
                self.via_done[stage] = True
            else:
                return via
        return bent_goal(zone, c, self.bend[stage])

    # ------------------------------------------------------------------ acting
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        des, tcp = obs[0:2], obs[2:4]
        cubes = np.array([[obs[4], obs[5], np.arctan(obs[6])], [obs[7], obs[8], np.arctan(obs[9])]])
        stage = self._stage(cubes)
        if stage < 0:
            return np.zeros(2)
        if stage != self.active:
            self.active, self.pushing = stage, False
            if not self.started[stage]:
                self._start_stage(stage, cubes)
        cube = self.plan[stage][0]
        c, yaw = cubes[cube, :2], cubes[cube, 2]
        d, _ = unit(self._goal(stage, c) - c)
        contact = extent(yaw, d) + ROD_RADIUS
        self.pushing, lat = _CONTROL.pushing(tcp, c, d, contact, self.gap, self.pushing)
        # step the desired position (the rod lags it by a few mm at speed, and settles there);
        # a desired position run away from a blocked rod is pulled back first
        base = _CONTROL.base(des, tcp)
        if self.pushing:
            step = _CONTROL.push_step(d, lat, self.pace)
        else:
            line_up = c - d * (contact + self.gap)
            keep_out = [(cubes[k, :2], _CLEAR_OWN if k == cube else _CLEAR) for k in range(2)]
            step = _CONTROL.approach_step(base, detour(base, line_up, keep_out), self.travel)
        action = base + step - des + self.rng.normal(0.0, self.noise, 2)
        return np.clip(action, -0.03, 0.03)

    def _stage(self, cubes: np.ndarray) -> int:
        """The first push still to do (placed cubes knocked out count again); -1 when done."""
        return next_stage(self.plan, cubes, TARGETS, placed=self.placed, started=self.started,
                          stop=self.stop, placed_tol=_PLACED_TOL)
