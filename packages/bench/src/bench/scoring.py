"""Scoring any policy on any task: the policy as the task's `evaluate` sees it, and the
task's metrics under `eval/`.

Tasks (`envs.Task`) take a duck-typed policy: rollout tasks call it on a batch of observations
(`__call__`, `reset()`), the toy draws samples from it (`sample`) and, from a MoE, reads its
mixture and log-density (`mixture`, `log_prob`). `view(policy)` gives one object with all of
what the policy offers, so the caller never asks which kind of task it has. The view is also
the policy's observation adapter: image tasks' Dict observations (state + uint8 camera images)
are packed into the float input the policy was trained on (`moe.pack_image_obs`, in the
task's `camera_names` order).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.devices import generator_for
from bench.toy_eval import mixture_at
from moe import MoEPolicy, pack_image_obs

__all__ = ["PolicyView", "MixtureView", "view", "evaluate_policy", "rollout_metrics"]


class PolicyView:
    """A policy's `act` as a numpy callable (rollouts) and its `sample_actions` as `sample`;
    `cameras`: the camera names Dict observations are packed in (image tasks)."""

    def __init__(self, policy, *, cameras: tuple[str, ...] = (), **act_kwargs: Any) -> None:
        self.policy, self.cameras, self.act_kwargs = policy, tuple(cameras), act_kwargs

    def reset(self) -> None:
        self.policy.reset()

    @torch.no_grad()
    def __call__(self, obs: np.ndarray | Mapping) -> np.ndarray:
        return np.asarray(self.policy.act(self.policy_input(obs), **self.act_kwargs))

    def policy_input(self, obs: np.ndarray | Mapping) -> np.ndarray:
        """A batch of env observations as the policy's float32 input (B, O)."""
        if not isinstance(obs, Mapping):
            return np.asarray(obs, dtype=np.float32)
        if not self.cameras:
            raise ValueError("Dict observations need the camera names to pack them: "
                             "view(policy, cameras=task.camera_names)")
        return pack_image_obs(obs, cameras=self.cameras)

    @torch.no_grad()
    def sample(self, obs: np.ndarray, *, seed: int) -> np.ndarray:
        """Raw actions (N, A) for observations obs (N, ...), drawn from a generator of `seed`."""
        gen = generator_for(self.policy, seed)
        return self.policy.sample_actions(obs, generator=gen, **self.act_kwargs).cpu().numpy()


class MixtureView(PolicyView):
    """A MoE: samples from its mixture, which the toy also reads, with its log-density."""

    @torch.no_grad()
    def sample(self, obs: np.ndarray, *, seed: int) -> np.ndarray:
        self.policy.eval()
        gen = generator_for(self.policy, seed)
        a_norm = self.policy.mixture(obs).sample(generator=gen)  # (N, 1, A)
        return self.policy.action_normalizer.unnormalize(a_norm)[:, 0].cpu().numpy()

    def mixture(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return mixture_at(self.policy, obs)

    @torch.no_grad()
    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """log q(a | o) of raw actions (N, A)."""
        a = np.asarray(actions, dtype=np.float32)[:, None, :]
        return self.policy.log_prob(obs, a)[:, 0].cpu().numpy()


def view(policy, *, cameras: tuple[str, ...] = (), **act_kwargs: Any) -> PolicyView:
    kind = MixtureView if isinstance(policy, MoEPolicy) else PolicyView
    return kind(policy, cameras=cameras, **act_kwargs)


def rollout_metrics(m: dict[str, Any], num_modes: int) -> dict[str, float]:
    """The rollout runner's metrics as logged: eval/ (graded levels as eval/<level>/...),
    plus the simulation's throughput under timing/."""
    metrics = {f"eval/{k}": float(m[k]) for k in (
        "success_rate", "entropy", "context_entropy", "modes_seen", "rollouts", "contexts",
        "mean_length", "mode_kl", "levels_reached") if k in m}
    metrics.update({f"eval/{k}": float(v) for k, v in m.items() if "/" in k})
    metrics["eval/num_modes"] = float(num_modes)
    metrics["timing/eval_steps_per_s"] = float(m.get("steps_per_second", 0.0))
    metrics["timing/eval_wall_s"] = float(m.get("wall_seconds", 0.0))
    return metrics


def evaluate_policy(task, policy, *, seed: int, act_kwargs: dict | None = None,
                    num_samples: int = 10_000, reference: np.ndarray | None = None,
                    videos: int = 0, video_dir: Path | None = None, parallel: bool = True,
                    reference_modes=None):
    """Score `policy` on `task`, seeded; returns (metrics under eval/ and timing/, the task's
    `TaskEvaluation`). Toy options: `num_samples`, `reference` (the teacher's samples, for the
    distance to the teacher); rollout options: `videos`, `video_dir`, `parallel`,
    `reference_modes` (the demonstrations' modes, for the mode KL). Rollouts draw from torch's
    global generator (seeded here), so a seed gives the same rollouts in any process."""
    policy_view = view(policy, cameras=getattr(task, "camera_names", ()), **(act_kwargs or {}))
    if hasattr(task, "target"):  # scored against an exact target by samples
        result = task.evaluate(policy_view, seed=seed, num_samples=num_samples,
                               reference=reference)
        return {f"eval/{k}": v for k, v in result.metrics.items()}, result
    torch.manual_seed(seed)
    was_training = getattr(policy, "training", False)
    policy.eval()
    try:
        result = task.evaluate(policy_view, seed=seed, parallel=parallel, videos=videos,
                               video_dir=video_dir, reference_modes=reference_modes)
    finally:
        policy.train(was_training)
    return rollout_metrics(result.metrics, task.num_modes), result
