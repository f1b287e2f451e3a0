"""A MaxPool layer built on im2col: gather windows into columns, argmax, scatter back.

It pools ``(N, C, H, W)`` inputs, is built from the input dims ``(C, H, W)``,
a kernel ``(kh, kw)`` and one stride, and needs the windows to end exactly
at the border (the reshapes assume it). Backward scatters with
``np.add.at``, so overlapping windows accumulate. It is correct.

Verify it (from the root of a clone)::

    maxpool verify examples.im2col_layer:maxpool
"""

from __future__ import annotations

import numpy as np

from impls import Capabilities
from impls.conformance import from_layer, window_offsets
from impls.limits import one_stride, windows_tile_input


class Im2colMaxPool:
    """Max pooling of ``(N, C, H, W)`` inputs by im2col and col2im."""

    def __init__(self, input_dims: tuple[int, int, int], kernel: tuple[int, int], stride: int):
        _channels, height, width = input_dims
        kh, kw = kernel
        if (height - kh) % stride or (width - kw) % stride:
            raise ValueError("the windows must end exactly at the border")
        self.kernel, self.stride = kernel, stride
        self.out_h = (height - kh) // stride + 1
        self.out_w = (width - kw) // stride + 1
        # Input row and column read by each (window position, output position) pair.
        rows = np.repeat(np.arange(kh), kw)[:, None] + stride * np.repeat(
            np.arange(self.out_h), self.out_w
        )
        columns = np.tile(np.arange(kw), kh)[:, None] + stride * np.tile(
            np.arange(self.out_w), self.out_h
        )
        self.rows, self.columns = rows, columns

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.input_shape = x.shape
        batch, channels = x.shape[:2]
        columns = x[:, :, self.rows, self.columns]  # (N, C, kh*kw, out_h*out_w)
        self.argmax = np.argmax(columns, axis=2)  # first maximum (and first NaN)
        values = np.take_along_axis(columns, self.argmax[:, :, None], axis=2)[:, :, 0]
        self.argmax = self.argmax.reshape(batch, channels, self.out_h, self.out_w)
        return values.reshape(batch, channels, self.out_h, self.out_w)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        batch, channels = grad.shape[:2]
        flat = self.argmax.reshape(batch, channels, self.out_h * self.out_w)
        outputs = np.arange(flat.shape[-1])
        n = np.arange(batch)[:, None, None]
        c = np.arange(channels)[None, :, None]
        input_grad = np.zeros(self.input_shape, dtype=grad.dtype)
        np.add.at(
            input_grad,
            (n, c, self.rows[flat, outputs], self.columns[flat, outputs]),
            grad.reshape(batch, channels, self.out_h * self.out_w),
        )
        return input_grad


# The verification: how the harness builds and calls the layer, and its limits.
maxpool = from_layer(
    lambda spec, input_shape: Im2colMaxPool(input_shape[1:], spec.kernel_size, spec.stride[0]),
    name="im2col-layer",
    leading_axes=2,
    indices=window_offsets(lambda layer, x, values: layer.argmax),
    supports=one_stride & windows_tile_input,
    capabilities=Capabilities(ndims=(2,), padding=False, dilation=False, ceil_mode=False),
)
