"""Memory the library keeps or builds: bounded in bytes, linear in the kernel (issue 9, 5, 8).

Measured with tracemalloc, which sees NumPy's allocations; no timings.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import impls
from impls import PoolSpec, tablecache
from impls.codes import code_tables
from impls.separable import _stages
from impls.staging import staged_layout
from impls.windows import Geometry

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
    tablecache.clear()
    impl = impls.get(["sliced", "reshape", "separable", "auto"][number])

    def calls():
        for extra in range(6):
            length = 2**22 + 8 * number + extra
            impl.forward(np.zeros((1, length), np.float32), PoolSpec((2,), stride=1))

    kept, _ = traced(calls)
    assert kept <= tablecache.BUDGET_BYTES + 4 * MiB
    assert tablecache.held_bytes() <= tablecache.BUDGET_BYTES


def test_the_cache_drops_the_least_recently_used_tables():
    tablecache.clear()
    specs = [PoolSpec((3, 3), stride=1, padding=p) for p in range(3)]
    geometries = [Geometry.of((2, 300, 300), spec).compact for spec in specs]
    for geometry in geometries:
        staged_layout(geometry)
    assert 0 < tablecache.held_bytes() <= tablecache.BUDGET_BYTES
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
    tablecache.clear()

    def build():
        code_tables(geometry)
        staged_layout(geometry)
        _stages(geometry)

    _, peak = traced(build)
    assert peak <= 128 * spec.window_size  # a Python object per element would be hundreds


@pytest.mark.parametrize("name", ["sliced", "reshape", "separable", "auto"])
def test_the_documented_cost_of_non_contiguous_inputs(name):
    # README (How to choose, Memory): only leading axes that cannot be merged
    # cost a whole copy of the input; strided pooled axes cost nothing extra.
    nchw = np.random.default_rng(3).standard_normal((4, 16, 64, 64)).astype(np.float32)
    nhwc_as_nchw = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    outputs = nchw.size // 4 * (4 + 8)
    impl, spec = impls.get(name), PoolSpec((2, 2))
    _, sliced_peak = traced(lambda: impl.forward(nchw[..., ::-1], spec))
    _, copied_peak = traced(lambda: impl.forward(nhwc_as_nchw, spec))
    assert sliced_peak < outputs * 1.5
    assert copied_peak >= nchw.nbytes
