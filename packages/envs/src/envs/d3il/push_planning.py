"""Planar planning and the shared push logic of the scripted pushing demonstrators (Pushing,
Sorting, Block Push).

The rod is a point that keeps out of circles around the cubes (centre, radius); a cube is
pushed along straight segments by a rod lined up behind it. `detour` is the greedy one-circle
tangent rule of the Pushing demonstrator; `route` finds the shortest way around several,
possibly overlapping circles (a visibility graph over points on the circles), for scenes with
many cubes where the greedy rule can get trapped between two circles.

What the demonstrators share beyond geometry: `PushControl` (when the rod counts as lined up
behind a cube and pushing it, and the step it takes while pushing or approaching),
`bent_goal` (the curved aim of a push) and `next_stage` (which push of a fixed plan of
(object, target) pushes is due).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from envs.d3il.pushing import CUBE_HALF

__all__ = ["perp", "unit", "extent", "segment_dist", "detour", "route", "segments_clearance",
           "PushControl", "bent_goal", "next_stage"]


def perp(u: np.ndarray) -> np.ndarray:
    """`u` turned by +90 degrees."""
    return np.array([-u[1], u[0]])


def unit(v: np.ndarray) -> tuple[np.ndarray, float]:
    """Direction and length of `v` (zero direction for a zero vector)."""
    n = float(np.linalg.norm(v))
    return (v / n if n > 1e-9 else np.zeros(2)), n


def extent(yaw: float, direction: np.ndarray, half: float = CUBE_HALF) -> float:
    """Half-width of a cube footprint (yaw) along a unit direction."""
    rel = np.arctan2(direction[1], direction[0]) - yaw
    return half * (abs(np.cos(rel)) + abs(np.sin(rel)))


def segment_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Distance from p to segment a-b and the (unclipped) fraction along it."""
    ab = b - a
    t = float(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12))
    return float(np.linalg.norm(a + np.clip(t, 0.0, 1.0) * ab - p)), t


