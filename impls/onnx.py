"""Conversion between the contract's indices and ONNX MaxPool's ``Indices`` output.

The contract's indices are per plane: the flat row-major index into the
unpadded pooled plane of each leading position. ONNX flattens the whole
``(N, C, *spatial)`` tensor instead, so its index also counts the planes
before, and with ``storage_order=1`` it numbers each plane column-major.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geometry import Geometry, check_index_array, geometry_for_shape
from .spec import PoolSpec

__all__ = ["from_onnx_indices", "to_onnx_indices"]


def _check_storage_order(storage_order: object) -> None:
    if storage_order not in (0, 1) or isinstance(storage_order, bool):
        raise ValueError(
            f"storage_order must be 0 (row-major) or 1 (column-major), got {storage_order!r}"
        )


def _plane_offsets(geometry: Geometry) -> np.ndarray:
    """Flat offset of the first element of each plane, broadcastable to the output."""
    planes = np.arange(geometry.batch, dtype=np.int64) * geometry.plane_size
    return planes.reshape(geometry.lead_shape + (1,) * geometry.spec.ndim)


def to_onnx_indices(
    indices: object,
    input_shape: Sequence[int],
    spec: PoolSpec,
    *,
    storage_order: int = 0,
) -> np.ndarray:
    """Convert per-plane indices to ONNX MaxPool's ``Indices`` output.

    Parameters
    ----------
    indices : array_like of int
        Indices returned by ``forward`` for an input of shape ``input_shape``.
    input_shape : tuple of int
        Shape of the pooled input.
    spec : PoolSpec
        The pooling that produced ``indices``.
    storage_order : {0, 1}, optional
        0 numbers each plane row-major, 1 column-major, as ONNX's attribute.

    Returns
    -------
    ndarray of int64
        Flat indices into the whole input tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from impls import PoolSpec, max_pool
    >>> x = np.arange(32.0).reshape(2, 1, 4, 4)
    >>> _, indices = max_pool(x, (2, 2))
    >>> to_onnx_indices(indices, x.shape, PoolSpec((2, 2)))[1, 0]
    array([[21, 23],
           [29, 31]])
    >>> to_onnx_indices(indices, x.shape, PoolSpec((2, 2)), storage_order=1)[1, 0]
    array([[21, 29],
           [23, 31]])
    """
    _check_storage_order(storage_order)
    geometry = geometry_for_shape(input_shape, spec)
    index_array = check_index_array(indices, "indices", geometry).astype(np.int64)
    if storage_order == 1:
        coords = np.unravel_index(index_array, geometry.spatial_shape)
        index_array = np.ravel_multi_index(coords, geometry.spatial_shape, order="F")
    onnx_indices: np.ndarray = index_array + _plane_offsets(geometry)
    return onnx_indices


def from_onnx_indices(
    onnx_indices: object,
    input_shape: Sequence[int],
    spec: PoolSpec,
    *,
    storage_order: int = 0,
) -> np.ndarray:
    """Convert ONNX MaxPool's ``Indices`` output back to per-plane indices.

    The inverse of `to_onnx_indices`; raises `ValueError` when an index does
    not point into the plane of its own output position.

    Examples
    --------
    >>> from impls import PoolSpec
    >>> from_onnx_indices([[[[5, 13], [7, 15]]]], (1, 1, 4, 4), PoolSpec((2, 2)),
    ...                   storage_order=1)
    array([[[[ 5,  7],
             [13, 15]]]])
    """
    _check_storage_order(storage_order)
    geometry = geometry_for_shape(input_shape, spec)
    array = check_index_array(onnx_indices, "onnx_indices", geometry, in_plane=False)
    local: np.ndarray = array.astype(np.int64) - _plane_offsets(geometry)
    if local.size and (local.min() < 0 or local.max() >= geometry.plane_size):
        raise ValueError(
            "onnx_indices must point into the plane of their own output position "
            f"(each plane holds {geometry.plane_size} elements)"
        )
    if storage_order == 1:
        coords = np.unravel_index(local, geometry.spatial_shape, order="F")
        local = np.ravel_multi_index(coords, geometry.spatial_shape)
    return local
