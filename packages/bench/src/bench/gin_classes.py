"""The packages' configurable classes as gin sees them, wrapped from their registries.

gin applies bindings only through the callables it registered, so the benchmark builds every
config through `configurable(cls)`. `register_all()` registers what the packages declare today
(the MoE, the tasks, every teacher kind's config and score adapter, every algorithm's config),
so an algorithm or teacher kind registered in its own package is configurable by name with no
edit here. This module imports nothing of bench's, so any bench module may use it.
"""

from __future__ import annotations

from collections.abc import Callable

import gin

import distill
import envs
import moe
import teachers

__all__ = ["configurable", "register_all"]

_WRAPPED: dict[type, Callable] = {}


def configurable(cls: type, module: str | None = None) -> Callable:
    """The gin-registered callable of `cls` (registered on first use, under `module`, default
    the class's top-level package: `distill.VDDConfig`)."""
    if cls not in _WRAPPED:
        _WRAPPED[cls] = gin.external_configurable(
            cls, module=module or cls.__module__.split(".")[0])
    return _WRAPPED[cls]


def register_all() -> None:
    """Register every class a gin file may name (idempotent; call before parsing)."""
    for cls in (moe.MoEConfig, envs.Toy2D, envs.RolloutTask, teachers.TeacherTrainingConfig):
        configurable(cls)
    for kind in teachers.TEACHERS.values():
        configurable(kind.config)
        configurable(kind.score)
    for spec in distill.ALGORITHMS.values():
        configurable(spec.config)


register_all()
