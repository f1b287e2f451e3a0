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
`impls.fast.window_codes.update_first_max` still applies. Each pass starts from the code
of the first in-bounds element, so padding is never selected even where a
row's elements all equal the padding value.

Blocks are staged as in `impls.fast.staged_running_max` (`impls.fast.staging`): padded phase
buffers with long contiguous rows, so every pass of every stage is one
unit-stride slice. Backward depends only on the indices, not on how forward
found them: it is the shared flat scatter of `impls.fast.blocks`.

Cost
----
With ``B`` planes, ``O`` outputs per plane and kernel ``k_0 x ... x k_m``:
forward about ``4 * k_m + 5 * (k_0 + ... + k_{m-1})`` passes over
``B * O' * (s_0 * ... * s_a)`` elements at stage ``a`` (the region still to
be reduced, in the wide staged layout), plus one staging copy. For stride 1
that is O(B*O*(k_0 + ... + k_m)) instead of O(B*O*k_0*...*k_m). Extra
memory: per thread, a staged block and one block-sized maximum and code per
phase still unreduced. Backward: as `impls.fast.view_running_max`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.fast.separable import SeparableMaxPool
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

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import Geometry, lowest_value
from .blocks import BlockedMaxPool, BlockWorker
from .planes import PlaneSource
from .staging import StagedLayout, finish_forward, has_nan, output_view, staged_layout
from .table_cache import table_cache
from .window_codes import conversion_scratch, first_kernel_steps, start_first_max, update_first_max

__all__ = ["SeparableMaxPool"]


@dataclass(frozen=True, eq=False)
class _Stage:
    """The reduction of one pooled axis, for every phase of the outer axes.

    Stage ``axis`` writes one array per phase combination of the axes before
    it (``arrays`` of them), each from the ``phases`` arrays of the level it
    reads that share that prefix. Its kernel steps are arrays, not objects.
    """

    axis: int
    inner_window: int  # kernel elements of the axes already reduced
    arrays: int  # output arrays
    phases: int  # phases of this axis: source array = output array * phases + phase
    number: np.ndarray  # kernel steps that read some input, in order
    phase: np.ndarray  # per step: its phase along this axis
    start: np.ndarray  # per step: flat start of its contiguous view
    length: int  # flat length of each output array's valid part
    copy_first: bool  # step 0 is in bounds for every output along this axis
    first_code: np.ndarray  # flat: code of the first in-bounds element so far


def _first_in_bounds_trailing_codes(
    layout: StagedLayout, axis: int, shape: tuple[int, ...]
) -> np.ndarray:
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


@table_cache
def _stages(geometry: Geometry) -> tuple[_Stage, ...]:
    """The stages of ``geometry``, innermost axis first (O(K) in the kernel size K)."""
    layout = staged_layout(geometry)
    spec = geometry.spec
    inner_strides = [math.prod(layout.phase_shape[axis + 1 :]) for axis in range(spec.ndim)]
    stages = []
    for axis in range(spec.ndim - 1, -1, -1):
        steps = layout.tables.offsets.axes[axis]
        shape = layout.wide_shape if axis == 0 else layout.phase_shape
        stages.append(
            _Stage(
                axis,
                math.prod(spec.kernel_size[axis + 1 :]),
                math.prod(len(phases) for phases in layout.axis_phases[:axis]),
                len(layout.axis_phases[axis]),
                steps.number,
                layout.axis_phase_index[axis],
                steps.number * spec.dilation[axis] // spec.stride[axis] * inner_strides[axis],
                math.prod(shape),
                bool(steps.number[0] == 0 and steps.lo[0] == 0)
                and bool(steps.hi[0] == geometry.output_spatial[axis]),
                _first_in_bounds_trailing_codes(layout, axis, shape),
            )
        )
    return tuple(stages)


class SeparableMaxPool(BlockedMaxPool):
    """Max pooling one axis at a time over staged blocks, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "separable"

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        layout, stages = staged_layout(geometry), _stages(geometry)
        item, code_bytes = np.dtype(dtype).itemsize, layout.tables.dtype.itemsize
        levels = sum(stage.arrays for stage in stages) * layout.buffer_length
        longest = max(stage.length for stage in stages)
        return (
            layout.buffer_bytes(dtype)
            + levels * (item + code_bytes)
            + longest * (1 + 2 * code_bytes)
        )

    def forward_worker(
        self,
        planes: PlaneSource,
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
        level_shape = [(stage.arrays, capacity, layout.buffer_length) for stage in stages]
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
            steps = list(
                zip(stage.number.tolist(), stage.phase.tolist(), stage.start.tolist(), strict=True)
            )
            first_step, first_phase, first_start = steps[0]
            first = int(stage.copy_first and first_step == 0)
            for array in range(stage.arrays):
                best = final_maxima(block) if last else maxima[level][array, :n, :length]
                code = codes[level][array, :n, :length]
                view = slice(first_start, first_start + length)
                source = array * stage.phases + first_phase
                start_first_max(
                    best,
                    code,
                    source_values[source, :n, view] if first else None,
                    0 if source_codes is None else source_codes[source, :n, view],
                    lowest,
                    stage.first_code,
                )
                for step, phase, start in steps[first:]:
                    view = slice(start, start + length)
                    source = array * stage.phases + phase
                    if source_codes is None:
                        step_code: int | np.ndarray = step
                    else:
                        step_code = np.add(
                            source_codes[source, :n, view],
                            code_dtype.type(step * stage.inner_window),
                            out=candidate[:n, :length],
                        )
                    update_first_max(
                        source_values[source, :n, view],
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
