"""Assertion helpers that say where and how an implementation went wrong, and reference geometry.

Every helper hides itself from tracebacks, raises a `ConformanceFailure` of the
kind of bug the difference shows (see `impls.conformance.diagnose`), and
says that kind first and the context of the failing call last: the
implementation, the spec, the input's shape, dtype, layout and value regime.
For example::

    on a tie, selects the last maximal element of the window instead of the first:
    indices differ at (0, 1, 2): got 5, naive gives 4 (3 of 24 differ)
    [impl=strided, spec=PoolSpec(...), x.shape=(2, 5, 7), dtype=float32, layout=fortran, ...]

The reference geometry (`window_table`) and selection rule (`contract_forward`)
are written from the contract (docs/contract.md)'s formulas alone, independently of the package's
own helpers, so they can judge any implementation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from impls import CONTRACT_DTYPES, MaxPoolImpl, PoolSpec

from .diagnose import (
    fail,
    failure,
    forward_kind,
    gradient_kind,
    index_kind,
    shape_kind,
    value_kind,
)


def _skipped() -> type[Exception]:
    """What a call outside the declared limits raises: it is skipped, never judged."""
    try:
        from hypothesis.errors import UnsatisfiedAssumption
    except ImportError:  # without the harness's extra, nothing is skipped  # pragma: no cover

        class NeverRaised(Exception):
            """Never raised."""

        return NeverRaised
    return UnsatisfiedAssumption


SKIPPED = _skipped()


__all__ = [
    "TOLERANCE",
    "assert_close",
    "assert_equal",
    "assert_forward_matches",
    "assert_identical",
    "bits",
    "checked_backward",
    "checked_forward",
    "contract_forward",
    "expect_error",
    "explain_gradients",
    "explain_values",
    "flat_targets",
    "impl_label",
    "window_table",
]

# Relative tolerance per dtype where results may differ by rounding: the
# order in which more than two gradients meeting in one element are summed.
# A difference is allowed up to TOLERANCE[dtype] * (sum of the magnitudes
# that met there), a few hundred units in the last place.
TOLERANCE: dict[str, float] = {"float16": 2e-2, "float32": 5e-5, "float64": 1e-13}


def impl_label(impl: object) -> str:
    """The implementation's ``name``, or its type's name if it has none."""
    name = getattr(impl, "name", None)
    return name if isinstance(name, str) else type(impl).__name__


def bits(array: np.ndarray) -> np.ndarray:
    """The array's elements as unsigned integers of the same width (floats bit for bit)."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind == "f":
        return array.view(f"u{array.dtype.itemsize}")
    return array


def _at(array: np.ndarray, position: tuple[int, ...]) -> str:
    """The element at ``position`` for a message: a NaN shows its bits in its own dtype."""
    value = array[position]
    if array.dtype.kind == "f" and np.isnan(value):
        width = 2 * array.dtype.itemsize
        raw = np.asarray(value).view(f"u{array.dtype.itemsize}").item()
        return f"nan (bits 0x{raw:0{width}X})"
    return repr(value.item())


# explain(position) -> the kind of bug a difference at ``position`` shows.
Explain = Callable[[tuple[int, ...]], str]


def _assert_same_shape(
    got: np.ndarray, expected: np.ndarray, what: str, context: str, reference: str
) -> None:
    __tracebackhide__ = True
    if got.shape != expected.shape:
        fail(
            f"{what} have another shape than {reference} gives",
            f"{what} have shape {got.shape}, {reference} gives {expected.shape} [{context}]",
        )


def _fail_where(
    bad: np.ndarray,
    got: np.ndarray,
    expected: np.ndarray,
    what: str,
    context: str,
    reference: str,
    detail: str = "",
    explain: Explain | None = None,
) -> None:
    """Raise, naming the first position where ``bad`` holds and its bug, if it holds anywhere."""
    __tracebackhide__ = True
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = explain(position) if explain is not None else f"{what} differ from {reference}"
        fail(
            kind,
            f"{kind}: {what} differ at {position}: got {_at(got, position)}, {reference} "
            f"gives {_at(expected, position)}{detail} ({int(bad.sum())} of {bad.size} differ) "
            f"[{context}]",
        )


