"""PaddlePaddle's max pooling with its mask, verified as a layer that reports its indices.

Forward is ``paddle.nn.functional.max_pool1d/2d/3d(..., return_mask=True)``
on ``(N, C, *spatial)`` (other leading axes are reshaped to two), whose mask
is already the contract's index (the flat index into each unpadded plane, as
int32: widened to int64); backward is Paddle's autograd, ``paddle.grad``
with ``grad_outputs``. Explicit padding goes as one pad per axis (the form
``return_mask`` takes); the contract's ``"same"`` goes as Paddle's
``"SAME"``, which puts the odd unit of padding at the end, as the contract
does (Paddle without a mask gives ``[5, 2, 3, 4, 4]`` for ``[5, 1, 2, 3, 4]``,
kernel 2, stride 1, as ``naive`` does). Runs on the CPU.

Paddle's limits, declared: float32 and float64 (its CPU kernel with a mask
has no other dtype); no dilation (Paddle's max pooling has none); padding the
same on both sides of an axis, or ``"same"`` (``return_mask`` takes no
per-side pads).

Paddle's C++ fatal-signal handler is switched off with
``paddle.disable_signal_handler()``: after a heap corruption it hangs instead
of ending the process, and the harness must see a crash as a crash.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> pool = adapter()  # doctest: +SKIP
>>> pool.forward(np.array([[1.0, 3.0, 2.0]]), PoolSpec((2,), stride=1))  # doctest: +SKIP
(array([[3., 3.]]), array([[1, 1]]))
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from impls.frameworks._arrays import native_copy
from impls.limits import Limit
from impls.protocol import Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "MaskedMaxPoolLayer", "adapter"]


def _one_pad_per_axis(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    if spec.padding == "same":
        return None
    spatial = tuple(input_shape)[len(input_shape) - spec.ndim :]
    for axis, (begin, end) in enumerate(spec.pads(spatial)):
        if begin != end:
            return f"padding {(begin, end)} on axis {axis} differs between its two sides"
    return None


one_pad_per_axis = Limit(
    "one_pad_per_axis",
    "explicit padding that differs between the two sides of an axis ('same' is kept)",
    _one_pad_per_axis,
)

CAPABILITIES = Capabilities(
    dtypes=("float32", "float64"), dilation=False, supports=one_pad_per_axis
)


def _import_paddle() -> Any:
    with warnings.catch_warnings():
        # Paddle warns at import that ccache is missing (for compiling C++ extensions).
        warnings.simplefilter("ignore", UserWarning)
        import paddle
    paddle.disable_signal_handler()
    return paddle


class MaskedMaxPoolLayer:
    """One ``max_poolNd(..., return_mask=True)`` for one spec and input shape."""

    def __init__(self, spec: PoolSpec, input_shape: tuple[int, ...]) -> None:
        self.paddle = _import_paddle()
        functional = self.paddle.nn.functional
        self.pool = {
            1: functional.max_pool1d,
            2: functional.max_pool2d,
            3: functional.max_pool3d,
        }[spec.ndim]
        spatial = input_shape[len(input_shape) - spec.ndim :]
        padding: str | list[int] = (
            "SAME" if spec.padding == "same" else [begin for begin, _ in spec.pads(spatial)]
        )
        self.options: dict[str, Any] = {
            "kernel_size": list(spec.kernel_size),
            "stride": list(spec.stride),
            "padding": padding,
            "ceil_mode": spec.ceil_mode,
            "return_mask": True,
        }
        self.indices: np.ndarray | None = None
        self._input: Any = None
        self._values: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._input = self.paddle.to_tensor(native_copy(x), stop_gradient=False)
        self._values, mask = self.pool(self._input, **self.options)
        self.indices = mask.numpy().astype(np.int64)
        return np.asarray(self._values.numpy())

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad = self.paddle.to_tensor(native_copy(grad_out))
        (grad_in,) = self.paddle.grad([self._values], [self._input], [grad])
        return np.asarray(grad_in.numpy())


def _indices(layer: MaskedMaxPoolLayer, x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Paddle's mask: already the contract's format."""
    assert layer.indices is not None, "forward runs before the indices are read"
    return layer.indices


def adapter() -> Any:
    """The Paddle adapter: `MaskedMaxPoolLayer` through `impls.conformance.from_layer`."""
    from impls.conformance.layers import from_layer

    _import_paddle()
    return from_layer(
        MaskedMaxPoolLayer,
        name="paddle",
        leading_axes=2,
        indices=_indices,
        capabilities=CAPABILITIES,
    )
