"""PaddlePaddle's max pooling with its mask, verified as a layer that reports its indices.

Forward is ``paddle.nn.functional.max_pool1d/2d/3d(..., return_mask=True)``
on ``(planes, 1, *spatial)`` (every leading axis goes into the batch, and the
results come back in the caller's leading axes, with the pooled lengths Paddle
gives), whose mask is already the contract's index (the flat index into each
unpadded plane, as int32: widened to int64); backward is Paddle's autograd,
``paddle.grad`` with ``grad_outputs``. Padding goes as one pad per axis, the only form
``return_mask`` takes; ``"same"`` and ``"same_lower"`` go as their resolved
pads, where those are the same on both sides. Paddle's own ``"SAME"`` is not
used: with ``return_mask=True`` it is ignored (the output is VALID's; where
the kernel is longer than the input, the process dies with SIGSEGV), while
without a mask it puts the odd unit of padding at the end, as the contract
does. Runs on the CPU.

Paddle's limits, declared: float32 and float64 (its CPU kernel with a mask
has no other dtype); no dilation (Paddle's max pooling has none); padding the
same on both sides of each axis (``return_mask`` takes no per-side pads).

Paddle's C++ fatal-signal handler is switched off with
``paddle.disable_signal_handler()``: after a heap corruption it hangs instead
of ending the process, and the harness must see a crash as a crash.

Examples
--------
Paddle drops NaN (a deviation: the contract selects the first NaN, index 1):

>>> import numpy as np
>>> from impls import PoolSpec
>>> pool = adapter()  # doctest: +SKIP
>>> pool.forward(np.array([1.0, np.nan, 3.0, np.nan]), PoolSpec((4,)))  # doctest: +SKIP
(array([3.]), array([2]))
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from impls.frameworks._arrays import kept_indices, native_copy
from impls.limits import symmetric_padding
from impls.protocol import Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "MaskedMaxPoolLayer", "adapter"]


CAPABILITIES = Capabilities(
    dtypes=("float32", "float64"), dilation=False, supports=symmetric_padding
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
        split = len(input_shape) - spec.ndim
        spatial = tuple(input_shape[split:])
        self.lead = tuple(input_shape[:split])
        self.paddle_shape = (math.prod(self.lead), 1) + spatial
        self.options: dict[str, Any] = {
            "kernel_size": list(spec.kernel_size),
            "stride": list(spec.stride),
            "padding": [begin for begin, _ in spec.pads(spatial)],
            "ceil_mode": spec.ceil_mode,
            "return_mask": True,
        }
        self.indices: np.ndarray | None = None
        self._input: Any = None
        self._values: Any = None

    def _callers(self, array: np.ndarray) -> np.ndarray:
        """``array``, shaped like Paddle's result, in the caller's leading axes."""
        return array.reshape(self.lead + array.shape[2:])

    def forward(self, x: np.ndarray) -> np.ndarray:
        planes = native_copy(x).reshape(self.paddle_shape)
        self._input = self.paddle.to_tensor(planes, stop_gradient=False)
        self._values, mask = self.pool(self._input, **self.options)
        self.indices = self._callers(mask.numpy().astype(np.int64))
        return self._callers(np.asarray(self._values.numpy()))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad = native_copy(grad_out).reshape(tuple(self._values.shape))
        (grad_in,) = self.paddle.grad([self._values], [self._input], [self.paddle.to_tensor(grad)])
        return self._callers(np.asarray(grad_in.numpy()))


def adapter() -> Any:
    """The Paddle adapter: `MaskedMaxPoolLayer` through `impls.conformance.from_layer`."""
    from impls.conformance.layers import from_layer

    _import_paddle()
    return from_layer(
        MaskedMaxPoolLayer,
        name="paddle",
        indices=kept_indices,
        capabilities=CAPABILITIES,
    )
