"""`RayOptions`: how the Ray executor reaches its cluster and what each task asks of it.

gin: `RayOptions.address = 'auto'`, `RayOptions.cell_cpus = 1`, and per method name, algorithm
(`vdd`, `cd`, ...) or role (`teacher`, `student`) `RayOptions.resources = {'vdd_beso':
{'num_gpus': 0.5}}`, and `RayOptions.first = ['vdd_beso', 'em_gpt']` to submit the longest cells
first (Ray starts same-shaped tasks in submission order; the rest keep the plan's). A task's
torch threads are its CPUs (at least one). Importing this module never imports ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import gin

__all__ = ["RayOptions", "RESOURCE_KEYS", "torch_threads"]

RESOURCE_KEYS = ("num_cpus", "num_gpus")


def _check_amount(name: str, value) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"RayOptions.{name} must be a number >= 0, got {value!r}")


@gin.configurable(module="bench")
@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """Ray executor settings (used only with `Benchmark.executor = 'ray'`)."""

    address: str = ""  # "": start Ray on this machine; "auto": join the running cluster
    num_cpus: int = 0  # a Ray started here: its CPUs (0: every core); ignored with an address
    teacher_cpus: float = 1.0  # per teacher training job
    teacher_gpus: float = 0.0
    cell_cpus: float = 1.0  # per cell (method x seed)
    cell_gpus: float = 0.0
    # per method name, algorithm or role: {"num_cpus": x, "num_gpus": y} (most specific wins)
    resources: dict = field(default_factory=dict)
    max_retries: int = 2  # re-runs of a task whose worker process or node died
    # method names, algorithms or roles whose cells are submitted first, in this order
    first: tuple = ()

    def __post_init__(self) -> None:
        if not isinstance(self.address, str):
            raise ValueError(f"RayOptions.address must be a string ('', 'auto', "
                             f"'host:port'), got {self.address!r}")
        if isinstance(self.num_cpus, bool) or not isinstance(self.num_cpus, int) \
                or self.num_cpus < 0:
            raise ValueError(f"RayOptions.num_cpus must be an int >= 0, got {self.num_cpus!r}")
        for name in ("teacher_cpus", "teacher_gpus", "cell_cpus", "cell_gpus"):
            _check_amount(name, getattr(self, name))
        if (isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int)
                or self.max_retries < 0):
            raise ValueError(f"RayOptions.max_retries must be an int >= 0, got "
                             f"{self.max_retries!r}")
        if not isinstance(self.resources, dict):
            raise ValueError(f"RayOptions.resources must be a dict of name -> "
                             f"{{'num_cpus': x, 'num_gpus': y}}, got {self.resources!r}")
        for key, want in self.resources.items():
            if not isinstance(key, str) or not isinstance(want, dict) or not want \
                    or set(want) - set(RESOURCE_KEYS):
                raise ValueError(f"RayOptions.resources[{key!r}] must be a dict with keys of "
                                 f"{RESOURCE_KEYS}, got {want!r}")
            for name, value in want.items():
                _check_amount(f"resources[{key!r}][{name!r}]", value)
        if not isinstance(self.first, (list, tuple)) or not all(
                isinstance(k, str) for k in self.first):
            raise ValueError(f"RayOptions.first must be a list of method names, algorithms or "
                             f"roles, got {self.first!r}")

    def check_names(self, known: set[str]) -> None:
        """Raise ValueError naming a `resources` key or `first` entry that is no method,
        algorithm or role."""
        for field_name in ("resources", "first"):
            unknown = sorted(set(getattr(self, field_name)) - known)
            if unknown:
                raise ValueError(f"RayOptions.{field_name} names {unknown}, which are no "
                                 f"method, algorithm or role; known: {sorted(known)}")

    def teacher_request(self) -> dict[str, float]:
        """Resources of a teacher training job."""
        return {"num_cpus": self.teacher_cpus, "num_gpus": self.teacher_gpus}

    def cell_request(self, method) -> dict[str, float]:
        """Resources of a cell of `method` (a `bench.methods.Method`): the defaults, then its
        role's, its algorithm's and its own entry of `resources`, each overriding the last."""
        want = {"num_cpus": self.cell_cpus, "num_gpus": self.cell_gpus}
        for key in (method.role, method.algorithm, method.name):
            if key is not None:
                want.update(self.resources.get(key, {}))
        return want

    def submit_order(self, cells) -> list[int]:
        """Indices of `cells` (each with a `.method`) in submission order: those `first`
        names (by method name, algorithm or role; the earliest entry that matches), in its
        order, then the rest; ties keep the plan's order."""
        position = {k: i for i, k in reversed(list(enumerate(self.first)))}  # first wins
        last = len(self.first)

        def rank(i: int) -> int:
            m = cells[i].method
            return min(position.get(k, last) for k in (m.name, m.algorithm, m.role))

        return sorted(range(len(cells)), key=rank)


def torch_threads(request: dict[str, float]) -> int:
    """The torch threads of a task granted `request` (its CPUs, at least one)."""
    return max(1, int(request.get("num_cpus", 1)))
