"""MLflow logging: one experiment per task, a parent run per invocation, a child run per
method x seed (tagged task, method, teacher, seed). Metric keys are namespaced `train/`,
`eval/`, `timing/`.

Every run is tagged with its config file(s) and a hash of the operative config
(`bench.records.config_tags`), carries `config.gin` and (once scored) `metrics.json` as
artifacts, and has the invocation's dataset as its input (the Dataset column); final metrics go
to step `bench.records.FINAL_STEP`. The experiment is marked a model-training experiment
(`mlflow.experimentKind`), so the UI opens it on its runs, not its GenAI layout.

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

__all__ = ["Tracker", "RunLogger", "check_reachable", "EXPERIMENT_KIND_TAG", "TRAINING_KIND",
           "DESCRIPTION_TAG", "tracker_state", "attach_tracker"]

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # what the MLflow 3 UI reads to pick a layout
TRAINING_KIND = "custom_model_development"  # shown as "Machine learning" (runs, charts)
DESCRIPTION_TAG = "mlflow.note.content"  # a run's description (Markdown) in the UI


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
        """Log `params`, leaving out those that do not apply (image fields of a state-only
        policy config: `bench.records.applicable_params`)."""
        from mlflow.entities import Param

        from bench.records import applicable_params

        items = [Param(k, str(v)[:6000]) for k, v in applicable_params(params).items()]
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

    def set_description(self, markdown: str) -> None:
        """The run's description, shown on its overview page."""
        self.client.set_tag(self.run_id, DESCRIPTION_TAG, markdown)

    def log_summary(self, metrics: dict[str, float], **extra: Any) -> None:
        """`metrics.json`: the run's final metrics and `extra` facts (`bench.records`)."""
        from bench.records import summary_json

        self.log_text(summary_json(metrics, **extra), "metrics.json")

    def log_dataset(self, record, *, context: str = "training") -> None:
        """Register the run's training data (a `bench.records.DatasetRecord`) as its input."""
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        entity = Dataset(name=record.name, digest=record.digest, source_type="local",
                         source=record.source, profile=record.profile)
        self.client.log_inputs(self.run_id, datasets=[
            DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])])

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class Tracker:
    """Opens the task's experiment and the invocation's parent run."""

    def __init__(self, *, experiment: str, run_name: str, tags: dict[str, str],
                 common_tags: dict[str, str] | None = None, config_text: str = "",
                 resume_run_id: str | None = None) -> None:
        """`common_tags` (e.g. the config tags) go on the parent and every child run;
        `config_text` is written to each run as `config.gin`; `resume_run_id` reopens that
        parent run (`--resume`) instead of starting one."""
        import mlflow
        from mlflow.tracking import MlflowClient

        uri = mlflow.get_tracking_uri()
        check_reachable(uri)
        with self._store_lock(uri):  # two runs starting at once create a fresh store once
            self.client = MlflowClient()
            exp = self.client.get_experiment_by_name(experiment)
            self.experiment_id = (exp.experiment_id if exp is not None
                                  else self.client.create_experiment(experiment))
            if exp is None or exp.tags.get(EXPERIMENT_KIND_TAG) != TRAINING_KIND:
                self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND_TAG,
                                               TRAINING_KIND)
        self.owner = {"bench.host": socket.gethostname(), "bench.pid": str(os.getpid())}
        self.common = dict(common_tags or {})
        self.config_text = config_text
        self.dataset = None  # a bench.records.DatasetRecord, once registered
        self.reap_stale()
        if resume_run_id is not None:
            self.parent = self._reopen(resume_run_id, experiment)
            return
        run = self.client.create_run(self.experiment_id, run_name=run_name,
                                     tags={**tags, **self.common, **self.owner})
        self.parent = RunLogger(self.client, run.info.run_id)

    def _reopen(self, run_id: str, experiment: str) -> RunLogger:
        """The earlier parent run `run_id` of this experiment, RUNNING again and owned by this
        process; a ConfigError names a run that is missing or of another task."""
        from mlflow.exceptions import MlflowException

        from bench.errors import ConfigError

        try:
            run = self.client.get_run(run_id)
        except MlflowException as e:
            raise ConfigError(f"--resume: no MLflow run {run_id} in {self.tracking_uri}") from e
        if run.info.experiment_id != self.experiment_id or "mlflow.parentRunId" in run.data.tags:
            raise ConfigError(f"--resume: run {run_id} is no parent run of experiment "
                              f"'{experiment}'")
        self.client.update_run(run_id, status="RUNNING")
        parent = RunLogger(self.client, run_id)
        for key, value in self.owner.items():
            parent.set_tag(key, value)
        return parent

    def register_dataset(self, record) -> None:
        """Log the invocation's dataset as the parent's input and every later child's."""
        self.dataset = record
        self.parent.log_dataset(record)

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
        """A child run of the parent with the common tags, `config.gin` and the dataset."""
        tags = {**tags, **self.common, **self.owner, "mlflow.parentRunId": self.parent.run_id}
        run = RunLogger(self.client, self.client.create_run(
            self.experiment_id, run_name=run_name, tags=tags).info.run_id)
        if self.config_text:
            run.log_text(self.config_text, "config.gin")
        if self.dataset is not None:
            run.log_dataset(self.dataset)
        return run

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


def tracker_state(tracker: Tracker) -> dict[str, Any]:
    """What a process elsewhere needs to log child runs of `tracker`'s parent run
    (`attach_tracker`): plain, picklable values; no client, no open store."""
    state = {k: v for k, v in vars(tracker).items() if k not in ("client", "parent", "owner")}
    return {**state, "tracking_uri": absolute_uri(tracker.tracking_uri),
            "parent_run_id": tracker.parent.run_id}


def absolute_uri(uri: str) -> str:
    """`uri` with a relative local store path made absolute (other processes may run in
    another working directory); servers and absolute paths unchanged."""
    for scheme in ("sqlite:///", "file://"):
        if uri.startswith(scheme) and not uri[len(scheme):].startswith("/"):
            return scheme + str(Path(uri[len(scheme):]).absolute())
    if "://" not in uri and not uri.startswith("sqlite:"):
        return str(Path(uri).absolute())
    return uri


def attach_tracker(state: dict[str, Any]) -> Tracker:
    """A `Tracker` of this process on the parent run of `tracker_state(...)`: its child runs
    nest under that parent with the same tags, owned by this process (`bench.pid`)."""
    from mlflow.tracking import MlflowClient

    state = dict(state)
    uri, parent_run_id = state.pop("tracking_uri"), state.pop("parent_run_id")
    tracker = Tracker.__new__(Tracker)
    vars(tracker).update(state)
    tracker.client = MlflowClient(tracking_uri=uri)
    tracker.owner = {"bench.host": socket.gethostname(), "bench.pid": str(os.getpid())}
    tracker.parent = RunLogger(tracker.client, parent_run_id)
    return tracker
