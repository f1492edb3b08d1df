"""One invocation of the benchmark, executed in this process: the run object.

`Invocation(settings).run()` makes the output folder and the MLflow parent run (or, with
`resume`, reopens an earlier one: `bench.resume`), loads the dataset, hands the teacher jobs and
the cells not done yet to the settings' executor (`bench.executors`: in this process, or Ray)
and writes the report from the cells' results. All per-invocation state lives here; the
settings stay frozen.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import gin
import torch

from bench.cells import CellContext, CellResult, run_cell
from bench.errors import CacheError, Interrupted, TrackingUnreachable
from bench.plan import Plan
from bench.records import FINAL_STEP, config_tags, dataset_record
from bench.report import write_report
from bench.table import ResultTable
from bench.teacher_jobs import JobResult, TeacherJob
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
    skipped: int = 0  # cells a resumed invocation found done


class Invocation:
    """Runs a `bench.settings.Benchmark`'s plan here, cell after cell."""

    def __init__(self, settings, *, config_text: str = "", command: str = "",
                 config_files: Sequence[str] = (), resume: str | None = None,
                 tags: dict[str, str] | None = None) -> None:
        self.settings, self.config_text, self.command = settings, config_text, command
        self.resume = resume  # `--resume`: an earlier output folder or parent run id
        self.tags = dict(tags or {})  # more parent-run tags (a sweep nests its points)
        self.skipped = 0  # cells found done when resuming
        self.config_files = tuple(str(f) for f in config_files)  # the gin files, as tags
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

            last: dict = {}  # the final training stats, for the summary

            def log_curve(it: int, stats: dict) -> None:
                run.log_metrics({f"train/{k}": v for k, v in stats.items()}, it)
                last.update(stats)

            teacher = load_or_train_teacher(kind, s.task, dataset, s.data_seed,
                                            cache_dir=s.cache_dir, trainer_config=s.trainer,
                                            train_seed=seed, on_log=log_curve,
                                            device=s.torch_device(), precision=s.precision)
            if trained is not None:
                for it, stats in trained.history:
                    log_curve(it, stats)
                teacher = replace(teacher, cached=False, train_wall_s=trained.wall_s)
            run.log_params({"teacher.key": teacher.key, "teacher.cached": teacher.cached,
                            "teacher.path": str(teacher.path), "teacher.seed": teacher.seed})
            if not teacher.cached:
                run.log_metrics({"train/wall_s": teacher.train_wall_s}, step=FINAL_STEP)
            run.log_summary({"train/wall_s": teacher.train_wall_s}, teacher_key=teacher.key,
                            cached=teacher.cached, final_train_stats=last)
        how = "from the cache" if teacher.cached else f"trained in {teacher.train_wall_s:.0f}s"
        print(f"[bench] teacher {kind} (seed {seed}): {how} ({teacher.path})", flush=True)
        return teacher

    def _record_device(self, parent) -> None:
        """Print the device and precision and record them on the parent run (params; a resumed
        run, whose params are fixed, as a tag). Ray workers resolve `auto` themselves."""
        from bench.devices import describe, device_info

        s = self.settings
        if s.executor == "local":
            info = device_info(s.torch_device())
            line = describe(info)
        else:
            info = {"device": s.device}
            line = f"{s.device} (resolved on each Ray worker)"
        print(f"[bench] device {line}; precision {s.precision}", flush=True)
        if self.resume:
            parent.set_tag("bench.resumed_on_device", line)
        else:
            parent.log_params({**info, "precision": s.precision,
                               "compile_act": s.compile_act})

    def run(self) -> BenchmarkResult:
        import mlflow  # slow to import: only when running

        from bench.executors import make_executor

        executor = make_executor(self.settings.executor, ray=self.settings.ray)
        try:  # the executor's refusals come before any run is opened
            executor.start(tracking_uri=mlflow.get_tracking_uri(), plan=self.plan)
            return self._run(executor)
        finally:
            executor.close()

    def _execute(self, executor, dataset, tracker) -> list[CellResult]:
        """Every planned cell's result, in plan order: those a resumed run finished read
        back from their child runs, the others from `executor`."""
        from bench.executors import Work
        from bench.resume import HASH_TAG, cell_hash, config_key, finished_cells, result_from_run

        key = config_key(gin.config_str())
        hashes = {c.label: cell_hash(key, c) for c in self.plan.cells}
        done = (finished_cells(tracker.client, tracker.experiment_id, tracker.parent.run_id)
                if self.resume else {})
        skipped = {c.label: result_from_run(c, done[hashes[c.label]], self.out)
                   for c in self.plan.cells if hashes[c.label] in done}
        todo = tuple(c for c in self.plan.cells if c.label not in skipped)
        self.skipped = len(skipped)
        if self.resume:
            print(f"[bench] resuming run {tracker.parent.run_id}: {len(skipped)} of "
                  f"{len(self.plan.cells)} cells done (skipped), {len(todo)} to run", flush=True)
        work = Work(invocation=self, cells=todo, dataset=dataset, tracker=tracker,
                    cell_tags={c.label: {HASH_TAG: hashes[c.label]} for c in todo})
        ran = iter(executor.execute(work) if todo else [])
        return [skipped[c.label] if c.label in skipped else next(ran) for c in self.plan.cells]

    def _output_folder(self, tracker, fresh: Path) -> Path:
        """`fresh`, or a resumed run's own folder (where its parent run says, else the folder
        given to --resume)."""
        if not self.resume:
            return fresh
        run = tracker.client.get_run(tracker.parent.run_id)
        recorded = run.data.tags.get("bench.output_dir")
        return Path(recorded) if recorded else (
            Path(self.resume) if Path(self.resume).is_dir() else fresh)

    def _run(self, executor) -> BenchmarkResult:
        from bench.resume import RUN_FILE, parent_of
        from bench.tracking import Tracker

        s, task = self.settings, self.settings.task
        torch.set_num_threads(s.torch_threads())
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        # a short run id keeps two invocations started in the same second apart
        out = Path(s.output_dir) / task.name / f"{stamp}-{uuid.uuid4().hex[:6]}"
        tracker = Tracker(experiment=s.experiment_name, run_name=f"{task.name}-{stamp}",
                          tags={"task": task.name, "invocation": self.command,
                                "methods": ",".join(s.methods),
                                "teachers": "per_seed" if s.teacher_per_seed else "shared",
                                **self.tags},
                          common_tags=config_tags(self.config_files, self.config_text),
                          config_text=self.config_text,
                          resume_run_id=parent_of(self.resume) if self.resume else None)
        out = self._output_folder(tracker, out)
        out.mkdir(parents=True, exist_ok=self.resume is not None)
        self.out = out
        parent = tracker.parent
        (out / RUN_FILE).write_text(parent.run_id + "\n")  # `--resume <this folder>`
        parent.set_tag("bench.output_dir", str(out.resolve()))
        parent.set_tag("bench.executor", s.executor)
        self._record_device(parent)
        print(f"[bench] task {task.name}: methods {list(s.methods)} x seeds {list(s.seeds)} "
              f"({s.protocol}; torch threads {torch.get_num_threads()}); MLflow experiment "
              f"'{s.experiment_name}' at {tracker.tracking_uri}, outputs in {out}", flush=True)
        if self.config_text:
            (out / "config.gin").write_text(self.config_text)
            parent.log_text(self.config_text, "config.gin")
        status = "FAILED"
        try:
            for work in sweep_stale_trainings(s.cache_dir):
                print(f"[bench] removed {work}: a teacher training a killed run left behind",
                      flush=True)
            dataset = self._dataset()
            tracker.register_dataset(dataset_record(task, dataset, data_seed=s.data_seed,
                                                    cache_dir=str(s.cache_dir)))
            results = self._execute(executor, dataset, tracker)
            table = write_report(results, s, out=out, tracker=tracker, parent=parent)
            operative = executor.operative_config()  # with what ran elsewhere (Ray)
            (out / "operative_config.gin").write_text(operative)
            parent.log_text(operative, "operative_config.gin")
            resumed = (f"; resumed: {self.skipped} of {len(results)} cells skipped as done"
                       if self.resume else "")
            print(f"[bench] table, figures and config in {out}; compare runs with "
                  f"`mlflow ui --backend-store-uri {tracker.tracking_uri}`{resumed}", flush=True)
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
                               failed, self.skipped)
