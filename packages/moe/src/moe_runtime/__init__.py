"""Run an exported MoE policy (`MoEPolicy.export_onnx`) with ONNX Runtime: numpy in, numpy out.

Needs numpy and onnxruntime only: no torch and none of this project's packages, so a robot
stack can install it alone or copy this one file. `OnnxPolicy.act` keeps the observation
window as `MoEPolicy.act` does (the first observation repeated at the start of an episode;
`reset()` between episodes) and draws the expert choice's uniform `u` from its own generator.

    policy = OnnxPolicy("policy.onnx")           # CUDA first where available, else the CPU
    policy.reset()
    action = policy.act(obs)                     # (O,) -> (A,), or (B, O) -> (B, A)

Threads: one intra-op thread by default (`DEFAULT_THREADS`; scripts/bench_export.py). The
network is a few hundred thousand parameters: a second thread buys nothing at batch 1 and,
on a machine whose cores are busy, costs several-fold (threads wait for each other).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

__all__ = ["DEFAULT_THREADS", "FORMAT", "OnnxPolicy", "default_providers"]

FORMAT = "vdd-moe-onnx/1"  # the `moe.format` metadata this runtime reads (moe.export.FORMAT)
DEFAULT_THREADS = 1
_PREFERRED = ("CUDAExecutionProvider", "CPUExecutionProvider")


def default_providers() -> list[str]:
    """ONNX Runtime providers to use: CUDA first when this onnxruntime build has it, then CPU."""
    available = ort.get_available_providers()
    return [p for p in _PREFERRED if p in available]


class OnnxPolicy:
    """An exported MoE policy in an ONNX Runtime session, with the control loop's window.

    `providers`: ONNX Runtime execution providers in order of preference (default
    `default_providers()`); `threads`: intra-op CPU threads (default `DEFAULT_THREADS`);
    `seed`: the generator of the uniform draws that pick experts (sampling files only).
    """

    def __init__(self, path: str | os.PathLike, *, providers: Sequence[str] | None = None,
                 threads: int = DEFAULT_THREADS, seed: int | None = None) -> None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(path), sess_options=opts,
            providers=list(providers) if providers is not None else default_providers())
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("moe.format") != FORMAT:
            raise ValueError(f"{path} is not an exported MoE policy of format {FORMAT!r} "
                             f"(metadata moe.format={meta.get('moe.format')!r})")
        self.window = int(meta["moe.window"])
        self.obs_dim = int(meta["moe.obs_dim"])
        self.action_dim = int(meta["moe.action_dim"])
        self.greedy = meta["moe.greedy"] == "true"
        batch = meta.get("moe.batch", "any")
        self.batch = None if batch == "any" else int(batch)  # None: any batch size
        self.metadata = dict(meta)
        self._rng = np.random.default_rng(seed)
        self._window: np.ndarray | None = None  # (B, window, O), the newest step last

    @property
    def providers(self) -> list[str]:
        """The providers the session actually uses."""
        return self.session.get_providers()

    def sample_actions(self, obs_BTO: Any, *, u: Any = None) -> np.ndarray:
        """Actions (B, A) for raw observation windows (B, T, O), 1 <= T <= window.

        `u` (B,): uniform draws in [0, 1) that pick the experts (drawn here when None; not
        used by a greedy file).
        """
        obs = np.ascontiguousarray(obs_BTO, dtype=np.float32)
        if self.batch is None:
            ok = (obs.ndim == 3 and obs.shape[-1] == self.obs_dim
                  and 1 <= obs.shape[1] <= self.window)
            want = f"(batch, 1..{self.window}, {self.obs_dim})"
        else:
            ok = obs.shape == (self.batch, self.window, self.obs_dim)
            want = f"({self.batch}, {self.window}, {self.obs_dim}) (a fixed-batch file)"
        if not ok:
            raise ValueError(f"observations must be shaped {want}, got {obs.shape}")
        return self._run(obs, u)

    def _run(self, obs: np.ndarray, u: Any) -> np.ndarray:
        """One session run on a checked float32 window (B, T, O)."""
        if self.greedy:
            return self.session.run(None, {"obs": obs})[0]
        if u is None:
            u = self._rng.random(obs.shape[0], dtype=np.float32)
        else:
            u = np.ascontiguousarray(u, dtype=np.float32).reshape(-1)
            if u.shape != (obs.shape[0],):
                raise ValueError(f"u must be shaped ({obs.shape[0]},), got {u.shape}")
        return self.session.run(None, {"obs": obs, "u": u})[0]

    def act(self, obs: Any, *, u: Any = None) -> np.ndarray:
        """Control-loop call: one raw observation (O,) or a batch (B, O) -> action (A,) / (B, A).

        Keeps the last `window` observations; call `reset()` between episodes (and when the
        number of environments changes).
        """
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None]
        if x.ndim != 2 or x.shape[-1] != self.obs_dim:
            raise ValueError(f"act expects one observation ({self.obs_dim},) or a batch "
                             f"(B, {self.obs_dim}), got {np.shape(obs)}")
        w = self._window
        if w is not None and w.shape[0] != x.shape[0]:
            raise ValueError(f"act got a batch of {x.shape[0]} after batches of {w.shape[0]}; "
                             "call reset() when the number of environments changes")
        if self.batch is not None and x.shape[0] != self.batch:
            raise ValueError(f"this file was exported for batch {self.batch}, act got "
                             f"{x.shape[0]} observation(s)")
        if w is None:  # start of an episode: the first observation fills the window
            w = self._window = np.repeat(x[:, None], self.window, axis=1)
        else:  # copies: the caller may reuse its observation buffer
            w[:, :-1] = w[:, 1:]
            w[:, -1] = x
        action = self._run(w, u)
        return action[0] if single else action

    def reset(self) -> None:
        """Forget the observation window (call at the start of every episode)."""
        self._window = None
