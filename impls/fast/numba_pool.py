"""Compiled max pooling: the staged running maximum, as numba loops.

The idea is that of `impls.fast.staged_running_max`, without NumPy's passes: each plane is
copied once into padded phase buffers (`impls.fast.staging`), where every
window offset reads one contiguous slice, and a compiled loop keeps the
running first maximum over the offsets, in code order, with the selected
element's flat offset from its window's start (its *step*). The loops run
over long contiguous rows, which LLVM vectorises; planes too small for that
are interleaved, several to a row. An index is its window's start plus the
step, written without any table lookup; values are the keys turned back into
bits, or read from the input at their index where a key stands for several
bit patterns (signed zeros, NaN). A pool whose one window is
the whole plane (global pooling) takes a kernel of its own: one vectorised
pass over each plane (two for 64-bit dtypes).

Windows that step along the rows in small groups (kernel and stride 2 and 2,
3 and 3, 4 and 4 or 3 and 2 along the innermost axis, as in VGG, C3D or a
1-D audio pool) skip the staging copy: a row kernel reads them in place, one
pass per window row (per two on small 2x2 inputs; for 3 and 2, as in the
ResNet-50 stem, each input row's group maxima are staged once per plane and
one pass per output row folds them), comparing the elements themselves
(`row_tables` says where, measured; float16, which numba cannot compare, is
always staged). Their window rows are listed once per geometry, here.

* Floats are compared as integer keys that order as the contract does (NaN
  above everything, ``-0.0`` equal to ``0.0``; see `impls.fast.numba_kernels`):
  no NaN test in the loops, and float16, which numba cannot compute with,
  needs no conversion.
* Threads: the kernels release the GIL and run per block of planes on the
  library's own thread pool (`impls.fast.threads`), so they honour
  `impls.set_num_threads`, may be called from many Python threads at once,
  work in a forked child and start no OpenMP runtime of their own.
* Backward: one compiled scatter per range of planes, zeroing each plane of
  the gradient just before adding into it (float16 gradients take the
  shared NumPy scatter of `impls.fast.blocks`).
* Inputs the kernels cannot read in place (not C-contiguous, unaligned or
  byte-swapped) are copied a block of planes at a time.
* Windows far apart, spread by padding or dilation over a region much larger
  than the input, would make the phase buffers as large as that region; such
  calls go to `impls.fast.view_running_max`, which reads the windows in place.

Cost
----
With ``B`` planes of ``P`` elements, ``O`` outputs per plane and ``K``
window elements: forward one staging copy of the input (B*P) and O(B*O*K)
vectorised compare-and-select steps (global pooling: one pass over B*P;
rows read in place: O(B*O*K) steps and no copy, each row's run of outputs
rounded up to 24, or to a multiple of 16, where it stays inside the call);
0.7-1.5x the time to read the input and write the outputs at the bandwidth
of one copy on the standard workloads but SPP (8.6x) and the global pool
(1.2-1.9x, 1.1x back to back). Extra memory per thread: the phase buffers
of a few planes and their maxima and codes (under 1 MB on the standard
workloads), the staged rows of `pool_rows_3_2` (a few rows), and a block of
planes (4 MB) for inputs copied a block at a time; per geometry, kept
between calls, the window rows of each output row (24 bytes per window row
per output row). Backward O(B*(P + O)), no extra memory.

No call waits for the compiler. The kernels of a dtype are loaded in the
background (`impls.fast.compiled`) the first time a call needs them, compiled
by a child process at the lowest priority: about 5 s for the staged forward
kernel in a fresh environment (2 cores), 8-13 s for each row kernel (only
those the calls need), 0.4 s for the global-pool kernel and 0.15 s for
backward, after which numba caches them on disk, next to
`impls.fast.numba_kernels` (or under ``NUMBA_CACHE_DIR``); in a new process,
about 0.2 s to import numba and load them from that cache (and 0.7 s for the
child to find them there). Until
they are ready, calls take the pure-NumPy path `impls.fast.auto` would take
without numba, which gives the same values and indices bit for bit.
``import impls`` never imports numba.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.fast.numba_pool import NumbaMaxPool
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

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import geometry as geometry_module
from ..geometry import Geometry, check_index_array
from ..spec import PoolSpec
from . import buffers, compiled, threads
from .blocks import BackwardPlan, BlockedMaxPool, BlockWorker, ForwardPlan
from .gather import gather_plan, is_small
from .planes import PlaneSource
from .row_runs import row_room
from .staging import staged_layout
from .table_cache import table_bytes, table_cache
from .threads import run_split
from .view_running_max import SlicedMaxPool
from .whole_plane import is_whole_plane
from .window_codes import code_tables

__all__ = ["KernelTables", "NumbaMaxPool", "kernel_tables", "wait_until_compiled", "warm_key"]

# Planes whose wide layout (the positions a pass runs over) is shorter than
# this are interleaved in the staged buffers, enough of them for passes of
# about INTERLEAVED_PASS_LENGTH elements, at most MAX_LANES: short rows cost
# a loop set-up each (measured: LeNet-5 0.36 -> 0.19 ms with 32 planes,
# SPP 3.9 -> 3.0 ms with 16; ResNet and C3D 2x slower interleaved).
MIN_PASS_LENGTH = 1024
INTERLEAVED_PASS_LENGTH = 8192
MAX_LANES = 256
# Windows whose kernel and stride along the innermost axis are one of
# ROW_GROUPS take the row kernels of `numba_kernels`, which read them in place,
# without the staging copy, unless windows overlap much along the outer axes
# (the row kernels read an element once per window that holds it, staging
# once). Measured, their time against the staged kernel's through `forward`,
# side by side (2 threads, float32, 16 MB inputs): k2 s2 in rows of 2 to 112
# outputs 0.27-0.97 (LeNet-5's 14: 0.70-0.72), C3D 0.53, k3 s3 0.89, k3 s2
# p1 1-D 0.80, the ResNet-50 stem (9 window elements per 4 input elements)
# 0.81, k(3, 2) s(1, 2) (3 per 1) 0.84, k(3, 3) s(1, 3) p1 (3 per 1) 1.02,
# k(5, 4) s(2, 4) p2 (2.5 per 1) 1.15, k(7, 2) s(1, 2) (7 per 1) 1.01,
# k(3, 3, 2) s(1, 1, 2) (9 per 1) 1.13. One threshold, not a rule fitted to
# each geometry: the last cases are within the noise of a shared machine.
MAX_ROW_OVERLAP = 3  # window elements per input element the windows step over
# Rows of fewer outputs stay staged: there the two kernels tie (rows of 2 to 7
# outputs 0.93-0.97, 10 0.83), and the staged kernel, which every other
# geometry of the dtype takes too, is more likely compiled already (a row
# kernel is one more to compile per dtype, 8-13 s).
MIN_ROW_OUTPUTS = 8
# (kernel, stride) along the innermost axis that the row kernels are compiled for.
ROW_GROUPS = ((2, 2), (3, 3), (4, 4), (3, 2))
# Of those, the groups whose kernel stages the group maxima of each input row
# once per plane (`numba_kernels.pool_rows_3_2`): windows that overlap along
# the rows, whose groups a pass over the input would read with a gather.
STAGED_GROUPS = ((3, 2),)
# 2x2-stride-2 windows of inputs of at most this many elements take
# `numba_kernels.pool_pairs_2_2`, which reads both window rows of an output row
# in one pass, and larger ones `pool_rows_2_2`, one window row per pass, in
# address order, which the hardware prefetchers follow (see
# `numba_kernels._planes_of_rows`). Measured on planes of 224 x 224, one
# thread: pairs 0.40 against 0.68 ns per output on 0.8 MB (from cache), 1.80
# against 0.97 on 51 MB (beyond the 32 MB L3).
PAIRS_ELEMENTS = 1 << 20
# Calls reading at most this many window elements in all are gathered in NumPy
# (`impls.fast.gather`) rather than passed to the kernels, whose call alone costs
# more: measured, (1, 1, 4, 4) k2 3.7 against 6.9 µs, 256 elements 6.3 against
# 9.8 µs, 2048 elements 18.1 against 15.9 µs. Not with MAXPOOL_COMPILE=wait.
GATHER_ELEMENTS = 1024


def _kernel_ready(array: np.ndarray, dtype: np.dtype) -> bool:
    """Whether the kernels can read ``array`` as it is (see `impls.fast.numba_kernels`)."""
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

    The fields are described in `impls.fast.numba_kernels`; ``spatial`` is the
    spatial shape seen as 3-D, ``lanes`` the planes interleaved per group.
    """

    spatial: tuple[int, ...]  # three entries
    lanes: int
    axes: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    copy_first: bool
    first_step: np.ndarray
    window_start: np.ndarray


