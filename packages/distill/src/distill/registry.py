"""The algorithm registry: the one place an algorithm is declared.

An entry names the algorithm's class, its config class, its builder (`distill.builders`) and
what its student learns from (`source`): "score" (VDD: an exact score or any trained
teacher's score adapter), "ode" (CD, CTM: a teacher sampled along a probability-flow ODE) or
"data" (EM, IMC: the demonstrations alone). The benchmark derives its methods from this table,
so a new algorithm is one `register_algorithm` call plus its gin lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from distill.builders import (
    BuiltStudent, StudentInputs, build_cd, build_ctm, build_em, build_imc, build_vdd,
)
from distill.cd import CD, CDConfig
from distill.ctm import CTM, CTMConfig
from distill.em import EM, EMConfig
from distill.imc import IMC, IMCConfig
from distill.vdd import VDD, VDDConfig

__all__ = ["AlgorithmSpec", "ALGORITHMS", "SOURCES", "register_algorithm", "get_algorithm"]

SOURCES = ("score", "ode", "data")


@dataclass(frozen=True, kw_only=True)
class AlgorithmSpec:
    """One algorithm (name: its gin scope stem and registry key)."""

    name: str
    algorithm: type
    config: type  # its config dataclass (gin-configurable by the benchmark)
    build: Callable[[StudentInputs], BuiltStudent]
    source: str  # one of SOURCES: what the student learns from
    label: str  # the paper's column name stem, e.g. "VDD", "CD", "EM-GPT"
    description: str
    method: str = ""  # the benchmark method name stem ("" : the algorithm's name)
    moe: bool = False  # the student is a MoE configured by moe.MoEConfig

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"AlgorithmSpec.source must be one of {SOURCES}, got "
                             f"{self.source!r}")
        if not self.name.isidentifier() or not self.name.islower():
            raise ValueError(f"AlgorithmSpec.name must be a lower-case identifier, got "
                             f"{self.name!r}")

    @property
    def method_name(self) -> str:
        return self.method or self.name


ALGORITHMS: dict[str, AlgorithmSpec] = {}


def register_algorithm(spec: AlgorithmSpec) -> AlgorithmSpec:
    """Declare an algorithm; a name already taken by another spec is an error."""
    if not isinstance(spec, AlgorithmSpec):
        raise TypeError(f"register_algorithm needs an AlgorithmSpec, got {type(spec).__name__}")
    old = ALGORITHMS.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"algorithm {spec.name!r} is already registered as {old}")
    ALGORITHMS[spec.name] = spec
    return spec


def get_algorithm(name: str) -> AlgorithmSpec:
    """The spec of a registered name; unknown names list the registered ones."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; registered: {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]


for _spec in (
    AlgorithmSpec(name="cd", algorithm=CD, config=CDConfig, build=build_cd, source="ode",
                  label="CD", description="consistency distillation of the teacher's ODE "
                  "(one step)"),
    AlgorithmSpec(name="ctm", algorithm=CTM, config=CTMConfig, build=build_ctm, source="ode",
                  label="CTM", description="consistency trajectory model of the teacher's ODE "
                  "(one step)"),
    AlgorithmSpec(name="vdd", algorithm=VDD, config=VDDConfig, build=build_vdd,
                  source="score", label="VDD", moe=True,
                  description="a MoE distilled from a score by variational inference"),
    AlgorithmSpec(name="em", algorithm=EM, config=EMConfig, build=build_em, source="data",
                  label="EM-GPT", method="em_gpt", moe=True,
                  description="the MoE fitted to the demonstrations by "
                  "expectation-maximisation"),
    AlgorithmSpec(name="imc", algorithm=IMC, config=IMCConfig, build=build_imc,
                  source="data", label="IMC-GPT", method="imc_gpt", moe=True,
                  description="the MoE fitted to the demonstrations by information-maximising "
                  "curriculum"),
):
    register_algorithm(_spec)
