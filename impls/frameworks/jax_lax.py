"""JAX's max pooling, ``jax.lax.reduce_window`` with ``max``, verified as a layer.

Forward is ``reduce_window(x, lowest, lax.max, ...)`` with explicit padding
(at the end, exactly as far as the contract's last window reaches: more for
``ceil_mode``, or the input cropped where that window ends early) and the
window dilation; backward is its ``jax.vjp``. JAX
returns no indices, so the adapter is made with
`impls.conformance.from_layer`, and the harness works the indices out from
the gradient. 64-bit types are enabled (``jax_enable_x64``) so that float64
stays float64. Runs on the CPU.

JAX's limits, declared: float dtypes only (integers have no gradient in JAX,
and without a gradient the indices cannot be worked out).

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> pool = adapter()  # doctest: +SKIP
>>> pool.forward(np.array([[1.0, 3.0, 2.0]]), PoolSpec((2,), stride=1))  # doctest: +SKIP
(array([[3., 3.]]), array([[1, 1]]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from impls.geometry import lowest_value
from impls.protocol import Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "ReduceWindowLayer", "adapter"]

CAPABILITIES = Capabilities(dtypes=("float16", "float32", "float64"))


class ReduceWindowLayer:
    """One ``reduce_window`` max pool for one spec and input shape, with its vjp."""

    def __init__(self, spec: PoolSpec, input_shape: tuple[int, ...]) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        split = len(input_shape) - spec.ndim
        spatial = input_shape[split:]
        out = spec.output_shape(spatial)
        padding = [(0, 0)] * split
        crop = [slice(None)] * split
        for (begin, _), length, n, s, extent in zip(
            spec.pads(spatial), spatial, out, spec.stride, spec.extent, strict=True
        ):
            # The end padding that makes exactly the contract's windows fit; where the
            # last window ends before the input does, the input is cropped instead
            # (reduce_window's gradient does not take negative padding).
            end = (n - 1) * s + extent - length - begin
            padding.append((begin, max(end, 0)))
            crop.append(slice(0, length + min(end, 0)))
        self.crop = tuple(crop)
        self.window = (1,) * split + spec.kernel_size
        self.strides = (1,) * split + spec.stride
        self.dilation = (1,) * split + spec.dilation
        self.padding = tuple(padding)
        self._vjp: Any = None

    def _pool(self, x: Any) -> Any:
        lax = self.jax.lax
        return lax.reduce_window(
            x[self.crop],
            np.array(lowest_value(x.dtype), dtype=x.dtype),
            lax.max,
            self.window,
            self.strides,
            self.padding,
            window_dilation=self.dilation,
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        values, self._vjp = self.jax.vjp(self._pool, self.jax.numpy.asarray(x))
        return np.asarray(values)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (grad_in,) = self._vjp(self.jax.numpy.asarray(grad_out))
        return np.asarray(grad_in)


def adapter() -> Any:
    """The JAX adapter: `ReduceWindowLayer` through `impls.conformance.from_layer`."""
    from impls.conformance.layers import from_layer

    return from_layer(ReduceWindowLayer, name="jax", capabilities=CAPABILITIES)
