"""The interface every max-pooling implementation follows, and what it may leave out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import DTypeLike

from .limits import Limit, all_of
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
_FLAGS = ("padding", "dilation", "ceil_mode", "backward")
_BACKWARD_INDICES = ("any", "forward")


def _pooling_over(ndim: int) -> str:
    return f"pooling over {ndim} {'axis' if ndim == 1 else 'axes'}"


@runtime_checkable
class MaxPoolImpl(Protocol):
    """A max-pooling implementation: a ``name`` and a forward/backward pair.

    Implementations are stateless: both methods depend only on their
    arguments, never modify them, and give the same result on every call.
    The full contract is in docs/contract.md. An implementation that
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
    only calls inside these limits, skips fixed-input tests outside them, and
    reports what it left out.

    Parameters
    ----------
    ndims : tuple of int, optional
        Numbers of pooled axes supported, among 1, 2 and 3.
    dtypes : tuple of str, optional
        Supported input dtypes of ``forward`` (any spelling `numpy.dtype`
        accepts); a subset of `CONTRACT_DTYPES`.
    padding : bool, optional
        Whether padding is supported. If False, only specs without padding
        (``0`` or ``"valid"``) are used.
    dilation : bool, optional
        Whether dilations above 1 are supported.
    ceil_mode : bool, optional
        Whether ``ceil_mode=True`` is supported.
    supports : callable, optional
        ``supports(spec, input_shape) -> bool``: the geometry accepted, for
        limits the flags above cannot say (square kernels only, one stride,
        symmetric padding...). The predicates in `impls.limits` describe the
        common ones and combine with ``&``; any other callable works too.
    grad_dtypes : tuple of str or "input", optional
        Dtypes of ``grad_out`` that ``backward`` accepts; ``"input"`` means
        the dtype of the input of the ``forward`` call that made the indices.
        Default: the same as ``dtypes``.
    backward : bool, optional
        Whether ``backward`` is implemented at all.
    backward_indices : {"any", "forward"}, optional
        ``"any"``: ``backward`` routes gradients through any in-plane indices,
        as the contract says. ``"forward"``: only through the indices that
        ``forward`` returned (typical of layers that remember them).
    validates_arguments : bool, optional
        Whether the implementation claims the contract's argument validation
        (`ValueError` or `TypeError` on invalid calls). Without the claim,
        the error checks are not run. Default (None): claimed, except for
        layers presented with `impls.conformance.from_layer`.

    Examples
    --------
    >>> from impls.limits import square_kernel
    >>> caps = Capabilities(ndims=(2,), dtypes=("float32", np.float64), supports=square_kernel)
    >>> caps.dtypes
    ('float32', 'float64')
    >>> caps.unsupported(PoolSpec((2, 3), dilation=2), np.dtype("int8"), (4, 6))
    ('dtype int8', 'kernel (2, 3) is not square')
    >>> caps.left_out()[:3]
    ('pooling over 1 axis', 'pooling over 3 axes', 'dtype float16')
    >>> Capabilities.of(object()) == Capabilities()
    True
    """

    ndims: tuple[int, ...] = _ALL_NDIMS
    dtypes: tuple[str, ...] = CONTRACT_DTYPES
    padding: bool = True
    dilation: bool = True
    ceil_mode: bool = True
    supports: Callable[[PoolSpec, tuple[int, ...]], bool] | None = None
    grad_dtypes: tuple[str, ...] | str | None = None
    backward: bool = True
    backward_indices: str = "any"
    validates_arguments: bool | None = None

    def __post_init__(self) -> None:
        ndims = tuple(self.ndims)
        if not ndims or any(type(n) is not int or n not in _ALL_NDIMS for n in ndims):
            raise ValueError(f"ndims must be a non-empty tuple drawn from 1, 2, 3; got {ndims!r}")
        object.__setattr__(self, "ndims", tuple(sorted(set(ndims))))
        object.__setattr__(self, "dtypes", _dtype_names(self.dtypes, "dtypes"))
        if self.grad_dtypes is None:
            object.__setattr__(self, "grad_dtypes", self.dtypes)
        elif self.grad_dtypes != "input":
            if isinstance(self.grad_dtypes, str):
                raise ValueError(
                    f"grad_dtypes must be a tuple of dtypes or 'input', got {self.grad_dtypes!r}"
                )
            object.__setattr__(self, "grad_dtypes", _dtype_names(self.grad_dtypes, "grad_dtypes"))
        for flag in _FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        if not any(self.validates_arguments is value for value in (None, True, False)):
            raise TypeError(
                f"validates_arguments must be a bool or None, got {self.validates_arguments!r}"
            )
        if self.backward_indices not in _BACKWARD_INDICES:
            raise ValueError(
                f"backward_indices must be one of {_BACKWARD_INDICES}, "
                f"got {self.backward_indices!r}"
            )
        if self.supports is not None:
            object.__setattr__(self, "supports", all_of(self.supports))

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

    @property
    def claims_validation(self) -> bool:
        """Whether argument validation is claimed (it is unless declared False)."""
        return self.validates_arguments is not False

    @property
    def limit(self) -> Limit | None:
        """The geometry predicate as a `impls.limits.Limit`, or None if there is none."""
        supports = self.supports
        assert supports is None or isinstance(supports, Limit)  # made one in __post_init__
        return supports

    def gradient_dtypes(self, input_dtype: np.dtype | str) -> tuple[str, ...]:
        """The ``grad_out`` dtypes ``backward`` accepts after forward on ``input_dtype``."""
        # After __post_init__, grad_dtypes is a tuple of names or "input".
        if isinstance(self.grad_dtypes, tuple):
            return self.grad_dtypes
        return (np.dtype(input_dtype).name,)

    def gradient_dtype(self, input_dtype: np.dtype | str) -> np.dtype:
        """The ``grad_out`` dtype to use after forward on ``input_dtype``.

        float64 if accepted, else the widest accepted float, else the first
        accepted dtype.

        Examples
        --------
        >>> Capabilities().gradient_dtype("int8")
        dtype('float64')
        >>> Capabilities(grad_dtypes="input").gradient_dtype("int8")
        dtype('int8')
        """
        accepted: tuple[str, ...] = self.gradient_dtypes(input_dtype)
        floats = [d for d in ("float64", "float32", "float16") if d in accepted]
        return np.dtype((floats or accepted)[0])

    def unsupported(
        self,
        spec: PoolSpec,
        dtype: np.dtype | None = None,
        input_shape: Sequence[int] | None = None,
    ) -> tuple[str, ...]:
        """The features a forward call uses beyond these limits, empty if none.

        ``dtype`` is that of the input; the geometry predicate is consulted
        when ``input_shape`` is given. Dtypes outside the contract are not
        reported: calls with them must raise `TypeError` whatever the
        capabilities.
        """
        missing = self._spec_features(spec)
        if dtype is not None and dtype.name in CONTRACT_DTYPES and dtype.name not in self.dtypes:
            missing.append(f"dtype {dtype.name}")
        return tuple(missing) + self._geometry(spec, input_shape)

    def unsupported_backward(
        self,
        spec: PoolSpec,
        grad_dtype: np.dtype | None = None,
        input_shape: Sequence[int] | None = None,
        input_dtype: np.dtype | None = None,
    ) -> tuple[str, ...]:
        """Like `unsupported`, for a backward call with ``grad_out`` of ``grad_dtype``.

        ``input_dtype`` is the dtype of forward's input, needed only when
        ``grad_dtypes`` is ``"input"``.
        """
        if not self.backward:
            return ("backward",)
        missing = self._spec_features(spec)
        if grad_dtype is not None and grad_dtype.name in CONTRACT_DTYPES:
            if isinstance(self.grad_dtypes, tuple):  # else "input"
                if grad_dtype.name not in self.grad_dtypes:
                    missing.append(f"gradient dtype {grad_dtype.name}")
            elif input_dtype is not None and grad_dtype != input_dtype:
                missing.append(f"gradient dtype {grad_dtype.name} for input {input_dtype.name}")
        return tuple(missing) + self._geometry(spec, input_shape)

    def _spec_features(self, spec: PoolSpec) -> list[str]:
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
        return missing

    def _geometry(self, spec: PoolSpec, input_shape: Sequence[int] | None) -> tuple[str, ...]:
        if self.limit is None or input_shape is None or len(input_shape) < spec.ndim:
            return ()
        return self.limit.failures(spec, tuple(input_shape))

    def left_out(self) -> tuple[str, ...]:
        """Human-readable list of the parts of the contract these limits exclude."""
        missing = [_pooling_over(n) for n in _ALL_NDIMS if n not in self.ndims]
        missing += [f"dtype {name}" for name in CONTRACT_DTYPES if name not in self.dtypes]
        missing += [flag for flag in _FLAGS[:3] if not getattr(self, flag)]
        if self.limit is not None:
            missing += self.limit.excludes()
        if not self.backward:
            missing.append("backward")
        else:
            if isinstance(self.grad_dtypes, tuple):  # else "input"
                missing += [
                    f"gradient dtype {name}"
                    for name in CONTRACT_DTYPES
                    if name not in self.grad_dtypes
                ]
            else:
                missing.append("gradients of another dtype than the input")
            if self.backward_indices == "forward":
                missing.append("backward through indices other than forward's own")
        if not self.claims_validation:
            missing.append("argument validation (not claimed)")
        return tuple(missing)


def _dtype_names(dtypes: Iterable[DTypeLike], field: str) -> tuple[str, ...]:
    names = []
    for dtype in dtypes:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = repr(dtype)
        if name not in CONTRACT_DTYPES:
            raise ValueError(f"{field} must be among {CONTRACT_DTYPES}, got {dtype!r}")
        names.append(name)
    if not names:
        raise ValueError(f"{field} must name at least one dtype")
    return tuple(dict.fromkeys(names))
