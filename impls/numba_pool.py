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

__all__ = ["KernelTables", "NumbaMaxPool", "kernel_tables"]

# Planes whose wide layout (the positions a pass runs over) is shorter than
# this are interleaved in the staged buffers, enough of them for passes of
# about INTERLEAVED_PASS_LENGTH elements, at most MAX_LANES: short rows cost
# a loop set-up each (measured: LeNet-5 0.36 -> 0.19 ms with 32 planes,
# SPP 3.9 -> 3.0 ms with 16; ResNet and C3D 2x slower interleaved).
MIN_PASS_LENGTH = 1024
INTERLEAVED_PASS_LENGTH = 8192
MAX_LANES = 256


def _kernel_ready(array: np.ndarray, dtype: np.dtype) -> bool:
    """Whether the kernels can read ``array`` as it is (see `impls.numba_kernels`)."""
    flags = array.flags
    return array.dtype == dtype and flags.c_contiguous and flags.aligned


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False  # one numba type for read-only and writable inputs
    return view


def _kernel_input(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` as the kernels read it: ``dtype``, C-contiguous, aligned, read-only."""
    if not _kernel_ready(array, dtype):
        array = np.ascontiguousarray(array, dtype=dtype)
    return _read_only(array)


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
    axes: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    copy_first: bool
    first_code: np.ndarray
    relative: np.ndarray
    window_start: np.ndarray


def _lanes(wide: int) -> int:
    """Planes interleaved per group, for passes over ``wide`` positions per plane."""
    if wide >= MIN_PASS_LENGTH:
        return 1
    return min(MAX_LANES, -(-INTERLEAVED_PASS_LENGTH // wide))


def _as_3d(values: Sequence[int], fill: int) -> tuple[int, ...]:
    return (fill,) * (3 - len(values)) + tuple(values)


@functools.lru_cache(maxsize=64)
def kernel_tables(geometry: Geometry) -> KernelTables:
    """Build (and cache) the `KernelTables` of ``geometry``."""
    layout = staged_layout(geometry, compact=True)
    tables = layout.tables
    splits = _as_3d(layout.splits, 1)
    axes = np.zeros((3, 5), dtype=np.int64)
    axes[:, 2:] = 1  # unit axes: input position 0, one phase of length 1
    first_axis = 3 - geometry.spec.ndim
    for axis, ((lo, hi), length) in enumerate(
        zip(geometry.region(), geometry.spatial_shape, strict=True), first_axis
    ):
        axes[axis] = (
            lo,
            max(lo, 0),
            min(hi, length),
            splits[axis],
            layout.phase_shape[axis - first_axis],
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

    def phase_number(phase: tuple[int, ...]) -> int:
        p0, p1, p2 = _as_3d(phase, 0)
        return (p0 * splits[1] + p1) * splits[2] + p2

    offsets = np.array(
        [
            (phase_number(layout.phases[phase]), start, offset.code)
            for phase, start, offset in zip(
                layout.offset_phase, layout.offset_start, tables.offsets, strict=True
            )
        ],
        dtype=np.int64,
    )
    first = tables.offsets[0]
    return KernelTables(
        spatial=_as_3d(geometry.spatial_shape, 1),  # type: ignore[arg-type]
        lanes=_lanes(layout.wide_length),
        axes=_frozen(axes),
        sizes=_frozen(sizes),
        offsets=_frozen(offsets),
        copy_first=first.code == 0 and first.everywhere,
        first_code=_frozen(layout.first_code.reshape(-1).astype(np.int32)),
        relative=_frozen(tables.relative.astype(np.int64)),
        window_start=_frozen(tables.window_start.reshape(-1).astype(np.int64)),
    )


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the kernels compute in: native byte order, float32 for float16."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype.newbyteorder("=")


class NumbaMaxPool(BlockedMaxPool):
    """Max pooling by compiled loops over staged planes, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.parallel.get_num_threads`.
    """

    name = "numba"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        # The kernels' own scratch is per group of planes, not per plane of a
        # block. Inputs they cannot read as they are get copied a block at a
        # time; float16 maxima are computed in float32.
        compute = _compute_dtype(np.dtype(dtype))
        values = 0 if compute == dtype else compute.itemsize * geometry.output_plane_size
        return compute.itemsize * geometry.plane_size + values

    def forward_worker(
        self,
        planes: np.ndarray,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        tables = kernel_tables(geometry)
        batch, outputs = len(planes), geometry.output_plane_size
        value_rows = values.reshape(batch, outputs)
        index_rows = indices.reshape(batch, outputs)
        source = planes.reshape(batch, *tables.spatial)
        compute = _compute_dtype(planes.dtype)
        lowest = compute.type(lowest_value(compute))
        direct = _kernel_ready(source, compute)
        if direct:
            source = _read_only(source)
        else:  # strided, unaligned or float16: copied (converted) a block at a time
            copied = np.empty((capacity, *tables.spatial), dtype=compute)
            frozen_copy = _read_only(copied)
        if compute != planes.dtype:
            maxima = np.empty((capacity, outputs), dtype=compute)

        def work(block: slice) -> None:
            n = block.stop - block.start
            if direct:
                x = source[block]
            else:
                copied[:n] = source[block]
                x = frozen_copy[:n]
            out_values = value_rows[block] if compute == planes.dtype else maxima[:n]
            numba_kernels.pool_planes(
                x,
                out_values,
                index_rows[block],
                min(tables.lanes, n),
                tables.axes,
                tables.sizes,
                tables.offsets,
                tables.copy_first,
                tables.first_code,
                tables.relative,
                tables.window_start,
                lowest,
            )
            if planes.dtype == np.float16:
                # The selected elements themselves, bit for bit (through
                # float32, a signalling NaN would become a quiet one).
                flat = planes[block].reshape(n, geometry.plane_size)
                value_rows[block] = np.take_along_axis(flat, index_rows[block], axis=1)
            elif compute != planes.dtype:  # the same values, in the input's byte order
                value_rows[block] = out_values

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
        if _compute_dtype(grad.dtype) != grad.dtype:  # float16, or not in native byte order
            return super().backward(grad, index_array, input_shape, spec)
        rows = (geometry.batch, geometry.output_plane_size)
        grad_rows = _kernel_input(grad.reshape(rows), grad.dtype)
        index_rows = _kernel_input(index_array.reshape(rows), np.dtype(np.int64))
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
