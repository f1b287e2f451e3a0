"""Array conversions the adapters share: what a framework's tensor constructor can take."""

from __future__ import annotations

import numpy as np

__all__ = ["native_copy"]


def native_copy(array: object) -> np.ndarray:
    """A C-ordered copy of ``array`` in native byte order.

    Frameworks' tensor constructors take neither byte-swapped data nor every
    stride pattern, and some share the array's memory: a fresh native copy is
    the conversion that never changes a value, and leaves the caller's array
    alone.

    Examples
    --------
    >>> x = np.arange(3, dtype=">i2")[::-1]
    >>> native_copy(x), native_copy(x).dtype.isnative
    (array([2, 1, 0], dtype=int16), True)
    """
    array = np.asarray(array)
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)
