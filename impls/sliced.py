"""Sliced max pooling: a running maximum over the K shifted strided views of the input.

For each window offset ``j`` (one per kernel element, in row-major order),
the input elements that offset reads form a strided view,
``x[..., j0*d::s, j1*d::s]`` up to padding. Pooling is a running maximum over
these K views, with no copy of the input:

* Padding is handled by a bounds-aware slice plan, not a padded copy: offset
  ``j`` updates only the block of output positions whose element ``j`` lies
  inside the input, so padding is never read.
* The argmax is a small per-window code (int8 for K <= 127), updated
  branch-free (`impls.codes.update_first_max`). Each window starts from the
  code of its first in-bounds element, so a window whose elements all equal
  the start value (-inf, or an integer dtype's minimum) selects its first one.
* Work goes in cache-sized blocks of planes, split across threads over the
  leading axes (`impls.parallel`).
* NaN never compares greater and ``-0.0 == 0.0``: a block whose maxima hold
  NaN is redone with a NaN-aware comparison, and a zero maximum takes its
  sign from the selected element.

Backward turns each index back into its window code, which also proves it
names an in-bounds element of its own window, and adds the gradients with one
strided add per offset, so overlapping windows accumulate. Indices that do
not decode (``forward`` never returns them) take a checked `numpy.add.at`.

Cost
----
With ``B`` planes of ``P`` elements, ``O`` outputs per plane and ``K``
window elements: forward O(B*O*K), about 4 vectorised passes per offset over
strided views, plus 2 passes for the int64 indices. Extra memory: scratch of
a few block-sized arrays per thread; no K*O or padded intermediates.
Backward: O(B*(P + O*K)), about 3 passes per offset, plus the zeroed result.
The inner loops run along the last output axis, so short rows (small planes)
and strides above 1 cost more per element than in `impls.reshape`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.sliced import SlicedMaxPool
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = SlicedMaxPool().forward(x, PoolSpec((2, 2), stride=1))
>>> values
array([[5., 6.],
       [8., 9.]])
>>> indices
array([[4, 5],
       [7, 8]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .codes import (
    CodeTables,
    Undecodable,
    add_at_indices,
    code_tables,
    codes_to_indices,
    indices_to_codes,
    restore_signed_zeros,
    update_first_max,
)
from .parallel import run_blocks
from .spec import PoolSpec
from .windows import lowest_value, prepare_backward, prepare_forward

__all__ = ["SlicedMaxPool"]


def _forward_block(
    planes: np.ndarray,
    values: np.ndarray,
    indices: np.ndarray,
    tables: CodeTables,
    nan_aware: bool = False,
) -> None:
    """Pool ``(n, *spatial)`` planes into ``(n, *output_spatial)`` values and indices."""
    code = np.empty(values.shape, dtype=tables.dtype)
    greater = np.empty(values.shape, dtype=bool)
    scaled = np.empty(values.shape, dtype=tables.dtype)
    not_nan = np.empty(values.shape, dtype=bool) if nan_aware else None
    offsets = tables.offsets
    if offsets[0].code == 0 and offsets[0].everywhere:
        np.copyto(values, planes[(slice(None), *offsets[0].inputs)])
        code.fill(0)
        offsets = offsets[1:]
    else:
        values.fill(lowest_value(values.dtype))
        np.copyto(code, tables.first_code)
    for offset in offsets:
        block = (slice(None), *offset.outputs)
        update_first_max(
            planes[(slice(None), *offset.inputs)],
            values[block],
            code[block],
            offset.code,
            greater[block],
            scaled[block],
            None if not_nan is None else not_nan[block],
        )
    if values.dtype.kind == "f" and not nan_aware and np.isnan(values, out=greater).any():
        _forward_block(planes, values, indices, tables, nan_aware=True)
        return
    codes_to_indices(code, tables, indices)
    restore_signed_zeros(values, indices, planes, greater)


def _backward_block(
    grad: np.ndarray, indices: np.ndarray, grad_in: np.ndarray, tables: CodeTables
) -> None:
    """Add ``(n, *output_spatial)`` gradients into zeroed ``(n, *spatial)`` planes."""
    code = indices_to_codes(indices, tables)
    finite = grad.dtype.kind != "f" or bool(np.isfinite(grad).all())
    selected = np.empty(grad.shape, dtype=bool)
    contribution = np.empty(grad.shape, dtype=grad.dtype)
    for offset in tables.offsets:
        block = (slice(None), *offset.outputs)
        mask = np.equal(code[block], offset.code, out=selected[block])
        if finite:
            part = np.multiply(grad[block], mask, out=contribution[block])
        else:  # inf * 0 and NaN * 0 are NaN: select instead of multiplying
            part = np.where(mask, grad[block], 0)
        target = grad_in[(slice(None), *offset.inputs)]
        np.add(target, part, out=target)


class SlicedMaxPool:
    """Max pooling by a running maximum over strided views, threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.parallel.get_num_threads`.
    """

    name = "sliced"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` over its trailing axes; return ``(values, indices)``."""
        array, geometry = prepare_forward(x, spec)
        planes = array.reshape(geometry.batch, *geometry.spatial_shape)
        batch_shape = (geometry.batch, *geometry.output_spatial)
        values = np.empty(batch_shape, dtype=array.dtype)
        indices = np.empty(batch_shape, dtype=np.int64)
        tables = code_tables(geometry)

        def pool(block: slice) -> None:
            _forward_block(planes[block], values[block], indices[block], tables)

        run_blocks(pool, geometry.batch, geometry.plane_size * array.itemsize, self.threads)
        return values.reshape(geometry.output_shape), indices.reshape(geometry.output_shape)

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Add each ``grad_out`` element to the input element its index names."""
        grad, index_array, geometry = prepare_backward(
            grad_out, indices, input_shape, spec, in_plane=False
        )
        batch_shape = (geometry.batch, *geometry.output_spatial)
        grad_in = np.zeros((geometry.batch, *geometry.spatial_shape), dtype=grad.dtype)
        tables = code_tables(geometry)
        grad_rows, index_rows = grad.reshape(batch_shape), index_array.reshape(batch_shape)

        def add(block: slice) -> None:
            _backward_block(grad_rows[block], index_rows[block], grad_in[block], tables)

        try:
            run_blocks(add, geometry.batch, geometry.plane_size * grad.itemsize, self.threads)
        except Undecodable:
            grad_in.fill(0)
            add_at_indices(grad, index_array, geometry, grad_in)
        return grad_in.reshape(geometry.input_shape)
