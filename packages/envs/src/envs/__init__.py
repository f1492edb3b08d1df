"""vdd-envs: benchmark tasks, demonstrations and metrics (no torch needed)."""

import os

# Headless rendering on the CPU: EGL works without a display (must be set before mujoco loads,
# so here, before any submodule imports it).
os.environ.setdefault("MUJOCO_GL", "egl")

from envs.image_obs import (  # noqa: E402
    IMAGES_KEY, STATE_KEY, image_observation_space, stack_observations,
)
from envs.metrics import mode_kl, normalized_entropy, rollout_metrics  # noqa: E402
from envs.registry import TASKS, make_task  # noqa: E402
from envs.rollout_task import RolloutTask  # noqa: E402
from envs.task import Task, TaskEvaluation  # noqa: E402
from envs.task_specs import register_envs  # noqa: E402
from envs.toy2d import (  # noqa: E402
    GaussianMixtureTarget, Toy2D, energy_distance, grid_layout, mode_weights, modes_covered,
    modes_hit, reverse_kl, ring_layout, sample_mode_frequencies,
)
from envs.toy_scoring import ENERGY_SAMPLES, ToyPolicy, toy_sample_metrics  # noqa: E402

__version__ = "0.1.0"

register_envs()

__all__ = [
    "TASKS", "make_task", "STATE_KEY", "IMAGES_KEY", "image_observation_space",
    "stack_observations", "Task", "TaskEvaluation", "RolloutTask", "Toy2D", "ToyPolicy",
    "toy_sample_metrics", "ENERGY_SAMPLES", "mode_kl", "normalized_entropy", "rollout_metrics",
    "GaussianMixtureTarget", "energy_distance", "grid_layout", "mode_weights", "modes_covered",
    "modes_hit", "reverse_kl", "ring_layout", "sample_mode_frequencies", "__version__",
]
