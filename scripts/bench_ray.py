"""Wall time of one benchmark grid in-process (one process, one torch thread) and on Ray
(`--workers` workers of one CPU each, Ray started on this machine), side by side, with the
ratio; both runs start from empty caches (teachers trained in each) and their per-cell eval
metrics are compared. A benchmark, not a test: run it on an otherwise idle machine.

    python scripts/bench_ray.py                     # gin/toy2d.gin, seeds 0 1 2
    python scripts/bench_ray.py --tiny              # seconds-long budgets: checks the script
    python scripts/bench_ray.py --gin gin/cpu/avoiding.gin --seeds 0 1 \
        -b 'VDDConfig.iterations = 500'

(A config's method-scoped binding, such as gin/cpu/aligning.gin's `vdd_beso/VDDConfig.iterations`,
wins over an unscoped `-b`: override it under the same scope.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = ["Benchmark.methods = ['ddpm', 'vdd_ddpm', 'em_gpt', 'vdd']", "Benchmark.teachers = "
        "['ddpm']", "VDDConfig.iterations = 5", "VDDConfig.batch_size = 8",
        "VDDConfig.num_samples = 8", "EMConfig.iterations = 5", "Benchmark.eval_samples = 200",
        "Benchmark.timing_repeats = 1", "Benchmark.snapshot_iterations = []",
        "TeacherTrainingConfig.iterations = 5", "TeacherTrainingConfig.batch_size = 16",
        "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16",
        "DDPMConfig.num_steps = 2"]


def _run(name: str, args, extra: list[str], scratch: Path) -> tuple[float, Path]:
    """One `bench.run` in a subprocess with its own cache, outputs and MLflow store; (wall
    seconds, its output folder)."""
    folder = scratch / name
    bindings = [*TINY] if args.tiny else []
    bindings += [*args.binding, "TrainerConfig.progress = False", "Benchmark.threads = 1",
                 f"Benchmark.cache_dir = '{folder / 'cache'}'"]
    cmd = [sys.executable, "-m", "bench.run", *[a for g in args.gin for a in ("--gin", g)],
           "--output-dir", str(folder / "out"), "--seeds", *map(str, args.seeds),
           *[a for b in bindings for a in ("-b", b)], *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    folder.mkdir(parents=True)
    start = time.perf_counter()
    with open(folder / "log.txt", "w") as log:
        code = subprocess.run(cmd, cwd=REPO, env=env, stdout=log,
                              stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
    if code != 0:
        sys.exit(f"bench_ray: the {name} run exited {code}; see {folder / 'log.txt'}")
    (out,) = (p for p in (folder / "out").glob("*/*") if (p / "parent_run.txt").is_file())
    return wall, out


def _eval_metrics(out: Path) -> dict[str, dict[str, float]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out.parents[2] / 'mlflow.db'}")
    parent = (out / "parent_run.txt").read_text().strip()
    exp = client.get_run(parent).info.experiment_id
    return {r.info.run_name: {k: v for k, v in r.data.metrics.items() if k.startswith("eval/")}
            for r in client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent}'")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gin", action="append", default=None)
    p.add_argument("-b", "--binding", action="append", default=[])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2, help="Ray workers (one CPU each)")
    p.add_argument("--tiny", action="store_true", help="tiny budgets (checks the script)")
    args = p.parse_args()
    args.gin = args.gin or ["gin/toy2d.gin"]
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        scratch = Path(tmp)
        local_s, local_out = _run("local", args, ["-b", "Benchmark.teacher_workers = 1"], scratch)
        ray_s, ray_out = _run("ray", args, ["--executor", "ray", "-b",
                                            f"RayOptions.num_cpus = {args.workers}"], scratch)
        same = _eval_metrics(local_out) == _eval_metrics(ray_out)
    print(f"grid: {' '.join(args.gin)} seeds {args.seeds}{' (tiny budgets)' if args.tiny else ''}"
          f" on {os.cpu_count()} cores")
    print("| executor | wall s |\n|---|---|")
    print(f"| in-process (1 process, 1 thread) | {local_s:.1f} |")
    print(f"| Ray ({args.workers} workers x 1 thread, start-up included) | {ray_s:.1f} |")
    print(f"speed-up (in-process / Ray): {local_s / ray_s:.2f}x; per-cell eval metrics "
          f"{'equal' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
