"""Sweeps: `python -m bench.sweep --gin FILE --grid "Binding = [v1, v2]" [--grid ...]`.

Each point of the grid (the product of the `--grid` values) is one invocation of
`bench.run` with its bindings added, on either executor (`--executor ray` keeps one Ray
connection for the whole sweep); every point's parent run nests under one MLflow parent run
of the sweep (tagged `sweep.point`). Every point's config is parsed and checked before
anything runs. The sweep writes `sweep.md` / `sweep.csv` (per point and method: the task's
quality metric, mean ± std over seeds) and `sweep.png` under
`<output dir>/sweeps/<task>-<stamp>/` and logs them to its run. Exit code: the first
non-zero exit of a point (a point that fails with 1 lets the others run; any other stops it).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import gin
import numpy as np

from bench.errors import EXIT_CODES, ConfigError

__all__ = ["GridAxis", "parse_grid", "points", "main"]


@dataclass(frozen=True)
class GridAxis:
    binding: str  # e.g. "BESOScore.sigma_range"
    values: tuple

    def assignments(self) -> list[str]:
        return [f"{self.binding} = {v!r}" for v in self.values]


def parse_grid(text: str) -> GridAxis:
    """`"Name = [v1, v2, ...]"` (Python literals) -> GridAxis; ConfigError on anything else."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise ConfigError(f"--grid {text!r}: write it as 'Configurable.param = [v1, v2]'")
    try:
        values = ast.literal_eval(rest.strip())
    except (ValueError, SyntaxError) as e:
        raise ConfigError(f"--grid {text!r}: the values must be a list of Python literals "
                          f"({type(e).__name__})") from None
    if not isinstance(values, list) or not values:
        raise ConfigError(f"--grid {text!r}: the values must be a non-empty list, got "
                          f"{values!r}")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"--grid {text!r}: values repeat")
    return GridAxis(name, tuple(values))


def points(axes: list[GridAxis]) -> list[list[str]]:
    """Every point of the grid as its bindings (first axis slowest)."""
    return [list(p) for p in itertools.product(*(a.assignments() for a in axes))]


def _parser() -> argparse.ArgumentParser:
    codes = "; ".join(f"{k}: {v}" for k, v in EXIT_CODES.items())
    p = argparse.ArgumentParser(prog="python -m bench.sweep",
                                description=__doc__.splitlines()[0],
                                epilog=f"exit codes (as bench.run): {codes}")
    p.add_argument("--gin", action="append", required=True, metavar="FILE")
    p.add_argument("--grid", action="append", required=True, metavar="'NAME = [V1, V2]'",
                   help="a binding and its values (repeatable: the grid is their product)")
    p.add_argument("-b", "--binding", action="append", default=[], metavar="BINDING")
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--output-dir", default=None)
    p.add_argument("--executor", choices=("local", "ray"))
    p.add_argument("--ray-address", metavar="ADDRESS")
    return p


def _check(args, grid: list[list[str]]):
    """Parse and build every point's settings (a ConfigError before anything runs); the
    settings of the first point."""
    from bench.config import parse_gin
    from bench.settings import Benchmark

    first = None
    try:
        for point in grid:
            try:
                parse_gin(args.gin, [*args.binding, *point])
                settings = Benchmark()
            except (ValueError, TypeError, RuntimeError) as e:  # ConfigError is a ValueError
                raise ConfigError(f"point {'; '.join(point)}: {' '.join(str(e).split())}") \
                    from e
            first = first or settings
    finally:
        gin.clear_config()
    return first


def _point_argv(args, point: list[str]) -> list[str]:
    argv = [a for f in args.gin for a in ("--gin", f)]
    argv += [a for b in [*args.binding, *point] for a in ("-b", b)]
    for flag, value in (("--output-dir", args.output_dir), ("--executor", args.executor),
                        ("--ray-address", args.ray_address)):
        if value is not None:
            argv += [flag, value]
    if args.seeds:
        argv += ["--seeds", *map(str, args.seeds)]
    return argv


def _quality(settings) -> tuple[str, str]:
    if hasattr(settings.task, "target"):
        return "eval/energy_distance", "energy distance (lower is better)"
    return "eval/success_rate", "success rate"


