"""A guard on the time and memory one call may take: `bounded`.

Calls with bad arguments must fail fast and small; an implementation that
allocates by a hostile parameter before validating, or loops forever, fails
the property instead of taking the machine down.

Examples
--------
>>> import numpy as np
>>> with bounded("a small call"):
...     _ = np.zeros(1000)
"""

from __future__ import annotations

import contextlib
import signal
import threading
import tracemalloc
from collections.abc import Iterator

from .diagnose import fail

__all__ = ["MEMORY_LIMIT", "TIME_LIMIT", "bounded"]

# Generous limits for calls on inputs of a few hundred elements.
MEMORY_LIMIT = 256 * 2**20
TIME_LIMIT = 20


@contextlib.contextmanager
def bounded(context: str) -> Iterator[None]:
    """Fail if the block allocates more than MEMORY_LIMIT or runs over TIME_LIMIT seconds.

    NumPy reports its buffers to tracemalloc, so an implementation that
    allocates a huge array before validating (even lazily, with calloc) is
    caught without the memory being touched. The time limit needs SIGALRM
    and the main thread; elsewhere it is not enforced.
    """

    def expire(signum: int, frame: object) -> None:
        kind = f"a call with bad arguments runs for more than {TIME_LIMIT} s"
        fail(kind, f"{kind} [{context}]")

    alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, expire)
        signal.alarm(TIME_LIMIT)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        if peak > MEMORY_LIMIT:
            kind = f"a call with bad arguments allocates more than {MEMORY_LIMIT // 2**20} MiB"
            fail(kind, f"{kind}: {peak / 2**20:.0f} MiB [{context}]")
    finally:
        if not tracing:
            tracemalloc.stop()
        if alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
