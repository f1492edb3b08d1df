"""One benchmark invocation: task x methods x seeds -> trained students, metrics, MLflow runs,
a result table and the toy figure.

`Benchmark` is what a .gin file configures; constructing it validates every setting (task,
method names, student and algorithm configs) so that a bad config fails before any training.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gin

from bench import methods as M
from bench.errors import ConfigError
from bench.figures import draw_toy_figure
from bench.table import TOY_COLUMNS, ResultTable
from bench.timing import measure_inference
from bench.toy_eval import evaluate_toy, snapshot
from bench.trainer import Trainer, TrainerConfig

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
    seeds: Sequence[int] = (0,)
    output_dir: str = "outputs"
    eval_samples: int = 10_000
    snapshot_iterations: Sequence[int] = (0, 100, 300)  # plus the last iteration
    timing_repeats: int = 50
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.task is gin.REQUIRED or self.methods is gin.REQUIRED:
            raise ConfigError("Benchmark.task and Benchmark.methods must be set in the gin file")
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"Benchmark.seeds must be non-negative ints, got {self.seeds!r}")
        if self.eval_samples < 1 or self.timing_repeats < 1:
            raise ConfigError(
                f"Benchmark.eval_samples and timing_repeats must be >= 1, got "
                f"{self.eval_samples!r}, {self.timing_repeats!r}"
            )
        self.method_specs = M.resolve_methods(list(self.methods), self.task)
        try:  # build every config once so a bad value stops us before training
            M.student_config(self.task)
            for m in self.method_specs:
                M.algorithm_config(m)
        except (ValueError, TypeError) as e:
            raise ConfigError(" ".join(str(e).split())) from e

    # ------------------------------------------------------------------ running
    def run(self, *, config_text: str = "", invocation: str = "") -> BenchmarkResult:
        from bench.tracking import Tracker  # mlflow import is slow: only when running

        task = self.task
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(self.output_dir) / task.name / stamp
        out.mkdir(parents=True, exist_ok=True)
        tracker = Tracker(experiment=task.name, run_name=f"{task.name}-{stamp}",
                          tags={"task": task.name, "invocation": invocation,
                                "methods": ",".join(self.methods)})
        parent = tracker.parent
        print(f"[bench] task {task.name}: methods {list(self.methods)} x seeds "
              f"{list(self.seeds)}; MLflow experiment '{task.name}' at {tracker.tracking_uri}, "
              f"outputs in {out}", flush=True)
        if config_text:
            (out / "config.gin").write_text(config_text)
            parent.log_text(config_text, "config.gin")
        rows, figure_runs = [], {}
        status = "FAILED"
        try:
            for method in self.method_specs:
                for seed in self.seeds:
                    row, snaps = self._run_one(method, seed, tracker, out, config_text)
                    rows.append(row)
                    if seed == self.seeds[0]:
                        figure_runs[f"{method.name} (seed {seed})"] = snaps
            table = ResultTable(rows, TOY_COLUMNS)
            (out / "results.md").write_text(table.markdown())
            (out / "results.csv").write_text(table.csv())
            parent.log_artifact(out / "results.md")
            parent.log_artifact(out / "results.csv")
            fig = draw_toy_figure(task.target, figure_runs, out / "toy_figure.png")
            parent.log_artifact(fig)
            operative = gin.operative_config_str()
            (out / "operative_config.gin").write_text(operative)
            parent.log_text(operative, "operative_config.gin")
            print(f"\n[bench] {task.name} results (mean ± std over seeds {list(self.seeds)}):\n")
            print(table.text(), flush=True)
            print(f"[bench] table, figure and config in {out}; compare runs with "
                  f"`mlflow ui --backend-store-uri {tracker.tracking_uri}`", flush=True)
            status = "FINISHED"
        finally:
            parent.finish(status)
        return BenchmarkResult(rows, table, out, parent.run_id)

    def _run_one(self, method, seed: int, tracker, out: Path, config_text: str):
        task = self.task
        label = f"{method.name}-seed{seed}"
        dataset = task.make_dataset(seed)
        built = M.build_method(method, task, dataset, seed)
        run = tracker.child(run_name=label, tags={"task": task.name, "method": method.name,
                                                  "teacher": method.teacher, "seed": str(seed)})
        status = "FAILED"
        try:
            run.log_params(built.params)
            if config_text:
                run.log_text(config_text, "config.gin")
            iters = built.algorithm.config.iterations
            want = {i for i in self.snapshot_iterations if i <= iters} | {iters}
            snaps = []
            trainer = Trainer(built.algorithm, dataset, iterations=iters,
                              batch_size=built.algorithm.config.batch_size,
                              checkpoint_dir=out / label / "checkpoint", seed=seed,
                              config=self.trainer, label=label)
            result = trainer.fit(
                on_log=lambda it, s: run.log_metrics({f"train/{k}": v for k, v in s.items()}, it),
                on_iteration=lambda it: snaps.append(snapshot(built.policy, task, it))
                if it in want else None,
            )
            metrics = evaluate_toy(built.policy, task, num_samples=self.eval_samples, seed=seed)
            metrics.update(measure_inference(built.policy, task.observation(1)[0],
                                             repeats=self.timing_repeats))
            metrics["train/wall_s"] = result.wall_s
            run.log_metrics(metrics, step=iters)
            run.log_artifact(out / label / "checkpoint", "checkpoint")
            status = "FINISHED"
        finally:
            run.finish(status)
        print(f"[bench] {label}: modes {metrics['eval/modes_covered']}/"
              f"{metrics['eval/num_modes']}, reverse KL {metrics['eval/reverse_kl']:.3f}, "
              f"{result.wall_s:.1f}s", flush=True)
        return {"method": method.name, "seed": seed, **metrics}, snaps


