"""Meta-tests: the strategies really explore what the conformance suite relies on.

Each ``find`` below must come up with an example of one feature (overlapping
windows, ties, NaN, a padding form, a minimal shape, a layout...), so the
suite cannot quietly stop exploring it when a strategy changes. Other tests
check what every drawn case must satisfy (validity, tie-freedom, budgets,
declared capabilities).
"""

from __future__ import annotations

import math
from random import Random

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from impls import Capabilities, PoolSpec
from impls.conformance.checks import window_table
from impls.conformance.properties import PROPERTIES
from impls.conformance.strategies import (
    DEFECTS,
    DTYPES,
    LAYOUTS,
    MAX_ELEMENTS,
    MAX_FUZZED_WORK,
    WORK_BUDGET,
    Case,
    cases,
    fuzzed_calls,
    invalid_calls,
    spec_arguments,
)

BY_NAME = {prop.name: prop for prop in PROPERTIES}
SEARCH = settings(max_examples=3000, database=None, phases=[Phase.generate], deadline=None)
EVERY_CASE = settings(max_examples=150, database=None, deadline=None, derandomize=True)


def exists(strategy: st.SearchStrategy, condition) -> None:
    """Assert that ``strategy`` can draw a value satisfying ``condition``."""
    find(strategy, condition, settings=SEARCH, random=Random(0))


