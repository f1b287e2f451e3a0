"""Staging blocks of planes into padded, phase-split buffers with long contiguous rows.

NumPy's loops run along the innermost axis, so a running maximum over strided
views of small planes spends its time on loop overhead (rows of a few dozen
elements) and on strided access. Staging fixes both, one cache-sized block of
planes at a time:

* Along each pooled axis, input position ``o*s - pad_begin + j*d`` is split
  into a *phase* ``(j*d) % s`` and a *shift* ``(j*d) // s``: every window
  offset then reads one phase buffer at one shift, with unit stride.
* Each phase buffer holds its part of the block's window region, padded with
  the dtype's lowest value (which never wins, see `impls.fast.window_codes`).
* Outputs are computed in a *wide* layout ``(O_0, Q_1, ..., Q_{n-1})``: every
  inner axis is as long as its phase buffer rather than the output, so the
  view of an offset is one contiguous slice of the flattened buffer, whatever
  the dimension. The extra positions read neighbouring data and are dropped.

For windows that tile the input exactly (stride equal to kernel, no dilation
or padding) the phase buffers are the K slabs of ``block.reshape(n, O0, k0,
O1, k1, ...)``: staging is that reshape, and every offset owns a whole buffer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from ..geometry import Geometry
from .table_cache import table_cache
from .window_codes import (
    CodeTables,
    OffsetPlan,
    code_tables,
    codes_to_indices,
    restore_selected_bits,
)

__all__ = ["StagedLayout", "finish_forward", "has_nan", "output_view", "staged_layout"]


@dataclass(frozen=True, eq=False)
class StagedLayout:
    """How one geometry is staged; see the module docstring.

    Arrays, not one object per kernel element: a kernel may have millions.
    """

    tables: CodeTables
    # per axis: the phases its kernel steps read, in order of first use, and
    # for each step of ``tables.offsets.axes[axis]`` the index of its phase
    axis_phases: tuple[np.ndarray, ...]
    axis_phase_index: tuple[np.ndarray, ...]
    phase_shape: tuple[int, ...]  # buffer length per axis (Q)
    buffer_length: int  # per plane: prod(Q) plus slack for the last shifted view
    wide_shape: tuple[int, ...]  # (O_0, Q_1, ..., Q_{n-1})
    offset_phase: np.ndarray  # per offset of ``tables.offsets``: index into the phases
    offset_start: np.ndarray  # per offset: flat start of its view in the buffer
    first_code: np.ndarray  # wide-shaped first in-bounds code (0 where dropped)
    # per phase: (input slices, buffer slices) of the in-bounds part of the
    # region, when there are few phases (otherwise planned while staging)
    copies: tuple[tuple[tuple[slice, ...], tuple[slice, ...]] | None, ...] | None

    @property
    def phase_count(self) -> int:
        """Number of phase buffers: every combination of the axes' phases."""
        return math.prod(len(phases) for phases in self.axis_phases)

    def phase(self, number: int) -> tuple[int, ...]:
        """The phase (one per axis) of phase buffer ``number``, in row-major order."""
        counts = [len(phases) for phases in self.axis_phases]
        where = np.unravel_index(number, counts)
        return tuple(int(phases[i]) for phases, i in zip(self.axis_phases, where, strict=True))

    @property
    def wide_length(self) -> int:
        return math.prod(self.wide_shape)

    @property
    def wide_is_output(self) -> bool:
        """Whether the wide layout drops nothing: it is the output block itself."""
        return self.wide_shape == self.tables.geometry.output_spatial

    def valid(self) -> tuple[slice, ...]:
        """Slices of a ``(n, *wide_shape)`` array that hold the real outputs."""
        return (slice(None), *(slice(0, n) for n in self.tables.geometry.output_spatial))

    def buffer_bytes(self, dtype: DTypeLike) -> int:
        """Bytes of phase buffers per plane."""
        return self.phase_count * self.buffer_length * np.dtype(dtype).itemsize

    def new_buffers(self, planes: int, dtype: np.dtype, fill: object) -> np.ndarray:
        """Phase buffers for ``planes`` planes: ``(phases, planes, buffer_length)``."""
        return np.full((self.phase_count, planes, self.buffer_length), fill, dtype=dtype)

    def _buffer_block(self, buffers: np.ndarray, phase: int, planes: int) -> np.ndarray:
        interior = buffers[phase, :planes, : math.prod(self.phase_shape)]
        return interior.reshape((planes, *self.phase_shape))

    def stage(self, block: np.ndarray, buffers: np.ndarray) -> None:
        """Copy the ``(n, *spatial)`` block into the phase buffers' in-bounds parts.

        The padding parts are never written: they keep the fill of `new_buffers`.
        """
        geometry = self.tables.geometry
        for phase in range(self.phase_count):
            if self.copies is not None:
                copy = self.copies[phase]
            else:
                copy = _copy_plan(geometry, self.phase(phase), self.phase_shape)
            if copy is not None:
                inputs, positions = copy
                target = self._buffer_block(buffers, phase, len(block))
                into, out_of = (slice(None), *positions), (slice(None), *inputs)
                target[into] = block[out_of]

    def view(self, buffers: np.ndarray, offset_number: int, planes: int) -> np.ndarray:
        """``(planes, wide_length)`` contiguous-row view read by one offset."""
        start = self.offset_start[offset_number]
        phase = buffers[self.offset_phase[offset_number], :planes]
        return phase[:, start : start + self.wide_length]


