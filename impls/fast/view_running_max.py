"""Sliced max pooling: a running maximum over the K shifted strided views of the input.

For each window offset ``j`` (one per kernel element, in row-major order),
the input elements that offset reads form a strided view,
``x[..., j0*d::s, j1*d::s]`` up to padding. Pooling is a running maximum over
these K views, with no copy of the input:

* Padding is handled by a bounds-aware slice plan, not a padded copy: offset
  ``j`` updates only the block of output positions whose element ``j`` lies
  inside the input, so padding is never read.
* The argmax is a small per-window code (int8 for K <= 127), updated
  branch-free (`impls.fast.window_codes.update_first_max`). Each window starts from the
  code of its first in-bounds element, so a window whose elements all equal
  the start value (-inf, or an integer dtype's minimum) selects its first one.
* Work goes in cache-sized blocks of planes, split across threads over the
  leading axes (`impls.fast.threads`).
* NaN never compares greater and ``-0.0 == 0.0``: a block whose maxima hold
  NaN is redone with a NaN-aware comparison, and a zero maximum takes its
  sign from the selected element.

Backward is shared by the fast implementations
(`impls.fast.blocks.flat_scatter_worker`): one unbuffered `numpy.add.at` per
block of planes, on flat indices, so overlapping windows accumulate in output
order.

Cost
----
With ``B`` planes of ``P`` elements, ``O`` outputs per plane and ``K``
window elements: forward O(B*O*K), about 4 vectorised passes per offset over
strided views, plus 2 passes for the int64 indices. Extra memory: scratch of
a few block-sized arrays per thread; no K*O or padded intermediates, and a
copy of one block of planes per thread only for an input whose leading axes
do not merge (`impls.fast.planes`).
Backward: O(B*(P + O)): the zeroed result, then one flat `numpy.add.at` per
block of planes (`impls.fast.blocks.flat_scatter_worker`).
The inner loops run along the last output axis, so short rows (small planes)
and strides above 1 cost more per element than in `impls.fast.staged_running_max`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.fast.view_running_max import SlicedMaxPool
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = SlicedMaxPool().forward(x, PoolSpec((2, 2), stride=1))
>>> values
array([[5., 6.],
       [8., 9.]])
>>> indices
array([[4, 5],
       [7, 8]])
"""

from __future__ import annotations

import itertools

import numpy as np

from ..geometry import Geometry, lowest_value
from .blocks import BlockedMaxPool, BlockWorker
from .planes import PlaneSource
from .window_codes import (
    code_tables,
    codes_to_indices,
    conversion_scratch,
    restore_selected_bits,
    start_first_max,
    update_first_max,
)

__all__ = ["SlicedMaxPool"]


class SlicedMaxPool(BlockedMaxPool):
    """Max pooling by a running maximum over strided views, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "sliced"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        code_bytes = code_tables(geometry).dtype.itemsize
        return geometry.output_plane_size * (2 * code_bytes + 1)

    def forward_worker(
        self,
        planes: PlaneSource,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        tables = code_tables(geometry)
        scratch_shape = (capacity, *geometry.output_spatial)
        code = np.empty(scratch_shape, dtype=tables.dtype)
        greater = np.empty(scratch_shape, dtype=bool)
        scaled = np.empty(scratch_shape, dtype=tables.dtype)
        wide_indices = conversion_scratch(capacity * geometry.output_plane_size)
        lowest = lowest_value(values.dtype)
        offsets = tables.offsets
        copy_first = offsets[0].code == 0 and offsets[0].everywhere

        def running_max(block: slice, n: int, nan_aware: bool) -> None:
            x, best = planes[block], values[block]
            not_nan = np.empty(scratch_shape, dtype=bool) if nan_aware else None
            first_view = x[(slice(None),) + offsets[0].inputs] if copy_first else None
            start_first_max(best, code[:n], first_view, 0, lowest, tables.first_code)
            for offset in itertools.islice(offsets, int(copy_first), None):
                outputs = (slice(0, n), *offset.outputs)
                update_first_max(
                    x[(slice(None),) + offset.inputs],
                    best[(slice(None),) + offset.outputs],
                    code[outputs],
                    offset.code,
                    greater[outputs],
                    scaled[outputs],
                    None if not_nan is None else not_nan[outputs],
                )

        def work(block: slice) -> None:
            n = block.stop - block.start
            running_max(block, n, nan_aware=False)
            if values.dtype.kind == "f" and np.isnan(values[block], out=greater[:n]).any():
                running_max(block, n, nan_aware=True)
            codes_to_indices(code[:n], tables, indices[block], wide_indices)
            restore_selected_bits(values[block], indices[block], planes[block], greater[:n])

        return work
