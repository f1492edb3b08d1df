"""One cell: one method x one seed on the task, built, trained, scored and logged on its own.

`run_cell(cell, context)` needs only the task, the dataset and the trained teacher the cell
depends on (`CellContext`); it seeds everything it draws (student construction, batch order,
sampling, rollouts) from the cell's seed and keeps no state between cells, so a cell gives
the same metrics whether it runs first, after others, or alone in a fresh process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import methods as M
from bench.devices import generator_for
from bench.plan import Cell
from bench.records import FINAL_STEP
from bench.scoring import evaluate_policy
from bench.table import summary_line
from bench.teacher_store import TrainedTeacher
from bench.timing import measure_inference
from bench.toy_eval import MixtureSnapshot, snapshot
from bench.trainer import Trainer
from bench.visited import VisitHook
from envs import ENERGY_SAMPLES
from moe import MoEPolicy

__all__ = ["CellContext", "CellResult", "NonFiniteResult", "check_finite", "run_cell",
           "teacher_reference"]


@dataclass(frozen=True, kw_only=True)
class CellContext:
    """What a cell is given: the settings, the task's data, its teacher, where it logs."""

    settings: Any  # bench.settings.Benchmark
    dataset: dict[str, np.ndarray]
    teacher: TrainedTeacher | None  # the trained teacher of the cell's TeacherJob
    tracker: Any  # bench.tracking.Tracker: the cell logs one child run of the parent
    out: Path  # the invocation's output folder; the cell writes under out/<label>/
    config_text: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # more child-run tags (config hash)

    @property
    def task(self):
        return self.settings.task


@dataclass(frozen=True)
class CellResult:
    method: str
    seed: int
    metrics: dict[str, float]
    run_id: str  # its MLflow child run
    checkpoint: Path | None  # students: the trained policy's checkpoint folder
    samples: np.ndarray | None = None  # toy: the samples drawn (N, A), for the figure
    snapshots: list[MixtureSnapshot] = field(default_factory=list)  # toy MoE: mixture history
    failed: str = ""  # why the cell failed (diverged, non-finite metric); "" when it finished

    @property
    def row(self) -> dict[str, Any]:
        """The result table's row (a failed cell: its reason under "failed", no metrics)."""
        row = {"method": self.method, "seed": self.seed, **self.metrics}
        if self.failed:
            row["failed"] = self.failed
        return row


class NonFiniteResult(RuntimeError):
    """A cell's evaluation gave a NaN or infinite metric: reported FAILED, never as a result."""


def check_finite(label: str, metrics: dict[str, float]) -> None:
    """Raise NonFiniteResult naming the metrics of `label` that are NaN or infinite."""
    bad = {k: v for k, v in metrics.items()
           if isinstance(v, (int, float, np.number)) and not np.isfinite(v)}
    if bad:
        raise NonFiniteResult(f"{label}: non-finite metrics "
                              f"{', '.join(f'{k}={v}' for k, v in sorted(bad.items()))}")


@torch.no_grad()
def teacher_reference(task, teacher: TrainedTeacher | None) -> np.ndarray | None:
    """Exact-target tasks: ENERGY_SAMPLES samples of the teacher (seeded by its training seed),
    the reference of every method's "distance to teacher"; None elsewhere."""
    if teacher is None or not hasattr(task, "target"):
        return None
    gen = generator_for(teacher.policy, teacher.seed)
    return teacher.policy.sample_actions(task.observation(ENERGY_SAMPLES),
                                         generator=gen).cpu().numpy()


def _evaluate(cell: Cell, context: CellContext, policy, run, act_kwargs=None):
    s, task = context.settings, context.task
    videos = s.videos if cell.seed == s.seeds[0] else 0
    metrics, result = evaluate_policy(
        task, policy, seed=cell.seed, act_kwargs=act_kwargs, num_samples=s.eval_samples,
        reference=teacher_reference(task, context.teacher), videos=videos,
        video_dir=context.out / cell.label / "videos" if videos else None,
        parallel=s.parallel_eval, reference_modes=context.dataset.get("modes"))
    check_finite(cell.label, metrics)
    for path in getattr(result, "video_paths", None) or []:
        run.log_artifact(path, "videos")
    return metrics, getattr(result, "samples", None)


def _tags(cell: Cell, context: CellContext) -> dict[str, str]:
    return {"task": context.task.name, "method": cell.method.name,
            "teacher": cell.method.teacher, "seed": str(cell.seed), **context.tags}


