"""An invocation as data: the teacher jobs it needs and its cells.

A cell is one method x one seed on the task: the unit that is built, run, logged and reported
on its own (`bench.cells.run_cell`). A cell of a method with a trained teacher names the
teacher job (kind, training seed) it depends on; executors run the jobs first, then the cells,
in any order (today: in this process, in plan order).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.methods import Method
from bench.teacher_jobs import TeacherJob

__all__ = ["Cell", "Plan", "make_plan"]


@dataclass(frozen=True)
class Cell:
    method: Method
    seed: int
    teacher: TeacherJob | None  # the trained teacher it evaluates or learns from, if any

    @property
    def label(self) -> str:
        return f"{self.method.name}-seed{self.seed}"


@dataclass(frozen=True)
class Plan:
    teacher_jobs: tuple[TeacherJob, ...]  # every (kind, training seed) the cells need
    cells: tuple[Cell, ...]  # method-major, seeds in the given order


def make_plan(settings) -> Plan:
    """The jobs and cells of `settings` (a `bench.settings.Benchmark`)."""
    seeds = list(settings.seeds)
    kinds = settings.teacher_kinds
    jobs = tuple(TeacherJob(kind, s) for s in dict.fromkeys(map(settings.teacher_seed, seeds))
                 for kind in kinds)
    cells = tuple(
        Cell(method, seed, TeacherJob(method.teacher, settings.teacher_seed(seed))
             if method.teacher in kinds else None)
        for method in settings.method_specs for seed in seeds)
    return Plan(jobs, cells)
