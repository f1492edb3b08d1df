"""`vdd-bench`: the benchmark's command line, one verb per job.

  vdd-bench list                             tasks, methods and the shipped gin configs
  vdd-bench run --gin gin/toy2d.gin [...]    run a config (what `python -m bench.run` does),
                                             plus --methods, --dry-run, --tracking-uri,
                                             --experiment
  vdd-bench eval CHECKPOINT --task toy2d     score a saved policy on a task
  vdd-bench data --task avoiding             generate (or load) a task's dataset, describe it

Bad input prints one `error: ...` line and exits non-zero (the codes of `python -m bench.run`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench import run as bench_run
from bench.config import GIN_DIR
from bench.errors import EXIT_CODES, CacheError, ConfigError, TrackingUnreachable

__all__ = ["main"]

CONFIG_FOLDERS = (("", "full settings"), ("cpu", "CPU budget"), ("smoke", "quick checks"))


def _error(message: str, code: int) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def _task_options(p: argparse.ArgumentParser) -> None:
    """`--task NAME` or `--gin FILE` (+ `-b`): where eval and data find the task."""
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--task", help="a shipped task config: gin/<TASK>.gin (see `list`)")
    where.add_argument("--gin", action="append", metavar="FILE",
                       help="gin config file(s) defining Benchmark.task (repeatable)")
    p.add_argument("-b", "--binding", action="append", default=[], metavar="BINDING",
                   help="extra gin binding (repeatable)")


def _run_extras(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="override Benchmark.methods (names as `vdd-bench list` shows them)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate, print the plan and the operative config, train nothing")
    p.add_argument("--tracking-uri", metavar="URI",
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    p.add_argument("--experiment", metavar="NAME",
                   help="override Benchmark.experiment (the MLflow experiment; default the task)")


def _parser() -> argparse.ArgumentParser:
    codes = "; ".join(f"{k}: {v}" for k, v in EXIT_CODES.items())
    p = argparse.ArgumentParser(prog="vdd-bench", description=__doc__.splitlines()[0],
                                epilog=f"exit codes: {codes}")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{run,eval,list,data}")
    run = verbs.add_parser("run", parents=[bench_run._parser()], conflict_handler="resolve",
                           help="run a benchmark config", description="Run a gin config: "
                           "teachers, students, evaluation, MLflow runs, tables, figures.")
    _run_extras(run)
    ev = verbs.add_parser("eval", help="evaluate a saved policy checkpoint on a task")
    ev.add_argument("checkpoint", type=Path, help="a checkpoint folder (config.json + "
                    "model.safetensors), e.g. outputs/toy2d/<run>/vdd-seed0/checkpoint")
    _task_options(ev)
    ev.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    ev.add_argument("--num-steps", type=int, help="diffusion policies: sampling steps")
    ev.add_argument("--samples", type=int, help="toy: samples drawn (Benchmark.eval_samples)")
    ev.add_argument("--greedy", action="store_true",
                    help="MoE policies on rollout tasks: act with each step's most likely "
                         "expert instead of a sampled one")
    ev.add_argument("--serial", action="store_true", help="roll out in this process")
    ev.add_argument("--device", metavar="DEVICE",
                    help="auto (default: Benchmark.device), cpu, cuda or cuda:N")
    ev.add_argument("--json", type=Path, metavar="PATH", help="also write the metrics here")
    verbs.add_parser("list", help="tasks, methods and the shipped gin configs")
    data = verbs.add_parser("data", help="generate (or load) a task's dataset and describe it")
    _task_options(data)
    data.add_argument("--seed", type=int, help="data seed (default Benchmark.data_seed)")
    data.add_argument("--cache-dir", help="cache folder (default Benchmark.cache_dir)")
    return p


@contextlib.contextmanager
def _tracking_uri(uri: str | None) -> Iterator[None]:
    """MLFLOW_TRACKING_URI set to `uri` while running (child processes inherit it)."""
    if uri is None:
        yield
        return
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before


def _benchmark(files: Sequence[str], bindings: Sequence[str]):
    """Parse gin files + bindings into a validated `Benchmark` (ConfigError otherwise)."""
    from bench.config import parse_gin
    from bench.settings import Benchmark

    parse_gin(list(files), list(bindings))
    try:
        return Benchmark()
    except (ValueError, TypeError, RuntimeError) as e:
        raise ConfigError(str(e)) from e


def _task_files(args) -> list[str]:
    if args.gin:
        return args.gin
    path = GIN_DIR / f"{args.task}.gin"
    if not path.is_file():
        shipped = sorted(p.stem for p in GIN_DIR.glob("*.gin"))
        raise ConfigError(f"no shipped config for task {args.task!r} ({path}); tasks: "
                          f"{shipped}")
    return [str(path)]


# ---------------------------------------------------------------------------------- run
def _run(args, argv: Sequence[str]) -> int:
    extras = argparse.ArgumentParser(add_help=False)
    _run_extras(extras)
    _, rest = extras.parse_known_args(argv)  # bench.run's own arguments, as given
    overrides = []  # recorded as bindings, like --seeds: config.gin holds what ran
    if args.methods:
        overrides.append(f"Benchmark.methods = {list(args.methods)!r}")
    if args.experiment is not None:
        overrides.append(f"Benchmark.experiment = {args.experiment!r}")
    with _tracking_uri(args.tracking_uri):
        if args.dry_run:
            args.binding = [*args.binding, *overrides]
            return _dry_run(args)
        return bench_run.main([*rest, *(arg for o in overrides for arg in ("-b", o))])


def _dry_run(args) -> int:
    import gin

    from bench.teacher_store import is_cached, teacher_path
    from bench.tracking import check_reachable

    try:
        benchmark, _ = bench_run._settings(args)
    except ConfigError as e:
        return _error(str(e), 2)
    uri = os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    try:
        check_reachable(uri)
    except TrackingUnreachable as e:
        return _error(str(e), 4)
    s, plan = benchmark, benchmark.plan()
    print(f"[bench] dry run of {', '.join(args.gin)}: nothing is trained\n"
          f"task {s.task.name}; MLflow experiment '{s.experiment_name}' at {uri}; outputs "
          f"under {Path(s.output_dir) / s.task.name}; cache {s.cache_dir}; executor "
          f"{s.executor}; device {s.device} (here: "
          f"{s.torch_device() if s.executor == 'local' else 'each Ray worker resolves it'}), "
          f"precision {s.precision}")
    print(f"\nteacher jobs ({len(plan.teacher_jobs)}):")
    for job in plan.teacher_jobs:
        path = teacher_path(job.kind, s.task, s.data_seed, cache_dir=s.cache_dir,
                            train_seed=job.seed)
        state = "cached" if is_cached(path) else "to train"
        print(f"  {job.kind} seed {job.seed}: {state} ({path})")
    print(f"\ncells ({len(plan.cells)}: {len(s.methods)} methods x {len(s.seeds)} seeds):")
    for i, cell in enumerate(plan.cells, 1):
        teacher = f"teacher {cell.teacher.kind} seed {cell.teacher.seed}" if cell.teacher \
            else f"teacher {cell.method.teacher}"
        print(f"  {i:>3}. {cell.label:<24} {cell.method.role:<8} {teacher}")
    print("\noperative config:\n")
    print(gin.operative_config_str())
    return 0


# --------------------------------------------------------------------------------- eval
def _eval(args) -> int:
    from bench.checkpoints import CheckpointError, check_fits, load_policy
    from bench.scoring import evaluate_policy
    from bench.table import summary_line

    try:
        device = ([f"Benchmark.device = {args.device!r}"] if args.device is not None else [])
        s = _benchmark(_task_files(args), [*args.binding, *device])
        policy = load_policy(args.checkpoint, device=s.torch_device())
        check_fits(policy, s.task)
    except (ConfigError, ValueError) as e:  # CheckpointError is a ValueError
        return _error(str(e), 3 if isinstance(e, CheckpointError) else 2)
    if args.num_steps is not None and args.num_steps < 1:
        return _error(f"--num-steps must be >= 1, got {args.num_steps}", 2)
    act = {"num_steps": args.num_steps} if args.num_steps else None
    if act and not hasattr(policy.config, "num_steps"):
        return _error(f"--num-steps applies to diffusion policies; {args.checkpoint} holds a "
                      f"{type(policy).__name__}", 2)
    if args.greedy:
        from moe import MoEPolicy

        if not isinstance(policy, MoEPolicy) or hasattr(s.task, "target"):
            return _error(f"--greedy applies to MoE policies on rollout tasks; {args.checkpoint}"
                          f" holds a {type(policy).__name__}, task {s.task.name!r}", 2)
        act = {**(act or {}), "greedy": True}
    metrics, _ = evaluate_policy(s.task, policy, seed=args.seed, act_kwargs=act,
                                 num_samples=args.samples or s.eval_samples,
                                 parallel=s.parallel_eval and not args.serial)
    print(summary_line(f"{type(policy).__name__} from {args.checkpoint}", metrics,
                       levels=s.task.levels))
    for key, value in sorted(metrics.items()):
        print(f"  {key} = {value:.6g}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint),
                                         "task": s.task.name, "seed": args.seed,
                                         "metrics": metrics}, indent=2, sort_keys=True))
    return 0


# --------------------------------------------------------------------------------- list
def _first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("# ").strip()
            return text if len(text) <= 90 else text[:87] + "..."
    return ""


def _list() -> int:
    from bench.methods import method_table
    from envs import TASKS
    from envs.task_specs import ROD_TASKS

    print("tasks (Benchmark.task; shipped configs below):")
    for name in TASKS:
        spec = ROD_TASKS.get(name)
        about = (f"{spec.env_id}, {spec.num_modes} modes, {spec.observation} observations"
                 if spec else "2-D Gaussian mixture with an exact score")
        print(f"  {name:<16} {about}")
    print("\nmethods (Benchmark.methods, --methods):")
    methods = method_table()
    width = max(map(len, methods))
    for m in methods.values():
        print(f"  {m.name:<{width}} {m.role:<8} teacher {m.teacher:<9} {m.description}")
    root = GIN_DIR.parent
    for folder, title in CONFIG_FOLDERS:
        files = sorted((GIN_DIR / folder).glob("*.gin"))
        print(f"\nconfigs, {title} ({(GIN_DIR / folder).relative_to(root)}/):")
        for path in files:
            print(f"  {str(path.relative_to(root)):<28} {_first_comment(path)}")
    return 0


# --------------------------------------------------------------------------------- data
def _data(args) -> int:
    try:
        s = _benchmark(_task_files(args), args.binding)
    except ConfigError as e:
        return _error(str(e), 2)
    task = s.task
    seed = s.data_seed if args.seed is None else args.seed
    cache = args.cache_dir or s.cache_dir
    if hasattr(task, "target"):
        data = task.make_dataset(seed)
        print(f"{task.name}: {len(data['actions'])} demonstrations (seed {seed}), generated in "
              f"memory (not cached); actions {tuple(data['actions'].shape)}")
        return 0
    try:
        data = task.load_episodes(seed, cache_dir=cache)
    except (OSError, RuntimeError) as e:
        return _error(f"dataset of {task.name}: {e}", 3)
    episodes = data.episodes
    meta = json.loads((data.path / "data" / "metadata.json").read_text())
    modes: dict[int, int] = {}
    for ep in episodes:
        modes[ep.mode] = modes.get(ep.mode, 0) + 1
    steps = sum(ep.length for ep in episodes)
    root = Path(cache) / "datasets"
    print(f"{task.name}: {'loaded from the cache' if data.cached else 'generated'} "
          f"({data.path})\n  Minari dataset {meta['dataset_id']} (env {task.spec.env_id}); "
          f"{len(episodes)} episodes, {steps} steps, obs dim {episodes[0].observations.shape[1]},"
          f" action dim {episodes[0].actions.shape[1]}; data seed {seed}\n"
          f"  modes: {len(modes)} of {task.num_modes} demonstrated "
          f"(episodes per mode: min {min(modes.values())}, max {max(modes.values())})\n"
          f"  with Minari's tools: MINARI_DATASETS_PATH={root} minari list local; in Python "
          f"minari.load_dataset({meta['dataset_id']!r}) with that variable set")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run `vdd-bench` with `argv` (default the command line); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.verb == "run":
        return _run(args, argv[1:])  # the verb is the first argument
    if args.verb == "list":
        return _list()
    try:
        return _eval(args) if args.verb == "eval" else _data(args)
    except CacheError as e:
        return _error(str(e), 3)


if __name__ == "__main__":
    sys.exit(main())
