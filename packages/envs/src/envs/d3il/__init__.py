"""The D3IL rod tasks in MuJoCo: Avoiding, Aligning, Pushing (gymnasium API)."""

import os

# Headless rendering on the CPU: EGL works without a display (must be set before mujoco loads).
os.environ.setdefault("MUJOCO_GL", "egl")
