"""What one invocation is asked to do: `Benchmark`, the frozen settings a .gin file configures.

Constructing it validates every setting (task, method names, student, algorithm and teacher
configs), so a bad config fails before training; `plan()` turns it into teacher jobs and cells
(`bench.plan`), and `run()` executes them (`bench.invocation`). The dataset is generated once
from `data_seed`. With `teacher_per_seed` (default) a seed is a whole pipeline: seed s trains
its own teachers (cached per seed) and its rows use them; without it one teacher per kind
(seeded by `data_seed`) serves every seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import gin

from bench import methods as M
from bench.devices import check_device_spec, check_precision, resolve_device
from bench.errors import ConfigError
from bench.executors.options import RayOptions
from bench.teacher_store import teacher_configs
from bench.trainer import TrainerConfig

__all__ = ["Benchmark"]


@gin.configurable(module="bench")
@dataclass(frozen=True)
class Benchmark:
    """Settings of one invocation (gin: `Benchmark.task = @Toy2D()` etc.)."""

    task: object = gin.REQUIRED
    methods: Sequence[str] = gin.REQUIRED
    teachers: Sequence[str] = ("beso", "ddpm")  # trained teacher kinds this config provides
    seeds: Sequence[int] = (0,)
    data_seed: int = 0
    teacher_per_seed: bool = True  # seed s trains its own teachers (False: one shared teacher)
    output_dir: str = "outputs"
    cache_dir: str = "outputs/cache"
    eval_samples: int = 10_000
    snapshot_iterations: Sequence[int] = (0, 100, 300)  # plus the last iteration
    timing_repeats: int = 50
    videos: int = 2  # rod tasks: rollout videos (GIF) logged per method for the first seed
    parallel_eval: bool = True  # rod tasks: subprocess vector envs (False: in-process)
    # torch threads of this process; 0: 1 for state tasks (small GPTs run fastest so on a small
    # CPU, also beside a busy neighbour), all cores for image tasks (CNNs scale)
    threads: int = 0
    # processes training uncached teachers side by side (one thread each); 0: one per core for
    # state tasks (used when two or more teachers need training), else in this process
    teacher_workers: int = 0
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    executor: str = "local"  # what runs the plan: "local" (this process) or "ray" (a cluster)
    experiment: str = ""  # the MLflow experiment ("": the task's name)
    ray: RayOptions = field(default_factory=RayOptions)  # the cluster and its task resources
    # where every model and batch lives (bench.devices): "auto" (CUDA when available), "cpu",
    # "cuda" or "cuda:N"; resolved where the work runs (a Ray worker resolves its own)
    device: str = "auto"
    precision: str = "fp32"  # "bf16": autocast while training, CUDA only
    compile_act: bool = False  # CUDA: time sampling through torch.compile (CUDA graphs)

    def __post_init__(self) -> None:
        if self.task is gin.REQUIRED or self.methods is gin.REQUIRED:
            raise ConfigError("Benchmark.task and Benchmark.methods must be set in the gin file")
        if not hasattr(self.task, "make_dataset") or not hasattr(self.task, "evaluate"):
            raise ConfigError(f"Benchmark.task must be a task such as @Toy2D(), got "
                              f"{self.task!r}")
        if (isinstance(self.seeds, str) or not self.seeds
                or any(not isinstance(s, int) or isinstance(s, bool) or s < 0
                       for s in self.seeds)):
            raise ConfigError(f"Benchmark.seeds must be non-negative ints, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds) or max(self.seeds) > 2**32 - 1:
            raise ConfigError(f"Benchmark.seeds must be distinct and at most 2**32-1 (numpy's "
                              f"seed range), got {list(self.seeds)!r}")
        snaps = self.snapshot_iterations
        if isinstance(snaps, str) or any(not isinstance(i, int) or isinstance(i, bool) or i < 0
                                         for i in snaps):
            raise ConfigError(f"Benchmark.snapshot_iterations must list ints >= 0, got "
                              f"{snaps!r}")
        if not isinstance(self.experiment, str):
            raise ConfigError(f"Benchmark.experiment must be a string, got {self.experiment!r}")
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"Benchmark.executor must be 'local' or 'ray', got "
                              f"{self.executor!r}")
        check_device_spec(self.device)
        check_precision(self.precision, self.device)
        if not isinstance(self.compile_act, bool):
            raise ConfigError(f"Benchmark.compile_act must be True or False, got "
                              f"{self.compile_act!r}")
        if not isinstance(self.teacher_per_seed, bool):
            raise ConfigError(f"Benchmark.teacher_per_seed must be True or False, got "
                              f"{self.teacher_per_seed!r}")
        for name in ("videos", "threads", "teacher_workers"):  # threads, workers: 0 = automatic
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"Benchmark.{name} must be an int >= 0, got {value!r}")
        if self.eval_samples < 1 or self.timing_repeats < 1:
            raise ConfigError(
                f"Benchmark.eval_samples and timing_repeats must be >= 1, got "
                f"{self.eval_samples!r}, {self.timing_repeats!r}"
            )
        kinds = M.trained_teachers()
        if isinstance(self.teachers, str) or any(t not in kinds for t in self.teachers):
            raise ConfigError(f"Benchmark.teachers must list kinds of {kinds}, "
                              f"got {self.teachers!r}")
        try:  # build every config once so a bad value stops us before training
            M.student_config(self.task)
            M.StudentEncoder()
            for m in self.method_specs:
                if m.role == "student":
                    M.algorithm_config(m)
                    if m.is_moe:
                        M.student_config(self.task, m)
            for kind in self.teacher_kinds:
                teacher_configs(kind, self.task)
        except (ValueError, TypeError) as e:
            raise ConfigError(" ".join(str(e).split())) from e

    @property
    def method_specs(self) -> list[M.Method]:
        """The methods, resolved and checked against the task and the teachers provided."""
        return M.resolve_methods(list(self.methods), self.task, self.teachers)

    @property
    def teacher_kinds(self) -> list[str]:
        """The trained teacher kinds the methods need, in order of first use."""
        kinds = M.trained_teachers()
        return list(dict.fromkeys(m.teacher for m in self.method_specs if m.teacher in kinds))

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment the runs go to (`experiment`, default the task's name)."""
        return self.experiment or self.task.name

    def teacher_seed(self, seed: int) -> int:
        """The training seed of the teachers that seed `seed` evaluates and distils from."""
        return seed if self.teacher_per_seed else self.data_seed

    @property
    def protocol(self) -> str:
        """Which teachers the seeds use, as the tables state it."""
        return ("teachers: one per seed" if self.teacher_per_seed
                else f"teachers: one shared (data seed {self.data_seed})")

    def torch_threads(self) -> int:
        """The torch threads this invocation uses (see `threads`)."""
        return self.threads or ((os.cpu_count() or 1) if self.task.is_image else 1)

    def torch_device(self):
        """The resolved `torch.device` of `device` here (ConfigError: CUDA asked, none here)."""
        return resolve_device(self.device, self.precision)

    def teacher_processes(self) -> int:
        """How many processes train uncached teachers side by side (see `teacher_workers`):
        automatic on CUDA, up to 4 share the GPU (small GPTs leave it mostly idle alone)."""
        if self.teacher_workers:
            return self.teacher_workers
        if self.task.is_image:
            return 1
        cores = os.cpu_count() or 1
        return min(4, cores) if self.torch_device().type == "cuda" else cores

    def plan(self):
        """The invocation as data: teacher jobs and (method, seed) cells (`bench.plan.Plan`)."""
        from bench.plan import make_plan

        return make_plan(self)

    def run(self, *, config_text: str = "", invocation: str = ""):
        """Execute the plan in this process (`bench.invocation.Invocation`); returns its
        `BenchmarkResult`."""
        from bench.invocation import Invocation

        return Invocation(self, config_text=config_text, command=invocation).run()
