"""Sorting: push red and blue cubes into the zone of their colour; 2, 4 or 6 cubes.

Geometry after D3IL's Sorting: n cubes (half-size 0.03, 0.05 kg, like Pushing) on free joints,
half red, half blue, in n of 6 slots: x in {[0.4, 0.5], [0.55, 0.65]} x y in {[-0.15, -0.1],
[-0.05, 0], [0.05, 0.1]}, each cube uniform in its slot, yaw U(-90, 90) deg. Which slots are
used (all six for 6 cubes) and which of them hold red cubes is random. Two zones are drawn on
the table (no collision): red x (0.3, 0.5), blue x (0.525, 0.725), both y (0.22, 0.41). The
TCP starts at (0.525, -0.3) with the rod tip 2 cm above the table, as in Pushing.

Context (3n): (x, y, yaw) per cube, the n/2 red cubes first, then the blue ones;
`reset(options={"context": ...})` places exactly that. Observation (4 + 3n): [des xy, TCP xy,
then per cube in the same order x, y, tan(yaw)] (tan has period pi, clipped to +-1e3); action
a delta of the desired xy (2); at most 500 / 700 / 1200 steps for 2 / 4 / 6 cubes. The image
variant (`observation="image"`, task `sorting_image`) sees [des xy, TCP xy] and the overview and
in-hand cameras instead of the cube poses (base.py).

Success: every red cube's centre in the red zone and every blue cube's in the blue zone; it ends
the episode. No failure.

Mode: the colour sequence in which cubes become sorted; a cube becomes sorted the first time its
centre is in its own colour's zone (it stays sorted if knocked out again). Cubes sorted in the
same step count in context order (red before blue). Mode id = index of the sequence in
`colour_sequences(n)` (lexicographic, red 0 < blue 1): C(n, n/2) = 2 / 6 / 20 modes; -1 until
every cube has become sorted.

Differs from the original: the rod is moved by a Cartesian controller instead of a Franka
(scene.py) and the TCP is the rod's tip; demonstrations are scripted (sorting_demo.py) instead
of recorded from people; sampled contexts whose cubes would overlap are redrawn (neighbouring
slots are only 5 cm apart, closer than two rotated cubes); the mode is read here from the
cubes' trajectories rather than from labels of the recorded demonstrations.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import numpy as np

from envs.d3il.base import RodTaskEnv
from envs.d3il.geometry import quat_yaw, yaw_quat
from envs.d3il.pushing import CUBE_HALF, CUBE_MASS, TAN_CLIP, cubes_overlap
from envs.d3il.scene import OBJECT_CONTACT, scene_xml

__all__ = [
    "SortingEnv", "Sorting2Env", "Sorting6Env", "RED", "BLUE", "ZONES", "SLOTS",
    "colour_sequences", "sequence_mode", "mode_sequence", "in_zone", "sorting_success",
    "sorting_mode", "cube_colours",
]

RED, BLUE = 0, 1
# zones (x lo, x hi, y lo, y hi) of RED and BLUE
ZONES = np.array([[0.3, 0.5, 0.22, 0.41], [0.525, 0.725, 0.22, 0.41]])
# slots (x lo, x hi, y lo, y hi): two columns x three rows
SLOTS = np.array([[x0, x1, y0, y1] for x0, x1 in ((0.4, 0.5), (0.55, 0.65))
                  for y0, y1 in ((-0.15, -0.1), (-0.05, 0.0), (0.05, 0.1))])
_COLOURS = {RED: ("red", "0.8 0.12 0.12 1"), BLUE: ("blue", "0.12 0.25 0.85 1")}
_ZONE_RGBA = {RED: "0.95 0.62 0.62 1", BLUE: "0.62 0.72 0.95 1"}


def _check_cubes(n: int) -> int:
    if not isinstance(n, (int, np.integer)) or n < 2 or n > 6 or n % 2:
        raise ValueError(f"the number of cubes must be 2, 4 or 6, got {n!r}")
    return int(n)


@cache
def colour_sequences(n: int) -> tuple[tuple[int, ...], ...]:
    """All orders in which n cubes (n/2 red, n/2 blue) can become sorted, lexicographic."""
    n = _check_cubes(n)
    return tuple(s for s in itertools.product((RED, BLUE), repeat=n) if sum(s) == n // 2)


def sequence_mode(sequence) -> int:
    """Mode id of a full colour sequence (RED 0 / BLUE 1 per sorted cube, in order)."""
    seq = tuple(int(c) for c in sequence)
    try:
        return colour_sequences(len(seq)).index(seq)
    except (ValueError, TypeError):
        raise ValueError(f"a colour sequence has n/2 red (0) and n/2 blue (1) entries, "
                         f"n in (2, 4, 6), got {seq}") from None


def mode_sequence(mode: int, n: int) -> tuple[int, ...]:
    """The colour sequence of mode id `mode` for n cubes."""
    sequences = colour_sequences(n)
    if not 0 <= mode < len(sequences):
        raise ValueError(f"mode must be in [0, {len(sequences)}) for {n} cubes, got {mode}")
    return sequences[mode]


def cube_colours(n: int) -> np.ndarray:
    """Colour of each cube in context / observation order: n/2 RED, then n/2 BLUE."""
    n = _check_cubes(n)
    return np.repeat([RED, BLUE], n // 2)


def in_zone(xy: np.ndarray, colour: int, margin: float = 0.0) -> bool:
    """Whether a centre `xy` lies in the zone of `colour` (RED / BLUE), `margin` inside it."""
    x0, x1, y0, y1 = ZONES[colour]
    x, y = float(xy[0]), float(xy[1])
    return x0 + margin < x < x1 - margin and y0 + margin < y < y1 - margin


def sorting_success(red_xy: np.ndarray, blue_xy: np.ndarray) -> bool:
    """Every red centre (k, 2) in the red zone and every blue one in the blue zone."""
    return (all(in_zone(xy, RED) for xy in np.reshape(red_xy, (-1, 2)))
            and all(in_zone(xy, BLUE) for xy in np.reshape(blue_xy, (-1, 2))))


def sorting_mode(red_xy: np.ndarray, blue_xy: np.ndarray) -> int:
    """The mode of cube trajectories (L, k, 2) per colour, or -1 while a cube never got sorted.

    Cubes sorted at the same step count red before blue (context order)."""
    red, blue = np.asarray(red_xy, np.float64), np.asarray(blue_xy, np.float64)
    if red.shape[1:] != blue.shape[1:] or red.shape[0] != blue.shape[0]:
        raise ValueError(f"red and blue trajectories must both be (L, k, 2), got "
                         f"{red.shape} and {blue.shape}")
    colours = np.repeat([RED, BLUE], red.shape[1])
    sorted_, sequence = np.zeros(len(colours), bool), []
    for r_xy, b_xy in zip(red, blue, strict=True):
        for k, xy in enumerate(np.concatenate([r_xy, b_xy])):
            if not sorted_[k] and in_zone(xy, colours[k]):
                sorted_[k] = True
                sequence.append(int(colours[k]))
    return sequence_mode(sequence) if sorted_.all() else -1


class SortingEnv(RodTaskEnv):
    num_cubes = 4
    action_dims = 2
    max_steps = 700
    start_tcp = (0.525, -0.3, 0.02)
    obs_dim = 4 + 3 * 4
    num_modes = 6
    report_mode_kl = True  # the bench reports the mode KL to the demonstrations

    def scene(self) -> str:
        colours = cube_colours(self.num_cubes)
        cubes = "\n".join(
            f'<body name="cube{k}" pos="{0.3 + 0.08 * k} -0.3 {CUBE_HALF}">'
            f'<freejoint name="cube{k}_joint"/>'
            f'<geom name="cube{k}" type="box" size="{CUBE_HALF} {CUBE_HALF} {CUBE_HALF}" '
            f'mass="{CUBE_MASS}" rgba="{_COLOURS[c][1]}" friction="0.3 0.005 0.0001" '
            f'{OBJECT_CONTACT}/></body>'
            for k, c in enumerate(colours))
        zones = "\n".join(
            f'<geom name="{_COLOURS[c][0]}_zone" type="box" pos="{(x0 + x1) / 2} {(y0 + y1) / 2} '
            f'0.0005" size="{(x1 - x0) / 2} {(y1 - y0) / 2} 0.0005" rgba="{_ZONE_RGBA[c]}" '
            'contype="0" conaffinity="0"/>'
            for c, (x0, x1, y0, y1) in ((RED, ZONES[RED]), (BLUE, ZONES[BLUE])))
        return scene_xml(name=f"sorting{self.num_cubes}", bodies=cubes + "\n" + zones,
                         rod_start=self.start_tcp)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.colours = cube_colours(self.num_cubes)
        self._qpos_adr = [int(self.model.joint(f"cube{k}_joint").qposadr[0])
                          for k in range(self.num_cubes)]
        self.sorted = np.zeros(self.num_cubes, bool)
        self.sequence: list[int] = []

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        """n random slots (the first n/2 drawn hold the red cubes), each cube uniform in its
        slot with a uniform yaw; positions redrawn while two cubes would overlap."""
        n = self.num_cubes
        slots = SLOTS[rng.permutation(len(SLOTS))[:n]]
        while True:
            poses = np.stack([rng.uniform(slots[:, 0], slots[:, 1]),
                              rng.uniform(slots[:, 2], slots[:, 3]),
                              rng.uniform(-np.pi / 2, np.pi / 2, n)], axis=1)
            if not any(cubes_overlap(poses[i], poses[j], gap=0.005)
                       for i, j in itertools.combinations(range(n), 2)):
                return poses.reshape(-1)

    def apply_context(self, context: np.ndarray) -> None:
        n = self.num_cubes
        if np.shape(context) != (3 * n,):
            raise ValueError(f"a {n}-cube Sorting context is (x, y, yaw) per cube, red first, "
                             f"({3 * n},), got shape {np.shape(context)}")
        for adr, (x, y, yaw) in zip(self._qpos_adr, np.reshape(context, (n, 3)), strict=True):
            self.data.qpos[adr: adr + 7] = [x, y, CUBE_HALF, *yaw_quat(yaw)]

    def cube_poses(self) -> np.ndarray:
        """(n, 3): x, y, yaw of every cube now, red first."""
        return np.array([[*self.data.qpos[adr: adr + 2], quat_yaw(self.data.qpos[adr + 3: adr + 7])]
                         for adr in self._qpos_adr])

    def state_observation(self) -> np.ndarray:
        poses = self.cube_poses()
        poses[:, 2] = np.clip(np.tan(poses[:, 2]), -TAN_CLIP, TAN_CLIP)
        return np.concatenate([self.des[:2], self.tcp[:2], poses.reshape(-1)])

    def is_success(self) -> bool:
        xy, half = self.cube_poses()[:, :2], self.num_cubes // 2
        return sorting_success(xy[:half], xy[half:])

    def _reset_task(self) -> None:
        self.sorted = np.zeros(self.num_cubes, bool)
        self.sequence = []
        self.update_mode()  # a context may start with cubes already in their zones

    def update_mode(self) -> None:
        if self.mode >= 0:
            return
        for k, xy in enumerate(self.cube_poses()[:, :2]):
            if not self.sorted[k] and in_zone(xy, self.colours[k]):
                self.sorted[k] = True
                self.sequence.append(int(self.colours[k]))
        if self.sorted.all():
            self.mode = sequence_mode(self.sequence)


class Sorting2Env(SortingEnv):
    num_cubes = 2
    max_steps = 500
    obs_dim = 4 + 3 * 2
    num_modes = 2


class Sorting6Env(SortingEnv):
    num_cubes = 6
    max_steps = 1200
    obs_dim = 4 + 3 * 6
    num_modes = 20
