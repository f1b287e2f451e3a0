"""Running-maximum max pooling (van Herk / Gil-Werman): O(1) per element, whatever the kernel.

Along one axis with stride 1, cut the padded signal into blocks of ``k``
elements (the kernel). A window of ``k`` consecutive elements starting at
``m`` then spans the end of one block and the start of the next: its maximum
is the larger of the block's suffix maximum at ``m`` and the next block's
prefix maximum at ``m + k - 1``. Both are running maxima inside the blocks
(`numpy.maximum.accumulate`, forwards and backwards), so each window costs a
fixed number of passes over the input, not ``k`` (M. van Herk, Pattern
Recognition Letters 13, 1992; J. Gil and M. Werman, IEEE PAMI 15, 1993).
With dilation ``d``, each of the ``d`` phases of the axis is such a signal;
they are reduced side by side.

The selection rule survives as in `impls.fast.separable`, whose idea this module
follows: the pooled axes are reduced one at a time, innermost first, and each
stage keeps the first maximal row of the stage before, so the code
``row * kw + column`` of the row-major first maximum builds up axis by axis.
Inside a stage, each running maximum also tracks where its value first
occurs: the prefix maximum moves only on a strictly greater element, the
suffix maximum on a greater or equal one (so it keeps the earliest), and a
window takes its suffix part, which comes first, on ties. With NaN in a block
(detected after a first pass, as in `impls.fast.view_running_max`), NaN counts as larger than
every number and the first NaN wins. Padding holds the dtype's lowest value;
a window whose maximum is that value selects its first element inside the
input, as the contract says. Values are the maxima, with zeros and NaN copied
back from the selected element, so they are the input bits.

Only stride 1 is handled (after `impls.geometry.Geometry.compact`, which makes
the stride of an axis with one output 1): `impls.fast.auto` sends large stride-1
windows here (`is_unit_stride` tells which geometries qualify). Backward is
the shared flat scatter of `impls.fast.blocks`.

Cost
----
With ``B`` planes whose windows span ``R`` padded elements: forward about 15
NumPy passes over ``B * R`` elements per pooled axis (fewer as axes are
reduced: 8 for the two running maxima, the rest per output), in blocks split
across threads, whatever the kernel size; plus O(K) tables for the window
codes. Against `impls.fast.separable` (about ``4.5 * k`` passes per axis) and
`impls.fast.view_running_max`, it pays from kernels of about 33 x 33 in 2-D and 65 in 1-D
(``docs/auto-dispatch.md``). Extra memory: per thread, about
``3 * itemsize + 2 * p + 2`` bytes per element of the staged block (the
padded block, its prefix and suffix maxima, and their positions of ``p`` = 1
to 4 bytes); blocks are smaller where the scratch budget of `impls.fast.blocks`
asks for it, and hold at least one plane.
Backward: as `impls.fast.view_running_max`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> x = np.array([[3., 1., 4., 1., 5., 9., 2., 6.]])
>>> values, indices = VanHerkMaxPool().forward(x, PoolSpec((3,), stride=1))
>>> values
array([[4., 4., 5., 9., 9., 9.]])
>>> indices
array([[2, 2, 4, 5, 5, 5]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import Geometry, lowest_value, region_overlap
from .blocks import BlockedMaxPool, BlockWorker
from .planes import PlaneSource
from .window_codes import (
    code_dtype,
    code_tables,
    codes_to_indices,
    conversion_scratch,
    restore_selected_bits,
)

__all__ = ["VanHerkMaxPool", "is_unit_stride"]


def is_unit_stride(geometry: Geometry) -> bool:
    """Whether every pooled axis of ``geometry`` has stride 1 (`VanHerkMaxPool` applies).

    ``geometry`` should be compact (`impls.geometry.Geometry.compact`), where an
    axis with a single output has stride 1 whatever the spec said.
    """
    return all(stride == 1 for stride in geometry.spec.stride)


@dataclass(frozen=True, eq=False)
class _Axis:
    """How one pooled axis is cut into blocks: ``padded = blocks * k * d`` positions.

    Output ``o`` reads padded positions ``o + j*d``; in its phase ``o % d``
    that is window start ``m = o // d``, whose suffix part lies in block
    ``m // k`` and prefix part in the next one.
    """

    kernel: int
    dilation: int
    outputs: int
    padded: int  # length of the staged axis, a multiple of kernel * dilation
    inner_window: int  # kernel elements of the axes after this one
    suffix_shift: np.ndarray  # per output: m % k, to turn a block position into a step
    prefix_shift: np.ndarray  # per output: start of the prefix's block minus m
    position_dtype: np.dtype  # holds 0 .. k

    @classmethod
    def of(cls, geometry: Geometry, axis: int) -> _Axis:
        spec = geometry.spec
        k, d, out = spec.kernel_size[axis], spec.dilation[axis], geometry.output_spatial[axis]
        starts = -(-out // d)  # window starts per phase
        blocks = -(-(starts + k - 1) // k)
        m = np.arange(out, dtype=np.int64) // d
        position_dtype = code_dtype(k + 1)
        return cls(
            kernel=k,
            dilation=d,
            outputs=out,
            padded=blocks * k * d,
            inner_window=math.prod(spec.kernel_size[axis + 1 :]),
            suffix_shift=(m % k).astype(position_dtype)[:, np.newaxis],
            prefix_shift=((m + k - 1) // k * k - m).astype(position_dtype)[:, np.newaxis],
            position_dtype=position_dtype,
        )


# A scan over the k positions of the blocks runs as one NumPy call per
# position, over all blocks and lanes at once, when each call gets at least
# this many elements; below it (few long signals), `numpy.maximum.accumulate`
# along each block is cheaper.
LOOP_ELEMENTS = 512


def _prefix_scan(blocks: np.ndarray, at: np.ndarray, nan_aware: bool) -> np.ndarray:
    """Running maxima from each block's start, and (into ``at``) where each first occurs.

    ``blocks`` is ``(blocks, k, lanes)``. A new maximum needs a strictly greater
    element, so the first of equal maxima stays; with ``nan_aware``, the first
    NaN is greater than every number and nothing is greater than a NaN.
    """
    prefix = np.empty_like(blocks)
    k = blocks.shape[1]
    if blocks.shape[0] * blocks.shape[2] >= LOOP_ELEMENTS:
        prefix[:, 0] = blocks[:, 0]
        at[:, 0] = 0
        grew = np.empty(prefix[:, 0].shape, bool)
        for i in range(1, k):
            before, here = prefix[:, i - 1], blocks[:, i]
            _greater(here, before, grew, nan_aware)
            np.maximum(before, here, out=prefix[:, i])
            at[:, i] = at[:, i - 1]
            np.copyto(at[:, i], i, where=grew)
        return prefix
    np.maximum.accumulate(blocks, axis=1, out=prefix)
    grew = np.empty(prefix[:, 1:].shape, bool)
    _greater(prefix[:, 1:], prefix[:, :-1], grew, nan_aware)
    at[:, 0] = 0
    np.multiply(grew, np.arange(1, k, dtype=at.dtype)[:, np.newaxis], out=at[:, 1:])
    np.maximum.accumulate(at, axis=1, out=at)
    return prefix


def _suffix_scan(blocks: np.ndarray, at: np.ndarray, nan_aware: bool) -> np.ndarray:
    """Running maxima to each block's end, and (into ``at``) where each first occurs.

    Scanning backwards, an element at least as large as everything after it
    takes over, so the earliest of equal maxima wins; with ``nan_aware``, so
    does the earliest NaN.
    """
    suffix = np.empty_like(blocks)
    k = blocks.shape[1]
    if blocks.shape[0] * blocks.shape[2] >= LOOP_ELEMENTS:
        suffix[:, k - 1] = blocks[:, k - 1]
        at[:, k - 1] = k - 1
        record = np.empty(suffix[:, 0].shape, bool)
        for i in range(k - 2, -1, -1):
            after, here = suffix[:, i + 1], blocks[:, i]
            _at_least(here, after, record, nan_aware)
            np.maximum(after, here, out=suffix[:, i])
            at[:, i] = at[:, i + 1]
            np.copyto(at[:, i], i, where=record)
        return suffix
    np.maximum.accumulate(blocks[:, ::-1], axis=1, out=suffix[:, ::-1])
    record = np.equal(blocks, suffix)  # as large as everything after it
    if nan_aware:
        record |= np.isnan(blocks)
    record[:, -1] = True  # even a NaN there, before the NaN-aware pass: steps stay in range
    np.copyto(at, np.arange(k, dtype=at.dtype)[:, np.newaxis])
    np.copyto(at, k, where=~record)
    np.minimum.accumulate(at[:, ::-1], axis=1, out=at[:, ::-1])
    return suffix


def _greater(a: np.ndarray, b: np.ndarray, out: np.ndarray, nan_aware: bool) -> None:
    """``out = a > b``; with ``nan_aware``, NaN is above every number and not above NaN."""
    if nan_aware:
        np.less_equal(a, b, out=out)  # False when either is NaN
        np.logical_not(out, out=out)
        out &= np.equal(b, b)  # nothing beats an earlier NaN
    else:
        np.greater(a, b, out=out)


def _at_least(a: np.ndarray, b: np.ndarray, out: np.ndarray, nan_aware: bool) -> None:
    """``out = a >= b``; with ``nan_aware``, NaN is above every number and ties with NaN."""
    if nan_aware:
        _greater(b, a, out, nan_aware=True)
        np.logical_not(out, out=out)
    else:
        np.greater_equal(a, b, out=out)


def _reduce_axis(
    signal: np.ndarray, axis: _Axis, nan_aware: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum and first maximal step of every window along the first axis of ``signal``.

    ``signal`` is C-contiguous ``(axis.padded, lanes)``; returns the maxima
    ``(axis.outputs, lanes)`` and the steps ``j`` (0 .. k-1) of the first
    maximal element of each window, in ``axis.position_dtype``.
    """
    lanes = signal.shape[1]
    k, d, out = axis.kernel, axis.dilation, axis.outputs
    blocks = signal.reshape(-1, k, d * lanes)
    prefix_at = np.empty(blocks.shape, axis.position_dtype)
    prefix = _prefix_scan(blocks, prefix_at, nan_aware)
    suffix_at = np.empty(blocks.shape, axis.position_dtype)
    suffix = _suffix_scan(blocks, suffix_at, nan_aware)

    # Window o: suffix part at flat position o, prefix part at o + (k - 1) * d.
    tail = slice((k - 1) * d, (k - 1) * d + out)
    first, last = suffix.reshape(-1, lanes)[:out], prefix.reshape(-1, lanes)[tail]
    take_first = np.empty(first.shape, bool)
    _at_least(first, last, take_first, nan_aware)  # the suffix part comes first: it wins ties
    maxima = np.maximum(first, last)  # NaN propagates: a NaN window's maximum is NaN
    step = np.where(
        take_first,
        suffix_at.reshape(-1, lanes)[:out] - axis.suffix_shift,
        prefix_at.reshape(-1, lanes)[tail] + axis.prefix_shift,
    )
    return maxima, step


