"""MJCF for the grasping tasks (Stacking): the rod scene's table and cameras with a parallel
gripper on a Cartesian controller instead of the rod.

This project's stand-in for the original Franka hand: a hand body on three slide joints
(x, y, z) and a hinge about z (yaw), each driven by a position actuator (stiff PD, gravity
compensated), carrying two fingers on slide joints that close along the hand's y axis, each
with its own position actuator (both get the same target: half the commanded width). The TCP
is the point between the fingertips' pad centres, so a block is grasped when its centre is at
the TCP. The fingers and the hand touch objects but not the table (as the rod does), so a low
TCP never jams the controller. The in-hand camera rides on the hand and looks down past the
fingers. Physics as scene.py: 1 ms steps, 35 per env step.
"""

from __future__ import annotations

from envs.d3il.scene import scene_preamble

__all__ = ["gripper_scene_xml", "FINGER_HALF", "MAX_WIDTH", "PAD_FRICTION"]

FINGER_HALF = (0.008, 0.006, 0.03)  # finger pad half-sizes: along x, across (y), height
MAX_WIDTH = 0.09  # widest opening between the pads (m); the original hand is open above 0.075
PAD_FRICTION = "1.5 0.02 0.0005"


def gripper_scene_xml(*, name: str, bodies: str, hand_start: tuple[float, float, float],
                      kp: float = 3000.0, kp_yaw: float = 30.0, kp_finger: float = 400.0,
                      extra_assets: str = "") -> str:
    """The whole model: `bodies` are worldbody children of the task; the TCP starts at
    `hand_start` (the slide joints measure from there), the fingers start closed."""
    x, y, z = hand_start
    fx, fy, fz = FINGER_HALF
    kv = 2.0 * (kp * 1.2) ** 0.5  # about critically damped for the hand's moving mass
    kv_yaw = 2.0 * (kp_yaw * 0.012) ** 0.5
    kv_finger = 2.0 * (kp_finger * 0.05) ** 0.5
    preamble = scene_preamble(name=name, impratio=10, table_friction="0.6 0.005 0.0001",
                              extra_assets=extra_assets)
    return preamble + f"""    <body name="hand" pos="{x} {y} {z}" gravcomp="1">
      <joint name="hand_x" type="slide" axis="1 0 0" damping="5"/>
      <joint name="hand_y" type="slide" axis="0 1 0" damping="5"/>
      <joint name="hand_z" type="slide" axis="0 0 1" damping="5"/>
      <joint name="hand_yaw" type="hinge" axis="0 0 1" damping="0.2" armature="0.005"/>
      <inertial pos="0 0 0.08" mass="1" diaginertia="0.004 0.004 0.004"/>
      <geom name="palm" type="box" pos="0 0 {fz + 0.02}" size="0.02 0.065 0.015"
            rgba="0.25 0.25 0.28 1" contype="2" conaffinity="2"/>
      <site name="tcp" pos="0 0 0" size="0.004"/>
      <camera name="in_hand" pos="0.09 0 0.16" xyaxes="0 1 0 -0.6 0 0.8" fovy="70"/>
      <body name="finger_l" pos="0 0 0" gravcomp="1">
        <joint name="finger_l" type="slide" axis="0 1 0" range="0 {MAX_WIDTH / 2}"
               damping="1" armature="0.01"/>
        <inertial pos="0 {fy} 0" mass="0.05" diaginertia="1e-5 1e-5 1e-5"/>
        <geom name="finger_l" type="box" pos="0 {fy} 0" size="{fx} {fy} {fz}"
              rgba="0.35 0.35 0.38 1" friction="{PAD_FRICTION}" condim="4"
              contype="2" conaffinity="2"/>
      </body>
      <body name="finger_r" pos="0 0 0" gravcomp="1">
        <joint name="finger_r" type="slide" axis="0 -1 0" range="0 {MAX_WIDTH / 2}"
               damping="1" armature="0.01"/>
        <inertial pos="0 {-fy} 0" mass="0.05" diaginertia="1e-5 1e-5 1e-5"/>
        <geom name="finger_r" type="box" pos="0 {-fy} 0" size="{fx} {fy} {fz}"
              rgba="0.35 0.35 0.38 1" friction="{PAD_FRICTION}" condim="4"
              contype="2" conaffinity="2"/>
      </body>
    </body>
    {bodies}
  </worldbody>
  <actuator>
    <position name="act_x" joint="hand_x" kp="{kp}" kv="{kv}"/>
    <position name="act_y" joint="hand_y" kp="{kp}" kv="{kv}"/>
    <position name="act_z" joint="hand_z" kp="{kp}" kv="{kv}"/>
    <position name="act_yaw" joint="hand_yaw" kp="{kp_yaw}" kv="{kv_yaw}"/>
    <position name="act_finger_l" joint="finger_l" kp="{kp_finger}" kv="{kv_finger}"
              forcerange="-20 20"/>
    <position name="act_finger_r" joint="finger_r" kp="{kp_finger}" kv="{kv_finger}"
              forcerange="-20 20"/>
  </actuator>
</mujoco>
"""
