"""What counts as an integer or a number in a file or a hand-built setting (case.json, a config pickle,
meta.json, a baseline, a Sweep): Python's bool is an int, and JSON gives NaN, infinities and integers too
large for a float, each of which passed a plain isinstance check and failed later, far from the file."""
from __future__ import annotations

import math
from typing import Any


def is_int(value: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number (int or float), not a bool, small enough for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
