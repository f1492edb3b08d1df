"""A folder as bytes and back: how checkpoints and cell outputs travel between machines that
share no filesystem (the Ray object store carries the bytes; nothing is pickled as a model).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["read_folder", "write_folder"]


def read_folder(path: str | os.PathLike) -> dict[str, bytes]:
    """Every file under `path` as {relative POSIX path: its bytes} ({} when it is absent)."""
    root = Path(path)
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_folder(files: dict[str, bytes], path: str | os.PathLike) -> Path:
    """Write `files` (from `read_folder`) as the folder `path`, whole or not at all: written
    beside it, then renamed into place (an existing folder is replaced)."""
    root = Path(path)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f".{root.name}.incoming-{uuid.uuid4().hex[:8]}")
    try:
        for rel, data in files.items():
            target = (tmp / rel).resolve()
            if not target.is_relative_to(tmp.resolve()):
                raise ValueError(f"refusing to write {rel!r} outside {root}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        tmp.mkdir(exist_ok=True)
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
