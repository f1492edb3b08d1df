"""Cartesian control of the kitchen's Franka through its joint-velocity actions.

FrankaKitchen-v1 turns an action a (9, in [-1, 1]) into position-servo targets
ctrl = q_observed + 2 a dt (dt = 0.08 s). Each arm joint is a servo with gain kp and joint
damping d, so it moves at about q' = (kp (ctrl - q) - g(q)) / d: a target offset of
(d q'_wanted + g(q)) / kp gives the wanted joint velocity and holds the arm against gravity
(g, the bias force, from the model). Beyond an offset of 0.1 rad the servos' force limits bind
(joints 1-4 then move at ~0.8 rad/s at most, the action's bound). `CartesianController` maps an
end-effector goal (position, orientation, finger opening) to that action: a speed-limited
Cartesian velocity, damped least-squares inverse kinematics on the end-effector site's
Jacobian, a null-space pull toward a posture and a small integral term against contact forces;
or moves the arm straight in joint space to a posture found by `solve`.

It keeps its own copy of the kitchen model and sets it from the observation only (robot qpos
0:9, object qpos 18:39), like a policy would.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from envs.kitchen.env import OBJ_QPOS_OBS

__all__ = ["CartesianController", "kitchen_model_path", "DT", "HOME"]

DT = 0.08  # env step (s)
ACTION_SCALE = 2.0  # FrankaKitchen's act_rng: action 1 = 2 rad/s (m/s for the fingers)
HOME = np.array([0.148, -1.768, 1.844, -2.477, 0.26, 0.713, 1.595])  # the env's start posture
POSTURE = np.array([0.0, -1.5, 1.8, -2.2, 0.26, 1.0, 1.6])  # null-space pull: inside limits
FINGER_OPEN = 0.04  # finger joint range 0..0.04 m each
# Servo target offset per unit joint velocity (s), measured: an offset o moves joints 1-4 by
# 0.50 o and joints 5-7 by 0.62 o per step (1.4-1.55x slower than damping / kp suggests).
LAG = np.array([0.16, 0.16, 0.16, 0.16, 0.13, 0.13, 0.13])


def kitchen_model_path() -> Path:
    """The MJCF of FrankaKitchen-v1 (gymnasium-robotics' assets)."""
    import gymnasium_robotics

    root = Path(gymnasium_robotics.__file__).parent / "envs" / "assets" / "kitchen_franka"
    return root / "kitchen_assets" / "kitchen_env_model.xml"


def rotation_error(rot: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Axis-angle-like error (3) turning frame `rot` toward `goal` (both 3 x 3, world)."""
    return 0.5 * sum(np.cross(rot[:, i], goal[:, i]) for i in range(3))


class CartesianController:
    """End-effector goals -> FrankaKitchen actions, on a private copy of the model."""

    def __init__(self, *, damping: float = 0.05, max_speed: float = 0.4,
                 max_turn: float = 1.5, gain: float = 6.0) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(kitchen_model_path()))
        self.data = mujoco.MjData(self.model)
        self.scratch = mujoco.MjData(self.model)  # for inverse kinematics searches
        self.ee = self.model.site("end_effector").id
        self.damping, self.max_speed, self.max_turn, self.gain = damping, max_speed, max_turn, gain
        self.kp = self.model.actuator_gainprm[:9, 0]
        margin = 0.03  # keep joints this far inside their ranges
        self.lo = self.model.jnt_range[:7, 0] + margin
        self.hi = self.model.jnt_range[:7, 1] - margin
        self.integral = np.zeros(3)
        self.posture = POSTURE.copy()  # the null-space pull's target
        self._jp = np.zeros((3, self.model.nv))
        self._jr = np.zeros((3, self.model.nv))

    # ------------------------------------------------------------------ state
    def set_state(self, obs: np.ndarray) -> None:
        """Pose the private model as the observation says (velocities zero: gravity only)."""
        self.data.qpos[:9] = obs[:9]
        self.data.qpos[9:30] = obs[OBJ_QPOS_OBS:OBJ_QPOS_OBS + 21]
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)

    @property
    def pos(self) -> np.ndarray:
        return self.data.site_xpos[self.ee].copy()

    @property
    def rot(self) -> np.ndarray:
        return self.data.site_xmat[self.ee].reshape(3, 3).copy()

    def site(self, name: str) -> np.ndarray:
        return self.data.site_xpos[self.model.site(name).id].copy()

    def body_rot(self, name: str) -> np.ndarray:
        return self.data.xmat[self.model.body(name).id].reshape(3, 3).copy()

    def joint_anchor(self, name: str) -> np.ndarray:
        return self.data.xanchor[self.model.joint(name).id].copy()

    def reset_integral(self) -> None:
        self.integral[:] = 0.0

    # ------------------------------------------------------------------ control
    def _joint_velocity(self, twist: np.ndarray) -> np.ndarray:
        """Joint velocities (7) for the end-effector `twist` (6): damped least squares with
        a null-space pull toward the posture; a joint at a limit and driven into it is taken
        out and the rest solved again."""
        mujoco.mj_jacSite(self.model, self.data, self._jp, self._jr, self.ee)
        jac = np.vstack([self._jp, self._jr])[:, :7]
        q, lo, hi = self.data.qpos[:7], self.lo, self.hi
        free = np.ones(7, dtype=bool)
        for _ in range(4):
            j = jac[:, free]
            inv = j.T @ np.linalg.inv(j @ j.T + self.damping ** 2 * np.eye(6))
            dq = np.zeros(7)
            dq[free] = inv @ twist
            dq[free] += (np.eye(int(free.sum())) - inv @ j) @ (0.5 * (self.posture - q)[free])
            stuck = free & (((q <= lo) & (dq < 0)) | ((q >= hi) & (dq > 0)))
            if not stuck.any():
                break
            free &= ~stuck
        return dq

    def solve(self, pos: np.ndarray, rot: np.ndarray, start: np.ndarray, *,
              iters: int = 80) -> tuple[np.ndarray, float]:
        """Arm joints (7) putting the end effector at (`pos`, `rot`), searched from `start`
        on a scratch copy of the state (damped least squares, joints kept in range, the
        redundant freedom pulled back toward `start`); returns them and the remaining error
        (position m + orientation)."""
        m, d = self.model, self.scratch
        d.qpos[:] = self.data.qpos
        d.qpos[:7] = start
        jp, jr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        err = np.inf
        for i in range(iters):
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            e = np.concatenate([pos - d.site_xpos[self.ee],
                                rotation_error(d.site_xmat[self.ee].reshape(3, 3), rot)])
            err = float(np.linalg.norm(e))
            if err < 1e-3:
                break
            mujoco.mj_jacSite(m, d, jp, jr, self.ee)
            jac = np.vstack([jp, jr])[:, :7]
            inv = jac.T @ np.linalg.inv(jac @ jac.T + 0.03 ** 2 * np.eye(6))
            dq = inv @ e
            if i < iters // 2:
                dq += (np.eye(7) - inv @ jac) @ (0.3 * (start - d.qpos[:7]))
            d.qpos[:7] = np.clip(d.qpos[:7] + 0.7 * dq, self.lo, self.hi)
        return d.qpos[:7].copy(), err

    def joint_action(self, joints: np.ndarray, grip: float) -> np.ndarray:
        """The action (9) moving the arm straight in joint space toward `joints` (every joint
        arriving together) and the fingers toward `grip`."""
        return self._servo((joints - self.data.qpos[:7]) / (2.0 * DT), grip)

    def action(self, pos: np.ndarray, rot: np.ndarray, grip: float, *,
               speed: float | None = None) -> np.ndarray:
        """The action (9) moving the end effector toward (`pos`, `rot`) at most at `speed`
        (m/s) and the fingers toward opening `grip` (m per finger)."""
        speed = self.max_speed if speed is None else speed
        here = self.data.site_xpos[self.ee]
        err = pos - here
        if np.linalg.norm(err) < 0.05:  # integrate near the goal only (no wind-up in transit)
            self.integral = np.clip(self.integral + 0.2 * err, -0.05, 0.05)
        err = err + self.integral
        vel = self.gain * err
        norm = np.linalg.norm(vel)
        if norm > speed:
            vel *= speed / norm
        turn = self.gain * rotation_error(self.data.site_xmat[self.ee].reshape(3, 3), rot)
        tnorm = np.linalg.norm(turn)
        if tnorm > self.max_turn:
            turn *= self.max_turn / tnorm
        return self._servo(self._joint_velocity(np.concatenate([vel, turn])), grip)

    def _servo(self, dq: np.ndarray, grip: float) -> np.ndarray:
        """Servo targets giving arm joint velocities `dq` (7, scaled down alike where the
        servos cannot), holding the arm against gravity, and the finger opening `grip`."""
        hold = self.data.qfrc_bias[:7] / self.kp[:7]  # offset that holds the arm up
        move = LAG * dq
        room = np.maximum(ACTION_SCALE * DT - np.abs(hold), 1e-3)  # the action's bound
        peak = np.max(np.abs(move) / room)
        if peak > 1.0:  # slow every joint alike, keeping the direction of the motion
            move /= peak
        arm = (move + hold) / (ACTION_SCALE * DT)
        fingers = 2.0 * (grip - self.data.qpos[7:9]) / (ACTION_SCALE * DT)
        return np.clip(np.concatenate([arm, fingers]), -1.0, 1.0)
