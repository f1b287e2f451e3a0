"""Converting the index formats layers keep into the contract's, and reading them off a layer.

The contract's index is the flat row-major position of the selected element
in its unpadded pooled plane. Layers written by hand keep other formats:

- `from_window_offsets`: the flat offset inside the window, row-major over
  the kernel (the argmax over im2col columns);
- `from_axis_offsets`: one offset per pooled axis inside the window (what
  loop layers store, such as ``(row, column)``);
- `from_axis_positions`: one position per pooled axis in the unpadded input;
- `impls.from_onnx_indices`: ONNX's format, counted across batch and channels.

Each converter takes the raw array, the spec and the spatial (pooled) shape.
For `impls.conformance.from_layer`, the readers `window_offsets`,
`axis_offsets`, `axis_positions` and `onnx_indices` wrap a function that
fetches the raw array from the layer, and supply the spec and shape
themselves.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> spec = PoolSpec((2, 2))  # 4x4 input, 2x2 output
>>> from_window_offsets(np.array([[3, 0], [1, 2]]), spec, (4, 4))
array([[ 5,  2],
       [ 9, 14]])
>>> from_axis_offsets(np.array([[[1, 1], [0, 0]], [[0, 1], [1, 0]]]), spec, (4, 4))
array([[ 5,  2],
       [ 9, 14]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from impls import PoolSpec, from_onnx_indices

__all__ = [
    "IndexReader",
    "axis_offsets",
    "axis_positions",
    "from_axis_offsets",
    "from_axis_positions",
    "from_window_offsets",
    "onnx_indices",
    "window_offsets",
]


def _window_starts(spec: PoolSpec, spatial: Sequence[int]) -> list[np.ndarray]:
    """Per pooled axis, the input position where each output's window starts."""
    out = spec.output_shape(tuple(spatial))
    return [
        np.arange(n) * s - begin
        for n, s, (begin, _) in zip(out, spec.stride, spec.pads(tuple(spatial)), strict=True)
    ]


def _stacked(raw: object, ndim: int, out_shape: tuple[int, ...]) -> list[np.ndarray]:
    """Per-axis arrays from a ``(..., ndim)`` stack, ``ndim`` arrays, or ``(ndim, ...)``."""
    if isinstance(raw, (tuple, list)) and len(raw) == ndim:
        parts = [np.asarray(part) for part in raw]
    else:
        array = np.asarray(raw)
        out = out_shape[1:]
        trailing = array.shape[-1:] == (ndim,) and array.shape[:-1][-len(out) :] == out
        if trailing:  # where both readings fit, the trailing axis is the per-axis one
            parts = [array[..., axis] for axis in range(ndim)]
        elif array.shape[:1] == (ndim,):
            parts = list(array)
        else:
            raise ValueError(
                f"per-axis indices must have a trailing or leading axis of length {ndim}, "
                f"or be {ndim} arrays; got shape {array.shape}"
            )
    return [np.asarray(part, dtype=np.int64).reshape(out_shape) for part in parts]


def _out_shape(raw_size: int, spec: PoolSpec, spatial: Sequence[int]) -> tuple[int, ...]:
    out = spec.output_shape(tuple(spatial))
    lead, rest = divmod(raw_size, math.prod(out))
    if rest:
        raise ValueError(f"{raw_size} indices do not fill whole output planes of shape {out}")
    return (lead,) + out


def _result_shape(raw: object, ndim: int) -> tuple[int, ...]:
    """The shape of one output per entry: that of each part, or the stack's without its axis."""
    if isinstance(raw, (tuple, list)) and len(raw) == ndim:
        return np.shape(raw[0])
    shape = np.asarray(raw).shape
    return shape[:-1] if shape[-1:] == (ndim,) else shape[1:]  # as `_stacked` reads it


def from_axis_positions(
    positions: object, spec: PoolSpec, spatial_shape: Sequence[int]
) -> np.ndarray:
    """Per-axis positions in the unpadded input -> contract indices.

    ``positions`` holds one position per pooled axis for each output: shaped
    ``(..., ndim)``, ``(ndim, ...)``, or a sequence of ``ndim`` arrays. The
    result is shaped like the output, ``(..., *out)``.
    """
    spatial = tuple(int(n) for n in spatial_shape)
    raw = np.asarray(positions[0] if isinstance(positions, (tuple, list)) else positions)
    size = raw.size if isinstance(positions, (tuple, list)) else raw.size // spec.ndim
    out_shape = _out_shape(size, spec, spatial)
    parts = _stacked(positions, spec.ndim, out_shape)
    flat = np.zeros(out_shape, dtype=np.int64)
    for part, length in zip(parts, spatial, strict=True):
        flat = flat * length + part
    return flat.reshape(_result_shape(positions, spec.ndim))


