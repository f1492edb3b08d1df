"""MLflow logging: one experiment per task, a parent run per invocation, a child run per
method x seed (tagged task, method, teacher, seed). Metric keys are namespaced `train/`,
`eval/`, `timing/`.

The store is MLflow's default (a sqlite file `mlflow.db` and `mlruns/` in the working
directory) unless MLFLOW_TRACKING_URI points elsewhere, e.g. at an `mlflow server`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "RunLogger"]


class RunLogger:
    """Logs into one MLflow run by id (no global active-run state)."""

    def __init__(self, client, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i : i + 500])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class Tracker:
    """Opens the task's experiment and the invocation's parent run."""

    def __init__(self, *, experiment: str, run_name: str, tags: dict[str, str]) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (exp.experiment_id if exp is not None
                              else self.client.create_experiment(experiment))
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.parent = RunLogger(self.client, run.info.run_id)

    @property
    def tracking_uri(self) -> str:
        return self.client._tracking_client.tracking_uri

    def run(self, run_id: str) -> RunLogger:
        """A logger for an existing run (e.g. to add a metric computed after it ended)."""
        return RunLogger(self.client, run_id)

    def child(self, *, run_name: str, tags: dict[str, str]) -> RunLogger:
        tags = {**tags, "mlflow.parentRunId": self.parent.run_id}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        return RunLogger(self.client, run.info.run_id)

    @contextlib.contextmanager
    def child_run(self, *, run_name: str, tags: dict[str, str]) -> Iterator[RunLogger]:
        """A child run that ends FINISHED, or FAILED if the block raises."""
        run = self.child(run_name=run_name, tags=tags)
        status = "FAILED"
        try:
            yield run
            status = "FINISHED"
        finally:
            run.finish(status)
