"""Assertion helpers that say where and how an implementation went wrong, and reference geometry.

Every helper hides itself from tracebacks, raises a `ConformanceFailure` of the
kind of bug the difference shows (see `impls.conformance.diagnose`), and
says that kind first and the context of the failing call last: the
implementation, the spec, the input's shape, dtype, layout and value regime.
For example::

    on a tie, selects the last maximal element of the window instead of the first:
    indices differ at (0, 1, 2): got 5, naive gives 4 (3 of 24 differ)
    [impl=strided, spec=PoolSpec(...), x.shape=(2, 5, 7), dtype=float32, layout=fortran, ...]

Forward is judged on what forward returns: an implementation whose indices
are worked out from its backward (`derives_indices`, as `from_layer` does for
layers that keep none) is judged on its values alone by the forward checks,
and its indices, like every gradient, by the backward checks
(`routed_forward`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from impls import CONTRACT_DTYPES, MaxPoolImpl, PoolSpec

from .diagnose import (
    defer,
    fail,
    failure,
    forward_kind,
    gradient_kind,
    has_padding,
    index_kind,
    shape_kind,
    value_kind,
    values_kind,
)
from .gradients import UNEXPLAINED, distinct_labels, gradient_bugs
from .windows import contract_forward, flat_targets, window_table


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
    "backward_probe",
    "backward_result",
    "bits",
    "checked_backward",
    "checked_forward",
    "contract_forward",
    "derives_indices",
    "expect_error",
    "explain_backward",
    "explain_gradients",
    "explain_values",
    "flat_targets",
    "forward_result",
    "impl_label",
    "name_gradient_bugs",
    "routed_forward",
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


def derives_indices(impl: object) -> bool:
    """Whether ``impl``'s indices are worked out from its backward, not returned by its forward.

    Such an implementation (`impls.conformance.from_layer` without an index
    reader) says so with a true ``indices_from_backward`` attribute; its
    forward is judged on its values alone.
    """
    return getattr(impl, "indices_from_backward", False) is True


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
    indices: np.ndarray | None,
    expected_values: np.ndarray,
    expected_indices: np.ndarray,
    x: np.ndarray,
    spec: PoolSpec,
    context: str,
    reference: str,
) -> None:
    """Assert forward's values (bit for bit) and indices equal ``reference``'s.

    The first output where either differs is named by the bug it shows
    (`impls.conformance.diagnose.forward_kind`); a value of other bits at an
    output whose index is right (a NaN's payload, a signed zero) is a bug of
    its own, reported beside an index bug instead of behind it. With
    ``indices`` None (an implementation whose forward gives none), values
    alone are judged.
    """
    __tracebackhide__ = True
    judged = [("values", values, expected_values)]
    if indices is not None:
        judged.append(("indices", indices, expected_indices))
    for what, got, expected in judged:
        _assert_same_shape(got, expected, what, context, reference)
        if got.dtype != expected.dtype:
            fail(
                f"{what} have another dtype than {reference} gives",
                f"{what} have dtype {got.dtype}, {reference} gives {expected.dtype} [{context}]",
            )
    value_bad = bits(values) != bits(expected_values)
    index_bad = indices != expected_indices if indices is not None else np.zeros_like(value_bad)
    bad = value_bad | index_bad
    if not bad.any():
        return

    def message(kind: str, position: tuple[int, ...], count: int) -> str:
        at = f" at index {int(indices[position])}" if indices is not None else ""
        want = f" at index {int(expected_indices[position])}" if indices is not None else ""
        return (
            f"{kind}: at output {position}, got value {_at(values, position)}{at}, {reference} "
            f"gives {_at(expected_values, position)}{want} ({count} of {bad.size} outputs "
            f"differ) [{context}]"
        )

    position = tuple(int(i) for i in np.argwhere(bad)[0])
    if indices is None:
        kind = values_kind(x, spec, values, expected_values)
    else:
        kind = forward_kind(x, spec, (values, indices), (expected_values, expected_indices))
        pure = value_bad & ~index_bad
        if pure.any():
            where = tuple(int(i) for i in np.argwhere(pure)[0])
            second = value_kind(
                values[where].item(), expected_values[where].item(), x.dtype, has_padding(x, spec)
            )
            if second != kind:
                defer(second, message(second, where, int(pure.sum())))
    fail(kind, message(kind, position, int(bad.sum())))


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


def forward_result(result: object, context: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(values, indices)`` out of what forward returned, or a failure naming what it is
    where it is no pair of ndarrays (indices may be None)."""
    __tracebackhide__ = True
    if not (isinstance(result, tuple) and len(result) == 2):
        returned = type(result).__name__
        if isinstance(result, tuple):
            returned = f"a tuple of {len(result)}"
        fail(
            "forward does not return a (values, indices) pair",
            f"forward returned {returned}, not a (values, indices) pair [{context}]",
        )
    values, indices = result
    for what, array in (("values", values), ("indices", indices)):
        if array is None and what == "indices":
            continue
        if not isinstance(array, np.ndarray):
            fail(
                f"forward returns {what} that are not an ndarray",
                f"forward returned {what} of type {type(array).__name__}, not an ndarray "
                f"[{context}]",
            )
    return values, indices


def checked_forward(
    impl: MaxPoolImpl, x: np.ndarray, spec: PoolSpec, context: str, *, need_indices: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Call ``impl.forward``; assert the result's types, shapes, dtypes and index range.

    With ``need_indices=False`` (properties about values only), the indices
    are checked for their shape alone. Indices are None where the
    implementation's forward gives none (`derives_indices`, seen through
    `impls.conformance.runner.LimitedImpl` in a forward check): only values
    are judged then. Values of another dtype than the input's are a bug, noted
    (`impls.conformance.diagnose.defer`) and cast, so that the check goes on.
    """
    __tracebackhide__ = True
    result = impl.forward(x, spec)
    split = x.ndim - spec.ndim
    shape = x.shape[:split] + spec.output_shape(x.shape[split:])
    indices: np.ndarray | None
    worked_out = derives_indices(impl) and isinstance(result, tuple) and result[-1] is not None
    if worked_out:
        # Indices worked out from backward, for a check of backward's: forward's values
        # are the forward checks' to judge, and without them no index can be worked out.
        values, indices = result[0], result[1]
        if not isinstance(values, np.ndarray) or values.shape != shape:
            _skip_case(impl, "forward's values are malformed (the forward checks report them)")
    else:
        values, indices = forward_result(result, context)
    for what, array in (("values", values), ("indices", indices)):
        if array is not None and array.shape != shape:
            wrong = shape_kind(array.shape, shape, spec)
            fail(wrong, f"{wrong}: {what} have shape {array.shape}, the contract gives {shape} "
                 f"[{context}]")  # fmt: skip
    if worked_out:
        pass  # the values' dtype too is the forward checks' to judge
    elif values.dtype != x.dtype:
        defer(
            "values do not keep the input's dtype",
            f"values do not keep the input's dtype: values have dtype {values.dtype}, the input "
            f"has {x.dtype} [{context}]",
        )
        with np.errstate(all="ignore"):
            values = values.astype(x.dtype)
    if indices is None or not need_indices:
        return values, indices
    if indices.dtype != np.int64:
        if indices.dtype.kind not in "iu":
            fail(
                "indices are not int64",
                f"indices have dtype {indices.dtype}, not int64 [{context}]",
            )
        defer(
            "indices are not int64", f"indices have dtype {indices.dtype}, not int64 [{context}]"
        )
        indices = indices.astype(np.int64)
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


def routed_forward(
    impl: MaxPoolImpl, x: np.ndarray, spec: PoolSpec, context: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward for a backward check: ``(values, indices to give backward, routing to expect)``.

    Backward is judged on where it sends each gradient, against the indices it
    is given, so that a forward bug never fails a backward check. The values
    are the contract's (`contract_forward`), for their shape and for finite
    differences; and:

    - an implementation whose backward takes any indices gets the contract's,
      and forward is not called;
    - one whose indices are worked out from backward (`derives_indices`) gets
      the handle its forward returned, and its gradients are expected where
      the contract's selection rule routes them;
    - one whose backward takes only its forward's own indices gets those, and
      is judged by them.

    Where forward fails, or gives indices backward cannot take (outside the
    plane, not integers), the case is skipped: the forward checks report it,
    and without a forward the backward cannot be judged.
    """
    __tracebackhide__ = True
    from .strategies import claims_any_indices  # Hypothesis is needed only here

    values, contract_indices = contract_forward(x, spec)
    if claims_any_indices(_capabilities(impl)):
        return values, contract_indices, contract_indices
    try:
        result = impl.forward(x, spec)
    except SKIPPED:
        raise
    except Exception as error:
        if getattr(error, "kind", "").startswith("crashes"):  # the target ends the process
            raise
        _skip_case(impl, f"forward raises {type(error).__name__} (the forward checks report it)")
    indices = result[1] if isinstance(result, tuple) and len(result) == 2 else None
    if derives_indices(impl):
        assert isinstance(indices, np.ndarray)  # the handle: see LimitedImpl
        return values, indices, contract_indices
    plane = math.prod(x.shape[x.ndim - spec.ndim :])
    if (
        not isinstance(indices, np.ndarray)
        or indices.shape != contract_indices.shape
        or indices.dtype.kind not in "iu"
        or ((indices < 0) | (indices >= plane)).any()
    ):
        _skip_case(impl, "forward's own indices cannot be routed (the forward checks judge them)")
    routed = indices.astype(np.int64)
    return values, routed, routed


def _capabilities(impl: MaxPoolImpl) -> Any:
    from impls import Capabilities

    return Capabilities.of(impl)


def _skip_case(impl: object, reason: str) -> NoReturn:
    """Discard the case (a backward check cannot judge it), counted with ``reason``."""
    skip = getattr(impl, "skip", None)
    if callable(skip):
        skip([reason])
    raise SKIPPED(reason)


def backward_result(result: object, context: str) -> np.ndarray:
    """What backward returned, or a failure naming what it is where it is no ndarray."""
    __tracebackhide__ = True
    if not isinstance(result, np.ndarray):
        what = type(result).__name__
        if isinstance(result, tuple):
            what = f"a tuple of {len(result)}"
        fail(
            "backward does not return an ndarray",
            f"backward returned {what}, not an ndarray [{context}]",
        )
    return result


def checked_backward(
    impl: MaxPoolImpl,
    grad_out: np.ndarray,
    indices: np.ndarray,
    input_shape: tuple[int, ...],
    spec: PoolSpec,
    context: str,
) -> np.ndarray:
    """Call ``impl.backward`` and assert the result's type, shape and dtype.

    A gradient of another dtype than ``grad_out``'s is a bug, noted
    (`impls.conformance.diagnose.defer`) and cast, so that the check goes on
    to the values.
    """
    __tracebackhide__ = True
    grad_in = backward_result(impl.backward(grad_out, indices, input_shape, spec), context)
    if grad_in.shape != input_shape:
        fail(
            "backward returns another shape than the input's",
            f"backward returned shape {grad_in.shape}, the input has {input_shape} [{context}]",
        )
    if grad_in.dtype != grad_out.dtype:
        kind = "backward returns gradients of another dtype than grad_out's"
        message = (
            f"{kind}: backward returned dtype {grad_in.dtype}, grad_out has {grad_out.dtype} "
            f"[{context}]"
        )
        if grad_in.dtype.kind not in "iuf":
            fail(kind, message)
        defer(kind, message)
        with np.errstate(all="ignore"):
            grad_in = grad_in.astype(grad_out.dtype)
    return grad_in


# backward(grad_out) of one call, the rest of its arguments bound (see `backward_probe`).
Probe = Callable[[np.ndarray], object]


def backward_probe(
    impl: MaxPoolImpl, indices: np.ndarray, input_shape: tuple[int, ...], spec: PoolSpec
) -> Probe:
    """Backward of another ``grad_out`` for the same call: what the diagnosis probes with."""
    return lambda grad: impl.backward(grad, indices, input_shape, spec)


def explain_backward(
    x: np.ndarray,
    spec: PoolSpec,
    grad: np.ndarray,
    got: np.ndarray,
    routing: np.ndarray,
    context: str = "",
    probe: Probe | None = None,
    default: str = UNEXPLAINED,
) -> Explain:
    """Name the backward bug where ``got`` differs from ``grad`` routed to ``routing``.

    The names come from the whole call (`name_gradient_bugs`): ties split or
    repeated, NaN windows, overwriting, outputs dropped. The first names the
    failure; the others are noted beside it (`impls.conformance.diagnose.defer`),
    each a bug of its own. Where none is recognised, ``default`` says what the
    check saw.
    """
    found: list[str] = []

    def explain(position: tuple[int, ...]) -> str:
        if not found:
            kind = name_gradient_bugs(x, spec, grad, got, routing, context, probe)
            found.append(default if kind is None or kind == UNEXPLAINED else kind)
        return found[0]

    return explain


def name_gradient_bugs(
    x: np.ndarray,
    spec: PoolSpec,
    grad: np.ndarray,
    got: np.ndarray,
    routing: np.ndarray,
    context: str = "",
    probe: Probe | None = None,
) -> str | None:
    """The first bug backward shows (None if none); the others are deferred as bugs of their own.

    With ``probe``, backward is called once more with distinct labels
    (`impls.conformance.gradients.distinct_labels`), which tell apart bugs
    that equal gradients can make look alike; where that call fails or shows
    nothing, the names come from ``got`` itself
    (`impls.conformance.gradients.gradient_bugs`).
    """
    kinds: list[str] = []
    labels = distinct_labels(grad, spec.ndim) if probe is not None else None
    if probe is not None and labels is not None:
        try:
            landed = probe(labels)
        except Exception:  # the probe may fail where the check did not: names come from got
            landed = None
        if isinstance(landed, np.ndarray) and landed.size == x.size:
            with np.errstate(all="ignore"):
                kinds = gradient_bugs(x, spec, labels, landed.reshape(x.shape), routing)
    if not kinds:
        kinds = gradient_bugs(x, spec, grad, got, routing)
    for kind in kinds[1:]:
        defer(kind, f"{kind}: seen beside {kinds[0]!r} [{context}]")
    return kinds[0] if kinds else None
