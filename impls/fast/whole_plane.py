"""Whole-plane max pooling: when one window covers every plane, a reshape and an argmax.

Global max pooling (the head of ResNet-50, a 1-D kernel as long as the
signal) has one window per plane, and that window reads the whole plane in
row-major order, whatever padding surrounds it. Its first maximum is then
`numpy.argmax` of the flattened plane, which already follows the contract:
the first of equal maxima, and the first NaN when there is one. Values are
read back from the input at those indices, so ``-0.0`` stays ``-0.0``.

`impls.fast.auto` sends such calls here; on any other geometry `WholePlaneMaxPool`
refuses (`is_whole_plane` tells which is which). Backward is the shared flat
scatter of `impls.fast.blocks`.

Cost
----
With ``B`` planes of ``P`` elements: forward one pass over the input, O(B*P),
and no scratch for C-contiguous planes (a block-sized copy otherwise), in
blocks split across threads. Backward: as `impls.fast.view_running_max`.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> x = np.array([[[1., 7.], [7., 2.]], [[0., -0.], [-1., -2.]]])
>>> values, indices = WholePlaneMaxPool().forward(x, PoolSpec((2, 2)))
>>> values.ravel(), indices.ravel()
(array([7., 0.]), array([1, 0]))
"""

from __future__ import annotations

import numpy as np

from ..geometry import Geometry
from .blocks import BlockedMaxPool, BlockWorker, ForwardPlan
from .planes import PlaneSource

__all__ = ["WholePlaneMaxPool", "is_whole_plane"]


def is_whole_plane(geometry: Geometry) -> bool:
    """Whether each plane has one window, reading all of the plane in row-major order.

    ``geometry`` must be compact (`impls.geometry.Geometry.compact`): its
    kernel then spans exactly the input elements the window reads.
    """
    spec = geometry.spec
    return all(
        out == 1 and kernel == length and dilation == 1 and begin == 0
        for out, kernel, length, dilation, (begin, _) in zip(
            geometry.output_spatial,
            spec.kernel_size,
            geometry.spatial_shape,
            spec.dilation,
            geometry.pads,
            strict=True,
        )
    )


class WholePlaneMaxPool(BlockedMaxPool):
    """One argmax per plane, for windows that cover the whole plane; threaded over planes.

    Parameters
    ----------
    threads : int, optional
        Threads to split the leading axes over; default `impls.fast.threads.get_num_threads`.
    """

    name = "wholeplane"

    def forward_plan(self, array: np.ndarray, geometry: Geometry) -> tuple[ForwardPlan, int]:
        if not is_whole_plane(geometry.compact):
            raise ValueError(f"{self.name} needs one window over the whole plane, got {geometry}")
        return super().forward_plan(array, geometry)

    def forward_worker(
        self,
        planes: PlaneSource,
        values: np.ndarray,
        indices: np.ndarray,
        geometry: Geometry,
        capacity: int,
    ) -> BlockWorker:
        if not is_whole_plane(geometry):
            raise ValueError(f"{self.name} needs one window over the whole plane, got {geometry}")

        def work(block: slice) -> None:
            n = block.stop - block.start
            flat = planes[block].reshape(n, -1)
            selected = flat.argmax(axis=1)[:, np.newaxis]
            indices[block].reshape(n, 1)[...] = selected
            values[block].reshape(n, 1)[...] = np.take_along_axis(flat, selected, axis=1)

        return work
