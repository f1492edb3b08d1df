"""Algorithm registry: name -> (algorithm class, its config class)."""

from __future__ import annotations

from distill.vdd import VDD, VDDConfig

ALGORITHMS: dict[str, tuple[type, type]] = {"vdd": (VDD, VDDConfig)}


def get_algorithm(name: str) -> tuple[type, type]:
    """(algorithm class, config class) for a registered name; unknown names list the valid ones."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; registered: {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]
