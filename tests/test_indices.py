"""The index converters, against the contract's indices from the naive oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

import impls
from impls import Capabilities
from impls.conformance.checks import window_table
from impls.conformance.indices import (
    from_axis_offsets,
    from_axis_positions,
    from_window_offsets,
)
from impls.conformance.strategies import cases

NAIVE = impls.get("naive")
FLOATS = Capabilities(dtypes=("float64",))


def _window_offsets(indices, case):
    """Where each index sits inside its window, row-major over the kernel (from the contract)."""
    flat, inside = window_table(case.spatial_shape, case.spec)
    hits = (flat == indices[..., None]) & inside
    return hits.argmax(axis=-1)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(cases(FLOATS))
def test_window_offsets_convert_to_the_contract_indices(case):
    _, indices = NAIVE.forward(np.ascontiguousarray(case.x), case.spec)
    offsets = _window_offsets(indices, case)
    got = from_window_offsets(offsets, case.spec, case.spatial_shape)
    np.testing.assert_array_equal(got, indices)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(cases(FLOATS))
def test_axis_offsets_and_positions_convert_to_the_contract_indices(case):
    _, indices = NAIVE.forward(np.ascontiguousarray(case.x), case.spec)
    offsets = np.stack(
        np.unravel_index(_window_offsets(indices, case), case.spec.kernel_size), axis=-1
    )
    np.testing.assert_array_equal(
        from_axis_offsets(offsets, case.spec, case.spatial_shape), indices
    )
    positions = np.unravel_index(indices, case.spatial_shape)
    np.testing.assert_array_equal(
        from_axis_positions(list(positions), case.spec, case.spatial_shape), indices
    )
    leading_stack = np.stack(positions)  # (ndim, ...) works too, where it is unambiguous
    if leading_stack.shape[-1] != case.ndim:
        np.testing.assert_array_equal(
            from_axis_positions(leading_stack, case.spec, case.spatial_shape), indices
        )