class VanHerkMaxPool(BlockedMaxPool):
    """Running-maximum max pooling for stride-1 windows, threaded over planes.

    Refuses geometries with a stride above 1 on an axis with several
    outputs (`is_unit_stride`); `impls.fast.auto` calls it only where it applies.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "vanherk"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        axes = [_Axis.of(geometry, axis) for axis in range(geometry.spec.ndim)]
        staged = math.prod(axis.padded for axis in axes)
        position = axes[-1].position_dtype.itemsize
        return staged * (3 * np.dtype(dtype).itemsize + 2 * position + 2)

    def forward_worker(
        self,
        planes: PlaneSource,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        if not is_unit_stride(geometry):
            raise ValueError(f"{self.name} needs stride 1 on every pooled axis, got {geometry}")
        tables = code_tables(geometry)
        ndim = geometry.spec.ndim
        axes = [_Axis.of(geometry, axis) for axis in range(ndim)]
        lowest = lowest_value(planes.dtype)
        # The block is staged with the innermost pooled axis first and the
        # planes last, so every stage scans its axis with all the rest as
        # contiguous lanes; before each later stage its axis moves to the front.
        order = [ndim - 1, *range(ndim - 1), ndim]  # ndim stands for the planes
        staged = np.full(
            (*(axes[axis].padded for axis in order[:-1]), capacity), lowest, planes.dtype
        )
        in_planes, in_region = region_overlap(geometry)
        staged_region = tuple(in_region[1 + axis] for axis in order[:-1])
        to_staged = [1 + axis for axis in order[:-1]] + [0]
        wide_indices = conversion_scratch(capacity * geometry.output_plane_size)
        flags = np.empty((capacity, *geometry.output_spatial), bool)

        def reduce_all(n: int, nan_aware: bool) -> tuple[np.ndarray, np.ndarray]:
            maxima, code, now = staged[..., :n], None, list(order)
            for number in range(ndim - 1, -1, -1):
                axis = axes[number]
                if now[0] != number:  # bring this axis to the front
                    where = now.index(number)
                    now.insert(0, now.pop(where))
                    maxima = np.ascontiguousarray(np.moveaxis(maxima, where, 0))
                    if code is not None:  # None before the first axis is reduced
                        code = np.ascontiguousarray(np.moveaxis(code, where, 0))
                shape = list(maxima.shape)
                best, step = _reduce_axis(maxima.reshape(axis.padded, -1), axis, nan_aware)
                step = step.astype(tables.dtype, copy=False)
                if code is not None:
                    # The row each window selected: its code, from the stage before.
                    row = step.astype(np.intp) * axis.dilation
                    row += np.arange(axis.outputs)[:, np.newaxis]
                    earlier = np.take_along_axis(code.reshape(axis.padded, -1), row, 0)
                    step *= tables.dtype.type(axis.inner_window)
                    step += earlier
                shape[0] = axis.outputs
                maxima, code = best.reshape(shape), step.reshape(shape)
            assert code is not None
            back = [now.index(ndim), *(now.index(axis) for axis in range(ndim))]
            return maxima.transpose(back), np.ascontiguousarray(code.transpose(back))

        def work(block: slice) -> None:
            n = block.stop - block.start
            source = planes[block][in_planes].transpose(to_staged)
            staged[staged_region + (slice(0, n),)] = source
            maxima, code = reduce_all(n, nan_aware=False)
            nan_aware = maxima.dtype.kind == "f" and bool(np.isnan(maxima, out=flags[:n]).any())
            if nan_aware:
                maxima, code = reduce_all(n, nan_aware=True)
            values[block] = maxima
            # Only padding or the lowest value: the first element inside the input.
            np.copyto(code, tables.first_code, where=np.equal(maxima, lowest, out=flags[:n]))
            codes_to_indices(code, tables, indices[block], wide_indices)
            restore_selected_bits(
                values[block], indices[block], planes[block], flags[:n], nan=nan_aware
            )

        return work
