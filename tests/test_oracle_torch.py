"""The oracle itself, checked against PyTorch's max pooling where the two are defined alike.

PyTorch takes (C, ...) or (N, C, ...) float inputs, explicit symmetric padding
of at most half the kernel, and returns the same per-plane row-major indices.
It picks the last NaN of a window, so windows holding NaN compare by value
only. Skipped when PyTorch is not installed (CI installs it).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import impls
from impls import Capabilities, PoolSpec
from impls.conformance.checks import assert_identical
from impls.conformance.strategies import Case, cases, spec_arguments
from impls.frameworks.pytorch import TorchMaxPool

pytest.importorskip("torch")

TORCH = TorchMaxPool()
FLOATS = Capabilities(dtypes=("float16", "float32", "float64"))


@st.composite
def torch_specs(draw: st.DrawFn) -> PoolSpec:
    """Specs PyTorch accepts: int or per-axis padding, at most half the kernel."""
    arguments = draw(spec_arguments(FLOATS, padding_forms=("int", "per_axis")))
    kernel = tuple(arguments["kernel_size"])
    padding = arguments["padding"]
    halves = [k // 2 for k in kernel]
    if isinstance(padding, int):
        arguments["padding"] = min(padding, *halves)
    else:
        arguments["padding"] = tuple(min(p, h) for p, h in zip(padding, halves, strict=True))
    return PoolSpec(**arguments)


def torch_pool(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """torch's values and indices for ``case``, through the project's adapter."""
    return TORCH.forward(case.x, case.spec)


@given(cases(FLOATS, spec=torch_specs(), lead_axes=(1, 2)))
def test_naive_agrees_with_torch(case):
    values, indices = impls.get("naive").forward(case.x, case.spec)
    expected_values, expected_indices = torch_pool(case)
    context = f"impl=naive, {case.describe()}"
    nan = np.isnan(values)
    assert_identical(np.isnan(expected_values), nan, "NaN positions", context, "torch")
    # Outside NaN windows, the same element is selected (torch also takes the
    # first maximum, skipping padding), so values agree bit for bit.
    assert_identical(
        np.where(nan, 0, indices), np.where(nan, 0, expected_indices), "indices", context, "torch"
    )
    zero = values.dtype.type(0)
    assert_identical(
        np.where(nan, zero, values),
        np.where(nan, zero, expected_values),
        "values",
        context,
        "torch",
    )
