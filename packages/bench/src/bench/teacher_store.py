"""Trained diffusion teachers, cached on disk under a hash of everything that determines them
(task settings, data seed, training seed, teacher architecture, training settings), so every
distillation method of a benchmark seed, and later benchmarks, use the very same teacher.

The training seed (torch init and batch order) defaults to the data seed: that is the shared
teacher of `Benchmark(teacher_per_seed=False)`, and its key leaves the training seed out, as
keys did before there were per-seed teachers, so those cached teachers stay usable (and are
the per-seed teacher of the seed equal to the data seed: the same training). Any other
training seed is part of the key, so seed s never loads the teacher of another seed.

gin configures each teacher kind under its own scope: `beso/BESOConfig.n_layer = 2`,
`beso/TeacherTrainingConfig.iterations = 3000`, `beso/BESOScore.sigma_range = (0.05, 0.2)`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import gin
import numpy as np
import torch

from bench.gin_classes import configurable
from bench.locks import file_lock, try_file_lock
from bench.records import IMAGE_FIELDS
from bench.trainer import Trainer, TrainerConfig
from moe.checkpoint import CheckpointError, read_checkpoint_meta
from teachers import TEACHERS, DiffusionAlgorithm, DiffusionPolicy, TeacherTrainingConfig

__all__ = ["sweep_stale_trainings", "teacher_configs", "teacher_key", "teacher_path",
           "is_cached", "TrainedTeacher", "load_or_train_teacher", "score_adapter",
           "image_layout"]

CACHE_FORMAT = 1  # bump when training code changes what a cached teacher means


def image_layout(task) -> dict[str, int]:
    """The task's camera layout for a policy config ({} for state observations)."""
    layout = task.image_layout() if hasattr(task, "image_layout") else {"cameras": 0}
    return layout if layout.get("cameras", 0) else {}


def teacher_configs(kind: str, task):
    """(architecture config, training config) of a teacher kind, read under gin scope `kind`."""
    make_cfg = configurable(TEACHERS[kind].config)
    with gin.config_scope(kind):
        return (make_cfg(obs_dim=task.obs_dim, action_dim=task.action_dim, window=task.window,
                         **image_layout(task)),
                configurable(TeacherTrainingConfig)())


def teacher_key(kind: str, task, data_seed: int, arch, train, *,
                train_seed: int | None = None) -> str:
    """The cache key; `train_seed` None or equal to `data_seed` gives the key of the shared
    teacher (the format from before per-seed teachers), any other seed a key of its own."""
    teacher = asdict(arch)
    if not teacher.get("cameras"):  # state-only teachers keep the keys they had before images
        teacher = {k: v for k, v in teacher.items() if k not in IMAGE_FIELDS}
    if not teacher.get("obs_motion"):  # and teachers without the motion embedding theirs
        teacher.pop("obs_motion", None)
    settings = {"format": CACHE_FORMAT, "kind": kind, "task": task.name,
                "task_settings": task.data_settings(), "data_seed": data_seed,
                "teacher": teacher, "training": asdict(train)}
    if train_seed is not None and train_seed != data_seed:
        settings["train_seed"] = train_seed
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class TrainedTeacher:
    kind: str
    policy: DiffusionPolicy
    key: str
    path: Path
    cached: bool
    train_wall_s: float  # the teacher's training wall time (as recorded in a cached one)
    seed: int  # its training seed (torch init and batch order)


def _entry(kind: str, task, data_seed: int, train_seed: int, cache_dir: str | Path):
    """(architecture config, training config, cache key, cache folder) of a teacher."""
    arch, train = teacher_configs(kind, task)
    key = teacher_key(kind, task, data_seed, arch, train, train_seed=train_seed)
    return arch, train, key, Path(cache_dir) / f"{task.name}-{kind}-{key}"


def is_cached(path: Path) -> bool:
    """Whether a finished teacher is cached at `path` (a teacher's config.json is written last)."""
    return (path / "config.json").is_file()


