"""Sampling through CUDA graphs: `CompiledSampler(fn, device=...)` calls `fn` compiled with
`torch.compile(mode="reduce-overhead")` (CUDA graphs: one launch per call instead of one per
kernel, what a batch-1 action needs) on a CUDA device, and `fn` itself everywhere else. If
compiling or a compiled call fails, it says so in one line and stays eager from then on, so a
torch without a working compiler still times and acts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["CompiledSampler"]


def _reduce_overhead(fn: Callable) -> Callable:
    return torch.compile(fn, mode="reduce-overhead", dynamic=False)


class CompiledSampler:
    """`fn` through CUDA graphs on CUDA (`active`), eager on the CPU or after a failure
    (`fallback` says why). Outputs are copied out of the graph's memory before returning."""

    def __init__(self, fn: Callable[..., Any], *, device: str | torch.device,
                 compiler: Callable[[Callable], Callable] = _reduce_overhead) -> None:
        self.fn, self.device = fn, torch.device(device)
        self.fallback = ""
        self._compiled: Callable | None = None
        if self.device.type == "cuda":
            try:
                self._compiled = compiler(fn)
            except Exception as e:  # noqa: BLE001  (no compiler here: eager)
                self._fall_back(e)

    @property
    def active(self) -> bool:
        """Whether calls go through the compiled function."""
        return self._compiled is not None

    def _fall_back(self, error: BaseException) -> None:
        self._compiled = None
        self.fallback = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        print(f"[bench] compiled sampling unavailable, eager instead ({self.fallback})",
              file=sys.stderr, flush=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is not None:
            try:
                mark = getattr(torch.compiler, "cudagraph_mark_step_begin", None)
                if mark is not None:
                    mark()
                out = self._compiled(*args, **kwargs)
                return out.clone() if torch.is_tensor(out) else out
            except Exception as e:  # noqa: BLE001  (the graph failed: eager from now on)
                self._fall_back(e)
        return self.fn(*args, **kwargs)
