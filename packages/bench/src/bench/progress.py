"""Progress where no terminal shows a bar: tqdm hides itself when its stream is not a
terminal (nohup, CI, a cluster scheduler's log), so long loops also print a plain line every
so often, and the grid says which cell of how many is running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO

__all__ = ["ProgressLines", "format_duration", "is_terminal", "cell_line"]


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (False for files, pipes, captured output)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def format_duration(seconds: float) -> str:
    """`seconds` as `1h02m`, `3m05s` or `42s`."""
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class ProgressLines:
    """Prints `[bench] <label>: iteration i/N (p%), <stat> v, r it/s, ETA t` every `every`
    iterations or `seconds` seconds, whichever comes first, and at the last iteration."""

    def __init__(self, *, label: str, total: int, every: int, seconds: float,
                 stream: TextIO | None = None) -> None:
        if total < 0 or every < 1 or seconds <= 0:
            raise ValueError(f"ProgressLines needs total >= 0, every >= 1, seconds > 0; got "
                             f"{total!r}, {every!r}, {seconds!r}")
        self.label, self.total, self.every, self.seconds = label, total, every, seconds
        self.stream = stream if stream is not None else sys.stdout
        self.start = self.last = time.perf_counter()
        self.lines = 0

    def due(self, iteration: int) -> bool:
        """Whether `update(iteration)` would print (a loop reads its stats back only then)."""
        return (iteration % self.every == 0 or iteration == self.total
                or time.perf_counter() - self.last >= self.seconds)

    def update(self, iteration: int, stats: Mapping[str, float] | None = None) -> bool:
        """Report iteration `iteration` (1-based) if one is due; returns whether it printed."""
        if not self.due(iteration):
            return False
        now = time.perf_counter()
        elapsed = max(now - self.start, 1e-9)
        rate = iteration / elapsed
        eta = (self.total - iteration) / rate if rate > 0 else float("inf")
        stat = ""
        if stats:
            key, value = next(iter(stats.items()))
            stat = f", {key} {value:.4g}"
        percent = 100.0 * iteration / self.total if self.total else 100.0
        print(f"[bench] {self.label}: iteration {iteration}/{self.total} ({percent:.0f}%)"
              f"{stat}, {rate:.1f} it/s, ETA {format_duration(eta)}",
              file=self.stream, flush=True)
        self.last, self.lines = now, self.lines + 1
        return True


def cell_line(index: int, total: int, label: str, elapsed_s: float) -> str:
    """The line printed before cell `index` (1-based) of `total` of the grid."""
    return (f"[bench] cell {index} of {total}: {label} (grid running for "
            f"{format_duration(elapsed_s)})")
