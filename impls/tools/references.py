"""Reference rows for ``maxpool bench``: PyTorch, ONNX Runtime and SciPy, when installed.

They are measured beside the project's implementations to give a sense of
scale, not offered as implementations: `recommend` never picks them. Each
adapter takes and returns NumPy arrays, like a `MaxPoolImpl`, and says where
its library's semantics match the contract (`Reference.not_applicable`).

- ``torch``: the adapter that ``maxpool verify torch`` runs
  (`impls.frameworks.pytorch`): ``torch.nn.functional.max_pool2d/3d`` with
  indices and ``max_pool2d/3d_with_indices_backward``, within torch's
  declared limits (symmetric padding of at most ``kernel // 2``). Its indices
  have the contract's format, but in a window holding several NaN it
  selects the last, so it is checked without NaN. Runs on torch's default
  thread count.
- ``onnxruntime``: the adapter that ``maxpool verify onnxruntime`` runs
  (`impls.frameworks.onnx_runtime`): a one-node ONNX ``MaxPool`` model with both
  outputs on the CPU execution provider, within its declared limits
  (float16/32/64, int8 and uint8; padding smaller than the kernel). Values and
  indices (converted from ONNX's format); an inference runtime, so no
  backward. It does not select the first NaN of a window, so it is checked
  without NaN. Runs on ONNX Runtime's default thread count. Needs the ``onnx``
  package too, to build the model.
- ``scipy.ndimage``: ``maximum_filter`` over the padded input, sampled at the
  window centres with the stride. Values only: no indices, no backward. It
  does not propagate NaN consistently, so it is checked without NaN.

Examples
--------
>>> from impls import PoolSpec
>>> from impls.tools.references import ScipyReference
>>> reference = ScipyReference()
>>> values, indices = reference.forward(np.arange(6.0).reshape(2, 3), PoolSpec((2,), stride=1))
>>> values, indices
(array([[1., 2.],
       [4., 5.]]), None)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..geometry import lowest_value
from ..spec import PoolSpec

__all__ = [
    "OnnxRuntimeReference",
    "Reference",
    "ScipyReference",
    "TorchReference",
    "available_references",
]


class Reference:
    """Common shape of the reference adapters."""

    name: str = ""
    gives_indices: bool = False
    check_with_nan: bool = True

    def describe(self) -> str:
        """Library version and threading, for the report."""
        raise NotImplementedError

    def not_applicable(
        self, input_shape: tuple[int, ...], spec: PoolSpec, dtype: np.dtype
    ) -> str | None:
        """Why this reference cannot run the case, or ``None`` if it can."""
        return None

    def forward(self, x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray | None]:
        """Values, and indices when ``gives_indices`` (then there is a ``backward`` too)."""
        raise NotImplementedError


class _AdapterReference(Reference):
    """A reference that runs one of the verify adapters of `impls.frameworks`."""

    gives_indices = True

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def not_applicable(
        self, input_shape: tuple[int, ...], spec: PoolSpec, dtype: np.dtype
    ) -> str | None:
        missing = self._adapter.capabilities.unsupported(spec, dtype, input_shape)
        return f"outside {self.name}'s limits: {'; '.join(missing)}" if missing else None

    def forward(self, x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        values, indices = self._adapter.forward(x, spec)
        return values, indices

    def backward(
        self,
        grad_out: np.ndarray,
        indices: np.ndarray,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        grad: np.ndarray = self._adapter.backward(grad_out, indices, input_shape, spec)
        return grad


class TorchReference(_AdapterReference):
    """PyTorch's max pooling through its verify adapter (`impls.frameworks.pytorch`)."""

    name = "torch"
    # torch selects the last NaN of a window, not the first.
    check_with_nan = False

    def __init__(self) -> None:
        from ..frameworks.pytorch import TorchMaxPool  # imports torch

        super().__init__(TorchMaxPool())

    def describe(self) -> str:
        description: str = self._adapter.describe()
        return description


class OnnxRuntimeReference(_AdapterReference):
    """ONNX Runtime's ``MaxPool`` through its verify adapter (`impls.frameworks.onnx_runtime`)."""

    name = "onnxruntime"
    # ONNX Runtime lets a number win over NaN, and returns other NaN bits.
    check_with_nan = False

    def __init__(self) -> None:
        from ..frameworks.onnx_runtime import OnnxRuntimeMaxPool  # imports onnx, onnxruntime

        super().__init__(OnnxRuntimeMaxPool())
        self.capabilities = self._adapter.capabilities  # no backward: forward rows only

    def describe(self) -> str:
        runtime = self._adapter.runtime
        return f"onnxruntime {runtime.__version__} (CPU execution provider, default threads)"


class ScipyReference(Reference):
    """``scipy.ndimage.maximum_filter`` sampled at the window centres: values only."""

    name = "scipy.ndimage"
    gives_indices = False
    check_with_nan = False

    def __init__(self) -> None:
        from scipy import ndimage  # only imported when the reference is used

        self._maximum_filter = ndimage.maximum_filter

    def describe(self) -> str:
        import scipy

        return f"scipy {scipy.__version__} (maximum_filter, values only)"

    def forward(self, x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, None]:
        x = np.asarray(x)
        split = x.ndim - spec.ndim
        spatial = x.shape[split:]
        out = spec.output_shape(spatial)
        pads = []
        for (begin, _), length, n, s, extent in zip(
            spec.pads(spatial), spatial, out, spec.stride, spec.extent, strict=True
        ):
            # Pad the end far enough for the last window, which ceil_mode may push
            # past the declared end padding.
            pads.append((begin, max(0, (n - 1) * s + extent - length - begin)))
        padded = np.pad(x, [(0, 0)] * split + pads, constant_values=lowest_value(x.dtype))
        footprint = np.zeros(spec.extent, dtype=bool)
        footprint[tuple(slice(None, None, d) for d in spec.dilation)] = True
        filtered = self._maximum_filter(
            padded, footprint=footprint.reshape((1,) * split + spec.extent), mode="nearest"
        )
        # maximum_filter centres the footprint on extent // 2.
        centres = tuple(
            slice(extent // 2, extent // 2 + (n - 1) * s + 1, s)
            for extent, n, s in zip(spec.extent, out, spec.stride, strict=True)
        )
        return filtered[(Ellipsis,) + centres], None


def available_references() -> list[Reference]:
    """The references whose libraries are installed: torch, onnxruntime, scipy.ndimage.

    Examples
    --------
    >>> [ref.name for ref in available_references()][-1:]
    ['scipy.ndimage']
    """
    found: list[Reference] = []
    if importlib.util.find_spec("torch") is not None:
        found.append(TorchReference())
    if all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime")):
        found.append(OnnxRuntimeReference())
    if importlib.util.find_spec("scipy") is not None:
        found.append(ScipyReference())
    return found
