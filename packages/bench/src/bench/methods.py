"""The benchmark's methods, derived from the packages' registries.

A method is what one row of the results shows:
- `teacher`: a trained diffusion teacher (`teachers.TEACHERS`) with N sampling steps (its
  config's default; method `<kind>`) or one step (`<kind>_1`);
- `student`: a policy trained by an algorithm of `distill.ALGORITHMS`, named from the
  algorithm's method stem and what it learns from: a score algorithm (VDD) gives
  `<stem>_<kind>` per teacher kind (from that teacher's score adapter) and `<stem>` (the task's
  exact score, where it has one); an ODE algorithm (CD, CTM) gives `<stem>` from the first
  teacher kind sampled along an ODE (`<stem>_<kind>` for further ones); a data algorithm (EM,
  IMC) gives `<stem>` (teacher "none").
`VARIANTS` adds fixed-setting variants of every method of an algorithm: VDD as published
(`<method>_published`: random expert init, no re-seeding, no on-policy expert steps,
no gated queries, everything else equal) beside ours, each labelled as such ("VDD-BESO
(ours)", "VDD-BESO (published)").

gin configures each student method's algorithm under a scope of its own name
(`vdd_beso/VDDConfig.num_samples = ...`, `cd/CDConfig.iterations = ...`; unscoped bindings
apply to every method using that config class), the MoE under `student/` (per method under
`student/<method>/`), and each teacher kind under its kind (`beso/...`, `ddpm/...`). A variant
takes its base method's bindings, then its own scope's (`vdd_beso_published/VDDConfig...`,
`student/vdd_published/MoEConfig...`), then its fixed settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gin
import numpy as np
import torch

from bench.errors import ConfigError
from bench.gin_classes import configurable
from bench.published import PAPER_ORDER
from bench.teacher_store import TrainedTeacher, image_layout, score_adapter
from distill import ALGORITHMS, BuiltStudent, ConsistencyPolicy, StudentInputs
from moe import MoEConfig
from teachers import TEACHERS

__all__ = ["Method", "method_table", "method_settings", "resolve_methods", "trained_teachers",
           "build_student", "algorithm_config", "student_config", "forward_passes",
           "StudentEncoder"]


@dataclass(frozen=True)
class Method:
    name: str
    role: str  # "student" (trained by a distill algorithm) or "teacher" (a diffusion teacher)
    teacher: str  # "analytic" (the exact target), a teacher kind, or "none" (data only)
    label: str  # the column name in the paper's table
    description: str
    algorithm: str | None = None  # a key of distill.ALGORITHMS, for students
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed algorithm settings
    num_steps: int | None = None  # teachers: sampling steps (None: the config's default)
    base: str | None = None  # variants: the method whose gin bindings they start from

    @property
    def is_moe(self) -> bool:
        return self.algorithm is not None and ALGORITHMS[self.algorithm].moe


# (algorithm, name suffix, label tag, base label tag, description, fixed algorithm settings):
# every method of the algorithm gets a variant `<method>_<suffix>`, and both are labelled
# (VDD as published: none of our additions, whatever the base's bindings say: no data start,
# no re-seeding, no on-policy expert steps, every expert's samples scored)
VARIANTS = (("vdd", "published", "published", "ours",
             "as published: random expert init, no re-seeding, no on-policy expert steps, "
             "no gated queries",
             {"expert_init": "random", "reseed_every": 0, "visited_share": 0.0,
              "query_min_weight": 0.0}),)


def _tagged(label: str, tag: str) -> str:
    """"VDD-BESO" -> "VDD-BESO (ours)"; "VDD (exact score)" -> "VDD (exact score, ours)"."""
    return f"{label[:-1]}, {tag})" if label.endswith(")") else f"{label} ({tag})"


def _add_variants(table: dict[str, Method]) -> None:
    for algorithm, suffix, tag, base_tag, description, overrides in VARIANTS:
        for b in [m for m in table.values() if m.algorithm == algorithm and m.base is None]:
            name = f"{b.name}_{suffix}"
            table[name] = Method(name, b.role, b.teacher, _tagged(b.label, tag),
                                 f"{b.description}, {description}", b.algorithm, overrides,
                                 base=b.name)
            table[b.name] = Method(b.name, b.role, b.teacher, _tagged(b.label, base_tag),
                                   b.description, b.algorithm, b.overrides, b.num_steps)


def trained_teachers() -> list[str]:
    """The registered teacher kinds (what `Benchmark.teachers` may list)."""
    return list(TEACHERS)


def _students(spec) -> list[Method]:
    stem, m = spec.method_name, []
    if spec.source == "data":
        return [Method(stem, "student", "none", spec.label, spec.description, spec.name)]
    if spec.source == "ode":
        kinds = [k for k in TEACHERS.values() if k.ode]
        return [Method(stem if i == 0 else f"{stem}_{k.name}", "student", k.name, spec.label
                       if i == 0 else f"{spec.label}-{k.label}",
                       f"{spec.description}, from the {k.label} teacher", spec.name)
                for i, k in enumerate(kinds)]
    for k in TEACHERS.values():
        m.append(Method(f"{stem}_{k.name}", "student", k.name, f"{spec.label}-{k.label}",
                        f"{spec.label} from the trained {k.label} teacher's score", spec.name))
    m.append(Method(stem, "student", "analytic", f"{spec.label} (exact score)",
                    f"{spec.description}, from the task's exact score", spec.name))
    return m


def method_table() -> dict[str, Method]:
    """Every method the registries give today, in the paper's column order, then the rest."""
    methods = [Method(k.name, "teacher", k.name, k.label, f"the {k.label} teacher, N sampling "
                      "steps") for k in TEACHERS.values()]
    methods += [Method(f"{k.name}_1", "teacher", k.name, f"{k.label}-1",
                       f"the {k.label} teacher sampled in one step", num_steps=1)
                for k in TEACHERS.values()]
    for spec in ALGORITHMS.values():
        methods += _students(spec)
    table = {m.name: m for m in methods}
    _add_variants(table)
    order = {n: i for i, n in enumerate(PAPER_ORDER)}  # the paper's columns first, as printed
    return dict(sorted(table.items(), key=lambda item: order.get(item[0], len(order))))


