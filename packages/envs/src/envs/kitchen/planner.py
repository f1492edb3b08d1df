"""Scripted Relay Kitchen demonstrations: closed-loop skills per subtask on a Cartesian
controller (differential IK, `envs.kitchen.control`).

At reset the planner draws 4 of its subtasks (`PLANNED` by default) in a random order and a
style (Cartesian pace, stand-off and approach jitter, kettle lift and set-down point, pauses,
action noise). Each subtask is a small closed-loop skill, a generator of end-effector goals
that re-reads the scene from the observation at every step:

- microwave, hinge cabinet: grasp the door's handle bar and pull it along the door's arc, the
  hand turning with the door; regrasp if the handle slips out;
- slide cabinet: grasp the handle bar and pull the door sideways;
- light switch: push the switch lever sideways from its right;
- bottom / top burner: grasp the knob's bar and turn the wrist with the knob;
- kettle: grasp the handle from behind and above (hand pitched 45 degrees down), lift, carry
  toward the top-left burner, set it down and let go.

The hand reaches each grasp in joint space (an inverse-kinematics posture for a point behind
and above the stand-off point, the least joint travel of two searches), then in Cartesian
space. A skill stops once its subtask counts as done (the env's check: joints within 0.3 of the
goal), since the env, like the original, counts a subtask once.

All 7 subtasks have skills; `PLANNED` leaves out the hinge cabinet, whose long arc takes ~115
of the 280 steps alone (the arm's servos cap joint speeds at ~0.8 rad/s), so episodes with it
would rarely finish 4 subtasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from envs.kitchen.control import FINGER_OPEN, HOME, POSTURE, CartesianController
from envs.kitchen.env import (NUM_DONE, NUM_MODES, SUBTASK_QPOS, RelayKitchenEnv, order_mode,
                              subtasks_done)

__all__ = ["KitchenPlanner", "PLANNED"]

CLOSED = 0.0
READY = np.clip(HOME, -1.73, None)  # the start posture (joint 2 inside its range)
# the subtasks drawn by default (every subtask of the env has a skill: `SKILLS`)
PLANNED: tuple[str, ...] = ("microwave", "kettle", "bottom burner", "top burner",
                            "light switch", "slide cabinet")


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# the hand's frame facing the kitchen (+y), fingers along x: columns ee x, y, z in the world
FRONT = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
# ... pitched 8 degrees down (the burner knobs sit high: a level hand puts the wrist near its
# limit); the knob turns with the wrist about this approach axis
KNOB = rot_x(-np.radians(8.0)) @ FRONT
# ... pointing forward and 45 degrees down, fingers across the kettle's handle (a bar along
# x): the wrist stays low and back, clear of the burner knobs above the top burners
_S = np.sqrt(0.5)
KETTLE_GRASP = np.array([[-1.0, 0.0, 0.0], [0.0, _S, _S], [0.0, _S, -_S]])


def _check(obs: np.ndarray) -> None:
    if np.shape(obs) != (RelayKitchenEnv.obs_dim,):
        raise ValueError(f"KitchenPlanner acts on the {RelayKitchenEnv.obs_dim}-D kitchen "
                         f"observation, got shape {np.shape(obs)}")


@dataclass(frozen=True)
class Goal:
    """An end-effector goal, or with `joints` an arm posture to move to in joint space."""

    pos: np.ndarray
    rot: np.ndarray
    grip: float
    speed: float | None = None
    joints: np.ndarray | None = None


Skill = Iterator[Goal]


class KitchenPlanner:
    """Demonstrator of Relay Kitchen (protocol of `envs.demonstrator`)."""

    num_modes = NUM_MODES

    def __init__(self, *, subtasks: tuple[str, ...] = PLANNED, noise: float = 0.02) -> None:
        unknown = [s for s in subtasks if s not in SKILLS]
        if unknown or len(set(subtasks)) < NUM_DONE:
            raise ValueError(f"subtasks must be >= {NUM_DONE} distinct of {tuple(SKILLS)}, "
                             f"got {subtasks!r}")
        self.subtasks, self.noise_max = tuple(subtasks), noise
        self.ctl = CartesianController()
        self.intended_mode = -1
        self.rng = np.random.default_rng(0)
        self.order: list[str] = []

    # ------------------------------------------------------------------ scene queries
    def q(self, name: str) -> np.ndarray:
        """The subtask's joint values in the observed state."""
        return self.ctl.data.qpos[list(SUBTASK_QPOS[name])].copy()

    def is_done(self, name: str) -> bool:
        """Whether the subtask has been done in this episode (like the env, once done it
        stays done)."""
        return name in self.completed

    # ------------------------------------------------------------------ episode
    def reset(self, obs: np.ndarray, rng: np.random.Generator, *,
              order: list[str] | None = None) -> None:
        """Draw the subtask order (or take `order`) and the style of this episode."""
        self.rng = rng
        _check(obs)
        self.ctl.set_state(obs)
        self.ctl.reset_integral()
        self.ctl.posture = POSTURE.copy()
        self.completed: set[str] = set(subtasks_done(self.ctl.data.qpos))
        if order is None:
            picks = rng.permutation(len(self.subtasks))[:NUM_DONE]
            order = [self.subtasks[i] for i in picks]
        self.order = list(order)
        self.intended_mode = order_mode(self.order) if len(order) == NUM_DONE else -1
        self.speed = rng.uniform(0.3, 0.45)  # top Cartesian speed (the servos cap it lower)
        self.noise = rng.uniform(0.0, self.noise_max)
        self.pause_p = rng.uniform(0.0, 0.4)  # chance of a short pause between subtasks
        self.last = Goal(self.ctl.pos, self.ctl.rot, FINGER_OPEN)
        self.plan = self._episode()

    def act(self, obs: np.ndarray) -> np.ndarray:
        _check(obs)
        self.ctl.set_state(obs)
        self.completed.update(subtasks_done(self.ctl.data.qpos))
        goal = next(self.plan, None)
        if goal is None:
            goal = self.last  # all done: hold still
        self.last = goal
        if goal.joints is not None:
            action = self.ctl.joint_action(goal.joints, goal.grip)
        else:
            action = self.ctl.action(goal.pos, goal.rot, goal.grip,
                                     speed=goal.speed or self.speed)
        action[:7] += self.rng.normal(0.0, self.noise, 7)
        return np.clip(action, -1.0, 1.0)

    # ------------------------------------------------------------------ building blocks
    def _episode(self) -> Skill:
        for name in self.order:
            if self.is_done(name):
                continue
            if self.rng.random() < self.pause_p:
                yield from self._hold(self.ctl.pos, self.last.rot, self.last.grip,
                                      self.rng.integers(1, 4))
            yield from SKILLS[name](self)

    def jitter(self, scale: float = 0.01) -> np.ndarray:
        return self.rng.normal(0.0, scale, 3)

    def reach(self, target: Callable[[], np.ndarray], rot: Callable[[], np.ndarray] | np.ndarray,
              grip: float, *, tol: float = 0.02, budget: int = 40, speed: float | None = None,
              rot_tol: float | None = 0.15) -> Iterator[Goal]:
        """Goals toward `target()` (re-read each step) until within `tol` (and the frame
        within `rot_tol`, unless None) or `budget` steps; `rot` a frame or a function."""
        self.ctl.reset_integral()
        for _ in range(budget):
            pos = target()
            frame = rot() if callable(rot) else rot
            if np.linalg.norm(pos - self.ctl.pos) < tol and (
                    rot_tol is None or np.linalg.norm(frame - self.ctl.rot) < rot_tol):
                return
            yield Goal(pos, frame, grip, speed)

    def _hold(self, pos: np.ndarray, rot: np.ndarray, grip: float, steps: int) -> Iterator[Goal]:
        for _ in range(int(steps)):
            yield Goal(pos, rot, grip)

    def travel(self, target: np.ndarray, rot: np.ndarray, grip: float = FINGER_OPEN,
               tol: float = 0.03, back: np.ndarray | None = None) -> Iterator[Goal]:
        """To (`target`, `rot`): in joint space to an inverse-kinematics posture at
        `target + back` (a point clear of the object, so the sweep does not hit it), then
        in Cartesian space to `target`."""
        lead = target if back is None else target + back
        here = self.ctl.data.qpos[:7].copy()
        best, cost = None, np.inf
        for start in (here, READY):
            joints, err = self.ctl.solve(lead, rot, start, iters=150)
            span = np.max(np.abs(joints - here))
            if err < 0.01 and span < cost:
                best, cost = joints, span
        if best is not None:
            self.ctl.posture = best
            for _ in range(40):
                if np.max(np.abs(self.ctl.data.qpos[:7] - best)) < 0.06:
                    break
                yield Goal(lead, rot, grip, joints=best)
        yield from self.reach(lambda: target, rot, grip, tol=tol, budget=30, rot_tol=0.25)

    def grasp(self, handle: Callable[[], np.ndarray], out: Callable[[], np.ndarray],
              rot: Callable[[], np.ndarray]) -> Iterator[Goal]:
        """Approach `handle()` from `out()` (a unit vector pointing away from the object), open,
        move in until the handle is between the fingers, close."""
        stand = self.rng.uniform(0.06, 0.09)
        yield from self.travel(handle() + out() * stand + self.jitter(0.005), rot(), tol=0.015,
                               back=out() * 0.05 + np.array([0.0, 0.0, 0.04]))
        yield from self.reach(handle, rot, FINGER_OPEN, tol=0.012, budget=25)
        yield from self._hold(handle(), rot(), CLOSED, 4)

    def release(self, out: np.ndarray, rot: np.ndarray, back: float = 0.07) -> Iterator[Goal]:
        here = self.ctl.pos
        yield from self._hold(here, rot, FINGER_OPEN, 3)
        yield from self.reach(lambda: here + out * back, rot, FINGER_OPEN, tol=0.03, budget=15,
                              rot_tol=None)


