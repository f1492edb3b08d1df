"""Task registry: a task name -> its constructor (keyword settings only)."""

from __future__ import annotations

from functools import partial
from typing import Any

from envs.rollout_task import RolloutTask
from envs.task_specs import ROD_TASKS
from envs.toy2d import Toy2D

TASKS: dict = {"toy2d": Toy2D, **{name: partial(RolloutTask, name) for name in ROD_TASKS}}


def make_task(name: str, **settings: Any):
    """Build a registered task; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {sorted(TASKS)}")
    return TASKS[name](**settings)
