"""One cache, bounded in bytes, for the per-geometry tables of the fast implementations.

A layer calls forward with the same shapes at every step, so the tables each
geometry needs (`impls.fast.window_codes.code_tables`, `impls.fast.staging.staged_layout`, the
stages of `impls.fast.separable`) are kept between calls. Some are shaped like the
output, so a cache bounded by its number of entries could keep gigabytes alive
after the calls are over (variable-length audio: a new geometry per clip).
This one holds at most `BUDGET_BYTES` of arrays over all the cached functions
together, dropping the least recently used tables first, and never keeps a
table larger than a quarter of the budget.

Examples
--------
>>> import numpy as np
>>> @table_cache
... def zeros(n):
...     return np.zeros(n)
>>> zeros(3) is zeros(3)
True
>>> zeros(10**7) is zeros(10**7)  # 80 MB: computed on every call, never kept
False
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

__all__ = ["BUDGET_BYTES", "clear", "held_bytes", "table_bytes", "table_cache"]

BUDGET_BYTES = 64 << 20
# Tables above this are rebuilt on every call rather than evict everything else.
LARGEST_KEPT = BUDGET_BYTES // 4

T = TypeVar("T")

_entries: OrderedDict[tuple[Hashable, ...], tuple[Any, int]] = OrderedDict()
_held = 0
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def table_bytes(value: object) -> int:
    """Bytes of the NumPy arrays a table holds: in its dataclass fields, tuples and lists.

    Examples
    --------
    >>> table_bytes((np.zeros(4), [np.zeros(2, np.int8)], "name"))
    34
    """
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(map(table_bytes, value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(table_bytes(getattr(value, field.name)) for field in dataclasses.fields(value))
    return 0


def held_bytes() -> int:
    """Bytes of tables the cache holds now."""
    return _held


def clear() -> None:
    """Drop every cached table."""
    global _held
    with _lock:
        _entries.clear()
        _held = 0


def table_cache(function: Callable[..., T]) -> Callable[..., T]:
    """Cache ``function``'s tables by its (hashable) arguments, within the shared budget."""

    @functools.wraps(function)
    def cached(*args: Hashable) -> T:
        global _held
        key = (function, *args)
        with _lock:
            if key in _entries:
                _entries.move_to_end(key)
                return _entries[key][0]
        value = function(*args)  # outside the lock: tables may take a while
        size = table_bytes(value)
        if size > LARGEST_KEPT:
            return value
        with _lock:
            if key not in _entries:
                _entries[key] = (value, size)
                _held += size
                while _held > BUDGET_BYTES:
                    _, (_, dropped) = _entries.popitem(last=False)
                    _held -= dropped
        return value

    return cached
