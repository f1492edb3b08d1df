"""Relay Kitchen on Gymnasium-Robotics' FrankaKitchen-v1: env, scripted planner, data readers."""

from envs.kitchen.env import NUM_MODES, SUBTASKS, RelayKitchenEnv, order_mode

__all__ = ["NUM_MODES", "SUBTASKS", "RelayKitchenEnv", "order_mode"]
