"""Planar orientation helpers shared by the rod tasks (quaternions are MuJoCo's w, x, y, z)."""

from __future__ import annotations

import numpy as np

__all__ = ["yaw_quat", "quat_yaw"]


def yaw_quat(yaw: float) -> np.ndarray:
    """Unit quaternion (wxyz) of a rotation by `yaw` about z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(q: np.ndarray) -> float:
    """Yaw (rad) of a quaternion (wxyz): the heading of its rotated x axis in the xy plane."""
    w, x, y, z = np.asarray(q, dtype=np.float64)
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
