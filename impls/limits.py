"""Geometry limits an implementation may declare: predicates on ``(spec, input_shape)``.

Many real max pools accept only part of the contract's geometry: square
kernels, one stride for every axis, a stride equal to the kernel (the most
common from-scratch restriction: windows that neither overlap nor leave
gaps), symmetric padding of at most half the kernel (PyTorch), padding
smaller than the kernel (ONNX Runtime), or windows that end exactly at the
border (im2col layers that reshape). Each such limit
is a `Limit`: a predicate ``limit(spec, input_shape) -> bool`` that is True
where the implementation accepts the call, with a description of what it
excludes. Limits combine with ``&``, and any other callable of the same
shape combines with them too.

An implementation declares its limits as ``impls.Capabilities(supports=...)``.
The conformance suite then draws only calls inside them (steering its draws
for the limits listed here, filtering for any other predicate) and reports
what it left out.

Examples
--------
>>> from impls import PoolSpec
>>> from impls.limits import one_stride, square_kernel
>>> layer_limits = square_kernel & one_stride
>>> layer_limits(PoolSpec((2, 2), stride=2), (1, 3, 8, 8))
True
>>> layer_limits.failures(PoolSpec((2, 3), stride=(1, 2)), (8, 8))
('kernel (2, 3) is not square', 'stride (1, 2) differs between axes')
>>> layer_limits.excludes()
('kernels that are not square', 'strides that differ between axes')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .spec import PoolSpec

__all__ = [
    "BUILTIN_LIMITS",
    "Limit",
    "all_of",
    "one_stride",
    "padding_at_most_half_kernel",
    "padding_below_kernel",
    "square_kernel",
    "stride_equals_kernel",
    "symmetric_padding",
    "windows_tile_input",
]

Predicate = Callable[[PoolSpec, tuple[int, ...]], bool]


def _spatial(spec: PoolSpec, input_shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(n) for n in input_shape)[len(input_shape) - spec.ndim :]


def _explicit_pads(spec: PoolSpec, input_shape: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The resolved ``(begin, end)`` pairs; ``"same"`` resolves against the input."""
    if isinstance(spec.padding, str):
        return spec.pads(_spatial(spec, input_shape))
    return spec.padding


@dataclass(frozen=True, eq=False)
class Limit:
    """A named geometry predicate, or the conjunction of several (see `all_of`).

    Parameters
    ----------
    name : str
        An identifier, such as ``"square_kernel"``.
    excluded : str
        What the limit leaves out, as a plural noun phrase
        (``"kernels that are not square"``).
    why_not : callable
        ``why_not(spec, input_shape)`` returns None inside the limit, else a
        sentence naming the offending value (``"kernel (2, 3) is not square"``).
    parts : tuple of Limit
        The limits a conjunction joins; empty for a single limit.
    """

    name: str
    excluded: str
    why_not: Callable[[PoolSpec, tuple[int, ...]], str | None]
    parts: tuple[Limit, ...] = ()

    def __call__(self, spec: PoolSpec, input_shape: Sequence[int]) -> bool:
        return not self.failures(spec, input_shape)

    def __and__(self, other: Predicate) -> Limit:
        return all_of(self, other)

    def __rand__(self, other: Predicate) -> Limit:
        return all_of(other, self)

    def __repr__(self) -> str:
        return " & ".join(part.name for part in self.atoms())

    def atoms(self) -> tuple[Limit, ...]:
        """The single limits this one is made of (itself, if it is one)."""
        return self.parts or (self,)

    def names(self) -> frozenset[str]:
        """Names of the single limits, for strategies that steer by them."""
        return frozenset(atom.name for atom in self.atoms())

    def failures(self, spec: PoolSpec, input_shape: Sequence[int]) -> tuple[str, ...]:
        """Why the call lies outside, one sentence per failed single limit; empty inside."""
        return tuple(reason for _, reason in self._judge(spec, input_shape))

    def failed(self, spec: PoolSpec, input_shape: Sequence[int]) -> tuple[Limit, ...]:
        """The single limits the call breaks; empty inside."""
        return tuple(atom for atom, _ in self._judge(spec, input_shape))

    def _judge(self, spec: PoolSpec, input_shape: Sequence[int]) -> list[tuple[Limit, str]]:
        shape = tuple(input_shape)
        broken = []
        for atom in self.atoms():
            try:
                reason = atom.why_not(spec, shape)
            except Exception as error:  # a user predicate that cannot judge the call
                reason = f"{atom.name} raised {type(error).__name__}: {error}"
            if reason is not None:
                broken.append((atom, reason))
        return broken

    def excludes(self) -> tuple[str, ...]:
        """What the limit leaves out, one phrase per single limit."""
        return tuple(atom.excluded for atom in self.atoms())


