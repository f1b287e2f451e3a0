"""The skeleton shared by the fast implementations.

`BlockedMaxPool` validates the arguments once, allocates the outputs, and
hands cache-sized blocks of planes to workers on several threads
(`impls.fast.threads.run_blocks`). A subclass supplies the forward worker: a
function of a block (a slice of planes) with its own scratch buffers.
Backward is shared: `flat_scatter_worker`.

Large outputs come from `impls.fast.buffers`, which recycles the memory of
dropped outputs of the same size (no page faults in a loop).

Repeated calls: everything a call decides from its arguments alone (the
spec, the input's shape, dtype, strides and alignment) is a *plan*, kept in a
`impls.fast.table_cache.PlanCache` per implementation. A call whose key is
known does one dictionary lookup, then the plan's work: allocating the
outputs and running the kernel. Small calls (`impls.fast.gather.is_small`)
are gathered in four NumPy calls instead of running the worker at all.
The thread count and the block size are read at every call, never kept.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import DTypeLike

from ..geometry import Geometry, check_index_array, prepare_backward, prepare_forward
from ..spec import PoolSpec
from . import buffers
from .gather import gather_plan, is_small
from .planes import PlaneSource, StagedPlanes, planes_of
from .table_cache import PlanCache
from .threads import check_count, run_blocks

__all__ = [
    "BackwardPlan",
    "BlockWorker",
    "BlockedMaxPool",
    "ForwardPlan",
    "backward_key",
    "flat_scatter_worker",
    "forward_key",
]

BlockWorker = Callable[[slice], None]
# A forward plan takes the input (an ndarray of the planned key) and returns
# (values, indices); a backward plan takes (grad_out, indices) arrays.
ForwardPlan = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
BackwardPlan = Callable[[np.ndarray, np.ndarray], np.ndarray]


def forward_key(x: object, spec: object) -> tuple[object, ...] | None:
    """What a forward plan depends on, or None for arguments that are never planned.

    Only exact `numpy.ndarray` inputs and `PoolSpec` specs are planned; the key
    holds every property of the input that changes a plan: shape, dtype (byte
    order included), strides and alignment.
    """
    if type(x) is not np.ndarray or type(spec) is not PoolSpec:
        return None
    return (spec, x.shape, x.dtype, x.strides, x.flags.aligned)


def backward_key(
    grad_out: object, indices: object, input_shape: object, spec: object
) -> tuple[object, ...] | None:
    """What a backward plan depends on, or None for arguments that are never planned.

    ``input_shape`` must be a tuple of exact ints (a bool or a NumPy integer
    equals an int as a key, but is validated differently).
    """
    if (
        type(grad_out) is not np.ndarray
        or type(indices) is not np.ndarray
        or type(input_shape) is not tuple
        or type(spec) is not PoolSpec
        or not all(type(length) is int for length in input_shape)
    ):
        return None
    return (
        spec,
        input_shape,
        grad_out.shape,
        grad_out.dtype,
        grad_out.strides,
        grad_out.flags.aligned,
        indices.shape,
        indices.dtype,
        indices.strides,
        indices.flags.aligned,
    )


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
    # Whether small calls take the gather of `impls.fast.gather` (the NumPy
    # implementations) rather than the worker.
    gathers_small_calls = True

    def __init__(self, threads: int | None = None) -> None:
        self.threads = None if threads is None else check_count(threads, "threads")
        self._forward_plans = PlanCache()
        self._backward_plans = PlanCache()

    def wait_until_compiled(
        self,
        dtypes: Iterable[DTypeLike],
        timeout: float | None = None,
        *,
        shape: Sequence[int] | None = None,
        spec: PoolSpec | None = None,
    ) -> bool:
        """Wait until the compiled kernels this runs on ``dtypes`` are loaded (those calls
        on an input of ``shape`` with ``spec`` run, where given); whether they are.

        Calls never wait for them (`impls.fast.compiled`); benchmarks do, to time
        the kernels rather than the NumPy path that serves meanwhile. True at
        once for the pure-NumPy implementations.
        """
        return True

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
        key = forward_key(x, spec)
        if key is not None:
            plan = self._forward_plans.get(key)
            if plan is not None:
                return plan(x)  # an ndarray: see forward_key
        array, geometry = prepare_forward(x, spec)
        plan, held_bytes = self.forward_plan(array, geometry)
        if key is not None:
            self._forward_plans.put(key, plan, held_bytes)
        return plan(array)

    def forward_plan(self, array: np.ndarray, geometry: Geometry) -> tuple[ForwardPlan, int]:
        """The plan for inputs like ``array`` (validated, of ``geometry``), and the bytes
        of tables it holds (see `impls.fast.table_cache.PlanCache`)."""
        compact = geometry.compact
        if self.gathers_small_calls and is_small(compact):
            run = gather_plan(compact)
            return run, 3 * compact.batch * compact.output_plane_size * compact.spec.window_size
        return self.blocked_plan(array, compact), 0

    def blocked_plan(self, array: np.ndarray, geometry: Geometry) -> ForwardPlan:
        """The plan that runs `forward_worker` over blocks of planes (``geometry`` compact)."""
        ndim, dtype = geometry.spec.ndim, array.dtype
        batch_shape = (geometry.batch, *geometry.output_spatial)
        out_shape = geometry.output_shape
        staged = isinstance(planes_of(array, ndim), StagedPlanes)  # the layout decides
        scratch = self.forward_scratch_bytes(geometry, dtype)
        if staged:
            scratch += geometry.plane_size * array.itemsize
        item_bytes = geometry.plane_size * array.itemsize
        spatial = geometry.spatial_shape

        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            planes = StagedPlanes(x, ndim) if staged else x.reshape(geometry.batch, *spatial)
            values = buffers.empty(batch_shape, dtype)
            indices = buffers.empty(batch_shape, np.int64)

            def make_worker(capacity: int) -> BlockWorker:
                source = planes.blocks(capacity) if isinstance(planes, StagedPlanes) else planes
                return self.forward_worker(source, values, indices, geometry, capacity)

            run_blocks(
                make_worker,
                geometry.batch,
                item_bytes,
                self.threads,
                scratch_per_item=scratch,
                scratch_budget=int(SCRATCH_FRACTION * (values.nbytes + indices.nbytes)),
            )
            return values.reshape(out_shape), indices.reshape(out_shape)

        return run

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Add each ``grad_out`` element to the input element its index names."""
        key = backward_key(grad_out, indices, input_shape, spec)
        if key is not None:
            plan = self._backward_plans.get(key)
            if plan is not None:
                return plan(grad_out, indices)  # ndarrays: see backward_key
        # The plane-range check runs per block, while each block is in cache
        # (or in the compiled scatter).
        grad, index_array, geometry = prepare_backward(
            grad_out, indices, input_shape, spec, in_plane=False
        )
        plan = self.backward_plan(grad, index_array, geometry)
        if key is not None:
            self._backward_plans.put(key, plan, 0)
        return plan(grad, index_array)

    def backward_plan(
        self, grad: np.ndarray, indices: np.ndarray, geometry: Geometry
    ) -> BackwardPlan:
        """The plan for gradients and indices like these (validated, of ``geometry``)."""
        batch_shape = (geometry.batch, *geometry.output_spatial)
        grad_shape = (geometry.batch, *geometry.spatial_shape)
        dtype = grad.dtype
        zero_here = math.prod(grad_shape) * grad.itemsize >= ZERO_IN_WORKERS_BYTES
        item_bytes = geometry.plane_size * grad.itemsize

        def run(grad_out: np.ndarray, indices: np.ndarray) -> np.ndarray:
            grad_rows = grad_out.reshape(batch_shape)
            index_rows = indices.astype(np.intp, copy=False).reshape(batch_shape)
            if zero_here:  # zeroed by the workers
                grad_in = buffers.empty(grad_shape, dtype)
            else:
                grad_in = np.zeros(grad_shape, dtype)
            try:
                run_blocks(
                    lambda capacity: flat_scatter_worker(
                        grad_rows, index_rows, grad_in, geometry, capacity, zero_here
                    ),
                    geometry.batch,
                    item_bytes,
                    self.threads,
                )
            except _OutsidePlane:
                check_index_array(indices, "indices", geometry)  # raises the usual ValueError
                raise AssertionError("an index left its plane but passed the check") from None
            return grad_in.reshape(geometry.input_shape)

        return run
