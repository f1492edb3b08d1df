"""Worker processes that are safe to start from a process running torch or MLflow threads.

Forking such a process can copy a lock held by another thread into the child, which then
hangs forever (seen with subprocess vector envs started from the bench). Workers therefore
come from a fork server: a clean single-threaded process started once, which has already
imported the simulation modules, so each worker starts in milliseconds.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext

__all__ = ["worker_context"]

_PRELOAD = ["envs", "envs.datasets", "tianshou.env.worker.subproc"]
_CONTEXT: list[BaseContext] = []


def worker_context() -> BaseContext:
    """The multiprocessing context for simulation workers (fork server; spawn elsewhere)."""
    if not _CONTEXT:
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
        else:  # pragma: no cover - platforms without fork
            ctx = mp.get_context("spawn")
        _CONTEXT.append(ctx)
    return _CONTEXT[0]
