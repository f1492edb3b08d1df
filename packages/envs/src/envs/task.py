"""What the benchmark needs of a task, whatever kind it is (`Toy2D`, `RolloutTask`).

A task tells its dimensions and modes, what determines its training data (the key of the
teacher caches), builds its training windows, scores a policy and gives one observation window
to time inference on. `evaluate` returns a `TaskEvaluation`: un-prefixed metric keys (the
bench adds its `eval/` namespace), plus what a caller may want to log or draw beside them.

Shapes: N samples, T window, O obs, A action.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Task", "TaskEvaluation"]


@dataclass(frozen=True, kw_only=True)
class TaskEvaluation:
    """One evaluation of a policy on a task.

    `samples`: the toy's raw action samples (N, A) that were scored (None for rollout tasks);
    `video_paths`: the rollout videos written (empty for the toy); `raw`: the runner's
    `envs.evaluation.EvalResult` of a rollout task (per-rollout records, contexts)."""

    metrics: dict[str, float]
    samples: np.ndarray | None
    video_paths: list
    raw: object = None


@runtime_checkable
class Task(Protocol):
    """A benchmark task: dimensions, modes, data and scoring (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def obs_dim(self) -> int: ...

    @property
    def action_dim(self) -> int: ...

    @property
    def window(self) -> int: ...

    @property
    def num_modes(self) -> int: ...

    @property
    def levels(self) -> dict[str, int]:
        """Graded success levels reported beside the main success: name -> modes ({}: none)."""

    @property
    def is_image(self) -> bool:
        """Whether observations are packed image observations (robot state + pixels)."""

    @property
    def reports_mode_kl(self) -> bool:
        """Whether results report the KL of the rollouts' modes to the demonstrations'."""

    def data_settings(self) -> dict:
        """What determines the training data (keys the teacher caches)."""

    def make_dataset(self, seed: int, *, cache_dir: str | Path = ...) -> dict[str, Any]:
        """Training windows: obs (N, T, O), actions (N, T, A), and task-specific extras."""

    def evaluate(self, policy: Any, *, seed: int, **options: Any) -> TaskEvaluation:
        """Score `policy` (the task's policy interface) with metrics seeded by `seed`."""

    def timing_window(self, dataset: dict[str, Any]) -> np.ndarray:
        """One observation window (T, O) to time a policy's inference on."""
