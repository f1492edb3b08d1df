"""Algorithm registry: name -> (algorithm class, its config class)."""

from __future__ import annotations

from distill.cd import CD, CDConfig
from distill.ctm import CTM, CTMConfig
from distill.em import EM, EMConfig
from distill.imc import IMC, IMCConfig
from distill.vdd import VDD, VDDConfig

ALGORITHMS: dict[str, tuple[type, type]] = {
    "vdd": (VDD, VDDConfig),  # MoE from a teacher's score (reverse KL)
    "cd": (CD, CDConfig),  # one-step student of a BESO teacher's ODE (consistency)
    "ctm": (CTM, CTMConfig),  # any-time-to-any-time jumps along a BESO teacher's ODE
    "em": (EM, EMConfig),  # MoE from demonstrations, expectation-maximisation
    "imc": (IMC, IMCConfig),  # MoE from demonstrations, information-maximising curriculum
}


def get_algorithm(name: str) -> tuple[type, type]:
    """(algorithm class, config class) for a registered name; unknown names list the valid ones."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; registered: {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]