def _timing(context: CellContext, sample_fn, passes: int) -> dict[str, float]:
    """ms per action at batch 1 and 256 on the cell's device; on CUDA also the cell's peak
    GPU memory (training, evaluation and timing; reset when the cell started)."""
    s, device = context.settings, context.settings.torch_device()
    window = context.task.timing_window(context.dataset)
    out = measure_inference(sample_fn, window, forward_passes=passes, repeats=s.timing_repeats,
                            device=device, compiled=s.compile_act)
    if device.type == "cuda":
        out["timing/peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def _teacher_cell(cell: Cell, context: CellContext) -> CellResult:
    teacher, method = context.teacher, cell.method
    policy = teacher.policy
    steps = method.num_steps or policy.config.num_steps
    with context.tracker.child_run(run_name=cell.label, tags=_tags(cell, context)) as run:
        run.log_params({"method": method.name, "teacher": method.teacher, "seed": cell.seed,
                        "num_steps": steps, "sampler": policy.config.sampler,
                        "teacher.key": teacher.key, "teacher.seed": teacher.seed})
        metrics, samples = _evaluate(cell, context, policy, run, {"num_steps": steps})
        metrics.update(_timing(context, lambda obs: policy.sample_actions(obs, num_steps=steps),
                               steps))
        metrics["train/wall_s"] = teacher.train_wall_s  # the teacher's own training
        run.log_metrics(metrics, step=FINAL_STEP)
        run.log_summary(metrics, method=method.name, seed=cell.seed, teacher_key=teacher.key)
    print(summary_line(cell.label, metrics, levels=context.task.levels), flush=True)
    return CellResult(method.name, cell.seed, metrics, run.run_id, None, samples)


def _student_cell(cell: Cell, context: CellContext) -> CellResult:
    s, task, method, label = context.settings, context.task, cell.method, cell.label
    built = M.build_student(method, task, context.dataset, cell.seed, teacher=context.teacher,
                            device=s.torch_device())
    checkpoint = context.out / label / "checkpoint"
    with context.tracker.child_run(run_name=label, tags=_tags(cell, context)) as run:
        run.log_params(built.params)
        if context.teacher is not None:
            run.log_params({"teacher.seed": context.teacher.seed})
        iters = built.algorithm.config.iterations
        snaps: list[MixtureSnapshot] = []
        want = set()
        if hasattr(task, "target") and isinstance(built.policy, MoEPolicy):
            want = {i for i in s.snapshot_iterations if i <= iters} | {iters}
        trainer = Trainer(built.algorithm, context.dataset, iterations=iters,
                          batch_size=built.algorithm.config.batch_size,
                          checkpoint_dir=checkpoint, seed=cell.seed, config=s.trainer,
                          label=label, precision=s.precision)
        visits = VisitHook(built.algorithm, task, seed=cell.seed, log=run.log_metrics)

        def on_iteration(it: int) -> None:
            if it in want:
                snaps.append(snapshot(built.policy, task, it))
            visits(it)  # VDD with visited_share: the student's own states, every so often

        result = trainer.fit(
            on_log=lambda it, st: run.log_metrics({f"train/{k}": v for k, v in st.items()}, it),
            on_iteration=on_iteration)
        metrics, samples = _evaluate(cell, context, built.policy, run)
        metrics.update(_timing(context, built.policy.sample_actions,
                               M.forward_passes(built.policy)))
        metrics["train/wall_s"] = result.wall_s
        run.log_metrics(metrics, step=FINAL_STEP)  # one step for every run: charts compare
        run.log_summary(metrics, method=method.name, seed=cell.seed, iterations=iters)
        run.log_artifact(checkpoint, "checkpoint")
    print(summary_line(label, metrics, levels=task.levels)
          + f", {result.wall_s:.1f}s", flush=True)
    return CellResult(method.name, cell.seed, metrics, run.run_id, checkpoint, samples, snaps)


def run_cell(cell: Cell, context: CellContext) -> CellResult:
    """Run one cell: a teacher row is scored (and timed), a student is built from the cell's
    seed, trained, checkpointed, scored and timed; everything is logged to its child run."""
    torch.set_num_threads(context.settings.torch_threads())  # results depend on the threads
    device = context.settings.torch_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if cell.method.teacher in M.trained_teachers():
        if context.teacher is None or context.teacher.kind != cell.method.teacher:
            raise ValueError(f"cell {cell.label} needs its trained {cell.method.teacher!r} "
                             "teacher in the context")
    return (_teacher_cell if cell.method.role == "teacher" else _student_cell)(cell, context)
