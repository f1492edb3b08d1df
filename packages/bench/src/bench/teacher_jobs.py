"""Teacher trainings side by side: independent (kind, seed) jobs in worker processes.

On a small CPU one torch thread per process is several times faster for these small GPTs than
torch's default two threads beside a busy neighbour (SETUP-NOTES), so the trainings a run
needs are spread over `workers` processes with one thread each; each writes its teacher to the
cache, and the driver then loads them from there as usual. Workers rebuild the gin state from
the driver's config text, so a teacher trained here is the one `load_or_train_teacher` would
have trained in the driver (same key, same seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["TeacherJob", "JobResult", "train_job", "train_side_by_side", "train_uncached"]


@dataclass(frozen=True)
class TeacherJob:
    kind: str
    seed: int  # training seed


@dataclass(frozen=True)
class JobResult:
    job: TeacherJob
    wall_s: float
    history: list[tuple[int, dict[str, float]]]  # (iteration, training stats) every log_every


def _init(config_text: str, threads: int) -> None:
    import gin
    import torch

    import bench.configurables  # noqa: F401  (registers what the config names)

    torch.set_num_threads(threads)
    gin.clear_config()
    gin.parse_config(config_text)


def train_job(job: TeacherJob, task, dataset, data_seed: int, cache_dir: str,
              trainer_config, device: str = "cpu", precision: str = "fp32") -> JobResult:
    """Train (or load) the teacher of `job` on `device` into `cache_dir`: its wall time and
    curve."""
    from bench.teacher_store import load_or_train_teacher

    history: list[tuple[int, dict[str, float]]] = []
    teacher = load_or_train_teacher(job.kind, task, dataset, data_seed, cache_dir=cache_dir,
                                    trainer_config=replace(trainer_config, bar=False),
                                    train_seed=job.seed, device=device, precision=precision,
                                    on_log=lambda it, s: history.append((it, dict(s))))
    return JobResult(job, teacher.train_wall_s, history)


def train_side_by_side(jobs: Sequence[TeacherJob], task, dataset: dict[str, np.ndarray], *,
                       data_seed: int, cache_dir: str | Path, trainer_config, config_text: str,
                       workers: int, threads: int = 1, device: str = "cpu",
                       precision: str = "fp32") -> dict[TeacherJob, JobResult]:
    """Train `jobs` (uncached teachers) on `workers` processes of `threads` torch threads each,
    every model on `device` (a CUDA device is shared by the workers); returns their wall times
    and training curves. A failure in a worker is raised here."""
    import multiprocessing as mp

    if not jobs:
        return {}
    ctx = mp.get_context("spawn")  # fresh interpreters: no forked torch or MLflow state
    with ctx.Pool(min(workers, len(jobs)), initializer=_init,
                  initargs=(config_text, threads)) as pool:
        pending = [(job, pool.apply_async(train_job, (job, task, dataset, data_seed,
                                                   str(cache_dir), trainer_config, str(device),
                                                   precision)))
                   for job in jobs]
        return {job: result.get() for job, result in pending}


def train_uncached(jobs: Sequence[tuple[str, int]], task, dataset, *, data_seed: int,
                   cache_dir: str | Path, trainer_config, workers: int, device: str = "cpu",
                   precision: str = "fp32") -> dict[tuple[str, int], JobResult]:
    """Train those of the (kind, training seed) `jobs` that are not cached yet side by side on
    `workers` processes, when that is two or more of each; {(kind, seed): JobResult} of those
    trained here (the rest the driver loads or trains itself)."""
    import gin

    from bench.teacher_store import is_cached, teacher_path

    todo = [TeacherJob(kind, seed) for kind, seed in jobs
            if not is_cached(teacher_path(kind, task, data_seed, cache_dir=cache_dir,
                                          train_seed=seed))]
    if workers < 2 or len(todo) < 2:
        return {}
    print(f"[bench] training {len(todo)} teachers side by side on {min(workers, len(todo))} "
          f"processes (one torch thread each, models on {device})", flush=True)
    done = train_side_by_side(todo, task, dataset, data_seed=data_seed, cache_dir=cache_dir,
                              trainer_config=trainer_config, config_text=gin.config_str(),
                              workers=workers, device=str(device), precision=precision)
    return {(job.kind, job.seed): result for job, result in done.items()}
