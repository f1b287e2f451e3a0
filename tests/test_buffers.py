"""Recycled output memory: reused only once nothing holds it, never while traced."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import PoolSpec
from impls.fast import buffers


@pytest.fixture(autouse=True)
def small_recycling(monkeypatch: pytest.MonkeyPatch):
    """Recycle from 1 KiB, so that small arrays exercise the pool."""
    monkeypatch.setattr(buffers, "RECYCLE_FROM_BYTES", 1024)
    buffers.release()
    yield
    buffers.release()


def test_a_dropped_array_gives_its_memory_to_the_next_of_its_size():
    first = buffers.empty((64, 8), np.float32)
    address = buffers._address(first)
    del first
    again = buffers.empty((32, 32), np.int16)  # another shape and dtype, the same bytes
    assert buffers._address(again) == address
    assert again.flags.c_contiguous
    assert again.flags.writeable


def test_memory_still_held_through_a_view_is_never_handed_out():
    first = buffers.empty((64, 8), np.float32)
    first[...] = 7.0
    view = first[3:5]  # keeps the buffer
    del first
    second = buffers.empty((64, 8), np.float32)
    second[...] = 0.0
    assert_array_equal(view, 7.0)
    assert not np.shares_memory(view, second)


def test_small_arrays_are_plain():
    assert buffers.empty((4,), np.float32).base is None


def test_nothing_is_recycled_while_tracemalloc_traces():
    first = buffers.empty((64, 8), np.float32)
    address = buffers._address(first)
    del first
    tracemalloc.start()
    try:
        traced = buffers.empty((64, 8), np.float32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert buffers._address(traced) != address
    assert peak >= traced.nbytes  # counted as the fresh allocation it is


def test_idle_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(buffers, "idle_budget", lambda: 5000)
    arrays = [buffers.empty((1024,), np.uint8) for _ in range(3)]
    arrays += [buffers.empty((2048,), np.uint8) for _ in range(3)]
    del arrays
    assert buffers.idle_bytes() <= 5000
    assert all(len(kept) <= buffers.IDLE_PER_SIZE for kept in buffers._idle.values())
    buffers.release()
    assert buffers.idle_bytes() == 0


def test_threads_allocating_at_once_never_share_live_memory():
    failures = []
    barrier = threading.Barrier(8)

    def work(number: int) -> None:
        barrier.wait()
        for step in range(200):
            array = buffers.empty((256,), np.int64)
            array[...] = number * 1000 + step
            if not (array == number * 1000 + step).all():
                failures.append((number, step))

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_forward_and_backward_on_recycled_memory_stay_correct():
    spec = PoolSpec((3, 3), stride=2, padding=1)
    x = np.random.default_rng(0).standard_normal((8, 3, 20, 20))
    expected = impls.get("naive").forward(x, spec)
    grad = np.random.default_rng(1).standard_normal(expected[0].shape)
    expected_grad = impls.get("naive").backward(grad, expected[1], x.shape, spec)
    for name in ("sliced", "reshape", "numba"):
        if name not in impls.names():
            continue
        impl = type(impls.get(name))()
        kept = []
        for _ in range(3):  # later calls run on the memory of dropped results
            values, indices = impl.forward(x, spec)
            assert_array_equal(values, expected[0])
            assert_array_equal(indices, expected[1])
            grad_in = impl.backward(grad, indices, x.shape, spec)
            assert_array_equal(grad_in, expected_grad)
            kept.append(values)  # one result kept: its memory must stay its own
        for values in kept:
            assert_array_equal(values, expected[0])
