"""Naming the bug behind a failed comparison: one line a user recognises.

A failed check knows only that two arrays differ somewhere. This module looks
at the first difference in the light of the contract (the window, its values,
the gradients meeting at an element) and says which classic bug it shows: "on
a tie, selects the last maximal element instead of the first", "overlapping
windows overwrite the gradient instead of adding it", and so on.

Each kind of bug raises its own subclass of `ConformanceFailure`, made once
per kind by `failure`. Hypothesis tells distinct bugs apart by the type of the
exception, so two bugs found by one property are shrunk and reported
separately instead of being merged into one.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> x = np.array([3.0, 9.0, 9.0, 1.0])
>>> selection_kind(x, PoolSpec((4,)), (0,), got=2, expected=1)
'on a tie, selects the last maximal element of the window instead of the first'
>>> failure("drops NaN").kind
'drops NaN'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from impls import PoolSpec

__all__ = [
    "ConformanceFailure",
    "fail",
    "failure",
    "gradient_kind",
    "selection_kind",
    "shape_kind",
    "value_kind",
    "window_of",
]


class ConformanceFailure(AssertionError):
    """A rule of the contract broken; ``kind`` says which bug it shows, in one line."""

    kind = "breaks the contract"


_KINDS: dict[str, type[ConformanceFailure]] = {}


def failure(kind: str) -> type[ConformanceFailure]:
    """The `ConformanceFailure` subclass for ``kind`` (the same class every time)."""
    if kind not in _KINDS:
        _KINDS[kind] = type("ConformanceFailure", (ConformanceFailure,), {"kind": kind})
    return _KINDS[kind]


def fail(kind: str, message: str) -> NoReturn:
    """Raise the failure of ``kind`` with ``message``."""
    __tracebackhide__ = True
    raise failure(kind)(message)


def window_of(
    spatial: Sequence[int], spec: PoolSpec, out_position: Sequence[int]
) -> tuple[list[int], int]:
    """The plane indices one window reads, in row-major window order, and its padded count.

    Written from the README's formula: output position ``o`` reads input
    position ``o*s - pad_begin + j*d`` along each axis.
    """
    per_axis = []
    for axis, ((begin, _), length) in enumerate(zip(spec.pads(spatial), spatial, strict=True)):
        start = out_position[axis] * spec.stride[axis] - begin
        per_axis.append(
            [start + j * spec.dilation[axis] for j in range(spec.kernel_size[axis])]
        )
    members, padded = [], 0
    for coords in np.ndindex(*spec.kernel_size):
        point = [per_axis[axis][j] for axis, j in enumerate(coords)]
        if all(0 <= p < n for p, n in zip(point, spatial, strict=True)):
            members.append(int(np.ravel_multi_index(point, spatial)))
        else:
            padded += 1
    return members, padded


def _plane_of(x: np.ndarray, spec: PoolSpec, position: Sequence[int]) -> np.ndarray:
    lead = x.ndim - spec.ndim
    planes = np.ascontiguousarray(x).reshape(math.prod(x.shape[:lead]), -1)
    row = int(np.ravel_multi_index(tuple(position[:lead]), x.shape[:lead])) if lead else 0
    return planes[row]


def _frame_hint(
    got: int, expected: int, x: np.ndarray, spec: PoolSpec, position: Sequence[int]
) -> str:
    """A guess at the index format, when an index lies outside its window."""
    lead = x.ndim - spec.ndim
    spatial = x.shape[lead:]
    members, _ = window_of(spatial, spec, position[lead:])
    if expected in members and got == members.index(expected):
        return "indices are offsets within the window, not plane indices"
    plane = math.prod(spatial)
    row = int(np.ravel_multi_index(tuple(position[:lead]), x.shape[:lead])) if lead else 0
    if row and got == expected + row * plane:
        return "indices count across the leading axes (ONNX's format), not within the plane"
    coords = np.unravel_index(expected, spatial)
    padded_shape = [n + sum(p) for n, p in zip(spatial, spec.pads(spatial), strict=True)]
    shifted = [c + p[0] for c, p in zip(coords, spec.pads(spatial), strict=True)]
    if any(p != (0, 0) for p in spec.pads(spatial)) and got == np.ravel_multi_index(
        shifted, padded_shape
    ):
        return "indices address the padded plane, not the input's"
    if spec.ndim > 1 and got == np.ravel_multi_index(coords, spatial, order="F"):
        return "indices flatten the plane in column-major order"
    return "an index names an element outside its window"


def selection_kind(
    x: np.ndarray, spec: PoolSpec, position: Sequence[int], got: int, expected: int
) -> str:
    """Which selection bug picking ``got`` instead of ``expected`` at ``position`` shows."""
    lead = x.ndim - spec.ndim
    members, padded = window_of(x.shape[lead:], spec, position[lead:])
    if not 0 <= got < math.prod(x.shape[lead:]) or got not in members:
        return _frame_hint(got, expected, x, spec, position)
    plane = _plane_of(x, spec, position)
    values = plane[members]
    chosen = plane[got]
    if x.dtype.kind == "f" and np.isnan(values).any():
        if not np.isnan(chosen):
            return "selects a number in a window holding NaN (NaN must win)"
        nan_members = [m for m, v in zip(members, values, strict=True) if np.isnan(v)]
        if got == nan_members[-1]:
            return "in a window holding several NaN, selects the last NaN instead of the first"
        return "in a window holding several NaN, selects another NaN than the first"
    if x.dtype.kind == "f" and np.all(values == -np.inf):
        return "in an all -inf window, selects another element than its first"
    top = values.max()
    if chosen == top:
        if got == [m for m, v in zip(members, values, strict=True) if v == top][-1]:
            return "on a tie, selects the last maximal element of the window instead of the first"
        return "on a tie, selects another maximal element than the first"
    return "selects an element that is not the maximum of its window"


def _lowest(dtype: np.dtype) -> object:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def value_kind(got: object, expected: object, dtype: np.dtype) -> str:
    """Which bug returning ``got`` where the contract gives ``expected`` shows."""
    if dtype.kind == "f":
        got_nan, expected_nan = bool(np.isnan(got)), bool(np.isnan(expected))
        if got_nan and expected_nan:
            return "returns a NaN with other bits than the selected NaN"
        if expected_nan:
            return "returns a number for a window holding NaN (NaN is dropped)"
        if got_nan:
            return "returns NaN for a window without NaN"
        if got == expected:
            return "returns the other signed zero: values are not the selected element bit for bit"
    if got == _lowest(dtype) and got < expected:
        return "padding wins the maximum: returns the padding value"
    if got < expected:
        return "returns less than the maximum of the window"
    return "returns more than the maximum of the window (an element outside it?)"


def shape_kind(got: tuple[int, ...], expected: tuple[int, ...], spec: PoolSpec) -> str:
    """Which bug an output of shape ``got`` instead of ``expected`` shows."""
    if len(got) != len(expected):
        return "the output has another number of axes than the input"
    pooled = range(len(expected) - spec.ndim, len(expected))
    if any(got[a] != expected[a] for a in range(len(expected) - spec.ndim)):
        return "the output changes the leading (unpooled) axes"
    differences = {got[a] - expected[a] for a in pooled if got[a] != expected[a]}
    if differences <= {-1, 1}:
        if spec.ceil_mode and differences == {-1}:
            return "output length one short: ceil_mode's partial window is dropped"
        return "output length off by one"
    return "output length differs from the contract's formula"


def gradient_kind(got: float, expected: float, contributions: Sequence[float]) -> str:
    """Which backward bug an element receiving ``got`` instead of ``expected`` shows.

    ``contributions`` are the gradients that the indices route to that element.
    """
    if len(contributions) > 1 and any(got == c for c in contributions):
        return "overlapping windows overwrite the gradient instead of adding it"
    if not contributions:
        return "sends gradient to an element that no index names"
    if got == 0:
        return "drops the gradient of an element that an index names"
    return "gradients differ from the sum of the gradients routed by the indices"
