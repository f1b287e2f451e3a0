"""Refusing, before allocating, arrays that cannot exist on this machine.

A shape made of valid parameters can still be absurd: padding ``2**40`` with
stride 1 gives about ``2**40`` outputs, and ``maxpool bench --shape
100000,100000,1000`` asks for a 37 TiB input. NumPy would fail with a bare
`MemoryError`, or a `ValueError` that names no parameter, possibly after other
large allocations. `check_fits` says instead which array, of which shape,
needs how much, against the machine's physical memory.

Examples
--------
>>> check_fits((2, 3), 8, "the output")
>>> check_fits((10**10, 10**10), 8, "the output")  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
...
ValueError: the output, of shape (10000000000, 10000000000), would need 693.9 EiB,
more than one array can hold
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Sequence

__all__ = ["check_fits", "format_bytes", "physical_memory"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def format_bytes(count: int) -> str:
    """``count`` bytes in binary units, for messages.

    Examples
    --------
    >>> format_bytes(1536), format_bytes(40 * 2**40)
    ('1.5 KiB', '40.0 TiB')
    """
    value, unit = float(count), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{count} B" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


@functools.cache
def physical_memory() -> int | None:
    """Bytes of physical memory, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


def check_fits(shape: Sequence[int], itemsize: int, what: str) -> None:
    """Raise `ValueError` if an array of ``shape`` cannot be allocated here.

    That is, if it would hold more bytes than NumPy can address or than the
    machine has physical memory. The message names ``what``, the shape and
    the size. Cheap: no allocation, Python integers only.
    """
    needed = math.prod(shape) * itemsize
    available = physical_memory()
    if needed > sys.maxsize:
        limit = "one array can hold"
    elif available is not None and needed > available:
        limit = f"this machine's {format_bytes(available)} of memory"
    else:
        return
    raise ValueError(
        f"{what}, of shape {tuple(shape)}, would need {format_bytes(needed)}, more than {limit}"
    )
