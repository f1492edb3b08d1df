"""The training loop: draw batches, call `algorithm.update`, guard against NaN, checkpoint.

Algorithms own their optimisers and return stats; this loop owns batching, progress display,
checkpoints and the callbacks through which the bench logs. It never logs by itself.

Batches are drawn on the policy's device (the dataset is moved there once). A stat may be a
0-dim tensor on the device: the loop reads stats back to the host only every `log_every`
iterations and before a checkpoint (one copy for all of them), so a CUDA training step does not
wait for the GPU; a NaN is still reported at the iteration it appeared.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gin
import numpy as np
import torch
from tqdm.auto import tqdm

from bench.devices import training_autocast
from bench.errors import TrainingDiverged
from bench.progress import ProgressLines, is_terminal

__all__ = ["TrainerConfig", "TrainResult", "Trainer"]


@gin.configurable(module="bench")
@dataclass(frozen=True)
class TrainerConfig:
    """How the loop reports: stats every `log_every`, a checkpoint every `checkpoint_every`.

    `progress`: show progress at all; a tqdm bar where stderr is a terminal (`bar`), and
    where stdout is not a terminal (a log file) a line every `progress_every` iterations or
    `progress_seconds` seconds, whichever comes first. `bar = False` prints lines instead of a
    bar also on a terminal (trainings side by side in worker processes)."""

    log_every: int = 50
    checkpoint_every: int = 500
    progress: bool = True
    bar: bool = True
    progress_every: int = 1000
    progress_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError(
                f"TrainerConfig needs log_every, checkpoint_every >= 1, got "
                f"{self.log_every!r}, {self.checkpoint_every!r}"
            )
        if (not isinstance(self.progress_every, int) or isinstance(self.progress_every, bool)
                or self.progress_every < 1):
            raise ValueError(f"TrainerConfig.progress_every must be an int >= 1, got "
                             f"{self.progress_every!r}")
        if (not isinstance(self.progress_seconds, (int, float))
                or isinstance(self.progress_seconds, bool) or not self.progress_seconds > 0):
            raise ValueError(f"TrainerConfig.progress_seconds must be a number > 0, got "
                             f"{self.progress_seconds!r}")


@dataclass
class TrainResult:
    iterations: int
    wall_s: float
    final_stats: dict[str, float]
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)


class Trainer:
    """Runs `iterations` updates of `algorithm` on batches drawn from `dataset`."""

    def __init__(
        self,
        algorithm,
        dataset: dict[str, np.ndarray],
        *,
        iterations: int,
        batch_size: int,
        checkpoint_dir: str | Path,
        seed: int,
        config: TrainerConfig,
        label: str = "train",
        precision: str = "fp32",
    ) -> None:
        self.algorithm, self.config, self.label = algorithm, config, label
        self.iterations, self.batch_size = iterations, batch_size
        self.checkpoint_dir = Path(checkpoint_dir)
        self.device = next(algorithm.policy.parameters()).device
        self.precision = precision  # "bf16": updates under autocast (CUDA only)
        obs = dataset["obs"]
        # lazy windows (image datasets) build just the drawn windows, on the policy's device
        self.obs = (obs if hasattr(obs, "gather_batch")
                    else torch.as_tensor(obs, dtype=torch.float32).to(self.device))
        self.actions = torch.as_tensor(dataset["actions"], dtype=torch.float32).to(self.device)
        self.rng = np.random.default_rng(seed)
        self.last_good: int | None = None

    def _batch(self) -> dict[str, torch.Tensor]:
        idx = self.rng.integers(0, len(self.obs), self.batch_size)
        rows = torch.as_tensor(idx).to(self.device, non_blocking=True)
        if hasattr(self.obs, "gather_batch"):
            obs = self.obs.gather_batch(idx, self.device)
        else:
            obs = self.obs[rows]
        # "index": the dataset rows drawn (IMC keeps a posterior per data point)
        return {"obs": obs, "actions": self.actions[rows], "index": rows}

    def _read_back(self, pending: list[tuple[int, dict]]) -> list[tuple[int, dict[str, float]]]:
        """`pending` stats as floats (tensors copied to the host at once); raises
        TrainingDiverged at the first iteration with a NaN or infinite stat."""
        tensors = [v for _, st in pending for v in st.values() if torch.is_tensor(v)]
        values = iter(torch.stack([t.detach().double().reshape(()) for t in tensors]).tolist()
                      if tensors else [])
        out = []
        for it, st in pending:
            floats = {k: next(values) if torch.is_tensor(v) else float(v) for k, v in st.items()}
            bad = {k: v for k, v in floats.items() if not math.isfinite(v)}
            if bad:
                kept = (f"last good checkpoint (iteration {self.last_good}) kept at "
                        f"{self.checkpoint_dir}" if self.last_good is not None
                        else "no checkpoint had been written yet")
                raise TrainingDiverged(
                    f"{self.label}: training diverged at iteration {it} "
                    f"({', '.join(f'{k}={v}' for k, v in bad.items())}); {kept}"
                )
            out.append((it, floats))
        return out

    def _checkpoint(self, iteration: int) -> None:
        policy = self.algorithm.policy
        if all(torch.isfinite(p).all() for p in policy.parameters()):
            policy.save(self.checkpoint_dir, extra={"iteration": iteration})
            self.last_good = iteration

    def fit(
        self,
        *,
        on_log: Callable[[int, dict[str, float]], None] | None = None,
        on_iteration: Callable[[int], None] | None = None,
    ) -> TrainResult:
        """Train; `on_iteration(i)` runs after update i (and with i=0 before the first)."""
        cfg = self.config
        history: list[tuple[int, dict[str, float]]] = []
        if on_iteration:
            on_iteration(0)
        self._checkpoint(0)
        start = time.perf_counter()
        stats: dict[str, float] = {}
        bar = tqdm(range(1, self.iterations + 1), desc=self.label, leave=False, mininterval=0.5,
                   disable=None if cfg.progress and cfg.bar else True)  # None: on a terminal
        lines = None
        if cfg.progress and (not cfg.bar or not is_terminal(sys.stdout)):
            lines = ProgressLines(label=self.label, total=self.iterations,
                                  every=cfg.progress_every, seconds=cfg.progress_seconds)
        pending: list[tuple[int, dict]] = []  # stats not read back to the host yet
        for it in bar:
            batches = [self._batch() for _ in range(self.algorithm.batches_per_update)]
            with training_autocast(self.device, self.precision):
                pending.append((it, self.algorithm.update(batches).to_dict()))
            if on_iteration:
                on_iteration(it)
            log_now = it % cfg.log_every == 0 or it == self.iterations
            checkpoint_now = it % cfg.checkpoint_every == 0 or it == self.iterations
            line_now = lines is not None and lines.due(it)
            if log_now or checkpoint_now or line_now:
                for done, stats in self._read_back(pending):
                    if done % cfg.log_every == 0 or done == self.iterations:
                        history.append((done, stats))
                        if on_log:
                            on_log(done, stats)
                pending.clear()
                if log_now:
                    key, value = next(iter(stats.items()))
                    bar.set_postfix({key: f"{value:.3f}"})
            if line_now:
                lines.update(it, stats)
            if checkpoint_now:
                self._checkpoint(it)
        return TrainResult(self.iterations, time.perf_counter() - start, stats, history)