def segments_clearance(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distances (S, P) from `points` (P, 2) to the segments a[s]-b[s] (a, b: (S, 2))."""
    a, b, points = np.atleast_2d(a), np.atleast_2d(b), np.reshape(points, (-1, 2))
    ab = (b - a)[:, None, :]
    ap = points[None, :, :] - a[:, None, :]
    t = np.clip(np.sum(ap * ab, -1) / np.maximum(np.sum(ab * ab, -1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(ap - t[..., None] * ab, axis=-1)


def detour(p: np.ndarray, q: np.ndarray,
           obstacles: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """The point to head for on the way from p to q around circles (centre, radius)."""
    u, length = unit(q - p)
    if length < 1e-6:
        return q
    hit, rad, hit_t = None, 0.0, np.inf
    for o, radius in obstacles:
        r = float(np.linalg.norm(p - o))
        if r < radius:  # inside the keep-out circle: blocking if heading inwards
            if np.dot(o - p, u) > 0 and hit_t > 0:
                hit, rad, hit_t = o, radius, 0.0
            continue
        dist, t = segment_dist(o, p, q)
        if dist < radius and 0.0 < t * length < hit_t:
            hit, rad, hit_t = o, radius, t * length
    if hit is None:
        return q
    to_o, r = unit(hit - p)
    side = -np.sign(np.dot(hit - p, perp(u))) or 1.0  # pass on the side away from the centre
    if r < rad:  # slide around the circle and out
        radial = -to_o
        tangent = perp(radial) * (1.0 if np.dot(perp(radial), side * perp(u)) >= 0 else -1.0)
        return p + 0.05 * (tangent + radial)
    alpha = np.arcsin(min(rad / r, 1.0)) + 0.05
    cands = []
    for sgn in (1.0, -1.0):
        c, s = np.cos(sgn * alpha), np.sin(sgn * alpha)
        cands.append(np.array([c * to_o[0] - s * to_o[1], s * to_o[0] + c * to_o[1]]))
    d = max(cands, key=lambda v: float(np.dot(v, side * perp(u))))
    return p + d * max(np.sqrt(max(r * r - rad * rad, 0.0)), 0.02)


_RING = 16  # visibility-graph points per circle


def route(p: np.ndarray, q: np.ndarray, obstacles: list[tuple[np.ndarray, float]],
          bounds: tuple[float, float, float, float] = (0.15, 0.9, -0.4, 0.5)) -> np.ndarray:
    """The next point on the shortest way from p to q around circles (centre, radius).

    A q inside a circle shrinks that circle to leave q outside; a p inside a (shrunk) circle
    first leaves it (`detour`'s rule). Points on slightly enlarged circles (chords stay outside)
    within `bounds` (x lo, x hi, y lo, y hi) form the graph; `detour` if q cannot be reached."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if not obstacles:
        return q
    centres = np.array([o for o, _ in obstacles], np.float64)
    radii = np.array([r for _, r in obstacles], np.float64)
    radii = np.minimum(radii, np.linalg.norm(centres - q, axis=1) - 1e-4)
    inside = np.linalg.norm(centres - p, axis=1) < radii
    if inside.any():
        return detour(p, q, [(centres[k], radii[k]) for k in np.nonzero(inside)[0]])
    if np.all(segments_clearance(p, q, centres)[0] >= radii):
        return q
    ang = np.linspace(0.0, 2 * np.pi, _RING, endpoint=False)
    ring = np.stack([np.cos(ang), np.sin(ang)], 1) * (1.0 / np.cos(np.pi / _RING))
    nodes = (centres[:, None, :] + (radii[:, None, None] + 0.003) * ring[None]).reshape(-1, 2)
    keep = ((nodes[:, 0] > bounds[0]) & (nodes[:, 0] < bounds[1]) & (nodes[:, 1] > bounds[2])
            & (nodes[:, 1] < bounds[3]))
    keep &= np.all(np.linalg.norm(nodes[:, None] - centres[None], axis=-1) >= radii, axis=1)
    nodes = np.vstack([p, q, nodes[keep]])
    n = len(nodes)
    ii, jj = np.triu_indices(n, 1)
    free = np.all(segments_clearance(nodes[ii], nodes[jj], centres) >= radii - 1e-9, axis=1)
    adj = np.full((n, n), np.inf)
    length = np.linalg.norm(nodes[ii] - nodes[jj], axis=1)
    adj[ii[free], jj[free]] = length[free]
    adj[jj[free], ii[free]] = length[free]
    dist, prev, done = np.full(n, np.inf), np.full(n, -1), np.zeros(n, bool)
    dist[0], heap = 0.0, [(0.0, 0)]
    while heap:
        d, k = heapq.heappop(heap)
        if done[k]:
            continue
        done[k] = True
        if k == 1:
            break
        better = (d + adj[k] < dist) & ~done
        for j in np.nonzero(better)[0]:
            dist[j], prev[j] = d + adj[k, j], k
            heapq.heappush(heap, (dist[j], int(j)))
    if prev[1] < 0:
        return detour(p, q, obstacles)
    k = 1
    while prev[k] != 0:
        k = prev[k]
    return nodes[k]


# ---------------------------------------------------------------------- push logic
@dataclass(frozen=True, kw_only=True)
class PushControl:
    """How a demonstrator pushes: the lined-up test with hysteresis and the step it takes.

    Along the push direction d, with s the rod's distance ahead of the cube centre and lat its
    offset across: a rod starts pushing when |lat| < start_lat and -contact - gap - start_behind
    < s < -contact + start_ahead, and keeps pushing within the looser hold_* bounds (contact:
    the cube's extent along d plus the rod radius; gap: the demonstrator's line-up distance).
    """

    max_lead: float  # the most the desired position may run ahead of the TCP (m)
    hold_lat: float = 0.025
    hold_behind: float = 0.03
    hold_ahead: float = 0.02
    start_lat: float = 0.01
    start_behind: float = 0.015
    start_ahead: float = 0.01
    steer: float = 0.5  # lateral correction per step while pushing, per unit of lat

    def base(self, des: np.ndarray, tcp: np.ndarray) -> np.ndarray:
        """Where the next step starts: the desired position, or, when it ran more than
        max_lead ahead of a blocked rod, the point max_lead ahead of the TCP."""
        lead, lead_norm = unit(des - tcp)
        return des if lead_norm < self.max_lead else tcp + lead * self.max_lead

    def pushing(self, tcp: np.ndarray, c: np.ndarray, d: np.ndarray, contact: float,
                gap: float, was_pushing: bool) -> tuple[bool, float]:
        """Whether the rod at `tcp` pushes the cube at `c` along d now, and its offset across
        d (lat)."""
        rel = tcp - c
        s, lat = float(np.dot(rel, d)), float(np.dot(rel, perp(d)))
        if was_pushing:
            return (abs(lat) < self.hold_lat
                    and -contact - gap - self.hold_behind < s < -contact + self.hold_ahead), lat
        return (abs(lat) < self.start_lat
                and -contact - gap - self.start_behind < s < -contact + self.start_ahead), lat

    def push_step(self, d: np.ndarray, lat: float, pace: float) -> np.ndarray:
        """A push step: `pace` along d, steering back onto the line through the cube centre."""
        return d * pace - perp(d) * np.clip(self.steer * lat, -pace, pace)

    @staticmethod
    def approach_step(base: np.ndarray, waypoint: np.ndarray, travel: float) -> np.ndarray:
        """A step of at most `travel` from `base` toward `waypoint` (on the way to line up)."""
        to_way, dist = unit(waypoint - base)
        return to_way * min(travel, dist)


def bent_goal(goal: np.ndarray, c: np.ndarray, bend: float) -> np.ndarray:
    """Where a cube at `c` heads for `goal`: aimed `bend` to the side (a curved push path),
    fading out over the last 0.2 m down to 0.06 m from the goal."""
    u, dist = unit(goal - c)
    fade = np.clip((dist - 0.06) / 0.2, 0.0, 1.0)
    return goal + perp(u) * bend * fade


def next_stage(plan: list[tuple[int, int]], objects: np.ndarray, targets: np.ndarray, *,
               placed: list[bool], started: list[bool], stop: np.ndarray,
               placed_tol: float) -> int:
    """The first push of `plan` [(object, target) per stage] still to do, or -1 when done.

    An object closer than stop[stage] to its target (centre xy, objects (K, >= 2)) is placed;
    a placed one knocked further than `placed_tol` away counts again (its stage restarts).
    Updates `placed` and `started` in place."""
    for stage, (obj, target) in enumerate(plan):
        dist = float(np.linalg.norm(objects[obj, :2] - targets[target]))
        if placed[stage] and dist > placed_tol:
            placed[stage], started[stage] = False, False
        if not placed[stage] and dist < stop[stage]:
            placed[stage] = True
        if not placed[stage]:
            return stage
    return -1
