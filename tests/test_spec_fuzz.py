"""PoolSpec under arbitrary arguments: it accepts or refuses cleanly, fast, without allocating."""

from __future__ import annotations

import math

from hypothesis import given

from impls import PoolSpec
from impls.conformance.checks import window_table
from impls.conformance.resources import bounded
from impls.conformance.strategies import FUZZED_SHAPES, FUZZED_SPEC_ARGUMENTS


@given(FUZZED_SPEC_ARGUMENTS, FUZZED_SHAPES)
def test_poolspec_accepts_or_refuses_cleanly(arguments, spatial):
    """Construction, ``pads`` and ``output_shape`` return or raise ValueError/TypeError.

    Where a small geometry is accepted, every window covers an input element,
    as the contract promises.
    """
    context = f"PoolSpec{arguments!r}, spatial_shape={spatial!r}"
    with bounded(context):
        try:
            spec = PoolSpec(*arguments)
        except (ValueError, TypeError):
            return
        try:
            pads = spec.pads(spatial)
            out = spec.output_shape(spatial)
        except (ValueError, TypeError):
            return
    assert len(pads) == len(out) == spec.ndim, context
    assert all(type(n) is int and n >= 1 for n in out), f"output shape {out} [{context}]"
    sizes = [*spec.extent, *spec.stride, *spatial, *(p for pair in pads for p in pair)]
    if math.prod(out) * spec.window_size <= 10**5 and max(sizes) < 2**31:
        _, inside = window_table(spatial, spec)
        assert inside.any(axis=-1).all(), f"a window covers padding only [{context}]"
