"""Inputs are never modified, any memory layout works, and results are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from impls import PoolSpec

SPEC = PoolSpec((3, 2), stride=(2, 1), padding=((1, 0), 1), dilation=(1, 2))


def sample(shape=(2, 3, 7, 6), dtype=np.float32, seed=0):
    # small integers give plenty of ties
    return np.random.default_rng(seed).integers(-3, 4, shape).astype(dtype)


def layouts(x):
    """Arrays equal to ``x`` in value but stored differently (views of other arrays)."""
    fortran = np.asfortranarray(x)
    transposed = np.ascontiguousarray(np.swapaxes(x, -1, -2)).swapaxes(-1, -2)
    reversed_storage = np.ascontiguousarray(x[..., ::-1, ::-1])[..., ::-1, ::-1]
    strided = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    strided[..., ::2] = x
    strided = strided[..., ::2]
    readonly = x.copy()
    readonly.flags.writeable = False
    return {
        "fortran": fortran,
        "transposed view": transposed,
        "negative strides": reversed_storage,
        "non-contiguous": strided,
        "read-only": readonly,
        "list": x.tolist(),
    }


@pytest.mark.parametrize("layout", list(layouts(sample())))
def test_any_layout_gives_the_c_order_result(impl, layout):
    x = sample()
    expected_values, expected_indices = impl.forward(x, SPEC)
    stored = layouts(x)[layout]
    values, indices = impl.forward(stored, SPEC)
    assert_array_equal(values, expected_values)
    assert_array_equal(indices, expected_indices)
    assert values.dtype == np.asarray(stored).dtype  # a list of floats becomes float64


def test_inputs_are_not_modified(impl):
    x = sample(dtype=np.float64)
    x[0, 0, 0, 0] = np.nan
    x_before = x.copy()
    values, indices = impl.forward(x, SPEC)
    assert_array_equal(x, x_before)

    grad = np.random.default_rng(1).standard_normal(values.shape)
    grad_before, indices_before = grad.copy(), indices.copy()
    impl.backward(grad, indices, x.shape, SPEC)
    assert_array_equal(grad, grad_before)
    assert_array_equal(indices, indices_before)


def test_read_only_arguments_work(impl):
    x = sample()
    x.flags.writeable = False
    values, indices = impl.forward(x, SPEC)
    grad = np.ones_like(values)
    grad.flags.writeable = False
    indices.flags.writeable = False
    assert impl.backward(grad, indices, x.shape, SPEC).shape == x.shape


def test_outputs_do_not_alias_the_input(impl):
    x = sample()
    values, _ = impl.forward(x, PoolSpec((1, 1)))
    assert not np.shares_memory(values, x)


def test_repeated_calls_are_identical(impl):
    x = sample(dtype=np.float16)
    first_values, first_indices = impl.forward(x, SPEC)
    grad = np.random.default_rng(2).standard_normal(first_values.shape).astype(np.float32)
    first_grad = impl.backward(grad, first_indices, x.shape, SPEC)
    for _ in range(3):
        values, indices = impl.forward(x, SPEC)
        assert_array_equal(values, first_values)
        assert_array_equal(indices, first_indices)
        assert_array_equal(impl.backward(grad, indices, x.shape, SPEC), first_grad)


@pytest.mark.parametrize("shape", [(7, 6), (3, 7, 6), (2, 3, 7, 6)])
def test_unbatched_and_bare_inputs_match_the_batched_result(impl, shape):
    batched = sample((2, 3, 7, 6))
    x = batched[(0,) * (4 - len(shape))]
    values, indices = impl.forward(x, SPEC)
    all_values, all_indices = impl.forward(batched, SPEC)
    assert_array_equal(values, all_values[(0,) * (4 - len(shape))])
    assert_array_equal(indices, all_indices[(0,) * (4 - len(shape))])