# ---------------------------------------------------------------------------- skills
def _door(p: KitchenPlanner, name: str, *, joint: str, site: str, body: str, sign: float,
          target: float) -> Skill:
    """Open a hinged door by its handle bar: pull along the arc until the door angle
    (times `sign`) passes `target`, the hand turning with the door."""
    ctl = p.ctl
    jid = ctl.model.joint(joint).id
    qadr = ctl.model.jnt_qposadr[jid]

    def out() -> np.ndarray:  # the door's outward normal (door-local -y)
        return -ctl.body_rot(body)[:, 1]

    def rot() -> np.ndarray:  # facing the kitchen, turned with the door
        return rot_z(ctl.data.qpos[qadr]) @ FRONT

    for _ in range(3):
        yield from p.grasp(lambda: ctl.site(site), out, rot)
        steps = 0
        while sign * ctl.data.qpos[qadr] < target and steps < 45:
            if np.linalg.norm(ctl.site(site) - ctl.pos) > 0.05:
                break  # slipped off: regrasp
            turn = rot_z(sign * 0.4)
            anchor = ctl.joint_anchor(joint)
            pos = anchor + turn @ (ctl.site(site) - anchor)
            yield Goal(pos, turn @ rot(), CLOSED, 0.4)
            steps += 1
        if sign * ctl.data.qpos[qadr] >= target or p.is_done(name):
            break
        yield from p.release(out(), rot())
    yield from p.release(out(), rot())


