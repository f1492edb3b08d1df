"""Relay Kitchen on Gymnasium-Robotics' FrankaKitchen-v1: the env (`env`), a Cartesian
controller for its Franka (`control`) and the scripted planner of the demonstrations
(`planner`). Recorded data in the original formats is read by `envs.recorded`."""

from envs.kitchen.env import NUM_MODES, SUBTASKS, RelayKitchenEnv, order_mode

__all__ = ["NUM_MODES", "SUBTASKS", "RelayKitchenEnv", "order_mode"]