def _lanes(wide: int) -> int:
    """Planes interleaved per group, for passes over ``wide`` positions per plane."""
    if wide >= MIN_PASS_LENGTH:
        return 1
    return min(MAX_LANES, -(-INTERLEAVED_PASS_LENGTH // wide))


def _as_3d(values: Sequence[int], fill: int) -> tuple[int, ...]:
    return (fill,) * (3 - len(values)) + tuple(values)


@table_cache
def kernel_tables(geometry: Geometry) -> KernelTables:
    """Build (and cache) the `KernelTables` of ``geometry``, which must be compact.

    Arrays throughout, O(K) in the kernel size K.
    """
    layout = staged_layout(geometry)
    tables = layout.tables
    stride = geometry.spec.stride  # the phases per axis (1 where an axis has one output)
    axes = np.zeros((3, 5), dtype=np.int64)
    axes[:, 2:] = 1  # unit axes: input position 0, one phase of length 1
    first_axis = 3 - geometry.spec.ndim
    for axis, ((lo, hi), length) in enumerate(
        zip(geometry.region(), geometry.spatial_shape, strict=True)
    ):
        axes[first_axis + axis] = (
            lo,
            max(lo, 0),
            min(hi, length),
            stride[axis],
            layout.phase_shape[axis],
        )
    sizes = np.array(
        (
            layout.buffer_length,
            *_as_3d(geometry.output_spatial, 1),
            *_as_3d(layout.wide_shape, 1)[1:],
        ),
        dtype=np.int64,
    )
    # The kernels number every phase combination row-major; the layout only
    # those some offset reads, per axis in order of first use.
    step_phase = [
        phases[index]
        for phases, index in zip(layout.axis_phases, layout.axis_phase_index, strict=True)
    ]
    buffer = np.ravel_multi_index(np.meshgrid(*step_phase, indexing="ij"), stride).reshape(-1)
    steps = tables.relative[tables.offsets.codes()]  # flat offsets from the window start
    offsets = np.stack([buffer, layout.offset_start, steps], axis=1)
    first = tables.offsets[0]
    return KernelTables(
        spatial=(1, 1, 1)[: 3 - geometry.spec.ndim] + geometry.spatial_shape,
        lanes=_lanes(layout.wide_length),
        axes=_frozen(axes),
        sizes=_frozen(sizes),
        offsets=_frozen(offsets.astype(np.int64)),
        copy_first=first.code == 0 and first.everywhere,
        first_step=_frozen(tables.relative[layout.first_code.reshape(-1)].astype(np.int32)),
        window_start=_frozen(tables.window_start.reshape(-1).astype(np.int64)),
    )


@dataclass(frozen=True, eq=False)
class RowTables:
    """What a row kernel of `numba_kernels` reads of one geometry.

    ``spatial`` is the spatial shape seen as 3-D; ``group`` the kernel and
    stride along the innermost axis, which name the kernel with ``pairs``
    (`pool_pairs_2_2`: see `PAIRS_ELEMENTS`); ``axes`` the ``(3, 6)`` row
    table, ``rows_of`` and ``heads`` each output row's window rows (see
    `numba_kernels`). ``slots`` staged rows of ``room`` positions (and one
    more slot) are the scratch of `pool_rows_3_2`, none for the others.
    """

    spatial: tuple[int, ...]
    group: tuple[int, int]
    axes: np.ndarray
    pairs: bool
    rows_of: np.ndarray
    heads: np.ndarray
    slots: int
    room: int

    @property
    def kernel(self) -> str:
        """The name of the kernel in `numba_kernels`."""
        return "pool_{}_{}_{}".format("pairs" if self.pairs else "rows", *self.group)


@table_cache
def row_tables(geometry: Geometry) -> RowTables | None:
    """The `RowTables` of a compact ``geometry``, or None where no row kernel takes it.

    It takes windows whose kernel and stride along the innermost axis are
    one of `ROW_GROUPS`, without dilation there (padding and partial windows
    allowed), in output rows of at least `MIN_ROW_OUTPUTS`, that overlap at
    most `MAX_ROW_OVERLAP` times.
    """
    spec = geometry.spec
    if geometry.output_spatial[-1] < MIN_ROW_OUTPUTS:
        return None
    if spec.window_size > MAX_ROW_OVERLAP * math.prod(spec.stride):
        return None
    return _row_tables(geometry)


def _row_tables(geometry: Geometry) -> RowTables | None:
    """The `RowTables` of any compact ``geometry`` a row kernel can read, else None."""
    spec = geometry.spec
    kernel, stride = spec.kernel_size[-1], spec.stride[-1]
    if (kernel, stride) not in ROW_GROUPS or spec.dilation[-1] != 1:
        return None
    axes = np.array([(1, 1, 1, 1, 1, 0)] * 3, dtype=np.int64)
    first_axis = 3 - spec.ndim
    for axis in range(spec.ndim):
        axes[first_axis + axis] = (
            geometry.spatial_shape[axis],
            geometry.output_spatial[axis],
            spec.kernel_size[axis],
            spec.stride[axis],
            spec.dilation[axis],
            geometry.pads[axis][0],
        )
    length1, length2 = int(axes[1, 0]), int(axes[2, 0])
    span0, span1 = (int(axes[axis, 2] - 1) * int(axes[axis, 4]) for axis in (0, 1))
    if (span0 * length1 + span1) * length2 + kernel >= 2**31:
        return None  # the kernel keeps int32 steps
    rows_of, heads = _window_rows(axes)
    slots = 0
    if (kernel, stride) in STAGED_GROUPS:  # a power of two above the span of any row's rows
        numbers = rows_of[:, :, 0] * length1 + rows_of[:, :, 1]
        last = numbers[np.arange(len(heads)), heads[:, 0] - 1]
        slots = 1 << int((last - numbers[:, 0]).max(initial=0)).bit_length()
    return RowTables(
        spatial=(1, 1, 1)[: 3 - spec.ndim] + geometry.spatial_shape,
        group=(kernel, stride),
        axes=_frozen(axes),
        pairs=_reads_pairs(axes, geometry.batch * geometry.plane_size),
        rows_of=_frozen(rows_of),
        heads=_frozen(heads),
        slots=slots,
        room=row_room(int(axes[2, 1])),
    )


def _window_rows(axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output row (the outer output axes, row-major): its window rows and index base.

    ``rows_of[row, r]`` is window row ``r``'s ``(i0, i1, step)``: the
    in-bounds ``(d, h)`` kernel positions, in code order, and the flat offset
    of the row's first element from the window's start (unused entries after
    the in-bounds ones); ``heads[row]`` the number of window rows and the
    flat index of the output row's first window's start.
    """
    (length0, outputs0, kernel0, stride0, dilation0, begin0) = (int(v) for v in axes[0])
    (length1, outputs1, kernel1, stride1, dilation1, begin1) = (int(v) for v in axes[1])
    length2, begin2 = int(axes[2, 0]), int(axes[2, 5])
    starts0 = np.arange(outputs0) * stride0 - begin0
    starts1 = np.arange(outputs1) * stride1 - begin1
    rows0 = starts0[:, None] + np.arange(kernel0) * dilation0  # (outputs0, kernel0)
    rows1 = starts1[:, None] + np.arange(kernel1) * dilation1
    shape = (outputs0, outputs1, kernel0, kernel1)
    inside = (((rows0 >= 0) & (rows0 < length0))[:, None, :, None]
              & ((rows1 >= 0) & (rows1 < length1))[None, :, None, :])  # fmt: skip
    steps = (np.arange(kernel0)[:, None] * dilation0 * length1
             + np.arange(kernel1) * dilation1) * length2  # fmt: skip
    columns = [
        np.broadcast_to(rows0[:, None, :, None], shape),
        np.broadcast_to(rows1[None, :, None, :], shape),
        np.broadcast_to(steps, shape),
    ]
    count = outputs0 * outputs1
    inside = inside.reshape(count, kernel0 * kernel1)
    first_inside = np.argsort(~inside, axis=1, kind="stable")  # code order kept
    rows_of = np.stack(
        [np.take_along_axis(column.reshape(inside.shape), first_inside, 1) for column in columns],
        axis=-1,
    )
    bases = (starts0[:, None] * length1 + starts1) * length2 - begin2
    heads = np.stack([inside.sum(axis=1), bases.reshape(count)], axis=1)
    return rows_of.astype(np.int64), heads.astype(np.int64)


def _reads_pairs(axes: np.ndarray, elements: int) -> bool:
    """Whether `pool_pairs_2_2` pools an input of ``elements`` with the row table ``axes``:
    a small input, windows 2x2 stride 2 along the innermost axis, without padding
    there, and every output row two window rows, all inside the input."""
    if elements > PAIRS_ELEMENTS or tuple(axes[2, 2:4]) != (2, 2) or axes[2, 5] != 0:
        return False
    kernels = sorted(int(kernel) for kernel in axes[:2, 2])
    if kernels != [1, 2]:
        return False
    paired_axis = axes[1] if axes[1, 2] == 2 else axes[0]
    length, outputs, _, stride, dilation, begin = (int(value) for value in paired_axis)
    return begin == 0 and (outputs - 1) * stride + dilation < length


Tables = KernelTables | RowTables | None  # None: whole planes


def _pools_rows(geometry: Geometry, native: np.dtype) -> bool:
    """Whether a row kernel pools a compact ``geometry`` of ``native`` inputs."""
    # numba cannot compare float16 in place
    return native != np.float16 and row_tables(geometry) is not None


def _tables(geometry: Geometry, native: np.dtype) -> Tables:
    """The tables of the kernel that pools a compact ``geometry`` of ``native`` inputs."""
    if is_whole_plane(geometry):
        return None
    if _pools_rows(geometry, native):
        return row_tables(geometry)
    return kernel_tables(geometry)


def _kind(tables: Tables) -> str:
    """The name of the kernel that reads ``tables``."""
    if tables is None:
        return "whole planes"
    if isinstance(tables, RowTables):
        return _row_kind(*tables.group, pairs=tables.pairs)
    return "staged planes"


def _row_kind(kernel: int, stride: int, pairs: bool = False) -> str:
    return f"{'pairs' if pairs else 'rows'} {kernel}/{stride}"


def _keys(dtype: np.dtype) -> tuple[np.dtype, object, object]:
    """The dtype the kernels read a native ``dtype`` as, and its ``mask`` and ``nan``.

    Floats are read as the signed integers of their width (see
    `impls.fast.numba_kernels`); integers as themselves, with ``None``.
    """
    if dtype.kind != "f":
        return dtype, None, None
    bits = np.dtype(f"i{dtype.itemsize}")
    infinity = np.array(np.inf, dtype=dtype).view(bits)[()]
    return bits, bits.type(np.iinfo(bits).max), infinity


def staged_elements(geometry: Geometry) -> int:
    """Elements per plane of the kernels' phase buffers for a compact ``geometry``.

    Every combination of phases gets a buffer, so windows far apart (a stride
    much wider than the kernel, with padding or dilation spreading them over
    a region much larger than the input) would size it by the stride.
    """
    if is_whole_plane(geometry):
        return 0
    tables = kernel_tables(geometry)
    return int(np.prod(tables.axes[:, 3])) * int(tables.sizes[0])


def _stages_within_input(geometry: Geometry) -> bool:
    """Whether the phase buffers stay within a small multiple of plane and outputs, and
    every window spans fewer than 2**31 flat positions (the kernels keep int32 steps)."""
    if is_whole_plane(geometry):
        return True  # the whole-plane kernel stages nothing
    if code_tables(geometry).relative.max() >= 2**31:
        return False
    bound = 2 * (geometry.plane_size + geometry.output_plane_size) + 4096
    return staged_elements(geometry) <= bound


def _pool_call(
    kernels: ModuleType,
    x: np.ndarray,
    values: np.ndarray,
    indices: np.ndarray,
    tables: Tables,
    keys: tuple[Any, Any, Any],
) -> None:
    """Run the forward kernel on planes ``x`` (read-only; keys, but native for the
    row kernel: `_source_dtype`) into rows of the outputs.

    The one place that calls the forward kernels, so that every call, the
    warm-up included, passes arguments of the same numba types.
    """
    lowest, mask, nan = keys
    if tables is None:  # whole planes
        packed = (x.dtype.itemsize < 4 or x.dtype == np.int32) and x.shape[1] < 0xFFFFFFFF
        kernels.pool_whole_planes(x, values, indices, mask, nan, packed)
        return
    if isinstance(tables, RowTables):
        kernel = getattr(kernels, tables.kernel)
        rows = (tables.axes, tables.rows_of, tables.heads)
        if tables.slots:  # staged rows, per call: calls run side by side
            length = (tables.slots + 1) * tables.room
            groups = np.empty(length, dtype=x.dtype)
            steps = np.empty(length, dtype=np.int32)
            kernel(x, values, indices, *rows, groups, steps, np.empty(tables.slots, np.int64))
        else:
            kernel(x, values, indices, *rows)
        return
    kernels.pool_planes(
        x,
        values,
        indices,
        max(1, min(tables.lanes, len(x))),  # no planes (an empty leading axis): any
        tables.axes,
        tables.sizes,
        tables.offsets,
        tables.copy_first,
        tables.first_step,
        tables.window_start,
        lowest,
        mask,
        nan,
    )


def _key_scalars(native: np.dtype) -> tuple[np.dtype, tuple[Any, Any, Any]]:
    """The key dtype of ``native``, and the ``(lowest, mask, nan)`` scalars its kernels take."""
    keys, mask, nan = _keys(native)
    return keys, (keys.type(np.iinfo(keys).min), mask, nan)


def _source_dtype(native: np.dtype, tables: Tables) -> np.dtype:
    """The dtype the kernel of ``tables`` reads ``native`` inputs and writes values as."""
    return native if isinstance(tables, RowTables) else _keys(native)[0]


def _forward_kernel(native: np.dtype, kind: str) -> tuple[str, str]:
    """The `impls.fast.compiled` key of the forward kernel ``kind`` for ``native`` inputs."""
    return (kind, native.str)


def _warm_forward(native: np.dtype, kind: str, kernels: ModuleType) -> None:
    """Compile (or load) the forward kernel ``kind`` for ``native`` inputs: one tiny call
    on tables built for it, whatever the thresholds."""
    shape = (2, 4, 12)
    tables: Tables = None
    if kind == "whole planes":
        geometry = Geometry.of(shape, PoolSpec((4, 12))).compact
    elif kind == "staged planes":
        geometry = Geometry.of(shape, PoolSpec((2, 2))).compact
        tables = kernel_tables(geometry)
    else:
        name, group = kind.split()
        kernel, stride = (int(number) for number in group.split("/"))
        height = 2 if name == "pairs" else 3  # three window rows are never read in pairs
        geometry = Geometry.of(shape, PoolSpec((height, kernel), stride=(2, stride))).compact
        tables = _row_tables(geometry)
        if tables is None or _kind(tables) != kind:
            raise AssertionError(f"no tables for the kernel {kind!r}")
    x = np.zeros(shape, dtype=native)
    _compiled_forward(geometry, native, tables)(x, kernels)


def warm_key(key: tuple[str, str], kernels: ModuleType) -> None:
    """Compile (or load) the kernel of an `impls.fast.compiled` key, ``(kind, dtype)``.

    The one warm-up of every kernel request: the loader runs it, and so does a
    child process compiling ahead of it (`impls.fast.compiled.child_main`).
    """
    kind, dtype = key
    if kind == "scatter":
        _warm_scatter(np.dtype(dtype), kernels)
    else:
        _warm_forward(np.dtype(dtype), kind, kernels)


def _scatter_kernel(dtype: np.dtype) -> tuple[str, str]:
    return ("scatter", dtype.str)


def _warm_scatter(dtype: np.dtype, kernels: ModuleType) -> None:
    """Compile (or load) the backward kernel for ``dtype`` gradients."""
    grad = np.zeros((2, 3), dtype=dtype)
    indices = np.zeros((2, 3), dtype=np.int64)
    _scatter_call(kernels, _read_only(grad), _read_only(indices), np.empty((2, 5), dtype))


def _scatter_call(
    kernels: ModuleType, grad: np.ndarray, indices: np.ndarray, grad_in: np.ndarray
) -> int:
    return int(kernels.scatter_planes(grad, indices, grad_in))


def _compiled_forward(geometry: Geometry, native: np.dtype, tables: Tables) -> Any:
    """``run(x, kernels)``: the compiled forward of a kernel-ready input, on this thread.

    ``geometry`` is compact, ``tables`` its kernel's; ``x`` C-contiguous,
    aligned, of dtype ``native``.
    """
    _, scalars = _key_scalars(native)
    source_dtype = _source_dtype(native, tables)
    batch, outputs = geometry.batch, geometry.output_plane_size
    shape = (geometry.plane_size,) if tables is None else tables.spatial
    out_shape = geometry.output_shape

    def run(x: np.ndarray, kernels: ModuleType) -> tuple[np.ndarray, np.ndarray]:
        values = np.empty((batch, outputs), dtype=native)
        indices = np.empty((batch, outputs), dtype=np.int64)
        source = x.reshape(batch, *shape).view(source_dtype)
        source.flags.writeable = False  # one numba type for read-only and writable inputs
        _pool_call(kernels, source, values.view(source_dtype), indices, tables, scalars)
        return values.reshape(out_shape), indices.reshape(out_shape)

    return run


def _compiled_dtypes(dtypes: Iterable[DTypeLike]) -> list[np.dtype]:
    return [np.dtype(dtype).newbyteorder("=") for dtype in dtypes]


def wait_until_compiled(
    dtypes: Iterable[DTypeLike] = ("float32",),
    timeout: float | None = None,
    *,
    shape: Sequence[int] | None = None,
    spec: PoolSpec | None = None,
) -> bool:
    """Load (compiling where needed) the kernels for ``dtypes`` now, and wait for them.

    Forward kernels for inputs of each dtype and the backward kernel for
    gradients of each dtype: all of them, about 30 s per dtype to compile in
    a fresh environment, or, given an input ``shape`` and its ``spec``, the
    forward kernel calls on that input run and the backward kernel. Returns
    whether they are ready: False where numba is absent or fails to import,
    with ``MAXPOOL_COMPILE=off``, or after ``timeout`` seconds.

    Examples
    --------
    >>> wait_until_compiled(["float32"], shape=(64, 6, 28, 28), spec=PoolSpec((2, 2)))
    ... # doctest: +SKIP
    True
    """
    compact = None
    if shape is not None or spec is not None:
        if shape is None or spec is None:
            raise TypeError("wait_until_compiled takes shape and spec together, or neither")
        compact = Geometry.of(tuple(shape), spec).compact
    requests = []
    for native in _compiled_dtypes(dtypes):
        geometry_module.check_dtype(native, "dtype")
        for kind in _forward_kinds(native, compact):
            key = _forward_kernel(native, kind)
            requests.append((key, _bound(warm_key, key)))
        if native.kind == "f" and native.itemsize == 2:
            continue  # float16 gradients take the NumPy scatter
        key = _scatter_kernel(native)
        requests.append((key, _bound(warm_key, key)))
    return compiled.wait_until_ready(requests, timeout)


def _forward_kinds(native: np.dtype, geometry: Geometry | None) -> list[str]:
    """The forward kernels calls on ``native`` inputs of a compact ``geometry`` run (None:
    any geometry)."""
    if geometry is None:
        kinds = ["staged planes", "whole planes"]
        if native != np.float16:
            kinds += [_row_kind(*group) for group in ROW_GROUPS]
            kinds.append(_row_kind(2, 2, pairs=True))
        return kinds
    if not _pools_rows(geometry, native) and not _stages_within_input(geometry):
        return []  # read in place by `impls.fast.view_running_max`
    return [_kind(_tables(geometry, native))]


def _bound(function: Any, *arguments: Any) -> compiled.Warm:
    def warm(kernels: ModuleType) -> None:
        function(*arguments, kernels)

    return warm


class NumbaMaxPool(BlockedMaxPool):
    """Max pooling by compiled loops over staged planes, threaded over planes.

    Until the kernels for a call's dtype are loaded (in the background, see
    `impls.fast.compiled`), the call takes the pure-NumPy path; the results
    are the same bit for bit.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "numba"
    gathers_small_calls = False  # the compiled kernel is faster on small calls too

    def __init__(self, threads: int | None = None) -> None:
        super().__init__(threads)
        self._numpy: BlockedMaxPool | None = None

    def wait_until_compiled(
        self,
        dtypes: Iterable[DTypeLike],
        timeout: float | None = None,
        *,
        shape: Sequence[int] | None = None,
        spec: PoolSpec | None = None,
    ) -> bool:
        """Load this implementation's kernels for ``dtypes`` now (those calls on an input
        of ``shape`` with ``spec`` run, where given); see the module function."""
        return wait_until_compiled(dtypes, timeout, shape=shape, spec=spec)

    def numpy_path(self) -> BlockedMaxPool:
        """What serves calls whose kernels are not ready: auto without numba."""
        if self._numpy is None:
            from .auto import AutoMaxPool  # auto imports the registry, which lists this class

            self._numpy = AutoMaxPool(self.threads, compiled=False)
        return self._numpy

    def forward_plan(self, array: np.ndarray, geometry: Geometry) -> tuple[ForwardPlan, int]:
        """Windows spread over a region much larger than the input (see
        `staged_elements`) go to `impls.fast.view_running_max`, which reads them
        in place; every other call to the compiled kernels, once they are ready.
        """
        compact = geometry.compact
        native = array.dtype.newbyteorder("=")
        if not _pools_rows(compact, native) and not _stages_within_input(compact):
            return SlicedMaxPool(self.threads).forward_plan(array, geometry)
        tables = _tables(compact, native)
        chosen = compiled.mode()
        if chosen == "off":
            return self.numpy_path().forward_plan(array, geometry)
        if chosen != "wait" and is_small(compact, GATHER_ELEMENTS):
            # (with "wait" every call runs the kernels: what verifying them needs)
            return gather_plan(compact), 3 * _window_elements(compact)
        kernel = _forward_kernel(native, _kind(tables))
        warm = _bound(warm_key, kernel)
        blocked = self.blocked_plan(array, compact)
        small = None
        if _kernel_ready(array, native):
            small = _compiled_forward(compact, native, tables)
        plane_bytes = compact.plane_size * array.itemsize
        whole_bytes = compact.batch * plane_bytes
        fallback: list[ForwardPlan] = []

        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            kernels = compiled.kernels_for(kernel, warm)
            if kernels is None:
                if not fallback:
                    fallback.append(self.numpy_path().forward_plan(x, geometry)[0])
                result = fallback[0](x)
                compiled.request(kernel, warm)  # after the call: no competing for the GIL
                return result
            if (
                small is not None
                and whole_bytes <= threads.BLOCK_BYTES
                and threads.worker_count(compact.batch, plane_bytes, self.threads) == 1
            ):
                return small(x, kernels)  # one block on this thread: no worker to set up
            return blocked(x)

        held = table_bytes(tables)  # None holds nothing
        return run, held

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        # Nothing per plane of a block that would call for smaller blocks: the
        # kernels' scratch is per group of planes, and an input they cannot
        # read in place is copied into one block (BLOCK_BYTES) per thread.
        # Small blocks cost a call each: at 600 planes per block, the global
        # pool ran no faster on two threads than on one.
        return 0

    def forward_worker(
        self,
        planes: PlaneSource,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        batch, outputs = geometry.batch, geometry.output_plane_size
        native = planes.dtype.newbyteorder("=")
        _, scalars = _key_scalars(native)
        tables = _tables(geometry, native)
        keys = _source_dtype(native, tables)
        kernel = _forward_kernel(native, _kind(tables))
        kernels = compiled.kernels_for(kernel, _bound(warm_key, kernel))
        if kernels is None:  # the plan checked; only a process forked since can differ
            raise RuntimeError(f"the compiled kernels are not ready: {compiled.status()}")
        index_rows = indices.reshape(batch, outputs)
        if values.dtype == native:
            value_rows = values.reshape(batch, outputs).view(keys)
        else:  # byte-swapped: computed natively, then copied
            native_values = np.empty((capacity, outputs), dtype=native)
        shape = (geometry.plane_size,) if tables is None else tables.spatial
        # planes is an array of (batch, *spatial) planes, or copies blocks of them
        direct = isinstance(planes, np.ndarray) and _kernel_ready(planes, native)
        if isinstance(planes, np.ndarray) and direct:
            source = _read_only(planes.reshape(batch, *shape).view(keys))
        else:
            copied = np.empty((capacity, *shape), dtype=native)
            copied_keys = _read_only(copied.view(keys))

        def work(block: slice) -> None:
            n = block.stop - block.start
            if direct:
                x = source[block]
            else:
                copied[:n].reshape(n, *geometry.spatial_shape)[...] = planes[block]
                x = copied_keys[:n]
            out = value_rows[block] if values.dtype == native else native_values[:n].view(keys)
            _pool_call(kernels, x, out, index_rows[block], tables, scalars)
            if values.dtype != native:
                values.reshape(batch, outputs)[block] = native_values[:n]

        return work

    def backward_plan(
        self, grad: np.ndarray, indices: np.ndarray, geometry: Geometry
    ) -> BackwardPlan:
        """The compiled scatter, once ready; float16 and byte-swapped gradients, which
        numba cannot add, and calls made before then take the NumPy scatter."""
        numpy_plan = super().backward_plan(grad, indices, geometry)
        if grad.dtype == np.float16 or not grad.dtype.isnative:  # numba cannot add these
            return numpy_plan
        if compiled.mode() == "off":
            return numpy_plan
        kernel = _scatter_kernel(grad.dtype)
        warm = _bound(warm_key, kernel)
        rows = (geometry.batch, geometry.output_plane_size)
        grad_shape = (geometry.batch, geometry.plane_size)
        dtype, int64 = grad.dtype, np.dtype(np.int64)

        def run(grad_out: np.ndarray, indices: np.ndarray) -> np.ndarray:
            kernels = compiled.kernels_for(kernel, warm)
            if kernels is None:
                grad_in = numpy_plan(grad_out, indices)
                compiled.request(kernel, warm)  # after the call: no competing for the GIL
                return grad_in
            grad_rows = _kernel_input(grad_out.reshape(rows), dtype)
            index_rows = _kernel_input(indices.reshape(rows), int64)
            grad_in = buffers.empty(grad_shape, dtype)

            def scatter(start: int, stop: int) -> None:
                outside = _scatter_call(
                    kernels, grad_rows[start:stop], index_rows[start:stop], grad_in[start:stop]
                )
                if outside >= 0:
                    check_index_array(indices, "indices", geometry)  # raises ValueError
                    raise AssertionError("an index left its plane but passed the check")

            run_split(scatter, geometry.batch, geometry.plane_size * dtype.itemsize, self.threads)
            return grad_in.reshape(geometry.input_shape)

        return run


def _window_elements(geometry: Geometry) -> int:
    return geometry.batch * geometry.output_plane_size * geometry.spec.window_size