def windows(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """``(values, inside)``, each ``(batch, *out, K)``: every window's elements."""
    flat, inside = window_table(case.spatial_shape, case.spec)
    planes = np.ascontiguousarray(case.x).reshape(math.prod(case.lead_shape), -1)
    return planes[:, np.where(inside, flat, 0)], np.broadcast_to(
        inside, (len(planes),) + inside.shape
    )


def has_window(case: Case, condition) -> bool:
    """Whether some window's valid elements satisfy ``condition`` (a function of a 1-D array)."""
    values, inside = windows(case)
    rows, masks = values.reshape(-1, values.shape[-1]), inside.reshape(-1, values.shape[-1])
    return any(condition(row[mask]) for row, mask in zip(rows, masks, strict=True))


def _pads(case: Case) -> tuple[tuple[int, int], ...]:
    return case.spec.pads(case.spatial_shape)


# ---------------------------------------------------------------------------
# Specs: geometry and every form of every argument.

SPEC_FEATURES = {
    "1 pooled axis": lambda c: c.ndim == 1,
    "2 pooled axes": lambda c: c.ndim == 2,
    "3 pooled axes": lambda c: c.ndim == 3,
    "overlapping windows": lambda c: any(
        s < k for s, k in zip(c.spec.stride, c.spec.kernel_size, strict=True)
    ),
    "gaps between windows": lambda c: any(
        s > e for s, e in zip(c.spec.stride, c.spec.extent, strict=True)
    ),
    "dilation 3": lambda c: 3 in c.spec.dilation,
    "kernel 4": lambda c: 4 in c.spec.kernel_size,
    "stride 4": lambda c: 4 in c.spec.stride,
    "asymmetric padding": lambda c: any(b != e for b, e in _pads(c)),
    "padding wider than half the kernel": lambda c: any(
        b > k // 2 for (b, _), k in zip(_pads(c), c.spec.kernel_size, strict=True)
    ),
    "odd 'same' padding": lambda c: c.spec.padding == "same" and any(b != e for b, e in _pads(c)),
    "odd 'same_lower' padding": lambda c: (
        c.spec.padding == "same_lower" and any(b != e for b, e in _pads(c))
    ),
    "ceil_mode lengthens the output": lambda c: (
        c.spec.ceil_mode
        and c.spec.padding not in ("same", "same_lower")
        and c.spec.output_shape(c.spatial_shape)
        != PoolSpec(
            c.spec.kernel_size, c.spec.stride, c.spec.padding, c.spec.dilation
        ).output_shape(c.spatial_shape)
    ),
    "ceil_mode drops a window starting in the end padding": lambda c: (
        c.spec.ceil_mode
        and c.spec.padding not in ("same", "same_lower")
        and any(
            (-(-(n + b + e - x) // s)) * s >= n + b
            for n, (b, e), x, s in zip(
                c.spatial_shape, _pads(c), c.spec.extent, c.spec.stride, strict=True
            )
        )
    ),
}


@pytest.mark.parametrize("feature", SPEC_FEATURES)
def test_specs_reach(feature):
    exists(cases(), SPEC_FEATURES[feature])


ARGUMENT_FORMS = {
    "padding int": lambda a: type(a["padding"]) is int and a["padding"] > 0,
    "padding per axis": lambda a: (
        isinstance(a["padding"], tuple)
        and all(type(p) is int for p in a["padding"])
        and len(set(a["padding"])) > 1
    ),
    "padding (begin, end) pairs": lambda a: (
        isinstance(a["padding"], tuple)
        and any(isinstance(p, tuple) and p[0] != p[1] for p in a["padding"])
    ),
    "padding 'valid'": lambda a: a["padding"] == "valid",
    "padding 'same'": lambda a: a["padding"] == "same",
    "padding 'same_lower'": lambda a: a["padding"] == "same_lower",
    "default stride": lambda a: a["stride"] is None,
    "int stride": lambda a: type(a["stride"]) is int,
    "per-axis stride": lambda a: isinstance(a["stride"], tuple) and len(set(a["stride"])) > 1,
    "int dilation": lambda a: type(a["dilation"]) is int and a["dilation"] > 1,
    "per-axis dilation": lambda a: (
        isinstance(a["dilation"], tuple) and len(set(a["dilation"])) > 1
    ),
    "kernel as a list": lambda a: isinstance(a["kernel_size"], list),
    "ceil_mode": lambda a: a["ceil_mode"] is True,
}


@pytest.mark.parametrize("form", ARGUMENT_FORMS)
def test_spec_arguments_take_every_form(form):
    exists(spec_arguments(), ARGUMENT_FORMS[form])


# ---------------------------------------------------------------------------
# Shapes, dtypes, values, layouts.

CASE_FEATURES = {
    "minimal shape (every output length 1)": lambda c: (
        all(n == 1 for n in c.spec.output_shape(c.spatial_shape)) and c.spec.window_size > 1
    ),
    "pooled axis of length 1": lambda c: 1 in c.spatial_shape,
    "pooled axis of length 1 with padding": lambda c: any(
        n == 1 and b + e > 0 for n, (b, e) in zip(c.spatial_shape, _pads(c), strict=True)
    ),
    "no leading axis": lambda c: len(c.lead_shape) == 0,
    "one leading axis": lambda c: len(c.lead_shape) == 1,
    "two leading axes": lambda c: len(c.lead_shape) == 2,
    "three leading axes": lambda c: len(c.lead_shape) == 3,
    "leading axis of size 1 before a larger one": lambda c: (
        len(c.lead_shape) >= 2 and c.lead_shape[0] == 1 and max(c.lead_shape) > 1
    ),
    "tie for the maximum in a window": lambda c: (
        c.regime == "ties" and has_window(c, lambda w: (w == w.max()).sum() > 1)
    ),
    "constant input": lambda c: c.regime == "constant" and c.x.size > 1,
    "lowest integer in a window next to padding": lambda c: (
        c.x.dtype.kind in "iu"
        and (c.x == np.iinfo(c.x.dtype).min).any()
        and any(b + e for b, e in _pads(c))
    ),
    "highest uint64": lambda c: c.x.dtype == np.uint64 and (c.x == np.iinfo(np.uint64).max).any(),
    "NaN in a window with larger numbers": lambda c: (
        c.x.dtype.kind == "f"
        and has_window(c, lambda w: np.isnan(w).any() and (w[~np.isnan(w)] > 0).any())
    ),
    "two NaN in a window": lambda c: (
        c.x.dtype.kind == "f" and has_window(c, lambda w: np.isnan(w).sum() > 1)
    ),
    "+inf": lambda c: c.x.dtype.kind == "f" and np.isposinf(c.x).any(),
    "window of -inf only": lambda c: (
        c.x.dtype.kind == "f" and has_window(c, lambda w: w.size > 1 and np.isneginf(w).all())
    ),
    "window of -inf only, next to padding": lambda c: (
        c.x.dtype.kind == "f"
        and any(b + e for b, e in _pads(c))
        and has_window(c, lambda w: np.isneginf(w).all())
    ),
    "0.0 and -0.0 tie for the maximum": lambda c: (
        c.x.dtype.kind == "f"
        and has_window(
            c, lambda w: w.size > 1 and w.max() == 0 and len(set(np.signbit(w[w == 0]))) == 2
        )
    ),
    "read-only input": lambda c: not c.x.flags.writeable,
    "non-contiguous input": lambda c: not (c.x.flags.c_contiguous or c.x.flags.f_contiguous),
    "Fortran-ordered input": lambda c: c.x.flags.f_contiguous and not c.x.flags.c_contiguous,
    "negative strides": lambda c: any(s < 0 for s in c.x.strides),
}


@pytest.mark.parametrize("feature", CASE_FEATURES)
def test_cases_reach(feature):
    exists(cases(), CASE_FEATURES[feature])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cases_draw_every_dtype(dtype):
    exists(cases(), lambda c: c.x.dtype == dtype and c.x.size > 1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cases_draw_every_layout(layout):
    exists(cases(), lambda c: c.layout.startswith(layout) and c.x.ndim > 1)


@EVERY_CASE
@given(cases())
def test_every_case_is_a_valid_call_within_budget(case):
    out = case.spec.output_shape(case.spatial_shape)  # raises if the geometry is invalid
    batch = math.prod(case.lead_shape)
    work = batch * math.prod(out) * case.spec.window_size
    # Only a single plane may exceed the budgets, when the spec allows no smaller one.
    assert batch == 1 or (work <= WORK_BUDGET and case.x.size <= MAX_ELEMENTS)


@EVERY_CASE
@given(cases(regimes=("distinct",)))
def test_distinct_values_are_tie_free(case):
    assert not has_window(case, lambda w: len(np.unique(w)) < w.size), case


@pytest.mark.parametrize(
    "name", ["finite_differences_full_jacobian", "finite_differences_random_direction"]
)
def test_finite_difference_inputs_are_tie_free_float_with_wide_gaps(name):
    @settings(EVERY_CASE, max_examples=30)
    @given(BY_NAME[name].cases(Capabilities()))
    def check(case):
        assert case.x.dtype == np.float64
        for plane in np.ascontiguousarray(case.x).reshape(math.prod(case.lead_shape), -1):
            gaps = np.diff(np.sort(plane))
            assert gaps.size == 0 or gaps.min() >= 0.25, case

    check()


# ---------------------------------------------------------------------------
# The strategies of particular properties.


@EVERY_CASE
@given(BY_NAME["overlapping_windows_accumulate"].cases(Capabilities()))
def test_overlap_cases_overlap(case):
    assert any(s < k for s, k in zip(case.spec.stride, case.spec.kernel_size, strict=True))


def test_overlap_cases_make_windows_share_a_selected_element():
    def shared(case):
        from impls import get

        _, indices = get("naive").forward(case.x, case.spec)
        per_plane = indices.reshape(math.prod(case.lead_shape), -1)
        return any(len(np.unique(row)) < row.size for row in per_plane)

    exists(BY_NAME["overlapping_windows_accumulate"].cases(Capabilities()), shared)


@EVERY_CASE
@given(BY_NAME["whole_plane_window_gives_plane_max"].cases(Capabilities()))
def test_whole_plane_cases_have_one_window_covering_the_plane(case):
    assert case.spec.output_shape(case.spatial_shape) == (1,) * case.ndim
    _, inside = window_table(case.spatial_shape, case.spec)
    assert inside.sum() == math.prod(case.spatial_shape)


@EVERY_CASE
@given(BY_NAME["kernel_one_is_identity"].cases(Capabilities()))
def test_identity_cases_have_unit_kernel_and_stride(case):
    assert case.spec.kernel_size == case.spec.stride == (1,) * case.ndim


@EVERY_CASE
@given(BY_NAME["agrees_with_scipy_maximum_filter"].cases(Capabilities()))
def test_scipy_cases_have_no_nan_and_float64_exact_dtypes(case):
    assert case.x.dtype.kind != "f" or not np.isnan(case.x).any()
    assert case.x.dtype not in (np.int64, np.uint64)


@pytest.mark.parametrize("defect", DEFECTS)
def test_invalid_calls_draw_every_documented_defect(defect):
    exists(invalid_calls(), lambda call: call.defect == defect)


FUZZ_FEATURES = {
    "forward on junk": lambda c: c.method == "forward" and not isinstance(c.args[0], np.ndarray),
    "backward on junk input_shape": lambda c: (
        c.method == "backward" and not isinstance(c.args[2], tuple)
    ),
    "a spec that is not a PoolSpec": lambda c: not isinstance(c.args[-1], PoolSpec),
    "a huge kernel": lambda c: (
        isinstance(c.args[-1], PoolSpec) and max(c.args[-1].kernel_size) > 2**40
    ),
    "a huge input_shape entry": lambda c: (
        c.method == "backward"
        and isinstance(c.args[2], tuple)
        and any(isinstance(n, int) and n > 2**40 for n in c.args[2])
    ),
    "a negative input_shape entry": lambda c: (
        c.method == "backward"
        and isinstance(c.args[2], tuple)
        and any(isinstance(n, int) and n < 0 for n in c.args[2])
    ),
    "indices far outside the plane": lambda c: (
        c.method == "backward"
        and isinstance(c.args[1], np.ndarray)
        and c.args[1].dtype.kind in "iu"
        and c.args[1].size > 0
        and int(np.abs(c.args[1].astype(np.float64)).max()) > 2**20
    ),
}


@pytest.mark.parametrize("feature", FUZZ_FEATURES)
def test_fuzzed_calls_reach(feature):
    exists(fuzzed_calls(), FUZZ_FEATURES[feature])


def test_fuzzed_calls_leave_out_huge_valid_work():
    assert MAX_FUZZED_WORK <= 10**7


# ---------------------------------------------------------------------------
# Declared capabilities bound every draw.

LIMITED = Capabilities(
    ndims=(2,), dtypes=("float32", "int8"), padding=False, dilation=False, ceil_mode=False
)


@pytest.mark.parametrize("prop", PROPERTIES, ids=lambda prop: prop.name)
def test_draws_stay_inside_declared_capabilities(prop):
    if prop.needs(LIMITED) is not None or prop.name == "fuzzed_calls_fail_cleanly":
        pytest.skip("the property does not run within these capabilities, or fuzzes beyond them")

    @settings(EVERY_CASE, max_examples=30)
    @given(prop.cases(LIMITED))
    def check(drawn):
        if isinstance(drawn, Case):
            assert LIMITED.unsupported(drawn.spec, drawn.x.dtype) == ()
        else:  # an invalid call: its spec stays inside, only its one defect is outside
            spec = drawn.args[-1]
            assert LIMITED.unsupported(spec) == ()

    check()
