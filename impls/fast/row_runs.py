"""How far past an output row the passes of the row kernels may compute.

LLVM vectorises a loop only where it runs often enough, so the passes of
`impls.fast.numba_kernels` over short rows, or rows just past a multiple of the
vector width, compute on into the following outputs (see
`impls.fast.numba_kernels._run`). These constants are shared by the kernels and
by `impls.fast.numba_pool`, which sizes the scratch rows of `pool_rows_3_2` for
them, in a module that does not import numba. numba's on-disk cache knows the
kernels by their own file only: after changing a constant here in a checkout,
touch `impls/fast/numba_kernels.py` too, or the cached kernels keep the old one
(an installed package's files all change together).

Examples
--------
>>> from impls.fast.row_runs import row_room
>>> row_room(56)  # the ResNet-50 stem's rows: 64 computed, 56 kept
80
"""

from __future__ import annotations

__all__ = ["ROW_RUN", "ROW_VECTOR", "row_room"]

# A pass computes at least ROW_RUN outputs, and a multiple of ROW_VECTOR
# where it can. ROW_VECTOR - 1 <= ROW_RUN, which `row_room` counts on.
ROW_RUN = 24
ROW_VECTOR = 16


def row_room(outputs: int) -> int:
    """Positions enough for a pass over any part of a row of ``outputs``, run on.

    A pass over ``n`` outputs from position ``low`` computes
    ``max(ROW_RUN, n rounded up to ROW_VECTOR)`` of them, which ends before
    ``low + n + ROW_RUN``, and ``low + n`` is at most ``outputs``.
    """
    return outputs + ROW_RUN
