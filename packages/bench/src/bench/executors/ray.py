"""The Ray executor: teacher jobs and cells as Ray tasks on a cluster (`--executor ray`).

Nothing assumes a shared filesystem. The driver puts the dataset (its arrays) into the object
store once; a teacher cached on the driver travels as the bytes of its checkpoint folder
(`model.safetensors` + `config.json`), an uncached one is trained by a task that returns those
bytes, and a cell task that needs it gets them as an argument (Ray starts the cell when its
teacher's task is done), writes them to a scratch folder and loads them with the same checks
as the cache. A cell returns its `CellResult` and the bytes of its output folder (checkpoint,
videos), which the driver writes under its own output folder; the driver also writes each new
teacher into its cache and logs the teacher's run. Cells log their child runs straight to the
tracking server, under the driver's parent run. A worker that dies is retried
(`RayOptions.max_retries`); a cell that raises comes back FAILED, as in-process.

Imported only for `--executor ray` (ray is the optional extra `vdd-bench[ray]`).
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.cells import CellContext, CellResult
from bench.errors import CacheError, ConfigError, TrackingUnreachable
from bench.executors import Work, require_shared_tracking
from bench.executors.options import RayOptions, torch_threads
from bench.files import read_folder, write_folder
from bench.locks import file_lock
from bench.teacher_jobs import JobResult, TeacherJob

__all__ = ["RayExecutor", "TeacherPayload", "CellOutput"]


@dataclass(frozen=True)
class TeacherPayload:
    """A trained teacher in transit: its checkpoint files, and its training when this
    invocation trained it (None: it came from the driver's cache)."""

    job: TeacherJob
    files: dict[str, bytes]
    trained: JobResult | None


@dataclass(frozen=True)
class CellOutput:
    result: CellResult  # checkpoint None: the files travel in `files`
    files: dict[str, bytes]  # the cell's output folder (out/<label>/), relative paths
    operative: str = ""  # the worker's operative gin config after the cell


# ---------------------------------------------------------------- on a worker


def _settings(config_text: str, threads: int):
    """The driver's `Benchmark`, rebuilt here from its gin config, with `threads` torch
    threads (a worker process serves many tasks: gin is cleared first)."""
    import gin
    import torch

    import bench.configurables  # noqa: F401  (registers what the config names)
    from bench.settings import Benchmark

    gin.clear_config()
    gin.parse_config(config_text)
    torch.set_num_threads(threads)
    return replace(Benchmark(), threads=threads)


def _writable(dataset: dict) -> dict:
    """The dataset with its arrays copied out of the (read-only) object store."""
    return {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in dataset.items()}


def _train_teacher(config_text: str, job: TeacherJob, dataset: dict,
                   threads: int) -> TeacherPayload:
    from bench.teacher_jobs import train_job
    from bench.teacher_store import teacher_path

    s = _settings(config_text, threads)
    with tempfile.TemporaryDirectory(prefix="bench-teacher-") as cache:
        trained = train_job(job, s.task, _writable(dataset), s.data_seed, cache, s.trainer,
                            str(s.torch_device()), s.precision)
        path = teacher_path(job.kind, s.task, s.data_seed, cache_dir=cache, train_seed=job.seed)
        return TeacherPayload(job, read_folder(path), trained)


def _load_teacher(payload: TeacherPayload, settings, dataset, cache: Path):
    """The payload's teacher, written into the scratch cache `cache` and loaded from there
    (hashes and weights checked); a checkpoint of other settings is refused."""
    from moe.checkpoint import read_checkpoint_meta

    from bench.teacher_store import load_or_train_teacher, teacher_path

    job, s = payload.job, settings
    path = teacher_path(job.kind, s.task, s.data_seed, cache_dir=cache, train_seed=job.seed)
    write_folder(payload.files, path)
    key = read_checkpoint_meta(path).get("extra", {}).get("key")
    if key != path.name.rsplit("-", 1)[-1]:
        raise CacheError(f"teacher {job.kind} seed {job.seed} sent to this worker has key "
                         f"{key}, its settings here give {path.name}: driver and worker "
                         "configs differ")
    teacher = load_or_train_teacher(job.kind, s.task, dataset, s.data_seed, cache_dir=cache,
                                    trainer_config=s.trainer, train_seed=job.seed,
                                    device=s.torch_device())
    if not teacher.cached:  # the bytes did not load (the store moved them aside): no retraining
        raise CacheError(f"teacher {job.kind} seed {job.seed} sent to this worker did not load "
                         "from its checkpoint files")
    return teacher if payload.trained is None else replace(teacher, cached=False)


def _run_cell(config_text: str, cell, dataset: dict, teacher: TeacherPayload | None,
              tracker_state: dict, tags: dict[str, str], threads: int) -> CellOutput:
    from bench.invocation import Invocation
    from bench.tracking import attach_tracker

    s = _settings(config_text, threads)
    data = _writable(dataset)
    with tempfile.TemporaryDirectory(prefix="bench-cell-") as scratch:
        root = Path(scratch)
        trained = (_load_teacher(teacher, s, data, root / "cache")
                   if teacher is not None else None)
        context = CellContext(settings=s, dataset=data, teacher=trained, out=root / "out",
                              tracker=attach_tracker(tracker_state), config_text=config_text,
                              tags=tags)
        result = Invocation._run_cell(cell, context)
        files = read_folder(root / "out" / cell.label)
    import gin

    return CellOutput(replace(result, checkpoint=None), files, gin.operative_config_str())


@functools.cache
def _tasks():
    """(teacher training, cell) as Ray remote functions (made once, when first needed)."""
    import ray

    return ray.remote(_train_teacher), ray.remote(_run_cell)


# ---------------------------------------------------------------- on the driver


def _fits(request: dict[str, float], nodes: list[dict]) -> bool:
    """Whether some alive node offers `request` (num_cpus, num_gpus) at all."""
    want = {"CPU": request.get("num_cpus", 0), "GPU": request.get("num_gpus", 0)}
    return any(all(node["Resources"].get(k, 0) >= v for k, v in want.items() if v)
               for node in nodes)


class RayExecutor:
    """Runs the work on the Ray cluster at `options.address` ('' starts one here)."""

    name = "ray"

    def __init__(self, *, options: RayOptions) -> None:
        self.options = options
        self.connected = False  # whether start() called ray.init (close() disconnects)
        self.operative: list[str] = []  # the workers' operative gin configs

    def start(self, *, tracking_uri: str, plan) -> None:
        import logging

        import ray

        import distill
        from bench.methods import method_table

        try:
            self.options.check_names({*method_table(), *distill.ALGORITHMS, "teacher",
                                      "student"})
        except ValueError as e:
            raise ConfigError(str(e)) from e

        if not ray.is_initialized():
            try:
                local = not self.options.address
                ray.init(address=self.options.address or None, include_dashboard=False,
                         num_cpus=(self.options.num_cpus or None) if local else None,
                         logging_level=logging.WARNING)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise ConfigError(f"cannot start or reach the Ray cluster at "
                                  f"{self.options.address or '(local)'!r}: {e}") from e
            self.connected = True
        nodes = self.nodes()
        hosts = {n["NodeManagerAddress"] for n in nodes}
        require_shared_tracking(tracking_uri, hosts)
        cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
        print(f"[bench] Ray: {len(nodes)} node(s) on {len(hosts)} host(s), {cpus:g} CPUs",
              flush=True)
        self._check_requests(plan, nodes)

    @staticmethod
    def nodes() -> list[dict]:
        import ray

        return [n for n in ray.nodes() if n.get("Alive")]

    def operative_config(self) -> str:
        import gin

        from bench.executors import merge_operative

        return merge_operative(gin.operative_config_str(), self.operative)

    def close(self) -> None:
        import ray

        if self.connected:
            ray.shutdown()
            self.connected = False

    def _check_requests(self, plan, nodes: list[dict]) -> None:
        """A ConfigError naming a request no node can ever grant (it would wait forever)."""
        asks = [("teacher jobs", self.options.teacher_request())] if plan.teacher_jobs else []
        asks += [(c.method.name, self.options.cell_request(c.method)) for c in plan.cells]
        for what, request in asks:
            if not _fits(request, nodes):
                raise ConfigError(f"RayOptions: {what} ask for {request}, which no node of the "
                                  f"cluster offers ({[n['Resources'] for n in nodes]})")

    def execute(self, work: Work) -> list[CellResult]:
        import gin
        import ray

        from bench.teacher_store import is_cached, teacher_path
        from bench.tracking import tracker_state

        inv, s, opts = work.invocation, work.invocation.settings, self.options
        config_text = gin.config_str()
        train_task, cell_task = _tasks()
        data_ref = ray.put(work.dataset)
        state = tracker_state(work.tracker)
        teacher_refs, pending = {}, {}
        teacher_threads = torch_threads(opts.teacher_request())
        for job in work.teacher_jobs:
            path = teacher_path(job.kind, s.task, s.data_seed, cache_dir=s.cache_dir,
                                train_seed=job.seed)
            if is_cached(path):  # the driver's cache: its teacher run is logged now
                inv._teacher(job, work.dataset, work.tracker, None)
                teacher_refs[job] = ray.put(TeacherPayload(job, read_folder(path), None))
                continue
            ref = train_task.options(
                **opts.teacher_request(), max_retries=opts.max_retries,
                name=f"teacher-{job.kind}-seed{job.seed}").remote(
                config_text, job, data_ref, teacher_threads)
            teacher_refs[job], pending[ref] = ref, ("teacher", job)
        for i in opts.submit_order(work.cells):
            cell = work.cells[i]
            request = opts.cell_request(cell.method)
            ref = cell_task.options(**request, max_retries=opts.max_retries,
                                    name=cell.label).remote(
                config_text, cell, data_ref, teacher_refs.get(cell.teacher), state,
                work.cell_tags.get(cell.label, {}), torch_threads(request))
            pending[ref] = ("cell", i)
        print(f"[bench] Ray: {sum(k == 'teacher' for k, _ in pending.values())} teacher "
              f"job(s) and {len(work.cells)} cell(s) submitted", flush=True)
        results: list[CellResult | None] = [None] * len(work.cells)
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                kind, key = pending.pop(ready)
                if kind == "teacher":
                    self._teacher_done(ready, key, work)
                else:
                    results[key] = self._cell_done(ready, work.cells[key], inv.out,
                                                   self.operative)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            with contextlib.suppress(Exception):  # never mask the error that got us here
                self._close_orphans(work.tracker)
        return results

    def _teacher_done(self, ref, job: TeacherJob, work: Work) -> None:
        """Write the new teacher into the driver's cache and log its run (as in-process)."""
        import ray

        from bench.teacher_store import is_cached, teacher_path

        s = work.invocation.settings
        try:
            payload: TeacherPayload = ray.get(ref)
        except ray.exceptions.RayError as e:
            raise RuntimeError(f"teacher job {job.kind} seed {job.seed} failed on the "
                               f"cluster: {' '.join(str(e).split())[:500]}") from e
        path = teacher_path(job.kind, s.task, s.data_seed, cache_dir=s.cache_dir,
                            train_seed=job.seed)
        with file_lock(path):
            if not is_cached(path):
                write_folder(payload.files, path)
        work.invocation._teacher(job, work.dataset, work.tracker, payload.trained)

    @staticmethod
    def _cell_done(ref, cell, out: Path, operative: list[str]) -> CellResult:
        """The cell's result with its files under `out/<label>/`; a cell whose worker kept
        dying (retries spent) is FAILED; the invocation's own faults are raised."""
        import ray

        try:
            output: CellOutput = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, (CacheError, TrackingUnreachable)):
                raise cause from None
            return _failed(cell, e)
        except ray.exceptions.RayError as e:  # worker or node died more than max_retries
            return _failed(cell, e)
        operative.append(output.operative)
        if output.files:
            write_folder(output.files, out / cell.label)
        checkpoint = out / cell.label / "checkpoint"
        return replace(output.result, checkpoint=checkpoint if checkpoint.is_dir() else None)

    @staticmethod
    def _close_orphans(tracker) -> None:
        """Mark KILLED the child runs still RUNNING once the work is over: their worker died
        (the retry logged a run of its own) or was cancelled."""
        client, parent = tracker.client, tracker.parent.run_id
        for run in client.search_runs(
                [tracker.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{parent}' and "
                              "attributes.status = 'RUNNING'"):
            client.set_terminated(run.info.run_id, status="KILLED")


def _failed(cell, error: Exception) -> CellResult:
    reason = " ".join(f"{type(error).__name__}: {error}".split())[:500]
    print(f"[bench] {cell.label}: FAILED ({reason})", flush=True)
    return CellResult(cell.method.name, cell.seed, {}, "", None, failed=reason)
