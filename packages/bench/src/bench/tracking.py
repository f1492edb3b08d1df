"""MLflow logging: one experiment per task, a parent run per invocation, a child run per
method x seed (tagged task, method, teacher, seed). Metric keys are namespaced `train/`,
`eval/`, `timing/`.

The store is MLflow's default (a sqlite file `mlflow.db` and `mlruns/` in the working
directory) unless MLFLOW_TRACKING_URI points elsewhere, e.g. at an `mlflow server`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "RunLogger", "check_reachable"]


def check_reachable(uri: str, *, timeout_s: float = 3.0) -> None:
    """Raise TrackingUnreachable in seconds when an http(s) tracking server does not answer
    (MLflow itself retries for minutes without a word); file and sqlite stores pass."""
    import socket
    from urllib.parse import urlparse

    from bench.errors import TrackingUnreachable

    url = urlparse(uri)
    if url.scheme not in ("http", "https"):
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        raise TrackingUnreachable(
            f"MLflow tracking server {uri} is unreachable ({e}); start it or unset "
            "MLFLOW_TRACKING_URI to log to ./mlflow.db") from e


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

    def set_tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class Tracker:
    """Opens the task's experiment and the invocation's parent run."""

    def __init__(self, *, experiment: str, run_name: str, tags: dict[str, str]) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        uri = mlflow.get_tracking_uri()
        check_reachable(uri)
        with self._store_lock(uri):  # two runs starting at once create a fresh store once
            self.client = MlflowClient()
            exp = self.client.get_experiment_by_name(experiment)
            self.experiment_id = (exp.experiment_id if exp is not None
                                  else self.client.create_experiment(experiment))
        self.owner = {"bench.host": socket.gethostname(), "bench.pid": str(os.getpid())}
        self.reap_stale()
        run = self.client.create_run(self.experiment_id, run_name=run_name,
                                     tags={**tags, **self.owner})
        self.parent = RunLogger(self.client, run.info.run_id)

    @staticmethod
    def _store_lock(uri: str):
        """A file lock beside a local sqlite store (its tables are created on first use, and
        two processes creating them at once collide); other stores need none."""
        from bench.locks import file_lock

        if uri.startswith("sqlite:///"):
            return file_lock(Path(uri[len("sqlite:///"):]).absolute())
        return contextlib.nullcontext()

    def reap_stale(self) -> list[str]:
        """Mark KILLED the RUNNING runs of this experiment left by a bench process of this host
        that is gone (SIGKILLed); returns their ids."""
        host = socket.gethostname()
        stale = []
        for run in self.client.search_runs([self.experiment_id],
                                           filter_string="attributes.status = 'RUNNING'"):
            tags = run.data.tags
            if tags.get("bench.host") != host or not tags.get("bench.pid", "").isdigit():
                continue
            try:
                os.kill(int(tags["bench.pid"]), 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            self.client.set_terminated(run.info.run_id, status="KILLED")
            stale.append(run.info.run_id)
        if stale:
            print(f"[bench] marked {len(stale)} run(s) KILLED that a killed invocation left "
                  "RUNNING", flush=True)
        return stale

    @property
    def tracking_uri(self) -> str:
        return self.client._tracking_client.tracking_uri

    def run(self, run_id: str) -> RunLogger:
        """A logger for an existing run (e.g. to add a metric computed after it ended)."""
        return RunLogger(self.client, run_id)

    def child(self, *, run_name: str, tags: dict[str, str]) -> RunLogger:
        tags = {**tags, **self.owner, "mlflow.parentRunId": self.parent.run_id}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        return RunLogger(self.client, run.info.run_id)

    @contextlib.contextmanager
    def child_run(self, *, run_name: str, tags: dict[str, str]) -> Iterator[RunLogger]:
        """A child run that ends FINISHED, FAILED if the block raises, KILLED if interrupted."""
        run = self.child(run_name=run_name, tags=tags)
        status = "FAILED"
        try:
            yield run
            status = "FINISHED"
        except Exception:
            raise
        except BaseException:  # KeyboardInterrupt, bench.errors.Interrupted (SIGTERM)
            status = "KILLED"
            raise
        finally:
            run.finish(status)
