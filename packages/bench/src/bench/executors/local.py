"""The in-process executor: teacher jobs (uncached ones side by side in worker processes),
then every cell in plan order, here."""

from __future__ import annotations

import time

from bench.cells import CellContext, CellResult
from bench.executors import Work
from bench.progress import cell_line
from bench.teacher_jobs import train_uncached

__all__ = ["LocalExecutor"]


class LocalExecutor:
    name = "local"

    def start(self, *, tracking_uri: str, plan) -> None:  # noqa: ARG002  (nothing to reach)
        return None

    def close(self) -> None:
        return None

    def operative_config(self) -> str:
        import gin

        return gin.operative_config_str()

    def execute(self, work: Work) -> list[CellResult]:
        inv, s = work.invocation, work.invocation.settings
        jobs = work.teacher_jobs
        trained = train_uncached([(j.kind, j.seed) for j in jobs], s.task, work.dataset,
                                 data_seed=s.data_seed, cache_dir=s.cache_dir,
                                 trainer_config=s.trainer, workers=s.teacher_processes(),
                                 device=str(s.torch_device()), precision=s.precision)
        teachers = {job: inv._teacher(job, work.dataset, work.tracker,
                                      trained.get((job.kind, job.seed)))
                    for job in jobs}
        results, start = [], time.perf_counter()
        for index, cell in enumerate(work.cells, 1):
            print(cell_line(index, len(work.cells), cell.label, time.perf_counter() - start),
                  flush=True)
            context = CellContext(settings=s, dataset=work.dataset, tracker=work.tracker,
                                  out=inv.out, teacher=teachers.get(cell.teacher),
                                  config_text=inv.config_text,
                                  tags=work.cell_tags.get(cell.label, {}))
            results.append(inv._run_cell(cell, context))
        return results
