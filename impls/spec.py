"""The pooling geometry: which input positions each output position reads.

`PoolSpec` holds the hyper-parameters of a max pool (kernel, stride, padding,
dilation, ceil mode), validates them once, and answers the two questions every
implementation asks: how much padding lies on each side of each pooled axis
(`PoolSpec.pads`), and how long the output is (`PoolSpec.output_shape`).

Along one pooled axis of length ``L``, output position ``o`` reads the input
positions ``o * stride - pad_begin + j * dilation`` for ``j = 0 .. k - 1``;
positions outside ``[0, L)`` are padding and never take part in the max.

This module is pure Python: it imports nothing but the standard library and
NumPy's integer scalar types.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, SupportsIndex, TypeGuard

import numpy as np

__all__ = [
    "PADDING_STRINGS",
    "PaddingString",
    "PoolSpec",
    "as_int",
    "describe_spec",
    "spec_arguments",
]

PaddingString = Literal["valid", "same", "same_lower"]
PADDING_STRINGS: tuple[str, ...] = ("valid", "same", "same_lower")
MAX_POOLED_AXES = 3

IntOrSequence = int | Sequence[int]
PaddingArg = int | str | Sequence[int | Sequence[int]]
Pads = tuple[tuple[int, int], ...]


def as_int(value: object, name: str) -> int:
    """Return ``value`` as a Python int, refusing bools, floats and strings.

    Any integer type is accepted (NumPy's too); anything else raises a
    `TypeError` naming ``name`` and the value.

    Examples
    --------
    >>> as_int(np.int64(2), "threads")
    2
    >>> as_int(1.5, "threads")
    Traceback (most recent call last):
    ...
    TypeError: threads must be an integer, got 1.5 of type float
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    if isinstance(value, SupportsIndex):
        try:
            return operator.index(value)
        except TypeError:
            pass  # an __index__ that refuses, such as that of a NumPy array of size 2
    raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")


def _is_sequence(value: object) -> TypeGuard[tuple[object, ...] | list[object]]:
    return isinstance(value, (tuple, list))


def _per_axis(value: object, name: str, ndim: int, minimum: int) -> tuple[int, ...]:
    """Expand an int or a sequence of ints to one checked value per pooled axis."""
    if _is_sequence(value):
        items = list(value)
        if len(items) != ndim:
            raise ValueError(
                f"{name} must have one entry per pooled axis: got {len(items)} "
                f"entries {tuple(items)!r} for a {ndim}-axis kernel"
            )
    else:
        items = [value] * ndim
    result = tuple(as_int(item, name) for item in items)
    for axis, item in enumerate(result):
        if item < minimum:
            raise ValueError(
                f"{name} must be >= {minimum} on every axis, got {item} on axis {axis}"
            )
    return result


def _parse_padding(padding: object, ndim: int) -> Pads | str:
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(f"padding string must be one of {PADDING_STRINGS}, got {padding!r}")
        return padding
    if not _is_sequence(padding):
        amount = as_int(padding, "padding")
        if amount < 0:
            raise ValueError(f"padding must be >= 0, got {amount}")
        return ((amount, amount),) * ndim
    entries = list(padding)
    if len(entries) != ndim:
        hint = ""
        if ndim == 1 and len(entries) == 2 and not any(map(_is_sequence, entries)):
            hint = f"; for (begin, end) padding of one axis write ({tuple(entries)!r},)"
        raise ValueError(
            f"padding must have one entry per pooled axis: got {len(entries)} "
            f"entries {tuple(entries)!r} for a {ndim}-axis kernel{hint}"
        )
    pairs = []
    for axis, entry in enumerate(entries):
        if _is_sequence(entry):
            if len(entry) != 2:
                raise ValueError(
                    f"padding on axis {axis} must be an int or a (begin, end) pair, "
                    f"got {tuple(entry)!r}"
                )
            pair = (as_int(entry[0], "padding"), as_int(entry[1], "padding"))
        else:
            amount = as_int(entry, "padding")
            pair = (amount, amount)
        if min(pair) < 0:
            raise ValueError(f"padding must be >= 0, got {pair} on axis {axis}")
        pairs.append(pair)
    return tuple(pairs)


def _floor_sum(count: int, modulus: int, slope: int, offset: int) -> int:
    """Return ``sum(floor((slope * i + offset) / modulus) for i in range(count))``.

    Runs in O(log) steps (the Euclid-like reduction), for ``count >= 0``,
    ``modulus >= 1`` and non-negative ``slope`` and ``offset``.
    """
    total = 0
    while count > 0:
        if slope >= modulus:
            total += (count * (count - 1) // 2) * (slope // modulus)
            slope %= modulus
        if offset >= modulus:
            total += count * (offset // modulus)
            offset %= modulus
        # Swap the roles of the axes: count lattice points under the line
        # from the other side, with a strictly smaller modulus.
        top = slope * count + offset
        if top < modulus:
            break
        count, offset = divmod(top, modulus)
        modulus, slope = slope, modulus
    return total


def _windows_missing_input(
    count: int, stride: int, pad_begin: int, dilation: int, length: int
) -> int:
    """Count windows among the first ``count`` that skip over the whole input.

    Only possible when ``dilation > length``: a window that straddles the
    input then hits it only if its start is congruent, modulo the dilation,
    to a position inside ``[0, length)``. Assumes the first window does not
    end before the input and the last does not start after it.
    """
    if dilation <= length:
        return 0
    first = -pad_begin % dilation
    # (first + o * stride) mod dilation >= length, counted with floor sums.
    return _floor_sum(count, dilation, stride, first + dilation - length) - _floor_sum(
        count, dilation, stride, first
    )


@dataclass(frozen=True, init=False)
class PoolSpec:
    """Hyper-parameters of a max pool over the trailing ``len(kernel_size)`` axes.

    Parameters
    ----------
    kernel_size : tuple of int
        Window size per pooled axis; its length (1, 2 or 3) is the number of
        pooled axes, which are the input's trailing axes.
    stride : int or tuple of int, optional
        Step between windows. ``None`` (default) means ``kernel_size``; an
        int applies to every axis.
    padding : int, tuple, or {"valid", "same", "same_lower"}, optional
        Implicit padding. An int pads both sides of every axis; a tuple holds
        one entry per axis, each an int (both sides) or a ``(begin, end)``
        pair. ``"valid"`` means no padding; ``"same"`` and ``"same_lower"``
        (ONNX's SAME_UPPER and SAME_LOWER) choose the padding that makes the
        output length ``ceil(L / stride)``, with the odd unit at the end or
        at the beginning. Padded positions never win the max, and padding may
        exceed half the kernel as long as every window covers some input.
    dilation : int or tuple of int, optional
        Spacing between the elements of a window. Default 1.
    ceil_mode : bool, optional
        Round the output length up instead of down; a last window that would
        start in the end padding is dropped. No effect with ``"same"`` or
        ``"same_lower"``, whose output length is fixed.

    Raises
    ------
    TypeError
        If a value is not an integer (bools and floats are refused), or
        ``ceil_mode`` is not a bool.
    ValueError
        If a size is out of range or a tuple has the wrong length.

    Notes
    -----
    Along an axis of length ``L`` with padding ``(pb, pe)``, the output
    length is ``floor((L + pb + pe - d*(k-1) - 1) / s) + 1`` (``ceil`` with
    ``ceil_mode``), and output position ``o`` reads input positions
    ``o*s - pb + j*d`` for ``j = 0 .. k-1``.

    Examples
    --------
    >>> spec = PoolSpec((3, 3), stride=2, padding=1)
    >>> spec.output_shape((112, 112))
    (56, 56)
    >>> spec.pads((112, 112))
    ((1, 1), (1, 1))
    >>> PoolSpec((3,), stride=2, padding="same").pads((10,))
    ((0, 1),)
    """

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Pads | str
    dilation: tuple[int, ...]
    ceil_mode: bool

    def __init__(
        self,
        kernel_size: Sequence[int],
        stride: IntOrSequence | None = None,
        padding: PaddingArg = 0,
        dilation: IntOrSequence = 1,
        ceil_mode: bool = False,
    ) -> None:
        if not _is_sequence(kernel_size):
            raise TypeError(
                "kernel_size must be a tuple with one size per pooled axis, "
                f"such as (2, 2); got {kernel_size!r}"
            )
        ndim = len(kernel_size)
        if not 1 <= ndim <= MAX_POOLED_AXES:
            raise ValueError(
                f"kernel_size must have 1 to {MAX_POOLED_AXES} entries (pooled axes), "
                f"got {ndim}: {tuple(kernel_size)!r}"
            )
        kernel = _per_axis(kernel_size, "kernel_size", ndim, minimum=1)
        strides = kernel if stride is None else _per_axis(stride, "stride", ndim, 1)
        dilations = _per_axis(dilation, "dilation", ndim, minimum=1)
        pads = _parse_padding(padding, ndim)
        if not isinstance(ceil_mode, (bool, np.bool_)):
            raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
        object.__setattr__(self, "kernel_size", kernel)
        object.__setattr__(self, "stride", strides)
        object.__setattr__(self, "padding", pads)
        object.__setattr__(self, "dilation", dilations)
        object.__setattr__(self, "ceil_mode", bool(ceil_mode))
        # Specs key the per-geometry caches on every call: hash the fields once.
        object.__setattr__(self, "_hash", hash((kernel, strides, pads, dilations, self.ceil_mode)))

    def __hash__(self) -> int:
        cached: int = self.__dict__["_hash"]  # set in __init__, not a dataclass field
        return cached

    def __reduce__(self) -> tuple[type[PoolSpec], tuple[object, ...]]:
        # Rebuild through __init__ rather than restore the cached hash: string
        # hashes (padding "same") differ between processes.
        fields = (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        return type(self), fields

    @property
    def ndim(self) -> int:
        """Number of pooled (trailing) axes."""
        return len(self.kernel_size)

    @property
    def window_size(self) -> int:
        """Number of elements in one window, the product of ``kernel_size``."""
        size = 1
        for k in self.kernel_size:
            size *= k
        return size

    @property
    def extent(self) -> tuple[int, ...]:
        """Input span of one window per axis: ``dilation * (kernel - 1) + 1``."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))

    def _check_spatial(self, spatial_shape: Sequence[int]) -> tuple[int, ...]:
        if not _is_sequence(spatial_shape):
            raise TypeError(
                f"spatial_shape must be a tuple of {self.ndim} ints, got {spatial_shape!r}"
            )
        if len(spatial_shape) != self.ndim:
            raise ValueError(
                f"spatial_shape must have {self.ndim} entries (one per pooled axis), "
                f"got {tuple(spatial_shape)!r}"
            )
        lengths = tuple(as_int(n, "spatial_shape") for n in spatial_shape)
        if min(lengths) < 0:
            raise ValueError(f"spatial_shape must be >= 0, got {lengths!r}")
        return lengths

    def _same_length(self, axis: int, length: int) -> int:
        return -(-length // self.stride[axis])

    def pads(self, spatial_shape: Sequence[int]) -> Pads:
        """Return the ``(begin, end)`` padding of each pooled axis.

        Parameters
        ----------
        spatial_shape : tuple of int
            Lengths of the pooled axes of the input.

        Returns
        -------
        tuple of (int, int)
            Explicit padding as given, zeros for ``"valid"``, and the computed
            padding for ``"same"`` / ``"same_lower"``.
        """
        lengths = self._check_spatial(spatial_shape)
        if self.padding == "valid":
            return ((0, 0),) * self.ndim
        if not isinstance(self.padding, str):
            return self.padding
        pairs = []
        for axis, length in enumerate(lengths):
            out = self._same_length(axis, length)
            total = max(0, (out - 1) * self.stride[axis] + self.extent[axis] - length)
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if self.padding == "same" else (large, small))
        return tuple(pairs)

    def output_shape(self, spatial_shape: Sequence[int]) -> tuple[int, ...]:
        """Return the lengths of the pooled axes of the output.

        Parameters
        ----------
        spatial_shape : tuple of int
            Lengths of the pooled axes of the input.

        Returns
        -------
        tuple of int
            One length per pooled axis, each at least 1.

        Raises
        ------
        ValueError
            If an axis would have no output, or some window would cover
            padding only (padding wider than the window, or a dilation that
            steps over the whole input). The message names the axis and sizes.
        """
        lengths = self._check_spatial(spatial_shape)
        pads = self.pads(lengths)
        shape = []
        for axis, length in enumerate(lengths):
            (begin, end), stride = pads[axis], self.stride[axis]
            extent, dilation = self.extent[axis], self.dilation[axis]
            if isinstance(self.padding, str) and self.padding != "valid":
                out = self._same_length(axis, length)
            else:
                span = length + begin + end - extent
                if span < 0:
                    raise ValueError(
                        f"pooled axis {axis}: input length {length} with padding "
                        f"({begin}, {end}) is shorter than the window extent {extent} "
                        f"(kernel {self.kernel_size[axis]}, dilation {dilation}); "
                        "the output would be empty"
                    )
                out = (-(-span // stride) if self.ceil_mode else span // stride) + 1
                if self.ceil_mode and (out - 1) * stride >= length + begin:
                    out -= 1  # the last window would start in the end padding
            if out < 1 or length < 1:
                raise ValueError(
                    f"pooled axis {axis}: input length {length} gives no output "
                    f"with kernel {self.kernel_size[axis]} and padding ({begin}, {end})"
                )
            self._check_windows_cover_input(axis, length, begin, out)
            shape.append(out)
        return tuple(shape)

    def _check_windows_cover_input(self, axis: int, length: int, begin: int, out: int) -> None:
        stride, dilation = self.stride[axis], self.dilation[axis]
        reach = self.extent[axis] - 1
        last_start = (out - 1) * stride - begin
        problem = None
        if reach - begin < 0:
            problem = f"window 0 spans input positions {-begin}..{reach - begin}"
        elif last_start > length - 1:
            problem = f"window {out - 1} starts at input position {last_start}"
        elif _windows_missing_input(out, stride, begin, dilation, length):
            problem = f"with dilation {dilation} some window steps over every input element"
        if problem is not None:
            raise ValueError(
                f"pooled axis {axis}: {problem}, so it covers padding only (input "
                f"length {length}, kernel {self.kernel_size[axis]}, stride {stride}, "
                f"dilation {dilation}, padding begin {begin}); every window must "
                "cover at least one input element: reduce the padding or dilation"
            )


def _axes_option(values: tuple[int, ...]) -> str:
    """Per-axis values as the command's options take them: ``2`` or ``1,2``."""
    return str(values[0]) if len(set(values)) == 1 else ",".join(map(str, values))


def _axes_argument(values: tuple[int, ...]) -> str:
    """Per-axis values as `PoolSpec` takes them: ``2`` or ``(1, 2)``."""
    return str(values[0]) if len(set(values)) == 1 else repr(values)


def describe_spec(spec: PoolSpec) -> str:
    """The spec in short, in the syntax of the ``maxpool`` command's options.

    Parameters
    ----------
    spec : PoolSpec
        The spec to describe.

    Returns
    -------
    str
        Kernel, stride, then padding, dilation and ceil mode where not the default.

    Examples
    --------
    >>> describe_spec(PoolSpec((3, 3), stride=2, padding=1))
    'k3x3 s2 p1'
    >>> describe_spec(PoolSpec((2,), padding=((0, 1),), dilation=2, ceil_mode=True))
    'k2 s2 p0:1 d2 ceil'
    """
    parts = [f"k{'x'.join(map(str, spec.kernel_size))}", f"s{_axes_option(spec.stride)}"]
    if isinstance(spec.padding, str):
        parts.append(f"p={spec.padding}")
    elif any(begin != end for begin, end in spec.padding):
        parts.append("p" + ",".join(f"{begin}:{end}" for begin, end in spec.padding))
    elif any(begin for begin, _ in spec.padding):
        parts.append(f"p{_axes_option(tuple(begin for begin, _ in spec.padding))}")
    if set(spec.dilation) != {1}:
        parts.append(f"d{_axes_option(spec.dilation)}")
    if spec.ceil_mode:
        parts.append("ceil")
    return " ".join(parts)


def spec_arguments(spec: PoolSpec) -> str:
    """The Python arguments that make ``spec``: the kernel, then what is not the default.

    ``PoolSpec(...)`` and ``impls.MaxPool(...)`` around them rebuild an equal spec.

    Parameters
    ----------
    spec : PoolSpec
        The spec to write as arguments.

    Returns
    -------
    str

    Examples
    --------
    >>> spec_arguments(PoolSpec((3, 3), stride=2, padding=1))
    '(3, 3), stride=2, padding=1'
    >>> spec_arguments(PoolSpec((2,), padding=((0, 1),), ceil_mode=True))
    '(2,), padding=((0, 1),), ceil_mode=True'
    >>> spec_arguments(PoolSpec((2, 2), stride=(1, 2), padding="same"))
    '(2, 2), stride=(1, 2), padding="same"'
    """
    arguments = [repr(spec.kernel_size)]
    if spec.stride != spec.kernel_size:
        arguments.append(f"stride={_axes_argument(spec.stride)}")
    if isinstance(spec.padding, str):
        arguments.append(f'padding="{spec.padding}"')
    elif any(begin != end for begin, end in spec.padding):
        arguments.append(f"padding={spec.padding!r}")
    elif any(begin for begin, _ in spec.padding):
        arguments.append(f"padding={_axes_argument(tuple(begin for begin, _ in spec.padding))}")
    if set(spec.dilation) != {1}:
        arguments.append(f"dilation={_axes_argument(spec.dilation)}")
    if spec.ceil_mode:
        arguments.append("ceil_mode=True")
    return ", ".join(arguments)
