"""The interface every max-pooling implementation follows, and what it may leave out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .spec import PoolSpec

__all__ = ["CONTRACT_DTYPES", "Capabilities", "MaxPoolImpl"]

# Every dtype the contract supports, by NumPy name.
CONTRACT_DTYPES: tuple[str, ...] = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)

_ALL_NDIMS = (1, 2, 3)
_FLAGS = ("padding", "dilation", "ceil_mode")


def _pooling_over(ndim: int) -> str:
    return f"pooling over {ndim} {'axis' if ndim == 1 else 'axes'}"


@runtime_checkable
class MaxPoolImpl(Protocol):
    """A max-pooling implementation: a ``name`` and a forward/backward pair.

    Implementations are stateless: both methods depend only on their
    arguments, never modify them, and give the same result on every call.
    The full contract is in the project README. An implementation that
    covers only part of it says so with a ``capabilities`` attribute (see
    `Capabilities`); without one it claims the whole contract.
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


@dataclass(frozen=True)
class Capabilities:
    """The part of the contract an implementation supports.

    An implementation declares it as an attribute ``capabilities``; one that
    declares nothing supports everything. The conformance suite then draws
    only calls inside these limits and reports what it left out.

    Parameters
    ----------
    ndims : tuple of int, optional
        Numbers of pooled axes supported, among 1, 2 and 3.
    dtypes : tuple of str, optional
        Supported dtypes (any spelling `numpy.dtype` accepts), for the input
        and for ``grad_out``; a subset of `CONTRACT_DTYPES`.
    padding : bool, optional
        Whether padding is supported. If False, only specs without padding
        (``0`` or ``"valid"``) are used.
    dilation : bool, optional
        Whether dilations above 1 are supported.
    ceil_mode : bool, optional
        Whether ``ceil_mode=True`` is supported.

    Examples
    --------
    >>> caps = Capabilities(ndims=(2,), dtypes=("float32", np.float64), dilation=False)
    >>> caps.dtypes
    ('float32', 'float64')
    >>> caps.unsupported(PoolSpec((2, 2), dilation=2), np.dtype("int8"))
    ('dilation', 'dtype int8')
    >>> caps.left_out()[:2]
    ('pooling over 1 axis', 'pooling over 3 axes')
    >>> Capabilities.of(object()) == Capabilities()
    True
    """

    ndims: tuple[int, ...] = _ALL_NDIMS
    dtypes: tuple[str, ...] = CONTRACT_DTYPES
    padding: bool = True
    dilation: bool = True
    ceil_mode: bool = True

    def __post_init__(self) -> None:
        ndims = tuple(self.ndims)
        if not ndims or any(type(n) is not int or n not in _ALL_NDIMS for n in ndims):
            raise ValueError(f"ndims must be a non-empty tuple drawn from 1, 2, 3; got {ndims!r}")
        dtypes = []
        for dtype in self.dtypes:
            try:
                name = np.dtype(dtype).name
            except TypeError:
                name = repr(dtype)
            if name not in CONTRACT_DTYPES:
                raise ValueError(f"dtypes must be among {CONTRACT_DTYPES}, got {dtype!r}")
            dtypes.append(name)
        if not dtypes:
            raise ValueError("dtypes must name at least one dtype")
        for flag in _FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        object.__setattr__(self, "ndims", tuple(sorted(set(ndims))))
        object.__setattr__(self, "dtypes", tuple(dict.fromkeys(dtypes)))

    @classmethod
    def of(cls, impl: object) -> Capabilities:
        """The capabilities ``impl`` declares, or the whole contract if it declares none."""
        declared = getattr(impl, "capabilities", None)
        if declared is None:
            return cls()
        if not isinstance(declared, cls):
            raise TypeError(
                f"the capabilities attribute of {impl!r} must be an impls.Capabilities, "
                f"got {declared!r}"
            )
        return declared

    @property
    def complete(self) -> bool:
        """Whether these capabilities cover the whole contract."""
        return self == Capabilities()

    def unsupported(self, spec: PoolSpec, dtype: np.dtype | None = None) -> tuple[str, ...]:
        """The features a call with ``spec`` (and data of ``dtype``) uses beyond these limits.

        Dtypes outside the contract are not reported: calls with them must
        raise `TypeError` whatever the capabilities.
        """
        missing = []
        if spec.ndim not in self.ndims:
            missing.append(_pooling_over(spec.ndim))
        pads = spec.padding
        if not self.padding and pads != "valid" and (isinstance(pads, str) or any(map(any, pads))):
            missing.append("padding")
        if not self.dilation and max(spec.dilation) > 1:
            missing.append("dilation")
        if not self.ceil_mode and spec.ceil_mode:
            missing.append("ceil_mode")
        if dtype is not None and dtype.name in CONTRACT_DTYPES and dtype.name not in self.dtypes:
            missing.append(f"dtype {dtype.name}")
        return tuple(missing)

    def left_out(self) -> tuple[str, ...]:
        """Human-readable list of the parts of the contract these limits exclude."""
        missing = [_pooling_over(n) for n in _ALL_NDIMS if n not in self.ndims]
        missing += [flag for flag in _FLAGS if not getattr(self, flag)]
        missing += [f"dtype {name}" for name in CONTRACT_DTYPES if name not in self.dtypes]
        return tuple(missing)
