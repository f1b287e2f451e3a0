"""The interface every max-pooling implementation follows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .spec import PoolSpec

__all__ = ["MaxPoolImpl"]


@runtime_checkable
class MaxPoolImpl(Protocol):
    """A max-pooling implementation: a ``name`` and a forward/backward pair.

    Implementations are stateless: both methods depend only on their
    arguments, never modify them, and give the same result on every call.
    The full contract is in the project README.
    """

    name: str

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool the trailing ``spec.ndim`` axes of ``x``.

        Returns ``(values, indices)``: values in the dtype of ``x``, and int64
        flat row-major indices into each unpadded pooled plane, both shaped
        ``x.shape[:-spec.ndim] + spec.output_shape(x.shape[-spec.ndim:])``.
        """
        ...

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Gradient with respect to the input, shaped ``input_shape``.

        Each ``grad_out`` element is added to the input element its index
        names; the result has the dtype of ``grad_out``.
        """
        ...
