"""The shared worker threads: forked children, concurrent callers, shrinking, thread counts.

Each test forces real threads on tiny inputs (blocks of one plane, threads for
any amount of work), so it runs in well under a second when the pool behaves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import warnings

import numpy as np
import pytest

import impls
from impls import PoolSpec
from impls.fast import gather, table_cache
from impls.fast import threads as parallel
from tests.children import python_code

SPEC = PoolSpec((3, 3), stride=2, padding=1)
DEADLINE_SECONDS = 30.0


@pytest.fixture(autouse=True)
def threads_for_tiny_inputs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1)
    monkeypatch.setattr(parallel, "MIN_BYTES_PER_THREAD", 1)
    monkeypatch.setattr(gather, "SMALL_WINDOW_ELEMENTS", 0)  # small calls take the threads too
    table_cache.clear()  # plans made under other settings
    yield
    table_cache.clear()
    parallel.set_num_threads(None)


def pool_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("maxpool")]


def pooled(planes: int, seed: int = 0) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    x = np.random.default_rng(seed).standard_normal((planes, 9, 10)).astype(np.float32)
    return x, impls.get("naive").forward(x, SPEC)


def test_a_forked_child_can_use_threads():
    parallel.set_num_threads(3)
    x, (_, indices) = pooled(6)
    impls.max_pool(x, (3, 3), 2, 1)  # the parent's pool now has threads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            got = impls.max_pool(x, (3, 3), 2, 1)[1]
            status = 0 if np.array_equal(got, indices) else 2
        finally:
            os._exit(status)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child's threaded call did not return within {DEADLINE_SECONDS} s")


# Eight threads on inputs of different sizes, each asking for 2 to 16 threads
# in turn, so the pool grows while others submit to it. Run in a fresh
# interpreter, where the pool starts empty, with a short switch interval so
# that the threads interleave often.
CONCURRENT_CALLERS = """
import sys, threading
import numpy as np
import impls
from impls.fast import gather
from impls.fast import threads as parallel

sys.setswitchinterval(1e-6)
parallel.BLOCK_BYTES = parallel.MIN_BYTES_PER_THREAD = 1
gather.SMALL_WINDOW_ELEMENTS = 0  # small calls take the threads too
parallel.set_num_threads(16)
spec = impls.PoolSpec((3, 3), 2, 1)
failures = []
barrier = threading.Barrier(8)

def call(planes):
    x = np.random.default_rng(planes).standard_normal((planes, 9, 10)).astype(np.float32)
    expected = impls.get("naive").forward(x, spec)[1]
    try:
        barrier.wait()
        for threads in range(2, 17):
            indices = type(impls.get("sliced"))(threads=threads).forward(x, spec)[1]
            assert np.array_equal(indices, expected), "wrong indices"
        impls.max_pool(x, (3, 3), 2, 1)
    except BaseException as err:
        failures.append(repr(err))

callers = [threading.Thread(target=call, args=(planes,)) for planes in range(2, 18, 2)]
for caller in callers:
    caller.start()
for caller in callers:
    caller.join()
print(failures[:1])
sys.exit(1 if failures else 0)
"""


@pytest.mark.parametrize("run", range(2))
def test_concurrent_callers_while_the_pool_grows(run):
    result = subprocess.run(
        python_code(CONCURRENT_CALLERS),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workers_go_away_when_the_setting_drops():
    parallel.set_num_threads(10_000)
    x, _ = pooled(40)
    impls.get("sliced").forward(x, SPEC)
    assert 1 < len(pool_threads()) <= 39
    parallel.set_num_threads(1)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while pool_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool_threads() == []
    impls.get("sliced").forward(x, SPEC)  # one thread: the caller alone
    assert pool_threads() == []


def test_never_more_workers_than_the_setting():
    parallel.set_num_threads(4)
    x, _ = pooled(40)
    impls.get("sliced").forward(x, SPEC)
    assert len(pool_threads()) <= 3  # the calling thread is the fourth


def test_numpy_integers_set_the_count():
    parallel.set_num_threads(np.int64(2))
    assert parallel.get_num_threads() == 2
    assert type(parallel.get_num_threads()) is int
    parallel.set_num_threads(np.uint8(3))
    assert parallel.get_num_threads() == 3


def test_a_call_from_a_worker_runs_on_that_worker():
    # A worker that waited for other workers could wait forever.
    parallel.set_num_threads(2)
    seen: list[tuple[int, int]] = []

    def outer(start: int, stop: int) -> None:
        parallel.run_split(lambda a, b: seen.append((a, b)), 4, 1, threads=2)

    parallel.run_split(outer, 2, 1, threads=2)
    assert sorted(seen) == [(0, 2), (0, 4), (2, 4)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("reentrant", [False, True])
def test_a_lock_held_at_the_fork_is_free_in_the_child(reentrant):
    lock = parallel.ForkSafeLock(reentrant=reentrant)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(DEADLINE_SECONDS)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(DEADLINE_SECONDS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            status = 1
            try:
                status = 0 if lock._lock.acquire(timeout=5) else 2
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join()
