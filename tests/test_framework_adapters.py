"""The TensorFlow, Paddle and tinygrad adapters: conversions that add no deviation of their own.

Inside each framework's declared limits, on inputs without ties, NaN or
``-inf`` (where the frameworks deviate), each adapter must give `naive`'s
values and indices bit for bit and its gradient; the cases cover the
conversions the adapters make: leading axes (none, one, several, an empty
one), padding forms (``"same"`` with an odd unit, per-side pads), memory
layouts (negative strides, byte-swapped data) and dtypes. Each framework's
tests are skipped where it is not installed (CI installs tinygrad only).

The deviations docs/frameworks.md lists are confirmed here by calling each
framework directly, without the adapter or the harness.
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest

import impls
from impls import PoolSpec
from impls.frameworks import available, framework
from tests.children import python_code

NEEDS = {
    "tensorflow": "needs tensorflow (pip install tensorflow-cpu)",
    "paddle": "needs paddle (pip install paddlepaddle)",
    "tinygrad": "needs tinygrad (pip install tinygrad; its CPU device needs clang)",
}


def needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not available(name), reason=NEEDS[name])


# (spec, input shape, dtype) inside each framework's declared limits, chosen to exercise
# each conversion the adapter makes.
CASES = {
    "tensorflow": [
        (PoolSpec((3, 3), stride=2, padding=1), (2, 3, 7, 7), "float32"),
        (PoolSpec((3,), padding=((2, 0),)), (2, 3, 4, 5), "float64"),  # per side, 3 leading
        (PoolSpec((2, 3), stride=1, padding="same"), (5, 6), "float16"),  # odd unit on axis 0
        (PoolSpec((3, 3, 2), stride=2, padding="same"), (1, 5, 6, 5), "float32"),
        (PoolSpec((2,), padding="same_lower"), (3,), "float32"),
        (PoolSpec((2, 2), stride=1), (0, 4, 4), "float32"),  # an empty leading axis
        (PoolSpec((2,)), (3, 8), ">f8"),  # byte-swapped
    ],
    "paddle": [
        (PoolSpec((3, 3), stride=2, padding=1), (2, 3, 7, 7), "float32"),
        (PoolSpec((2,), ceil_mode=True), (4, 7), "float64"),  # one leading axis
        (PoolSpec((2, 2, 2)), (2, 1, 2, 4, 5, 4), "float32"),  # three leading axes
        (PoolSpec((3,), padding=2), (2, 5), "float64"),  # padding above half the kernel
        (PoolSpec((2, 3), stride=1, padding=(1, 0)), (6, 5), "float32"),  # no leading axis
        (PoolSpec((2,)), (3, 8), ">f4"),  # byte-swapped
    ],
    "tinygrad": [
        (PoolSpec((3, 3), stride=2, padding=1), (2, 3, 7, 7), "float32"),
        (PoolSpec((3, 2), stride=(2, 1), padding=((2, 0), (0, 1))), (5, 6), "float32"),  # sides
        (PoolSpec((2,), ceil_mode=True), (4, 7), "float64"),
        (PoolSpec((2, 2, 2), dilation=(1, 2, 1)), (1, 4, 5, 4), "float16"),
        (PoolSpec((3, 2), padding="same_lower"), (5, 7), "float32"),
        (PoolSpec((2,)), (3, 8), ">i2"),  # byte-swapped integers: forward only
    ],
}


def distinct(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Distinct values (no ties), as a view with negative strides on the last axis."""
    values = np.random.default_rng(0).permutation(max(math.prod(shape), 1))[: math.prod(shape)]
    return (values - values.size // 2).astype(dtype).reshape(shape)[..., ::-1]


def cases(name: str) -> list[object]:
    return [
        pytest.param(name, spec, shape, dtype, marks=needs(name), id=f"{name}-{i}")
        for i, (spec, shape, dtype) in enumerate(CASES[name])
    ]


@pytest.mark.parametrize(
    ("name", "spec", "shape", "dtype"),
    cases("tensorflow") + cases("paddle") + cases("tinygrad"),
)
def test_the_adapter_matches_the_oracle_inside_its_limits(name, spec, shape, dtype):
    pool = framework(name)
    naive = impls.get("naive")
    x = distinct(shape, dtype)
    before = x.copy()
    values, indices = pool.forward(x, spec)
    expected_values, expected_indices = naive.forward(x, spec)
    assert values.dtype == expected_values.dtype.newbyteorder("=")
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(indices, expected_indices)
    assert indices.dtype == np.int64
    if x.dtype.kind == "f":
        grad = distinct(values.shape, dtype)
        np.testing.assert_array_equal(
            pool.backward(grad, indices, shape, spec),
            naive.backward(grad, indices, shape, spec),
        )
    np.testing.assert_array_equal(x, before)


# -- declared limits, as the frameworks refuse them --------------------------------------


@needs("tensorflow")
def test_tensorflow_limits_are_tensorflows_own():
    pool = framework("tensorflow")
    caps = pool.capabilities
    assert not caps.dilation
    assert not caps.ceil_mode
    assert caps.dtypes == ("float16", "float32", "float64")
    assert not caps.limit(PoolSpec((2,), padding=2), (5,))  # TensorFlow: pad < window
    assert not caps.limit(PoolSpec((2, 2, 2), padding=1), (4, 4, 4))  # max_pool3d: strings
    assert caps.limit(PoolSpec((2, 2, 2), padding="same"), (3, 3, 3))
    with pytest.raises(NotImplementedError, match="MaxPool3D has no float64"):
        pool.forward(np.zeros((2, 2, 2)), PoolSpec((2, 2, 2)))
    tf = _tensorflow()
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the window"):
        tf.nn.max_pool1d(tf.zeros((1, 5, 1)), 2, 2, [[0, 0], [2, 2], [0, 0]])
    with pytest.raises(tf.errors.NotFoundError):
        tf.nn.max_pool3d(tf.zeros((1, 2, 2, 2, 1), tf.float16), 2, 2, "VALID")


@needs("paddle")
def test_paddle_limits_are_paddles_own():
    caps = framework("paddle").capabilities
    assert not caps.dilation
    assert caps.dtypes == ("float32", "float64")
    assert not caps.limit(PoolSpec((3,), padding=((1, 0),)), (5,))
    assert caps.limit(PoolSpec((3,), stride=1, padding="same"), (6,))  # pads (1, 1)
    assert not caps.limit(PoolSpec((2,), stride=1, padding="same"), (6,))  # pads (0, 1)
    paddle, functional = _paddle()
    with pytest.raises(RuntimeError, match="float16"):
        functional.max_pool1d(paddle.zeros((1, 1, 4), "float16"), 2, return_mask=True)
    with pytest.raises(ValueError, match="Paddings size"):
        functional.max_pool1d(paddle.zeros((1, 1, 4)), 2, padding=[1, 0], return_mask=True)


@needs("tinygrad")
def test_tinygrad_has_no_integer_gradients():
    pool = framework("tinygrad")
    x = np.arange(6, dtype=np.int32)
    spec = PoolSpec((2,))
    values, indices = pool.forward(x, spec)
    np.testing.assert_array_equal(values, [1, 3, 5])
    with pytest.raises(NotImplementedError, match="integer"):
        pool.backward(np.ones(3, np.int32), indices, x.shape, spec)


@needs("tinygrad")
def test_a_missing_compiler_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("DEV", "CPU")
    monkeypatch.setenv("CC", "no-such-compiler-here")
    with pytest.raises(ValueError, match=r"no-such-compiler-here.*DEV=PYTHON"):
        framework("tinygrad")


# -- "same": which side takes the odd unit -----------------------------------------------


@needs("tensorflow")
def test_tensorflow_same_puts_the_odd_unit_at_the_end_as_the_contract_does():
    tf = _tensorflow()
    x = np.array([5.0, 1.0, 2.0, 3.0, 4.0], np.float32)
    got = tf.nn.max_pool1d(tf.constant(x.reshape(1, 5, 1)), 2, 1, "SAME").numpy().ravel()
    expected, _ = impls.get("naive").forward(x, PoolSpec((2,), stride=1, padding="same"))
    np.testing.assert_array_equal(got, expected)  # [5, 2, 3, 4, 4]; at the start: [5, 5, ...]


@needs("paddle")
def test_paddle_same_without_a_mask_puts_the_odd_unit_at_the_end():
    paddle, functional = _paddle()
    x = np.array([5.0, 1.0, 2.0, 3.0, 4.0], np.float32)
    got = functional.max_pool1d(paddle.to_tensor(x.reshape(1, 1, 5)), 2, 1, padding="SAME")
    expected, _ = impls.get("naive").forward(x, PoolSpec((2,), stride=1, padding="same"))
    np.testing.assert_array_equal(got.numpy().ravel(), expected)


# -- the deviations docs/frameworks.md lists, by calling each framework directly ----------


def _tf_pool(x: np.ndarray, kernel: int, padding: object = "VALID", ndim: int = 1):
    """TensorFlow's values and gradient (of ones) for a 1-D ``x``, pooled over ``ndim`` axes."""
    tf = _tensorflow()
    shape = (1,) * ndim + x.shape + (1,)
    pool = {1: tf.nn.max_pool1d, 3: tf.nn.max_pool3d}[ndim]
    window = [1] * (ndim - 1) + [kernel]
    tensor = tf.constant(x.reshape(shape))
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        values = pool(tensor, window, window, padding)
    grad = tape.gradient(values, tensor, output_gradients=tf.ones_like(values))
    return values.numpy().ravel(), grad.numpy().ravel()


@needs("tensorflow")
def test_by_hand_tensorflow_drops_nan_and_its_gradient_goes_to_a_first_nan():
    values, grad = _tf_pool(np.array([np.nan, 5.0], np.float32), 2)
    np.testing.assert_array_equal(values, [5.0])
    np.testing.assert_array_equal(grad, [1.0, 0.0])  # to the NaN: forward returned the 5
    values, _ = _tf_pool(np.array([1.0, np.nan, 3.0, np.nan], np.float32), 4)
    np.testing.assert_array_equal(values, [3.0])
    values, _ = _tf_pool(np.array([np.nan], np.float32), 1)  # NaN alone
    np.testing.assert_array_equal(values, [np.finfo(np.float32).min])


@needs("tensorflow")
def test_by_hand_tensorflow_gives_all_minus_inf_windows_the_lowest_finite_number():
    values, grad = _tf_pool(np.array([-np.inf, -np.inf], np.float32), 2)
    np.testing.assert_array_equal(values, [np.finfo(np.float32).min])
    np.testing.assert_array_equal(grad, [1.0, 0.0])
    padded = [[0, 0], [1, 1], [0, 0]]
    values, _ = _tf_pool(np.array([-np.inf], np.float16), 2, padded)
    np.testing.assert_array_equal(values, [np.finfo(np.float16).min])
    values, grad = _tf_pool(np.array([-np.inf, -np.inf], np.float32), 2, ndim=3)
    np.testing.assert_array_equal(values, [np.finfo(np.float32).min])
    np.testing.assert_array_equal(grad, [0.0, 0.0])  # lost


@needs("tensorflow")
def test_by_hand_tensorflow_3d_gradient_goes_to_every_tied_maximum_and_never_to_inf():
    _, grad = _tf_pool(np.array([1.0, 2.0, 2.0, 0.0], np.float32), 4, ndim=3)
    np.testing.assert_array_equal(grad, [0.0, 1.0, 1.0, 0.0])
    _, grad = _tf_pool(np.array([1.0, 2.0, 2.0, 0.0], np.float32), 4)  # 1-D: the first
    np.testing.assert_array_equal(grad, [0.0, 1.0, 0.0, 0.0])
    values, grad = _tf_pool(np.array([-1.0, np.inf], np.float32), 2, ndim=3)
    np.testing.assert_array_equal(values, [np.inf])
    np.testing.assert_array_equal(grad, [0.0, 0.0])


def _paddle_pool(x: np.ndarray, kernel: int, **options: object):
    """Paddle's values and mask for a 1-D ``x`` (as ``(1, 1, L)``)."""
    paddle, functional = _paddle()
    tensor = paddle.to_tensor(x.reshape(1, 1, -1))
    values, mask = functional.max_pool1d(tensor, kernel, return_mask=True, **options)
    return values.numpy().ravel(), mask.numpy().ravel()


@needs("paddle")
def test_by_hand_paddle_drops_nan_and_gives_index_minus_one_to_lowest_maxima():
    lowest = np.finfo(np.float32).min
    values, mask = _paddle_pool(np.array([1.0, np.nan, 3.0, np.nan], np.float32), 4)
    np.testing.assert_array_equal(values, [3.0])
    np.testing.assert_array_equal(mask, [2])
    values, mask = _paddle_pool(np.array([np.nan], np.float32), 1)  # NaN alone
    np.testing.assert_array_equal(values, [lowest])
    np.testing.assert_array_equal(mask, [-1])
    values, mask = _paddle_pool(np.array([-np.inf, -np.inf], np.float32), 2, padding=1)
    np.testing.assert_array_equal(values, [lowest, lowest])
    np.testing.assert_array_equal(mask, [-1, -1])
    values, mask = _paddle_pool(np.array([lowest, 1.0], np.float32), 2, stride=1, padding=1)
    np.testing.assert_array_equal(mask, [-1, 1, 1])


@needs("paddle")
def test_by_hand_paddle_ceil_mode_keeps_a_window_past_the_end():
    values, mask = _paddle_pool(np.array([-1.0, 0.0], np.float32), 1, stride=2, ceil_mode=True)
    np.testing.assert_array_equal(values, [-1.0, np.finfo(np.float32).min])
    np.testing.assert_array_equal(mask, [0, -1])
    assert PoolSpec((1,), stride=2, ceil_mode=True).output_shape((2,)) == (1,)


@needs("paddle")
def test_by_hand_paddle_ignores_same_when_it_returns_a_mask():
    values, _ = _paddle_pool(np.array([5.0, 1.0, 2.0, 3.0, 4.0], np.float32), 2, stride=1,
                             padding="SAME")  # fmt: skip
    np.testing.assert_array_equal(values, [5.0, 2.0, 3.0, 4.0])  # VALID's; "same" has 5


@needs("paddle")
@pytest.mark.parametrize("fill", ["-float('inf')", "float('nan')"])
def test_by_hand_paddle_backward_of_an_index_minus_one_kills_the_process(fill):
    """All -inf and all NaN windows get index -1, whose backward corrupts the heap."""
    code = (
        "import numpy as np\n"
        "from impls.frameworks.paddle_nn import _import_paddle\n"
        "paddle = _import_paddle()\n"
        f"x = paddle.to_tensor(np.full((1, 1, 2), {fill}, np.float32), stop_gradient=False)\n"
        "values, mask = paddle.nn.functional.max_pool1d(x, 2, return_mask=True)\n"
        "paddle.grad([values], [x], [paddle.ones_like(values)])\n"
        "print('survived')\n"
    )
    result = subprocess.run(
        python_code(code), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0, result.stdout
    assert "survived" not in result.stdout


def _tinygrad_pool(x: np.ndarray, kernel: int, padding: int = 0):
    """tinygrad's values, indices and gradient (of ones) for a 1-D ``x``."""
    from impls.frameworks.tinygrad_tensor import device

    device()  # DEV=CPU unless set, before tinygrad is imported
    from tinygrad import Tensor

    tensor = Tensor(x)
    values, indices = tensor.max_pool2d((kernel,), padding=padding, return_indices=True)
    read = values.numpy(), indices.numpy()
    (grad,) = values.gradient(tensor, gradient=Tensor(np.ones(values.shape, x.dtype)))
    return read + (grad.numpy(),)


@needs("tinygrad")
def test_by_hand_tinygrad_splits_the_gradient_between_tied_maxima_and_padding():
    values, indices, grad = _tinygrad_pool(np.array([1.0, 2.0, 2.0, 0.0], np.float32), 4)
    np.testing.assert_array_equal(indices, [1])  # forward selects the first
    np.testing.assert_array_equal(grad, [0.0, 0.5, 0.5, 0.0])
    _, _, grad = _tinygrad_pool(np.array([-0.0, 0.0], np.float32), 2)  # a signed-zero tie
    np.testing.assert_array_equal(grad, [0.5, 0.5])
    # Padding is the dtype's minimum, -inf, which ties with an all -inf window.
    values, indices, grad = _tinygrad_pool(np.array([-np.inf, -np.inf], np.float32), 2, 1)
    np.testing.assert_array_equal(values, [-np.inf, -np.inf])
    np.testing.assert_array_equal(indices, [0, 1])
    np.testing.assert_array_equal(grad, [0.5, 0.5])  # half of each gradient is lost


@needs("tinygrad")
def test_by_hand_tinygrad_nan_wins_only_first_and_then_has_no_index():
    values, indices, grad = _tinygrad_pool(np.array([np.nan, 5.0], np.float32), 2)
    assert np.isnan(values).all()
    np.testing.assert_array_equal(indices, [2])  # the plane's size: outside the plane
    assert np.isnan(grad).all()
    values, indices, _ = _tinygrad_pool(np.array([5.0, np.nan], np.float32), 2)
    np.testing.assert_array_equal(values, [5.0])  # a later NaN is dropped
    np.testing.assert_array_equal(indices, [0])


@needs("tinygrad")
def test_by_hand_tinygrad_gives_minus_zero_where_a_negative_gradient_does_not_go():
    from impls.frameworks.tinygrad_tensor import device

    device()
    from tinygrad import Tensor

    tensor = Tensor(np.array([-3.0, -2.0], np.float32))
    values = tensor.max_pool2d((2,), stride=1)
    (grad,) = values.gradient(tensor, gradient=Tensor(np.array([-1.0], np.float32)))
    np.testing.assert_array_equal(grad.numpy(), [0.0, -1.0])
    assert np.signbit(grad.numpy()[0])  # -0.0: the mask's zero times -1


# A float16 window of 2x4x4 holding 37 and five NaN (found by `maxpool verify tinygrad`).
NAN_WINDOW = np.array(
    [
        [
            [-20.0, 15.0, -4.0, -22.0, 17.0],
            [np.nan, 34.0, 2.0, 24.0, -21.0],
            [-17.0, np.nan, 1.0, 27.0, 20.0],
            [-10.0, -2.0, 11.0, 8.0, -34.0],
            [30.0, -18.0, 12.0, -15.0, 28.0],
        ],
        [
            [np.nan, 10.0, 23.0, -13.0, 31.0],
            [-23.0, -3.0, 29.0, -12.0, -28.0],
            [np.nan, 37.0, 18.0, -7.0, -37.0],
            [-14.0, 6.0, -30.0, np.nan, 19.0],
            [-19.0, 7.0, -33.0, -16.0, 0.0],
        ],
        [
            [-8.0, -36.0, -26.0, -25.0, 26.0],
            [25.0, -32.0, 3.0, -27.0, 21.0],
            [-29.0, np.nan, 33.0, 36.0, 16.0],
            [13.0, -35.0, 5.0, 14.0, -1.0],
            [32.0, -5.0, 4.0, 9.0, 22.0],
        ],
    ],
    dtype=np.float16,
)
NAN_BITS = {
    (0, 1, 0): 0x7F24,
    (0, 2, 1): 0x7EBC,
    (1, 0, 0): 0x7E4A,
    (1, 2, 0): 0x7E38,
    (1, 3, 3): 0xFE16,
    (2, 2, 1): 0x7E68,
}


@needs("tinygrad")
def test_by_hand_tinygrad_reduction_in_parts_misses_the_largest_number_near_nan():
    from impls.frameworks.tinygrad_tensor import device

    device()
    from tinygrad import Tensor

    x = NAN_WINDOW.copy()
    for position, pattern in NAN_BITS.items():
        x.view(np.uint16)[position] = pattern
    values = Tensor(x).max_pool2d((2, 4, 4)).numpy()
    assert np.nanmax(x[:2, :4, :4]) == 37.0
    np.testing.assert_array_equal(values.ravel(), [29.0])  # neither NaN nor the largest number


def _tensorflow():
    from impls.frameworks.tensorflow_nn import _import_tensorflow

    return _import_tensorflow()


def _paddle():
    from impls.frameworks.paddle_nn import _import_paddle

    paddle = _import_paddle()
    return paddle, paddle.nn.functional
