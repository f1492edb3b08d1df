"""Resume: which cells of an earlier invocation are done, so they are not run again.

A cell's child run is tagged `bench.config_hash`: a hash of the invocation's gin config (less
the settings that choose what runs, where and how it is shown: `Benchmark.methods`, `seeds`,
`output_dir`, `cache_dir`, `executor`, `teacher_workers`, `parallel_eval`, `RayOptions`,
`TrainerConfig.progress`) with the cell's method and seed. `--resume` reopens the earlier
parent run and output folder; a planned cell whose hash has a FINISHED child run there is
skipped and its row is read back from that run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.cells import CellResult
from bench.errors import ConfigError
from bench.plan import Cell

__all__ = ["HASH_TAG", "RUN_FILE", "config_key", "cell_hash", "parent_of", "finished_cells",
           "result_from_run"]

HASH_TAG = "bench.config_hash"
RUN_FILE = "parent_run.txt"  # in an output folder: the id of its MLflow parent run
IGNORED = ("Benchmark.methods", "Benchmark.seeds", "Benchmark.output_dir",
           "Benchmark.cache_dir", "Benchmark.executor", "Benchmark.teacher_workers",
           "Benchmark.parallel_eval", "Benchmark.experiment", "RayOptions.",
           "TrainerConfig.progress", "TrainerConfig.bar")


def _bindings(config_text: str) -> list[str]:
    """The bindings of a `gin.config_str()` text, one string each (continuation lines
    joined), comments and blank lines left out."""
    blocks: list[str] = []
    for line in config_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and blocks:
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def config_key(config_text: str) -> str:
    """A hash of what determines a cell's result in `config_text` (see the module doc)."""
    def selector(block: str) -> str:
        return block.split("=", 1)[0].strip().split("/")[-1]

    kept = [b for b in _bindings(config_text) if not selector(b).startswith(IGNORED)]
    return hashlib.sha256("\n".join(sorted(kept)).encode()).hexdigest()[:16]


def cell_hash(key: str, cell: Cell) -> str:
    """The `bench.config_hash` tag of `cell` under config key `key`."""
    return hashlib.sha256(f"{key}\n{cell.method.name}\n{cell.seed}".encode()).hexdigest()[:16]


def parent_of(resume: str) -> str:
    """The parent run id `--resume` names: an output folder (its `parent_run.txt`) or the id."""
    path = Path(resume)
    if path.is_dir():
        marker = path / RUN_FILE
        if not marker.is_file():
            raise ConfigError(f"--resume {resume}: no {RUN_FILE} in that folder (not a bench "
                              "output folder, or written before resume existed)")
        return marker.read_text().strip()
    if not resume.isalnum():
        raise ConfigError(f"--resume {resume!r} is neither an output folder nor an MLflow run id")
    return resume


def finished_cells(client, experiment_id: str, parent_run_id: str) -> dict[str, object]:
    """{config hash: the latest FINISHED child run with it} under `parent_run_id`."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and "
                                       "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"], max_results=50_000)
    return {r.data.tags[HASH_TAG]: r for r in runs if HASH_TAG in r.data.tags}


def result_from_run(cell: Cell, run, out: Path) -> CellResult:
    """A done cell's row read back from its child run: its final metrics (not the training
    curves, not the speed-up the report adds); no samples or mixture snapshots."""
    metrics = {k: v for k, v in run.data.metrics.items()
               if (not k.startswith("train/") or k == "train/wall_s")
               and k != "timing/speedup_vs_teacher"}
    checkpoint = out / cell.label / "checkpoint"
    return CellResult(cell.method.name, cell.seed, metrics, run.info.run_id,
                      checkpoint if checkpoint.is_dir() else None)
