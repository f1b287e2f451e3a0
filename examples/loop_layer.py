"""A MaxPool layer written with plain loops, the way a from-scratch framework writes it.

It pools ``(C, H, W)`` inputs with a square window and one stride, no
padding, keeps the ``(row, column)`` offset of each maximum inside its window,
and takes a learning rate in ``backward`` like every layer of its framework.
It is correct: ``np.argmax`` returns the first maximum (and the first NaN).

Verify it (from the root of a clone)::

    maxpool verify examples.loop_layer:maxpool
"""

from __future__ import annotations

import numpy as np

from impls import Capabilities
from impls.conformance import axis_offsets, from_layer
from impls.limits import one_stride, square_kernel


class LoopMaxPool:
    """Max pooling of ``(C, H, W)`` inputs, window ``size x size``, one ``stride``."""

    def __init__(self, size: int, stride: int) -> None:
        self.size, self.stride = size, stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.input = x
        channels, height, width = x.shape
        out_h = (height - self.size) // self.stride + 1
        out_w = (width - self.size) // self.stride + 1
        output = np.empty((channels, out_h, out_w), dtype=x.dtype)
        self.offsets = np.empty((channels, out_h, out_w, 2), dtype=np.int64)
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * self.stride, j * self.stride
                    window = x[c, top : top + self.size, left : left + self.size]
                    row, column = np.unravel_index(np.argmax(window), window.shape)
                    output[c, i, j] = window[row, column]
                    self.offsets[c, i, j] = row, column
        return output

    def backward(self, output_gradient: np.ndarray, learning_rate: float) -> np.ndarray:
        input_gradient = np.zeros(self.input.shape, dtype=output_gradient.dtype)
        channels, out_h, out_w = output_gradient.shape
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    row, column = self.offsets[c, i, j]
                    top, left = i * self.stride, j * self.stride
                    input_gradient[c, top + row, left + column] += output_gradient[c, i, j]
        return input_gradient  # no parameters: nothing to learn


# The verification: how the harness builds and calls the layer, and its limits.
maxpool = from_layer(
    lambda spec, input_shape: LoopMaxPool(spec.kernel_size[0], spec.stride[0]),
    name="loop-layer",
    leading_axes=1,
    backward=lambda layer, grad: layer.backward(grad, learning_rate=0.01),
    indices=axis_offsets(lambda layer, x, values: layer.offsets),
    supports=square_kernel & one_stride,
    capabilities=Capabilities(ndims=(2,), padding=False, dilation=False, ceil_mode=False),
)
