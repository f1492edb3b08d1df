"""MJCF for the rod tasks (Avoiding, Aligning, Pushing, Sorting, Block Push): a table, a vertical
rod driven by a Cartesian position controller, two cameras, and task bodies passed in as XML.
The opening of the model (options, table, cameras) is `scene_preamble`, shared with the
gripper scene of Stacking (gripper_scene.py).

This project's stand-in for the original Franka setup: there the robot's tool-centre point
(TCP) is moved by differential IK with the robot body invisible and a rod hanging from the
hand does the contact. Here the rod is a body on three slide joints (x, y, z), each with a
position actuator (a stiff PD controller, gravity compensated), so the rod lags its desired
position like the original TCP and pushes objects through real contacts. The TCP is the rod's
lower tip. Physics: 1 ms steps; an env step is 35 of them (~28.6 Hz), as in the original.
"""

from __future__ import annotations

ROD_RADIUS = 0.01
ROD_HALF_LENGTH = 0.075
TIMESTEP = 0.001
FRAME_SKIP = 35

# contype/conaffinity bits: the rod (2) touches objects (1|2) but not the table (1 only)
TABLE_CONTACT = 'contype="1" conaffinity="1"'
OBJECT_CONTACT = 'contype="3" conaffinity="3"'


def scene_preamble(*, name: str, impratio: float, table_friction: str,
                   extra_assets: str = "") -> str:
    """The model's opening shared by every scene: options, rendering settings, the table and
    the `overview` and `top` cameras; the scene goes on with its own worldbody children."""
    option = (f'timestep="{TIMESTEP}" integrator="implicitfast" cone="elliptic" '
              f'impratio="{impratio}"')
    return f"""
<mujoco model="{name}">
  <option {option}/>
  <compiler angle="radian" autolimits="true"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="640" offheight="480"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.82 0.80 0.76" rgb2="0.76 0.74 0.70"
             width="256" height="256"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
    {extra_assets}
  </asset>
  <worldbody>
    <light pos="0.5 0 1.5" dir="0 0 -1" directional="true"/>
    <geom name="table" type="box" pos="0.5 0 -0.02" size="0.6 0.6 0.02" material="table"
          friction="{table_friction}" {TABLE_CONTACT}/>
    <camera name="overview" pos="1.05 0 1.2" xyaxes="0 1 0 -0.909 0 0.417" fovy="45"/>
    <camera name="top" pos="0.5 0.02 1.05" xyaxes="1 0 0 0 1 0" fovy="45"/>
"""


def scene_xml(*, name: str, bodies: str, rod_start: tuple[float, float, float],
              kp: float = 3000.0, extra_assets: str = "") -> str:
    """The whole model: `bodies` are worldbody children of the task (objects, obstacles,
    targets); the rod starts with its tip at `rod_start` (slide joints measure from there)."""
    x, y, z = rod_start
    kv = 2.0 * (kp * 1.0) ** 0.5  # critically damped for the rod's 1 kg
    preamble = scene_preamble(name=name, impratio=2, table_friction="0.4 0.005 0.0001",
                              extra_assets=extra_assets)
    return preamble + f"""    <body name="rod" pos="{x} {y} {z}" gravcomp="1">
      <joint name="rod_x" type="slide" axis="1 0 0" damping="5"/>
      <joint name="rod_y" type="slide" axis="0 1 0" damping="5"/>
      <joint name="rod_z" type="slide" axis="0 0 1" damping="5"/>
      <inertial pos="0 0 {ROD_HALF_LENGTH}" mass="1" diaginertia="0.002 0.002 0.0005"/>
      <geom name="rod" type="cylinder" pos="0 0 {ROD_HALF_LENGTH}"
            size="{ROD_RADIUS} {ROD_HALF_LENGTH}" rgba="0.25 0.25 0.28 1"
            friction="0.3 0.005 0.0001"
            contype="2" conaffinity="2"/>
      <site name="tcp" pos="0 0 0" size="0.004"/>
      <camera name="in_hand" pos="0 -0.08 0.2" xyaxes="1 0 0 0 0.5 0.866" fovy="60"/>
    </body>
    {bodies}
  </worldbody>
  <actuator>
    <position name="act_x" joint="rod_x" kp="{kp}" kv="{kv}"/>
    <position name="act_y" joint="rod_y" kp="{kp}" kv="{kv}"/>
    <position name="act_z" joint="rod_z" kp="{kp}" kv="{kv}"/>
  </actuator>
</mujoco>
"""
