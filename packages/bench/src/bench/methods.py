"""The method registry: a benchmark method name -> what it trains or samples, from what.

Roles:
- `teacher`: a trained diffusion teacher itself, with N sampling steps (its config's default)
  or one step (the "-1" baselines);
- `student`: a policy trained by an algorithm of `distill.ALGORITHMS`: VDD (a MoE, from the
  task's exact score or a trained teacher's), CD / CTM (a one-step `ConsistencyPolicy` from the
  BESO teacher's ODE), EM / IMC (a MoE from the demonstrations alone, teacher "none").

gin configures each student method's algorithm under a scope of its own name
(`vdd_published/VDDConfig.lr = ...`, `cd/CDConfig.iterations = ...`; unscoped bindings apply
to every method using that config class), the MoE under `student/` (per method under
`student/<method>/`), and each teacher kind under its kind (`beso/...`, `ddpm/...`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gin
import numpy as np
import torch

from bench import configurables as cfgs
from bench.errors import ConfigError
from distill import (
    CD, CTM, EM, IMC, VDD, ConsistencyConfig, ConsistencyPolicy, GaussianMixtureScore,
)
from moe import MoEPolicy

__all__ = ["Method", "METHODS", "PAPER_ORDER", "resolve_methods", "BuiltMethod",
           "build_student", "algorithm_config", "student_config"]

TEACHERS = ("analytic", "beso", "ddpm", "none")
TRAINED_TEACHERS = ("beso", "ddpm")


@dataclass(frozen=True)
class Method:
    name: str
    role: str  # "student" (trained by a distill algorithm) or "teacher" (a diffusion teacher)
    teacher: str  # "analytic" (the exact target), "beso", "ddpm", or "none" (data only)
    label: str  # the column name in the paper's table
    description: str
    algorithm: str | None = None  # a key of distill.ALGORITHMS, for students
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed algorithm settings
    num_steps: int | None = None  # teachers: sampling steps (None: the config's default)

    @property
    def is_moe(self) -> bool:
        return self.algorithm in ("vdd", "em", "imc")


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("ddpm", "teacher", "ddpm", "DDPM", "the DDPM teacher, N sampling steps"),
        Method("beso", "teacher", "beso", "BESO", "the BESO teacher, N sampling steps"),
        Method("ddpm_1", "teacher", "ddpm", "DDPM-1", "the DDPM teacher sampled in one step",
               num_steps=1),
        Method("beso_1", "teacher", "beso", "BESO-1", "the BESO teacher sampled in one step",
               num_steps=1),
        Method("cd", "student", "beso", "CD",
               "consistency distillation of the BESO teacher's ODE (one step)", algorithm="cd"),
        Method("ctm", "student", "beso", "CTM",
               "consistency trajectory model of the BESO teacher's ODE (one step)",
               algorithm="ctm"),
        Method("vdd_ddpm", "student", "ddpm", "VDD-DDPM",
               "VDD distilled from the trained DDPM teacher", algorithm="vdd"),
        Method("vdd_beso", "student", "beso", "VDD-BESO",
               "VDD distilled from the trained BESO teacher", algorithm="vdd"),
        Method("em_gpt", "student", "none", "EM-GPT",
               "the MoE fitted to the demonstrations by expectation-maximisation",
               algorithm="em"),
        Method("imc_gpt", "student", "none", "IMC-GPT",
               "the MoE fitted to the demonstrations by information-maximising curriculum",
               algorithm="imc"),
        Method("vdd", "student", "analytic", "VDD (exact score)",
               "VDD from the exact score; experts start on spread-out demo actions, "
               "duplicates re-seeded (ours)", algorithm="vdd"),
        Method("vdd_published", "student", "analytic", "VDD (exact, published)",
               "VDD from the exact score as published: random expert init, no re-seeding",
               algorithm="vdd", overrides={"expert_init": "random", "reseed_every": 0}),
    )
}
PAPER_ORDER = list(METHODS)  # the published table's column order, then ours

ALGORITHM_CONFIGS = {"vdd": lambda **kw: cfgs.VDDConfig(**kw),
                     "cd": lambda **kw: cfgs.CDConfig(**kw),
                     "ctm": lambda **kw: cfgs.CTMConfig(**kw),
                     "em": lambda **kw: cfgs.EMConfig(**kw),
                     "imc": lambda **kw: cfgs.IMCConfig(**kw)}


def _usable(task, teachers) -> list[str]:
    return [n for n, m in METHODS.items()
            if (m.teacher != "analytic" or hasattr(task, "target"))
            and (m.teacher not in TRAINED_TEACHERS or m.teacher in teachers)]


def resolve_methods(names, task, teachers=TRAINED_TEACHERS) -> list[Method]:
    """Check method names, and that the task and config can serve each method's teacher, before
    any training. `teachers` are the trained teacher kinds the config provides."""
    if isinstance(names, str) or not names:
        raise ConfigError(f"Benchmark.methods must be a non-empty list of names, got {names!r}")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; valid choices: {list(METHODS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"Benchmark.methods lists a method twice: {list(names)}")
    methods = [METHODS[n] for n in names]
    for m in methods:
        if m.teacher == "analytic" and not hasattr(task, "target"):
            raise ConfigError(
                f"method {m.name!r} needs the task's analytic target, and task "
                f"{getattr(task, 'name', task)!r} has none; methods usable here: "
                f"{_usable(task, teachers)}"
            )
        if m.teacher in TRAINED_TEACHERS and m.teacher not in teachers:
            raise ConfigError(
                f"method {m.name!r} needs a trained {m.teacher!r} teacher, and this config "
                f"provides only {list(teachers)} (Benchmark.teachers); methods usable here: "
                f"{_usable(task, teachers)}"
            )
    return methods


def student_config(task, method: Method | None = None) -> cfgs.MoEConfig:
    """The MoE of a method: `student/MoEConfig...` bindings, refined per method under
    `student/<method>/MoEConfig...` (e.g. IMC's fixed expert width)."""
    from bench.teacher_store import image_layout

    scope = f"student/{method.name}" if method else "student"
    with gin.config_scope(scope):
        return cfgs.MoEConfig(obs_dim=task.obs_dim, action_dim=task.action_dim,
                              window=task.window, **image_layout(task))


@gin.configurable(module="bench")
@dataclass(frozen=True)
class StudentEncoder:
    """How a distilled MoE's image encoder starts on image tasks (gin: `StudentEncoder.freeze`).

    `from_teacher`: copy the teacher's CNN weights (same encoder architecture needed), else
    train from scratch; `freeze`: keep the copied CNNs fixed (only the state embedding, the
    fusion layer, the backbone and the heads learn). EM / IMC have no teacher: from scratch."""

    from_teacher: bool = True
    freeze: bool = False

    def __post_init__(self) -> None:
        if self.freeze and not self.from_teacher:
            raise ValueError("StudentEncoder.freeze needs from_teacher=True (a frozen random "
                             "encoder would never learn)")


def algorithm_config(method: Method):
    with gin.config_scope(method.name):
        return ALGORITHM_CONFIGS[method.algorithm](**method.overrides)


@dataclass
class BuiltMethod:
    policy: torch.nn.Module  # a MoEPolicy, or a ConsistencyPolicy for CD / CTM
    algorithm: Any  # an algorithm of distill.ALGORITHMS
    params: dict[str, Any]  # flat settings to log

    @property
    def forward_passes(self) -> int:
        """Network passes per action (CD / CTM may be sampled in several steps)."""
        return getattr(self.policy.config, "num_steps", 1) if isinstance(
            self.policy, ConsistencyPolicy) else 1


def _check_teacher(method: Method, teacher) -> None:
    if teacher is None or teacher.kind != method.teacher:
        raise ValueError(f"method {method.name!r} needs a trained {method.teacher!r} teacher")


def build_student(method: Method, task, dataset: dict[str, np.ndarray], seed: int, *,
                  teacher=None) -> BuiltMethod:
    """Seeded construction of a student policy and its algorithm.

    Students of a trained `teacher` (a `bench.teacher_store.TrainedTeacher`) work in the
    teacher's normalised space, so they take its normalisers; EM / IMC and VDD from the exact
    score fit theirs on `dataset`.
    """
    torch.manual_seed(seed)
    algo_cfg = algorithm_config(method)
    params: dict[str, Any] = {}
    if method.algorithm in ("cd", "ctm"):
        _check_teacher(method, teacher)
        param = algo_cfg.parameterization if method.algorithm == "cd" else "ctm"
        cfg = ConsistencyConfig.from_teacher(teacher.policy.config, parameterization=param)
        policy = ConsistencyPolicy(cfg)
        algo = (CD if method.algorithm == "cd" else CTM)(policy, teacher.policy, algo_cfg)
        params.update({f"student.{k}": v for k, v in cfg.to_dict().items()})
    else:
        student_cfg = student_config(task, method)
        policy = MoEPolicy(student_cfg)
        params.update({f"student.{k}": v for k, v in asdict(student_cfg).items()})
        init = (torch.as_tensor(dataset["actions"]) if algo_cfg.expert_init == "data"
                else None)
        if method.algorithm in ("em", "imc"):
            policy.fit_normalizers(dataset["obs"], dataset["actions"])
            algo = (EM if method.algorithm == "em" else IMC)(policy, algo_cfg, init_actions=init)
        elif method.teacher == "analytic":
            policy.fit_normalizers(dataset["obs"], dataset["actions"])
            score = GaussianMixtureScore.from_target(task.target, policy.action_normalizer)
            algo = VDD(policy, score, algo_cfg, init_actions=init)
        else:
            from bench.teacher_store import score_adapter

            _check_teacher(method, teacher)
            policy.obs_normalizer.load_state_dict(teacher.policy.obs_normalizer.state_dict())
            policy.action_normalizer.load_state_dict(
                teacher.policy.action_normalizer.state_dict())
            policy.fit_motion(dataset["obs"])  # through the teacher's obs normaliser
            if student_cfg.cameras:
                enc = StudentEncoder()
                if enc.from_teacher:
                    policy.load_image_encoder_from(teacher.policy.model.obs_embed)
                if enc.freeze:
                    policy.freeze_image_encoder()
                params.update({"encoder.from_teacher": enc.from_teacher,
                               "encoder.freeze": enc.freeze})
            algo = VDD(policy, score_adapter(teacher), algo_cfg, init_actions=init)
    params.update({f"{method.algorithm}.{k}": v for k, v in algo_cfg.to_dict().items()})
    params.update({"method": method.name, "teacher": method.teacher, "seed": seed})
    if teacher is not None:
        params.update({"teacher.key": teacher.key, "teacher.path": str(teacher.path)})
    return BuiltMethod(policy, algo, params)
