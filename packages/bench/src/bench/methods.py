"""The method registry: a benchmark method name -> what it trains or samples, from what.

- `student` methods train a MoE with an algorithm from `distill` (today VDD) against a
  teacher: the task's exact target ("analytic") or a trained diffusion teacher.
- `teacher` methods evaluate a diffusion teacher itself, with N sampling steps (its config's
  default) or with one step (the "-1" baselines).

gin configures each student method's algorithm under a scope of its own name
(`vdd_published/VDDConfig.lr = ...`; unscoped bindings apply to all), the student MoE under
`student/`, and each teacher kind under its kind (`beso/...`, `ddpm/...`).
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

__all__ = ["Method", "METHODS", "resolve_methods", "BuiltMethod", "build_student"]

TEACHERS = ("analytic", "beso", "ddpm")


@dataclass(frozen=True)
class Method:
    name: str
    role: str  # "student" (trains a MoE) or "teacher" (samples a diffusion teacher)
    teacher: str  # "analytic" (the task's exact target), "beso" or "ddpm"
    description: str
    algorithm: str | None = None  # a key of distill.ALGORITHMS, for students
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed algorithm settings
    num_steps: int | None = None  # teachers: sampling steps (None: the config's default)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("vdd", "student", "analytic",
               "VDD from the exact score; experts start on spread-out demo actions, "
               "duplicates re-seeded (ours)", algorithm="vdd"),
        Method("vdd_published", "student", "analytic",
               "VDD from the exact score as published: random expert init, no re-seeding",
               algorithm="vdd", overrides={"expert_init": "random", "reseed_every": 0}),
        Method("vdd_beso", "student", "beso", "VDD distilled from the trained BESO teacher",
               algorithm="vdd"),
        Method("vdd_ddpm", "student", "ddpm", "VDD distilled from the trained DDPM teacher",
               algorithm="vdd"),
        Method("beso", "teacher", "beso", "the BESO teacher, N sampling steps"),
        Method("beso_1", "teacher", "beso", "the BESO teacher sampled in one step",
               num_steps=1),
        Method("ddpm", "teacher", "ddpm", "the DDPM teacher, N sampling steps"),
        Method("ddpm_1", "teacher", "ddpm", "the DDPM teacher sampled in one step",
               num_steps=1),
    )
}


def resolve_methods(names, task) -> list[Method]:
    """Check method names and that the task can serve each method's teacher, before training."""
    if isinstance(names, str) or not names:
        raise ConfigError(f"Benchmark.methods must be a non-empty list of names, got {names!r}")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; valid choices: {sorted(METHODS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"Benchmark.methods lists a method twice: {list(names)}")
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


def build_student(method: Method, task, dataset: dict[str, np.ndarray], seed: int, *,
                  teacher=None) -> BuiltMethod:
    """Seeded construction of a student MoE and its algorithm.

    With a trained `teacher` (a `bench.teacher_store.TrainedTeacher`), the student takes the
    teacher's normalisers, since VDD works in the teacher's normalised space; with the analytic
    teacher they are fitted on `dataset`.
    """
    from bench.teacher_store import score_adapter

    torch.manual_seed(seed)
    student_cfg = student_config(task)
    algo_cfg = algorithm_config(method)
    policy = MoEPolicy(student_cfg)
    if method.teacher == "analytic":
        policy.fit_normalizers(dataset["obs"], dataset["actions"])
        score = GaussianMixtureScore.from_target(task.target, policy.action_normalizer)
    else:
        if teacher is None or teacher.kind != method.teacher:
            raise ValueError(f"method {method.name!r} needs a trained {method.teacher!r} teacher")
        policy.obs_normalizer.load_state_dict(teacher.policy.obs_normalizer.state_dict())
        policy.action_normalizer.load_state_dict(teacher.policy.action_normalizer.state_dict())
        score = score_adapter(teacher)
    init = torch.as_tensor(dataset["actions"]) if algo_cfg.expert_init == "data" else None
    algo = VDD(policy, score, algo_cfg, init_actions=init)
    params = {f"student.{k}": v for k, v in asdict(student_cfg).items()}
    params.update({f"{method.algorithm}.{k}": v for k, v in algo_cfg.to_dict().items()})
    params.update({"method": method.name, "teacher": method.teacher, "seed": seed})
    if teacher is not None:
        params.update({"teacher.key": teacher.key, "teacher.path": str(teacher.path)})
    return BuiltMethod(policy, algo, params)
