"""Errors the command line turns into one line and an exit code."""


class ConfigError(ValueError):
    """The configuration is unusable (file, binding, value): exit code 2, nothing trained."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf: training stopped, the last good checkpoint was kept (exit 1)."""
