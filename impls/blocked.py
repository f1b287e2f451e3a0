"""The skeleton shared by the fast implementations.

`BlockedMaxPool` validates the arguments once, allocates the outputs, and
hands cache-sized blocks of planes to workers on several threads
(`impls.parallel.run_blocks`); backward falls back to a checked
`numpy.add.at` when an index does not decode into its window
(`impls.codes.Undecodable`). A subclass supplies the two workers: functions
of a block (a slice of planes) with their own scratch buffers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .codes import Undecodable, add_at_indices
from .parallel import run_blocks
from .spec import PoolSpec
from .windows import Geometry, prepare_backward, prepare_forward

__all__ = ["BlockWorker", "BlockedMaxPool"]

BlockWorker = Callable[[slice], None]


class BlockedMaxPool:
    """Base class: forward and backward over blocks of planes, split across threads.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.parallel.get_num_threads`.
    """

    name = "blocked"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def forward_worker(
        self,
        planes: np.ndarray,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        """A worker writing ``values[block]`` and ``indices[block]`` from ``planes[block]``.

        ``planes`` is ``(batch, *spatial)``, the outputs ``(batch, *output_spatial)``;
        blocks hold at most ``capacity`` planes.
        """
        raise NotImplementedError

    def backward_worker(
        self,
        grad: np.ndarray,
        indices: np.ndarray,
        grad_in: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        """A worker adding ``grad[block]`` at ``indices[block]`` into zeroed ``grad_in[block]``.

        It raises `impls.codes.Undecodable` for an index it cannot place.
        """
        raise NotImplementedError

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` over its trailing axes; return ``(values, indices)``."""
        array, geometry = prepare_forward(x, spec)
        planes = array.reshape(geometry.batch, *geometry.spatial_shape)
        batch_shape = (geometry.batch, *geometry.output_spatial)
        values = np.empty(batch_shape, dtype=array.dtype)
        indices = np.empty(batch_shape, dtype=np.int64)
        run_blocks(
            lambda capacity: self.forward_worker(planes, values, indices, geometry, capacity),
            geometry.batch,
            geometry.plane_size * array.itemsize,
            self.threads,
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
        # Decoding proves every index lies in its window, hence in the plane:
        # the separate range check runs only on the fallback path.
        grad, index_array, geometry = prepare_backward(
            grad_out, indices, input_shape, spec, in_plane=False
        )
        batch_shape = (geometry.batch, *geometry.output_spatial)
        grad_rows, index_rows = grad.reshape(batch_shape), index_array.reshape(batch_shape)
        grad_in = np.zeros((geometry.batch, *geometry.spatial_shape), dtype=grad.dtype)
        try:
            run_blocks(
                lambda capacity: self.backward_worker(
                    grad_rows, index_rows, grad_in, geometry, capacity
                ),
                geometry.batch,
                geometry.plane_size * grad.itemsize,
                self.threads,
            )
        except Undecodable:
            grad_in.fill(0)
            add_at_indices(grad, index_array, geometry, grad_in)
        return grad_in.reshape(geometry.input_shape)
