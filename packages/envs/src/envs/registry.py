"""Task registry: a task name -> its constructor (keyword settings only)."""

from __future__ import annotations

from typing import Any

from envs.toy2d import Toy2D

TASKS: dict[str, type] = {"toy2d": Toy2D}


def make_task(name: str, **settings: Any):
    """Build a registered task; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {sorted(TASKS)}")
    return TASKS[name](**settings)
