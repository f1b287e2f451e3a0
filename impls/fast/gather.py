"""Small calls: every window gathered at once through a table, then one argmax.

On a small input the running maxima of the fast implementations cost a few dozen
NumPy calls, each a microsecond or more whatever its size. Here a call costs
four: the windows of every plane are gathered into a ``(planes * outputs, K)``
array through a table of flat input positions, `numpy.argmax` picks each row's
first maximum (the first NaN when there is one, since NaN propagates, and the
first of tied zeros), and the values are read back from the input at the chosen
positions, so their bits are the selected elements' own.

A window slot that falls on padding holds the position of the window's first
in-bounds element instead: a copy of that element placed anywhere in the row
can only win where that element is the first maximum, and it names that
element's position, so padding never wins and ties keep their order.

Cost
----
With ``B`` planes, ``O`` outputs per plane and ``K`` window elements: O(B*O*K)
time and extra memory, in four NumPy calls; the tables (two of B*O*K positions)
are built once per geometry and batch. `SMALL_WINDOW_ELEMENTS` bounds B*O*K.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.geometry import Geometry
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> run = gather_plan(Geometry.of(x.shape, PoolSpec((2, 2), stride=1)).compact)
>>> values, indices = run(x)
>>> values
array([[5., 6.],
       [8., 9.]])
>>> indices
array([[4, 5],
       [7, 8]])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..geometry import Geometry
from .table_cache import table_cache
from .window_codes import first_kernel_steps

__all__ = ["SMALL_WINDOW_ELEMENTS", "gather_plan", "is_small", "window_positions"]

# Calls reading at most this many window elements in all (B*O*K) are gathered.
# Measured on (1, 1, 4, 4) to (8, 8, 8, 8) inputs, the gather beat the running
# maxima by 2.5-6x below 1024 elements and broke even near 8192.
SMALL_WINDOW_ELEMENTS = 2048


def is_small(geometry: Geometry, limit: int | None = None) -> bool:
    """Whether a call of this (compact) geometry reads at most ``limit`` window elements
    in all (default `SMALL_WINDOW_ELEMENTS`): small enough to be gathered."""
    limit = SMALL_WINDOW_ELEMENTS if limit is None else limit
    return geometry.batch * geometry.output_plane_size * geometry.spec.window_size <= limit


@table_cache
def window_positions(geometry: Geometry) -> np.ndarray:
    """``(O, K)`` flat plane positions read by each window, padding replaced.

    Row ``o`` lists window ``o``'s elements in row-major kernel order; a slot
    outside the input holds the position of the window's first in-bounds
    element (see the module docstring). ``geometry`` must be compact.
    """
    spec, ndim = geometry.spec, geometry.spec.ndim
    lengths = geometry.spatial_shape
    plane_strides = [math.prod(lengths[axis + 1 :]) for axis in range(ndim)]
    position = np.zeros((1,) * (2 * ndim), dtype=np.intp)
    first = np.zeros((1,) * ndim, dtype=np.intp)
    inside = np.ones((1,) * (2 * ndim), dtype=bool)
    for axis, first_step in enumerate(first_kernel_steps(geometry)):
        starts = geometry.window_starts(axis)
        steps = np.arange(spec.kernel_size[axis]) * spec.dilation[axis]
        along = starts[:, np.newaxis] + steps  # (O_axis, k_axis)
        shape = [1] * (2 * ndim)
        shape[axis], shape[ndim + axis] = along.shape
        along = along.reshape(shape)
        position = position + along * plane_strides[axis]
        inside = inside & (along >= 0) & (along < lengths[axis])
        first_shape = [1] * ndim
        first_shape[axis] = len(starts)
        at_first = starts + first_step * spec.dilation[axis]
        first = first + (at_first * plane_strides[axis]).reshape(first_shape)
    first = first.reshape(first.shape + (1,) * ndim)
    table = np.where(inside, position, first).astype(np.intp)
    return table.reshape(geometry.output_plane_size, spec.window_size)


def gather_plan(geometry: Geometry) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The forward of a small call: ``run(x)`` for inputs of ``geometry``.

    ``geometry`` must be compact and `is_small`; ``x`` any array of its input
    shape, of any supported dtype and layout.
    """
    batch, plane = geometry.batch, geometry.plane_size
    outputs, window = geometry.output_plane_size, geometry.spec.window_size
    local = window_positions(geometry)
    starts = (np.arange(batch, dtype=np.intp) * plane)[:, np.newaxis, np.newaxis]
    positions = (local[np.newaxis] + starts).reshape(batch * outputs, window)
    row_starts = np.arange(batch * outputs, dtype=np.intp) * window
    flat_positions = positions.reshape(-1)
    flat_local = np.broadcast_to(local, (batch, outputs, window)).reshape(-1)
    out_shape = geometry.output_shape

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = x.reshape(-1)
        chosen = flat.take(positions).argmax(axis=1)
        chosen += row_starts
        values = flat.take(flat_positions.take(chosen))
        indices = flat_local.take(chosen).astype(np.int64, copy=False)
        return values.reshape(out_shape), indices.reshape(out_shape)

    return run
