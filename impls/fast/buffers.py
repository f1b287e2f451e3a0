"""Large outputs in recycled memory: a training loop's outputs cost no page faults.

A fresh array of tens of megabytes comes from the system as new pages
(glibc maps anything above 32 MiB directly), and the first write to each
page traps into the kernel, which zeroes it: on the ResNet-50 stem's 77 MB of
values and indices that is about 6 ms on 2 cores, as long as reading the
input and writing the outputs again. A loop that pools the same shapes at
every step frees such arrays and asks for new ones of the same size; `empty`
hands back the memory of an array of that size that was dropped, whose pages
are already mapped.

How: a large array is a view of a raw buffer held by a small lease object,
its ``base``. When the last view of it goes, the lease returns the buffer to
an idle list, where the next `empty` of that size finds it. At most
`IDLE_PER_SIZE` buffers of each size and `idle_budget` bytes in all stay
idle; beyond that a buffer is freed as usual. While `tracemalloc` traces,
nothing is recycled, so that measured peak memory counts every output.

Cost: the idle buffers stay allocated after the loop ends (at most
`idle_budget` bytes; `release` frees them). Arrays below `RECYCLE_FROM_BYTES`
are plain `numpy.empty`: glibc already reuses that memory.

Examples
--------
>>> a = empty((RECYCLE_FROM_BYTES // 8,), np.float64)
>>> address = _address(a)
>>> del a
>>> _address(empty((RECYCLE_FROM_BYTES // 4,), np.float32)) == address or tracing()
True
>>> release()
"""

from __future__ import annotations

import contextlib
import math
import tracemalloc

import numpy as np
from numpy.typing import DTypeLike

from ..memory import physical_memory
from .threads import ForkSafeLock

__all__ = [
    "IDLE_PER_SIZE",
    "RECYCLE_FROM_BYTES",
    "empty",
    "idle_budget",
    "idle_bytes",
    "release",
    "tracing",
]

# glibc's largest threshold for mapping allocations directly: below it, freed
# memory is reused by malloc itself.
RECYCLE_FROM_BYTES = 32 << 20
IDLE_PER_SIZE = 2

_idle: dict[int, list[np.ndarray]] = {}
_idle_bytes = 0
# Reentrant: a lease may be collected (and give its buffer back) on this very
# thread while it holds the lock, when a garbage collection runs inside `empty`.
_lock = ForkSafeLock(reentrant=True)


def idle_budget() -> int:
    """Most bytes kept idle: an eighth of physical memory, at most 4 GiB."""
    memory = physical_memory() or 8 << 30
    return min(memory // 8, 4 << 30)


def idle_bytes() -> int:
    """Bytes of buffers idle now, waiting for an `empty` of their size."""
    return _idle_bytes


def tracing() -> bool:
    """Whether `tracemalloc` traces now (then nothing is recycled)."""
    return tracemalloc.is_tracing()


def release() -> None:
    """Free every idle buffer."""
    global _idle_bytes
    with _lock:
        _idle.clear()
        _idle_bytes = 0


def _address(array: np.ndarray) -> int:
    # Not array.ctypes.data: the ctypes helper may sit in a reference cycle, and
    # keep the array (and so its buffer) alive until the next collection.
    address: int = array.__array_interface__["data"][0]
    return address


class _Lease:
    """Holds a raw buffer for the array made on it; gives the buffer back when it goes."""

    __slots__ = ("__array_interface__", "_raw")

    def __init__(self, raw: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._raw = raw
        self.__array_interface__ = {
            "data": (_address(raw), False),
            "shape": shape,
            "typestr": dtype.str,
            "version": 3,
        }

    def __del__(self) -> None:
        # At interpreter shutdown the module may be gone: the buffer is freed then.
        with contextlib.suppress(Exception):
            _give_back(self._raw)


def _give_back(raw: np.ndarray) -> None:
    global _idle_bytes
    size = raw.nbytes
    with _lock:
        kept = _idle.setdefault(size, [])
        if len(kept) < IDLE_PER_SIZE and _idle_bytes + size <= idle_budget():
            kept.append(raw)
            _idle_bytes += size


def _take(size: int) -> np.ndarray | None:
    global _idle_bytes
    with _lock:
        kept = _idle.get(size)
        if not kept:
            return None
        raw = kept.pop()
        _idle_bytes -= size
        return raw


def empty(shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """An uninitialised array, like `numpy.empty`; large ones in recycled memory.

    C-contiguous and aligned like `numpy.empty`'s; its ``base`` is the lease
    of its buffer for the large ones (see the module docstring).
    """
    kind = np.dtype(dtype)
    size = math.prod(shape) * kind.itemsize
    if size < RECYCLE_FROM_BYTES or tracing():
        return np.empty(shape, dtype=kind)
    raw = _take(size)
    if raw is None:
        raw = np.empty(size, dtype=np.uint8)
    return np.asarray(_Lease(raw, tuple(shape), kind))
