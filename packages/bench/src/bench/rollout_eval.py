"""Scores a policy on a rod task by rolling it out (envs' parallel evaluation runner).

Any policy with the project's control API (`act(obs_batch) -> actions`, `reset()`) is wrapped
as the runner's batched callable; metrics come back under `eval/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["ActPolicy", "evaluate_rollouts"]


class ActPolicy:
    """`policy.act(obs (B, O), **act_kwargs)` as a numpy callable; `reset()` between waves."""

    def __init__(self, policy, **act_kwargs: Any) -> None:
        self.policy, self.act_kwargs = policy, act_kwargs

    def reset(self) -> None:
        self.policy.reset()

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.policy.act(np.asarray(obs, dtype=np.float32), **self.act_kwargs))


def evaluate_rollouts(policy, task, *, seed: int, act_kwargs: dict | None = None,
                      videos: int = 0, video_dir: Path | None = None,
                      parallel: bool = True,
                      reference_modes=None) -> tuple[dict[str, float], Any]:
    """Roll `policy` out for the task's contexts x rollouts (seeded); returns (metrics, result).

    Policy sampling is seeded through torch's global generator, so the same seed gives the
    same rollouts (the runner batches identically in parallel and serial mode).
    `reference_modes` (the demonstrations' modes) adds `eval/mode_kl`; graded success levels
    come as `eval/<level>/success_rate`, `eval/<level>/entropy`, ..."""
    torch.manual_seed(seed)
    was_training = getattr(policy, "training", False)
    policy.eval()
    try:
        result = task.evaluate(ActPolicy(policy, **(act_kwargs or {})), seed=seed,
                               parallel=parallel, videos=videos, video_dir=video_dir,
                               reference_modes=reference_modes)
    finally:
        policy.train(was_training)
    m = result.metrics
    metrics = {f"eval/{k}": float(m[k]) for k in (
        "success_rate", "entropy", "context_entropy", "modes_seen", "rollouts", "contexts",
        "mean_length", "mode_kl", "levels_reached") if k in m}
    metrics.update({f"eval/{k}": float(v) for k, v in m.items() if "/" in k})
    metrics["eval/num_modes"] = float(task.num_modes)
    metrics["timing/eval_steps_per_s"] = float(m.get("steps_per_second", 0.0))
    metrics["timing/eval_wall_s"] = float(m.get("wall_seconds", 0.0))
    return metrics, result
