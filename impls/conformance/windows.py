"""The reference geometry and selection rule, written from the contract alone.

`window_table` lists every window's elements, `contract_forward` applies the
selection rule (first maximum in row-major window order, NaN above everything,
padding never) and `flat_targets` places in-plane indices in the whole input, all
from the formulas of docs/contract.md and independently of the package's own
helpers, so that they can judge any implementation, ``naive`` included.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> flat, inside = window_table((3,), PoolSpec((2,), stride=1, padding=1))
>>> flat.tolist(), inside.tolist()
([[-1, 0], [0, 1], [1, 2], [2, 3]], [[False, True], [True, True], [True, True], [True, False]])
>>> contract_forward(np.array([3.0, np.nan, 1.0]), PoolSpec((2,), stride=1))[1]
array([1, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from impls import CONTRACT_DTYPES, PoolSpec

__all__ = ["Windows", "contract_forward", "flat_targets", "gather_windows", "window_table"]


def window_table(spatial: Sequence[int], spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """Every window's elements, in row-major window order, straight from the contract.

    Returns ``(flat, inside)``, both shaped ``(*output_spatial, window_size)``:
    ``flat`` is the plane index each window element reads (meaningless where
    it reads padding) and ``inside`` is False where it reads padding.
    """
    spatial = tuple(spatial)
    out = spec.output_shape(spatial)
    ndim = spec.ndim
    flat = np.zeros(out + spec.kernel_size, dtype=np.int64)
    inside = np.ones(out + spec.kernel_size, dtype=bool)
    for axis, ((begin, _), length) in enumerate(zip(spec.pads(spatial), spatial, strict=True)):
        # Output position o reads input position o*s - begin + j*d, j = 0 .. k-1.
        reads = (
            np.arange(out[axis])[:, np.newaxis] * spec.stride[axis]
            - begin
            + np.arange(spec.kernel_size[axis]) * spec.dilation[axis]
        )
        shape = [1] * (2 * ndim)
        shape[axis], shape[ndim + axis] = out[axis], spec.kernel_size[axis]
        reads = reads.reshape(shape)
        flat = flat * length + reads
        inside &= (reads >= 0) & (reads < length)
    return flat.reshape(out + (-1,)), inside.reshape(out + (-1,))


class Windows(NamedTuple):
    """Every window of a batch of planes, outputs flattened (see `gather_windows`)."""

    elements: np.ndarray  # (batch, outputs, window_size): padding slots hold element 0
    reads: np.ndarray  # (outputs, window_size): `flat`, with padding slots reading 0
    flat: np.ndarray  # (outputs, window_size): `window_table`'s plane indices
    inside: np.ndarray  # (outputs, window_size): False where a slot reads padding


def gather_windows(x: np.ndarray, spec: PoolSpec) -> Windows:
    """The elements of every window of ``x``, in row-major window order (`window_table`)."""
    split = x.ndim - spec.ndim
    spatial = x.shape[split:]
    planes = np.ascontiguousarray(x).reshape(math.prod(x.shape[:split]), math.prod(spatial))
    flat, inside = window_table(spatial, spec)
    flat, inside = flat.reshape(-1, flat.shape[-1]), inside.reshape(-1, inside.shape[-1])
    reads = np.where(inside, flat, 0)
    return Windows(planes[:, reads], reads, flat, inside)


def contract_forward(x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """The contract's selection rule, vectorised: first maximum, NaN above all, padding never.

    A second oracle besides ``naive``, used to judge ties, NaN and all -inf
    windows on their own.
    """
    assert x.dtype.name in CONTRACT_DTYPES
    split = x.ndim - spec.ndim
    windows, _, flat, inside = gather_windows(x, spec)  # (batch, outputs, K)
    if x.dtype.kind == "f":
        nan = np.isnan(windows) & inside
        numbers = inside & ~nan
        lowest: float | int = -np.inf
    else:
        nan = np.zeros(windows.shape, dtype=bool)
        numbers = np.broadcast_to(inside, windows.shape)
        lowest = np.iinfo(x.dtype).min  # not impls.geometry.lowest_value: see the module docstring
    maximum = np.where(numbers, windows, lowest).max(axis=-1, keepdims=True)
    winners = np.where(nan.any(axis=-1, keepdims=True), nan, numbers & (windows == maximum))
    position = winners.argmax(axis=-1)[..., np.newaxis]
    values = np.take_along_axis(windows, position, axis=-1)[..., 0]
    indices = np.take_along_axis(np.broadcast_to(flat, windows.shape), position, axis=-1)[..., 0]
    out_shape = x.shape[:split] + spec.output_shape(x.shape[split:])
    return values.reshape(out_shape), indices.reshape(out_shape).astype(np.int64)


def flat_targets(indices: np.ndarray, input_shape: Sequence[int], pooled_axes: int) -> np.ndarray:
    """Each index (in-plane, the contract's format) as a position in the whole flattened input."""
    plane = math.prod(input_shape[len(input_shape) - pooled_axes :])
    batch = math.prod(input_shape[: len(input_shape) - pooled_axes])
    per_plane = np.asarray(indices).reshape(batch, -1)
    return (per_plane + np.arange(batch)[:, np.newaxis] * plane).ravel()
