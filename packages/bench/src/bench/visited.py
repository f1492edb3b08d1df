"""The student's own states for VDD's on-policy expert steps (`VDDConfig.visited_share`).

`collect_visited` rolls a student out on the task's envs (the evaluation runner, its gating
sampled as in evaluation) and returns every observation window it acted on; `VisitHook` is the
trainer callback that does so whenever the algorithm asks (`visits_due()`), hands the windows
to it (`add_visited`) and logs the rollouts' success as a training curve point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.scoring import view
from moe.obs_window import ObservationWindow

__all__ = ["check_visitable", "collect_visited", "live_rows", "VisitHook"]


class _Recorder:
    """A policy view that also keeps the window (B, T, O) of every live env at every step
    (rows of finished envs, which the runner passes again unchanged, are skipped)."""

    def __init__(self, policy_view, *, window: int, obs_dim: int) -> None:
        self.view = policy_view
        self._window = ObservationWindow(window, obs_dim)
        self._last: np.ndarray | None = None
        self.windows: list[torch.Tensor] = []

    def reset(self) -> None:
        self.view.reset()
        self._window.clear()
        self._last = None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = self.view.policy_input(obs)
        win, _, _ = self._window.push(x, torch.device("cpu"))
        self.windows.append(win[torch.as_tensor(live_rows(x, self._last))])
        self._last = x.copy()
        return self.view(obs)


def live_rows(obs: np.ndarray, last: np.ndarray | None) -> np.ndarray:
    """(B,) bool: the rows of a step's observation batch (B, O) whose env is still running.
    The evaluation runner passes a finished env's last observation again, unchanged, until
    its wave ends; `last` is the previous step's batch (None at a wave's first step)."""
    if last is None or last.shape != obs.shape:
        return np.ones(len(obs), bool)
    return (obs != last).any(-1)


def check_visitable(task) -> None:
    """Raise a ValueError unless `task` is a state-based rollout task (what the student's own
    states are collected from)."""
    if not hasattr(task, "env_factory") or getattr(task, "is_image", False):
        raise ValueError(f"VDDConfig.visited_share needs a state-based rollout task, not "
                         f"{task.name!r}: set it to 0")


@torch.no_grad()
def collect_visited(task, policy, *, rollouts: int, seed: int) -> tuple[torch.Tensor, float]:
    """Roll `policy` out once in each of `rollouts` fresh contexts of `task` (one in-process
    wave, seeded by `seed`, torch's global generator left as it was); returns the raw
    observation windows it acted on (N, T, O) and the rollouts' success rate."""
    from envs.evaluation import evaluate

    check_visitable(task)
    c = policy.config
    recorder = _Recorder(view(policy), window=c.window, obs_dim=c.obs_dim)
    cuda = [policy.device.index or 0] if policy.device.type == "cuda" else []
    was_training = policy.training
    policy.eval()
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            result = evaluate(task.env_factory(), recorder, num_modes=task.num_modes,
                              contexts=rollouts, rollouts_per_context=1, seed=seed,
                              num_envs=rollouts, parallel=False, progress=False)
    finally:
        policy.train(was_training)
    return torch.cat(recorder.windows), float(result.metrics["success_rate"])


class VisitHook:
    """Trainer callback (`on_iteration(it)`): when `algorithm.visits_due()` asks for n > 0
    rollouts, collect them and `add_visited` the windows; logs `train/visited_success` and
    `train/visited_windows` at that iteration. Collection seeds differ per cell seed and
    iteration and never meet the evaluation's (its seed is the cell's seed)."""

    def __init__(self, algorithm, task, *, seed: int, log: Any = None) -> None:
        self.algorithm, self.task, self.seed, self.log = algorithm, task, seed, log
        self._due = getattr(algorithm, "visits_due", None)
        if self._due is not None and getattr(algorithm.config, "visited_share", 0):
            check_visitable(task)

    def __call__(self, iteration: int) -> None:
        n = self._due() if self._due is not None else 0
        if not n:
            return
        windows, success = collect_visited(self.task, self.algorithm.policy, rollouts=n,
                                           seed=(self.seed + 1) * 1_000_000 + iteration)
        self.algorithm.add_visited(windows)
        if self.log is not None:
            self.log({"train/visited_success": success,
                      "train/visited_windows": float(len(self.algorithm.visited))}, iteration)
