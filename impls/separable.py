"""Separable max pooling: reduce one pooled axis at a time, innermost first.

The maximum over a ``kh x kw`` window is the maximum over ``kh`` row maxima,
each over ``kw`` elements, so a 2-D pool costs ``kh + kw`` passes per output
instead of ``kh * kw`` (and ``kd + kh + kw`` instead of their product in 3-D).
This pays for overlapping windows with stride 1, where every row maximum is
shared by several windows.

The first-maximum rule survives the split when the innermost axis goes
first: each row keeps the column of its first maximum, and the outer pass
keeps the first row whose maximum beats all earlier rows. Its candidate code,
``row * kw + column``, grows with the row, so the branch-free update of
`impls.codes.update_first_max` still applies. Each pass starts from the code
of the first in-bounds element, so padding is never selected even where a
row's elements all equal the padding value.

Blocks are staged as in `impls.reshape` (`impls.staging`): padded phase
buffers with long contiguous rows, so every pass of every stage is one
unit-stride slice. Backward depends only on the indices, not on how forward
found them: it is the shared flat scatter of `impls.blocked`.

Cost
----
With ``B`` planes, ``O`` outputs per plane and kernel ``k_0 x ... x k_m``:
forward about ``4 * k_m + 5 * (k_0 + ... + k_{m-1})`` passes over
``B * O' * (s_0 * ... * s_a)`` elements at stage ``a`` (the region still to
be reduced, in the wide staged layout), plus one staging copy. For stride 1
that is O(B*O*(k_0 + ... + k_m)) instead of O(B*O*k_0*...*k_m). Extra
memory: per thread, a staged block and one block-sized maximum and code per
phase still unreduced. Backward: as `impls.sliced`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.separable import SeparableMaxPool
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = SeparableMaxPool().forward(x, PoolSpec((2, 2), stride=1))
>>> values
array([[5., 6.],
       [8., 9.]])
>>> indices
array([[4, 5],
       [7, 8]])
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .blocked import BlockedMaxPool, BlockWorker
from .codes import (
    conversion_scratch,
    first_kernel_steps,
    output_range,
    start_first_max,
    update_first_max,
)
from .staging import StagedLayout, finish_forward, has_nan, output_view, staged_layout
from .windows import Geometry, lowest_value

__all__ = ["SeparableMaxPool"]


@dataclass(frozen=True)
class _Step:
    """One kernel step of one stage: which array it reads, and where."""

    number: int  # the kernel step along the stage's axis
    source: int  # index of the array it reads, among the previous level's
    start: int  # flat start of its contiguous view


@dataclass(frozen=True, eq=False)
class _Stage:
    """The reduction of one pooled axis, for every phase of the outer axes."""

    axis: int
    inner_window: int  # kernel elements of the axes already reduced
    steps: tuple[tuple[_Step, ...], ...]  # per output array, in kernel-step order
    length: int  # flat length of each output array's valid part
    copy_first: bool  # step 0 is in bounds for every output along this axis
    first_code: np.ndarray  # flat: code of the first in-bounds element so far


def _first_code(layout: StagedLayout, axis: int, shape: tuple[int, ...]) -> np.ndarray:
    """Flat code over axes ``axis..`` of each first in-bounds element, laid out as ``shape``.

    Positions past the real outputs (dropped by the wide layout) get 0.
    """
    geometry = layout.tables.geometry
    kernel = geometry.spec.kernel_size
    first_steps = first_kernel_steps(geometry)
    code = np.zeros(shape, dtype=np.int64)
    multiplier = 1  # kernel elements of the axes after ``reduced``
    for reduced in range(len(kernel) - 1, axis - 1, -1):
        steps = np.zeros(shape[reduced], dtype=np.int64)
        steps[: geometry.output_spatial[reduced]] = first_steps[reduced]
        broadcast = [1] * len(kernel)
        broadcast[reduced] = shape[reduced]
        code += steps.reshape(broadcast) * multiplier
        multiplier *= kernel[reduced]
    return code.astype(layout.tables.dtype).reshape(-1)


@functools.lru_cache(maxsize=64)
def _stages(geometry: Geometry) -> tuple[_Stage, ...]:
    """The stages of ``geometry``, innermost axis first."""
    layout = staged_layout(geometry)
    spec = geometry.spec
    inner_strides = [math.prod(layout.phase_shape[axis + 1 :]) for axis in range(spec.ndim)]
    keys = list(layout.phases)  # the arrays of the level being read, by phase
    stages = []
    for axis in range(spec.ndim - 1, -1, -1):
        stride, begin = spec.stride[axis], geometry.pads[axis][0]
        out, length = geometry.output_spatial[axis], geometry.spatial_shape[axis]
        ranges = [
            output_range(out, stride, begin, j * spec.dilation[axis], length)
            for j in range(spec.kernel_size[axis])
        ]
        out_keys = list(dict.fromkeys(key[:axis] for key in keys))
        steps = tuple(
            tuple(
                _Step(
                    j,
                    keys.index((*prefix, j * spec.dilation[axis] % stride)),
                    j * spec.dilation[axis] // stride * inner_strides[axis],
                )
                for j, (lo, hi) in enumerate(ranges)
                if lo < hi  # steps that read only padding never win
            )
            for prefix in out_keys
        )
        shape = layout.wide_shape if axis == 0 else layout.phase_shape
        stages.append(
            _Stage(
                axis,
                math.prod(spec.kernel_size[axis + 1 :]),
                steps,
                math.prod(shape),
                ranges[0] == (0, out),
                _first_code(layout, axis, shape),
            )
        )
        keys = out_keys
    return tuple(stages)


class SeparableMaxPool(BlockedMaxPool):
    """Max pooling one axis at a time over staged blocks, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.parallel.get_num_threads`.
    """

    name = "separable"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        layout, stages = staged_layout(geometry), _stages(geometry)
        item, code_bytes = np.dtype(dtype).itemsize, layout.tables.dtype.itemsize
        levels = sum(len(stage.steps) for stage in stages) * layout.buffer_length
        longest = max(stage.length for stage in stages)
        return (
            layout.buffer_bytes(dtype)
            + levels * (item + code_bytes)
            + longest * (1 + 2 * code_bytes)
        )

    def forward_worker(
        self,
        planes: np.ndarray,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        layout, stages = staged_layout(geometry), _stages(geometry)
        dtype, code_dtype = planes.dtype, layout.tables.dtype
        lowest = lowest_value(dtype)
        buffers = layout.new_buffers(capacity, dtype, lowest)
        # Per stage: maxima and codes of each phase of the outer axes, padded
        # like the staged buffers because the next stage reads past the end.
        level_shape = [(len(stage.steps), capacity, layout.buffer_length) for stage in stages]
        maxima = [np.full(shape, lowest, dtype=dtype) for shape in level_shape]
        codes = [np.zeros(shape, dtype=code_dtype) for shape in level_shape]
        longest = max(stage.length for stage in stages)
        greater = np.empty((capacity, longest), bool)
        scaled = np.empty((capacity, longest), code_dtype)
        candidate = np.empty((capacity, longest), code_dtype)
        # After the reductions, their scratch holds output-shaped flags and codes.
        output_flags, output_code = output_view(greater, geometry), output_view(scaled, geometry)
        wide_indices = conversion_scratch(capacity * geometry.output_plane_size)

        def final_maxima(block: slice) -> np.ndarray:
            """Where the last stage maximises: into the output when the wide layout is it."""
            n = block.stop - block.start
            if layout.wide_is_output:
                return values[block].reshape(n, -1)
            return maxima[-1][0, :n, : stages[-1].length]

        def reduce_stage(level: int, block: slice, nan_aware: bool) -> None:
            n = block.stop - block.start
            not_nan = np.empty((n, longest), bool) if nan_aware else None
            stage, length = stages[level], stages[level].length
            source_values = buffers if level == 0 else maxima[level - 1]
            source_codes = None if level == 0 else codes[level - 1]
            last = level == len(stages) - 1
            for number, steps in enumerate(stage.steps):
                best = final_maxima(block) if last else maxima[level][number, :n, :length]
                code = codes[level][number, :n, :length]
                first = int(stage.copy_first and steps[0].number == 0)
                view = slice(steps[0].start, steps[0].start + length)
                start_first_max(
                    best,
                    code,
                    source_values[steps[0].source, :n, view] if first else None,
                    0 if source_codes is None else source_codes[steps[0].source, :n, view],
                    lowest,
                    stage.first_code,
                )
                for step in steps[first:]:
                    view = slice(step.start, step.start + length)
                    if source_codes is None:
                        step_code: int | np.ndarray = step.number
                    else:
                        step_code = np.add(
                            source_codes[step.source, :n, view],
                            code_dtype.type(step.number * stage.inner_window),
                            out=candidate[:n, :length],
                        )
                    update_first_max(
                        source_values[step.source, :n, view],
                        best,
                        code,
                        step_code,
                        greater[:n, :length],
                        scaled[:n, :length],
                        None if not_nan is None else not_nan[:, :length],
                    )

        def work(block: slice) -> None:
            n = block.stop - block.start
            layout.stage(planes[block], buffers)
            for level in range(len(stages)):
                reduce_stage(level, block, nan_aware=False)
            best, code = final_maxima(block), codes[-1][0, :n, : stages[-1].length]
            if has_nan(layout, best, output_flags[:n]):
                for level in range(len(stages)):
                    reduce_stage(level, block, nan_aware=True)
            finish_forward(
                layout,
                best,
                code,
                planes[block],
                values[block],
                indices[block],
                output_flags[:n],
                output_code[:n],
                wide_indices,
            )

        return work
