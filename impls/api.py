"""Conveniences for downstream code: a function and a layer class.

`max_pool` is called with the same arguments again and again in a training
loop: the `PoolSpec` it builds from them (tens of microseconds of validation)
is kept, keyed by arguments made only of plain ints, strings, bools and tuples
of them, which compare equal only when they build the same spec. Anything else
(lists, NumPy integers, floats) is validated on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from .fast.threads import ForkSafeLock
from .registry import resolve
from .spec import IntOrSequence, PaddingArg, PoolSpec

__all__ = ["DEFAULT_IMPL", "MaxPool", "max_pool"]

# The fastest choice for each case; see impls/fast/auto.py and docs/auto-dispatch.md.
DEFAULT_IMPL = "auto"

# Specs kept for `max_pool`; beyond this many, the oldest goes first.
MAX_SPECS = 256
_specs: dict[tuple[object, ...], PoolSpec] = {}
_specs_lock = ForkSafeLock()


def _plain(value: object) -> bool:
    """Whether ``value`` is an exact int or str, or a tuple of plain values.

    Such values are equal only if they are the same value of the same type, so
    as a key they never let an argument that `PoolSpec` would refuse (``2.0``,
    ``True``) stand for one it accepts.
    """
    kind = type(value)
    if kind is int or kind is str:
        return True
    return kind is tuple and all(_plain(item) for item in cast(tuple[object, ...], value))


def _spec(
    kernel_size: object, stride: object, padding: object, dilation: object, ceil_mode: object
) -> PoolSpec:
    """`PoolSpec` of these arguments, kept when they are plain (see the module docstring)."""
    key = (kernel_size, stride, padding, dilation, ceil_mode)
    plain = (
        type(ceil_mode) is bool
        and (stride is None or _plain(stride))
        and _plain(kernel_size)
        and _plain(padding)
        and _plain(dilation)
    )
    if plain:
        spec = _specs.get(key)
        if spec is not None:
            return spec
    spec = PoolSpec(kernel_size, stride, padding, dilation, ceil_mode)  # type: ignore[arg-type]
    if plain:
        with _specs_lock:
            while len(_specs) >= MAX_SPECS:
                del _specs[next(iter(_specs))]
            _specs[key] = spec
    return spec


def max_pool(
    x: object,
    kernel_size: Sequence[int],
    stride: IntOrSequence | None = None,
    padding: PaddingArg = 0,
    dilation: IntOrSequence = 1,
    ceil_mode: bool = False,
    *,
    impl: object = DEFAULT_IMPL,
) -> tuple[np.ndarray, np.ndarray]:
    """Max-pool the trailing ``len(kernel_size)`` axes of ``x``.

    Parameters
    ----------
    x : array_like
        Input of any supported dtype, with any number of leading axes.
    kernel_size, stride, padding, dilation, ceil_mode
        As in `PoolSpec`.
    impl : str or MaxPoolImpl, optional
        A registered name (see `names`), a ``"module:attribute"`` path, or an
        implementation object. The default, ``"auto"``, picks the fastest
        implementation measured for this kind of case.

    Returns
    -------
    values : ndarray
        The maxima, in the dtype of ``x``.
    indices : ndarray of int64
        Flat row-major index of each maximum in its unpadded pooled plane.

    Examples
    --------
    >>> values, indices = max_pool([[1, 2, 3], [4, 5, 6], [7, 8, 9]], (2, 2), stride=1)
    >>> values
    array([[5, 6],
           [8, 9]])
    >>> indices
    array([[4, 5],
           [7, 8]])
    """
    spec = _spec(kernel_size, stride, padding, dilation, ceil_mode)
    return resolve(impl).forward(x, spec)


class MaxPool:
    """A max-pooling layer with ``forward`` and ``backward``.

    ``forward`` remembers the indices and the input shape; ``backward`` turns
    the gradient of the output into the gradient of the input.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As in `PoolSpec`.
    impl : str or MaxPoolImpl, optional
        As in `max_pool`.

    Examples
    --------
    >>> import numpy as np
    >>> layer = MaxPool((2, 2), stride=1)
    >>> layer.forward(np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]]))
    array([[5., 6.],
           [8., 9.]])
    >>> layer.backward(np.ones((2, 2)))
    array([[0., 0., 0.],
           [0., 1., 1.],
           [0., 1., 1.]])
    """

    def __init__(
        self,
        kernel_size: Sequence[int],
        stride: IntOrSequence | None = None,
        padding: PaddingArg = 0,
        dilation: IntOrSequence = 1,
        ceil_mode: bool = False,
        *,
        impl: object = DEFAULT_IMPL,
    ) -> None:
        self.spec = PoolSpec(kernel_size, stride, padding, dilation, ceil_mode)
        self.impl = resolve(impl)
        self._indices: np.ndarray | None = None
        self._input_shape: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        return f"MaxPool({self.spec!r}, impl={self.impl.name!r})"

    def forward(self, x: object) -> np.ndarray:
        """Pool ``x`` and remember where each maximum came from."""
        values, indices = self.impl.forward(x, self.spec)
        self._indices, self._input_shape = indices, np.asarray(x).shape
        return values

    __call__ = forward

    @property
    def indices(self) -> np.ndarray | None:
        """Indices of the last `forward` call (``None`` before the first)."""
        return self._indices

    def backward(self, grad_out: object) -> np.ndarray:
        """Gradient of the input of the last `forward` call, given that of its output."""
        if self._indices is None or self._input_shape is None:
            raise RuntimeError("MaxPool.backward called before forward")
        return self.impl.backward(grad_out, self._indices, self._input_shape, self.spec)
