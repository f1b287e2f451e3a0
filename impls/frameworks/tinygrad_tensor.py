"""tinygrad's max pooling, ``Tensor.max_pool2d``, verified as a layer with its own indices.

Forward is ``Tensor.max_pool2d(..., return_indices=True)``, which pools the
last ``len(kernel_size)`` axes (1, 2 or 3; any leading axes) and returns
indices in the contract's format already (the flat index into each unpadded
plane, as int32: widened to int64); backward is tinygrad's autograd,
``values.gradient(input, gradient=grad_out)``. Padding is passed per side
(tinygrad's ``(last axis begin, end, ..., first axis begin, end)``), so
``"same"`` and ``"same_lower"`` go as their resolved pads: tinygrad has no
padding strings. Runs on tinygrad's ``CPU`` device unless ``DEV`` says
otherwise; that device compiles its kernels with clang (``CC``), so a
missing compiler is a usage error, with the alternative ``DEV=PYTHON``.

tinygrad's limits, declared: gradients of float dtypes only (its autograd
refuses integer tensors: a backward on integers is skipped, not failed).

Examples
--------
Forward selects the first of tied maxima, backward splits the gradient
between them (a deviation):

>>> import numpy as np
>>> from impls import PoolSpec
>>> pool, spec = adapter(), PoolSpec((4,))  # doctest: +SKIP
>>> x = np.array([1.0, 2.0, 2.0, 0.0], np.float32)
>>> values, indices = pool.forward(x, spec)  # doctest: +SKIP
>>> indices  # doctest: +SKIP
array([1])
>>> pool.backward(np.ones(1, np.float32), indices, (4,), spec)  # doctest: +SKIP
array([0. , 0.5, 0.5, 0. ], dtype=float32)
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from impls.frameworks._arrays import kept_indices, native_copy
from impls.protocol import Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "DEVICE", "MaxPoolLayer", "adapter", "device"]

# The device used where the caller's environment names none.
DEVICE = "CPU"

CAPABILITIES = Capabilities()


def device() -> str:
    """The device tinygrad runs on: ``$DEV``, else `DEVICE` (set in the environment)."""
    os.environ.setdefault("DEV", DEVICE)
    return os.environ["DEV"]


def _check_compiler(dev: str) -> None:
    """`ValueError` when the CPU device's compiler is missing (it would fail on first use)."""
    if dev.split(":")[0].upper() != "CPU":
        return
    compiler = os.environ.get("CC", "clang")
    if shutil.which(compiler) is None:
        raise ValueError(
            f"tinygrad's CPU device compiles with {compiler!r}, which is not installed: "
            "install clang (apt-get install clang), or run with DEV=PYTHON (slower)"
        )


def _padding(spec: PoolSpec, spatial: tuple[int, ...]) -> tuple[int, ...]:
    """The resolved pads in tinygrad's order: last axis first, begin then end."""
    return tuple(side for pair in reversed(spec.pads(spatial)) for side in pair)


class MaxPoolLayer:
    """One ``Tensor.max_pool2d`` for one spec and input shape, with its autograd."""

    def __init__(self, spec: PoolSpec, input_shape: tuple[int, ...]) -> None:
        from tinygrad import Tensor  # only imported when the adapter is made

        self.tensor_type = Tensor
        spatial = input_shape[len(input_shape) - spec.ndim :]
        self.options: dict[str, Any] = {
            "kernel_size": spec.kernel_size,
            "stride": spec.stride,
            "dilation": spec.dilation,
            "padding": _padding(spec, spatial),
            "ceil_mode": spec.ceil_mode,
            "return_indices": True,
        }
        self.indices: np.ndarray | None = None
        self._input: Any = None
        self._values: Any = None

    def _tensor(self, array: np.ndarray) -> Any:
        return self.tensor_type(native_copy(array))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._input = self._tensor(x)
        values, indices = self._input.max_pool2d(**self.options)
        # Read each through numpy(), which realizes a copy: ``Tensor.realize(values)``
        # would turn ``values`` into a plain buffer, whose gradient is zero.
        self._values = values
        self.indices = indices.numpy().astype(np.int64)
        return np.asarray(values.numpy())

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if not self._input.is_floating_point():
            raise NotImplementedError("tinygrad's autograd has no gradients for integer tensors")
        (grad_in,) = self._values.gradient(self._input, gradient=self._tensor(grad_out))
        return np.asarray(grad_in.numpy())


def adapter() -> Any:
    """The tinygrad adapter: `MaxPoolLayer` through `impls.conformance.from_layer`."""
    _check_compiler(device())
    from impls.conformance.layers import from_layer

    return from_layer(
        MaxPoolLayer, name="tinygrad", indices=kept_indices, capabilities=CAPABILITIES
    )
