"""Field checks that distill's config dataclasses share.

Each check takes the owner's name (the config class, as the user spells it) and the fields to
check as keywords, in the order they are checked; the first bad one raises a ValueError that
names `Owner.field` and shows the bad value, e.g. "VDDConfig.cmp_steps must be a positive int,
got 0".
"""

from __future__ import annotations

import math

__all__ = ["check_positive_int", "check_positive_number"]


def check_positive_int(owner: str, **values: object) -> None:
    """Each value is an int >= 1 (a bool is not an int here)."""
    for field, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}.{field} must be a positive int, got {value!r}")


def check_positive_number(owner: str, **values: object) -> None:
    """Each value is a finite int or float > 0 (a bool is not a number here)."""
    for field, value in values.items():
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and value > 0 and math.isfinite(value)):
            raise ValueError(f"{owner}.{field} must be a finite number > 0, got {value!r}")
