"""The conformance properties: plain functions of an implementation and a drawn case.

Each property is a function ``check(impl, case)`` that raises a
`ConformanceFailure` (an `AssertionError` whose type names the kind of bug,
and whose message names the implementation and the case) when ``impl``
breaks the contract, paired in a `Property` with the strategy that draws its
cases inside the implementation's `impls.Capabilities`.
`impls.conformance.runner.run_property` runs one under Hypothesis; the
pytest suite, ``maxpool verify`` and the mutant self-tests all go through it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.ndimage
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

import impls
from impls import Capabilities, MaxPoolImpl, PoolSpec

from .checks import (
    Explain,
    Probe,
    assert_close,
    assert_forward_matches,
    assert_identical,
    backward_probe,
    bits,
    checked_backward,
    checked_forward,
    contract_forward,
    derives_indices,
    expect_error,
    explain_backward,
    explain_values,
    flat_targets,
    impl_label,
    routed_forward,
    window_table,
)
from .diagnose import (
    ConformanceFailure,
    fail,
    failure,
    index_kind,
    value_kind,
    values_kind,
)
from .gradients import UNEXPLAINED, scatter_add
from .resources import bounded
from .strategies import (
    Call,
    Case,
    cases,
    claims_any_indices,
    fuzzed_calls,
    gradient_dtype,
    invalid_calls,
    specs,
)

__all__ = ["BY_NAME", "PROPERTIES", "Property"]

# The oracle every differential property compares with.
ORACLE = impls.get("naive")


def _context(impl: MaxPoolImpl, case: Case) -> str:
    return f"impl={impl_label(impl)}, {case.describe()}"


def _planes(x: np.ndarray, ndim: int) -> np.ndarray:
    """``x`` as C-ordered ``(batch, plane)`` rows."""
    lead = x.shape[: x.ndim - ndim]
    return np.ascontiguousarray(x).reshape(math.prod(lead), -1)


def _targets(indices: np.ndarray, case: Case) -> np.ndarray:
    return flat_targets(indices, case.x.shape, case.ndim)


def _integer_gradients(
    rng: np.random.Generator,
    case: Case,
    shape: tuple[int, ...],
    dtype: np.dtype,
    low: int,
    high: int,
) -> np.ndarray:
    """Integer-valued gradients in ``[low, high]``, narrowed so that their sums stay exact.

    Up to every output of a plane may meet in one element (arbitrary
    indices), so small dtypes get small values: an int8 gradient of a plane
    with 100 outputs is 0 or 1. Unsigned dtypes get no negative values.
    """
    crowd = max(1, math.prod(case.spec.output_shape(case.spatial_shape)))
    if dtype.kind == "u":
        low = max(low, 0)
    if dtype.kind in "iu":
        bound = max(1, int(np.iinfo(dtype).max) // crowd)
        low, high = max(low, -bound), min(high, bound)
    elif dtype == np.float16:  # float16 holds the integers up to 2048 exactly
        bound = max(1, 2048 // crowd)
        low, high = max(low, -bound), min(high, bound)
    return rng.integers(low, high + 1, shape).astype(dtype)


def _bits_kind(got: np.ndarray, expected: np.ndarray, position: tuple[int, ...]) -> str | None:
    """The value bug a difference of bits alone shows (the other signed zero, NaN bits), or None.

    Such values may differ between two calls that should agree, as the bits
    a reduction keeps depend on the order it reads memory in.
    """
    a, b = got[position].item(), expected[position].item()
    if got.dtype.kind == "f" and (a == b or (a != a and b != b)):
        return value_kind(a, b, got.dtype)
    return None


def _gradient_bug(
    grad_in: np.ndarray,
    grad: np.ndarray,
    routing: np.ndarray,
    case: Case,
    default: str,
    probe: Probe | None = None,
) -> str:
    """The bug where ``grad_in`` is not ``grad`` routed by ``routing``, or ``default``."""
    context = case.describe()
    return explain_backward(case.x, case.spec, grad, grad_in, routing, context, probe, default)(())


def _scatter_add(grad: np.ndarray, routing: np.ndarray, case: Case) -> np.ndarray:
    """What backward must return, summed in float64: each gradient added at its index."""
    return scatter_add(grad, routing, case.x.shape, case.ndim)


# ---------------------------------------------------------------------------
# The properties: each declared right after its check, with the cases it runs on.


@dataclass(frozen=True)
class Property:
    """A conformance property: its check, its cases, and what it needs.

    ``cases(caps)`` is the strategy of drawn cases inside ``caps``;
    ``needs(caps)`` returns why the property cannot run within ``caps``
    (for example, separability needs two pooled axes), or None. ``claim``
    names the optional part of the contract the property checks
    (``"backward"`` or ``"validation"``); it runs only where the
    implementation claims it. ``uses_indices`` marks a property about
    forward's indices alone: where an implementation's indices are worked out
    from its backward, such a property judges the backward half.
    """

    name: str
    check: Callable[[MaxPoolImpl, Any], None]
    cases: Callable[[Capabilities], st.SearchStrategy[Any]]
    needs: Callable[[Capabilities], str | None] = lambda caps: None
    claim: str | None = None
    uses_indices: bool = False

    def __repr__(self) -> str:
        return f"Property({self.name!r})"

    def half(self, impl: MaxPoolImpl) -> str:
        """The half of the contract this property judges on ``impl``.

        ``"forward"``, ``"backward"`` or ``"validation"``.
        """
        return self.half_for(derives_indices(impl))

    def half_for(self, indices_from_backward: bool) -> str:
        """The half this property judges on an implementation whose indices are
        (``indices_from_backward``) or are not worked out through its backward."""
        if self.claim is not None:
            return self.claim
        return "backward" if self.uses_indices and indices_from_backward else "forward"

    @property
    def view(self) -> str | None:
        """How forward looks to the check, where indices come from backward (`LimitedImpl`)."""
        if self.claim == "backward":
            return "handles"
        return None if self.uses_indices or self.claim else "values"

    def availability(self, impl: MaxPoolImpl) -> tuple[str, str] | None:
        """``("not claimed" | "skipped", reason)`` if the property cannot run on ``impl``.

        None when it can run.
        """
        caps = Capabilities.of(impl)
        if self.claim == "backward" and not caps.backward:
            return "not claimed", f"{impl_label(impl)} does not claim backward"
        if self.claim == "validation" and not caps.claims_validation:
            return "not claimed", f"{impl_label(impl)} does not claim argument validation"
        if self.uses_indices and derives_indices(impl) and not caps.backward:
            return "skipped", (
                f"{impl_label(impl)} gives no indices, and claims no backward to work them out"
            )
        reason = self.needs(caps)
        if reason is not None:
            return "skipped", f"{self.name} {reason}; {impl_label(impl)} has none"
        return None


def _float_dtypes(caps: Capabilities) -> list[str]:
    return [d for d in caps.dtypes if d.startswith("float")]


def _needs_floats(caps: Capabilities) -> str | None:
    return None if _float_dtypes(caps) else "needs a float dtype (NaN, inf)"


def _fd_dtype(caps: Capabilities) -> list[str]:
    return [str(d) for d in ("float64", "float32") if d in caps.dtypes][:1]


def _needs_fd_dtype(caps: Capabilities) -> str | None:
    return None if _fd_dtype(caps) else "finite differences need float64 or float32"


def _identity_specs(caps: Capabilities) -> st.SearchStrategy[PoolSpec]:
    forms = ["valid", "same", "same_lower"] if caps.padding else ["valid"]
    return st.builds(
        lambda ndim, *rest: PoolSpec((1,) * ndim, 1, *rest),
        st.sampled_from(caps.ndims),
        st.sampled_from([0, *forms]),
        st.integers(1, 3) if caps.dilation else st.just(1),
        st.booleans() if caps.ceil_mode else st.just(False),
    )


@st.composite
def _whole_plane_cases(draw: st.DrawFn, caps: Capabilities) -> Case:
    """Cases whose single window covers the whole plane (kernel = length + padding)."""
    ndim = draw(st.sampled_from(caps.ndims))
    lengths = draw(st.tuples(*[st.integers(1, 5)] * ndim))
    pads = []
    for _ in lengths:
        extra = draw(st.integers(0, 2)) if caps.padding else 0
        begin = draw(st.integers(0, extra))
        pads.append((begin, extra - begin))
    kernel = tuple(length + sum(pair) for length, pair in zip(lengths, pads, strict=True))
    stride = draw(st.integers(1, 4))
    ceil_mode = draw(st.booleans()) if caps.ceil_mode else False
    spec = PoolSpec(kernel, stride, tuple(pads), 1, ceil_mode)
    return draw(cases(caps, spec=st.just(spec), spatial=st.just(lengths)))


def _all_cases(caps: Capabilities) -> st.SearchStrategy[Case]:
    return cases(caps)


def _exact_transform_cases(caps: Capabilities) -> st.SearchStrategy[Case]:
    dtypes = [d for d in ("float32", "float64", "int16", "int32", "int64") if d in caps.dtypes]
    return cases(caps, dtypes=dtypes)


def _scipy_cases(caps: Capabilities) -> st.SearchStrategy[Case]:
    exact = [d for d in caps.dtypes if d not in ("int64", "uint64")]
    return cases(caps, dtypes=exact, specials=("inf", "-inf"))


def _special_cases(caps: Capabilities, special: str) -> st.SearchStrategy[Case]:
    return cases(caps, dtypes=_float_dtypes(caps), regimes=("special",), specials=(special,))


# How often a gradient property's windows overlap: overwriting instead of adding, the
# classic backward bug, shows only there, and must show within a few cases.
GRADIENT_OVERLAP = 0.75


def _gradient_cases(caps: Capabilities) -> st.SearchStrategy[Case]:
    return cases(caps, spec=specs(caps, overlap=GRADIENT_OVERLAP))


def _overlapping_cases(caps: Capabilities) -> st.SearchStrategy[Case]:
    return cases(caps, spec=specs(caps, overlap=True), regimes=("ties", "constant", "distinct"))


def _needs_exact_transform(caps: Capabilities) -> str | None:
    wide = {"float32", "float64", "int16", "int32", "int64"} & set(caps.dtypes)
    return None if wide else "needs float32/64 or int16/32/64 for exact shifts and scales"


_DECLARED: list[Property] = []


def _declare(prop: Property) -> None:
    """Add ``prop`` to `PROPERTIES`, in the order of this module."""
    _DECLARED.append(prop)


# ---------------------------------------------------------------------------
# 1. Differential: the naive oracle.


def matches_naive_forward(impl: MaxPoolImpl, case: Case) -> None:
    """Values (bit for bit), indices, dtype and shape equal those of ``naive``."""
    context = _context(impl, case)
    values, indices = checked_forward(impl, case.x, case.spec, context)
    expected_values, expected_indices = ORACLE.forward(np.array(case.x, order="C"), case.spec)
    assert_forward_matches(
        values, indices, expected_values, expected_indices, case.x, case.spec, context, "naive"
    )


_declare(Property("matches_naive_forward", matches_naive_forward, _all_cases))


def matches_naive_backward(impl: MaxPoolImpl, case: Case) -> None:
    """Backward equals ``naive``'s for forward's indices and for arbitrary in-plane indices.

    Forward's indices are those the implementation returns, or the contract's
    where its indices are worked out from backward (`routed_forward`): a
    forward bug never fails this property. Integer-valued gradients of every
    accepted dtype give exact sums, so those compare bit for bit; random float
    gradients compare to rounding. Arbitrary indices are used only where
    backward claims to take them.
    """
    context = _context(impl, case)
    caps = Capabilities.of(impl)
    rng = case.rng(2)
    _, given, routing = routed_forward(impl, case.x, case.spec, context)
    plane = math.prod(case.spatial_shape)
    routes = [("forward's", given, routing)]
    if claims_any_indices(caps):
        arbitrary = rng.integers(0, plane, routing.shape, dtype=np.int64)
        routes.append(("arbitrary", arbitrary, arbitrary))
    dtype = np.dtype(rng.choice(caps.gradient_dtypes(case.x.dtype)))
    for which, indices, routed in routes:
        grad = _integer_gradients(rng, case, routed.shape, dtype, -3, 3)
        where = f"{context}, {which} indices"
        got = checked_backward(impl, grad, indices, case.x.shape, case.spec, where)
        expected = ORACLE.backward(grad, routed, case.x.shape, case.spec)
        probe = backward_probe(impl, indices, case.x.shape, case.spec)
        explain = explain_backward(case.x, case.spec, grad, got, routed, where, probe)
        assert_identical(got, expected, "gradients (integer-valued)", where, "naive", explain)
    float_dtype = gradient_dtype(caps, case.x.dtype)
    if float_dtype.kind == "f":
        which, indices, routed = routes[-1]
        grad = rng.standard_normal(routed.shape).astype(float_dtype)
        where = f"{context}, {which} indices"
        got = checked_backward(impl, grad, indices, case.x.shape, case.spec, where)
        expected = ORACLE.backward(grad, routed, case.x.shape, case.spec)
        scale = _scatter_add(np.abs(grad), routed, case)
        probe = backward_probe(impl, indices, case.x.shape, case.spec)
        explain = explain_backward(case.x, case.spec, grad, got, routed, where, probe)
        assert_close(got, expected, scale, "gradients", where, "naive", float_dtype.name, explain)


_declare(
    Property("matches_naive_backward", matches_naive_backward, _gradient_cases, claim="backward")
)


# ---------------------------------------------------------------------------
# 2. Metamorphic: relations that hold without an oracle.


def values_are_the_input_at_indices(impl: MaxPoolImpl, case: Case) -> None:
    """Each value is the input element its index names, bit for bit."""
    context = _context(impl, case)
    values, indices = checked_forward(impl, case.x, case.spec, context)
    assert indices is not None  # this property sees forward's indices (Property.view)
    kind = "values are not the input elements their indices name"
    if derives_indices(impl):
        # The indices are where backward sends each gradient: the elements they name
        # must hold the window's maximum, whatever forward's values (forward's to judge).
        values = contract_forward(case.x, case.spec)[0]
        kind = "backward sends a gradient to an element that is not its window's maximum"
    planes = _planes(case.x, case.ndim)
    picked = np.take_along_axis(planes, indices.reshape(planes.shape[0], -1), axis=1)
    picked = picked.reshape(values.shape)
    assert_identical(values, picked, "values", context, "x[indices]", lambda position: kind)


_declare(
    Property(
        "values_are_the_input_at_indices",
        values_are_the_input_at_indices,
        _all_cases,
        uses_indices=True,
    )
)


def indices_lie_in_their_windows(impl: MaxPoolImpl, case: Case) -> None:
    """Every index names an element of its own window, never a padded position."""
    context = _context(impl, case)
    _, indices = checked_forward(impl, case.x, case.spec, context)
    assert indices is not None  # this property sees forward's indices (Property.view)
    flat, inside = window_table(case.spatial_shape, case.spec)
    member = ((flat == indices[..., np.newaxis]) & inside).any(axis=-1)
    if not member.all():
        position = tuple(int(i) for i in np.argwhere(~member)[0])
        window = flat[position[len(case.lead_shape) :]][inside[position[len(case.lead_shape) :]]]
        _, expected = contract_forward(case.x, case.spec)
        kind = index_kind(case.x, case.spec, indices, expected) or "an index is not in its window"
        fail(
            kind,
            f"{kind}: index {indices[position]} at {position} is not in its window, which "
            f"reads plane positions {window.tolist()} [{context}]",
        )


_declare(
    Property(
        "indices_lie_in_their_windows", indices_lie_in_their_windows, _all_cases, uses_indices=True
    )
)


def kernel_one_is_identity(impl: MaxPoolImpl, case: Case) -> None:
    """Kernel 1 with stride 1 returns the input and the index of each element."""
    context = _context(impl, case)
    values, indices = checked_forward(impl, case.x, case.spec, context)
    plane = math.prod(case.spatial_shape)
    expected = np.ascontiguousarray(
        np.broadcast_to(np.arange(plane).reshape(case.spatial_shape), case.x.shape)
    )
    x = np.ascontiguousarray(case.x)
    assert_forward_matches(values, indices, x, expected, case.x, case.spec, context, "identity")


_declare(
    Property(
        "kernel_one_is_identity",
        kernel_one_is_identity,
        lambda caps: cases(caps, spec=_identity_specs(caps)),
    )
)


def whole_plane_window_gives_plane_max(impl: MaxPoolImpl, case: Case) -> None:
    """A window that covers the whole plane selects ``numpy.argmax`` of the plane.

    ``argmax`` returns the first maximum, and the first NaN if there is one,
    exactly the contract's rule.
    """
    context = _context(impl, case)
    values, indices = checked_forward(impl, case.x, case.spec, context)
    planes = _planes(case.x, case.ndim)
    shape = case.lead_shape + (1,) * case.ndim
    first = planes.argmax(axis=1).reshape(shape)
    expected = planes[np.arange(planes.shape[0]), first.ravel()].reshape(shape)
    assert_forward_matches(
        values, indices, expected, first, case.x, case.spec, context, "numpy.argmax"
    )


_declare(
    Property(
        "whole_plane_window_gives_plane_max",
        whole_plane_window_gives_plane_max,
        _whole_plane_cases,
    )
)


def _one_axis_specs(spec: PoolSpec, spatial: tuple[int, ...]) -> list[PoolSpec]:
    """Specs that each pool along one axis of ``spec`` and leave the others alone."""
    pads = spec.pads(spatial)
    # "same" padding, resolved to explicit pads, gives its length without ceil_mode.
    ceil_mode = spec.ceil_mode and spec.padding not in ("same", "same_lower")
    result = []
    for axis in range(spec.ndim):
        kernel, stride, dilation = [1] * spec.ndim, [1] * spec.ndim, [1] * spec.ndim
        padding = [(0, 0)] * spec.ndim
        kernel[axis], stride[axis] = spec.kernel_size[axis], spec.stride[axis]
        dilation[axis], padding[axis] = spec.dilation[axis], pads[axis]
        result.append(PoolSpec(tuple(kernel), tuple(stride), tuple(padding), dilation, ceil_mode))
    return result


def pooling_is_separable(impl: MaxPoolImpl, case: Case) -> None:
    """Pooling all axes at once equals pooling one axis at a time (last first), values.

    The first maximum in row-major order is the first maximum of the first
    row holding one, so even the bits of the selected element agree.
    """
    context = _context(impl, case)
    values, _ = checked_forward(impl, case.x, case.spec, context, need_indices=False)
    calls = [(case.x, case.spec, values)]
    staged = case.x
    for spec in reversed(_one_axis_specs(case.spec, case.spatial_shape)):
        where = f"{context}, stage {spec!r}"
        pooled, _ = checked_forward(impl, staged, spec, where, need_indices=False)
        calls.append((staged, spec, pooled))
        staged = pooled

    def explain(position: tuple[int, ...]) -> str:
        # Both sides are the implementation's: name the first call that breaks the contract.
        for x, spec, got in calls:
            expected = contract_forward(x, spec)[0]
            if got.shape == expected.shape and not np.array_equal(bits(got), bits(expected)):
                return values_kind(x, spec, got, expected)
        return "pooling all axes at once gives another result than one axis at a time"

    assert_identical(values, staged, "values", context, "axis-by-axis pooling", explain)


_declare(
    Property(
        "pooling_is_separable",
        pooling_is_separable,
        lambda caps: cases(caps, spec=specs(caps, ndims=(2, 3))),
        lambda caps: None if max(caps.ndims) >= 2 else "needs 2 or 3 pooled axes",
    )
)


def _shift_and_scale(x: np.ndarray, scale: int, shift: int) -> np.ndarray | None:
    """``scale * x + shift`` if exact in the dtype of ``x``, else None."""
    if x.dtype.kind == "u" and shift < 0:
        return None
    exact = x.astype(object) * scale + shift if x.dtype.kind in "iu" else None
    with np.errstate(over="ignore", invalid="ignore"):
        result = (x * x.dtype.type(scale) + x.dtype.type(shift)).astype(x.dtype)
        if exact is not None:
            return result if (result.astype(object) == exact).all() else None
        back = (result - x.dtype.type(shift)) / x.dtype.type(scale)
    finite = np.isfinite(x)
    return result if np.array_equal(back[finite], x[finite]) else None


def shift_and_scale_commute(impl: MaxPoolImpl, case: Case) -> None:
    """Pooling ``a*x + c`` (``a`` > 0, exact in the dtype) gives ``a*values + c``, same indices."""
    context = _context(impl, case)
    rng = case.rng(3)
    a, c = int(rng.choice([2, 4])), int(rng.integers(1, 50))
    # The first transform that is exact for this input; near the ends of an
    # integer dtype's range only smaller ones are.
    for scale, shift in ((a, c), (a, 0), (1, c), (1, -c), (1, 0)):
        maybe = _shift_and_scale(case.x, scale, shift)
        if maybe is not None:
            break
    transformed = case.x if maybe is None else maybe  # (1, 0) is always exact
    values, indices = checked_forward(impl, case.x, case.spec, context, need_indices=False)
    moved_values, moved_indices = checked_forward(
        impl, transformed, case.spec, context, need_indices=False
    )
    expected = _shift_and_scale(values, scale, shift)
    if expected is None:  # exact on every element of x: the values are not all elements of x
        kind = "returns values that are not elements of the input"
        fail(kind, f"{kind}: {scale}*x+{shift} is exact on x, not on them [{context}]")
    context += f", transform={scale}*x+{shift}"

    def explain(position: tuple[int, ...]) -> str:
        return _bits_kind(moved_values, expected, position) or (
            "the result changes when the input is shifted and scaled by exact amounts"
        )

    if moved_indices is not None and indices is not None:
        assert_identical(
            moved_indices, indices, "indices", context, "the untransformed input", explain
        )
    assert_identical(moved_values, expected, "values", context, f"{scale}*values+{shift}", explain)


_declare(
    Property(
        "shift_and_scale_commute",
        shift_and_scale_commute,
        _exact_transform_cases,
        _needs_exact_transform,
    )
)


def permuting_leading_axes_commutes(impl: MaxPoolImpl, case: Case) -> None:
    """Transposing the leading axes and reversing the first one commutes with pooling."""
    context = _context(impl, case)
    lead = len(case.lead_shape)
    order = tuple(case.rng(4).permutation(lead)) + tuple(range(lead, case.x.ndim))
    moved = np.transpose(case.x, order)[::-1]
    values, indices = checked_forward(impl, case.x, case.spec, context)
    moved_values, moved_indices = checked_forward(impl, moved, case.spec, context)
    context += f", leading axes permuted to {order[:lead]} and the first reversed"

    def explain(position: tuple[int, ...]) -> str:
        return _bits_kind(moved_values, np.transpose(values, order)[::-1], position) or (
            "planes are not independent: the result depends on the order of the leading axes"
        )

    if moved_indices is not None and indices is not None:
        expected_indices = np.transpose(indices, order)[::-1]
        assert_identical(
            moved_indices, expected_indices, "indices", context, "permuted result", explain
        )
    expected_values = np.transpose(values, order)[::-1]
    assert_identical(moved_values, expected_values, "values", context, "permuted result", explain)


_declare(
    Property(
        "permuting_leading_axes_commutes",
        permuting_leading_axes_commutes,
        lambda caps: cases(caps, lead_axes=(1, 3)),
    )
)


def agrees_with_scipy_maximum_filter(impl: MaxPoolImpl, case: Case) -> None:
    """Values equal ``scipy.ndimage.maximum_filter`` sampled at the window starts.

    The input is padded here with the dtype's lowest value, so scipy never
    sees a border; the footprint has holes for the dilation, and each output
    is read where the filter's centre (``extent // 2``, origin 0) sits for
    the window. Used only where scipy is an exact oracle: on NaN-free inputs
    (it does not order NaN), on dtypes float64 holds exactly (its filters
    compute in float64), and by value (it may keep either of 0.0 and -0.0).
    """
    context = _context(impl, case)
    values, _ = checked_forward(impl, case.x, case.spec, context, need_indices=False)
    spec, spatial = case.spec, case.spatial_shape
    out = spec.output_shape(spatial)
    # Written here, not taken from impls.geometry.lowest_value: the property must
    # not share a helper with the implementations it judges.
    lowest = -np.inf if case.x.dtype.kind == "f" else np.iinfo(case.x.dtype).min
    lead = len(case.lead_shape)
    widths = [(0, 0)] * lead
    footprint = np.ones((1,) * lead + spec.extent, dtype=bool)
    for axis, (begin, _) in enumerate(spec.pads(spatial)):
        last_read = (out[axis] - 1) * spec.stride[axis] - begin + spec.extent[axis]
        widths.append((begin, max(0, last_read - spatial[axis])))
        holes = [slice(None)] * footprint.ndim
        holes[lead + axis] = np.arange(spec.extent[axis]) % spec.dilation[axis] != 0
        footprint[tuple(holes)] = False
    # scipy has no float16 filter; float32 holds every float16 exactly.
    wide = np.asarray(case.x, dtype=np.float32 if case.x.dtype == np.float16 else None)
    padded = np.pad(wide, widths, constant_values=lowest)
    filtered = scipy.ndimage.maximum_filter(padded, footprint=footprint, mode="nearest")
    samples = (Ellipsis,) + tuple(
        slice(e // 2, e // 2 + (o - 1) * s + 1, s)
        for o, s, e in zip(out, spec.stride, spec.extent, strict=True)
    )
    expected = filtered[samples].astype(case.x.dtype)
    # scipy may pick either of 0.0 and -0.0 when they tie: adding 0 makes both 0.0.
    zero = case.x.dtype.type(0)
    got, expected = values + zero, expected + zero
    explain = explain_values(got, expected)
    assert_identical(got, expected, "values", context, "scipy maximum_filter", explain)


_declare(
    Property(
        "agrees_with_scipy_maximum_filter",
        agrees_with_scipy_maximum_filter,
        _scipy_cases,
    )
)


# ---------------------------------------------------------------------------
# 3. Ties, NaN and -inf: the selection rule on inputs that stress it.


def selects_by_the_contract_rule(impl: MaxPoolImpl, case: Case) -> None:
    """Values and indices equal the contract's rule, computed independently of ``naive``.

    First maximal element in row-major window order; NaN above everything
    (first NaN); padding never; an all -inf window selects its first input
    element.
    """
    context = _context(impl, case)
    values, indices = checked_forward(impl, case.x, case.spec, context)
    expected_values, expected_indices = contract_forward(case.x, case.spec)
    assert_forward_matches(
        values,
        indices,
        expected_values,
        expected_indices,
        case.x,
        case.spec,
        context,
        "the selection rule",
    )


_declare(
    Property(
        "first_maximum_on_ties",
        selects_by_the_contract_rule,
        lambda caps: cases(caps, regimes=("ties", "constant")),
    )
)


_declare(
    Property(
        "nan_propagates_with_the_first_nan_index",
        selects_by_the_contract_rule,
        lambda caps: _special_cases(caps, "nan"),
        _needs_floats,
    )
)


_declare(
    Property(
        "all_minus_inf_windows_select_their_first_input",
        selects_by_the_contract_rule,
        lambda caps: _special_cases(caps, "-inf"),
        _needs_floats,
    )
)


# ---------------------------------------------------------------------------
# 4. Gradients.

# Step of the central differences: a power of two, so x +- h is exact for the
# drawn inputs, whose distinct values are at least 1/4 apart.
STEP = 2.0**-6


_FD_DISAGREE = "backward disagrees with finite differences of the pooling"


def _fd_explain(
    case: Case, grad: np.ndarray, got: np.ndarray, routing: np.ndarray, probe: Probe
) -> Explain:
    """Name the bug where backward's ``got`` for ``grad`` disagrees with finite differences.

    On the tie-free inputs these properties draw, the differences route each
    gradient where the contract does, so a routing bug has its own name.
    """
    context = case.describe()
    return explain_backward(case.x, case.spec, grad, got, routing, context, probe, _FD_DISAGREE)


def _pooled(x: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """The pooled values, by the contract, in float64: what the differences differentiate.

    Backward is the derivative of pooling; the implementation's own forward
    is judged by the forward checks, so that a forward bug never fails these.
    """
    return contract_forward(x, spec)[0].astype(np.float64)


def _pooled_sum(x: np.ndarray, case: Case, weights: np.ndarray) -> float:
    return float(np.sum(_pooled(x, case.spec) * weights))


def finite_differences_full_jacobian(impl: MaxPoolImpl, case: Case) -> None:
    """On tiny tie-free inputs, the Jacobian from central differences equals backward's.

    Column ``i`` comes from perturbing input ``i`` by ``+-h`` (in the
    contract's pooling: see `_pooled`); row ``o`` from ``backward`` with a
    one-hot ``grad_out``. Both are exactly 0 or 1. A random upstream gradient
    then checks ``J^T g`` to rounding.
    """
    context = _context(impl, case)
    x = np.array(case.x, order="C")
    values, indices, routing = routed_forward(impl, x, case.spec, context)
    dtype = x.dtype
    flat_x = x.ravel()
    numeric = np.zeros((values.size, x.size))
    for i in range(x.size):
        step = np.zeros_like(flat_x)
        step[i] = STEP
        up = _pooled((flat_x + step).reshape(x.shape), case.spec)
        down = _pooled((flat_x - step).reshape(x.shape), case.spec)
        numeric[:, i] = (up - down).ravel() / (2 * STEP)
    analytic = np.zeros_like(numeric)
    for o in range(values.size):
        one_hot = np.zeros(values.size, dtype=dtype)
        one_hot[o] = 1
        row = checked_backward(
            impl, one_hot.reshape(values.shape), indices, x.shape, case.spec, context
        )
        analytic[o] = row.ravel()
        if not np.array_equal(analytic[o], numeric[o]):
            probe = backward_probe(impl, indices, x.shape, case.spec)
            explain = _fd_explain(case, one_hot.reshape(values.shape), row, routing, probe)
            assert_identical(
                analytic, numeric, "Jacobian entries", context, "central differences", explain
            )
    grad = case.rng(5).standard_normal(values.shape).astype(dtype)
    got = checked_backward(impl, grad, indices, x.shape, case.spec, context).astype(np.float64)
    expected = (grad.astype(np.float64).ravel() @ numeric).reshape(x.shape)
    scale = (np.abs(grad.astype(np.float64)).ravel() @ numeric).reshape(x.shape)
    explain = _fd_explain(
        case, grad, got, routing, backward_probe(impl, indices, x.shape, case.spec)
    )
    assert_close(got, expected, scale, "J^T g", context, "central", dtype.name, explain)


_declare(
    Property(
        "finite_differences_full_jacobian",
        finite_differences_full_jacobian,
        lambda caps: cases(
            caps,
            spec=specs(caps, max_kernel=3, max_dilation=2, overlap=GRADIENT_OVERLAP),
            dtypes=_fd_dtype(caps),
            regimes=("distinct",),
            max_elements=24,
        ),
        _needs_fd_dtype,
        claim="backward",
    )
)


def finite_differences_random_direction(impl: MaxPoolImpl, case: Case) -> None:
    """``<backward(g), v>`` equals the central difference of ``<g, pool(x)>`` along ``v``."""
    context = _context(impl, case)
    x = np.array(case.x, order="C")
    rng = case.rng(6)
    values, indices, routing = routed_forward(impl, x, case.spec, context)
    grad = rng.standard_normal(values.shape).astype(x.dtype)
    weights = grad.astype(np.float64)
    direction = rng.uniform(-1, 1, x.shape)
    up = (x + STEP * direction).astype(x.dtype)
    down = (x - STEP * direction).astype(x.dtype)
    # The step actually taken, after rounding to the input's dtype.
    direction = (up.astype(np.float64) - down.astype(np.float64)) / (2 * STEP)
    numeric = np.array(
        (_pooled_sum(up, case, weights) - _pooled_sum(down, case, weights)) / (2 * STEP)
    )
    grad_in = checked_backward(impl, grad, indices, x.shape, case.spec, context)
    analytic = np.array(np.sum(grad_in.astype(np.float64) * direction))
    # Both sums round relative to sum |g| * |x|, and the difference is divided by 2h.
    magnitude = 1 + np.abs(x).max()
    scale = np.array(np.abs(weights).sum() * values.size * magnitude / STEP)
    explain = _fd_explain(
        case, grad, grad_in, routing, backward_probe(impl, indices, x.shape, case.spec)
    )
    assert_close(
        analytic, numeric, scale, "<J^T g, v>", context, "central difference", explain=explain
    )


_declare(
    Property(
        "finite_differences_random_direction",
        finite_differences_random_direction,
        lambda caps: cases(
            caps,
            spec=specs(caps, overlap=GRADIENT_OVERLAP),
            dtypes=_fd_dtype(caps),
            regimes=("distinct",),
        ),
        _needs_fd_dtype,
        claim="backward",
    )
)


def backward_is_the_adjoint_of_gathering(impl: MaxPoolImpl, case: Case) -> None:
    """``<J v, g> == <v, J^T g>`` exactly, for forward's and for arbitrary in-plane indices.

    ``J v`` gathers ``v`` at the indices; ``J^T g`` is ``backward(g)``.
    Integer-valued ``v`` and ``g`` in float64 make both sums exact.
    """
    context = _context(impl, case)
    rng = case.rng(7)
    caps = Capabilities.of(impl)
    dtype = gradient_dtype(caps, case.x.dtype)
    _, indices, routing = routed_forward(impl, case.x, case.spec, context)
    if rng.random() < 0.5 and claims_any_indices(caps):
        indices = rng.integers(0, math.prod(case.spatial_shape), routing.shape, dtype=np.int64)
        routing = indices
        context += ", arbitrary in-plane indices"
    grad = _integer_gradients(rng, case, routing.shape, dtype, -4, 4)
    v = rng.integers(-4, 5, case.x.shape).astype(np.float64)
    grad_in = checked_backward(impl, grad, indices, case.x.shape, case.spec, context)
    gathered = _planes(v, case.ndim)[
        np.arange(math.prod(case.lead_shape))[:, np.newaxis],
        routing.reshape(math.prod(case.lead_shape), -1),
    ]
    left = float(np.sum(gathered.ravel() * grad.astype(np.float64).ravel()))
    right = float(np.sum(v * grad_in.astype(np.float64)))
    if left != right:
        kind = _gradient_bug(
            grad_in,
            grad,
            routing,
            case,
            "backward is not the adjoint (transpose) of gathering",
            backward_probe(impl, indices, case.x.shape, case.spec),
        )
        fail(kind, f"{kind}: <J v, g> = {left} but <v, J^T g> = {right} [{context}]")


_declare(
    Property(
        "backward_is_the_adjoint_of_gathering",
        backward_is_the_adjoint_of_gathering,
        _gradient_cases,
        claim="backward",
    )
)


def _route_integer_gradients(
    impl: MaxPoolImpl, case: Case, salt: int, low: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, Probe]:
    """Forward, then backward of integer-valued gradients in ``[low, 4]`` (exact sums).

    Returns ``(routing, grad_out, grad_in, context, probe)``: ``routing``
    holds the indices backward's result is judged by (`routed_forward`),
    ``probe`` calls backward again for the diagnosis.
    """
    context = _context(impl, case)
    dtype = gradient_dtype(Capabilities.of(impl), case.x.dtype)
    _, indices, routing = routed_forward(impl, case.x, case.spec, context)
    grad = _integer_gradients(case.rng(salt), case, routing.shape, dtype, low, 4)
    grad_in = checked_backward(impl, grad, indices, case.x.shape, case.spec, context)
    return routing, grad, grad_in, context, backward_probe(impl, indices, case.x.shape, case.spec)


def gradient_is_conserved(impl: MaxPoolImpl, case: Case) -> None:
    """``grad_in.sum() == grad_out.sum()``: every gradient lands somewhere, once."""
    routing, grad, grad_in, context, probe = _route_integer_gradients(impl, case, 8, -4)
    total_in, total_out = float(grad_in.astype(np.float64).sum()), float(grad.sum(dtype=float))
    if total_in != total_out:
        kind = _gradient_bug(
            grad_in,
            grad,
            routing,
            case,
            "gradient is not conserved: some is lost or counted twice",
            probe,
        )
        fail(
            kind,
            f"{kind}: grad_in sums to {total_in}, grad_out to {total_out} [{context}]",
        )


_declare(
    Property("gradient_is_conserved", gradient_is_conserved, _gradient_cases, claim="backward")
)


def gradient_support_is_the_selected_elements(impl: MaxPoolImpl, case: Case) -> None:
    """With positive ``grad_out``, ``grad_in`` is positive exactly at the selected elements."""
    routing, grad, grad_in, context, probe = _route_integer_gradients(impl, case, 9, 1)
    flat_selected = np.zeros(case.x.size, dtype=bool)
    flat_selected[_targets(routing, case)] = True
    selected = flat_selected.reshape(case.x.shape)
    named = explain_backward(case.x, case.spec, grad, grad_in, routing, context, probe)

    def explain(position: tuple[int, ...]) -> str:
        kind = named(position)
        if kind != UNEXPLAINED:
            return kind
        if selected[position]:
            return "a selected element receives no gradient"
        return "gradient reaches an element that no index selects"

    assert_identical(
        grad_in > 0, selected, "positions with gradient", context, "selected set", explain
    )
    if not (grad_in[~selected] == 0).all():
        fail(
            "gradient reaches an element that no index selects",
            f"negative gradient off the selection [{context}]",
        )


_declare(
    Property(
        "gradient_support_is_the_selected_elements",
        gradient_support_is_the_selected_elements,
        _gradient_cases,
        claim="backward",
    )
)


def overlapping_windows_accumulate(impl: MaxPoolImpl, case: Case) -> None:
    """Where several windows select one element, their gradients add up (exactly)."""
    routing, grad, grad_in, context, probe = _route_integer_gradients(impl, case, 10, -4)
    expected = _scatter_add(grad, routing, case).astype(grad.dtype)
    explain = explain_backward(case.x, case.spec, grad, grad_in, routing, context, probe)
    assert_identical(grad_in, expected, "gradients", context, "the sum of the gradients", explain)


_declare(
    Property(
        "overlapping_windows_accumulate",
        overlapping_windows_accumulate,
        _overlapping_cases,
        claim="backward",
    )
)


# ---------------------------------------------------------------------------
# 5. Errors.


def raises_the_documented_error(impl: MaxPoolImpl, call: Call) -> None:
    """A call with one documented defect raises the error type the contract prescribes."""
    context = f"impl={impl_label(impl)}, {call!r}"
    expect_error(lambda: call.run(impl), call.errors, call.defect, context)


_declare(
    Property(
        "raises_the_documented_error",
        raises_the_documented_error,
        invalid_calls,
        claim="validation",
    )
)


def _run_call(
    impl: MaxPoolImpl,
    call: Call,
    context: str,
    allowed: tuple[type[Exception], ...] = (ValueError, TypeError),
) -> tuple[str, Any]:
    """``("result", value)`` or ``("error", exception)``; other exceptions fail the property."""
    with bounded(context):
        try:
            return "result", call.run(impl)
        except allowed as error:
            return "error", error
        except (UnsatisfiedAssumption, ConformanceFailure):
            raise  # a skipped call; or the time limit, or a named crash of the target
        except Exception as error:
            if str(getattr(error, "kind", "")).startswith("crashes"):
                raise
            names = " and ".join(kind.__name__ for kind in allowed)
            kind = f"{type(error).__name__} escapes a call with bad arguments"
            raise failure(kind)(f"{kind}: {error}; only {names} may [{context}]") from error


def _small_integers(array: object) -> bool:
    return (
        isinstance(array, np.ndarray)
        and array.dtype.kind in "iuf"
        and bool(np.all(np.abs(array) < 2**20))
        and bool(np.all(array == np.round(array)))
    )


def fuzzed_calls_fail_cleanly(impl: MaxPoolImpl, call: Call) -> None:
    """Arbitrary arguments: ValueError or TypeError, or the same result as ``naive``.

    Nothing else escapes, nothing hangs, nothing allocates more than a few
    hundred MiB. Calls outside the declared capabilities may fail any way
    among ValueError, TypeError and NotImplementedError.
    """
    context = f"impl={impl_label(impl)}, {call!r}"
    outcome, got = _run_call(ORACLE, call, f"impl=naive, {call!r}")
    spec = call.args[-1]
    if isinstance(spec, PoolSpec):
        try:
            dtype = np.asarray(call.args[0]).dtype
        except Exception:  # not array-like at all: no dtype to be unsupported
            dtype = None
        try:
            shape: tuple[int, ...] | None = np.asarray(call.args[0]).shape
        except Exception:  # ragged: no shape to be outside the limits
            shape = None
        if Capabilities.of(impl).unsupported(spec, dtype, shape):
            _run_call(impl, call, context, (ValueError, TypeError, NotImplementedError))
            return
    impl_outcome, impl_got = _run_call(impl, call, context)
    if outcome == "error":
        if impl_outcome != "error":
            kind = "returns a result for a call the contract refuses"
            fail(kind, f"{kind}: naive raised {type(got).__name__}: {got} [{context}]")
        return
    if impl_outcome != "result":
        kind = "refuses a valid call"
        fail(kind, f"{kind}: {type(impl_got).__name__}: {impl_got} [{context}]")
    if call.method == "forward":
        if not (isinstance(impl_got, tuple) and len(impl_got) == 2):
            fail("forward does not return a (values, indices) pair", f"{impl_got!r} [{context}]")
        for what, array in zip(("values", "indices"), impl_got, strict=True):
            if not isinstance(array, np.ndarray):
                kind = f"forward returns {what} that are not an ndarray"
                fail(kind, f"{kind} [{context}]")
        x = np.asarray(call.args[0])
        (values, indices), (expected_values, expected_indices) = impl_got, got
        contract_dtype = x.dtype.name in impls.CONTRACT_DTYPES
        if isinstance(spec, PoolSpec) and contract_dtype and values.shape == expected_values.shape:
            # Named by the bug it shows: the first NaN, ties, padding...
            assert_forward_matches(
                values, indices, expected_values, expected_indices, x, spec, context, "naive"
            )
        for what, array, reference in zip(("values", "indices"), impl_got, got, strict=True):
            assert_identical(array, reference, what, context)
        return
    if not isinstance(impl_got, np.ndarray):
        fail("backward does not return an ndarray", f"{impl_got!r} [{context}]")
    # Arbitrary float gradients may round differently where several meet (the
    # contract allows it); small integers add up exactly in any order.
    if _small_integers(call.args[0]):
        assert_identical(impl_got, got, "gradients", context)
    elif (impl_got.shape, impl_got.dtype) != (got.shape, got.dtype):
        kind = "backward returns another shape or dtype than the contract's"
        fail(
            kind,
            f"{kind}: {impl_got.dtype} {impl_got.shape}, naive {got.dtype} {got.shape} "
            f"[{context}]",
        )


_declare(
    Property(
        "fuzzed_calls_fail_cleanly", fuzzed_calls_fail_cleanly, fuzzed_calls, claim="validation"
    )
)


# ---------------------------------------------------------------------------
# 6. Purity.


def _frozen(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


def leaves_inputs_alone_and_repeats(impl: MaxPoolImpl, case: Case) -> None:
    """Forward leaves ``x`` unchanged (read-only ``x`` works) and repeats exactly."""
    context = _context(impl, case)
    x_before = np.array(case.x, copy=True)
    first = checked_forward(impl, case.x, case.spec, context)
    second = checked_forward(impl, case.x, case.spec, context + ", second call")
    _same(case.x, x_before, "input elements after forward", context, "forward modifies its input")
    _same(second[0], first[0], "values of a repeated call", context, _NOT_DETERMINISTIC)
    if first[1] is not None and second[1] is not None:
        _same(second[1], first[1], "indices of a repeated call", context, _NOT_DETERMINISTIC)


_declare(Property("leaves_inputs_alone_and_repeats", leaves_inputs_alone_and_repeats, _all_cases))


def backward_leaves_inputs_alone_and_repeats(impl: MaxPoolImpl, case: Case) -> None:
    """Backward leaves ``grad_out`` and ``indices`` unchanged (read-only ones work) and repeats."""
    context = _context(impl, case)
    _, indices, _ = routed_forward(impl, case.x, case.spec, context)
    dtype = gradient_dtype(Capabilities.of(impl), case.x.dtype)
    grad = case.rng(11).standard_normal(indices.shape).astype(dtype)
    writable = (grad.copy(), indices.copy())
    for grad_arg, indices_arg in (writable, (_frozen(grad), _frozen(indices))):
        grads = [
            checked_backward(impl, grad_arg, indices_arg, case.x.shape, case.spec, context)
            for _ in range(2)
        ]
        _same(grad_arg, grad, "grad_out after backward", context, "backward modifies grad_out")
        _same(indices_arg, indices, "indices after backward", context, "backward modifies indices")
        _same(grads[1], grads[0], "gradients of a repeated call", context, _NOT_DETERMINISTIC)


_declare(
    Property(
        "backward_leaves_inputs_alone_and_repeats",
        backward_leaves_inputs_alone_and_repeats,
        _gradient_cases,
        claim="backward",
    )
)


_NOT_DETERMINISTIC = "not deterministic: a repeated call gives another result"


def _same(got: np.ndarray, expected: np.ndarray, what: str, context: str, kind: str) -> None:
    __tracebackhide__ = True
    assert_identical(got, expected, what, context, "the first call", lambda position: kind)


PROPERTIES: tuple[Property, ...] = tuple(_DECLARED)

BY_NAME: dict[str, Property] = {prop.name: prop for prop in PROPERTIES}
