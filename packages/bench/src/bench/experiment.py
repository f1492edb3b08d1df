"""One benchmark invocation: task x methods x seeds -> teachers (trained or from the cache),
students, metrics, MLflow runs, a result table and figures.

Two kinds of task: the 2-D toy (scored against its exact target, with figures of the mixture)
and the rod tasks (`envs.RolloutTask`: demonstrations cached on disk, policies scored by
parallel rollouts with success rate and mode entropy; a few rollout videos are logged).

`Benchmark` is what a .gin file configures; constructing it validates every setting (task,
method names, student, algorithm and teacher configs), so a bad config fails before training.
The dataset is generated once from `data_seed`. With `teacher_per_seed` (default) a seed is a
whole pipeline: seed s trains its own teachers (cached per seed) and its rows use them; without
it one teacher per kind (seeded by `data_seed`) serves every seed.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import gin
import numpy as np
import torch

from bench import methods as M
from bench.errors import ConfigError
from bench.figures import draw_comparison_figure, draw_sample_figure, draw_toy_figure
from bench.published import PUBLISHED
from bench.rollout_eval import evaluate_rollouts
from bench.table import (TOY_COLUMNS, PaperTable, ResultTable, add_speedups,
                         rollout_columns, summary_line)
from bench.teacher_jobs import train_uncached
from bench.teacher_store import TrainedTeacher, load_or_train_teacher, teacher_configs
from bench.timing import measure_inference
from bench.toy_eval import ENERGY_SAMPLES, evaluate_toy, sample_metrics, snapshot
from bench.trainer import Trainer, TrainerConfig
from envs import energy_distance
from moe import MoEPolicy

__all__ = ["Benchmark", "BenchmarkResult"]


@dataclass
class BenchmarkResult:
    rows: list[dict]
    table: ResultTable
    output_dir: Path
    parent_run_id: str


@gin.configurable(module="bench")
@dataclass
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

    def __post_init__(self) -> None:
        if self.task is gin.REQUIRED or self.methods is gin.REQUIRED:
            raise ConfigError("Benchmark.task and Benchmark.methods must be set in the gin file")
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"Benchmark.seeds must be non-negative ints, got {self.seeds!r}")
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
        bad = [t for t in self.teachers if t not in M.TRAINED_TEACHERS]
        if isinstance(self.teachers, str) or bad:
            raise ConfigError(f"Benchmark.teachers must list kinds of {list(M.TRAINED_TEACHERS)}, "
                              f"got {self.teachers!r}")
        self.method_specs = M.resolve_methods(list(self.methods), self.task, self.teachers)
        self.teacher_kinds = list(dict.fromkeys(
            m.teacher for m in self.method_specs if m.teacher in M.TRAINED_TEACHERS))
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

    def teacher_seed(self, seed: int) -> int:
        """The training seed of the teachers that seed `seed` evaluates and distils from."""
        return seed if self.teacher_per_seed else self.data_seed

    @property
    def protocol(self) -> str:
        """Which teachers the seeds use, as the tables state it."""
        return ("teachers: one per seed" if self.teacher_per_seed
                else f"teachers: one shared (data seed {self.data_seed})")

    @property
    def _is_image(self) -> bool:
        return bool(getattr(self.task, "is_image", False))

    def torch_threads(self) -> int:
        """The torch threads this invocation uses (see `threads`)."""
        return self.threads or ((os.cpu_count() or 1) if self._is_image else 1)

    def teacher_processes(self) -> int:
        """How many processes train uncached teachers side by side (see `teacher_workers`)."""
        return self.teacher_workers or (1 if self._is_image else (os.cpu_count() or 1))

    @property
    def is_rollout(self) -> bool:
        """Whether the task is scored by rollouts (rod tasks) rather than against a target."""
        return hasattr(self.task, "evaluate")

    def _dataset(self) -> dict:
        if self.is_rollout:
            data = self.task.make_dataset(self.data_seed, cache_dir=self.cache_dir)
            print(f"[bench] {self.task.name} dataset: {self.task.demos} demonstrations, "
                  f"{len(data['obs'])} windows of {self.task.window} steps (cached under "
                  f"{Path(self.cache_dir) / 'datasets'})", flush=True)
            return data
        return self.task.make_dataset(self.data_seed)

    def _timing_window(self, dataset):
        """One observation window (T, O) to time inference on."""
        return dataset["obs"][0] if self.is_rollout else self.task.observation(1)[0]

    # ------------------------------------------------------------------ running
    def run(self, *, config_text: str = "", invocation: str = "") -> BenchmarkResult:
        from bench.tracking import Tracker  # mlflow import is slow: only when running

        task = self.task
        torch.set_num_threads(self.torch_threads())
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(self.output_dir) / task.name / stamp
        out.mkdir(parents=True, exist_ok=True)
        tracker = Tracker(experiment=task.name, run_name=f"{task.name}-{stamp}",
                          tags={"task": task.name, "invocation": invocation,
                                "methods": ",".join(self.methods),
                                "teachers": "per_seed" if self.teacher_per_seed else "shared"})
        parent = tracker.parent
        print(f"[bench] task {task.name}: methods {list(self.methods)} x seeds "
              f"{list(self.seeds)} ({self.protocol}; torch threads {torch.get_num_threads()});"
              f" MLflow experiment '{task.name}' at {tracker.tracking_uri}, outputs in {out}",
              flush=True)
        if config_text:
            (out / "config.gin").write_text(config_text)
            parent.log_text(config_text, "config.gin")
        rows, run_ids, figure_runs, samples = [], [], {}, {}
        self._teacher_samples: dict[tuple[str, int], np.ndarray] = {}
        status = "FAILED"
        try:
            dataset = self._dataset()
            self._window = self._timing_window(dataset)
            self._reference_modes = dataset.get("modes")
            jobs = [(kind, s) for s in dict.fromkeys(map(self.teacher_seed, self.seeds))
                    for kind in self.teacher_kinds]
            trained = train_uncached(jobs, task, dataset, data_seed=self.data_seed,
                                     cache_dir=self.cache_dir, trainer_config=self.trainer,
                                     workers=self.teacher_processes())
            teachers = {(kind, s): self._teacher(kind, s, dataset, tracker,
                                                 trained.get((kind, s)))
                        for kind, s in jobs}
            for method in self.method_specs:
                for seed in self.seeds:
                    teacher = teachers.get((method.teacher, self.teacher_seed(seed)))
                    if method.role == "student":
                        row, snaps, draws, run_id = self._run_student(
                            method, seed, dataset, teacher, tracker, out, config_text)
                        if seed == self.seeds[0] and snaps:
                            figure_runs[f"{method.name} (seed {seed})"] = snaps
                    else:
                        row, draws, run_id = self._run_teacher(method, seed, teacher, tracker,
                                                               out)
                    rows.append(row)
                    run_ids.append(run_id)
                    if seed == self.seeds[0] and draws is not None:
                        samples[method.name] = draws
            references = self._speedup_references()
            add_speedups(rows, references)
            for row, run_id in zip(rows, run_ids):
                if "timing/speedup_vs_teacher" in row:
                    tracker.run(run_id).log_metrics(
                        {"timing/speedup_vs_teacher": row["timing/speedup_vs_teacher"]})
            table = ResultTable(rows, self._columns())
            paper = self._paper_table(table)
            (out / "results.md").write_text(table.markdown())
            (out / "results.csv").write_text(table.csv())
            (out / "results_paper.md").write_text(paper.markdown())
            for name in ("results.md", "results.csv", "results_paper.md"):
                parent.log_artifact(out / name)
            quality = (("eval/success_rate", "success rate") if self.is_rollout
                       else ("eval/energy_distance", "energy distance (lower is better)"))
            parent.log_artifact(draw_comparison_figure(
                rows, paper.result.methods, quality=quality[0], quality_label=quality[1],
                labels=self._labels(), path=out / "comparison.png"))
            if figure_runs:
                parent.log_artifact(draw_toy_figure(task.target, figure_runs,
                                                    out / "toy_figure.png"))
            if samples:
                parent.log_artifact(draw_sample_figure(task.target, samples,
                                                       out / "toy_samples.png"))
            operative = gin.operative_config_str()
            (out / "operative_config.gin").write_text(operative)
            parent.log_text(operative, "operative_config.gin")
            print(f"\n[bench] {task.name} results (mean ± std over seeds {list(self.seeds)}; "
                  f"{self.protocol}):\n")
            print(table.text(), flush=True)
            print(f"[bench] {task.name} in the paper's layout (speed-up: ms/action at batch 1 of "
                  "the method's N-step teacher over its own; methods without a teacher against "
                  f"{references.get('em_gpt', '-')}):\n")
            print(paper.text(), flush=True)
            print(f"[bench] table, figures and config in {out}; compare runs with "
                  f"`mlflow ui --backend-store-uri {tracker.tracking_uri}`", flush=True)
            status = "FINISHED"
        finally:
            parent.finish(status)
        return BenchmarkResult(rows, table, out, parent.run_id)

    def _teacher(self, kind: str, seed: int, dataset, tracker, trained=None) -> TrainedTeacher:
        """Load or train the teacher of training seed `seed`, logged as its own child run
        (`trained`: the JobResult of a side-by-side training of it, whose curve is logged)."""
        tags = {"task": self.task.name, "method": f"{kind}_training", "teacher": kind,
                "seed": str(seed)}
        with tracker.child_run(run_name=f"teacher-{kind}-seed{seed}", tags=tags) as run:
            arch, train = teacher_configs(kind, self.task)
            run.log_params({**{f"teacher.{k}": v for k, v in arch.to_dict().items()},
                            **{f"training.{k}": v for k, v in train.to_dict().items()}})
            def log_curve(it: int, stats: dict) -> None:
                run.log_metrics({f"train/{k}": v for k, v in stats.items()}, it)

            teacher = load_or_train_teacher(kind, self.task, dataset, self.data_seed,
                                            cache_dir=self.cache_dir, trainer_config=self.trainer,
                                            train_seed=seed, on_log=log_curve)
            if trained is not None:  # trained side by side just now: its curve and wall time
                for it, stats in trained.history:
                    log_curve(it, stats)
                teacher = replace(teacher, cached=False, train_wall_s=trained.wall_s)
            run.log_params({"teacher.key": teacher.key, "teacher.cached": teacher.cached,
                            "teacher.path": str(teacher.path), "teacher.seed": teacher.seed})
            if not teacher.cached:
                run.log_metrics({"train/wall_s": teacher.train_wall_s})
        how = "from the cache" if teacher.cached else f"trained in {teacher.train_wall_s:.0f}s"
        print(f"[bench] teacher {kind} (seed {seed}): {how} ({teacher.path})", flush=True)
        if not self.is_rollout:  # reference samples: how far each method lands from its teacher
            gen = torch.Generator().manual_seed(seed)
            self._teacher_samples[(kind, seed)] = teacher.policy.sample_actions(
                self.task.observation(ENERGY_SAMPLES), generator=gen).cpu().numpy()
        return teacher

    # ------------------------------------------------------------------ tables
    def _columns(self):
        return (rollout_columns(self.task.levels, self.task.reports_mode_kl) if self.is_rollout
                else TOY_COLUMNS)

    def _labels(self) -> dict[str, str]:
        return {m.name: m.label for m in self.method_specs}

    def _speedup_references(self) -> dict[str, str]:
        """Method -> the N-step teacher row it is compared with (its own teacher, else the
        first N-step teacher of the run)."""
        names = [m.name for m in self.method_specs]
        fallback = next((k for k in M.TRAINED_TEACHERS if k in names), None)
        return {m.name: (m.teacher if m.teacher in names else fallback)
                for m in self.method_specs if fallback or m.teacher in names}

    def _paper_table(self, table: ResultTable) -> PaperTable:
        order = {n: i for i, n in enumerate(M.PAPER_ORDER)}
        ordered = ResultTable(sorted(table.rows, key=lambda r: order[r["method"]]),
                              table.columns)
        return PaperTable(ordered, metrics=table.columns, labels=self._labels(),
                          published=PUBLISHED.get(self.task.name), protocol=self.protocol)

    def _distance_to_teacher(self, method, seed: int, draws) -> dict[str, float]:
        ref = self._teacher_samples.get((method.teacher, self.teacher_seed(seed)))
        if ref is None or draws is None:
            return {}
        return {"eval/energy_distance_teacher": energy_distance(draws[:ENERGY_SAMPLES], ref)}

    def _evaluate_rollouts(self, policy, label: str, seed: int, out: Path, run,
                           act_kwargs: dict | None = None) -> dict[str, float]:
        """Rod tasks: roll the policy out; log rollout videos of the first seed."""
        videos = self.videos if seed == self.seeds[0] else 0
        video_dir = out / label / "videos"
        metrics, result = evaluate_rollouts(policy, self.task, seed=seed, act_kwargs=act_kwargs,
                                            videos=videos, video_dir=video_dir if videos else None,
                                            parallel=self.parallel_eval,
                                            reference_modes=self._reference_modes)
        for path in result.video_paths:
            run.log_artifact(path, "videos")
        return metrics

    def _report(self, label: str, metrics: dict, extra: str = "") -> None:
        levels = self.task.levels if self.is_rollout else None
        print(summary_line(label, metrics, levels=levels) + extra, flush=True)

    def _run_teacher(self, method, seed: int, teacher: TrainedTeacher, tracker, out: Path):
        task, policy = self.task, teacher.policy
        steps = method.num_steps or policy.config.num_steps
        tags = {"task": task.name, "method": method.name, "teacher": method.teacher,
                "seed": str(seed)}
        with tracker.child_run(run_name=f"{method.name}-seed{seed}", tags=tags) as run:
            run.log_params({"method": method.name, "teacher": method.teacher, "seed": seed,
                            "num_steps": steps, "sampler": policy.config.sampler,
                            "teacher.key": teacher.key, "teacher.seed": teacher.seed})
            if self.is_rollout:
                draws = None
                metrics = self._evaluate_rollouts(policy, f"{method.name}-seed{seed}", seed, out,
                                                  run, act_kwargs={"num_steps": steps})
            else:
                gen = torch.Generator().manual_seed(seed)
                draws = policy.sample_actions(task.observation(self.eval_samples),
                                              num_steps=steps, generator=gen).cpu().numpy()
                metrics = {**sample_metrics(draws, task, seed=seed),
                           **self._distance_to_teacher(method, seed, draws)}
            metrics.update(measure_inference(
                lambda obs: policy.sample_actions(obs, num_steps=steps),
                self._window, forward_passes=steps, repeats=self.timing_repeats))
            metrics["train/wall_s"] = teacher.train_wall_s  # the teacher's own training
            run.log_metrics(metrics)
        self._report(f"{method.name}-seed{seed}", metrics)
        return {"method": method.name, "seed": seed, **metrics}, draws, run.run_id

    def _run_student(self, method, seed: int, dataset, teacher, tracker, out: Path,
                     config_text: str):
        task = self.task
        label = f"{method.name}-seed{seed}"
        built = M.build_student(method, task, dataset, seed, teacher=teacher)
        tags = {"task": task.name, "method": method.name, "teacher": method.teacher,
                "seed": str(seed)}
        with tracker.child_run(run_name=label, tags=tags) as run:
            run.log_params(built.params)
            if teacher is not None:
                run.log_params({"teacher.seed": teacher.seed})
            if config_text:
                run.log_text(config_text, "config.gin")
            iters = built.algorithm.config.iterations
            want = {i for i in self.snapshot_iterations if i <= iters} | {iters}
            snaps = []
            if self.is_rollout or not isinstance(built.policy, MoEPolicy):
                want = set()
            trainer = Trainer(built.algorithm, dataset, iterations=iters,
                              batch_size=built.algorithm.config.batch_size,
                              checkpoint_dir=out / label / "checkpoint", seed=seed,
                              config=self.trainer, label=label)
            result = trainer.fit(
                on_log=lambda it, s: run.log_metrics({f"train/{k}": v for k, v in s.items()}, it),
                on_iteration=lambda it: snaps.append(snapshot(built.policy, task, it))
                if it in want else None,
            )
            draws = None
            if self.is_rollout:
                metrics = self._evaluate_rollouts(built.policy, label, seed, out, run)
            elif isinstance(built.policy, MoEPolicy):
                metrics, draws = evaluate_toy(built.policy, task,
                                              num_samples=self.eval_samples, seed=seed)
            else:  # a one-step sampler without a tractable density: sample metrics only
                gen = torch.Generator().manual_seed(seed)
                draws = built.policy.sample_actions(task.observation(self.eval_samples),
                                                    generator=gen).cpu().numpy()
                metrics = sample_metrics(draws, task, seed=seed)
            metrics.update(self._distance_to_teacher(method, seed, draws))
            metrics.update(measure_inference(built.policy.sample_actions, self._window,
                                             forward_passes=built.forward_passes,
                                             repeats=self.timing_repeats))
            metrics["train/wall_s"] = result.wall_s
            run.log_metrics(metrics, step=iters)
            run.log_artifact(out / label / "checkpoint", "checkpoint")
        self._report(label, metrics, f", {result.wall_s:.1f}s")
        return {"method": method.name, "seed": seed, **metrics}, snaps, draws, run.run_id