def quarantine(path: Path, reason: str) -> Path:
    """Move a corrupt cache entry aside (`<entry>.corrupt-<stamp>-<pid>`, kept for a look) and
    say so in one line; the caller rebuilds it."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
    os.rename(path, aside)
    print(f"[bench] cache entry {path} is corrupt ({' '.join(reason.split())}); moved aside to "
          f"{aside.name}, rebuilding it", flush=True)
    return aside


def _load_cached(cls, kind: str, path: Path, key: str, arch, data_seed: int,
                 seed: int, device: torch.device) -> TrainedTeacher | None:
    """The cached teacher at `path`, or None (after moving it aside) when the entry is corrupt:
    its files' hashes (entries written before hashes: not checked), JSON and weights (finite,
    fitting the config) are checked by `moe.checkpoint`."""
    try:
        extra = read_checkpoint_meta(path).get("extra", {})
    except CheckpointError as e:
        quarantine(path, str(e))
        return None
    stored = int(extra.get("train_seed", data_seed))  # older entries: the data seed
    if stored != seed:
        raise RuntimeError(f"cached teacher {path} was trained with seed {stored}, "
                           f"expected {seed}: remove it to retrain")
    try:
        policy = cls.load(path, expect_config=arch, device=device)
    except CheckpointError as e:
        quarantine(path, str(e))
        return None
    return TrainedTeacher(kind, policy, key, path, True, float(extra.get("train_wall_s", 0.0)),
                          seed)


def teacher_path(kind: str, task, data_seed: int, *, cache_dir: str | Path,
                 train_seed: int | None = None) -> Path:
    """Where the teacher of these settings (gin scope `kind`) is cached (see `is_cached`)."""
    seed = data_seed if train_seed is None else train_seed
    return _entry(kind, task, data_seed, seed, cache_dir)[3]


def load_or_train_teacher(kind: str, task, dataset: dict[str, np.ndarray], data_seed: int, *,
                          cache_dir: str | Path, trainer_config: TrainerConfig,
                          train_seed: int | None = None,
                          on_log: Callable[[int, dict], None] | None = None,
                          device: str | torch.device = "cpu",
                          precision: str = "fp32") -> TrainedTeacher:
    """Load the cached teacher for these settings onto `device`, or train it there (seeded by
    `train_seed`, default `data_seed`; `precision` as in `Trainer`) and cache it (saved from
    the CPU: a cache entry does not depend on the device), under the entry's file lock."""
    seed = data_seed if train_seed is None else train_seed
    arch, train, key, path = _entry(kind, task, data_seed, seed, cache_dir)
    with file_lock(path):  # two runs that need this teacher train it once
        return _load_or_train(kind, task, dataset, data_seed, seed, arch, train, key, path,
                              trainer_config, on_log, torch.device(device), precision)


def _load_or_train(kind, task, dataset, data_seed, seed, arch, train, key, path,
                   trainer_config, on_log, device, precision) -> TrainedTeacher:
    cls = TEACHERS[kind].policy
    if path.exists():
        cached = _load_cached(cls, kind, path, key, arch, data_seed, seed, device)
        if cached is not None:
            return cached
    torch.manual_seed(seed)
    policy = cls(arch)  # built on the CPU (the seeded init the CPU always drew), then moved
    policy.fit_normalizers(dataset["obs"], dataset["actions"])
    policy.to(device)
    algo = DiffusionAlgorithm(policy, train)  # its online copy: on the device too
    work = path.with_name(path.name + ".training")
    start = time.perf_counter()
    try:
        Trainer(algo, dataset, iterations=train.iterations, batch_size=train.batch_size,
                checkpoint_dir=work, seed=seed, config=trainer_config,
                label=f"teacher {kind} seed {seed}", precision=precision).fit(on_log=on_log)
        wall = time.perf_counter() - start
        policy.save(path, extra={"key": key, "iterations": train.iterations,
                                 "train_wall_s": wall, "data_seed": data_seed,
                                 "train_seed": seed})
    finally:  # the finished teacher is the cached one; an interrupted one leaves nothing
        shutil.rmtree(work, ignore_errors=True)
    return TrainedTeacher(kind, policy.eval(), key, path, False, wall, seed)


def sweep_stale_trainings(cache_dir: str | Path) -> list[Path]:
    """Remove the `<entry>.training` folders a killed invocation left in the cache: those whose
    entry lock nobody holds (a teacher being trained right now holds its lock). Returns them."""
    removed = []
    for work in sorted(Path(cache_dir).glob("*.training")):
        entry = work.with_name(work.name[: -len(".training")])
        with try_file_lock(entry) as free:
            if free and work.is_dir():
                shutil.rmtree(work, ignore_errors=True)
                removed.append(work)
    return removed


def score_adapter(kind: str, policy: DiffusionPolicy):
    """A trained teacher policy's score adapter, its noise range read under gin scope `kind`."""
    with gin.config_scope(kind):
        return configurable(TEACHERS[kind].score)(policy)
