"""Inference cost of a policy: forward passes per action and milliseconds per action.

Measured in this process on the policy's device, at batch 1 (one robot) and batch 256 (a
parallel evaluation): ms per action is the latency of one call that returns an action for
every element of the batch, the observations already on the device. With `compiled` on a CUDA
device the calls are also timed through CUDA graphs (`bench.compiled`), under
`timing/ms_per_action_b<B>_compiled`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from bench.compiled import CompiledSampler
from bench.devices import synchronize

__all__ = ["time_call", "measure_inference"]


def time_call(fn: Callable[[], object], *, repeats: int, warmup: int = 3,
              device: str | torch.device = "cpu") -> float:
    """Median wall time of fn() in milliseconds (`device` synchronised after each call)."""
    device = torch.device(device)

    def sync() -> None:
        synchronize(device)

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
                      batch_sizes: tuple[int, ...] = (1, 256),
                      device: str | torch.device = "cpu",
                      compiled: bool = False) -> dict[str, float]:
    """Timing metrics of `sample_fn(obs (B, T, O)) -> actions` on copies of one window (T, O)
    on `device` (and, with `compiled` on CUDA, through CUDA graphs as well)."""
    device = torch.device(device)
    window = torch.as_tensor(obs_window, dtype=torch.float32).to(device)
    out = {"timing/forward_passes_per_action": float(forward_passes)}
    fast = CompiledSampler(sample_fn, device=device) if compiled else None
    for b in batch_sizes:
        obs = window.unsqueeze(0).expand(b, *window.shape).contiguous()
        out[f"timing/ms_per_action_b{b}"] = time_call(lambda: sample_fn(obs), repeats=repeats,
                                                      device=device)
        if fast is not None and fast.active:
            ms = time_call(lambda: fast(obs), repeats=repeats, device=device)
            if fast.active:  # it did not fall back while being timed
                out[f"timing/ms_per_action_b{b}_compiled"] = ms
    return out
