"""How VDD (ours)'s re-seeding checks show in its own rollout collections.

    .venv/bin/python scripts/vdd_reseed_effect.py --experiment aligning [--since 2026-12-06]

For every VDD run of an MLflow experiment that logged on-policy collections
(`train/visited_success`: 32 rollouts every `visited_every` updates, `VDDConfig.visited_share >
0`), prints how many re-seeding checks moved an expert (`train/reseeded` > 0) out of the checks
logged, and the collections' mean success in the re-seeding phase (the first `reseed_until`
of training) split by when they were taken: at an update where a check had just run (a
multiple of `reseed_every`; VDDConfig's default where a run did not re-seed) and at the others,
and the mean over the rest of training (no checks). With collections every 250 updates and
checks every 100, the collections at multiples of 500 follow a check at once and the others
come 50 updates after one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import numpy as np


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    p.add_argument("--experiment", required=True, help="the task's MLflow experiment name")
    p.add_argument("--since", default=None, help="only runs started on or after YYYY-MM-DD")
    return p.parse_args(argv)


def mean(values: np.ndarray) -> str:
    return f"{values.mean():.2f} (n={len(values)})" if len(values) else "-"


def main(argv=None) -> int:
    args = parse(argv)
    from mlflow.tracking import MlflowClient

    from distill import VDDConfig

    client = MlflowClient(tracking_uri=args.tracking_uri)
    exp = client.get_experiment_by_name(args.experiment)
    if exp is None:
        print(f"no MLflow experiment {args.experiment!r} in {args.tracking_uri}; pass the task "
              "name of a bench run (e.g. --experiment aligning)", file=sys.stderr)
        return 2
    try:
        since = dt.datetime.fromisoformat(args.since).timestamp() * 1000 if args.since else 0
    except ValueError:
        print(f"--since must be a date YYYY-MM-DD, got {args.since!r}", file=sys.stderr)
        return 2
    runs = client.search_runs([exp.experiment_id], "attributes.run_name LIKE 'vdd%'",
                              order_by=["attributes.start_time ASC"], max_results=1000)
    for run in runs:
        if run.info.start_time < since:
            continue
        hist = client.get_metric_history(run.info.run_id, "train/visited_success")
        if len(hist) < 4:
            continue
        steps = np.array([m.step for m in hist])
        success = np.array([m.value for m in hist])
        params = run.data.params
        total = int(params.get("vdd.iterations", 0)) or int(steps.max() + 250)
        logged = int(params.get("vdd.reseed_every", VDDConfig.reseed_every))
        every = logged or VDDConfig.reseed_every
        until = float(params.get("vdd.reseed_until", VDDConfig.reseed_until)) * total
        checks = [m.value for m in client.get_metric_history(run.info.run_id, "train/reseeded")
                  if m.step % every == 0 and m.step <= until]
        first = steps <= until
        after_check = first & (steps % every == 0)
        between = first & (steps % every != 0)
        start = dt.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%m-%d %H:%M")
        final = run.data.metrics.get("eval/success_rate", float("nan"))
        moved = (f"{sum(v > 0 for v in checks)}/{len(checks)} checks moved experts" if logged
                 else "no re-seeding")
        print(f"{start} {run.info.run_name:24s} {total:6d} updates, {moved}; first half: at "
              f"multiples of {every} {mean(success[after_check])}, between "
              f"{mean(success[between])}; second half {mean(success[~first])}; "
              f"final evaluation {final:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
