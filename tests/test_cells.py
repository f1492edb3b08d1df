"""A cell (one method x one seed) is the unit of work: `run_cell` gives the same metrics when
called twice in one process and once alone in a fresh process (tiny toy settings)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gin
import torch

from bench.cells import CellContext, run_cell
from bench.config import parse_gin
from bench.settings import Benchmark
from bench.teacher_store import load_or_train_teacher
from bench.tracking import Tracker

REPO = Path(__file__).resolve().parents[1]
TINY = ["Benchmark.methods = ['ddpm', 'vdd_ddpm', 'em_gpt', 'cd']",
        "Benchmark.teachers = ['ddpm', 'beso']", "Benchmark.seeds = [0]",
        "TeacherTrainingConfig.iterations = 20", "TeacherTrainingConfig.batch_size = 32",
        "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16",
        "DDPMConfig.num_steps = 4", "BESOConfig.n_layer = 1", "BESOConfig.n_head = 1",
        "BESOConfig.n_embd = 16", "VDDConfig.iterations = 5", "EMConfig.iterations = 5",
        "CDConfig.iterations = 5", "Benchmark.eval_samples = 300",
        "Benchmark.timing_repeats = 2", "Benchmark.snapshot_iterations = [0]",
        "TrainerConfig.progress = False"]


def cell_metrics(tmp: str) -> dict[str, dict[str, float]]:
    """{cell label: its eval/ metrics} for every cell of the tiny plan, each run twice here;
    the two runs of a cell must agree (asserted)."""
    parse_gin([REPO / "gin/toy2d.gin"], [*TINY, f"Benchmark.cache_dir = '{tmp}/cache'"])
    threads = torch.get_num_threads()
    try:
        settings = Benchmark()
        torch.set_num_threads(settings.torch_threads())  # as an invocation does, before teachers
        dataset = settings.task.make_dataset(settings.data_seed)
        tracker = Tracker(experiment="cells", run_name="cells", tags={})
        teachers = {job: load_or_train_teacher(job.kind, settings.task, dataset, 0,
                                               cache_dir=settings.cache_dir,
                                               trainer_config=settings.trainer,
                                               train_seed=job.seed)
                    for job in settings.plan().teacher_jobs}
        out = {}
        for cell in settings.plan().cells:
            context = CellContext(settings=settings, dataset=dataset, tracker=tracker,
                                  out=Path(tmp) / "out", teacher=teachers.get(cell.teacher))
            runs = [run_cell(cell, context) for _ in range(2)]
            first, second = ({k: v for k, v in r.metrics.items() if k.startswith("eval/")}
                             for r in runs)
            assert first == second, cell.label
            assert runs[0].run_id != runs[1].run_id  # each run logs a child run of its own
            out[cell.label] = first
        return out
    finally:
        gin.clear_config()
        torch.set_num_threads(threads)


def test_a_cell_gives_the_same_metrics_twice_and_in_a_fresh_process(mlflow_uri, tmp_path):
    here = cell_metrics(str(tmp_path / "a"))
    assert set(here) == {"ddpm-seed0", "vdd_ddpm-seed0", "em_gpt-seed0", "cd-seed0"}
    assert "eval/reverse_kl" in here["vdd_ddpm-seed0"]  # the MoE's own metrics
    assert "eval/energy_distance_teacher" in here["cd-seed0"]
    code = (f"import json, sys; sys.path.insert(0, {str(REPO / 'tests')!r}); "
            f"import test_cells; print(json.dumps(test_cells.cell_metrics("
            f"{str(tmp_path / 'b')!r})))")
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    assert fresh == here


def test_the_plan_lists_teacher_jobs_and_cells(mlflow_uri):
    parse_gin([REPO / "gin/toy2d.gin"], [*TINY, "Benchmark.seeds = [0, 1]",
                                         "Benchmark.teacher_per_seed = False"])
    try:
        plan = Benchmark().plan()
    finally:
        gin.clear_config()
    assert [(j.kind, j.seed) for j in plan.teacher_jobs] == [("ddpm", 0), ("beso", 0)]
    assert [c.label for c in plan.cells] == [
        "ddpm-seed0", "ddpm-seed1", "vdd_ddpm-seed0", "vdd_ddpm-seed1", "em_gpt-seed0",
        "em_gpt-seed1", "cd-seed0", "cd-seed1"]
    assert all(c.teacher is None for c in plan.cells if c.method.name == "em_gpt")
    assert {c.teacher.seed for c in plan.cells if c.teacher} == {0}  # one shared teacher
