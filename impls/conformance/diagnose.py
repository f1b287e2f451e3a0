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

import contextvars
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from impls import CONTRACT_DTYPES, PoolSpec
from impls.geometry import lowest_value

from .windows import contract_forward

if sys.version_info >= (3, 11):
    _ExceptionGroup = ExceptionGroup  # noqa: F821 (a builtin from 3.11)
else:  # pragma: no cover
    from exceptiongroup import ExceptionGroup as _ExceptionGroup

__all__ = [
    "ConformanceFailure",
    "collecting",
    "defer",
    "fail",
    "failure",
    "forward_kind",
    "gradient_kind",
    "has_padding",
    "index_kind",
    "selection_kind",
    "shape_kind",
    "value_kind",
    "values_kind",
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


# Failures a check noted without stopping (see `defer`), while `collecting` runs it.
_DEFERRED: contextvars.ContextVar[list[Exception] | None] = contextvars.ContextVar(
    "maxpool_deferred_failures", default=None
)


def defer(kind: str, message: str) -> None:
    """Note a failure of ``kind`` and let the check go on (raise it at once outside `collecting`).

    For bugs after which the rest of a check still means something: values or
    gradients of another dtype are compared after a cast, so that a second bug
    in the same call is found too, instead of hiding behind the first.
    """
    __tracebackhide__ = True
    pending = _DEFERRED.get()
    if pending is None:
        fail(kind, message)
    if all(getattr(e, "kind", None) != kind for e in pending):
        pending.append(failure(kind)(message))


def collecting(check: Callable[[], None], skipped: tuple[type[BaseException], ...] = ()) -> None:
    """Run ``check``; raise every distinct bug it found: the failures it deferred, and the last.

    One bug is raised as it is; several as an ``ExceptionGroup``, one
    exception per kind. ``skipped`` are exceptions that discard the case:
    they are re-raised as they are unless a bug was deferred before them.
    """
    __tracebackhide__ = True
    token = _DEFERRED.set([])
    raised: Exception | None = None
    try:
        try:
            check()
        except skipped:
            if not _DEFERRED.get():
                raise
        except Exception as error:
            raised = error
        pending = list(_DEFERRED.get() or [])
    finally:
        _DEFERRED.reset(token)
    kinds = {getattr(e, "kind", None) for e in pending}
    if raised is not None and (getattr(raised, "kind", None) not in kinds or not pending):
        pending.append(raised)
    if len(pending) == 1:
        raise pending[0]
    if pending:
        raise _ExceptionGroup(f"{len(pending)} distinct bugs in one call", pending)


def window_of(
    spatial: Sequence[int], spec: PoolSpec, out_position: Sequence[int]
) -> tuple[list[int], int]:
    """The plane indices one window reads, in row-major window order, and its padded count.

    Written from the contract (docs/contract.md)'s formula: output position ``o`` reads input
    position ``o*s - pad_begin + j*d`` along each axis.
    """
    per_axis = []
    for axis, ((begin, _), _length) in enumerate(zip(spec.pads(spatial), spatial, strict=True)):
        start = out_position[axis] * spec.stride[axis] - begin
        per_axis.append([start + j * spec.dilation[axis] for j in range(spec.kernel_size[axis])])
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


def _variant(spec: PoolSpec, spatial: Sequence[int], **changes: object) -> PoolSpec | None:
    """``spec`` with some fields changed (explicit padding), or None if that is not valid."""
    fields: dict[str, Any] = {  # changes may hold anything: PoolSpec checks them
        "kernel_size": spec.kernel_size,
        "stride": spec.stride,
        "padding": spec.pads(spatial),
        "dilation": spec.dilation,
        "ceil_mode": False,
    }
    fields.update(changes)
    try:
        return PoolSpec(**fields)
    except (TypeError, ValueError):
        return None


SAME_SWAPPED = "puts the odd unit of 'same' padding on the wrong side"
DILATION_IGNORED = "ignores the dilation: windows read adjacent elements"
WINDOW_OFFSETS = "indices are offsets within the window, not plane indices"


def _hints(
    got: int, expected: int, x: np.ndarray, spec: PoolSpec, position: Sequence[int]
) -> set[str]:
    """The index-format or geometry mistakes that would turn ``expected`` into ``got`` here."""
    lead = x.ndim - spec.ndim
    spatial = x.shape[lead:]
    out_position = position[lead:]
    coords = np.unravel_index(expected, spatial)
    found = set()
    if spec.ndim > 1 and got == np.ravel_multi_index(coords, spatial, order="F"):
        found.add("indices flatten the plane in column-major order")
    pads = spec.pads(spatial)
    if any(p != (0, 0) for p in pads):
        padded_shape = [n + sum(p) for n, p in zip(spatial, pads, strict=True)]
        shifted = [c + p[0] for c, p in zip(coords, pads, strict=True)]
        if got == np.ravel_multi_index(shifted, padded_shape):
            found.add("indices address the padded plane, not the input's")
    plane = math.prod(spatial)
    row = int(np.ravel_multi_index(tuple(position[:lead]), x.shape[:lead])) if lead else 0
    if got == expected + row * plane:
        found.add("indices count across the leading axes (ONNX's format), not within the plane")
    if got == _window_offset(spatial, spec, out_position, expected):
        found.add(WINDOW_OFFSETS)
    return found


def _window_offset(
    spatial: Sequence[int], spec: PoolSpec, out_position: Sequence[int], element: int
) -> int | None:
    """Where ``element`` sits in its window, counted row-major over the whole kernel."""
    coords = np.unravel_index(element, tuple(spatial))
    offset = 0
    for (begin, _), o, s, d, c, k in zip(
        spec.pads(tuple(spatial)),
        out_position,
        spec.stride,
        spec.dilation,
        coords,
        spec.kernel_size,
        strict=True,
    ):
        step, rest = divmod(int(c) - (o * s - begin), d)
        if rest or not 0 <= step < k:
            return None
        offset = offset * k + step
    return offset


def _mistaken_geometry(x: np.ndarray, spec: PoolSpec) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(kind, values, indices)`` a geometry mistake gives: the contract's rule on wrong windows.

    Swapped "same" padding, and an ignored dilation (windows from the same
    starts, reading adjacent elements); each only where the spec has it.
    """
    lead = x.ndim - spec.ndim
    spatial = x.shape[lead:]
    out = spec.output_shape(spatial)
    pads = spec.pads(spatial)
    mistakes = []
    if isinstance(spec.padding, str) and any(b != e for b, e in pads):
        swapped = tuple((e, b) for b, e in pads)
        mistakes.append((SAME_SWAPPED, _variant(spec, spatial, padding=swapped)))
    if max(spec.dilation) > 1:
        mistakes.append((DILATION_IGNORED, _variant(spec, spatial, dilation=1)))
    predictions = []
    for kind, variant in mistakes:
        if variant is None or x.dtype.name not in CONTRACT_DTYPES:
            continue
        try:
            values, indices = contract_forward(x, variant)
        except ValueError:  # no valid window under the mistake
            continue
        if any(n < m for n, m in zip(values.shape[lead:], out, strict=True)):
            continue
        crop = (Ellipsis,) + tuple(slice(0, m) for m in out)
        predictions.append((kind, values[crop], indices[crop]))
    return predictions


def _geometry_kind(
    x: np.ndarray,
    spec: PoolSpec,
    values: np.ndarray,
    indices: np.ndarray | None,
    differ: np.ndarray,
) -> str | None:
    """The geometry mistake whose result is forward's wherever it differs, if one is."""
    unsigned = _unsigned(x.dtype)
    for kind, predicted_values, predicted_indices in _mistaken_geometry(x, spec):
        same = values.view(unsigned)[differ] == predicted_values.view(unsigned)[differ]
        if indices is not None:
            same &= indices[differ] == predicted_indices[differ]
        if same.all():
            return kind
    return None


# Selection kinds that the values do not decide: a format mistake may explain them better.
_WEAK = (
    "an index lies outside the plane",
    "an index names an element outside its window",
    "selects an element that is not the maximum of its window",
)

# The hints, most specific first: which one to name when several fit every difference.
_HINT_ORDER = (
    "indices flatten the plane in column-major order",
    "indices address the padded plane, not the input's",
    "indices count across the leading axes (ONNX's format), not within the plane",
    WINDOW_OFFSETS,
)


def index_kind(x: np.ndarray, spec: PoolSpec, got: np.ndarray, expected: np.ndarray) -> str | None:
    """Which bug indices ``got`` instead of ``expected`` show; None if they are equal.

    What the values decide (a tie, NaN, an all -inf window) is named when it
    is the same at every differing index. Otherwise a geometry mistake (an
    ignored dilation, swapped "same" padding) or a format mistake
    (column-major order, the padded frame, ONNX's offsets, window offsets) is
    named when it gives every differing index exactly, two at least, so that
    one coincidence on a small input does not pass for a systematic bug; else
    the first difference is judged on its own (`selection_kind`).
    """
    differ = np.argwhere(got != expected)
    if not len(differ):
        return None
    positions = [tuple(int(i) for i in p) for p in differ[:64]]
    kinds = [selection_kind(x, spec, p, int(got[p]), int(expected[p])) for p in positions]
    kind = kinds[0]
    if kind not in _WEAK and len(set(kinds)) == 1:
        return kind  # decided by the values themselves at every difference: ties, NaN, -inf
    if len(differ) < 2 or len({int(got[p]) for p in positions}) == 1:
        # One index alone cannot tell a systematic mistake from a coincidence; one
        # value at every difference is a sentinel (-1, the plane's size), not a format.
        return kind
    mask = got != expected
    if x.dtype.name in CONTRACT_DTYPES:
        for mistake, _, predicted in _mistaken_geometry(x, spec):
            if (got[mask] == predicted[mask]).all():
                return mistake
    common: set[str] | None = None
    for position in differ[:64]:
        where = tuple(int(i) for i in position)
        hints = _hints(int(got[where]), int(expected[where]), x, spec, where)
        common = hints if common is None else common & hints
        if not common:
            break
    for hint in _HINT_ORDER:
        if common and hint in common:
            return hint
    return kind


def selection_kind(
    x: np.ndarray, spec: PoolSpec, position: Sequence[int], got: int, expected: int
) -> str:
    """Which selection bug picking ``got`` instead of ``expected`` at one ``position`` shows."""
    lead = x.ndim - spec.ndim
    members, _ = window_of(x.shape[lead:], spec, position[lead:])
    plane = _plane_of(x, spec, position)
    values = plane[members]
    if got not in members:
        if not 0 <= got < plane.size:
            return "an index lies outside the plane"
        if x.dtype.kind == "f" and np.all(values == -np.inf):
            return "in an all -inf window, selects an element outside it instead of its first"
        return "an index names an element outside its window"
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
    if chosen == top and chosen == 0 and np.signbit(chosen) != np.signbit(plane[expected]):
        return "on a tie of -0.0 and +0.0, selects another signed zero than the first"
    if chosen == top:
        if got == [m for m, v in zip(members, values, strict=True) if v == top][-1]:
            return "on a tie, selects the last maximal element of the window instead of the first"
        return "on a tie, selects another maximal element than the first"
    return "selects an element that is not the maximum of its window"


def has_padding(x: np.ndarray, spec: PoolSpec) -> bool:
    """Whether the call pads ``x`` at all (only then can a bug be put down to padding)."""
    return any(begin or end for begin, end in spec.pads(x.shape[x.ndim - spec.ndim :]))


def _padding_kind(
    x: np.ndarray,
    spec: PoolSpec,
    values: np.ndarray,
    differ: np.ndarray,
    indices: np.ndarray | None = None,
) -> str | None:
    """The padding bug the first differing outputs show, if any: a value no element has.

    Not where the value is the input element its index names: that is a
    selection outside the window, not padding.
    """
    unsigned = _unsigned(x.dtype)
    lead = x.ndim - spec.ndim
    for position in differ[:64]:
        where = tuple(int(i) for i in position)
        members, padded = window_of(x.shape[lead:], spec, where[lead:])
        plane = _plane_of(x, spec, where)
        in_window = np.asarray(plane[members]).view(unsigned)
        value = values[where]
        if indices is not None and 0 <= indices[where] < plane.size:
            named = np.asarray(plane[int(indices[where])]).view(unsigned)
            if named == np.asarray(value).view(unsigned):
                continue
        if padded and not np.any(in_window == np.asarray(value).view(unsigned)):
            if value == 0:
                return "zero padding wins the maximum (padding must never be selected)"
            if value == lowest_value(x.dtype):
                return "padding wins the maximum: returns the padding value"
    return None


def values_kind(
    x: np.ndarray, spec: PoolSpec, values: np.ndarray, expected_values: np.ndarray
) -> str:
    """Which bug forward's ``values`` (without indices) instead of the contract's show."""
    return _forward_kind(x, spec, values, expected_values, None, None)


def forward_kind(
    x: np.ndarray,
    spec: PoolSpec,
    got: tuple[np.ndarray, np.ndarray],
    expected: tuple[np.ndarray, np.ndarray],
) -> str:
    """Which bug forward's ``(values, indices)`` instead of the contract's show.

    Values that are no element of their window and equal 0 or the padding
    value are padding that won; index mistakes come next (`index_kind`);
    then what the first differing value shows (`value_kind`).
    """
    (values, indices), (expected_values, expected_indices) = got, expected
    return _forward_kind(x, spec, values, expected_values, indices, expected_indices)


def _forward_kind(
    x: np.ndarray,
    spec: PoolSpec,
    values: np.ndarray,
    expected_values: np.ndarray,
    indices: np.ndarray | None,
    expected_indices: np.ndarray | None,
) -> str:
    """`forward_kind`, and `values_kind` where ``indices`` are None."""
    unsigned = _unsigned(x.dtype)
    mask = values.view(unsigned) != expected_values.view(unsigned)
    if indices is not None:
        mask |= indices != expected_indices
    differ = np.argwhere(mask)
    geometry = _geometry_kind(x, spec, values, indices, mask)
    if geometry is not None and len(differ) > 1:
        return geometry
    padding = _padding_kind(x, spec, values, differ, indices)
    if padding is not None:
        return padding
    first = tuple(int(i) for i in differ[0])
    got_value, expected_value = values[first].item(), expected_values[first].item()
    if indices is not None and expected_indices is not None:
        same_number = got_value == expected_value or (
            got_value != got_value and expected_value != expected_value
        )
        other_bits = values.view(unsigned)[first] != expected_values.view(unsigned)[first]
        same_index = indices[first] == expected_indices[first]
        if x.dtype.kind == "f" and same_number and other_bits and same_index:
            # the other signed zero, or other NaN bits
            return value_kind(got_value, expected_value, x.dtype)
        kind = index_kind(x, spec, indices, expected_indices)
        if kind is not None:
            return kind
    return value_kind(got_value, expected_value, x.dtype, has_padding(x, spec))


def _unsigned(dtype: np.dtype) -> str:
    return f"u{dtype.itemsize}" if dtype.kind == "f" else dtype.str


def value_kind(got: Any, expected: Any, dtype: np.dtype, padding: bool = False) -> str:
    """Which bug returning ``got`` where the contract gives ``expected`` shows.

    Padding is named only where the call has some (``padding``).
    """
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
    if dtype.kind == "f" and expected == -np.inf and got == np.finfo(dtype).min:
        return "returns the lowest finite number where the window's maximum is -inf"
    if padding and got == lowest_value(dtype) and got < expected:
        return "padding wins the maximum: returns the padding value"
    if got < expected:
        return "returns less than the maximum of the window"
    return "returns more than the maximum of the window"


def shape_kind(got: tuple[int, ...], expected: tuple[int, ...], spec: PoolSpec) -> str:
    """Which bug an output of shape ``got`` instead of ``expected`` shows."""
    if len(got) != len(expected):
        return "the output has another number of axes than the input"
    pooled = range(len(expected) - spec.ndim, len(expected))
    if any(got[a] != expected[a] for a in range(len(expected) - spec.ndim)):
        return "the output changes the leading (unpooled) axes"
    differences = {got[a] - expected[a] for a in pooled if got[a] != expected[a]}
    if differences <= {-1, 1}:
        return "output length off by one" + (" (with ceil_mode)" if spec.ceil_mode else "")
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