def _from_callable(predicate: Predicate) -> Limit:
    """Wrap any ``predicate(spec, input_shape) -> bool`` as a `Limit`."""
    if isinstance(predicate, Limit):
        return predicate
    if not callable(predicate):
        raise TypeError(
            f"a geometry limit must be callable as limit(spec, input_shape), got {predicate!r}"
        )
    name = getattr(predicate, "__qualname__", None) or type(predicate).__name__

    def why_not(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
        if predicate(spec, input_shape):
            return None
        return f"{name}({spec!r}, {input_shape}) is False"

    return Limit(name, f"calls for which {name}(spec, input_shape) is False", why_not)


def all_of(*predicates: Predicate) -> Limit:
    """The conjunction of limits (or any predicates of the same shape).

    Examples
    --------
    >>> all_of(square_kernel, symmetric_padding).names() == {"square_kernel", "symmetric_padding"}
    True
    """
    atoms: list[Limit] = []
    for predicate in predicates:
        atoms.extend(_from_callable(predicate).atoms())
    unique = tuple(dict.fromkeys(atoms))
    if len(unique) == 1:
        return unique[0]
    return Limit(" & ".join(a.name for a in unique), "", lambda spec, shape: None, unique)


def _square_kernel(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    if len(set(spec.kernel_size)) <= 1:
        return None
    return f"kernel {spec.kernel_size} is not square"


def _one_stride(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    if len(set(spec.stride)) <= 1:
        return None
    return f"stride {spec.stride} differs between axes"


def _stride_equals_kernel(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    if spec.stride == spec.kernel_size:
        return None
    return f"stride {spec.stride} is not the kernel {spec.kernel_size}"


def _symmetric_padding(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    pads = _explicit_pads(spec, input_shape)
    uneven = [axis for axis, (begin, end) in enumerate(pads) if begin != end]
    if not uneven:
        return None
    return f"padding {pads[uneven[0]]} on axis {uneven[0]} is not symmetric"


def _padding_at_most_half_kernel(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    pads = _explicit_pads(spec, input_shape)
    for axis, (pair, kernel) in enumerate(zip(pads, spec.kernel_size, strict=True)):
        if max(pair) > kernel // 2:
            return f"padding {pair} on axis {axis} exceeds half the kernel ({kernel} // 2)"
    return None


def _padding_below_kernel(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    pads = _explicit_pads(spec, input_shape)
    for axis, (pair, kernel) in enumerate(zip(pads, spec.kernel_size, strict=True)):
        if max(pair) >= kernel:
            return f"padding {pair} on axis {axis} is not smaller than the kernel ({kernel})"
    return None


def _windows_tile_input(spec: PoolSpec, input_shape: tuple[int, ...]) -> str | None:
    spatial = _spatial(spec, input_shape)
    pads = _explicit_pads(spec, input_shape)
    for axis, length in enumerate(spatial):
        span = length + sum(pads[axis]) - spec.extent[axis]
        if span < 0 or span % spec.stride[axis]:
            return (
                f"on axis {axis}, windows of extent {spec.extent[axis]} and stride "
                f"{spec.stride[axis]} do not end exactly at the border of the padded "
                f"length {length + sum(pads[axis])}"
            )
    return None


square_kernel = Limit("square_kernel", "kernels that are not square", _square_kernel)
one_stride = Limit("one_stride", "strides that differ between axes", _one_stride)
stride_equals_kernel = Limit(
    "stride_equals_kernel",
    "strides other than the kernel (overlapping or gapped windows)",
    _stride_equals_kernel,
)
symmetric_padding = Limit(
    "symmetric_padding", "padding that differs between the two sides", _symmetric_padding
)
padding_at_most_half_kernel = Limit(
    "padding_at_most_half_kernel",
    "padding above half the kernel (kernel // 2)",
    _padding_at_most_half_kernel,
)
padding_below_kernel = Limit(
    "padding_below_kernel", "padding as large as the kernel or larger", _padding_below_kernel
)
windows_tile_input = Limit(
    "windows_tile_input",
    "inputs whose last window does not end exactly at the border",
    _windows_tile_input,
)

# Every limit the conformance strategies know how to draw inside of directly.
BUILTIN_LIMITS: tuple[Limit, ...] = (
    square_kernel,
    one_stride,
    stride_equals_kernel,
    symmetric_padding,
    padding_at_most_half_kernel,
    padding_below_kernel,
    windows_tile_input,
)
