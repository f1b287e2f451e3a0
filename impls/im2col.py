"""im2col max pooling: gather every window into a column, reduce the columns.

The classic approach of from-scratch frameworks: copy the (padded) input into
a ``(batch, K, *output_spatial)`` array of columns, one loop step per kernel
offset, so that column ``(b, :, o)`` holds window ``o`` of plane ``b``; take
the first maximum along the column axis; convert the winning column position
to a plane index. Backward puts each gradient into its column position and
adds the columns back into the image (col2im), one strided slice per kernel
offset, so overlapping windows accumulate.

Cost
----
With ``B`` planes of ``P`` elements, ``O`` output positions per plane and
``K = prod(kernel_size)``: time O(B * (P + O * K)) in vectorised NumPy, with a
Python loop of ``K`` steps. Extra memory: the padded copy of the input
(about ``B * P`` elements; where windows lie further apart than their size,
only the windows' elements, `impls.geometry.gathered_geometry`), the
``B * O * K`` columns and a boolean mask of the same size during the
reduction. Backward: the same columns, as gradients (where windows lie far
apart, none: gradients are added at their indices directly). Padding,
stride and dilation size nothing beyond these.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.im2col import Im2colMaxPool
>>> x = np.arange(16.0).reshape(4, 4)
>>> values, indices = Im2colMaxPool().forward(x, PoolSpec((2, 2)))
>>> values
array([[ 5.,  7.],
       [13., 15.]])
>>> Im2colMaxPool().backward(np.ones((2, 2)), indices, x.shape, PoolSpec((2, 2)))
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]])
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from .geometry import (
    Geometry,
    crop_to_input,
    first_max_position,
    gathered_geometry,
    lowest_value,
    pad_to_windows,
    plane_index,
    prepare_backward,
    prepare_forward,
    window_position,
)
from .spec import PoolSpec

__all__ = ["Im2colMaxPool"]


def _kernel_slices(geometry: Geometry) -> Iterator[tuple[int, tuple[slice, ...]]]:
    """For each window position, the strided slice of the region it reads."""
    spec = geometry.spec
    for position, offsets in enumerate(itertools.product(*map(range, spec.kernel_size))):
        slices = [slice(None)]
        for axis, offset in enumerate(offsets):
            start = offset * spec.dilation[axis]
            stop = start + (geometry.output_spatial[axis] - 1) * spec.stride[axis] + 1
            slices.append(slice(start, stop, spec.stride[axis]))
        yield position, tuple(slices)


def im2col(padded: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Gather ``(batch, *region)`` into ``(batch, K, *output_spatial)`` columns."""
    columns = np.empty(
        padded.shape[:1] + (geometry.spec.window_size,) + geometry.output_spatial,
        dtype=padded.dtype,
    )
    for position, region_slice in _kernel_slices(geometry):
        columns[:, position] = padded[region_slice]
    return columns


def col2im(columns: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Add ``(batch, K, *output_spatial)`` columns back into ``(batch, *region)``."""
    region_shape = tuple(hi - lo for lo, hi in geometry.region())
    padded = np.zeros(columns.shape[:1] + region_shape, dtype=columns.dtype)
    for position, region_slice in _kernel_slices(geometry):
        padded[region_slice] += columns[:, position]
    return padded


class Im2colMaxPool:
    """Max pooling by im2col gathering and col2im scatter-add."""

    name = "im2col"

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` over its trailing axes; return ``(values, indices)``."""
        array, geometry = prepare_forward(x, spec)
        geometry = geometry.compact  # no kernel steps that read padding only
        planes = array.reshape(geometry.batch, *geometry.spatial_shape)
        gathered = gathered_geometry(geometry)  # where windows lie far apart, only them
        columns = im2col(pad_to_windows(planes, geometry, lowest_value(array.dtype)), gathered)
        inside_input = np.ones((1,) + geometry.spatial_shape, dtype=bool)
        valid = im2col(pad_to_windows(inside_input, geometry, False), gathered)
        position = first_max_position(columns, axis=1, valid=valid)
        values = np.take_along_axis(columns, position[:, np.newaxis], axis=1)
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
        geometry = geometry.compact  # the columns of forward
        batch_shape = (geometry.batch,) + geometry.output_spatial
        grad = grad.reshape(batch_shape)
        index_array = index_array.reshape(batch_shape)
        position, inside = window_position(index_array, geometry)
        if gathered_geometry(geometry) is geometry:
            columns = np.zeros(
                (geometry.batch, geometry.spec.window_size) + geometry.output_spatial,
                dtype=grad.dtype,
            )
            np.put_along_axis(
                columns, position[:, np.newaxis], np.where(inside, grad, 0)[:, np.newaxis], axis=1
            )
            grad_in = crop_to_input(col2im(columns, geometry), geometry)
        else:  # windows far apart: no region worth adding columns into
            grad_in = np.zeros((geometry.batch,) + geometry.spatial_shape, dtype=grad.dtype)
            inside = np.zeros_like(inside)  # every gradient goes in directly, below

        if not inside.all():
            # Indices forward never returns (outside their own window) cannot
            # be expressed as columns; add them (or all) directly where they point.
            plane_number = np.broadcast_to(
                np.arange(geometry.batch).reshape((-1,) + (1,) * geometry.spec.ndim), batch_shape
            )
            np.add.at(
                grad_in.reshape(geometry.batch, geometry.plane_size),
                (plane_number[~inside], index_array[~inside]),
                grad[~inside],
            )
        return grad_in.reshape(geometry.input_shape)
