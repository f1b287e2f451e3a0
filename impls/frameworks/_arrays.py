"""What the adapters share: the arrays a framework's tensor constructor can take, and the
indices a layer keeps from its forward."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["kept_indices", "native_copy"]


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


def kept_indices(layer: Any, x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The indices ``layer`` kept from its forward (``layer.indices``), already in the
    contract's format: the ``indices`` reader of `impls.conformance.from_layer` for
    frameworks that return them (Paddle's mask, tinygrad's indices)."""
    assert layer.indices is not None, "forward runs before the indices are read"
    indices: np.ndarray = layer.indices
    return indices