def from_axis_offsets(offsets: object, spec: PoolSpec, spatial_shape: Sequence[int]) -> np.ndarray:
    """Per-axis offsets inside each window (``(row, column)``, say) -> contract indices.

    Offsets count window elements (``0 .. k-1``; with dilation, the element
    ``j`` sits ``j * dilation`` from the window's start). Shapes as in
    `from_axis_positions`.
    """
    spatial = tuple(int(n) for n in spatial_shape)
    raw = np.asarray(offsets[0] if isinstance(offsets, (tuple, list)) else offsets)
    size = raw.size if isinstance(offsets, (tuple, list)) else raw.size // spec.ndim
    out_shape = _out_shape(size, spec, spatial)
    parts = _stacked(offsets, spec.ndim, out_shape)
    starts = _window_starts(spec, spatial)
    positions = []
    for axis, part in enumerate(parts):
        shape = [1] * len(out_shape)
        shape[1 + axis] = -1
        positions.append(starts[axis].reshape(shape) + part * spec.dilation[axis])
    return from_axis_positions(positions, spec, spatial).reshape(_result_shape(offsets, spec.ndim))


def from_window_offsets(
    offsets: object, spec: PoolSpec, spatial_shape: Sequence[int]
) -> np.ndarray:
    """Flat offsets inside each window, row-major over the kernel -> contract indices.

    This is the argmax over im2col columns (``0 .. prod(kernel_size) - 1``).
    ``offsets`` has one entry per output and is shaped like the output (or
    flat, in the output's row-major order).
    """
    raw = np.asarray(offsets, dtype=np.int64)
    out_shape = _out_shape(raw.size, spec, spatial_shape)
    per_axis = np.unravel_index(raw.reshape(out_shape), spec.kernel_size)
    return from_axis_offsets(list(per_axis), spec, spatial_shape).reshape(raw.shape)


@dataclass(frozen=True)
class IndexReader:
    """Fetches a layer's raw indices and converts them to the contract's format.

    ``read(layer, x, values)`` returns the raw array; ``convert(raw, spec,
    layer_input_shape)`` turns it into contract indices for the layer's input.
    Made by `window_offsets`, `axis_offsets`, `axis_positions` and
    `onnx_indices`; `impls.conformance.from_layer` accepts one as ``indices``.
    """

    read: Callable[[object, np.ndarray, np.ndarray], object]
    convert: Callable[[object, PoolSpec, tuple[int, ...]], np.ndarray]
    format: str

    def __call__(
        self, layer: object, x: np.ndarray, values: np.ndarray, spec: PoolSpec
    ) -> np.ndarray:
        raw = self.read(layer, x, values)
        return self.convert(raw, spec, x.shape).reshape(values.shape)


def _per_plane(
    converter: Callable[[object, PoolSpec, Sequence[int]], np.ndarray],
) -> Callable[[object, PoolSpec, tuple[int, ...]], np.ndarray]:
    def convert(raw: object, spec: PoolSpec, input_shape: tuple[int, ...]) -> np.ndarray:
        return converter(raw, spec, input_shape[len(input_shape) - spec.ndim :])

    return convert


def _onnx(raw: object, spec: PoolSpec, input_shape: tuple[int, ...]) -> np.ndarray:
    return from_onnx_indices(np.asarray(raw, dtype=np.int64), input_shape, spec)


def window_offsets(read: Callable[[object, np.ndarray, np.ndarray], object]) -> IndexReader:
    """A reader for layers that keep flat window offsets (im2col argmax).

    ``read(layer, x, values)`` returns them, one per output.
    """
    return IndexReader(read, _per_plane(from_window_offsets), "window offsets")


def axis_offsets(read: Callable[[object, np.ndarray, np.ndarray], object]) -> IndexReader:
    """A reader for layers that keep per-axis offsets inside each window."""
    return IndexReader(read, _per_plane(from_axis_offsets), "per-axis window offsets")


def axis_positions(read: Callable[[object, np.ndarray, np.ndarray], object]) -> IndexReader:
    """A reader for layers that keep per-axis positions in the input."""
    return IndexReader(read, _per_plane(from_axis_positions), "per-axis input positions")


def onnx_indices(read: Callable[[object, np.ndarray, np.ndarray], object]) -> IndexReader:
    """A reader for layers that keep ONNX's indices (offset by batch and channel)."""
    return IndexReader(read, _onnx, "ONNX indices")
