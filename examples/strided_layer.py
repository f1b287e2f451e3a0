"""A MaxPool layer with NumPy stride tricks, carrying the classic overwrite-on-overlap bug.

It pools ``(N, C, H, W)`` inputs with a square window and one stride through
``sliding_window_view``, and its ``backward`` returns ``(dX, [])`` (the
gradient, and no parameter gradients). It exposes no indices: the harness
works them out from ``backward``.

The bug: ``backward`` *assigns* each window's gradient to its maximum, so
where windows overlap (stride < size) and share a maximum, the last window
overwrites the others instead of adding to them. Verify it to see the report
name it (from the root of a clone)::

    maxpool verify examples.strided_layer:maxpool
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from impls import Capabilities
from impls.conformance import from_layer
from impls.limits import one_stride, square_kernel


class StridedMaxPool:
    """Max pooling of ``(N, C, H, W)`` inputs with ``sliding_window_view``."""

    def __init__(self, size: int, stride: int) -> None:
        self.size, self.stride = size, stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        windows = sliding_window_view(x, (self.size, self.size), axis=(2, 3))
        windows = windows[:, :, :: self.stride, :: self.stride]
        flat = windows.reshape(windows.shape[:4] + (self.size * self.size,))
        self.argmax = flat.argmax(axis=-1)
        return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        dx = np.zeros(self.x.shape, dtype=grad.dtype)
        rows, columns = np.divmod(self.argmax, self.size)
        out_h, out_w = grad.shape[2:]
        top = (np.arange(out_h) * self.stride)[:, None] + rows
        left = (np.arange(out_w) * self.stride)[None, :] + columns
        n, c = np.ogrid[: grad.shape[0], : grad.shape[1]]
        dx[n[..., None, None], c[..., None, None], top, left] = grad  # BUG: = instead of +=
        return dx, []


# The verification: how the harness builds and calls the layer, and its limits.
maxpool = from_layer(
    lambda spec, input_shape: StridedMaxPool(spec.kernel_size[0], spec.stride[0]),
    name="strided-layer",
    leading_axes=2,
    backward=lambda layer, grad: layer.backward(grad)[0],
    supports=square_kernel & one_stride,
    capabilities=Capabilities(ndims=(2,), padding=False, dilation=False, ceil_mode=False),
)
