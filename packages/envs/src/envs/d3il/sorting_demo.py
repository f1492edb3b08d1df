"""Scripted Sorting demonstrator: one colour sequence, drawn uniformly, in a varied style.

Works for 2, 4 and 6 cubes (n is read from the observation length). At reset it draws the
colour sequence in which the cubes are to become sorted (the mode) and a style: pace, approach
speed, how far behind a cube it lines up, how close to its spot it stops, a bend of each push
path, small action noise, and whether the next cube of a colour is the nearest one or a random
one. Each cube gets a spot in its zone (spots are spaced so placed cubes do not block later
pushes: two deep ones first, a shallow middle one for a third cube; where a cube left off its
spot occupies the next one, the clearest point of the zone it can be pushed to cleanly instead).
Of the cubes of the colour due next, one that can be pushed cleanly is preferred. `act` pushes
closed-loop from the observation alone, with Pushing's approach / line-up / push / re-approach
logic (push_planning.py):

- the cube's path to its spot is straight when it keeps clear of the other cubes and the rod
  can line up behind it; otherwise it goes through a via point chosen on a grid (shortest
  clear path, replanned at the via point and whenever the rod falls off the cube);
- the rod reaches the line-up point by the shortest way around circles about all cubes;
- a cube is left in its zone once it is at its spot, once the rod can no longer get behind it,
  or after a while well inside the zone; a sorted cube knocked out of its zone is pushed back
  first.
"""

from __future__ import annotations

import numpy as np

from envs.d3il.push_planning import PushControl, bent_goal, extent, route, segments_clearance, unit
from envs.d3il.pushing import CUBE_HALF
from envs.d3il.scene import ROD_RADIUS
from envs.d3il.sorting import BLUE, RED, ZONES, colour_sequences, cube_colours, in_zone

__all__ = ["SortingDemonstrator"]

_CLEAR = CUBE_HALF * np.sqrt(2.0) + ROD_RADIUS + 0.008  # rod-centre keep-out radius per cube
_CLEAR_OWN = CUBE_HALF * np.sqrt(2.0) + ROD_RADIUS + 0.003  # ... for the cube being lined up
_CONTROL = PushControl(max_lead=0.012)  # Pushing's lined-up test and steps (push_planning)
_CUBE_GAP = 0.08  # centre distance a pushed cube's path keeps from the other cubes
_LINE_UP = 0.07  # rod distance behind a cube's centre (+ the gap) that a path must keep free
_SPOT_FREE = 0.075  # a planned spot is free while no other cube's centre is this close
_SPOT_CLEAR = 0.095  # centre distance sought for a spot off the plan
_SPOT_TRIES = 12  # clearest zone points tried for a clean path when no planned spot is free
_SETTLED_MARGIN = 0.01  # a cube this far inside its zone for _SETTLE_STEPS steps is left there
_SETTLE_STEPS = 60  # (its spot may be unreachable, e.g. next to a cube sorted out of turn)
_VIA_DONE = 0.03  # a via point is passed this close (or once the cube is beyond it)
_VIAS = np.stack(np.meshgrid(np.arange(0.27, 0.80, 0.025), np.arange(-0.22, 0.21, 0.025)),
                 -1).reshape(-1, 2)


