"""Splitting work over the leading axes across threads.

The leading axes of a max pool are independent, and NumPy releases the GIL
inside its loops, so contiguous ranges of planes can be pooled by several
threads at once. Work is split only where it pays: small calls run on the
calling thread.

The thread count follows the machine (the CPUs this process may run on) unless
set with `set_num_threads`, a ``threads=`` argument, or the environment
variable ``MAXPOOL_NUM_THREADS``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["get_num_threads", "run_blocks", "run_split", "set_num_threads"]

ENV_VARIABLE = "MAXPOOL_NUM_THREADS"
# Below this many input bytes per thread, starting threads costs more than it saves.
MIN_BYTES_PER_THREAD = 1 << 20
# Input bytes per block in `run_blocks`. Small enough that a block and its
# scratch stay in the shared L3 cache across many passes; large enough that
# each NumPy call runs long: with short calls, two threads spend more on
# handing the GIL back and forth than they gain (measured on the six standard
# workloads: 4 MiB beat 1, 2, 8 and 16 MiB for all three fast implementations).
BLOCK_BYTES = 4 << 20

_configured: int | None = None
_executor: ThreadPoolExecutor | None = None
_executor_size = 0
_executor_lock = threading.Lock()


@functools.cache
def _machine_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check_count(threads: object, name: str) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{name} must be a positive int, got {threads!r}")
    return threads


def get_num_threads() -> int:
    """The number of threads the fast implementations use by default.

    Examples
    --------
    >>> get_num_threads() >= 1
    True
    """
    if _configured is not None:
        return _configured
    from_env = os.environ.get(ENV_VARIABLE)
    if from_env:
        try:
            return _check_count(int(from_env), ENV_VARIABLE)
        except ValueError:
            raise ValueError(f"{ENV_VARIABLE} must be a positive int, got {from_env!r}") from None
    return _machine_threads()


def set_num_threads(threads: int | None) -> None:
    """Set the default thread count; ``None`` returns to the machine's count."""
    global _configured
    _configured = None if threads is None else _check_count(threads, "threads")


def _pool(workers: int) -> ThreadPoolExecutor:
    global _executor, _executor_size
    with _executor_lock:
        if _executor is None or _executor_size < workers:
            if _executor is not None:
                _executor.shutdown(wait=False)
            _executor = ThreadPoolExecutor(workers, thread_name_prefix="maxpool")
            _executor_size = workers
        return _executor


def _workers(items: int, item_bytes: int, threads: int | None) -> int:
    """Threads worth starting: at most ``threads``, at least one item and 1 MiB each."""
    wanted = get_num_threads() if threads is None else _check_count(threads, "threads")
    return max(1, min(wanted, items, (items * item_bytes) // MIN_BYTES_PER_THREAD))


def run_split(
    body: Callable[[int, int], None], items: int, item_bytes: int, threads: int | None
) -> None:
    """Call ``body(start, stop)`` on contiguous ranges covering ``range(items)``.

    Ranges run on up to ``threads`` threads (default `get_num_threads`), fewer
    when there is too little work per thread to pay for the hand-off. ``body``
    must only write to its own range. Exceptions propagate to the caller.
    """
    _run_ranges(body, items, _workers(items, item_bytes, threads))


def _run_ranges(body: Callable[[int, int], None], items: int, workers: int) -> None:
    if workers == 1:
        body(0, items)
        return
    bounds = [items * part // workers for part in range(workers + 1)]
    pool = _pool(workers - 1)
    futures = [pool.submit(body, bounds[part], bounds[part + 1]) for part in range(workers - 1)]
    try:
        body(bounds[-2], bounds[-1])  # the calling thread takes the last range
    finally:
        wait(futures)  # never leave a thread writing after we return or raise
    for future in futures:
        future.result()


def run_blocks(
    make_worker: Callable[[int], Callable[[slice], None]],
    items: int,
    item_bytes: int,
    threads: int | None,
    *,
    scratch_per_item: int = 0,
    scratch_budget: int = 0,
) -> None:
    """Process ``range(items)`` in blocks, split across threads.

    Each thread takes a contiguous range (`run_split`), calls
    ``make_worker(largest_block)`` once to build a worker with its own scratch
    buffers, then calls ``worker(block)`` on consecutive slices of its range.
    A block holds about `BLOCK_BYTES` of input (so it stays in cache), and
    fewer items where the workers' scratch, ``scratch_per_item`` bytes per
    item, would otherwise exceed ``scratch_budget`` bytes in all; always at
    least one item.
    """
    workers = _workers(items, item_bytes, threads)
    per_block = BLOCK_BYTES // max(item_bytes, 1)
    if scratch_per_item:
        per_block = min(per_block, scratch_budget // (workers * scratch_per_item))
    per_block = max(1, per_block)

    def walk(start: int, stop: int) -> None:
        worker = make_worker(min(per_block, stop - start))
        for first in range(start, stop, per_block):
            worker(slice(first, min(first + per_block, stop)))

    _run_ranges(walk, items, workers)
