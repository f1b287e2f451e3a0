"""Staging blocks of planes into padded, phase-split buffers with long contiguous rows.

NumPy's loops run along the innermost axis, so a running maximum over strided
views of small planes spends its time on loop overhead (rows of a few dozen
elements) and on strided access. Staging fixes both, one cache-sized block of
planes at a time:

* Along each pooled axis, input position ``o*s - pad_begin + j*d`` is split
  into a *phase* ``(j*d) % s`` and a *shift* ``(j*d) // s``: every window
  offset then reads one phase buffer at one shift, with unit stride.
* Each phase buffer holds its part of the block's window region, padded with
  the dtype's lowest value (which never wins, see `impls.codes`).
* Outputs are computed in a *wide* layout ``(O_0, Q_1, ..., Q_{n-1})``: every
  inner axis is as long as its phase buffer rather than the output, so the
  view of an offset is one contiguous slice of the flattened buffer, whatever
  the dimension. The extra positions read neighbouring data and are dropped.

For windows that tile the input exactly (stride equal to kernel, no dilation
or padding) the phase buffers are the K slabs of ``block.reshape(n, O0, k0,
O1, k1, ...)``: staging is that reshape, and every offset owns a whole buffer.

Along an axis with a single output the stride plays no part, so a *compact*
layout (``staged_layout(geometry, compact=True)``) does not split that axis
into phases: a global pool then stages into one buffer instead of one per
window element.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .codes import CodeTables, code_tables, codes_to_indices, restore_signed_zeros
from .windows import Geometry

__all__ = ["StagedLayout", "finish_forward", "has_nan", "output_view", "staged_layout"]


@dataclass(frozen=True, eq=False)
class StagedLayout:
    """How one geometry is staged; see the module docstring."""

    tables: CodeTables
    splits: tuple[int, ...]  # phases per axis: the stride, or 1 (see compact)
    phases: tuple[tuple[int, ...], ...]  # phase combinations some offset reads
    phase_shape: tuple[int, ...]  # buffer length per axis (Q)
    buffer_length: int  # per plane: prod(Q) plus slack for the last shifted view
    wide_shape: tuple[int, ...]  # (O_0, Q_1, ..., Q_{n-1})
    offset_phase: tuple[int, ...]  # per offset of ``tables.offsets``: index into ``phases``
    offset_start: tuple[int, ...]  # per offset: flat start of its view in the buffer
    # per phase: (input slices, buffer slices) of the in-bounds part of the region
    copies: tuple[tuple[tuple[slice, ...], tuple[slice, ...]] | None, ...]
    first_code: np.ndarray  # wide-shaped first in-bounds code (0 where dropped)

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

    def buffer_bytes(self, dtype: object) -> int:
        """Bytes of phase buffers per plane."""
        return len(self.phases) * self.buffer_length * np.dtype(dtype).itemsize

    def new_buffers(self, planes: int, dtype: np.dtype, fill: object) -> np.ndarray:
        """Phase buffers for ``planes`` planes: ``(phases, planes, buffer_length)``."""
        return np.full((len(self.phases), planes, self.buffer_length), fill, dtype=dtype)

    def _buffer_block(self, buffers: np.ndarray, phase: int, planes: int) -> np.ndarray:
        interior = buffers[phase, :planes, : math.prod(self.phase_shape)]
        return interior.reshape((planes, *self.phase_shape))

    def stage(self, block: np.ndarray, buffers: np.ndarray) -> None:
        """Copy the ``(n, *spatial)`` block into the phase buffers' in-bounds parts.

        The padding parts are never written: they keep the fill of `new_buffers`.
        """
        for phase, copy in enumerate(self.copies):
            if copy is not None:
                inputs, positions = copy
                target = self._buffer_block(buffers, phase, len(block))
                target[(slice(None), *positions)] = block[(slice(None), *inputs)]

    def view(self, buffers: np.ndarray, offset_number: int, planes: int) -> np.ndarray:
        """``(planes, wide_length)`` contiguous-row view read by one offset."""
        start = self.offset_start[offset_number]
        phase = buffers[self.offset_phase[offset_number], :planes]
        return phase[:, start : start + self.wide_length]


def _copy_plan(
    geometry: Geometry,
    phase: tuple[int, ...],
    phase_shape: tuple[int, ...],
    splits: tuple[int, ...],
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    inputs, positions = [], []
    for axis, p in enumerate(phase):
        stride, begin = splits[axis], geometry.pads[axis][0]
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


def _splits(geometry: Geometry, compact: bool) -> tuple[int, ...]:
    """Phases per axis: the stride, or 1 where ``compact`` and the axis has one output."""
    return tuple(
        1 if compact and out == 1 else stride
        for stride, out in zip(geometry.spec.stride, geometry.output_spatial, strict=True)
    )


@functools.lru_cache(maxsize=64)
def staged_layout(geometry: Geometry, compact: bool = False) -> StagedLayout:
    """Build (and cache) the `StagedLayout` of ``geometry``.

    With ``compact``, axes with a single output are not split into phases
    (see the module docstring).
    """
    tables = code_tables(geometry)
    spec = geometry.spec
    splits = _splits(geometry, compact)
    region_lengths = [hi - lo for lo, hi in geometry.region()]
    phase_shape = tuple(-(-n // s) for n, s in zip(region_lengths, splits, strict=True))
    inner_strides = [math.prod(phase_shape[axis + 1 :]) for axis in range(spec.ndim)]

    phases: list[tuple[int, ...]] = []
    offset_phase, offset_start = [], []
    slack = 0  # how far the last row of a shifted view reaches past prod(Q)
    for offset in tables.offsets:
        phase = tuple(step % s for step, s in zip(offset.steps, splits, strict=True))
        shift = [step // s for step, s in zip(offset.steps, splits, strict=True)]
        if phase not in phases:
            phases.append(phase)
        offset_phase.append(phases.index(phase))
        inner = sum(q * n for q, n in zip(shift[1:], inner_strides[1:], strict=True))
        offset_start.append(shift[0] * inner_strides[0] + inner)
        slack = max(slack, inner)

    wide_shape = (geometry.output_spatial[0], *phase_shape[1:])
    first_code = np.zeros(wide_shape, dtype=tables.dtype)
    first_code[tuple(slice(0, n) for n in geometry.output_spatial)] = tables.first_code
    return StagedLayout(
        tables=tables,
        splits=splits,
        phases=tuple(phases),
        phase_shape=phase_shape,
        buffer_length=math.prod(phase_shape) + slack,
        wide_shape=wide_shape,
        offset_phase=tuple(offset_phase),
        offset_start=tuple(offset_start),
        copies=tuple(_copy_plan(geometry, phase, phase_shape, splits) for phase in phases),
        first_code=first_code,
    )


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
    scratch of `impls.codes.codes_to_indices`. When the wide
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
    restore_signed_zeros(values, indices, planes, scratch_flags)


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