def microwave(p: KitchenPlanner) -> Skill:
    yield from _door(p, "microwave", joint="microwave", site="microhandle_site",
                     body="microdoorroot", sign=-1.0, target=0.52)


def hinge_cabinet(p: KitchenPlanner) -> Skill:
    yield from _door(p, "hinge cabinet", joint="right_hinge_cabinet", site="hinge_site2",
                     body="hingerightdoor", sign=1.0, target=1.2)


def slide_cabinet(p: KitchenPlanner) -> Skill:
    ctl = p.ctl
    out, rot = np.array([0.0, -1.0, 0.0]), FRONT
    for _ in range(3):
        yield from p.grasp(lambda: ctl.site("slide_site"), lambda: out, lambda: rot)
        steps = 0
        while p.q("slide cabinet")[0] < 0.12 and steps < 30:
            if np.linalg.norm(ctl.site("slide_site") - ctl.pos) > 0.05:
                break
            yield Goal(ctl.site("slide_site") + np.array([0.08, 0.0, 0.0]), rot, CLOSED, 0.25)
            steps += 1
        if p.q("slide cabinet")[0] >= 0.12 or p.is_done("slide cabinet"):
            break
        yield from p.release(out, rot)
    yield from p.release(out, rot)


def light_switch(p: KitchenPlanner) -> Skill:
    ctl = p.ctl
    rot = FRONT
    side = np.array([1.0, 0.0, 0.0])
    for _ in range(3):
        yield from p.travel(ctl.site("light_site") + side * 0.07 + np.array([0, -0.08, 0]), rot)
        yield from p.reach(lambda: ctl.site("light_site") + side * 0.06, rot, CLOSED,
                           tol=0.015, budget=20)
        steps = 0
        while p.q("light switch")[0] > -0.45 and steps < 25:
            yield Goal(ctl.site("light_site") - side * 0.05, rot, CLOSED, 0.2)
            steps += 1
        if p.is_done("light switch"):
            break
    yield from p.release(np.array([0.0, -1.0, 0.0]), rot)