def assert_identical(
    got: np.ndarray,
    expected: np.ndarray,
    what: str,
    context: str,
    reference: str = "naive",
    explain: Explain | None = None,
) -> None:
    """Assert same shape, same dtype and the same elements, bit for bit (NaN equals NaN).

    ``explain(position)`` names the bug a difference at ``position`` shows.
    """
    __tracebackhide__ = True
    _assert_same_shape(got, expected, what, context, reference)
    if got.dtype != expected.dtype:
        fail(
            f"{what} have another dtype than {reference} gives",
            f"{what} have dtype {got.dtype}, {reference} gives {expected.dtype} [{context}]",
        )
    _fail_where(bits(got) != bits(expected), got, expected, what, context, reference, "", explain)


def assert_equal(
    got: np.ndarray,
    expected: np.ndarray,
    what: str,
    context: str,
    reference: str = "naive",
) -> None:
    """Assert same shape and elements equal by ``==``, NaN equal to NaN.

    Looser than `assert_identical`: signed zeros and NaN payloads may differ,
    and so may the dtype. For references that follow other rules there.
    """
    __tracebackhide__ = True
    _assert_same_shape(got, expected, what, context, reference)
    nan = np.isnan(got) & np.isnan(expected) if got.dtype.kind == "f" else False
    _fail_where(~((got == expected) | nan), got, expected, what, context, reference)


def assert_close(
    got: np.ndarray,
    expected: np.ndarray,
    scale: np.ndarray,
    what: str,
    context: str,
    reference: str,
    dtype: str = "float64",
    explain: Explain | None = None,
) -> None:
    """Assert ``|got - expected| <= TOLERANCE[dtype] * scale`` elementwise."""
    __tracebackhide__ = True
    _assert_same_shape(got, expected, what, context, reference)
    error = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    bad = ~(error <= TOLERANCE[dtype] * scale)
    detail = f", beyond the {dtype} tolerance {TOLERANCE[dtype]:g} x the scale {scale.max()!r}"
    _fail_where(bad, got, expected, what, context, reference, detail, explain)


def assert_forward_matches(
    values: np.ndarray,
    indices: np.ndarray,
    expected_values: np.ndarray,
    expected_indices: np.ndarray,
    x: np.ndarray,
    spec: PoolSpec,
    context: str,
    reference: str,
) -> None:
    """Assert forward's values (bit for bit) and indices equal ``reference``'s.

    The first output where either differs is named by the bug it shows
    (`impls.conformance.diagnose.forward_kind`).
    """
    __tracebackhide__ = True
    for what, got, expected in (("values", values, expected_values),
                                ("indices", indices, expected_indices)):  # fmt: skip
        _assert_same_shape(got, expected, what, context, reference)
        if got.dtype != expected.dtype:
            fail(
                f"{what} have another dtype than {reference} gives",
                f"{what} have dtype {got.dtype}, {reference} gives {expected.dtype} [{context}]",
            )
    bad = (indices != expected_indices) | (bits(values) != bits(expected_values))
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = forward_kind(x, spec, (values, indices), (expected_values, expected_indices))
        fail(
            kind,
            f"{kind}: at output {position}, got value {_at(values, position)} at index "
            f"{int(indices[position])}, {reference} gives {_at(expected_values, position)} at "
            f"index {int(expected_indices[position])} ({int(bad.sum())} of {bad.size} outputs "
            f"differ) [{context}]",
        )


def expect_error(
    call: Callable[[], object],
    errors: tuple[type[Exception], ...],
    defect: str,
    context: str,
    *,
    match: str | None = None,
) -> None:
    """Assert ``call()`` raises one of ``errors`` for ``defect`` (its message matching ``match``).

    Raising another exception, or returning, is named by the defect and what
    happened instead ("a window is longer than the padded input: raises
    RuntimeError, not ValueError").
    """
    __tracebackhide__ = True
    expected = errors[0].__name__
    try:
        call()
    except errors as raised:
        if match is not None and not re.search(match, str(raised)):
            fail(
                f"{defect}: the message does not name the cause",
                f"{defect}: {raised!s} does not match {match!r} [{context}]",
            )
        return
    except SKIPPED:
        raise
    except Exception as raised:
        kind = f"{defect}: raises {type(raised).__name__}, not {expected}"
        raise failure(kind)(f"{kind}: {raised} [{context}]") from raised
    kind = f"{defect}: returns a result instead of raising {expected}"
    fail(kind, f"{kind} [{context}]")


