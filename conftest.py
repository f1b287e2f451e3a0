"""Test collection for the whole tree: the numba modules need numba, an optional extra.

Without numba installed, their doctests are not collected (``tests/test_numba.py``
skips itself).
"""

from __future__ import annotations

import importlib.util

collect_ignore = (
    []
    if importlib.util.find_spec("numba") is not None
    else ["impls/fast/numba_kernels.py", "impls/fast/numba_pool.py"]
)
