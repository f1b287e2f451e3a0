"""Small worked examples, checked against hand-computed values, for every implementation."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from impls import PoolSpec

NAN, INF = np.nan, np.inf


def check_forward(impl, x, spec, expected_values, expected_indices):
    x = np.asarray(x)
    values, indices = impl.forward(x, spec)
    assert values.dtype == x.dtype
    assert indices.dtype == np.int64
    assert_array_equal(values, np.asarray(expected_values, dtype=x.dtype))
    assert_array_equal(indices, expected_indices)
    return values, indices


def test_3x3_kernel_2_stride_1(impl):
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float64)
    check_forward(impl, x, PoolSpec((2, 2), stride=1), [[5, 6], [8, 9]], [[4, 5], [7, 8]])


def test_4x4_kernel_2_stride_2(impl):
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 3]], dtype=np.float32)
    # windows {1,5,3,4} {2,0,8,1} {0,2,9,1} {6,7,3,3}
    check_forward(impl, x, PoolSpec((2, 2)), [[5, 8], [9, 7]], [[1, 6], [12, 11]])


def test_tie_selects_first_in_row_major_order(impl):
    # 1-D: the two 9s tie, the first (index 1) wins
    check_forward(impl, np.array([3.0, 9, 9, 1]), PoolSpec((4,)), [9], [1])
    # 2-D: (0,1) comes before (1,0) and (1,1) in row-major order
    check_forward(impl, np.array([[0, 5], [5, 5]], dtype=np.int32), PoolSpec((2, 2)), [[5]], [[1]])
    # constant input: every window selects its first element
    x = np.full((3, 3), 7, dtype=np.uint8)
    check_forward(impl, x, PoolSpec((2, 2), stride=1), [[7, 7], [7, 7]], [[0, 1], [3, 4]])


def test_nan_wins_and_the_first_nan_is_selected(impl):
    check_forward(impl, np.array([1.0, NAN, 3, NAN]), PoolSpec((4,)), [NAN], [1])
    check_forward(impl, np.array([1.0, NAN, 3, NAN]), PoolSpec((2,)), [NAN, NAN], [1, 3])
    # NaN before a larger number still wins
    check_forward(impl, np.array([NAN, 5.0], dtype=np.float16), PoolSpec((2,)), [NAN], [0])
    # +inf loses to NaN too
    check_forward(impl, np.array([INF, NAN], dtype=np.float32), PoolSpec((2,)), [NAN], [1])


def test_all_minus_inf_window_selects_its_first_real_element(impl):
    # padding 1: windows are [pad, x0] and [x1, pad]
    x = np.array([-INF, -INF])
    check_forward(impl, x, PoolSpec((2,), stride=2, padding=1), [-INF, -INF], [0, 1])


def test_padding_never_wins_over_negative_values(impl):
    x = np.array([[-5, -3], [-4, -6]], dtype=np.float64)
    # 3x3 output; window (i, j) covers rows {i-1, i} and columns {j-1, j}
    expected_values = [[-5, -3, -3], [-4, -3, -3], [-4, -4, -6]]
    expected_indices = [[0, 1, 1], [2, 1, 1], [2, 2, 3]]
    spec = PoolSpec((2, 2), stride=1, padding=1)
    check_forward(impl, x, spec, expected_values, expected_indices)


def test_padding_never_wins_a_tie_with_the_lowest_integer(impl):
    # int8's lowest value -128 in the input ties with the padding value
    x = np.array([-128, -128, -128], dtype=np.int8)
    spec = PoolSpec((2,), stride=1, padding=1)
    # windows [pad, x0] [x0, x1] [x1, x2] [x2, pad]
    check_forward(impl, x, spec, [-128] * 4, [0, 0, 1, 2])


def test_ceil_mode_keeps_the_partial_window(impl):
    x = np.array([1, 2, 3, 4, 5], dtype=np.int64)
    check_forward(impl, x, PoolSpec((2,)), [2, 4], [1, 3])
    check_forward(impl, x, PoolSpec((2,), ceil_mode=True), [2, 4, 5], [1, 3, 4])


def test_dilation(impl):
    x = np.array([1, 9, 2, 8, 3], dtype=np.int16)
    # windows read (0, 2), (1, 3), (2, 4)
    check_forward(impl, x, PoolSpec((2,), stride=1, dilation=2), [2, 9, 3], [2, 1, 4])


def test_same_and_same_lower(impl):
    x = np.array([1, 2, 3, 4, 5], dtype=np.float32)
    # "same" pads (0, 1): [1,2] [3,4] [5,pad]
    check_forward(impl, x, PoolSpec((2,), padding="same"), [2, 4, 5], [1, 3, 4])
    # "same_lower" pads (1, 0): [pad,1] [2,3] [4,5]
    check_forward(impl, x, PoolSpec((2,), padding="same_lower"), [1, 3, 5], [0, 2, 4])


def test_3d(impl):
    x = np.zeros((2, 2, 4), dtype=np.float64)
    x[1, 0, 1] = 5  # flat index 1*8 + 0*4 + 1 = 9, in the first window
    x[0, 1, 3] = 2  # flat index 0*8 + 1*4 + 3 = 7, in the second window
    check_forward(impl, x, PoolSpec((2, 2, 2)), [[[5, 2]]], [[[9, 7]]])


def test_leading_axes_are_independent(impl):
    x = np.array([[[1, 3], [2, 0]], [[4, 4], [9, 1]]], dtype=np.float64)  # (C=2, 2, 2)
    check_forward(impl, x, PoolSpec((2, 2)), [[[3]], [[9]]], [[[1]], [[2]]])
    # N, C and two more leading axes
    x5 = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)[None, None]
    values, indices = impl.forward(x5, PoolSpec((3, 4)))
    assert values.shape == (1, 1, 2, 1, 1, 1)
    assert_array_equal(values.ravel(), [11, 23])
    assert_array_equal(indices.ravel(), [11, 11])


def test_empty_leading_axis(impl):
    values, indices = impl.forward(np.zeros((0, 3, 4, 4)), PoolSpec((2, 2)))
    assert values.shape == indices.shape == (0, 3, 2, 2)
    grad = impl.backward(np.zeros((0, 3, 2, 2)), indices, (0, 3, 4, 4), PoolSpec((2, 2)))
    assert grad.shape == (0, 3, 4, 4)


def test_overlapping_windows_accumulate_gradient(impl):
    # The centre is the maximum of all four 2x2 windows of a 3x3 input.
    x = np.array([[1, 2, 1], [2, 9, 2], [1, 2, 1]], dtype=np.float64)
    spec = PoolSpec((2, 2), stride=1)
    _, indices = check_forward(impl, x, spec, [[9, 9], [9, 9]], [[4, 4], [4, 4]])
    grad = impl.backward(np.array([[1.0, 2.0], [3.0, 4.0]]), indices, x.shape, spec)
    assert_array_equal(grad, [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


def test_backward_routes_each_gradient_to_its_index(impl):
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 3]], dtype=np.float32)
    spec = PoolSpec((2, 2))
    _, indices = impl.forward(x, spec)
    grad = impl.backward(np.array([[1, 2], [3, 4]], dtype=np.float32), indices, x.shape, spec)
    assert grad.dtype == np.float32
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 1], expected[1, 2], expected[3, 0], expected[2, 3] = 1, 2, 3, 4
    assert_array_equal(grad, expected)


def test_backward_keeps_the_gradient_dtype(impl):
    spec = PoolSpec((2,))
    _, indices = impl.forward(np.array([1.0, 2.0, 4.0, 3.0]), spec)
    grad = impl.backward(np.array([7, -2], dtype=np.int16), indices, (4,), spec)
    assert grad.dtype == np.int16
    assert_array_equal(grad, [0, 7, -2, 0])


def test_backward_with_padding_and_ceil_mode(impl):
    # length 5, kernel 3, stride 2, padding 1, ceil: windows start at -1, 1, 3 (and 5 is
    # dropped); they read {0,1} {1,2,3} {3,4}
    x = np.array([4, 1, 0, 2, 2], dtype=np.float64)
    spec = PoolSpec((3,), stride=2, padding=1, ceil_mode=True)
    _, indices = check_forward(impl, x, spec, [4, 2, 2], [0, 3, 3])
    grad = impl.backward(np.array([1.0, 10.0, 100.0]), indices, x.shape, spec)
    assert_array_equal(grad, [1, 0, 0, 110, 0])


@pytest.mark.parametrize(
    "dtype",
    [
        np.float16,
        np.float32,
        np.float64,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
    ],
)
def test_every_supported_dtype(impl, dtype):
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    x = np.array([info.min, info.max, 0, info.min], dtype=dtype)
    spec = PoolSpec((2,), stride=1, padding=1)
    # windows [pad,min] [min,max] [max,0] [0,min] [min,pad]
    check_forward(impl, x, spec, [info.min, info.max, info.max, 0, info.min], [0, 1, 1, 2, 3])
