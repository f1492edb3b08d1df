"""Planar pose helpers of the rod tasks (the D3IL tasks and Block Push); quaternions are
MuJoCo's (w, x, y, z)."""

from __future__ import annotations

import numpy as np

__all__ = ["yaw_quat", "quat_yaw", "footprint_corners", "footprints_overlap"]


def yaw_quat(yaw: float) -> np.ndarray:
    """Unit quaternion (wxyz) of a rotation by `yaw` about z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(q: np.ndarray) -> float:
    """Yaw (rad) of a quaternion (wxyz): the heading of its rotated x axis in the xy plane."""
    w, x, y, z = np.asarray(q, dtype=np.float64)
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def footprint_corners(pose, half) -> np.ndarray:
    """(4, 2) corners of a rectangle (x, y, yaw) with half-sizes `half` (along its x, y)."""
    x, y, yaw = pose
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64) * np.asarray(half)
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def footprints_overlap(a, half_a, b, half_b, gap: float = 0.0) -> bool:
    """Whether two rectangles (x, y, yaw; half-sizes) come closer than `gap` (separating
    axes of both rectangles)."""
    ca, cb = footprint_corners(a, half_a), footprint_corners(b, half_b)
    for yaw in (a[2], b[2]):
        for axis in (np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])):
            pa, pb = ca @ axis, cb @ axis
            if pa.max() + gap <= pb.min() or pb.max() + gap <= pa.min():
                return False
    return True