def _copy_plan(
    geometry: Geometry, phase: tuple[int, ...], phase_shape: tuple[int, ...]
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    spec = geometry.spec
    inputs, positions = [], []
    for axis, p in enumerate(phase):
        stride, begin = spec.stride[axis], geometry.pads[axis][0]
        (_, region_end), length = geometry.region()[axis], geometry.spatial_shape[axis]
        # buffer position q holds input position q*s + p - begin, inside the
        # input and inside the window region
        first = max(0, -(-(begin - p) // stride))
        last = min(
            phase_shape[axis] - 1,
            (length - 1 + begin - p) // stride,
            (region_end + begin - 1 - p) // stride,
        )
        if first > last:
            return None
        start = first * stride + p - begin
        inputs.append(slice(start, start + (last - first) * stride + 1, stride))
        positions.append(slice(first, last + 1))
    return tuple(inputs), tuple(positions)


def _first_use_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``values`` in order of first appearance, and each value's index among them."""
    distinct, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[inverse.reshape(-1)]


@table_cache
def staged_layout(geometry: Geometry) -> StagedLayout:
    """Build (and cache) the `StagedLayout` of ``geometry``.

    O(K) time and memory in the kernel size K, vectorised; ``geometry``
    should be compact (`Geometry.compact`).
    """
    tables = code_tables(geometry)
    spec = geometry.spec
    region_lengths = [hi - lo for lo, hi in geometry.region()]
    phase_shape = tuple(-(-n // s) for n, s in zip(region_lengths, spec.stride, strict=True))
    inner_strides = [math.prod(phase_shape[axis + 1 :]) for axis in range(spec.ndim)]

    axis_phases, axis_phase_index, shifts = [], [], []
    for axis, steps in enumerate(tables.offsets.axes):
        step = steps.number * spec.dilation[axis]
        phases, index = _first_use_order(step % spec.stride[axis])
        axis_phases.append(phases)
        axis_phase_index.append(index)
        shifts.append(step // spec.stride[axis])
    counts = [len(phases) for phases in axis_phases]
    # Offsets are the row-major product of the axes' steps; so are the phases.
    offset_phase = np.ravel_multi_index(np.meshgrid(*axis_phase_index, indexing="ij"), counts)
    starts: tuple[np.ndarray, ...] = np.meshgrid(
        *(shift * inner for shift, inner in zip(shifts, inner_strides, strict=True)),
        indexing="ij",
    )
    # how far the last row of a shifted view reaches past prod(Q)
    reach = [int(shift.max()) * inner for shift, inner in zip(shifts, inner_strides, strict=True)]
    slack = sum(reach[1:])

    wide_shape = (geometry.output_spatial[0], *phase_shape[1:])
    first_code = np.zeros(wide_shape, dtype=tables.dtype)
    first_code[tuple(slice(0, n) for n in geometry.output_spatial)] = tables.first_code
    layout = StagedLayout(
        tables=tables,
        axis_phases=tuple(axis_phases),
        axis_phase_index=tuple(axis_phase_index),
        phase_shape=phase_shape,
        buffer_length=math.prod(phase_shape) + slack,
        wide_shape=wide_shape,
        offset_phase=offset_phase.reshape(-1),
        offset_start=sum(starts[1:], start=starts[0]).reshape(-1),
        first_code=first_code,
        copies=None,
    )
    if layout.phase_count > OffsetPlan.KEPT:
        return layout
    copies = tuple(
        _copy_plan(geometry, layout.phase(number), phase_shape)
        for number in range(layout.phase_count)
    )
    return dataclasses.replace(layout, copies=copies)


def finish_forward(
    layout: StagedLayout,
    best: np.ndarray,
    code: np.ndarray,
    planes: np.ndarray,
    values: np.ndarray,
    indices: np.ndarray,
    scratch_flags: np.ndarray,
    scratch_code: np.ndarray,
    scratch_indices: np.ndarray,
) -> None:
    """Copy wide maxima and codes of ``n`` planes into the outputs.

    ``best`` and ``code`` are ``(n, wide_length)``; ``values`` and ``indices``
    the ``(n, *output_spatial)`` output blocks of ``planes``; the scratch
    arrays are output-block-shaped (bool and the code dtype), and the intp
    scratch of `impls.fast.window_codes.codes_to_indices`. When the wide
    layout is the output (`StagedLayout.wide_is_output`), ``best`` may be
    ``values`` itself: nothing is copied then.
    """
    n, valid = len(planes), layout.valid()
    if layout.wide_is_output:
        if not np.may_share_memory(best, values):
            values[...] = best.reshape(values.shape)
        compact_code = code.reshape(scratch_code.shape)
    else:
        values[...] = best.reshape(n, *layout.wide_shape)[valid]
        # np.take is much faster with contiguous indices: compact the codes first.
        compact_code = scratch_code
        np.copyto(compact_code, code.reshape(n, *layout.wide_shape)[valid])
    codes_to_indices(compact_code, layout.tables, indices, scratch_indices)
    restore_selected_bits(values, indices, planes, scratch_flags)


def output_view(scratch: np.ndarray, geometry: Geometry) -> np.ndarray:
    """An output-block-shaped view of the start of a ``(capacity, >= output plane)`` scratch."""
    capacity = len(scratch)
    flat = scratch.reshape(-1)[: capacity * geometry.output_plane_size]
    return flat.reshape((capacity, *geometry.output_spatial))


def has_nan(layout: StagedLayout, best: np.ndarray, scratch_flags: np.ndarray) -> bool:
    """Whether the real outputs among the ``(n, wide_length)`` maxima hold NaN."""
    if best.dtype.kind != "f":
        return False
    maxima = best.reshape(len(best), *layout.wide_shape)[layout.valid()]
    return bool(np.isnan(maxima, out=scratch_flags).any())