def _sweep_clearance(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(S, P): how close `points` come to a cube pushed along a[s] -> b[s]; points behind the
    start (moved away from) do not count."""
    ab = (b - a)[:, None, :]
    ap = points[None, :, :] - a[:, None, :]
    t = np.sum(ap * ab, -1) / np.maximum(np.sum(ab * ab, -1), 1e-12)
    dist = np.linalg.norm(ap - np.clip(t, 0.0, 1.0)[..., None] * ab, axis=-1)
    return np.where(t > 0.0, dist, np.inf)


def zone_spots(colour: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Spots for `count` cubes in the zone of `colour`, in filling order (jittered)."""
    x0, x1 = ZONES[colour, :2]
    cx = (x0 + x1) / 2
    if count == 1:
        spots = [(cx, 0.29)]
    elif count == 2:
        spots = [(cx - 0.055, 0.29), (cx + 0.055, 0.29)]
        rng.shuffle(spots)
    else:
        spots = [(cx - 0.055, 0.355), (cx + 0.055, 0.355)]
        rng.shuffle(spots)
        spots.append((cx, 0.26))
    return [np.array(s) + rng.uniform(-0.008, 0.008, 2) for s in spots]


class SortingDemonstrator:
    """Stochastic, multimodal demonstrations for `SortingEnv` (uniform over colour sequences)."""

    num_modes = 6  # of 4 cubes; set from the observation at each reset

    def __init__(self, *, pace: tuple[float, float] = (0.0045, 0.007), noise: float = 0.0003):
        self.pace_range, self.noise = pace, noise
        self.intended_mode = -1

    def reset(self, obs: np.ndarray, rng: np.random.Generator) -> None:
        obs = np.asarray(obs, dtype=np.float64)
        n = (len(obs) - 4) // 3
        if len(obs) != 4 + 3 * n or n not in (2, 4, 6):
            raise ValueError(f"a Sorting observation has 4 + 3n values, n in (2, 4, 6), got "
                             f"{len(obs)}")
        self.rng, self.n = rng, n
        self.colours = cube_colours(n)
        sequences = colour_sequences(n)
        self.num_modes = len(sequences)
        self.intended_mode = int(rng.integers(self.num_modes))
        self.sequence = sequences[self.intended_mode]
        self.pace = rng.uniform(*self.pace_range)
        self.travel = self.pace * rng.uniform(1.3, 1.8)  # speed when not pushing
        self.gap = rng.uniform(0.02, 0.04)  # lining-up distance behind the cube
        self.stop = rng.uniform(0.01, 0.025, size=n)  # per cube: done this close to its spot
        self.bend = rng.uniform(-0.04, 0.04, size=n)  # per cube: lateral aim offset
        self.nearest = bool(rng.integers(2))  # next cube of a colour: nearest or random
        self.spots_left = {c: zone_spots(c, n // 2, rng) for c in (RED, BLUE)}
        self.spot: list[np.ndarray | None] = [None] * n
        self.sorted = np.zeros(n, bool)
        self.target, self.settling = -1, 0
        self.via: np.ndarray | None = None
        self.leg_start = np.zeros(2)
        self.pushing = False

    # ------------------------------------------------------------------ planning
    def _choose(self, cubes: np.ndarray, tcp: np.ndarray) -> int:
        """The next cube to push: knocked-out sorted cubes first, then the current target until
        it reaches its spot, then a cube of the next colour of the sequence; -1 when done."""
        for k in range(self.n):
            if k != self.target and self.sorted[k] and not in_zone(cubes[k], self.colours[k]):
                return self._start(k, cubes)
        if self.target >= 0:
            k = self.target
            inside = in_zone(cubes[k], self.colours[k], margin=_SETTLED_MARGIN)
            self.settling += int(inside)
            to_spot, dist = unit(self.spot[k] - cubes[k, :2])
            behind = cubes[k, :2] - to_spot * (_LINE_UP + self.gap)
            blocked = np.linalg.norm(np.delete(cubes[:, :2], k, 0) - behind, axis=1).min() < _CLEAR
            near = dist < self.stop[k] or blocked  # at the spot, or no way to push further
            if not (near and inside) and self.settling < _SETTLE_STEPS:
                return k
            self.target = -1
        done = int(self.sorted.sum())
        if done == self.n:
            return -1
        todo = np.nonzero(~self.sorted & (self.colours == self.sequence[done]))[0]
        if len(todo) == 0:  # a cube of the other colour was sorted by accident
            todo = np.nonzero(~self.sorted)[0]
        if self.nearest:
            todo = todo[np.argsort(np.linalg.norm(cubes[todo, :2] - tcp, axis=1))]
        else:
            todo = self.rng.permutation(todo)
        # the first in that order that can be pushed without touching others, else the least bad
        blocked = []
        for k in todo:
            spot = self.spot[k] if self.spot[k] is not None else self._free_spot(k, cubes, False)
            blocked.append(self._path(int(k), spot, cubes)[1])
            if blocked[-1] == 0.0:
                break
        return self._start(int(todo[int(np.argmin(blocked))]), cubes)

    def _start(self, k: int, cubes: np.ndarray) -> int:
        if self.spot[k] is None:
            self.spot[k] = self._free_spot(k, cubes)
        self.target, self.pushing, self.settling = k, False, 0
        self._plan(cubes)
        return k

    def _free_spot(self, k: int, cubes: np.ndarray, take: bool = True) -> np.ndarray:
        """The first spot left in the filling order that is clear of the other cubes (taken off
        the list if `take`), else the clearest point of the zone, shallow ones first (reachable
        past the deep cubes), preferring one that cube k can be pushed to cleanly."""
        others = np.delete(cubes[:, :2], k, axis=0)
        left = self.spots_left[int(self.colours[k])]
        for i, spot in enumerate(left):
            if np.linalg.norm(others - spot, axis=1).min() >= _SPOT_FREE:
                return left.pop(i) if take else spot
        x0, x1 = ZONES[self.colours[k], :2]
        grid = np.stack(np.meshgrid(np.linspace(x0 + 0.03, x1 - 0.03, 9),
                                    np.linspace(0.25, 0.37, 7)), -1).reshape(-1, 2)
        clearance = np.linalg.norm(grid[:, None] - others[None], axis=-1).min(axis=1)
        ranked = grid[np.argsort(-(np.minimum(clearance, _SPOT_CLEAR) - 0.1 * grid[:, 1]))]
        for spot in ranked[:_SPOT_TRIES]:
            if self._path(k, spot, cubes)[1] == 0.0:
                return spot
        return ranked[0]

    def _plan(self, cubes: np.ndarray) -> None:
        """Set the target's push path from where it is now."""
        k = self.target
        self.leg_start = cubes[k, :2].copy()
        self.via = self._path(k, self.spot[k], cubes)[0]

    def _path(self, k: int, goal: np.ndarray,
              cubes: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Cube k's push path to `goal`: straight (via None) or through the best via point (see
        the module docstring); and how far its first leg comes inside the clearances (0: clear)."""
        c = cubes[k, :2]
        others = np.delete(cubes[:, :2], k, axis=0)

        # cubes placed next to the spot may stand closer than the path clearance
        goal_gap = min(_CUBE_GAP, float(np.linalg.norm(others - goal, axis=1).min()) - 0.005)

        def shortfall(a: np.ndarray, b: np.ndarray, gap: float = _CUBE_GAP) -> np.ndarray:
            """How far pushes a -> b come inside the clearances of the other cubes (0: clear):
            the cube's sweep, and the rod's way in behind it."""
            a, b = np.atleast_2d(a), np.atleast_2d(b)
            u = b - a
            u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-9)
            sweep = np.maximum(gap - _sweep_clearance(a, b, others), 0.0).max(axis=1)
            rod = segments_clearance(a - u * 0.045, a - u * (_LINE_UP + self.gap), others)
            return sweep + np.maximum(_CLEAR - rod, 0.0).max(axis=1)

        if shortfall(c, goal, goal_gap)[0] == 0.0:
            return None, 0.0
        vias = _VIAS + self.rng.uniform(-0.01, 0.01, _VIAS.shape)
        first = shortfall(np.repeat(c[None], len(vias), 0), vias)
        second = shortfall(vias, goal[None], goal_gap) > 0.0
        to_via, from_via = vias - c, goal - vias
        cos = np.sum(to_via * from_via, 1) / np.maximum(
            np.linalg.norm(to_via, axis=1) * np.linalg.norm(from_via, axis=1), 1e-9)
        cost = (np.linalg.norm(to_via, axis=1) + np.linalg.norm(from_via, axis=1)
                + 0.03 * np.arccos(np.clip(cos, -1, 1)) + 0.3 * second + 10.0 * first
                + self.rng.uniform(0.0, 0.02, len(vias)))
        cost[np.linalg.norm(to_via, axis=1) < 0.04] = np.inf
        best = int(np.argmin(cost))
        return vias[best], float(first[best])

    def _goal(self, cubes: np.ndarray) -> np.ndarray:
        """Where the target cube should head now: the via point, then the (bent) spot."""
        k = self.target
        c, spot = cubes[k, :2], self.spot[k]
        if self.via is not None:
            leg, _ = unit(self.via - self.leg_start)
            if np.linalg.norm(self.via - c) < _VIA_DONE or np.dot(c - self.via, leg) > 0:
                self._plan(cubes)  # replan from here
            if self.via is not None:
                return self.via
        return bent_goal(spot, c, self.bend[k])

    # ------------------------------------------------------------------ acting
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        des, tcp = obs[0:2], obs[2:4]
        cubes = obs[4:].reshape(self.n, 3).copy()
        cubes[:, 2] = np.arctan(cubes[:, 2])
        for k in range(self.n):
            self.sorted[k] |= in_zone(cubes[k], self.colours[k])
        k = self._choose(cubes, tcp)
        if k < 0:
            return np.zeros(2)
        c, yaw = cubes[k, :2], cubes[k, 2]
        d, _ = unit(self._goal(cubes) - c)
        contact = extent(yaw, d) + ROD_RADIUS
        was_pushing = self.pushing
        self.pushing, lat = _CONTROL.pushing(tcp, c, d, contact, self.gap, was_pushing)
        if was_pushing and not self.pushing:  # fell off the cube: plan again from here
            self._plan(cubes)
            d, _ = unit(self._goal(cubes) - c)
            contact = extent(yaw, d) + ROD_RADIUS
        # step the desired position (the rod lags it by a few mm at speed, and settles there);
        # a desired position run away from a blocked rod is pulled back first
        base = _CONTROL.base(des, tcp)
        if self.pushing:
            step = _CONTROL.push_step(d, lat, self.pace)
        else:
            line_up = c - d * (contact + self.gap)
            keep_out = [(cubes[j, :2], _CLEAR_OWN if j == k else _CLEAR) for j in range(self.n)]
            step = _CONTROL.approach_step(base, route(base, line_up, keep_out), self.travel)
        action = base + step - des + self.rng.normal(0.0, self.noise, 2)
        return np.clip(action, -0.03, 0.03)
