"""Reference rows for ``maxpool bench``: PyTorch and SciPy, when installed.

They are measured beside the project's implementations to give a sense of
scale, not offered as implementations: `recommend` never picks them. Each
adapter takes and returns NumPy arrays, like a `MaxPoolImpl`, and says where
its library's semantics match the contract (`Reference.not_applicable`).

- ``torch``: ``torch.nn.functional.max_pool1d/2d/3d`` with indices (1-D runs
  as 2-D with a unit axis), and backward from the indices with
  ``max_pool2d/3d_with_indices_backward``. Applies where padding is
  symmetric and at most half the effective kernel (torch's limits); its
  indices have the contract's format, but in a window holding several NaN it
  may select another than the first, so it is checked without NaN. Runs on
  torch's default thread count.
- ``scipy.ndimage``: ``maximum_filter`` over the padded input, sampled at the
  window centres with the stride. Values only: no indices, no backward. It
  does not propagate NaN consistently, so it is checked without NaN.

Examples
--------
>>> from impls import PoolSpec
>>> from impls.references import ScipyReference
>>> reference = ScipyReference()
>>> values, indices = reference.forward(np.arange(6.0).reshape(2, 3), PoolSpec((2,), stride=1))
>>> values, indices
(array([[1., 2.],
       [4., 5.]]), None)
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .spec import PoolSpec

__all__ = ["Reference", "ScipyReference", "TorchReference", "available_references"]


def _lowest(dtype: np.dtype) -> int | float:
    return -np.inf if dtype.kind == "f" else int(np.iinfo(dtype).min)


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


class TorchReference(Reference):
    """``torch.nn.functional.max_pool{1,2,3}d`` with indices, and its backward."""

    name = "torch"
    gives_indices = True
    # torch selects a NaN of the window, not always the first one.
    check_with_nan = False

    def __init__(self) -> None:
        import torch  # only imported when the reference is used

        self._torch = torch

    def describe(self) -> str:
        return f"torch {self._torch.__version__} ({self._torch.get_num_threads()} threads)"

    def not_applicable(
        self, input_shape: tuple[int, ...], spec: PoolSpec, dtype: np.dtype
    ) -> str | None:
        pads = spec.pads(input_shape[len(input_shape) - spec.ndim :])
        if any(begin != end for begin, end in pads):
            return "torch pads both sides of an axis equally; this padding is asymmetric"
        too_wide = [
            axis
            for axis, ((begin, _), extent) in enumerate(zip(pads, spec.extent, strict=True))
            if begin > extent // 2
        ]
        if too_wide:
            return f"torch allows padding of at most half the window; axis {too_wide[0]} has more"
        return None

    def _geometry(self, spec: PoolSpec, pads: Sequence[tuple[int, int]]) -> dict[str, list[int]]:
        unit = [1] if spec.ndim == 1 else []  # 1-D runs as 2-D over a unit axis
        return {
            "kernel_size": unit + list(spec.kernel_size),
            "stride": unit + list(spec.stride),
            "padding": [0] * len(unit) + [begin for begin, _ in pads],
            "dilation": unit + list(spec.dilation),
        }

    @staticmethod
    def _planes_shape(shape: tuple[int, ...], spec: PoolSpec) -> tuple[int, ...]:
        """``(batch, 1, *spatial)``, with a unit axis before a 1-D spatial axis."""
        split = len(shape) - spec.ndim
        unit = (1,) if spec.ndim == 1 else ()
        return (math.prod(shape[:split]), 1) + unit + shape[split:]

    def _as_planes(self, array: np.ndarray, spec: PoolSpec) -> Any:
        planes = np.ascontiguousarray(array).reshape(self._planes_shape(array.shape, spec))
        return self._torch.from_numpy(planes)

    def _pool(self, spec: PoolSpec) -> Any:
        functional = self._torch.nn.functional
        return functional.max_pool3d if spec.ndim == 3 else functional.max_pool2d

    def forward(self, x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        split = x.ndim - spec.ndim
        spatial = x.shape[split:]
        pads = spec.pads(spatial)
        out_shape = x.shape[:split] + spec.output_shape(spatial)
        values, indices = self._pool(spec)(
            self._as_planes(x, spec),
            **self._geometry(spec, pads),
            ceil_mode=spec.ceil_mode,
            return_indices=True,
        )
        return values.numpy().reshape(out_shape), indices.numpy().reshape(out_shape)

    def backward(
        self,
        grad_out: np.ndarray,
        indices: np.ndarray,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        input_shape = tuple(input_shape)
        grad_out = np.asarray(grad_out)
        # The backward kernel reads only the shape and dtype of the input.
        like_input = self._torch.empty(
            self._planes_shape(input_shape, spec),
            dtype=self._torch.from_numpy(grad_out[:0]).dtype,
        )
        aten = self._torch.ops.aten
        backward = (
            aten.max_pool3d_with_indices_backward
            if spec.ndim == 3
            else aten.max_pool2d_with_indices_backward
        )
        geometry = self._geometry(spec, spec.pads(input_shape[len(input_shape) - spec.ndim :]))
        grad_in = backward(
            self._as_planes(grad_out, spec),
            like_input,
            geometry["kernel_size"],
            geometry["stride"],
            geometry["padding"],
            geometry["dilation"],
            spec.ceil_mode,
            self._as_planes(np.asarray(indices), spec),
        )
        return grad_in.numpy().reshape(input_shape)


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
        padded = np.pad(x, [(0, 0)] * split + pads, constant_values=_lowest(x.dtype))
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
    """The references whose libraries are installed, torch first.

    Examples
    --------
    >>> [ref.name for ref in available_references()][-1:]
    ['scipy.ndimage']
    """
    found: list[Reference] = []
    if importlib.util.find_spec("torch") is not None:
        found.append(TorchReference())
    if importlib.util.find_spec("scipy") is not None:
        found.append(ScipyReference())
    return found
