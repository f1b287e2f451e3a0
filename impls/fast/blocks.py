"""The skeleton shared by the fast implementations.

`BlockedMaxPool` validates the arguments once, allocates the outputs, and
hands cache-sized blocks of planes to workers on several threads
(`impls.fast.threads.run_blocks`). A subclass supplies the forward worker: a
function of a block (a slice of planes) with its own scratch buffers.
Backward is shared: `flat_scatter_worker`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..geometry import Geometry, check_index_array, prepare_backward, prepare_forward
from ..spec import PoolSpec
from .planes import PlaneSource, StagedPlanes, planes_of
from .threads import run_blocks

__all__ = ["BlockWorker", "BlockedMaxPool", "flat_scatter_worker"]

BlockWorker = Callable[[slice], None]

# Forward scratch, over all threads, stays below this fraction of the size of
# values plus indices (which forward allocates anyway).
SCRATCH_FRACTION = 0.3


class _OutsidePlane(Exception):
    """An index outside its plane; the caller reports it with the usual message."""


# From this size on, the gradient is allocated uninitialised and each worker
# zeroes its own block. Arrays this large are fresh pages from the system
# (glibc maps them directly), so their first touch, page faults included,
# then happens in parallel and outside the GIL that np.add.at holds, with the
# block left in cache for the scatter: ResNet-50 stem 55 -> 29 ms. Below it,
# np.zeros (calloc) is faster: LeNet-5 0.27 against 0.31 ms.
ZERO_IN_WORKERS_BYTES = 32 << 20

# Up to this size, each plane's start is stored once per output rather than
# broadcast along the row: the add then runs 10% faster on small calls
# (measured on LeNet-5, where backward is all fixed costs and the scatter).
_EXPANDED_STARTS_BYTES = 1 << 20


@functools.lru_cache(maxsize=16)
def _plane_starts(plane: int, outputs: int, capacity: int) -> np.ndarray:
    """Flat start of each plane of a block, to add to ``(capacity, outputs)`` indices."""
    starts = (np.arange(capacity, dtype=np.intp) * plane)[:, np.newaxis]
    if capacity * outputs * starts.itemsize <= _EXPANDED_STARTS_BYTES:
        starts = np.repeat(starts, outputs, axis=1)
    starts.flags.writeable = False  # shared between calls and threads
    return starts


def flat_scatter_worker(
    grad: np.ndarray,
    indices: np.ndarray,
    grad_in: np.ndarray,
    geometry: Geometry,
    capacity: int,
    zero_here: bool = False,
) -> BlockWorker:
    """Backward by `numpy.add.at` on flat indices, one block of planes at a time.

    With a one-dimensional target and intp indices, `numpy.add.at` takes a
    fast path (8 to 10 times faster than with a tuple of per-axis indices in
    one measurement with NumPy 2.4, and far cheaper than any masked pass per
    window offset): each block's
    per-plane indices are offset by their plane's start in the flat block
    and scattered in one call. Accumulation follows output order, as in the
    naive oracle, so sums agree bit for bit. ``indices`` must be intp. With
    ``zero_here``, ``grad_in`` comes uninitialised and each block is zeroed
    just before its scatter (see `ZERO_IN_WORKERS_BYTES`).
    """
    plane, outputs = geometry.plane_size, geometry.output_plane_size
    starts = _plane_starts(plane, outputs, capacity)
    targets = np.empty((capacity, outputs), dtype=np.intp)

    def work(block: slice) -> None:
        n = block.stop - block.start
        local = indices[block].reshape(n, outputs)  # rows of a plane: long inner loops
        # Checked per block, while the block is in cache, before any write; as
        # unsigned integers, negative indices are huge: one pass instead of two.
        if local.size and local.view(np.uintp).max() >= plane:
            raise _OutsidePlane
        target = np.add(local, starts[:n], out=targets[:n])
        flat_block = grad_in[block].reshape(-1)
        if zero_here:
            flat_block.fill(0)
        np.add.at(flat_block, target.reshape(-1), grad[block].reshape(-1))

    return work


class BlockedMaxPool:
    """Base class: forward and backward over blocks of planes, split across threads.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "blocked"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def forward_worker(
        self,
        planes: PlaneSource,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        """A worker writing ``values[block]`` and ``indices[block]`` from ``planes[block]``.

        ``planes[block]`` is ``(n, *spatial)`` (`impls.fast.planes`), the outputs
        ``(batch, *output_spatial)``; blocks hold at most ``capacity`` planes.
        """
        raise NotImplementedError

    def forward_scratch_bytes(self, geometry: Geometry, dtype: np.dtype) -> int:
        """Bytes of scratch a forward worker needs per plane of its capacity."""
        return 0

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` over its trailing axes; return ``(values, indices)``.

        The input is never copied whole. When its leading axes cannot be
        merged into one without a copy (NHWC data viewed as NCHW), each thread
        copies one block of planes at a time into a buffer of its own
        (`impls.fast.planes`), counted in the scratch budget.
        """
        array, geometry = prepare_forward(x, spec)
        geometry = geometry.compact  # padding and dilation size nothing from here on
        planes = planes_of(array, spec.ndim)
        batch_shape = (geometry.batch, *geometry.output_spatial)
        values = np.empty(batch_shape, dtype=array.dtype)
        indices = np.empty(batch_shape, dtype=np.int64)
        scratch = self.forward_scratch_bytes(geometry, array.dtype)
        if isinstance(planes, StagedPlanes):
            scratch += geometry.plane_size * array.itemsize

        def make_worker(capacity: int) -> BlockWorker:
            source = planes.blocks(capacity) if isinstance(planes, StagedPlanes) else planes
            return self.forward_worker(source, values, indices, geometry, capacity)

        run_blocks(
            make_worker,
            geometry.batch,
            geometry.plane_size * array.itemsize,
            self.threads,
            scratch_per_item=scratch,
            scratch_budget=int(SCRATCH_FRACTION * (values.nbytes + indices.nbytes)),
        )
        return values.reshape(geometry.output_shape), indices.reshape(geometry.output_shape)

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Add each ``grad_out`` element to the input element its index names."""
        # The plane-range check runs per block, while each block is in cache.
        grad, index_array, geometry = prepare_backward(
            grad_out, indices, input_shape, spec, in_plane=False
        )
        batch_shape = (geometry.batch, *geometry.output_spatial)
        grad_rows = grad.reshape(batch_shape)
        index_rows = index_array.astype(np.intp, copy=False).reshape(batch_shape)
        grad_shape = (geometry.batch, *geometry.spatial_shape)
        zero_here = math.prod(grad_shape) * grad.itemsize >= ZERO_IN_WORKERS_BYTES
        grad_in = (np.empty if zero_here else np.zeros)(grad_shape, dtype=grad.dtype)
        try:
            run_blocks(
                lambda capacity: flat_scatter_worker(
                    grad_rows, index_rows, grad_in, geometry, capacity, zero_here
                ),
                geometry.batch,
                geometry.plane_size * grad.itemsize,
                self.threads,
            )
        except _OutsidePlane:
            check_index_array(index_array, "indices", geometry)  # raises the usual ValueError
            raise AssertionError("an index left its plane but passed the check") from None
        return grad_in.reshape(geometry.input_shape)