def sweep_rows(client, experiment_id: str, sweep_run_id: str, metric: str,
               methods: list[str]) -> list[dict]:
    """Per point (in run order) and method (in the order of `methods`): mean, std and count
    of `metric` over the FINISHED cells of the point's invocation (from the MLflow store)."""
    rows = []
    invocations = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{sweep_run_id}'",
        order_by=["attributes.start_time ASC"])
    for inv in invocations:
        cells = client.search_runs(
            [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{inv.info.run_id}'")
        by_method: dict[str, list[float]] = {}
        for c in cells:
            method = c.data.tags.get("method", "")
            if method.endswith("_training") or c.info.status != "FINISHED":
                continue
            if metric in c.data.metrics:
                by_method.setdefault(method, []).append(c.data.metrics[metric])
        for method, values in sorted(by_method.items(),
                                     key=lambda kv: (methods + [kv[0]]).index(kv[0])):
            rows.append({"point": inv.data.tags.get("sweep.point", "?"), "method": method,
                         "mean": float(np.mean(values)), "std": float(np.std(values)),
                         "seeds": len(values)})
    return rows


def _table(rows: list[dict], metric: str) -> str:
    lines = [f"| point | method | {metric} (mean ± std) | seeds |", "|---|---|---|---|"]
    lines += [f"| {r['point']} | {r['method']} | {r['mean']:.4f} ± {r['std']:.4f} | "
              f"{r['seeds']} |" for r in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict]) -> str:
    out = ["point,method,mean,std,seeds"]
    out += [f"\"{r['point']}\",{r['method']},{r['mean']!r},{r['std']!r},{r['seeds']}"
            for r in rows]
    return "\n".join(out) + "\n"


def _figure(rows: list[dict], label: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["point"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(names)), 3.6))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = {r["point"]: r for r in rows if r["method"] == method}
        xs = [i for i, n in enumerate(names) if n in mine]
        ax.errorbar(xs, [mine[names[i]]["mean"] for i in xs],
                    yerr=[mine[names[i]]["std"] for i in xs], marker="o", capsize=3,
                    label=method)
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=7)
    ax.set_ylabel(label)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; returns the exit code (as `bench.run`)."""
    from bench.run import main as run_main

    args = _parser().parse_args(argv)
    try:
        axes = [parse_grid(g) for g in args.grid]
        grid = points(axes)
        settings = _check(args, grid)
        ray_started = _connect_ray(args, settings)
    except ConfigError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    from bench.tracking import Tracker

    task, stamp = settings.task, dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    tracker = Tracker(experiment=settings.experiment_name, run_name=f"sweep-{task.name}-{stamp}",
                      tags={"task": task.name, "sweep.grid": " x ".join(args.grid)})
    sweep = tracker.parent
    out = Path(args.output_dir or settings.output_dir) / "sweeps" / f"{task.name}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"[sweep] {len(grid)} point(s) of {' x '.join(args.grid)}; sweep run {sweep.run_id}",
          flush=True)
    code, status = 0, "FAILED"
    try:
        for i, point in enumerate(grid, 1):
            label = "; ".join(point)
            print(f"[sweep] point {i}/{len(grid)}: {label}", flush=True)
            got = run_main(_point_argv(args, point),
                           parent_tags={"mlflow.parentRunId": sweep.run_id, "sweep.point": label})
            gin.clear_config()
            code = code or got
            if got not in (0, 1):
                break
        metric, metric_label = _quality(settings)
        rows = sweep_rows(tracker.client, tracker.experiment_id, sweep.run_id, metric,
                          list(settings.methods))
        (out / "sweep.md").write_text(_table(rows, metric))
        (out / "sweep.csv").write_text(_csv(rows))
        for name in ("sweep.md", "sweep.csv"):
            sweep.log_artifact(out / name)
        if rows:
            sweep.log_artifact(_figure(rows, metric_label, out / "sweep.png"))
        print(f"\n[sweep] {metric} per point and method:\n\n{_table(rows, metric)}\n"
              f"[sweep] table and figure in {out}", flush=True)
        status = "FINISHED" if code == 0 else "FAILED"
    except BaseException:
        status = "KILLED"
        raise
    finally:
        sweep.finish(status)
        if ray_started:
            import ray

            ray.shutdown()
    return code


def _connect_ray(args, settings) -> bool:
    """With the Ray executor, connect once for the whole sweep (each point's executor then
    uses that connection); whether it connected here."""
    if (args.executor or settings.executor) != "ray":
        return False
    try:
        import ray
    except ImportError as e:
        raise ConfigError(f"--executor ray needs ray ({e}): pip install "
                          "'packages/bench[ray]'") from e
    if ray.is_initialized():
        return False
    ray.init(address=args.ray_address or settings.ray.address or None, include_dashboard=False)
    return True


if __name__ == "__main__":
    sys.exit(main())
