"""PyTorch's max pooling, as a `impls.MaxPoolImpl`.

Forward is ``torch.nn.functional.max_pool2d/3d(..., return_indices=True)``,
whose indices already have the contract's format; backward is
``max_pool2d/3d_with_indices_backward`` from any indices, as autograd runs it
(1-D runs as 2-D over a unit axis, as torch's own ``max_pool1d`` does).
PyTorch takes one or two leading axes: those pass as they are; other counts
are flattened into ``(planes, 1)``.

PyTorch's limits, declared: explicit symmetric padding of at most half the
kernel (``kernel // 2``), and gradients of float dtypes only. Its own argument
checks are claimed as validation: where they raise `RuntimeError` instead of
the contract's `ValueError`, the report says so. Runs on torch's default
thread count.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> pool = adapter()  # doctest: +SKIP
>>> pool.forward(np.array([[1.0, 3.0, 2.0]]), PoolSpec((2,), stride=1))  # doctest: +SKIP
(array([[3., 3.]]), array([[1, 1]]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from impls.limits import padding_at_most_half_kernel, symmetric_padding
from impls.protocol import CONTRACT_DTYPES, Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "TorchMaxPool", "adapter"]

CAPABILITIES = Capabilities(
    # torch has no max pooling kernel for uint16, uint32 and uint64.
    dtypes=tuple(d for d in CONTRACT_DTYPES if d not in ("uint16", "uint32", "uint64")),
    supports=symmetric_padding & padding_at_most_half_kernel,
    grad_dtypes=("float16", "float32", "float64"),
)


def _torch_shape(shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """The shape torch is given for an array of ``shape`` pooled over ``ndim`` axes.

    One or two leading axes pass as they are (torch's ``(C, ...)`` and ``(N, C, ...)``),
    so that torch sees, and judges, the caller's own shapes; any other number is
    flattened into ``(planes, 1)``. 1-D pooling runs as 2-D over a unit axis.
    """
    split = len(shape) - ndim
    lead = tuple(shape[:split])
    if not 1 <= len(lead) <= 2:
        lead = (math.prod(lead), 1)
    unit = (1,) if ndim == 1 else ()
    return lead + unit + tuple(shape[split:])


class TorchMaxPool:
    """``torch.nn.functional.max_poolNd`` with indices, and its backward from indices."""

    name = "torch"
    capabilities = CAPABILITIES

    def __init__(self) -> None:
        import torch  # only imported when the adapter is made

        self.torch = torch

    def __repr__(self) -> str:
        return f"<torch {self.torch.__version__} max_poolNd>"

    def _geometry(self, spec: PoolSpec, spatial: tuple[int, ...]) -> dict[str, list[int]]:
        unit = [1] if spec.ndim == 1 else []
        return {
            "kernel_size": unit + list(spec.kernel_size),
            "stride": unit + list(spec.stride),
            "padding": [0] * len(unit) + [begin for begin, _ in spec.pads(spatial)],
            "dilation": unit + list(spec.dilation),
        }

    def _tensor(self, array: object) -> Any:
        """A tensor of ``array``, converted as NumPy converts array-likes.

        torch's pooling takes tensors only, and takes neither negative strides
        nor read-only memory: turning the contract's array-likes into tensors
        is the adapter's job, not a deviation of torch's pooling.
        """
        array = np.asarray(array)
        writable = array.flags.c_contiguous and array.flags.writeable
        if not writable or min(array.strides, default=0) < 0:
            array = np.array(array, order="C")
        return self.torch.from_numpy(array)

    def _check_spec(self, spec: object) -> PoolSpec:
        if not isinstance(spec, PoolSpec):
            raise TypeError(f"spec must be a PoolSpec, got {type(spec).__name__}")
        return spec

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        spec = self._check_spec(spec)
        tensor = self._tensor(x)
        shape = tuple(tensor.shape)
        split = len(shape) - spec.ndim
        planes = tensor.reshape(_torch_shape(shape, spec.ndim))
        pool = (
            self.torch.nn.functional.max_pool3d
            if spec.ndim == 3
            else (self.torch.nn.functional.max_pool2d)
        )
        values, indices = pool(
            planes,
            **self._geometry(spec, shape[split:]),
            ceil_mode=spec.ceil_mode,
            return_indices=True,
        )
        out = shape[:split] + tuple(values.shape[len(values.shape) - spec.ndim :])
        return values.numpy().reshape(out), indices.numpy().reshape(out)

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        spec = self._check_spec(spec)
        grad = self._tensor(grad_out)
        where = self._tensor(indices)
        shape = tuple(input_shape)
        # The backward kernel reads only the shape and dtype of the input.
        like_input = self.torch.empty(_torch_shape(shape, spec.ndim), dtype=grad.dtype)
        aten: Any = self.torch.ops.aten
        backward = (
            aten.max_pool3d_with_indices_backward
            if spec.ndim == 3
            else aten.max_pool2d_with_indices_backward
        )
        geometry = self._geometry(spec, shape[len(shape) - spec.ndim :])
        grad_in = backward(
            grad.reshape(_torch_shape(tuple(grad.shape), spec.ndim)),
            like_input,
            geometry["kernel_size"],
            geometry["stride"],
            geometry["padding"],
            geometry["dilation"],
            spec.ceil_mode,
            where.reshape(_torch_shape(tuple(where.shape), spec.ndim)),
        )
        return grad_in.numpy().reshape(shape)


def adapter() -> TorchMaxPool:
    """The PyTorch adapter."""
    return TorchMaxPool()
