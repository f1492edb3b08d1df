"""Teacher kinds: the one place a diffusion teacher is declared.

A kind names its policy class, its config class, the score adapter distillation reaches it
through, and whether its sampler is a probability-flow ODE that consistency students (CD,
CTM) can follow. The benchmark derives its teacher rows and its "VDD from <kind>" rows from
this table, so a new kind is one `register_teacher` call in its own module plus its gin lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from teachers.base import DiffusionPolicy
from teachers.beso import BESOPolicy
from teachers.config import BESOConfig, DDPMConfig
from teachers.ddpm import DDPMPolicy
from teachers.score import BESOScore, DDPMScore

__all__ = ["TeacherKind", "TEACHERS", "register_teacher", "get_teacher"]


@dataclass(frozen=True, kw_only=True)
class TeacherKind:
    """One diffusion teacher kind (name is its gin scope and its method name)."""

    name: str  # e.g. "beso"; also the benchmark method of the N-step teacher
    label: str  # e.g. "BESO": the column name in the paper's tables
    policy: type[DiffusionPolicy]
    config: type  # the policy's config dataclass
    score: type  # the score adapter: score(policy) -> a distill.ScoreAdapter
    ode: bool = False  # sampled along a probability-flow ODE that CD / CTM can distil

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.islower():
            raise ValueError(f"TeacherKind.name must be a lower-case identifier, got "
                             f"{self.name!r}")


TEACHERS: dict[str, TeacherKind] = {}


def register_teacher(kind: TeacherKind) -> TeacherKind:
    """Declare a teacher kind; a name already taken by another kind is an error."""
    if not isinstance(kind, TeacherKind):
        raise TypeError(f"register_teacher needs a TeacherKind, got {type(kind).__name__}")
    old = TEACHERS.get(kind.name)
    if old is not None and old != kind:
        raise ValueError(f"teacher kind {kind.name!r} is already registered as {old}")
    TEACHERS[kind.name] = kind
    return kind


def get_teacher(name: str) -> TeacherKind:
    """The registered kind `name`; unknown names list the registered ones."""
    if name not in TEACHERS:
        raise ValueError(f"unknown teacher kind {name!r}; registered: {sorted(TEACHERS)}")
    return TEACHERS[name]


register_teacher(TeacherKind(name="beso", label="BESO", policy=BESOPolicy, config=BESOConfig,
                             score=BESOScore, ode=True))
register_teacher(TeacherKind(name="ddpm", label="DDPM", policy=DDPMPolicy, config=DDPMConfig,
                             score=DDPMScore))
