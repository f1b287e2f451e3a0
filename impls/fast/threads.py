"""Splitting work over the leading axes across threads.

The leading axes of a max pool are independent, and NumPy releases the GIL
inside its loops, so contiguous ranges of planes can be pooled by several
threads at once. Work is split only where it pays: small calls run on the
calling thread.

The thread count follows the machine (the CPUs this process may run on) unless
set with `set_num_threads`, a ``threads=`` argument, or the environment
variable ``MAXPOOL_NUM_THREADS``.

The worker threads are shared by all calls. Any number of threads may call at
once; the pool grows to the largest count asked for and shrinks when
`set_num_threads` lowers the setting; a child made with ``os.fork`` starts
with an empty pool of its own; a call made from a worker runs on that worker.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable

from ..spec import as_int

try:  # queue's own: importing the queue module costs 1.9 ms (heapq), this 0.1
    from _queue import SimpleQueue
except ImportError:  # an interpreter without CPython's _queue
    from queue import SimpleQueue

__all__ = [
    "ForkSafeLock",
    "check_count",
    "get_num_threads",
    "run_blocks",
    "run_split",
    "set_num_threads",
    "worker_count",
]

ENV_VARIABLE = "MAXPOOL_NUM_THREADS"
# Below this many input bytes per thread, starting threads costs more than it saves.
MIN_BYTES_PER_THREAD = 1 << 20
# Input bytes per block in `run_blocks`. Small enough that a block and its
# scratch stay in the shared L3 cache across many passes; large enough that
# each NumPy call runs long: with short calls, two threads spend more on
# handing the GIL back and forth than they gain (measured on the six standard
# workloads: 4 MiB beat 1, 2, 8 and 16 MiB for all three fast implementations).
BLOCK_BYTES = 4 << 20
THREAD_NAME_PREFIX = "maxpool"

_configured: int | None = None


class ForkSafeLock:
    """A lock (``with lock: ...``) that a child made with ``os.fork`` gets fresh.

    Another thread may have held it at the fork, and that thread does not exist
    in the child. ``reentrant`` makes it an `threading.RLock`.

    Examples
    --------
    >>> lock = ForkSafeLock()
    >>> with lock:
    ...     pass
    """

    def __init__(self, *, reentrant: bool = False) -> None:
        self._factory = threading.RLock if reentrant else threading.Lock
        self._lock = self._factory()
        if hasattr(os, "register_at_fork"):  # not on Windows
            os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._lock = self._factory()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _Task:
    """One range of a call, run by a worker; the caller waits on ``done``."""

    __slots__ = ("body", "done", "error", "start", "stop")

    def __init__(self, body: Callable[[int, int], None], start: int, stop: int) -> None:
        self.body, self.start, self.stop = body, start, stop
        self.done = threading.Lock()
        self.done.acquire()  # released by the worker once the range is pooled
        self.error: BaseException | None = None

    def run(self) -> None:
        _worker_state.active = True  # a nested call from here runs on this thread alone
        try:
            self.body(self.start, self.stop)
        except BaseException as err:  # handed to the caller, which raises it
            self.error = err
        finally:
            self.done.release()

    def wait(self) -> None:
        """Until the range is done, even if a signal's handler raises meanwhile (the
        first such exception is raised once it is done)."""
        interrupted: BaseException | None = None
        while True:
            try:
                self.done.acquire()
            except BaseException as err:  # KeyboardInterrupt: a worker still writes
                interrupted = interrupted or err
                continue
            self.done.release()
            break
        if interrupted is not None:
            raise interrupted


class _Pool:
    """The worker threads shared by every call, as many as the largest call so far asked for.

    Each call takes the last range itself, so a call on ``n`` threads needs
    ``n - 1`` workers. Workers take ranges from one first-in, first-out queue
    until they take a ``None``, which `shrink` puts there for each thread above
    a lower setting; so a worker exits only after the work queued before it.
    (Not `concurrent.futures`: importing it imports `logging`, 2.6 ms on the
    first threaded call, and each of its futures holds a condition variable.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: SimpleQueue[_Task | None] = SimpleQueue()
        self._size = 0  # workers running and not told to exit

    def submit(
        self, body: Callable[[int, int], None], ranges: list[tuple[int, int]]
    ) -> list[_Task]:
        tasks = [_Task(body, start, stop) for start, stop in ranges]
        with self._lock:
            while self._size < len(tasks):
                name = f"{THREAD_NAME_PREFIX}_{next(_thread_numbers)}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
                self._size += 1
            for task in tasks:
                self._queue.put(task)
        return tasks

    def shrink(self, workers: int) -> None:
        """Keep at most ``workers`` threads; the others exit once the work queued now is done."""
        with self._lock:
            while self._size > workers:
                self._queue.put(None)
                self._size -= 1

    def _work(self) -> None:
        queue = self._queue
        while (task := queue.get()) is not None:
            task.run()


_thread_numbers = itertools.count()
_pool = _Pool()
_worker_state = threading.local()


def _after_fork_in_child() -> None:
    # A forked child inherits the pool object but not its threads, and maybe
    # a lock some other thread held: start from an empty pool.
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


@functools.cache
def _machine_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_count(threads: object, name: str) -> int:
    """``threads`` as a positive int; `TypeError` or `ValueError` naming ``name`` otherwise."""
    count = as_int(threads, name)
    if count < 1:
        raise ValueError(f"{name} must be a positive int, got {count}")
    return count


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
            return check_count(int(from_env), ENV_VARIABLE)
        except ValueError:
            raise ValueError(f"{ENV_VARIABLE} must be a positive int, got {from_env!r}") from None
    return _machine_threads()


def set_num_threads(threads: int | None) -> None:
    """Set the default thread count; ``None`` returns to the machine's count.

    Worker threads beyond the new count exit once their current work is done.

    Raises
    ------
    TypeError
        If ``threads`` is not an integer (any NumPy integer is fine).
    ValueError
        If ``threads`` is below 1.

    Examples
    --------
    >>> import numpy as np
    >>> set_num_threads(np.int64(2)); get_num_threads()
    2
    >>> set_num_threads(None)
    """
    global _configured
    _configured = None if threads is None else check_count(threads, "threads")
    try:
        count = get_num_threads()
    except ValueError:
        return  # a bad MAXPOOL_NUM_THREADS: the next call reports it
    _pool.shrink(count - 1)


def worker_count(items: int, item_bytes: int, threads: int | None) -> int:
    """Threads worth starting: at most ``threads``, at least one item and 1 MiB each."""
    wanted = get_num_threads() if threads is None else check_count(threads, "threads")
    if getattr(_worker_state, "active", False):
        return 1  # already on a worker: waiting for other workers could deadlock
    return max(1, min(wanted, items, (items * item_bytes) // MIN_BYTES_PER_THREAD))


def run_split(
    body: Callable[[int, int], None], items: int, item_bytes: int, threads: int | None
) -> None:
    """Call ``body(start, stop)`` on contiguous ranges covering ``range(items)``.

    Ranges run on up to ``threads`` threads (default `get_num_threads`), fewer
    when there is too little work per thread to pay for the hand-off. ``body``
    must only write to its own range. Exceptions propagate to the caller.
    Safe to call from several threads at once, and in a forked child.
    """
    _run_ranges(body, items, worker_count(items, item_bytes, threads))


def _run_ranges(body: Callable[[int, int], None], items: int, workers: int) -> None:
    if workers == 1:
        body(0, items)
        return
    bounds = [items * part // workers for part in range(workers + 1)]
    tasks = _pool.submit(body, [(bounds[part], bounds[part + 1]) for part in range(workers - 1)])
    try:
        body(bounds[-2], bounds[-1])  # the calling thread takes the last range
    finally:
        interrupted: BaseException | None = None
        for task in tasks:  # never leave a thread writing after we return or raise
            try:
                task.wait()
            except BaseException as err:
                interrupted = interrupted or err
        if interrupted is not None:
            raise interrupted
    for task in tasks:
        if task.error is not None:
            raise task.error


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
    workers = worker_count(items, item_bytes, threads)
    per_block = BLOCK_BYTES // max(item_bytes, 1)
    if scratch_per_item:
        per_block = min(per_block, scratch_budget // (workers * scratch_per_item))
    per_block = max(1, per_block)

    def walk(start: int, stop: int) -> None:
        worker = make_worker(min(per_block, stop - start))
        for first in range(start, stop, per_block):
            worker(slice(first, min(first + per_block, stop)))

    _run_ranges(walk, items, workers)
