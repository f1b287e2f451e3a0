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

import functools
import math
from collections.abc import Callable, Sequence
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


def _output_shape(
    shape: tuple[int, ...], torch_out: tuple[int, ...], ndim: int
) -> tuple[int, ...]:
    """The caller's output shape: the leading axes of ``shape``, the pooled ones torch gave."""
    return shape[: len(shape) - ndim] + torch_out[len(torch_out) - ndim :]


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

        torch's pooling takes tensors only, and takes neither negative strides,
        read-only memory nor byte-swapped data, and it judges the memory format
        by the strides of unit axes too (a Fortran-ordered array with one long
        axis is C-contiguous for NumPy, not for max_pool3d): turning the
        contract's array-likes into tensors is the adapter's job, not a
        deviation of torch's pooling. Anything but a writable, native array with
        C-order strides is copied into one.
        """
        array = np.asarray(array)
        c_strides = tuple(
            array.itemsize * math.prod(array.shape[axis + 1 :]) for axis in range(array.ndim)
        )
        usable = array.flags.writeable and array.dtype.isnative and array.strides == c_strides
        if not usable and array.size:
            array = np.array(array, dtype=array.dtype.newbyteorder("="), order="C")
        return self.torch.from_numpy(array)

    def _check_spec(self, spec: object) -> PoolSpec:
        if not isinstance(spec, PoolSpec):
            raise TypeError(f"spec must be a PoolSpec, got {type(spec).__name__}")
        return spec

    def describe(self) -> str:
        """torch's version and thread count, for reports.

        Returns
        -------
        str
            For example ``"torch 2.13.0 (2 threads)"``.
        """
        return f"torch {self.torch.__version__} ({self.torch.get_num_threads()} threads)"

    def _forward_call(self, tensor: Any, spec: PoolSpec) -> Callable[[], tuple[Any, Any]]:
        """torch's pooling of ``tensor`` as a call without arguments.

        The call returns values and indices shaped as torch gives them (see `_torch_shape`).
        """
        shape = tuple(tensor.shape)
        pool: Callable[..., tuple[Any, Any]] = (
            self.torch.nn.functional.max_pool3d
            if spec.ndim == 3
            else self.torch.nn.functional.max_pool2d
        )
        return functools.partial(
            pool,
            tensor.reshape(_torch_shape(shape, spec.ndim)),
            **self._geometry(spec, shape[len(shape) - spec.ndim :]),
            ceil_mode=spec.ceil_mode,
            return_indices=True,
        )

    def _backward_call(
        self, grad: Any, where: Any, shape: tuple[int, ...], spec: PoolSpec
    ) -> Callable[[], Any]:
        """torch's backward from indices as a call without arguments.

        ``grad`` and ``where`` are shaped as the caller's outputs; the call
        returns the input's gradient shaped as torch gives it.
        """
        # The backward kernel reads only the shape and dtype of the input.
        like_input = self.torch.empty(_torch_shape(shape, spec.ndim), dtype=grad.dtype)
        aten: Any = self.torch.ops.aten
        backward = (
            aten.max_pool3d_with_indices_backward
            if spec.ndim == 3
            else aten.max_pool2d_with_indices_backward
        )
        geometry = self._geometry(spec, shape[len(shape) - spec.ndim :])
        return functools.partial(
            backward,
            grad.reshape(_torch_shape(tuple(grad.shape), spec.ndim)),
            like_input,
            geometry["kernel_size"],
            geometry["stride"],
            geometry["padding"],
            geometry["dilation"],
            spec.ceil_mode,
            where.reshape(_torch_shape(tuple(where.shape), spec.ndim)),
        )

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        spec = self._check_spec(spec)
        tensor = self._tensor(x)
        values, indices = self._forward_call(tensor, spec)()
        out = _output_shape(tuple(tensor.shape), tuple(values.shape), spec.ndim)
        return values.numpy().reshape(out), indices.numpy().reshape(out)

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        spec = self._check_spec(spec)
        shape = tuple(input_shape)
        grad_in = self._backward_call(self._tensor(grad_out), self._tensor(indices), shape, spec)()
        return grad_in.numpy().reshape(shape)

    def timed_calls(
        self, x: np.ndarray, spec: PoolSpec
    ) -> tuple[Callable[[], object], Callable[[], object]]:
        """torch's forward and backward of ``spec`` on ``x``, as calls to time.

        The tensors are made once, here: each call runs only torch's kernel,
        forward with indices, or backward from forward's indices with a
        gradient of ones.

        Parameters
        ----------
        x : numpy.ndarray
            The input, shared with torch where its memory allows.
        spec : PoolSpec
            The pooling.

        Returns
        -------
        forward, backward : callable
            Calls without arguments, returning torch tensors.
        """
        spec = self._check_spec(spec)
        tensor = self._tensor(x)
        forward = self._forward_call(tensor, spec)
        values, indices = forward()
        out = _output_shape(tuple(tensor.shape), tuple(values.shape), spec.ndim)
        grad = self.torch.ones(out, dtype=values.dtype)
        backward = self._backward_call(grad, indices.reshape(out), tuple(tensor.shape), spec)
        return forward, backward


def adapter() -> TorchMaxPool:
    """The PyTorch adapter."""
    return TorchMaxPool()
