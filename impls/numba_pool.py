"""Compiled max pooling: the staged running maximum of `impls.reshape`, as numba loops.

The idea is that of `impls.reshape`, without NumPy's passes: each plane is
copied once into padded phase buffers (`impls.staging`, compact), where every
window offset reads one contiguous slice, and a compiled loop keeps the
running first maximum and its window code over the offsets, in code order.
The loops run over long contiguous rows, which LLVM vectorises; planes too
small for that are interleaved, several to a row. Each group of planes is
maximised NaN-blind first, and again NaN-aware only when it read a NaN.
Codes become the contract's int64 plane indices as the outputs are written.

* float16, which numba cannot compute with, is compared as float32 (an exact
  conversion, so order, ties, NaN and signed zeros are unchanged); the values
  returned are then gathered from the input by index, bit for bit.
* Threads: the kernels release the GIL and run per block of planes on the
  library's own thread pool (`impls.parallel`), so they honour
  `impls.set_num_threads`, may be called from many Python threads at once,
  work in a forked child and start no OpenMP runtime of their own.
* Backward: one compiled scatter per range of planes, zeroing each plane of
  the gradient just before adding into it (float16 gradients take the
  shared NumPy scatter of `impls.blocked`).

Cost
----
With ``B`` planes of ``P`` elements, ``O`` outputs per plane and ``K``
window elements: forward one staging copy of the input (B*P) and O(B*O*K)
vectorised compare-and-select steps; extra memory per thread, the phase
buffers of a few planes and their maxima and codes. Backward O(B*(P + O)),
no extra memory. The first call with a new dtype compiles the kernels
(about N s), or loads them from numba's on-disk cache (about N ms).

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.numba_pool import NumbaMaxPool
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = NumbaMaxPool().forward(x, PoolSpec((2, 2), stride=1))
>>> values
array([[5., 6.],
       [8., 9.]])
>>> indices
array([[4, 5],
       [7, 8]])
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import numba_kernels
from .blocked import BlockedMaxPool, BlockWorker
from .parallel import run_split
from .spec import PoolSpec
from .staging import staged_layout
from .windows import Geometry, check_index_array, lowest_value, prepare_backward

__all__ = ["KernelTables", "NumbaMaxPool", "kernel_tables", "kernel_view"]

# Planes are interleaved in the staged buffers until each pass runs over at
# least this many elements.
MIN_PASS_LENGTH = 256


def kernel_view(array: np.ndarray) -> np.ndarray:
    """``array`` with a trailing axis of length 2 and stride 0, read-only.

    Whatever the layout and writeability of ``array``, the view has the same
    numba type, so each dtype compiles once (see `impls.numba_kernels`).
    """
    return np.lib.stride_tricks.as_strided(
        array, array.shape + (2,), array.strides + (0,), writeable=False
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # shared between threads; one numba type
    return array


@dataclass(frozen=True, eq=False)
class KernelTables:
    """The staged layout of one geometry, as the integer tables the kernels read.

    The fields are described in `impls.numba_kernels`; ``spatial`` is the
    spatial shape seen as 3-D, ``lanes`` the planes interleaved per group.
    """

    spatial: tuple[int, int, int]
    lanes: int
    copy: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    copy_first: bool
    first_code: np.ndarray
    relative: np.ndarray
    window_start: np.ndarray


def _as_3d(values: Sequence[int], fill: int) -> tuple[int, ...]:
    return (fill,) * (3 - len(values)) + tuple(values)


@functools.lru_cache(maxsize=64)
def kernel_tables(geometry: Geometry) -> KernelTables:
    """Build (and cache) the `KernelTables` of ``geometry``."""
    layout = staged_layout(geometry, compact=True)
    tables = layout.tables
    missing = 3 - geometry.spec.ndim
    copy = np.zeros((len(layout.phases), 3, 4), dtype=np.int64)
    copy[:, :missing] = (0, 1, 1, 0)  # unit axes: one position, copied to 0
    for phase, plan in enumerate(layout.copies):
        if plan is None:
            copy[phase, 0, 2] = 0  # only padding: never copied
            continue
        for axis, (inputs, positions) in enumerate(zip(*plan, strict=True)):
            copy[phase, missing + axis] = (
                inputs.start,
                inputs.step,
                positions.stop - positions.start,
                positions.start,
            )
    phase_shape = _as_3d(layout.phase_shape, 1)
    sizes = np.array(
        (
            phase_shape[1],
            phase_shape[2],
            layout.buffer_length,
            *_as_3d(geometry.output_spatial, 1),
            *_as_3d(layout.wide_shape, 1)[1:],
        ),
        dtype=np.int64,
    )
    offsets = np.array(
        [
            (phase, start, offset.code)
            for phase, start, offset in zip(
                layout.offset_phase, layout.offset_start, tables.offsets, strict=True
            )
        ],
        dtype=np.int64,
    )
    first = tables.offsets[0]
    wide = layout.wide_length
    return KernelTables(
        spatial=_as_3d(geometry.spatial_shape, 1),  # type: ignore[arg-type]
        lanes=max(1, -(-MIN_PASS_LENGTH // wide)),
        copy=_frozen(copy),
        sizes=_frozen(sizes),
        offsets=_frozen(offsets),
        copy_first=first.code == 0 and first.everywhere,
        first_code=_frozen(layout.first_code.reshape(-1).astype(np.int32)),
        relative=_frozen(tables.relative.astype(np.int64)),
        window_start=_frozen(tables.window_start.reshape(-1).astype(np.int64)),
    )


class NumbaMaxPool(BlockedMaxPool):
    """Max pooling by compiled loops over staged planes, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.parallel.get_num_threads`.
    """

    name = "numba"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        # Kernel scratch is per group of planes, not per plane of a block;
        # float16 blocks are converted to float32 first.
        if np.dtype(dtype) != np.float16:
            return 0
        return 4 * (geometry.plane_size + geometry.output_plane_size)

    def forward_worker(
        self,
        planes: np.ndarray,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        tables = kernel_tables(geometry)
        batch = len(planes)
        value_rows = values.reshape(batch, geometry.output_plane_size)
        index_rows = indices.reshape(batch, geometry.output_plane_size)
        half = planes.dtype == np.float16
        compute = np.dtype(np.float32) if half else planes.dtype
        lowest = compute.type(lowest_value(compute))
        source = kernel_view(planes.reshape(batch, *tables.spatial))
        if half:
            converted = np.empty((capacity, *tables.spatial), dtype=np.float32)
            source = kernel_view(converted)
            maxima = np.empty((capacity, geometry.output_plane_size), dtype=np.float32)

        def pool(x: np.ndarray, out_values: np.ndarray, out_indices: np.ndarray) -> None:
            numba_kernels.pool_planes(
                x,
                out_values,
                out_indices,
                min(tables.lanes, len(x)),
                tables.copy,
                tables.sizes,
                tables.offsets,
                tables.copy_first,
                tables.first_code,
                tables.relative,
                tables.window_start,
                lowest,
            )

        def work(block: slice) -> None:
            if not half:
                pool(source[block], value_rows[block], index_rows[block])
                return
            n = block.stop - block.start
            converted[:n] = planes[block].reshape(n, *tables.spatial)
            pool(source[:n], maxima[:n], index_rows[block])
            # The selected elements themselves, bit for bit (float32 maxima
            # would turn a signalling NaN into a quiet one).
            flat = planes[block].reshape(n, geometry.plane_size)
            value_rows[block] = np.take_along_axis(flat, index_rows[block], axis=1)

        return work

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Add each ``grad_out`` element to the input element its index names."""
        grad, index_array, geometry = prepare_backward(
            grad_out, indices, input_shape, spec, in_plane=False
        )
        if grad.dtype == np.float16:  # numba cannot add float16
            return super().backward(grad, index_array, input_shape, spec)
        rows = (geometry.batch, geometry.output_plane_size)
        grad_rows = kernel_view(grad.reshape(rows))
        index_rows = kernel_view(index_array.astype(np.int64, copy=False).reshape(rows))
        grad_in = np.empty((geometry.batch, geometry.plane_size), dtype=grad.dtype)

        def scatter(start: int, stop: int) -> None:
            outside = numba_kernels.scatter_planes(
                grad_rows[start:stop], index_rows[start:stop], grad_in[start:stop]
            )
            if outside >= 0:
                check_index_array(index_array, "indices", geometry)  # raises ValueError
                raise AssertionError("an index left its plane but passed the check")

        run_split(scatter, geometry.batch, geometry.plane_size * grad.itemsize, self.threads)
        return grad_in.reshape(geometry.input_shape)
