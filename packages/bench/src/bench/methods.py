"""The method registry: a benchmark method name -> how to build its policy and algorithm.

A method is an algorithm from `distill` plus the teacher it learns from and its fixed settings.
gin configures each method under a scope of its own name (`vdd_published/VDDConfig.lr = ...`);
unscoped bindings apply to all of them. The student MoE is configured under `student/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gin
import numpy as np
import torch

from bench import configurables as cfgs
from bench.errors import ConfigError
from distill import VDD, GaussianMixtureScore
from moe import MoEPolicy

__all__ = ["Method", "METHODS", "resolve_methods", "BuiltMethod", "build_method"]


@dataclass(frozen=True)
class Method:
    name: str
    algorithm: str  # a key of distill.ALGORITHMS
    teacher: str  # where the score comes from: "analytic" (the task's exact target) for now
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed algorithm settings


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("vdd", "vdd", "analytic",
               "VDD; experts start on spread-out demo actions, duplicates re-seeded (ours)"),
        Method("vdd_published", "vdd", "analytic",
               "VDD as published: random expert init, no re-seeding",
               {"expert_init": "random", "reseed_every": 0}),
    )
}


def resolve_methods(names, task) -> list[Method]:
    """Check method names and that the task can serve each method's teacher, before training."""
    if isinstance(names, str) or not names:
        raise ConfigError(f"run_benchmark.methods must be a non-empty list of names, got {names!r}")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; valid choices: {sorted(METHODS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"run_benchmark.methods lists a method twice: {list(names)}")
    methods = [METHODS[n] for n in names]
    for m in methods:
        if m.teacher == "analytic" and not hasattr(task, "target"):
            raise ConfigError(
                f"method {m.name!r} needs the task's analytic target, and task "
                f"{getattr(task, 'name', task)!r} has none; methods usable here: "
                f"{sorted(n for n, x in METHODS.items() if x.teacher != 'analytic')}"
            )
    return methods


def student_config(task) -> cfgs.MoEConfig:
    with gin.config_scope("student"):
        return cfgs.MoEConfig(obs_dim=task.obs_dim, action_dim=task.action_dim,
                              window=task.window)


def algorithm_config(method: Method):
    with gin.config_scope(method.name):
        return cfgs.VDDConfig(**method.overrides)


@dataclass
class BuiltMethod:
    policy: MoEPolicy
    algorithm: VDD
    params: dict[str, Any]  # flat settings to log


def build_method(method: Method, task, dataset: dict[str, np.ndarray], seed: int) -> BuiltMethod:
    """Seeded construction of the student and its algorithm (normalisers fitted on `dataset`)."""
    torch.manual_seed(seed)
    student_cfg = student_config(task)
    algo_cfg = algorithm_config(method)
    policy = MoEPolicy(student_cfg)
    policy.fit_normalizers(dataset["obs"], dataset["actions"])
    score = GaussianMixtureScore.from_target(task.target, policy.action_normalizer)
    algo = VDD(policy, score, algo_cfg,
               init_actions=torch.as_tensor(dataset["actions"]) if algo_cfg.expert_init == "data"
               else None)
    params = {f"student.{k}": v for k, v in asdict(student_cfg).items()}
    params.update({f"{method.algorithm}.{k}": v for k, v in algo_cfg.to_dict().items()})
    params.update({"method": method.name, "teacher": method.teacher, "seed": seed})
    return BuiltMethod(policy, algo, params)