def explain_values(got: np.ndarray, expected: np.ndarray) -> Explain:
    """Name the bug where values ``got`` differ from ``expected``."""

    def explain(position: tuple[int, ...]) -> str:
        return value_kind(got[position], expected[position], expected.dtype)

    return explain


def flat_targets(indices: np.ndarray, input_shape: Sequence[int], pooled_axes: int) -> np.ndarray:
    """Each index (in-plane, the contract's format) as a position in the whole flattened input."""
    plane = math.prod(input_shape[len(input_shape) - pooled_axes :])
    batch = math.prod(input_shape[: len(input_shape) - pooled_axes])
    per_plane = np.asarray(indices).reshape(batch, -1)
    return (per_plane + np.arange(batch)[:, np.newaxis] * plane).ravel()


def explain_gradients(
    got: np.ndarray, expected: np.ndarray, grad: np.ndarray, targets: np.ndarray
) -> Explain:
    """Name the backward bug where ``got`` differs from ``expected``.

    ``targets`` holds, for each element of ``grad``, the flat position in the
    input its index routes it to. Overwriting is named only where every
    differing element holds exactly one of the gradients routed to it.
    """
    flat_grad = grad.ravel()

    def contributions(flat: int) -> list[float]:
        return flat_grad[targets == flat].tolist()

    def explain(position: tuple[int, ...]) -> str:
        flat = int(np.ravel_multi_index(position, got.shape))
        kind = gradient_kind(got[position].item(), expected[position].item(), contributions(flat))
        if kind.startswith("overlapping"):
            differing = np.flatnonzero(bits(got) != bits(expected))
            if not all(got.flat[d].item() in contributions(int(d)) for d in differing[:64]):
                return "gradients differ from the sum of the gradients routed by the indices"
        return kind

    return explain


