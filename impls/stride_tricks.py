"""Strided max pooling: a `numpy.lib.stride_tricks.sliding_window_view` of the input.

Pad the input once into a buffer that spans every window, take a zero-copy
sliding-window view of it, keep every ``stride``-th window and every
``dilation``-th element inside a window by slicing the view, then reshape the
windows to ``(batch, *output_spatial, K)`` and take the first maximum along
the last axis. Backward adds each gradient at its flat index with the
unbuffered `numpy.add.at`, which accumulates repeated indices.

Cost
----
With ``B`` planes of ``P`` elements, ``O`` output positions per plane and
``K = prod(kernel_size)``: time O(B * (P + O * K)) in vectorised NumPy.
Extra memory: the padded copy (about ``B * P`` elements; where windows
lie further apart than their size, only the windows' elements,
`impls.geometry.gathered_geometry`) and the ``B * O * K`` window copy made by
the reshape, plus a boolean mask of that
size during the reduction. Backward: O(B * O) time and no extra memory
beyond the result, but `numpy.add.at` with a tuple of (plane, index) arrays
is slow: about 10 ns per output (the VGG-16 pool in docs/results.md: 126 ms
for 12.8M outputs, zeroing the gradient included).

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.stride_tricks import StridedMaxPool
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = StridedMaxPool().forward(x, PoolSpec((2, 2), stride=1))
>>> values
array([[5., 6.],
       [8., 9.]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .geometry import (
    Geometry,
    first_max_position,
    gathered_geometry,
    lowest_value,
    pad_to_windows,
    plane_index,
    prepare_backward,
    prepare_forward,
)
from .spec import PoolSpec

__all__ = ["StridedMaxPool"]


def _windows(padded: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Copy the windows of ``(batch, *region)`` into ``(batch, *output_spatial, K)``."""
    spec = geometry.spec
    view = sliding_window_view(padded, spec.extent, axis=tuple(range(1, spec.ndim + 1)))
    # view has shape (batch, *window_starts, *extent): keep every stride-th
    # start and every dilation-th element of each window.
    view = view[
        (slice(None),)
        + tuple(slice(None, None, s) for s in spec.stride)
        + tuple(slice(None, None, d) for d in spec.dilation)
    ]
    return view.reshape(padded.shape[:1] + geometry.output_spatial + (spec.window_size,))


class StridedMaxPool:
    """Max pooling over a sliding-window view, scatter-add backward."""

    name = "strided"

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` over its trailing axes; return ``(values, indices)``."""
        array, geometry = prepare_forward(x, spec)
        geometry = geometry.compact  # no kernel steps that read padding only
        planes = array.reshape(geometry.batch, *geometry.spatial_shape)
        gathered = gathered_geometry(geometry)  # where windows lie far apart, only them
        windows = _windows(pad_to_windows(planes, geometry, lowest_value(array.dtype)), gathered)
        inside_input = np.ones((1,) + geometry.spatial_shape, dtype=bool)
        valid = _windows(pad_to_windows(inside_input, geometry, False), gathered)
        position = first_max_position(windows, axis=-1, valid=valid)
        values = np.take_along_axis(windows, position[..., np.newaxis], axis=-1)
        indices = plane_index(position, geometry)
        shape = geometry.output_shape
        return values.reshape(shape), indices.reshape(shape)

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Add each ``grad_out`` element to the input element its index names."""
        grad, index_array, geometry = prepare_backward(grad_out, indices, input_shape, spec)
        grad_in = np.zeros((geometry.batch, geometry.plane_size), dtype=grad.dtype)
        plane_number = np.arange(geometry.batch)[:, np.newaxis]
        np.add.at(
            grad_in,
            (plane_number, index_array.reshape(geometry.batch, geometry.output_plane_size)),
            grad.reshape(geometry.batch, geometry.output_plane_size),
        )
        return grad_in.reshape(geometry.input_shape)
