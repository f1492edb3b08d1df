"""One invocation of the benchmark, executed in this process: the run object.

`Invocation(settings).run()` makes the output folder and the MLflow parent run, loads the
dataset, trains or loads the plan's teachers (uncached ones side by side), runs every cell in
plan order (`bench.cells.run_cell`) and writes the report. All per-invocation state lives
here; the settings stay frozen.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import gin
import torch

from bench.cells import CellContext, CellResult, run_cell
from bench.errors import CacheError, Interrupted, TrackingUnreachable
from bench.plan import Plan
from bench.report import write_report
from bench.table import ResultTable
from bench.teacher_jobs import JobResult, TeacherJob, train_uncached
from bench.teacher_store import (TrainedTeacher, load_or_train_teacher,
                                 sweep_stale_trainings, teacher_configs)

__all__ = ["Invocation", "BenchmarkResult"]


@dataclass
class BenchmarkResult:
    rows: list[dict]
    table: ResultTable
    output_dir: Path
    parent_run_id: str
    cells: list[CellResult]
    failed: list[CellResult] = field(default_factory=list)  # cells recorded FAILED


class Invocation:
    """Runs a `bench.settings.Benchmark`'s plan here, cell after cell."""

    def __init__(self, settings, *, config_text: str = "", command: str = "") -> None:
        self.settings, self.config_text, self.command = settings, config_text, command
        self.plan: Plan = settings.plan()
        self.out: Path | None = None  # the output folder, once made

    @staticmethod
    def _run_cell(cell, context: CellContext) -> CellResult:
        """`run_cell`, with a failure (divergence, a non-finite metric, any error of the cell's
        own) recorded as a FAILED result with its reason, so the other cells still run."""
        try:
            return run_cell(cell, context)
        except (CacheError, TrackingUnreachable):
            raise  # the invocation's own faults, not the cell's
        except Exception as e:  # noqa: BLE001  (the cell's fault, reported in the table)
            reason = " ".join(f"{type(e).__name__}: {e}".split())
            print(f"[bench] {cell.label}: FAILED ({reason})", flush=True)
            return CellResult(cell.method.name, cell.seed, {}, "", None, failed=reason)

    def _dataset(self) -> dict:
        s, task = self.settings, self.settings.task
        data = task.make_dataset(s.data_seed, cache_dir=s.cache_dir)
        if not hasattr(task, "target"):  # demonstrations generated once, cached on disk
            print(f"[bench] {task.name} dataset: {task.num_demos} demonstrations, "
                  f"{len(data['obs'])} windows of {task.window} steps (cached under "
                  f"{Path(s.cache_dir) / 'datasets'})", flush=True)
        return data

    def _teacher(self, job: TeacherJob, dataset, tracker,
                 trained: JobResult | None) -> TrainedTeacher:
        """Load or train the teacher of `job`, logged as its own child run (`trained`: its
        side-by-side training, whose curve and wall time are logged)."""
        s, kind, seed = self.settings, job.kind, job.seed
        tags = {"task": s.task.name, "method": f"{kind}_training", "teacher": kind,
                "seed": str(seed)}
        with tracker.child_run(run_name=f"teacher-{kind}-seed{seed}", tags=tags) as run:
            arch, train = teacher_configs(kind, s.task)
            run.log_params({**{f"teacher.{k}": v for k, v in arch.to_dict().items()},
                            **{f"training.{k}": v for k, v in train.to_dict().items()}})

            def log_curve(it: int, stats: dict) -> None:
                run.log_metrics({f"train/{k}": v for k, v in stats.items()}, it)

            teacher = load_or_train_teacher(kind, s.task, dataset, s.data_seed,
                                            cache_dir=s.cache_dir, trainer_config=s.trainer,
                                            train_seed=seed, on_log=log_curve)
            if trained is not None:
                for it, stats in trained.history:
                    log_curve(it, stats)
                teacher = replace(teacher, cached=False, train_wall_s=trained.wall_s)
            run.log_params({"teacher.key": teacher.key, "teacher.cached": teacher.cached,
                            "teacher.path": str(teacher.path), "teacher.seed": teacher.seed})
            if not teacher.cached:
                run.log_metrics({"train/wall_s": teacher.train_wall_s})
        how = "from the cache" if teacher.cached else f"trained in {teacher.train_wall_s:.0f}s"
        print(f"[bench] teacher {kind} (seed {seed}): {how} ({teacher.path})", flush=True)
        return teacher

    def run(self) -> BenchmarkResult:
        from bench.tracking import Tracker  # mlflow import is slow: only when running

        s, task = self.settings, self.settings.task
        torch.set_num_threads(s.torch_threads())
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        # a short run id keeps two invocations started in the same second apart
        out = Path(s.output_dir) / task.name / f"{stamp}-{uuid.uuid4().hex[:6]}"
        tracker = Tracker(experiment=task.name, run_name=f"{task.name}-{stamp}",
                          tags={"task": task.name, "invocation": self.command,
                                "methods": ",".join(s.methods),
                                "teachers": "per_seed" if s.teacher_per_seed else "shared"})
        out.mkdir(parents=True, exist_ok=False)
        self.out = out
        parent = tracker.parent
        print(f"[bench] task {task.name}: methods {list(s.methods)} x seeds {list(s.seeds)} "
              f"({s.protocol}; torch threads {torch.get_num_threads()}); MLflow experiment "
              f"'{task.name}' at {tracker.tracking_uri}, outputs in {out}", flush=True)
        if self.config_text:
            (out / "config.gin").write_text(self.config_text)
            parent.log_text(self.config_text, "config.gin")
        status = "FAILED"
        try:
            for work in sweep_stale_trainings(s.cache_dir):
                print(f"[bench] removed {work}: a teacher training a killed run left behind",
                      flush=True)
            dataset = self._dataset()
            jobs = self.plan.teacher_jobs
            trained = train_uncached([(j.kind, j.seed) for j in jobs], task, dataset,
                                     data_seed=s.data_seed, cache_dir=s.cache_dir,
                                     trainer_config=s.trainer, workers=s.teacher_processes())
            teachers = {job: self._teacher(job, dataset, tracker,
                                           trained.get((job.kind, job.seed)))
                        for job in jobs}
            results = []
            for cell in self.plan.cells:
                context = CellContext(settings=s, dataset=dataset, tracker=tracker, out=out,
                                      teacher=teachers.get(cell.teacher),
                                      config_text=self.config_text)
                results.append(self._run_cell(cell, context))
            table = write_report(results, s, out=out, tracker=tracker, parent=parent)
            operative = gin.operative_config_str()
            (out / "operative_config.gin").write_text(operative)
            parent.log_text(operative, "operative_config.gin")
            print(f"[bench] table, figures and config in {out}; compare runs with "
                  f"`mlflow ui --backend-store-uri {tracker.tracking_uri}`", flush=True)
            status = "FINISHED"
        except (KeyboardInterrupt, Interrupted):
            status = "KILLED"
            raise
        finally:
            parent.finish(status)
        failed = [r for r in results if r.failed]
        if failed:
            parent.set_tag("failed_cells", ",".join(f"{r.method}-seed{r.seed}" for r in failed))
        return BenchmarkResult([r.row for r in results], table, out, parent.run_id, results,
                               failed)
