"""The invocation's report: speed-ups, the result tables, figures, printed and logged.

Built from the cells' results alone (`bench.cells.CellResult`), so any executor that gathers
them can report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench import methods as M
from bench.cells import CellResult
from bench.figures import draw_comparison_figure, draw_sample_figure, draw_toy_figure
from bench.published import PAPER_ORDER, PUBLISHED
from bench.records import FINAL_STEP, method_means
from bench.table import TOY_COLUMNS, PaperTable, ResultTable, add_speedups, rollout_columns

__all__ = ["speedup_references", "write_report"]


def speedup_references(methods: Sequence[M.Method]) -> dict[str, str]:
    """Method -> the N-step teacher row it is compared with (its own teacher, else the first
    N-step teacher of the run)."""
    names = [m.name for m in methods]
    fallback = next((k for k in M.trained_teachers() if k in names), None)
    return {m.name: (m.teacher if m.teacher in names else fallback)
            for m in methods if fallback or m.teacher in names}


def _columns(task):
    if hasattr(task, "target"):
        return TOY_COLUMNS
    return rollout_columns(task.levels, task.reports_mode_kl)


def _paper_table(table: ResultTable, settings, labels: dict[str, str]) -> PaperTable:
    order = {n: i for i, n in enumerate(PAPER_ORDER)}
    ordered = ResultTable(sorted(table.rows, key=lambda r: order.get(r["method"], len(order))),
                          table.columns)
    return PaperTable(ordered, metrics=table.columns, labels=labels,
                      published=PUBLISHED.get(settings.task.name), protocol=settings.protocol)


def _describe_parent(parent, table: ResultTable, settings, rows) -> None:
    """The parent run's overview: the result table as its description, per-method means of
    every final metric (`<method>/eval/...`) and the invocation's main settings as params."""
    task = settings.task
    parent.set_description(
        f"**{task.name}**: {len(settings.methods)} methods x seeds {list(settings.seeds)} "
        f"({settings.protocol}); mean ± std over seeds.\n\n{table.markdown()}")
    parent.log_metrics(method_means(rows), step=FINAL_STEP)
    parent.log_params({"task": task.name, "methods": ",".join(settings.methods),
                       "seeds": ",".join(map(str, settings.seeds)),
                       "data_seed": settings.data_seed,
                       "teacher_per_seed": settings.teacher_per_seed})


def write_report(results: Sequence[CellResult], settings, *, out: Path, tracker,
                 parent) -> ResultTable:
    """Speed-ups (logged to each cell's run), results.md / .csv, the paper-layout table and
    the figures under `out`, logged to the parent run and printed; returns the table."""
    task, methods = settings.task, settings.method_specs
    rows = [r.row for r in results]
    references = speedup_references(methods)
    add_speedups(rows, references)
    for row, result in zip(rows, results):
        if "timing/speedup_vs_teacher" in row and result.run_id:
            run = tracker.run(result.run_id)
            run.log_metrics({"timing/speedup_vs_teacher": row["timing/speedup_vs_teacher"]},
                            step=FINAL_STEP)
            run.log_summary(row, method=result.method, seed=result.seed)  # with the speed-up
    labels = {m.name: m.label for m in methods}
    table = ResultTable(rows, _columns(task))
    paper = _paper_table(table, settings, labels)
    (out / "results.md").write_text(table.markdown())
    (out / "results.csv").write_text(table.csv())
    (out / "results_paper.md").write_text(paper.markdown())
    for name in ("results.md", "results.csv", "results_paper.md"):
        parent.log_artifact(out / name)
    _describe_parent(parent, table, settings, rows)
    exact = hasattr(task, "target")
    quality = (("eval/energy_distance", "energy distance (lower is better)") if exact
               else ("eval/success_rate", "success rate"))
    parent.log_artifact(draw_comparison_figure(
        rows, paper.result.methods, quality=quality[0], quality_label=quality[1],
        labels=labels, path=out / "comparison.png"))
    first = settings.seeds[0]
    # the tables' names ("VDD-BESO (ours)", "VDD-BESO (published)") over the method keys
    snaps = {f"{labels.get(r.method, r.method)}\n{r.method}, seed {r.seed}": r.snapshots
             for r in results if r.seed == first and r.snapshots}
    samples = {f"{labels.get(r.method, r.method)}\n{r.method}": r.samples for r in results
               if r.seed == first and r.samples is not None}
    if snaps:
        parent.log_artifact(draw_toy_figure(task.target, snaps, out / "toy_figure.png"))
    if samples:
        parent.log_artifact(draw_sample_figure(task.target, samples, out / "toy_samples.png"))
    print(f"\n[bench] {task.name} results (mean ± std over seeds {list(settings.seeds)}; "
          f"{settings.protocol}):\n")
    print(table.text(), flush=True)
    print(f"[bench] {task.name} in the paper's layout (speed-up: ms/action at batch 1 of the "
          "method's N-step teacher over its own; methods without a teacher against "
          f"{references.get('em_gpt', '-')}):\n")
    print(paper.text(), flush=True)
    return table
