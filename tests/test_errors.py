"""Every documented error, raised by every implementation before any work is done.

The messages matched here are this package's own wording; for other
implementations (``--impl=module:attr``) only the exception type is checked,
which is what the README prescribes (see the ``raises`` fixture).
"""

from __future__ import annotations

import numpy as np
import pytest

from impls import PoolSpec

SPEC = PoolSpec((2, 2))
X = np.arange(16.0).reshape(1, 4, 4)
OUT_SHAPE = (1, 2, 2)


@pytest.mark.parametrize(
    ("x", "pattern"),
    [
        (np.ones((4, 4), dtype=bool), "dtype bool"),
        (np.ones((4, 4), dtype=np.complex128), "dtype complex128"),
        (np.ones((4, 4), dtype=object), "dtype object"),
        (np.full((4, 4), "a"), "dtype <U1"),
        (np.ones((4, 4), dtype=np.longdouble), "dtype float128"),
        (np.zeros((4, 4), dtype="datetime64[s]"), "dtype datetime64"),
        ([[True, False], [False, True]], "dtype bool"),
        (None, "dtype object"),
    ],
)
def test_forward_rejects_unsupported_dtypes(impl, raises, x, pattern):
    if isinstance(x, np.ndarray) and x.dtype == np.longdouble and np.finfo(x.dtype).bits == 64:
        pytest.skip("longdouble is float64 on this platform")
    with raises(TypeError, match=rf"x has {pattern}.*supported dtypes are float16"):
        impl.forward(x, SPEC)


@pytest.mark.parametrize("shape", [(), (4,), (3,)])
def test_forward_rejects_too_few_axes(impl, raises, shape):
    with raises(ValueError, match=r"x must have at least 2 axes .* got shape"):
        impl.forward(np.zeros(shape), SPEC)


def test_forward_rejects_ragged_input(impl, raises):
    with raises(ValueError, match=r"x could not be converted to an array"):
        impl.forward([[1.0, 2.0], [3.0]], PoolSpec((1,)))


def test_forward_rejects_a_spec_that_is_not_a_poolspec(impl, raises):
    with raises(TypeError, match=r"spec must be a PoolSpec, got tuple"):
        impl.forward(X, (2, 2))


def test_forward_rejects_impossible_geometry(impl, raises):
    with raises(ValueError, match=r"pooled axis 1: input length 4 .* extent 5"):
        impl.forward(X, PoolSpec((2, 5)))
    with raises(ValueError, match=r"covers padding only"):
        impl.forward(X, PoolSpec((2, 2), padding=((0, 0), (2, 0))))


GOOD_INDICES = np.zeros(OUT_SHAPE, dtype=np.int64)
GOOD_GRAD = np.ones(OUT_SHAPE)


@pytest.mark.parametrize(
    ("grad", "indices", "input_shape", "error", "pattern"),
    [
        (np.ones((1, 2, 3)), GOOD_INDICES, X.shape, ValueError, r"grad_out has shape \(1, 2, 3\)"),
        (np.ones((2, 2)), GOOD_INDICES, X.shape, ValueError, r"grad_out has shape \(2, 2\)"),
        (GOOD_GRAD, np.zeros((1, 2, 1), np.int64), X.shape, ValueError, "indices has shape"),
        (GOOD_GRAD, GOOD_INDICES, (1, 4, 6), ValueError, r"output .* has shape \(1, 2, 3\)"),
        (GOOD_GRAD, GOOD_INDICES - 1, X.shape, ValueError, r"plane \[0, 16\) .* found -1"),
        (GOOD_GRAD, GOOD_INDICES + 16, X.shape, ValueError, r"plane \[0, 16\) .* found 16"),
        (GOOD_GRAD, GOOD_INDICES.astype(float), X.shape, TypeError, "integer dtype"),
        (GOOD_GRAD.astype(bool), GOOD_INDICES, X.shape, TypeError, "grad_out has dtype bool"),
        (GOOD_GRAD.astype(complex), GOOD_INDICES, X.shape, TypeError, "grad_out has dtype"),
        (GOOD_GRAD, GOOD_INDICES, (4,), ValueError, "input_shape must have at least 2 axes"),
        (GOOD_GRAD, GOOD_INDICES, (1, -4, 4), ValueError, "input_shape must be non-negative"),
        (GOOD_GRAD, GOOD_INDICES, (1, 4.0, 4), TypeError, "input_shape must hold ints"),
        (GOOD_GRAD, GOOD_INDICES, (1, True, 4), TypeError, "input_shape must hold ints"),
        (GOOD_GRAD, GOOD_INDICES, 16, TypeError, "input_shape must be a tuple"),
        (GOOD_GRAD, GOOD_INDICES, (1, 4, 1), ValueError, "pooled axis 1: input length 1"),
    ],
)
def test_backward_errors(impl, raises, grad, indices, input_shape, error, pattern):
    with raises(error, match=pattern):
        impl.backward(grad, indices, input_shape, SPEC)


def test_backward_rejects_a_spec_that_is_not_a_poolspec(impl, raises):
    with raises(TypeError, match=r"spec must be a PoolSpec"):
        impl.backward(GOOD_GRAD, GOOD_INDICES, X.shape, {"kernel_size": (2, 2)})


def test_backward_accepts_numpy_integer_shapes(impl):
    shape = tuple(np.int64(n) for n in X.shape)
    assert impl.backward(GOOD_GRAD, GOOD_INDICES, shape, SPEC).shape == X.shape
