"""Scripted Avoiding demonstrator: one of the 24 paths, drawn uniformly, at a varied pace.

At reset it draws the path (level-1 side, level-2 gap, level-3 gap), a crossing point inside
each chosen gap, a pace and a sway; it builds waypoints that cross each obstacle row straight
(with a random run-up) and shift sideways between rows, smooths them (corner cutting), and
redraws the plan if the smoothed path comes closer than a margin to any cylinder. `act` moves
the desired position along the path (arc length advancing at the pace, with small noise).
"""

from __future__ import annotations

import numpy as np

from envs.d3il.avoiding import FINISH_Y, LEVEL_Y, NUM_MODES, OBSTACLES, mode_levels
from envs.d3il.scene import ROD_RADIUS

__all__ = ["AvoidingDemonstrator"]

# x ranges of crossing points per level and gap (gap centres, kept clear of the cylinders)
_GAPS = (
    ((0.40, 0.445), (0.555, 0.60)),
    ((0.33, 0.385), (0.47, 0.53), (0.615, 0.67)),
    ((0.26, 0.31), (0.39, 0.46), (0.54, 0.61), (0.69, 0.74)),
)
_MARGIN = 0.012  # clearance kept between rod surface and cylinder surface (m)


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a smooth curve through the polyline's neighbourhood."""
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        cut = np.empty((2 * len(a), 2))
        cut[0::2], cut[1::2] = 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


def _resample(points: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    grid = np.arange(0.0, s[-1], step)
    return np.stack([np.interp(grid, s, points[:, 0]), np.interp(grid, s, points[:, 1])], 1), s


def _clear(path: np.ndarray) -> bool:
    for x, y, r in OBSTACLES:
        if np.min(np.hypot(path[:, 0] - x, path[:, 1] - y)) < r + ROD_RADIUS + _MARGIN:
            return False
    return True


class AvoidingDemonstrator:
    """Stochastic, multimodal demonstrations for `AvoidingEnv` (uniform over the 24 paths)."""

    num_modes = NUM_MODES

    def __init__(self, *, pace: tuple[float, float] = (0.0045, 0.0075), noise: float = 0.0003,
                 sway: float = 0.35):
        self.pace_range, self.noise, self.max_sway = pace, noise, sway
        self.intended_mode = -1

    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None:
        self.rng = rng
        self.intended_mode = int(rng.integers(self.num_modes))
        for _ in range(200):
            path = self._plan(np.asarray(obs[2:4]), mode_levels(self.intended_mode))
            if _clear(path):
                break
        else:  # pragma: no cover - the gaps are wide enough that this never happens
            raise RuntimeError(f"no clear path found for mode {self.intended_mode}")
        self.path = path
        self.pace = rng.uniform(*self.pace_range)
        self.sway = rng.uniform(0.0, self.max_sway)  # pace modulation amplitude
        self.phase = rng.uniform(0, 2 * np.pi)
        self.s = 0.0
        self.cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
        self.t = 0

    def _plan(self, start: np.ndarray, levels: tuple[int, int, int]) -> np.ndarray:
        rng = self.rng
        pts = [start]
        for level, gap in enumerate(levels):
            lo, hi = _GAPS[level][gap]
            x = rng.uniform(lo, hi)
            y = LEVEL_Y[level]
            before, after = rng.uniform(0.045, 0.07), rng.uniform(0.045, 0.07)
            pts += [np.array([x, y - before]), np.array([x, y + after])]
        pts.append(np.array([pts[-1][0] + rng.uniform(-0.03, 0.03), FINISH_Y + 0.06]))
        return _smooth(np.asarray(pts), rounds=4)

    def act(self, obs: np.ndarray) -> np.ndarray:
        des = np.asarray(obs[:2], dtype=np.float64)
        self.t += 1
        speed = self.pace * (1.0 + self.sway * np.sin(0.05 * self.t + self.phase))
        self.s = min(self.s + speed, self.cum[-1])
        target = np.array([np.interp(self.s, self.cum, self.path[:, 0]),
                           np.interp(self.s, self.cum, self.path[:, 1])])
        if self.s >= self.cum[-1]:  # past the end: keep walking forward
            target = des + np.array([0.0, self.pace])
        return target - des + self.rng.normal(0.0, self.noise, 2)
