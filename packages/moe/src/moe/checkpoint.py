"""Checkpoints as a directory: `model.safetensors` + `config.json` (with a format version).

No pickle anywhere: tensors go through safetensors, everything else through JSON. Writes are
atomic and crash-safe: a new checkpoint is written beside the old one, the old one renamed
aside, the new one renamed in (the folder fsynced after each step); a writer killed between
the two renames leaves the old one aside, and the next save or load puts it back. config.json
records the SHA-256 of the weights file (`sha256`), verified on load with the weights'
finiteness, so a garbled or truncated checkpoint is an error, never a model (checkpoints from
before the hash are checked for readable, finite weights).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

__all__ = ["FORMAT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "read_checkpoint_meta", "load_state_strict", "file_hashes", "recover_checkpoint"]

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
HASH_FIELD = "sha256"  # config.json: {WEIGHTS: hex digest} (absent in older checkpoints)


class CheckpointError(ValueError):
    """A checkpoint is missing, of another kind or version, corrupt, or does not fit."""


def file_hashes(directory: str | os.PathLike, names=(WEIGHTS, CONFIG)) -> dict[str, str]:
    """SHA-256 hex digest of each named file in `directory`."""
    out = {}
    for name in names:
        h = hashlib.sha256()
        with open(Path(directory) / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[name] = h.hexdigest()
    return out


def _fsync_dir(path: Path) -> None:
    """Make renames in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: str) -> bool:
    """Whether another process `pid` (a writer perhaps mid-swap) is running."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()


def _aside(final: Path) -> list[Path]:
    """Checkpoints of `final` renamed aside by writers that are gone (killed mid-swap)."""
    return sorted(p for p in final.parent.glob(f".{final.name}.old-*")
                  if not _alive(p.name.rsplit("-", 1)[-1]))


def recover_checkpoint(directory: str | os.PathLike) -> None:
    """Finish a swap a killed writer left half done: with no checkpoint at `directory` but one
    renamed aside (`.<name>.old-<pid>`), put it back; aside copies beside a checkpoint go."""
    final = Path(directory)
    aside = _aside(final) if final.parent.is_dir() else []
    if aside and not final.exists():
        os.rename(aside[-1], final)
        aside = aside[:-1]
        _fsync_dir(final.parent)
    for old in aside:
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    kind: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `directory` atomically; an existing checkpoint there is replaced only on success,
    and a kill at any step leaves a whole checkpoint (old or new) to load."""
    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_checkpoint(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})
        meta = {"format_version": FORMAT_VERSION, "kind": kind, "config": config,
                "extra": extra or {}, HASH_FIELD: file_hashes(tmp, (WEIGHTS,))}
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True))
        for f in (tmp / WEIGHTS, tmp / CONFIG):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if final.exists():
            os.rename(final, old)
            _fsync_dir(final.parent)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            os.rename(old, final)  # put the last good checkpoint back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    directory: str | os.PathLike, *, kind: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """Read (config, state_dict, extra): check the files' hashes (where recorded), the format
    version and kind, and that every floating-point tensor is finite."""
    path = Path(directory)
    meta = read_checkpoint_meta(path, verify=True)
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} checkpoint, not a {kind!r}")
    try:
        state = load_file(str(path / WEIGHTS))
    except Exception as e:  # noqa: BLE001  (safetensors raises its own error types)
        raise CheckpointError(f"{path / WEIGHTS} is unreadable: {' '.join(str(e).split())}") \
            from e
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: non-finite weights in {sorted(bad)[:5]}")
    return meta["config"], state, meta.get("extra", {})


def read_checkpoint_meta(directory: str | os.PathLike, *, verify: bool = True) -> dict[str, Any]:
    """The checkpoint's config.json (format version checked; with `verify`, the weights file
    checked against the recorded hash where the checkpoint has one)."""
    path = Path(directory)
    recover_checkpoint(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(
            f"{path} is not a checkpoint directory (needs {CONFIG} and {WEIGHTS})"
        )
    try:
        meta = json.loads((path / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / CONFIG} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path / CONFIG} is not a checkpoint config")
    recorded = meta.get(HASH_FIELD)
    if verify and recorded is not None:
        if not isinstance(recorded, dict):
            raise CheckpointError(f"{path / CONFIG}: {HASH_FIELD} is not a mapping")
        try:
            actual = file_hashes(path, tuple(recorded))
        except OSError as e:
            raise CheckpointError(f"{path}: a hashed file is unreadable: {e}") from e
        changed = sorted(n for n in recorded if recorded[n] != actual[n])
        if changed:
            raise CheckpointError(f"{path}: {', '.join(changed)} changed since it was written "
                                  "(content hash mismatch)")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}, this library reads version "
            f"{FORMAT_VERSION}; re-save it with a matching library version"
        )
    return meta


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
