"""A rollout task as the benchmark sees it: dimensions, cached demonstration windows, evaluation.

`RolloutTask(name="avoiding")` (or any name of `envs.task_specs.ROD_TASKS`: "aligning",
"pushing", "sorting", "sorting_image", "stacking", "stacking_image", "block_push", "kitchen",
...) ties together the env, the scripted demonstrator, the Minari-cached dataset and the
parallel evaluation runner, with the original dataset and evaluation sizes as defaults (0 = the
task's default, resolved at construction; TASKS.md). It implements `envs.Task`.

Image tasks (`spec.observation == "image"`) observe a gymnasium Dict (robot state + uint8 camera
images, `envs.image_obs`); their policies take the packed vector (`obs_dim` values: state, then
the pixels of `camera_names` in that order), which their adapter builds (`moe.pack_image_obs`)
and their training windows hold; `image_layout()` tells a policy how to split it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from envs.task import TaskEvaluation
from envs.task_specs import ROD_TASKS, RodTaskSpec, load_object

__all__ = ["RolloutTask"]


@dataclass(frozen=True)
class RolloutTask:
    """One rod task with its data and evaluation settings (gin: `RolloutTask.name = ...`)."""

    name: str
    # 0 as input: the task's original size (avoiding 96, aligning 900, pushing 1800); holds the
    # resolved size after construction
    num_demos: int = 0
    window: int = 5  # observation window of the policies (published: 5)
    # evaluation: contexts x rollouts per context; 0 as input: the original evaluation (avoiding
    # 1 x 480, aligning 60 x 8, pushing 30 x 16); hold the resolved counts after construction
    eval_contexts: int = 0
    eval_rollouts: int = 0
    num_envs: int = 0  # envs per evaluation wave (subprocesses); 0: one per core
    workers: int = 0  # data-generation workers; 0: one per core
    # DART noise injection (m, std per action dimension) while recording the demonstrations:
    # the env executes the demonstrator's action plus this noise, the data keeps the clean
    # action, so the policies see how to recover from small deviations (0: noise-free)
    demo_action_noise: float = 0.0
    # train on recorded data instead of the demonstrator's: a D4RL-layout HDF5 file (.hdf5,
    # .h5) or a Minari dataset folder (e.g. kitchen-mixed); "" generates and caches as usual
    dataset_path: str = ""
    # recorded data: keep the first this many episodes (0: all); the num_demos given as input
    _recorded_limit: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in ROD_TASKS:
            raise ValueError(f"unknown rod task {self.name!r}; choose one of {sorted(ROD_TASKS)}")
        for field_name in ("num_demos", "eval_contexts", "eval_rollouts", "num_envs", "workers"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"RolloutTask.{field_name} must be an int >= 0 (0: default), "
                                 f"got {value!r}")
        if self.window < 1:
            raise ValueError(f"RolloutTask.window must be >= 1, got {self.window!r}")
        if (not isinstance(self.demo_action_noise, (int, float))
                or isinstance(self.demo_action_noise, bool) or not self.demo_action_noise >= 0):
            raise ValueError("RolloutTask.demo_action_noise must be a number >= 0 (metres), "
                             f"got {self.demo_action_noise!r}")
        if self.demo_action_noise and self.dataset_path:
            raise ValueError("RolloutTask.demo_action_noise applies to generated data only; "
                             f"drop it or dataset_path ({self.dataset_path!r})")
        if self.dataset_path and not Path(self.dataset_path).exists():
            raise ValueError(f"RolloutTask.dataset_path {self.dataset_path!r} does not exist; "
                             "give a D4RL-layout .hdf5 file or a Minari dataset folder")
        spec = self.spec
        object.__setattr__(self, "_recorded_limit", self.num_demos)
        object.__setattr__(self, "num_demos", self.num_demos or spec.num_demos)
        object.__setattr__(self, "eval_contexts", self.eval_contexts or spec.eval_contexts)
        object.__setattr__(self, "eval_rollouts", self.eval_rollouts or spec.eval_rollouts)

    # ------------------------------------------------------------------ description
    @property
    def spec(self) -> RodTaskSpec:
        return ROD_TASKS[self.name]

    @property
    def env_class(self) -> type:
        return load_object(self.spec.env)

    @property
    def is_image(self) -> bool:
        return self.spec.observation == "image"

    @property
    def obs_dim(self) -> int:
        """Values of the policy's input per step (image tasks: the packed observation)."""
        cls = self.env_class
        return cls.packed_obs_dim() if self.is_image else cls.obs_dim

    @property
    def camera_names(self) -> tuple[str, ...]:
        """The cameras of the observation, in the order a policy's input packs them (() for
        state tasks)."""
        return tuple(self.env_class.cameras) if self.is_image else ()

    def image_layout(self) -> dict[str, int]:
        """How the observation splits: {"cameras": K, "image_size": H} (cameras 0: state only)."""
        if not self.is_image:
            return {"cameras": 0, "image_size": 96}
        return {"cameras": len(self.env_class.cameras), "image_size": 96}

    @property
    def reports_mode_kl(self) -> bool:
        """Whether the task's results report the mode KL to the demonstrations (Sorting)."""
        return bool(getattr(self.env_class, "report_mode_kl", False))

    @property
    def levels(self) -> dict[str, int]:
        """Graded success levels reported beside the main success (name -> modes)."""
        return dict(self.env_class.levels)

    @property
    def action_dim(self) -> int:
        return self.env_class.action_size()

    @property
    def num_modes(self) -> int:
        return self.spec.num_modes

    def data_settings(self) -> dict:
        """What determines the training data (keys teacher caches; not eval or worker counts)."""
        settings = {"name": self.name, "num_demos": self.num_demos, "window": self.window}
        if self.demo_action_noise:  # (keys of noise-free data are unchanged)
            settings["demo_action_noise"] = float(self.demo_action_noise)
        if self.dataset_path:  # recorded data: named by its path and size
            path = Path(self.dataset_path).absolute()
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) \
                if path.is_dir() else path.stat().st_size
            settings.update(dataset_path=str(path), dataset_bytes=size)
        return settings

    # ------------------------------------------------------------------ data
    def env_factory(self):
        """`make_env(render_mode=None)` for this task (picklable, for worker processes)."""
        return partial(self.env_class, **self.spec.env_kwargs())

    def make_env(self, render_mode: str | None = None):
        return self.env_factory()(render_mode=render_mode)

    def load_episodes(self, seed: int, *, cache_dir: str | Path, progress: bool = True):
        """The demonstrations (cached on disk under `cache_dir`), as `CachedDataset`."""
        from envs.datasets import load_or_generate

        if self.dataset_path:
            return self._read_recorded()
        return load_or_generate(self.name, self.num_demos, seed, cache_dir=cache_dir,
                                workers=self.workers or None, progress=progress,
                                action_noise=float(self.demo_action_noise))

    def _read_recorded(self):
        """The episodes of `dataset_path`, checked against the task's sizes (a `num_demos`
        given at construction keeps the first that many)."""
        from envs.datasets import CachedDataset
        from envs.recorded import read_d4rl_hdf5, read_minari

        path = Path(self.dataset_path)
        episodes = read_minari(path) if path.is_dir() else read_d4rl_hdf5(path)
        if not episodes:
            raise ValueError(f"{path} holds no episodes of at least 2 steps")
        obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
        if (obs_dim, act_dim) != (self.obs_dim, self.action_dim):
            raise ValueError(f"{path} has observations of {obs_dim} and actions of {act_dim} "
                             f"values, task {self.name!r} expects {self.obs_dim} and "
                             f"{self.action_dim}; give data recorded on this task")
        if self._recorded_limit:
            episodes = episodes[: self._recorded_limit]
        return CachedDataset(episodes, path, "recorded", True)

    def make_dataset(self, seed: int, *, cache_dir: str | Path = "outputs/cache",
                     progress: bool = True) -> dict[str, np.ndarray]:
        """Training windows obs (N, T, O), actions (N, T, A) of the cached demonstrations
        (image tasks: obs is a lazy `envs.image_store.PackedWindows`); "modes" (E,) are the
        demonstrations' modes (the reference of the mode KL)."""
        from envs.windows import make_windows

        data = self.load_episodes(seed, cache_dir=cache_dir, progress=progress)
        windows = make_windows(data.episodes, self.window, images=data.images)
        windows["modes"] = np.array([ep.mode for ep in data.episodes], dtype=np.int64)
        return windows

    def timing_window(self, dataset: dict) -> np.ndarray:
        """One observation window (T, O) to time inference on: the dataset's first."""
        return dataset["obs"][0]

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, policy, *, seed: int, parallel: bool = True, videos: int = 0,
                 video_dir: str | Path | None = None, progress: bool = True,
                 reference_modes=None) -> TaskEvaluation:
        """Roll `policy` (batch obs -> batch actions, optional reset()) out for the task's
        contexts x rollouts on vector envs. Metrics are the runner's (`envs.evaluation`);
        `raw` is its `EvalResult` (records, contexts). `reference_modes` (the demonstrations'
        modes) adds the mode KL to the metrics."""
        from envs.evaluation import evaluate

        result = evaluate(self.env_factory(), policy, num_modes=self.num_modes,
                          contexts=self.eval_contexts, rollouts_per_context=self.eval_rollouts,
                          seed=seed, num_envs=self.num_envs or None, parallel=parallel,
                          videos=videos, video_dir=video_dir, progress=progress,
                          levels=self.levels or None, reference_modes=reference_modes)
        return TaskEvaluation(metrics=result.metrics, samples=None,
                              video_paths=list(result.video_paths), raw=result)