def _knob(p: KitchenPlanner, name: str, site: str) -> Skill:
    ctl = p.ctl
    out = -KNOB[:, 2]
    for _ in range(3):
        yield from p.grasp(lambda: ctl.site(site), lambda: out, lambda: KNOB)
        steps = 0
        while p.q(name)[0] > -0.66 and steps < 25:
            turn = -p.q(name)[0] + 0.35
            yield Goal(ctl.site(site), KNOB @ rot_z(turn), CLOSED)
            steps += 1
        if p.is_done(name):
            break
        yield from p.release(out, KNOB, back=0.06)
    yield from p.release(out, ctl.rot, back=0.06)


def bottom_burner(p: KitchenPlanner) -> Skill:
    yield from _knob(p, "bottom burner", "knob2_site")


def top_burner(p: KitchenPlanner) -> Skill:
    yield from _knob(p, "top burner", "knob4_site")


KETTLE_GOAL = np.array([-0.23, 0.75, 1.62 + 0.259])  # handle centre over the top-left burner


def kettle(p: KitchenPlanner) -> Skill:
    ctl = p.ctl
    out, rot = -KETTLE_GRASP[:, 2], KETTLE_GRASP
    lift = p.rng.uniform(0.06, 0.10)
    for _ in range(3):
        yield from p.grasp(lambda: ctl.site("kettle_site"), lambda: out, lambda: rot)
        up = ctl.site("kettle_site") + np.array([0.0, 0.0, lift])
        yield from p.reach(lambda: up, rot, CLOSED, tol=0.02, budget=20, speed=0.2)
        if np.linalg.norm(ctl.site("kettle_site") - ctl.pos) > 0.05:
            yield from p.release(out, rot)
            continue
        # carry toward the top-left burner; once the kettle counts as moved, go on for a
        # few steps more (or all the way), set it down lower and let go
        goal = KETTLE_GOAL + np.array([0.0, 0.0, lift]) + p.jitter(0.01) * [1, 1, 0]
        extra = p.rng.integers(2, 12)
        for _ in range(45):
            if p.is_done("kettle"):
                extra -= 1
            if extra <= 0 or np.linalg.norm(goal - ctl.pos) < 0.03:
                break
            yield Goal(goal, rot, CLOSED, 0.25)
        low = ctl.pos - np.array([0.0, 0.0, min(lift - 0.01, 0.04)])
        yield from p.reach(lambda: low, rot, CLOSED, tol=0.015, budget=10, speed=0.15)
        if p.is_done("kettle"):
            break
        yield from p.release(out, rot)
    yield from p.release(out, rot, back=0.1)


SKILLS: dict[str, Callable[[KitchenPlanner], Skill]] = {
    "microwave": microwave, "kettle": kettle, "bottom burner": bottom_burner,
    "top burner": top_burner, "light switch": light_switch, "slide cabinet": slide_cabinet,
    "hinge cabinet": hinge_cabinet}
