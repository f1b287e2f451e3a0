"""Inputs that provoke the classic MaxPool bugs, and bitwise comparison, without Hypothesis.

The strategies (`impls.conformance.strategies`) draw inputs with Hypothesis;
`maxpool bench` checks each implementation before timing it
(`impls.tools.quickcheck`) on an input built here, with only NumPy
installed. Both use the same pieces: NaN with varied sign and payload, so
that the selected NaN shows in the values, and bitwise comparison.

Examples
--------
>>> x = provoking_input((2, 4, 4), "float32", pooled_axes=2)
>>> bool(np.isneginf(x[0]).all()), bool(np.isnan(x).any())
(True, True)
>>> same_bits(np.array([0.0]), np.array([-0.0]))
False
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from impls.geometry import lowest_value

__all__ = ["provoking_input", "same_bits", "vary_nan_payloads"]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays have the same shape, dtype and bytes (``-0.0`` is not ``0.0``)."""
    a_bytes, b_bytes = (np.ascontiguousarray(array).reshape(-1).view(np.uint8) for array in (a, b))
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a_bytes, b_bytes)


def vary_nan_payloads(rng: np.random.Generator, flat: np.ndarray) -> None:
    """Give each NaN in ``flat`` a random sign and payload (quiet NaNs all), in place.

    Then the selected NaN is visible in the values too: the contract returns
    the selected element bit for bit, not just any NaN.
    """
    nan = np.isnan(flat)
    if not nan.any():
        return
    width = 8 * flat.dtype.itemsize
    mantissa = np.finfo(flat.dtype).nmant
    unsigned = np.dtype(f"u{flat.dtype.itemsize}")
    exponent_and_quiet = ((1 << (width - 1 - mantissa)) - 1) << mantissa | 1 << (mantissa - 1)
    payload = rng.integers(0, 1 << (mantissa - 1), nan.sum(), dtype=np.uint64)
    sign = rng.integers(0, 2, nan.sum(), dtype=np.uint64) << (width - 1)
    flat.view(unsigned)[nan] = (payload | sign | exponent_and_quiet).astype(unsigned)


def provoking_input(
    shape: tuple[int, ...],
    dtype: Any,
    pooled_axes: int,
    *,
    with_nan: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Values that provoke the classic bugs: ties, signed zeros, NaN, -inf, a lowest plane.

    Floats draw from ``-inf, -1, -0.0, 0.0, 1, 2`` (heavy ties, signed zeros)
    with about 4% NaN of varied bits and at least one in the last plane;
    integers from a small alphabet that includes the dtype's minimum and
    maximum. When there are leading axes, the first plane (all leading
    indices 0) holds only the dtype's lowest value, so that padding would
    win there if it could.
    """
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        alphabet = np.array([-np.inf, -1.0, -0.0, 0.0, 1.0, 2.0], dtype=kind)
    else:
        info = np.iinfo(kind)
        alphabet = np.array([info.min, info.min + 1, 0, 1, info.max], dtype=kind)
    x = rng.choice(alphabet, size=shape)
    if kind.kind == "f" and with_nan:
        x[rng.random(shape) < 0.04] = np.nan
        last_plane = x.reshape(-1, math.prod(shape[x.ndim - pooled_axes :]))[-1]
        last_plane[rng.integers(last_plane.size)] = np.nan  # at least one NaN
        vary_nan_payloads(rng, x.reshape(-1))
    if x.ndim > pooled_axes:
        x[(0,) * (x.ndim - pooled_axes)] = lowest_value(kind)
    return x
