"""Any saved policy back from its checkpoint folder, whatever trained it: the folder's
`config.json` names its kind (`moe.MoEPolicy`, a teacher kind's policy, a CD/CTM student), and
the class comes from the registries, so a new teacher kind loads with no edit here."""

from __future__ import annotations

from pathlib import Path

import torch

from distill import ConsistencyPolicy
from moe import MoEPolicy
from moe.checkpoint import CheckpointError, read_checkpoint_meta
from teachers import TEACHERS

__all__ = ["policy_classes", "load_policy", "check_fits", "CheckpointError"]


def policy_classes() -> dict[str, type]:
    """Checkpoint kind -> policy class, for every policy the bench can train."""
    classes = [MoEPolicy, ConsistencyPolicy, *(k.policy for k in TEACHERS.values())]
    return {cls.CHECKPOINT_KIND: cls for cls in classes}


def load_policy(path: str | Path, *, device: str | torch.device = "cpu"):
    """The policy saved at `path` (a checkpoint folder), in eval mode, on `device`. A folder
    that is not a checkpoint, of an unknown kind, or damaged raises CheckpointError naming it."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} is not a checkpoint folder (no config.json); a bench "
                              "run's students are under outputs/<task>/<run>/<method>-seed<k>/"
                              "checkpoint")
    kind = read_checkpoint_meta(path).get("kind")
    classes = policy_classes()
    if kind not in classes:
        raise CheckpointError(f"{path} holds a {kind!r} checkpoint; loadable kinds: "
                              f"{sorted(classes)}")
    return classes[kind].load(path, device=device).eval()


def check_fits(policy, task) -> None:
    """Raise ValueError when `policy` was trained for other observations or actions than
    `task` gives (dimension or window)."""
    cfg = policy.config
    wrong = [f"{name} {getattr(cfg, name)} (task: {getattr(task, name)})"
             for name in ("obs_dim", "action_dim", "window")
             if getattr(cfg, name) != getattr(task, name)]
    if wrong:
        raise ValueError(f"the checkpoint does not fit task {task.name!r}: its "
                         f"{', '.join(wrong)}")
