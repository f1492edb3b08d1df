"""What a run records besides its curves, in forms MLflow's views compare: the config that
produced it (file names and a hash, as tags), the parameters that apply to it, the dataset it
learnt from, a metrics summary, and per-method means for the parent run.

Pure functions of the run's data; `bench.tracking` writes them to MLflow.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FINAL_STEP", "FINAL_PREFIXES", "IMAGE_FIELDS", "DatasetRecord", "config_tags",
           "applicable_params", "dataset_record", "final_metrics", "method_means",
           "summary_json"]

FINAL_STEP = 0  # every run's final eval/timing metrics share this step: grouped charts compare
FINAL_PREFIXES = ("eval/", "timing/")  # final metrics; train/ keys are curves (but train/wall_s)
# policy-config fields that only mean something with cameras (moe.MoEConfig, teacher configs)
IMAGE_FIELDS = ("cameras", "image_size", "image_encoder", "shared_encoder", "image_pool")


def config_tags(files: Sequence[str], config_text: str) -> dict[str, str]:
    """Tags naming the gin file(s) of a run and a hash of its bindings, so runs of
    `gin/cpu/avoiding.gin` and `gin/avoiding.gin` (or of one file with different `-b`
    overrides) are told apart and grouped. The hash leaves out what only chooses which cells
    run, where and how they are shown (methods, seeds, folders, executor, progress:
    `bench.resume.config_key`), so the runs of one budget share it across invocations."""
    from bench.resume import config_key  # imports the cells: only when tagging

    return {"config": ",".join(str(f) for f in files) or "-",
            "config_hash": config_key(config_text)}


def applicable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` without the image-encoder fields of a state-only policy config: for every
    prefix `p` with `p + "cameras"` equal to 0, the other `p + IMAGE_FIELDS` are dropped
    (`cameras = 0` itself stays: it says the policy is state-only)."""
    drop = set()
    for key, value in params.items():
        if key.endswith("cameras") and not value:
            prefix = key[: -len("cameras")]
            drop.update(prefix + name for name in IMAGE_FIELDS if name != "cameras")
    return {k: v for k, v in params.items() if k not in drop}


@dataclass(frozen=True, kw_only=True)
class DatasetRecord:
    """A run's training data as MLflow's Dataset column shows it."""

    name: str
    digest: str
    source: str  # JSON: where the data lives (a cache folder, or "generated in memory")
    profile: str  # JSON: windows and shapes

    def __post_init__(self) -> None:
        if not self.name or not self.digest:
            raise ValueError(f"DatasetRecord needs a name and a digest, got {self.name!r}, "
                             f"{self.digest!r}")


def dataset_record(task, dataset: Mapping[str, Any], *, data_seed: int,
                   cache_dir: str) -> DatasetRecord:
    """The record of a task's training windows: named by task and data seed, digested from
    the task's data settings and the actions (cheap: no image frames are read)."""
    actions = np.ascontiguousarray(dataset["actions"])
    h = hashlib.sha256(json.dumps({"task": task.data_settings(), "data_seed": data_seed},
                                  sort_keys=True, default=str).encode())
    h.update(actions.tobytes())
    obs = dataset["obs"]
    profile = {"windows": int(len(actions)), "actions": list(actions.shape),
               "obs": list(getattr(obs, "shape", ())) or type(obs).__name__,
               "episodes": int(len(dataset["modes"])) if "modes" in dataset else None}
    in_memory = hasattr(task, "target")
    source = ({"generated": "in memory", "task": task.name} if in_memory else
              {"uri": f"{cache_dir}/datasets", "task": task.name})
    return DatasetRecord(name=f"{task.name}-data{data_seed}", digest=h.hexdigest()[:16],
                         source=json.dumps(source), profile=json.dumps(profile))


def final_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The final (not curve) metrics of a run: eval/*, timing/* and train/wall_s."""
    return {k: v for k, v in metrics.items()
            if k.startswith(FINAL_PREFIXES) or k == "train/wall_s"}


def method_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per method, the mean over its finished seeds of every final metric, keyed
    `<method>/<metric>` (e.g. `vdd_beso/eval/success_rate`); failed rows are left out."""
    by_method: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row.get("failed"):
            continue
        values = by_method.setdefault(row["method"], {})
        for key, value in final_metrics({k: v for k, v in row.items()
                                         if isinstance(v, (int, float, np.number))
                                         and not isinstance(v, bool)}).items():
            if math.isfinite(float(value)):
                values.setdefault(key, []).append(float(value))
    return {f"{method}/{key}": float(np.mean(vals))
            for method, metrics in by_method.items() for key, vals in metrics.items()}


def summary_json(metrics: Mapping[str, Any], **extra: Any) -> str:
    """A run's metrics summary (`metrics.json`): the final metrics and `extra` facts."""
    final = {k: float(v) for k, v in sorted(final_metrics(metrics).items())}
    return json.dumps({**extra, "metrics": final}, indent=2, sort_keys=True, default=str)