def checked_forward(
    impl: MaxPoolImpl, x: np.ndarray, spec: PoolSpec, context: str, *, need_indices: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Call ``impl.forward``; assert the result's types, shapes, dtypes and index range.

    With ``need_indices=False`` (properties about values only), the indices
    are checked for their shape alone.
    """
    __tracebackhide__ = True
    result = impl.forward(x, spec)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(
            "forward does not return a (values, indices) pair",
            f"forward returned {type(result).__name__}, not a (values, indices) pair [{context}]",
        )
    values, indices = result
    for what, array in (("values", values), ("indices", indices)):
        if not isinstance(array, np.ndarray):
            fail(
                f"forward returns {what} that are not an ndarray",
                f"forward returned {what} of type {type(array).__name__}, not an ndarray "
                f"[{context}]",
            )
    split = x.ndim - spec.ndim
    shape = x.shape[:split] + spec.output_shape(x.shape[split:])
    for what, array in (("values", values), ("indices", indices)):
        if array.shape != shape:
            wrong = shape_kind(array.shape, shape, spec)
            fail(wrong, f"{wrong}: {what} have shape {array.shape}, the contract gives {shape} "
                 f"[{context}]")  # fmt: skip
    if values.dtype != x.dtype:
        fail(
            "values do not keep the input's dtype",
            f"values have dtype {values.dtype}, the input has {x.dtype} [{context}]",
        )
    if not need_indices:
        return values, indices
    if indices.dtype != np.int64:
        fail("indices are not int64", f"indices have dtype {indices.dtype}, not int64 [{context}]")
    plane = math.prod(x.shape[split:])
    outside = (indices < 0) | (indices >= plane)
    if outside.any():
        position = tuple(int(i) for i in np.argwhere(outside)[0])
        explain = getattr(impl, "explain_index", None)
        kind: str | None = explain(indices, position) if callable(explain) else None
        if not kind and x.dtype.name in CONTRACT_DTYPES:
            kind = index_kind(x, spec, indices, contract_forward(x, spec)[1])
        if kind is None or "outside its window" in kind:
            kind = "an index lies outside the plane"
        fail(
            kind,
            f"{kind}: index {indices[position]} at {position} lies outside the plane "
            f"[0, {plane}) [{context}]",
        )
    return values, indices


def checked_backward(
    impl: MaxPoolImpl,
    grad_out: np.ndarray,
    indices: np.ndarray,
    input_shape: tuple[int, ...],
    spec: PoolSpec,
    context: str,
) -> np.ndarray:
    """Call ``impl.backward`` and assert the result's type, shape and dtype."""
    __tracebackhide__ = True
    grad_in = impl.backward(grad_out, indices, input_shape, spec)
    if not isinstance(grad_in, np.ndarray):
        fail(
            "backward does not return an ndarray",
            f"backward returned {type(grad_in).__name__}, not an ndarray [{context}]",
        )
    if grad_in.shape != input_shape:
        fail(
            "backward returns another shape than the input's",
            f"backward returned shape {grad_in.shape}, the input has {input_shape} [{context}]",
        )
    if grad_in.dtype != grad_out.dtype:
        fail(
            "backward does not keep the dtype of grad_out",
            f"backward returned dtype {grad_in.dtype}, grad_out has {grad_out.dtype} [{context}]",
        )
    return grad_in


def window_table(spatial: Sequence[int], spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """Every window's elements, in row-major window order, straight from the contract.

    Returns ``(flat, inside)``, both shaped ``(*output_spatial, window_size)``:
    ``flat`` is the plane index each window element reads (meaningless where
    it reads padding) and ``inside`` is False where it reads padding.
    """
    spatial = tuple(spatial)
    out = spec.output_shape(spatial)
    ndim = spec.ndim
    flat = np.zeros(out + spec.kernel_size, dtype=np.int64)
    inside = np.ones(out + spec.kernel_size, dtype=bool)
    for axis, ((begin, _), length) in enumerate(zip(spec.pads(spatial), spatial, strict=True)):
        # Output position o reads input position o*s - begin + j*d, j = 0 .. k-1.
        reads = (
            np.arange(out[axis])[:, np.newaxis] * spec.stride[axis]
            - begin
            + np.arange(spec.kernel_size[axis]) * spec.dilation[axis]
        )
        shape = [1] * (2 * ndim)
        shape[axis], shape[ndim + axis] = out[axis], spec.kernel_size[axis]
        reads = reads.reshape(shape)
        flat = flat * length + reads
        inside &= (reads >= 0) & (reads < length)
    return flat.reshape(out + (-1,)), inside.reshape(out + (-1,))


def contract_forward(x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """The contract's selection rule, vectorised: first maximum, NaN above all, padding never.

    A second oracle besides ``naive``, used to judge ties, NaN and all -inf
    windows on their own.
    """
    x = np.ascontiguousarray(x)
    assert x.dtype.name in CONTRACT_DTYPES
    split = x.ndim - spec.ndim
    lead, spatial = x.shape[:split], x.shape[split:]
    flat, inside = window_table(spatial, spec)
    planes = x.reshape(math.prod(lead), math.prod(spatial))
    windows = planes[:, np.where(inside, flat, 0)]  # (batch, *out, K)
    if x.dtype.kind == "f":
        nan = np.isnan(windows) & inside
        numbers = inside & ~nan
        lowest: float | int = -np.inf
    else:
        nan = np.zeros(windows.shape, dtype=bool)
        numbers = np.broadcast_to(inside, windows.shape)
        lowest = np.iinfo(x.dtype).min  # not impls.geometry.lowest_value: see the module docstring
    maximum = np.where(numbers, windows, lowest).max(axis=-1, keepdims=True)
    winners = np.where(nan.any(axis=-1, keepdims=True), nan, numbers & (windows == maximum))
    position = winners.argmax(axis=-1)[..., np.newaxis]
    values = np.take_along_axis(windows, position, axis=-1)[..., 0]
    indices = np.take_along_axis(np.broadcast_to(flat, windows.shape), position, axis=-1)[..., 0]
    out_shape = lead + flat.shape[:-1]
    return values.reshape(out_shape), indices.reshape(out_shape).astype(np.int64)
