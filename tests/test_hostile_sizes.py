"""Huge parameters: a correct result or an error naming the cause, the same in every
implementation, and never an allocation sized by the parameter (issue 9, items 7 and 10).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import PoolSpec
from impls.tools.timing import peak_extra_bytes

NAMES = impls.names()
ORACLE = impls.get("naive")
RNG = np.random.default_rng(0)


def same_as_oracle(name: str, x: np.ndarray, spec: PoolSpec) -> None:
    values, indices = impls.get(name).forward(x, spec)
    expected_values, expected_indices = ORACLE.forward(x, spec)
    assert_array_equal(indices, expected_indices)
    assert_array_equal(values.view(np.uint8), expected_values.view(np.uint8))
    grad = np.arange(1.0, values.size + 1).reshape(values.shape)
    got = impls.get(name).backward(grad, indices, x.shape, spec)
    assert_array_equal(got, ORACLE.backward(grad, indices, x.shape, spec))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((3, 8), PoolSpec((2,), stride=2**63)),  # one window per row: the stride is moot
        ((2, 8, 8), PoolSpec((2, 3), stride=(2**63, 2**70))),
        ((8, 8), PoolSpec((2**62, 2**62), stride=1, padding="same")),  # 64 global windows
        ((2, 8), PoolSpec((2**62,), stride=2**61, padding="same_lower", ceil_mode=True)),
        ((4, 3), PoolSpec((3,), stride=2, padding=10**9, dilation=10**9)),
        ((2, 3, 5), PoolSpec((3, 2), stride=1, padding=(10**18, 1), dilation=(10**18, 1))),
        (
            (5, 7),
            PoolSpec((10**6,), stride=1, padding=((10**6 - 1, 0),)),
        ),  # every window the whole row
    ],
    ids=str,
)
def test_huge_parameters_give_the_oracles_result(name, shape, spec):
    same_as_oracle(name, RNG.standard_normal(shape), spec)


@pytest.mark.parametrize("name", NAMES)
def test_an_output_too_large_to_allocate_is_a_value_error_naming_it(name):
    spec = PoolSpec((2**40,), stride=1, padding=2**40 - 1)  # 2**40 + 7 windows
    with pytest.raises(
        ValueError, match=r"the values and int64 indices, of shape \(1, 1099511627783\)"
    ):
        impls.get(name).forward(np.ones((1, 8)), spec)


@pytest.mark.parametrize("name", NAMES)
def test_windows_too_far_apart_for_int64_are_a_value_error_naming_the_stride(name):
    # Two windows 2**62 apart, each reaching the input through padding.
    spec = PoolSpec((2**62 + 4,), stride=2**62, padding=2**62)
    with pytest.raises(
        ValueError, match=r"pooled axis 0: the 2 windows span .*stride 4611686018427387904"
    ):
        impls.get(name).forward(np.ones((1, 8)), spec)


@pytest.mark.parametrize("name", NAMES)
def test_a_gradient_too_large_to_allocate_is_a_value_error_naming_it(name):
    spec = PoolSpec((2**40,))
    with pytest.raises(
        ValueError, match=r"the gradient for input_shape, of shape \(1, 1099511627776\)"
    ):
        impls.get(name).backward(np.ones((1, 1)), np.zeros((1, 1), np.int64), (1, 2**40), spec)


D = 10**6
FAR_APART = [
    # Stride and padding wider than the input: each window reaches it through padding.
    ((4, 3), PoolSpec((2,), stride=D + 1, padding=D, dilation=D)),
    ((4, 5), PoolSpec((3,), stride=D + 1, padding=2 * D, dilation=D)),
    ((2, 3, 4), PoolSpec((2, 2), stride=(D + 1, 1), padding=((D, D), (0, 0)), dilation=(D, 1))),
    ((2, 3, 3), PoolSpec((2, 2), stride=D + 1, padding=D, dilation=D)),
]


@pytest.mark.parametrize("name", [name for name in NAMES if name != "naive"])
@pytest.mark.parametrize(("shape", "spec"), FAR_APART, ids=str)
def test_windows_far_apart_cost_memory_by_outputs_not_stride(name, shape, spec):
    # Issue 9, wide strides: im2col and strided sized their buffers by outputs x stride.
    x = RNG.standard_normal(shape).astype(np.float32)
    impl = impls.get(name)
    (values, indices), forward_peak = peak_extra_bytes(lambda: impl.forward(x, spec))
    grad = np.ones_like(values)
    _, backward_peak = peak_extra_bytes(lambda: impl.backward(grad, indices, x.shape, spec))
    assert max(forward_peak, backward_peak) < 1 << 20  # a 4 MiB region per plane before
    same_as_oracle(name, x, spec)
