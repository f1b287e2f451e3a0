"""TensorFlow's max pooling, ``tf.nn.max_pool1d/2d/3d``, verified as a layer.

Forward is ``tf.nn.max_pool1d/2d/3d`` (the ops Keras's ``MaxPooling`` layers
run) on ``(planes, *spatial, 1)``: every leading axis goes into the batch,
and the one channel comes last, as TensorFlow's default ``NWC``/``NHWC``/
``NDHWC`` layouts want; backward is ``tf.GradientTape`` with
``output_gradients``. TensorFlow returns no indices from these ops, so the
adapter is made with `impls.conformance.from_layer`, and the harness works the
indices out from the gradient. The input becomes a tensor with
``tf.constant``, which keeps its dtype (``tf.nn.max_pool2d`` given a NumPy
array converts it to float32). Runs on the CPU.

Padding: no padding goes as ``"VALID"``; the contract's ``"same"`` as
``"SAME"``, which puts the odd unit of padding at the end as the contract does
(``[5, 1, 2, 3, 4]``, kernel 2, stride 1 gives ``[5, 2, 3, 4, 4]``); other
padding as explicit ``(begin, end)`` pairs, which ``max_pool1d`` and
``max_pool2d`` take, each smaller than the kernel.

TensorFlow's limits, declared: float dtypes (integers have no gradient, and
without a gradient the indices cannot be worked out); 3-D pooling in float32
only (``MaxPool3D`` has no float16 or float64 kernel on the CPU: those calls
are skipped); no dilation and no ``ceil_mode`` (the ops have neither);
padding smaller than the kernel, and in 3-D none but ``"same"``
(``max_pool3d`` takes only ``"VALID"`` or ``"SAME"``).

Examples
--------
``"same"`` as TensorFlow's ``"SAME"``, the odd unit of padding at the end:

>>> import numpy as np
>>> from impls import PoolSpec
>>> pool = adapter()  # doctest: +SKIP
>>> x = np.array([5.0, 1.0, 2.0, 3.0, 4.0], np.float32)
>>> pool.forward(x, PoolSpec((2,), stride=1, padding="same"))  # doctest: +SKIP
(array([5., 2., 3., 4., 4.], dtype=float32), array([0, 2, 3, 4, 4]))
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from typing import Any

import numpy as np

from impls.frameworks._arrays import native_copy
from impls.limits import Limit, padding_below_kernel
from impls.protocol import Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "MaxPoolLayer", "adapter"]


def _padding_3d_only_same(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    if spec.ndim != 3 or spec.padding == "same":
        return None
    spatial = tuple(input_shape)[len(input_shape) - spec.ndim :]
    if any(side for pair in spec.pads(spatial) for side in pair):
        return f"padding {spec.padding!r} in 3-D is neither none nor 'same'"
    return None


padding_3d_only_same = Limit(
    "padding_3d_only_same",
    "3-D padding other than none or 'same' (max_pool3d takes only VALID or SAME)",
    _padding_3d_only_same,
)

CAPABILITIES = Capabilities(
    dtypes=("float16", "float32", "float64"),
    dilation=False,
    ceil_mode=False,
    supports=padding_below_kernel & padding_3d_only_same,
)


def _import_tensorflow() -> Any:
    # TensorFlow's C++ logging (oneDNN notices, CPU features) would fill the reports.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and importlib.util.find_spec("paddle") is not None:
        # A process that imports tensorflow and then paddle dies with SIGSEGV (TensorFlow
        # 2.21, Paddle 3.3.1); the other order works, so Paddle, where installed, comes first.
        from impls.frameworks.paddle_nn import _import_paddle

        _import_paddle()
    import tensorflow

    return tensorflow


def _padding(spec: PoolSpec, spatial: tuple[int, ...]) -> str | list[list[int]]:
    """TensorFlow's padding argument for ``spec``: a string, or explicit pairs."""
    if spec.padding == "same":
        return "SAME"
    pairs = spec.pads(spatial)
    if not any(side for pair in pairs for side in pair):
        return "VALID"
    return [[0, 0]] + [list(pair) for pair in pairs] + [[0, 0]]


class MaxPoolLayer:
    """One ``tf.nn.max_poolNd`` for one spec and input shape, with its gradient."""

    def __init__(self, spec: PoolSpec, input_shape: tuple[int, ...]) -> None:
        self.tf = _import_tensorflow()
        self.spec = spec
        split = len(input_shape) - spec.ndim
        spatial = tuple(input_shape[split:])
        self.tf_shape = (math.prod(input_shape[:split]),) + spatial + (1,)
        self.pool = {
            1: self.tf.nn.max_pool1d,
            2: self.tf.nn.max_pool2d,
            3: self.tf.nn.max_pool3d,
        }[spec.ndim]
        self.padding = _padding(spec, spatial)
        self._input: Any = None

    def _pool(self, tensor: Any) -> Any:
        return self.pool(tensor, list(self.spec.kernel_size), list(self.spec.stride), self.padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.spec.ndim == 3 and x.dtype != np.float32:
            raise NotImplementedError(f"MaxPool3D has no {x.dtype} kernel on the CPU")
        self._input = self.tf.constant(native_copy(x).reshape(self.tf_shape))
        values = self._pool(self._input).numpy()
        return np.asarray(values.reshape(x.shape[: x.ndim - self.spec.ndim] + values.shape[1:-1]))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        with self.tf.GradientTape() as tape:
            tape.watch(self._input)
            values = self._pool(self._input)
        grad = self.tf.constant(native_copy(grad_out).reshape(values.shape))
        grad_in = tape.gradient(values, self._input, output_gradients=grad)
        split = len(grad_out.shape) - self.spec.ndim
        return np.asarray(grad_in.numpy().reshape(grad_out.shape[:split] + self.tf_shape[1:-1]))


def adapter() -> Any:
    """The TensorFlow adapter: `MaxPoolLayer` through `impls.conformance.from_layer`."""
    from impls.conformance.layers import from_layer

    _import_tensorflow()
    return from_layer(MaxPoolLayer, name="tensorflow", capabilities=CAPABILITIES)
