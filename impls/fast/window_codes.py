"""Window codes: the compact argmax the fast implementations track.

A window code is the row-major position of the selected element inside its
window, ``0 .. K-1`` for ``K = prod(kernel_size)``; it fits in int8 for
kernels up to 127 elements. The fast implementations (`impls.fast.view_running_max`,
`impls.fast.staged_running_max`, `impls.fast.separable`) run a first-maximum over the window
offsets in code order while tracking the code, then turn codes into the
contract's int64 plane indices.

`code_tables` precomputes, once per geometry, everything those steps need:
which output positions read an input element at each offset (the slice
plan), the code of each window's first in-bounds element, and the table
from codes to flat offsets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from ..geometry import Geometry
from .table_cache import table_cache

__all__ = [
    "AxisSteps",
    "CodeTables",
    "Offset",
    "OffsetPlan",
    "code_dtype",
    "code_tables",
    "codes_to_indices",
    "conversion_scratch",
    "first_kernel_steps",
    "restore_selected_bits",
    "start_first_max",
    "update_first_max",
]


@dataclass(frozen=True)
class Offset:
    """One window offset: which outputs read an input element there, and which."""

    code: int
    steps: tuple[int, ...]  # offset from the window start along each axis: j * dilation
    outputs: tuple[slice, ...]  # output positions whose element here is in the input
    inputs: tuple[slice, ...]  # the input elements they read, same shape
    everywhere: bool  # every output position reads an input element here


@dataclass(frozen=True)
class AxisSteps:
    """The kernel steps of one pooled axis that read some input, as arrays.

    ``number[i]`` is the step ``j`` (``0 .. k-1``); outputs ``lo[i] .. hi[i] - 1``
    read an input element at that step.
    """

    number: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def of(cls, geometry: Geometry, axis: int) -> AxisSteps:
        spec = geometry.spec
        stride, begin = spec.stride[axis], geometry.pads[axis][0]
        out, length = geometry.output_spatial[axis], geometry.spatial_shape[axis]
        number = np.arange(spec.kernel_size[axis], dtype=np.int64)
        step = number * spec.dilation[axis]
        lo = np.maximum(0, -((step - begin) // stride))  # ceil((begin - step) / stride)
        hi = np.minimum(out, (length - 1 + begin - step) // stride + 1)
        keep = lo < hi  # steps that read padding only never win
        return cls(number[keep], lo[keep], hi[keep])


class OffsetPlan(Sequence[Offset]):
    """The offsets that read some input, in code order, built on demand.

    An offset is one step per pooled axis, so the plan is the product of the
    axes' `AxisSteps`; it stores those arrays, never one object per offset
    (a kernel may have millions of elements). Small plans keep their
    offsets, which are then built once.
    """

    KEPT = 4096  # plans up to this many offsets keep them

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        self.axes = tuple(AxisSteps.of(geometry, axis) for axis in range(geometry.spec.ndim))
        self._counts = tuple(len(axis.number) for axis in self.axes)
        self._kept = tuple(map(self._build, range(len(self)))) if len(self) <= self.KEPT else None

    def __len__(self) -> int:
        return math.prod(self._counts)

    @overload
    def __getitem__(self, number: int) -> Offset: ...
    @overload
    def __getitem__(self, number: slice) -> Sequence[Offset]: ...
    def __getitem__(self, number: int | slice) -> Offset | Sequence[Offset]:
        if isinstance(number, slice):
            return [self[i] for i in range(len(self))[number]]
        if self._kept is not None:
            return self._kept[number]
        if not 0 <= number < len(self):
            raise IndexError(number)
        return self._build(number)

    def __iter__(self) -> Iterator[Offset]:
        if self._kept is not None:
            return iter(self._kept)
        return map(self._build, range(len(self)))

    def codes(self) -> np.ndarray:
        """The code of every offset, in order (int64)."""
        kernel = self.geometry.spec.kernel_size
        grids = np.meshgrid(*(axis.number for axis in self.axes), indexing="ij")
        return np.ravel_multi_index(grids, kernel).reshape(-1).astype(np.int64)

    def _build(self, number: int) -> Offset:
        spec, geometry = self.geometry.spec, self.geometry
        code, steps, outputs, inputs = 0, [], [], []
        for axis, (steps_here, i) in enumerate(
            zip(self.axes, np.unravel_index(number, self._counts), strict=True)
        ):
            j, lo, hi = (int(steps_here.number[i]), int(steps_here.lo[i]), int(steps_here.hi[i]))
            stride, step = spec.stride[axis], j * spec.dilation[axis]
            first_input = lo * stride - geometry.pads[axis][0] + step
            code = code * spec.kernel_size[axis] + j
            steps.append(step)
            outputs.append(slice(lo, hi))
            inputs.append(slice(first_input, first_input + (hi - lo - 1) * stride + 1, stride))
        everywhere = all(
            part.start == 0 and part.stop == n
            for part, n in zip(outputs, geometry.output_spatial, strict=True)
        )
        return Offset(code, tuple(steps), tuple(outputs), tuple(inputs), everywhere)


@dataclass(frozen=True, eq=False)
class CodeTables:
    """Per-geometry tables shared by the fast implementations."""

    geometry: Geometry
    offsets: OffsetPlan  # offsets that read some input, in code order
    dtype: np.dtype  # smallest signed integer dtype holding every code
    first_code: np.ndarray  # output-shaped: code of each window's first input element
    relative: np.ndarray  # code -> flat offset from the window start, int64
    window_start: np.ndarray  # output-shaped: flat index of each window's start


def first_kernel_steps(geometry: Geometry) -> list[np.ndarray]:
    """Per pooled axis, the kernel step of each output's first in-bounds element."""
    spec = geometry.spec
    # The first j with start + j * dilation >= 0: every window has one (checked
    # by PoolSpec.output_shape), so no table over the kernel is needed.
    return [
        np.maximum(0, -(geometry.window_starts(axis) // spec.dilation[axis]))
        for axis in range(spec.ndim)
    ]


def _first_in_bounds_codes(geometry: Geometry, dtype: np.dtype) -> np.ndarray:
    """Code of each window's first in-bounds element (row-major: first on every axis)."""
    grids = np.meshgrid(*first_kernel_steps(geometry), indexing="ij")
    return np.ravel_multi_index(grids, geometry.spec.kernel_size).astype(dtype)


def code_dtype(window_size: int) -> np.dtype:
    """The smallest signed integer dtype holding codes ``0 .. window_size - 1``."""
    for dtype in (np.int8, np.int16, np.int32):
        if window_size <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


@table_cache
def code_tables(geometry: Geometry) -> CodeTables:
    """Build (and cache) the `CodeTables` of ``geometry``.

    Costs O(K) time and memory in the kernel size K (the code table), plus
    O(O) for the output-shaped tables; never one Python object per kernel
    element. ``geometry`` should be compact (`Geometry.compact`).
    """
    spec = geometry.spec
    dtype = code_dtype(spec.window_size)
    plane_strides = [math.prod(geometry.spatial_shape[axis + 1 :]) for axis in range(spec.ndim)]
    window_start = np.zeros(geometry.output_spatial, dtype=np.int64)
    for axis in range(spec.ndim):
        shape = [1] * spec.ndim
        shape[axis] = geometry.output_spatial[axis]
        window_start = window_start + (
            geometry.window_starts(axis).reshape(shape) * plane_strides[axis]
        )
    steps = [
        np.arange(k, dtype=np.int64) * d * stride
        for k, d, stride in zip(spec.kernel_size, spec.dilation, plane_strides, strict=True)
    ]
    grids = np.meshgrid(*steps, indexing="ij")
    relative = sum(grids[1:], start=grids[0]).reshape(-1)

    first_code = _first_in_bounds_codes(geometry, dtype)
    return CodeTables(geometry, OffsetPlan(geometry), dtype, first_code, relative, window_start)


def start_first_max(
    best: np.ndarray,
    code: np.ndarray,
    first_view: np.ndarray | None,
    first_view_code: int | np.ndarray,
    lowest: int | float,
    first_code: np.ndarray,
) -> None:
    """Initialise a running first-maximum, in place.

    With ``first_view`` (the values at the first window offset, inside the
    input for every output), start from them and their codes
    ``first_view_code``. Otherwise start from ``lowest``, below or equal to
    every value, and each window's first in-bounds code ``first_code``: a
    window whose values all equal ``lowest`` then keeps its first element,
    since `update_first_max` only moves on a strictly greater value.
    """
    if first_view is not None:
        np.copyto(best, first_view)
        np.copyto(code, first_view_code)
    else:
        best.fill(lowest)
        np.copyto(code, first_code)


def update_first_max(
    view: np.ndarray,
    best: np.ndarray,
    code: np.ndarray,
    candidate: int | np.ndarray,
    greater: np.ndarray,
    scaled: np.ndarray,
    not_nan: np.ndarray | None = None,
) -> None:
    """One step of the running first-maximum, in place, branch-free.

    ``view`` holds the values met next, whose codes are ``candidate`` (an
    int, or an array shaped like ``best``); ``best`` and ``code`` hold the
    maxima and codes so far. Candidates must exceed every code met before
    (offsets visited in increasing code order): an update then always raises
    the code, so ``code = max(code, (view > best) * candidate)``. The
    comparison is strict, so the first maximum stays. ``greater`` and
    ``scaled`` are scratch arrays shaped like ``best`` (bool and the code
    dtype). With ``not_nan`` (a bool scratch array), NaN counts as larger
    than every number and the first NaN stays.
    """
    if not_nan is None:
        np.greater(view, best, out=greater)
    else:
        np.less_equal(view, best, out=greater)  # False when either is NaN
        np.logical_not(greater, out=greater)
        np.equal(best, best, out=not_nan)  # an earlier NaN is never replaced
        greater &= not_nan
    np.maximum(best, view, out=best)
    if isinstance(candidate, int):
        candidate = code.dtype.type(candidate)
    np.multiply(greater, candidate, out=scaled)
    np.maximum(code, scaled, out=code)


# Codes are widened to intp this many at a time: np.take would otherwise make
# a full-size intp copy of a narrow index array on every call.
CONVERSION_CHUNK = 8192


def conversion_scratch(capacity_outputs: int) -> np.ndarray:
    """The intp scratch `codes_to_indices` needs for up to ``capacity_outputs`` codes."""
    return np.empty(min(CONVERSION_CHUNK, max(capacity_outputs, 1)), dtype=np.intp)


def codes_to_indices(
    code: np.ndarray, tables: CodeTables, out: np.ndarray, scratch: np.ndarray
) -> None:
    """Write the int64 plane indices of ``(n, *output_spatial)`` codes into ``out``.

    ``code`` and ``out`` are C-contiguous; ``scratch`` comes from `conversion_scratch`.
    """
    flat_code, flat_out = code.reshape(-1), out.reshape(-1)
    chunk = len(scratch)
    for start in range(0, flat_code.size, chunk):
        stop = min(start + chunk, flat_code.size)
        wide = scratch[: stop - start]
        np.copyto(wide, flat_code[start:stop])
        # Codes are always in range: "clip" only skips the bounds check ("wrap" divides).
        np.take(tables.relative, wide, out=flat_out[start:stop], mode="clip")
    out += tables.window_start


def restore_selected_bits(
    values: np.ndarray,
    indices: np.ndarray,
    planes: np.ndarray,
    scratch: np.ndarray,
    nan: bool = False,
) -> None:
    """Give zero maxima (and with ``nan``, NaN maxima) the bits of the element they selected.

    ``-0.0 == 0.0``, so a running maximum may hold either sign where the
    selected element is a zero; the contract returns the element itself. A
    maximum that does not keep the first NaN it met (`numpy.maximum.accumulate`
    may return either of two NaNs) passes ``nan=True`` to copy the selected
    NaN's sign and payload too. ``scratch`` is a bool array shaped like ``values``.
    """
    if values.dtype.kind != "f":
        return
    np.equal(values, 0, out=scratch)
    if nan:
        scratch |= np.isnan(values)
    if not scratch.any():
        return
    where = np.nonzero(scratch)
    coords = np.unravel_index(indices[where], planes.shape[1:])
    found = (where[0], *coords)
    values[where] = planes[found]
