"""Runnable examples: the source they print rebuilds the case exactly and fails again."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from impls.conformance.checks import bits
from impls.conformance.reproduce import array_source, case_snippet
from impls.conformance.strategies import cases


@settings(max_examples=80, deadline=None, database=None, derandomize=True)
@given(cases())
def test_array_source_rebuilds_the_input_bit_for_bit(case):
    namespace = {"np": np}
    exec("\n".join(array_source(case.x)), namespace)
    rebuilt = namespace["x"]
    assert rebuilt.dtype == case.x.dtype
    assert rebuilt.shape == case.x.shape
    np.testing.assert_array_equal(bits(rebuilt), bits(case.x))


def test_nan_is_printed_with_its_bits():
    x = np.array([1.0, np.nan, -np.nan], dtype=np.float32)
    x.view(np.uint32)[1] = 0x7FC00ABC
    lines = array_source(x)
    assert "x.view(np.uint32)[1] = 0x7FC00ABC  # the bits of this NaN" in lines
    assert "x.view(np.uint32)[2] = 0xFFC00000  # the bits of this NaN" in lines


def test_the_snippet_replays_the_failure():
    from impls import PoolSpec
    from impls.conformance.strategies import Case
    from tests.mutants import LastMaximum

    case = Case(PoolSpec((2,)), np.array([3.0, 3.0]), "fortran, read-only", "ties", seed=1)
    source = case_snippet(case, "first_maximum_on_ties", "tests.mutants:LastMaximum")
    assert LastMaximum.name == "last-maximum"
    with pytest.raises(AssertionError, match="on a tie, selects the last maximal element"):
        exec(source, {})
