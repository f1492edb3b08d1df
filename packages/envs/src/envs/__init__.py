"""vdd-envs: benchmark tasks, demonstrations and metrics (no torch needed)."""

from envs.registry import TASKS, make_task
from envs.toy2d import (
    GaussianMixtureTarget, Toy2D, energy_distance, grid_layout, mode_weights, modes_covered,
    modes_hit, reverse_kl, ring_layout, sample_mode_frequencies,
)

__version__ = "0.1.0"

__all__ = [
    "TASKS", "make_task", "GaussianMixtureTarget", "Toy2D", "energy_distance", "grid_layout",
    "mode_weights", "modes_covered", "modes_hit", "reverse_kl", "ring_layout", "sample_mode_frequencies", "__version__",
]
