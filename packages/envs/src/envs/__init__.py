"""vdd-envs: benchmark tasks, demonstrations and metrics (no torch needed)."""

from envs.d3il.registration import register_envs
from envs.metrics import mode_kl, normalized_entropy, rollout_metrics
from envs.registry import TASKS, make_task
from envs.rollout_task import RolloutTask
from envs.toy2d import (
    GaussianMixtureTarget, Toy2D, energy_distance, grid_layout, mode_weights, modes_covered,
    modes_hit, reverse_kl, ring_layout, sample_mode_frequencies,
)

__version__ = "0.1.0"

register_envs()

__all__ = [
    "TASKS", "make_task", "RolloutTask", "mode_kl", "normalized_entropy", "rollout_metrics", "GaussianMixtureTarget", "Toy2D", "energy_distance", "grid_layout",
    "mode_weights", "modes_covered", "modes_hit", "reverse_kl", "ring_layout", "sample_mode_frequencies", "__version__",
]
