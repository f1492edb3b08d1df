"""Executors: what runs an invocation's teacher jobs and cells (`bench.plan`).

The driver (`bench.invocation.Invocation`) opens the output folder and the MLflow parent run,
loads the dataset, leaves out the cells a resumed invocation already finished, and hands the
rest to an executor as `Work`; it gets one `CellResult` per cell back, in order, and writes
the report. `local` (default) runs everything in this process (uncached teachers side by
side); `ray` spreads teacher jobs and cells over a Ray cluster (`bench.executors.ray`, imported
only when asked for: ray is an optional extra).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.executors.options import RayOptions

__all__ = ["EXECUTORS", "Executor", "Work", "make_executor", "RayOptions",
           "require_shared_tracking", "merge_operative"]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True, kw_only=True)
class Work:
    """What an executor is given: the driver, the cells to run and what they need."""

    invocation: Any  # bench.invocation.Invocation: settings, out, config text, teacher logging
    cells: tuple  # the bench.plan.Cells to run, in plan order
    dataset: dict
    tracker: Any  # bench.tracking.Tracker with the parent run open
    cell_tags: dict[str, dict[str, str]] = field(default_factory=dict)  # per cell label

    @property
    def teacher_jobs(self) -> list:
        """The plan's teacher jobs these cells need, in plan order."""
        needed = {c.teacher for c in self.cells if c.teacher is not None}
        return [j for j in self.invocation.plan.teacher_jobs if j in needed]


class Executor(Protocol):
    name: str

    def start(self, *, tracking_uri: str, plan) -> None:
        """Connect and check the `bench.plan.Plan` can run there (a ConfigError before any
        run is opened)."""

    def execute(self, work: Work) -> list:
        """Run `work`'s teacher jobs and cells; one CellResult per cell, in order (a cell
        that raised: a FAILED result)."""

    def close(self) -> None:
        """Release what `start` took."""

    def operative_config(self) -> str:
        """The operative gin config of the work done (this process's, and its workers')."""


def require_shared_tracking(uri: str, hosts: set[str]) -> None:
    """Raise ConfigError when workers on several `hosts` would log to a store only this
    machine has (a local sqlite file or folder): they need a tracking server."""
    from bench.errors import ConfigError

    if len(hosts) > 1 and not uri.startswith(("http://", "https://", "databricks")):
        raise ConfigError(
            f"the Ray cluster spans {len(hosts)} hosts but MLflow logs to {uri}, which only "
            "this machine has: start scripts/mlflow_server.sh and set MLFLOW_TRACKING_URI="
            "http://<this host>:5000")


def merge_operative(driver: str, others: list[str]) -> str:
    """`driver`'s operative gin config plus the sections (`# Parameters for X:` blocks) of
    `others` (workers' operative configs) that it lacks, each once."""
    def sections(text: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for block in text.split("\n\n"):
            head = next((ln for ln in block.splitlines() if ln.startswith("# Parameters for")),
                        None)
            if head is not None:
                out.setdefault(head, block.strip("\n"))
        return out

    have = sections(driver)
    extra: dict[str, str] = {}
    for text in others:
        for head, block in sections(text).items():
            if head not in have:
                extra.setdefault(head, block)
    if not extra:
        return driver
    return driver.rstrip("\n") + "\n\n" + "\n\n".join(extra[h] for h in sorted(extra)) + "\n"


def make_executor(name: str, *, ray: RayOptions | None = None) -> Executor:
    """The executor called `name` (one of `EXECUTORS`)."""
    options = ray or RayOptions()
    if name == "ray":
        try:
            import ray as ray_module  # noqa: F401  (the optional extra, used in .ray)
        except ImportError as e:
            from bench.errors import ConfigError

            raise ConfigError(f"--executor ray needs ray ({e}): pip install "
                              "'packages/bench[ray]'") from e
        from bench.executors.ray import RayExecutor

        return RayExecutor(options=options)
    if name == "local":
        from bench.executors.local import LocalExecutor

        return LocalExecutor()
    raise ValueError(f"unknown executor {name!r}; known: {list(EXECUTORS)}")
