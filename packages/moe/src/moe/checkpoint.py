"""Checkpoints as a directory: `model.safetensors` + `config.json` (with a format version).

No pickle anywhere: tensors go through safetensors, everything else through JSON. Writes are
atomic: a new checkpoint is written beside the old one and swapped in, so an interrupted save
leaves the last good checkpoint in place.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

__all__ = ["FORMAT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "load_state_strict"]

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, of another kind or version, or does not fit the model."""


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    kind: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `directory` atomically; an existing checkpoint there is replaced only on success."""
    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})
        meta = {"format_version": FORMAT_VERSION, "kind": kind, "config": config,
                "extra": extra or {}}
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True))
        for f in (tmp / WEIGHTS, tmp / CONFIG):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            final.rename(old)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            old.rename(final)  # put the last good checkpoint back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    directory: str | os.PathLike, *, kind: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """Read (config, state_dict, extra) and check the format version and kind."""
    path = Path(directory)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(
            f"{path} is not a checkpoint directory (needs {CONFIG} and {WEIGHTS})"
        )
    try:
        meta = json.loads((path / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path / CONFIG} is not valid JSON: {e}") from e
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}, this library reads version "
            f"{FORMAT_VERSION}; re-save it with a matching library version"
        )
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} checkpoint, not a {kind!r}")
    return meta["config"], load_file(str(path / WEIGHTS)), meta.get("extra", {})


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor],
                      directory: str | os.PathLike) -> None:
    """Load `state` into `module`, raising CheckpointError that names missing, unexpected or
    mis-shaped tensors (instead of torch's multi-line error)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{directory}: checkpoint does not fit {type(module).__name__} (missing "
            f"{missing[:5]}, unexpected {unexpected[:5]})"
        )
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise CheckpointError(
                f"{directory}: tensor {k} has shape {tuple(v.shape)}, the config gives "
                f"{tuple(own[k].shape)}"
            )
    module.load_state_dict(state)
