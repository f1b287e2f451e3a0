"""Global pooling and very large windows (issue 9, item 5).

The whole-plane path of auto is checked against the naive oracle on the
classic traps; the issue's large cases are held to memory bounds measured
with tracemalloc (their times are in scripts/hardening.py, not here).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import PoolSpec
from impls.catalogue import names_in
from impls.fast.auto import AutoMaxPool
from impls.tools.timing import peak_extra_bytes

ORACLE = impls.get("naive")
NUMPY_AUTO = AutoMaxPool(compiled=False)  # where numba is installed, auto runs it instead


def assert_same_as_oracle(x, spec):
    assert NUMPY_AUTO.choose(np.shape(x), spec) == "wholeplane"
    values, indices = NUMPY_AUTO.forward(x, spec)
    expected_values, expected_indices = ORACLE.forward(x, spec)
    assert_array_equal(indices, expected_indices)
    assert values.dtype == expected_values.dtype
    assert_array_equal(values.view(np.uint8), expected_values.view(np.uint8))  # bit for bit


@pytest.mark.parametrize(
    "spec",
    [
        PoolSpec((4, 5)),
        PoolSpec((6, 9), stride=3, padding=(1, 2)),  # padding around the plane
        PoolSpec((4, 5), padding="same", ceil_mode=True),
        PoolSpec((7, 8), stride=1, padding=((3, 0), (0, 3))),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int8, np.uint64])
def test_whole_plane_windows_follow_the_contract(spec, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (3, 2, 4, 5)).astype(dtype)  # heavy ties
    if x.dtype.kind == "f":
        x[0, 1, 2, 3] = x[0, 1, 3, 0] = np.nan  # the first NaN wins
        x[1, 0] = -np.inf  # all -inf: the first element
        x[2, 1] = 0.0
        x[2, 1, 1, 1] = -0.0  # the first zero is +0.0, and stays so
        x[2, 0] = -0.0
    else:
        x[1, 0] = np.iinfo(dtype).min
    assert_same_as_oracle(x, spec)
    assert_same_as_oracle(np.asfortranarray(x), spec)
    assert_same_as_oracle(x[..., ::-1, :], spec)


def peak_bytes(func):
    return peak_extra_bytes(func)[1]


def test_a_kernel_as_long_as_the_signal_needs_no_table():
    x = np.zeros((1, 2**20), np.float32)
    x[0, 12345] = 1
    indices = impls.max_pool(x, (2**20,))[1]
    assert indices.tolist() == [[12345]]
    assert peak_bytes(lambda: impls.max_pool(x, (2**20,))) < 1 << 20  # 611 MiB before


def test_global_pooling_costs_no_more_memory_than_its_output():
    x = np.random.default_rng(1).standard_normal((8, 64, 128, 128)).astype(np.float32)
    indices = impls.max_pool(x, (128, 128))[1]
    flat = x.reshape(8, 64, -1)
    assert_array_equal(indices[..., 0, 0], flat.argmax(-1))
    assert peak_bytes(lambda: impls.max_pool(x, (128, 128))) < 1 << 20


@pytest.mark.parametrize("name", names_in("fast"))
def test_every_fast_implementation_takes_a_huge_kernel_in_linear_memory(name):
    x = np.random.default_rng(2).standard_normal((2, 2**14)).astype(np.float32)
    spec = PoolSpec((2**14,))
    peak = peak_bytes(lambda: impls.get(name).forward(x, spec))
    assert peak < 200 * 2**14  # bytes per kernel element, tables and scratch together
    assert_array_equal(impls.get(name).forward(x, spec)[1][:, 0], x.argmax(-1))
