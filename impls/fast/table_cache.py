"""One cache, bounded in bytes, for the per-geometry tables of the fast implementations.

A layer calls forward with the same shapes at every step, so the tables each
geometry needs (`impls.fast.window_codes.code_tables`, `impls.fast.staging.staged_layout`, the
stages of `impls.fast.separable`) are kept between calls. Some are shaped like the
output, so a cache bounded by its number of entries could keep gigabytes alive
after the calls are over (variable-length audio: a new geometry per clip).
This one holds at most `BUDGET_BYTES` of arrays over all the cached functions
together, dropping the least recently used tables first, and never keeps a
table larger than a quarter of the budget.

A `PlanCache` keeps, per implementation, what a call decided from the
arguments alone (spec, shape, dtype, strides, alignment), so that a repeated
call does one dictionary lookup before its kernel: see `impls.fast.blocks`.
`clear` empties those too.

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
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

from .threads import ForkSafeLock

__all__ = [
    "BUDGET_BYTES",
    "MAX_PLANS",
    "PLAN_BYTES",
    "PlanCache",
    "clear",
    "held_bytes",
    "table_bytes",
    "table_cache",
]

BUDGET_BYTES = 64 << 20
# Tables above this are rebuilt on every call rather than evict everything else.
LARGEST_KEPT = BUDGET_BYTES // 4

T = TypeVar("T")

_entries: OrderedDict[tuple[Hashable, ...], tuple[Any, int]] = OrderedDict()
_held = 0
_lock = ForkSafeLock()


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
    """Drop every cached table, and every plan of every `PlanCache`."""
    global _held
    with _lock:
        _entries.clear()
        _held = 0
        caches = list(_plan_caches)
    for cache in caches:
        cache.clear()


# Plans per implementation and direction; the oldest goes first beyond this.
MAX_PLANS = 64
# A plan holding more bytes of tables than this is rebuilt on every call
# (from the tables `table_cache` keeps), rather than kept out of the budget.
PLAN_BYTES = 1 << 20

_plan_caches: weakref.WeakSet[PlanCache] = weakref.WeakSet()


class PlanCache:
    """What repeated calls reuse, by the key of their arguments; see the module docstring.

    Lookups take no lock (one ``dict.get``, atomic in CPython); stores do. At
    most `MAX_PLANS` plans, each holding at most `PLAN_BYTES` of tables.

    Examples
    --------
    >>> plans = PlanCache()
    >>> plans.put(("spec", (2, 3)), "plan", held_bytes=0)
    >>> plans.get(("spec", (2, 3)))
    'plan'
    >>> clear(); plans.get(("spec", (2, 3))) is None
    True
    """

    def __init__(self) -> None:
        self._plans: dict[Hashable, Any] = {}
        with _lock:
            _plan_caches.add(self)

    def get(self, key: Hashable) -> Any:
        """The plan stored under ``key``, or None."""
        return self._plans.get(key)

    def put(self, key: Hashable, plan: Any, held_bytes: int) -> None:
        """Keep ``plan`` under ``key`` unless it holds more than `PLAN_BYTES`."""
        if held_bytes > PLAN_BYTES:
            return
        with _lock:
            while len(self._plans) >= MAX_PLANS:
                del self._plans[next(iter(self._plans))]
            self._plans[key] = plan

    def clear(self) -> None:
        """Drop every plan."""
        with _lock:
            self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)


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