def _usable(table, task, teachers) -> list[str]:
    return [n for n, m in table.items()
            if (m.teacher != "analytic" or hasattr(task, "target"))
            and (m.teacher not in TEACHERS or m.teacher in teachers)]


def resolve_methods(names, task, teachers=None) -> list[Method]:
    """Check method names, and that the task and config can serve each method's teacher, before
    any training. `teachers` are the trained teacher kinds the config provides (default all)."""
    table = method_table()
    teachers = list(TEACHERS) if teachers is None else list(teachers)
    if isinstance(names, str) or not names:
        raise ConfigError(f"Benchmark.methods must be a non-empty list of names, got {names!r}")
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; valid choices: {list(table)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"Benchmark.methods lists a method twice: {list(names)}")
    methods = [table[n] for n in names]
    for m in methods:
        if m.teacher == "analytic" and not hasattr(task, "target"):
            raise ConfigError(
                f"method {m.name!r} needs the task's analytic target, and task "
                f"{getattr(task, 'name', task)!r} has none; methods usable here: "
                f"{_usable(table, task, teachers)}"
            )
        if m.teacher in TEACHERS and m.teacher not in teachers:
            raise ConfigError(
                f"method {m.name!r} needs a trained {m.teacher!r} teacher, and this config "
                f"provides only {teachers} (Benchmark.teachers); methods usable here: "
                f"{_usable(table, task, teachers)}"
            )
    return methods


def _own_bindings(method: Method | None, prefix: str, cls: type) -> dict[str, Any]:
    """A variant's bindings under its own scope `<prefix><name>/<cls>` (none for a method that
    is not a variant: its own scope is the one it is built under)."""
    if method is None or method.base is None:
        return {}
    return gin.get_bindings(f"{prefix}{method.name}/{cls.__name__}", inherit_scopes=False)


def student_config(task, method: Method | None = None) -> MoEConfig:
    """The MoE of a method: `student/MoEConfig...` bindings, refined per method under
    `student/<method>/MoEConfig...` (e.g. IMC's fixed expert width; a variant: its base's,
    then its own)."""
    scope = f"student/{method.base or method.name}" if method else "student"
    with gin.config_scope(scope):
        return configurable(MoEConfig)(obs_dim=task.obs_dim, action_dim=task.action_dim,
                                       window=task.window, **image_layout(task),
                                       **_own_bindings(method, "student/", MoEConfig))


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
    """The method's algorithm config: bindings under its own scope (a variant: its base's, then
    its own), then its fixed settings."""
    cls = ALGORITHMS[method.algorithm].config
    with gin.config_scope(method.base or method.name):
        return configurable(cls)(**{**_own_bindings(method, "", cls), **method.overrides})


def method_settings(gin_file, method: str):
    """(algorithm config, student MoEConfig) of `method` as `gin_file` configures it, for use
    outside a run (studies, tests); the gin state is cleared afterwards."""
    from bench.config import parse_gin
    from bench.settings import Benchmark

    parse_gin([gin_file])
    try:
        m = method_table()[method]
        return algorithm_config(m), student_config(Benchmark().task, m)
    finally:
        gin.clear_config()


def forward_passes(policy) -> int:
    """Network passes per action (CD / CTM may be sampled in several steps)."""
    if isinstance(policy, ConsistencyPolicy):
        return getattr(policy.config, "num_steps", 1)
    return 1


def build_student(method: Method, task, dataset: dict[str, np.ndarray], seed: int, *,
                  teacher: TrainedTeacher | None = None,
                  device: str | torch.device = "cpu") -> BuiltStudent:
    """Seeded construction of a student policy and its algorithm (the algorithm's registered
    builder) on `device` (the teacher's, when there is one), with every setting it was built
    with in `params`."""
    spec = ALGORITHMS[method.algorithm]
    if method.teacher in TEACHERS and (teacher is None or teacher.kind != method.teacher):
        raise ValueError(f"method {method.name!r} needs a trained {method.teacher!r} teacher")
    torch.manual_seed(seed)
    algo_cfg = algorithm_config(method)
    student = student_config(task, method) if spec.moe else None
    encoder = StudentEncoder()
    inputs = StudentInputs(
        config=algo_cfg, dataset=dataset, student=student,
        teacher=teacher.policy if teacher is not None else None,
        score=(score_adapter(teacher.kind, teacher.policy)
               if teacher is not None and spec.source == "score" else None),
        target=task.target if method.teacher == "analytic" else None,
        encoder_from_teacher=encoder.from_teacher, freeze_encoder=encoder.freeze,
        device=device)
    built = spec.build(inputs)
    params = {**built.params, **{f"{spec.name}.{k}": v for k, v in algo_cfg.to_dict().items()},
              "method": method.name, "teacher": method.teacher, "seed": seed}
    if teacher is not None:
        params.update({"teacher.key": teacher.key, "teacher.path": str(teacher.path)})
    return BuiltStudent(built.policy, built.algorithm, params)
