"""Memory the library keeps or builds: bounded in bytes, linear in the kernel (issue 9, 5, 8).

Measured with tracemalloc, which sees NumPy's allocations; no timings.
"""

from __future__ import annotations

import gc
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import PoolSpec
from impls.catalogue import names_in
from impls.fast import table_cache
from impls.fast import threads as parallel
from impls.fast.separable import SeparableMaxPool, _stages
from impls.fast.staged_running_max import ReshapeMaxPool
from impls.fast.staging import staged_layout
from impls.fast.van_herk import VanHerkMaxPool
from impls.fast.view_running_max import SlicedMaxPool
from impls.fast.whole_plane import WholePlaneMaxPool
from impls.fast.window_codes import code_tables
from impls.geometry import Geometry

MiB = 1 << 20


def traced(func):
    """Run ``func``; return (bytes still allocated after it and a collection, peak bytes)."""
    gc.collect()
    tracemalloc.start()
    try:
        func()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current, peak


@pytest.mark.parametrize("number", range(4))
def test_tables_of_finished_calls_stay_within_the_budget(number):
    # Variable-length audio: a new length, so a new geometry, on every call
    # (and lengths no other test used).
    table_cache.clear()
    impl = impls.get(names_in("fast", "dispatch")[number])

    def calls():
        for extra in range(6):
            length = 2**22 + 8 * number + extra
            impl.forward(np.zeros((1, length), np.float32), PoolSpec((2,), stride=1))

    kept, _ = traced(calls)
    assert kept <= table_cache.BUDGET_BYTES + 4 * MiB
    assert table_cache.held_bytes() <= table_cache.BUDGET_BYTES


def test_the_cache_drops_the_least_recently_used_tables():
    table_cache.clear()
    specs = [PoolSpec((3, 3), stride=1, padding=p) for p in range(3)]
    geometries = [Geometry.of((2, 300, 300), spec).compact for spec in specs]
    for geometry in geometries:
        staged_layout(geometry)
    assert 0 < table_cache.held_bytes() <= table_cache.BUDGET_BYTES
    first = code_tables(geometries[-1])
    assert code_tables(geometries[-1]) is first  # kept


@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((1, 2**18), PoolSpec((2**18,), stride=1)),
        ((1, 2**18), PoolSpec((2**18,))),  # one phase per kernel step
        ((1, 512, 512), PoolSpec((512, 512), stride=1)),
    ],
    ids=["1-D stride 1", "1-D disjoint", "2-D"],
)
def test_tables_cost_a_few_bytes_per_kernel_element(shape, spec):
    geometry = Geometry.of(shape, spec).compact
    table_cache.clear()

    def build():
        code_tables(geometry)
        staged_layout(geometry)
        _stages(geometry)

    _, peak = traced(build)
    assert peak <= 128 * spec.window_size  # a Python object per element would be hundreds


@pytest.mark.parametrize("name", names_in("fast", "dispatch"))
def test_nhwc_viewed_as_nchw_is_pooled_block_by_block(name):
    # Issue 9, item 9: the leading axes of x.transpose(0, 3, 1, 2) do not merge,
    # and the whole 64 MiB input used to be copied before pooling.
    nhwc = np.random.default_rng(3).standard_normal((8, 128, 128, 128)).astype(np.float32)
    nchw_view = nhwc.transpose(0, 3, 1, 2)
    impl, spec = impls.get(name), PoolSpec((2, 2))
    outputs = nhwc.size // 4 * (4 + 8)  # values and int64 indices
    _, peak = traced(lambda: impl.forward(nchw_view, spec))
    assert peak - outputs < nhwc.nbytes / 3  # scratch: a block per thread, not the input
    values, indices = impl.forward(nchw_view, spec)
    expected_values, expected_indices = impl.forward(np.ascontiguousarray(nchw_view), spec)
    assert_array_equal(indices, expected_indices)
    assert_array_equal(values, expected_values)


@pytest.mark.parametrize(
    ("shape", "spec", "impl_class"),
    [
        ((2, 5, 7, 3), PoolSpec((2, 3), stride=1, padding=1), SlicedMaxPool),
        ((3, 6, 40, 5), PoolSpec((3, 2), stride=2), ReshapeMaxPool),
        ((2, 6, 9, 9), PoolSpec((3, 3), stride=1, padding=1), SeparableMaxPool),
        ((2, 5, 7, 3), PoolSpec((5, 7)), WholePlaneMaxPool),
        ((2, 40, 40, 3), PoolSpec((32, 33), stride=1), VanHerkMaxPool),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
@pytest.mark.parametrize("threads", [1, 2])
def test_every_path_reads_unmergeable_leading_axes_right(shape, spec, impl_class, threads):
    x = np.random.default_rng(5).integers(0, 5, (4, *shape)).astype(np.float32)
    view = x.transpose(1, 0, 4, 2, 3)  # no two leading axes merge
    # Blocks of 3 planes start and end inside rows of the first leading axis.
    with mock.patch.object(parallel, "BLOCK_BYTES", 3 * view[0, 0].nbytes):
        values, indices = impl_class(threads).forward(view, spec)
    expected_values, expected_indices = impls.get("naive").forward(view, spec)
    assert_array_equal(indices, expected_indices)
    assert_array_equal(values, expected_values)
