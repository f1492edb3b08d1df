"""Errors the command line turns into one line and an exit code (`EXIT_CODES`)."""

from __future__ import annotations

__all__ = ["ConfigError", "TrainingDiverged", "CacheError", "TrackingUnreachable",
           "Interrupted", "EXIT_CODES", "EXIT_UNEXPECTED"]


class ConfigError(ValueError):
    """The configuration is unusable (file, binding, value): exit code 2, nothing trained."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf: training stopped, the last good checkpoint was kept (exit 1)."""


class CacheError(RuntimeError):
    """A cache entry or dataset is unusable and could not be rebuilt (exit 3)."""


class TrackingUnreachable(RuntimeError):
    """The MLflow tracking server does not answer (exit 4), checked before any work."""


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) ended the run: runs marked KILLED, temp folders removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


# One scheme for `python -m bench.run` (also in --help and the README, "Faults and exit codes").
EXIT_CODES = {
    0: "done (every cell finished)",
    1: "a cell failed (diverged or a non-finite metric); the other cells finished",
    2: "bad configuration (nothing trained)",
    3: "a cache or data error",
    4: "the tracking server is unreachable",
    5: "an unexpected error (one `error:` line; the traceback goes to the log file it names)",
    130: "interrupted (SIGINT); runs marked KILLED",
    143: "terminated (SIGTERM); runs marked KILLED",
}
EXIT_UNEXPECTED = 5
