"""Inference cost of a policy: forward passes per action and milliseconds per action.

Measured in this process on the policy's device, at batch 1 (one robot) and batch 256 (a
parallel evaluation): ms per action is the latency of one call that returns an action for
every element of the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

__all__ = ["time_call", "measure_inference"]


def time_call(fn: Callable[[], object], *, repeats: int, warmup: int = 3) -> float:
    """Median wall time of fn() in milliseconds (CUDA synchronised if in use)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


@torch.no_grad()
def measure_inference(sample_fn: Callable[[torch.Tensor], object], obs_window, *,
                      forward_passes: int, repeats: int = 50,
                      batch_sizes: tuple[int, ...] = (1, 256)) -> dict[str, float]:
    """Timing metrics of `sample_fn(obs (B, T, O)) -> actions` on copies of one window (T, O)."""
    window = torch.as_tensor(obs_window, dtype=torch.float32)
    out = {"timing/forward_passes_per_action": float(forward_passes)}
    for b in batch_sizes:
        obs = window.unsqueeze(0).expand(b, *window.shape).contiguous()
        out[f"timing/ms_per_action_b{b}"] = time_call(lambda: sample_fn(obs), repeats=repeats)
    return out
