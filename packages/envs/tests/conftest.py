import os

# Headless rendering: mujoco reads MUJOCO_GL when it is first imported (tests may import it
# before `envs` does).
os.environ.setdefault("MUJOCO_GL", "egl")
