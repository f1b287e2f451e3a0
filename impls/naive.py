"""Naive max pooling: plain Python loops over output positions and window elements.

This is the project's oracle. It follows the contract word for word and is
meant to be read, not to be fast: for every plane, every output position and
every element of its window inside the input (padding is never visited), in
row-major order, it keeps the first element that beats the current best, where
NaN beats every number.

Cost
----
Time: O(B * O * K) Python-level steps, for ``B`` planes, ``O`` output
positions per plane and ``K`` window elements inside the input (at most
``prod(kernel_size)``, whatever the padding and dilation); about a
microsecond per step. Extra memory: a Python list copy of the input, plus the
outputs. Backward: O(B * O) Python-level steps, no extra memory.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.naive import NaiveMaxPool
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = NaiveMaxPool().forward(x, PoolSpec((2, 2), stride=1))
>>> values
array([[5., 6.],
       [8., 9.]])
>>> indices
array([[4, 5],
       [7, 8]])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .geometry import prepare_backward, prepare_forward
from .spec import PoolSpec

__all__ = ["NaiveMaxPool"]


def _is_nan(value: float) -> bool:
    return value != value


def _replaces(candidate: float, best: float) -> bool:
    """Whether ``candidate``, met later in the window, takes over from ``best``."""
    if _is_nan(best):
        return False  # the first NaN stays selected
    return _is_nan(candidate) or candidate > best


def _window_positions(start: int, kernel: int, dilation: int, length: int) -> range:
    """Positions ``start + j * dilation``, ``j = 0 .. kernel - 1``, that lie in ``[0, length)``.

    Computed rather than tested one by one, so a huge kernel or padding costs
    nothing: only the window elements inside the input are ever visited.
    """
    first = max(0, -(start // dilation))  # the first j with start + j * dilation >= 0
    last = min(kernel - 1, (length - 1 - start) // dilation)
    return range(start + first * dilation, start + last * dilation + 1, dilation)


class NaiveMaxPool:
    """Max pooling by explicit loops; the readable reference implementation."""

    name = "naive"

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` over its trailing axes; return ``(values, indices)``."""
        array, geometry = prepare_forward(x, spec)
        planes = array.reshape(geometry.batch, geometry.plane_size)
        indices = np.empty((geometry.batch, geometry.output_plane_size), dtype=np.int64)

        # Python numbers compare exactly like the array's values (the
        # conversion from every supported dtype is exact) and much faster.
        for plane_number, plane in enumerate(planes.tolist()):
            outputs = itertools.product(*map(range, geometry.output_spatial))
            for output_number, output in enumerate(outputs):
                # Per axis, the input positions of the window, padding left out.
                positions = [
                    _window_positions(
                        o * spec.stride[axis] - geometry.pads[axis][0],
                        spec.kernel_size[axis],
                        spec.dilation[axis],
                        geometry.spatial_shape[axis],
                    )
                    for axis, o in enumerate(output)
                ]
                best_index, best = -1, 0.0
                for position in itertools.product(*positions):  # row-major window order
                    flat = 0
                    for axis, p in enumerate(position):
                        flat = flat * geometry.spatial_shape[axis] + p
                    if best_index < 0 or _replaces(plane[flat], best):
                        best_index, best = flat, plane[flat]
                indices[plane_number, output_number] = best_index

        values = np.take_along_axis(planes, indices, axis=1)
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
        grad_rows = grad.reshape(geometry.batch, geometry.output_plane_size)
        index_rows = index_array.reshape(geometry.batch, geometry.output_plane_size)
        # Scalar arithmetic in the gradient's own dtype, one element at a time;
        # integer gradients wrap around on overflow, as NumPy array arithmetic does.
        with np.errstate(over="ignore"):
            for plane_number in range(geometry.batch):
                for output_number in range(index_rows.shape[1]):
                    target = index_rows[plane_number, output_number]
                    grad_in[plane_number, target] += grad_rows[plane_number, output_number]
        return grad_in.reshape(geometry.input_shape)
