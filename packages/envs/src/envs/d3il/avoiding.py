"""Avoiding: reach the finish line through a field of six static cylinders; 24 paths.

Geometry after D3IL's Avoiding (TASKS.md): cylinders at level 1 (0.5, -0.1) r 0.03, level 2
(0.425, 0.08), (0.575, 0.08) r 0.025, level 3 (0.35, 0.26), (0.5, 0.26), (0.65, 0.26) r 0.025;
the TCP starts at (0.525, -0.28); no randomisation. Observation [des xy, TCP xy] (4), action a
delta of the desired xy (2), at most 250 steps. Success: TCP y > 0.35. Failure: the rod
touches a cylinder (a physics contact). Both end the episode.

Mode: the side passed at level 1 (left/right of x = 0.5, read where the TCP crosses y = -0.1),
the gap passed at level 2 (x < 0.425, between, x > 0.575, at y = 0.08) and the gap at level 3
(one of 4, where y first reaches 0.26): 2 x 3 x 4 = 24 paths, id = 12 l1 + 4 l2 + l3.

Differs from the original: the rod is moved by a Cartesian controller instead of a Franka
(scene.py), and the TCP is the rod's tip.
"""

from __future__ import annotations

import numpy as np

from envs.d3il.base import RodTaskEnv
from envs.d3il.scene import OBJECT_CONTACT, scene_xml

__all__ = ["AvoidingEnv", "OBSTACLES", "FINISH_Y", "LEVEL_Y", "NUM_MODES", "avoiding_mode",
           "side_agreement"]

# (x, y, radius) per obstacle, by level
OBSTACLES = (
    (0.5, -0.1, 0.03),
    (0.425, 0.08, 0.025), (0.575, 0.08, 0.025),
    (0.35, 0.26, 0.025), (0.5, 0.26, 0.025), (0.65, 0.26, 0.025),
)
LEVEL_Y = (-0.1, 0.08, 0.26)
FINISH_Y = 0.35
NUM_MODES = 24
_LEVEL_EDGES = ((0.5,), (0.425, 0.575), (0.35, 0.5, 0.65))


def _side(x: float, edges) -> int:
    return int(np.searchsorted(np.asarray(edges), x))


def avoiding_mode(tcp_xy: np.ndarray) -> int:
    """The path id (0..23) of a TCP trajectory (L, 2), or -1 if it never crosses all levels."""
    xy = np.asarray(tcp_xy, dtype=np.float64)
    code = 0
    for level, (y_line, edges) in enumerate(zip(LEVEL_Y, _LEVEL_EDGES)):
        crossed = np.nonzero(xy[:, 1] >= y_line)[0]
        if len(crossed) == 0:
            return -1
        code = code * (len(edges) + 1) + _side(xy[crossed[0], 0], edges)
    return code


def mode_levels(mode: int) -> tuple[int, int, int]:
    """(level-1 side 0..1, level-2 gap 0..2, level-3 gap 0..3) of a path id."""
    return mode // 12, (mode // 4) % 3, mode % 4


def side_agreement(sample, episodes, *, window: int, steps=(1, 2, 3, 4),
                   samples: int = 40) -> list[float]:
    """How often a policy keeps the side its first steps took: fed each demonstration's own
    window at episode step k, the share of `samples` lateral actions with the demonstration's
    sign, per step (the data: 1.0). `sample(obs (N, T, O)) -> actions (N, A)` draws one action
    per window (e.g. a torch policy's `sample_actions` wrapped to numpy)."""
    from envs.windows import make_windows

    out = []
    for k in steps:
        obs = np.stack([make_windows([ep], window)["obs"][k] for ep in episodes])
        side = np.sign([ep.actions[k, 0] for ep in episodes])
        a = np.asarray(sample(np.repeat(obs, samples, axis=0)))
        agree = np.sign(a[:, 0]).reshape(len(episodes), samples) == side[:, None]
        out.append(float(agree.mean()))
    return out


class AvoidingEnv(RodTaskEnv):
    action_dims = 2
    max_steps = 250
    start_tcp = (0.525, -0.28, 0.02)
    obs_dim = 4
    num_modes = NUM_MODES

    def scene(self) -> str:
        cylinders = "\n".join(
            f'<geom name="obstacle{i}" type="cylinder" pos="{x} {y} 0.05" size="{r} 0.05" '
            f'rgba="0.75 0.2 0.2 1" {OBJECT_CONTACT}/>'
            for i, (x, y, r) in enumerate(OBSTACLES))
        finish = (f'<geom name="finish" type="box" pos="0.5 {FINISH_Y} 0.0005" '
                  'size="0.35 0.004 0.0005" rgba="0.1 0.6 0.2 1" contype="0" conaffinity="0"/>')
        return scene_xml(name="avoiding", bodies=cylinders + "\n" + finish,
                         rod_start=self.start_tcp)

    def _reset_task(self) -> None:
        self._obstacle_geoms = [self.model.geom(f"obstacle{i}").id for i in range(len(OBSTACLES))]
        self._levels: list[int] = []  # sides decided so far

    def state_observation(self) -> np.ndarray:
        return np.concatenate([self.des[:2], self.tcp[:2]])

    def is_success(self) -> bool:
        return bool(self.tcp[1] > FINISH_Y)

    def is_failure(self) -> bool:
        return self.rod_contacts(self._obstacle_geoms)

    def update_mode(self) -> None:
        xy = self.tcp[:2]
        while len(self._levels) < 3 and xy[1] >= LEVEL_Y[len(self._levels)]:
            self._levels.append(_side(xy[0], _LEVEL_EDGES[len(self._levels)]))
        if len(self._levels) == 3:
            l1, l2, l3 = self._levels
            self.mode = 12 * l1 + 4 * l2 + l3
