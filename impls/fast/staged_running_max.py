"""Reshape max pooling: stage blocks into phase slabs, then a contiguous running maximum.

For windows that tile the input (stride equal to kernel, no dilation, sizes
that divide), ``block.reshape(n, O0, k0, O1, k1)`` splits a block of planes
into K slabs, one per window offset, each holding that offset's element of
every window. Copied out contiguously, the slabs make the running maximum a
sequence of long, unit-stride, SIMD-friendly passes.

The same idea covers every geometry (`impls.fast.staging`): each block is copied
once into padded phase buffers, and each window offset reads one buffer at
one shift as a single contiguous slice. The first maximum and its code are
tracked as in `impls.fast.view_running_max`
(`impls.fast.window_codes.update_first_max`), with the same
NaN and signed-zero handling; blocks are sized for the cache and split
across threads over the leading axes.

Backward is shared by the fast implementations
(`impls.fast.blocks.flat_scatter_worker`): one `numpy.add.at` per block on flat
indices.

Cost
----
With ``B`` planes of ``P`` elements, ``O`` outputs per plane and ``K``
window elements: forward one staging copy of the input (B*P) plus about 4
contiguous passes of B*O' elements per offset, where ``O' >= O`` counts the
dropped positions of the wide layout (a few percent). Extra memory: per
thread, one staged block and a few block-sized scratch arrays, independent of
``B``. Backward: as `impls.fast.view_running_max`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.fast.staged_running_max import ReshapeMaxPool
>>> x = np.arange(16.0).reshape(4, 4)
>>> values, indices = ReshapeMaxPool().forward(x, PoolSpec((2, 2)))
>>> values
array([[ 5.,  7.],
       [13., 15.]])
>>> indices
array([[ 5,  7],
       [13, 15]])
"""

from __future__ import annotations

import numpy as np

from ..geometry import Geometry, lowest_value
from .blocks import BlockedMaxPool, BlockWorker
from .planes import PlaneSource
from .staging import finish_forward, has_nan, output_view, staged_layout
from .window_codes import conversion_scratch, start_first_max, update_first_max

__all__ = ["ReshapeMaxPool"]


class ReshapeMaxPool(BlockedMaxPool):
    """Max pooling over staged phase slabs, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "reshape"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        layout = staged_layout(geometry)
        code_bytes = layout.tables.dtype.itemsize
        best_bytes = 0 if layout.wide_is_output else np.dtype(dtype).itemsize
        wide_bytes = layout.wide_length * (best_bytes + 2 * code_bytes + 1)
        return layout.buffer_bytes(dtype) + wide_bytes

    def forward_worker(
        self,
        planes: PlaneSource,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        layout = staged_layout(geometry)
        tables, dtype = layout.tables, planes.dtype
        lowest = lowest_value(dtype)
        buffers = layout.new_buffers(capacity, dtype, lowest)
        wide = (capacity, layout.wide_length)
        best = np.empty(0 if layout.wide_is_output else wide, dtype=dtype)
        code = np.empty(wide, dtype=tables.dtype)
        greater, scaled = np.empty(wide, dtype=bool), np.empty(wide, dtype=tables.dtype)
        # After the running maximum, its scratch holds output-shaped flags and codes.
        output_flags, output_code = output_view(greater, geometry), output_view(scaled, geometry)
        wide_indices = conversion_scratch(capacity * geometry.output_plane_size)
        offsets, codes = tables.offsets, tables.offsets.codes().tolist()
        copy_first = codes[0] == 0 and offsets[0].everywhere

        def running_max(maxima: np.ndarray, n: int, nan_aware: bool) -> None:
            not_nan = np.empty(wide, dtype=bool) if nan_aware else None
            first_view = layout.view(buffers, 0, n) if copy_first else None
            start_first_max(maxima, code[:n], first_view, 0, lowest, layout.first_code.reshape(-1))
            for number in range(int(copy_first), len(codes)):
                update_first_max(
                    layout.view(buffers, number, n),
                    maxima,
                    code[:n],
                    codes[number],
                    greater[:n],
                    scaled[:n],
                    None if not_nan is None else not_nan[:n],
                )

        def work(block: slice) -> None:
            n = block.stop - block.start
            layout.stage(planes[block], buffers)
            # Where the wide layout is the output, maximise into it directly.
            maxima = values[block].reshape(n, -1) if layout.wide_is_output else best[:n]
            running_max(maxima, n, nan_aware=False)
            if has_nan(layout, maxima, output_flags[:n]):
                running_max(maxima, n, nan_aware=True)
            finish_forward(
                layout,
                maxima,
                code[:n],
                planes[block],
                values[block],
                indices[block],
                output_flags[:n],
                output_code[:n],
                wide_indices,
            )

        return work
