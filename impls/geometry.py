"""Array-level geometry shared by the implementations.

Everything an implementation needs besides its own idea lives here, once:
checking the arguments at the edge (`prepare_forward`, `prepare_backward`),
the padded region that holds every window (`pad_to_windows`), the selection
rule inside a window (`first_max_position`), and the two index conversions
between "position inside the window" and "flat index into the input plane"
(`plane_index`, `window_position`).

Conventions: the input is viewed as ``(batch, *spatial)`` planes, where
``batch`` is the product of the leading axes; a window position is the
row-major position ``0 .. prod(kernel_size) - 1`` inside the kernel; a plane
index is the row-major flat index into the unpadded spatial plane.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .memory import check_fits
from .spec import Pads, PoolSpec

__all__ = [
    "Geometry",
    "check_dtype",
    "check_index_array",
    "crop_to_input",
    "first_max_position",
    "gathered_geometry",
    "geometry_for_shape",
    "lowest_value",
    "pad_to_windows",
    "plane_index",
    "prepare_backward",
    "prepare_forward",
    "region_overlap",
    "window_position",
]

SUPPORTED_DTYPES = "float16, float32, float64 and the signed and unsigned integers"


@dataclass(frozen=True)
class Geometry:
    """Shapes and padding of one pooling call, resolved for a concrete input."""

    spec: PoolSpec
    lead_shape: tuple[int, ...]
    spatial_shape: tuple[int, ...]
    output_spatial: tuple[int, ...]
    pads: Pads

    @classmethod
    def of(cls, input_shape: tuple[int, ...], spec: PoolSpec) -> Geometry:
        """The geometry of pooling an input of ``input_shape`` with ``spec`` (cached)."""
        shape = tuple(input_shape)
        return _geometry(cls, shape, spec)  # type: ignore[arg-type]  # mypy bug: cls is hashable

    @classmethod
    def _resolve(cls, input_shape: tuple[int, ...], spec: PoolSpec) -> Geometry:
        split = len(input_shape) - spec.ndim
        spatial = input_shape[split:]
        geometry = cls(
            spec, input_shape[:split], spatial, spec.output_shape(spatial), spec.pads(spatial)
        )
        geometry.compact  # noqa: B018 (checked here, so that every implementation refuses alike)
        return geometry

    @functools.cached_property
    def compact(self) -> Geometry:
        """The same pooling with the kernel steps that read padding only left out.

        Along each axis, the kernel steps that fall outside the input for every
        output are dropped from both ends of the kernel and the begin padding
        shrinks by as much; the dilation of a kernel left with one step, and
        the stride of an axis with one output, become 1. Every window then
        reads the same input elements in the same order, so values and
        indices are unchanged, but padding and dilation no longer size
        anything: along an axis the windows span at most ``L + 2 * (O - 1) *
        s`` positions (``L`` the length, ``O`` the outputs, ``s`` the stride).
        The compact ``spec`` keeps no padding of its own; ``pads`` holds it,
        and its begin may be negative (the windows start inside the input).
        Implementations that work on the padded region use this geometry.

        Raises
        ------
        ValueError
            If even the compact windows span too many positions for int64
            flat indices (only with padding in the order of ``2**60``).
        """
        kernel, stride, dilation, pads = [], [], [], []
        for axis in range(self.spec.ndim):
            k, s, d, begin = _compact_axis(self, axis)
            kernel.append(k)
            stride.append(s)
            dilation.append(d)
            pads.append(
                (
                    begin,
                    (self.output_spatial[axis] - 1) * s
                    + (k - 1) * d
                    + 1
                    - begin
                    - self.spatial_shape[axis],
                )
            )
        compact = (tuple(kernel), tuple(stride), tuple(dilation), tuple(pads))
        if compact == (self.spec.kernel_size, self.spec.stride, self.spec.dilation, self.pads):
            return self
        spec = PoolSpec(compact[0], compact[1], 0, compact[2])
        return Geometry(spec, self.lead_shape, self.spatial_shape, self.output_spatial, compact[3])

    @property
    def batch(self) -> int:
        """Number of independent planes: the product of the leading axes."""
        return math.prod(self.lead_shape)

    @property
    def plane_size(self) -> int:
        return math.prod(self.spatial_shape)

    @property
    def output_plane_size(self) -> int:
        return math.prod(self.output_spatial)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.lead_shape + self.spatial_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.lead_shape + self.output_spatial

    def window_starts(self, axis: int) -> np.ndarray:
        """First input position read by each output position along ``axis``."""
        stride, (begin, _) = self.spec.stride[axis], self.pads[axis]
        return np.arange(self.output_spatial[axis], dtype=np.int64) * stride - begin

    def region(self) -> tuple[tuple[int, int], ...]:
        """Per axis, the half-open input interval ``[lo, hi)`` spanned by all windows.

        ``lo`` is negative where windows reach into the begin padding; ``hi``
        exceeds the axis length where they reach into the end padding (or past
        it, with ``ceil_mode``) and falls short of it where the last input
        positions belong to no window.
        """
        return tuple(
            (-begin, (out - 1) * stride - begin + extent)
            for (begin, _), out, stride, extent in zip(
                self.pads, self.output_spatial, self.spec.stride, self.spec.extent, strict=True
            )
        )


# Flat indices and window starts are int64; compact windows spanning more
# than this, times the stride of their axis in the flat plane, are refused.
_MAX_FLAT_SPAN = 2**60


def _compact_axis(geometry: Geometry, axis: int) -> tuple[int, int, int, int]:
    """Kernel size, stride, dilation and begin padding of ``axis`` in `Geometry.compact`."""
    spec, out = geometry.spec, geometry.output_spatial[axis]
    k, s, d = spec.kernel_size[axis], spec.stride[axis], spec.dilation[axis]
    begin, length = geometry.pads[axis][0], geometry.spatial_shape[axis]
    if out == 1:
        s = 1
    # The first step inside the input for the last window (the one that starts
    # furthest right), and the last step inside it for the first window.
    first = max(0, -(-(begin - (out - 1) * s) // d))
    last = min(k - 1, (length - 1 + begin) // d)
    k, begin = last - first + 1, begin - first * d
    if k == 1:
        d = 1
    span = (out - 1) * s + (k - 1) * d + 1
    inner = math.prod(geometry.spatial_shape[axis + 1 :])
    if (span + abs(begin)) * max(inner, 1) > _MAX_FLAT_SPAN:
        raise ValueError(
            f"pooled axis {axis}: the {out} windows span {span} positions even without the "
            f"kernel steps that read padding only (stride {spec.stride[axis]}, padding begin "
            f"{geometry.pads[axis][0]}), too many for int64 indices: reduce the stride or padding"
        )
    return k, s, d, begin


@functools.lru_cache(maxsize=256)
def _geometry(cls: type[Geometry], input_shape: tuple[int, ...], spec: PoolSpec) -> Geometry:
    # A layer calls forward and backward with the same shapes again and again;
    # resolving the padding and checking every window costs tens of microseconds.
    return cls._resolve(input_shape, spec)


def check_dtype(dtype: np.dtype, name: str) -> None:
    """Raise `TypeError` unless ``dtype`` is one the contract supports."""
    if dtype.kind in "iu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return
    raise TypeError(f"{name} has dtype {dtype}; supported dtypes are {SUPPORTED_DTYPES}")


def _is_masked(value: object) -> bool:
    # Without importing numpy.ma (30 ms): a masked array exists only once it is imported.
    masked = sys.modules.get("numpy.ma")
    return masked is not None and isinstance(value, masked.MaskedArray)


def _as_array(value: object, name: str) -> np.ndarray:
    if type(value) is np.ndarray:
        return value
    if _is_masked(value):
        # np.asarray would drop the mask, and a masked element could win.
        raise TypeError(
            f"{name} is a numpy.ma.MaskedArray, and masks are not supported: pass "
            f"{name}.filled(value) with a value no element beats (such as -inf) to keep "
            f"masked elements out, or {name}.data to pool every element"
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{name} could not be converted to an array: {err}") from err


def prepare_forward(x: object, spec: PoolSpec) -> tuple[np.ndarray, Geometry]:
    """Validate the arguments of ``forward`` and resolve the geometry.

    Returns the input as an array (never a copy unless ``x`` is not one
    already) and its `Geometry`. Raises `TypeError` for an unsupported dtype
    or a ``spec`` that is not a `PoolSpec`, and `ValueError` for an input
    with too few axes, a geometry that has no valid output, or outputs too
    large to allocate (`impls.memory.check_fits`).
    """
    if not isinstance(spec, PoolSpec):
        raise TypeError(f"spec must be a PoolSpec, got {type(spec).__name__}")
    array = _as_array(x, "x")
    check_dtype(array.dtype, "x")
    if array.ndim < spec.ndim:
        raise ValueError(
            f"x must have at least {spec.ndim} axes for kernel_size {spec.kernel_size}, "
            f"got shape {array.shape}"
        )
    geometry = Geometry.of(array.shape, spec)
    check_fits(geometry.output_shape, array.itemsize + 8, "the values and int64 indices")
    return array, geometry


def geometry_for_shape(input_shape: object, spec: PoolSpec) -> Geometry:
    """Check an ``input_shape`` argument and resolve its `Geometry`."""
    if not isinstance(spec, PoolSpec):
        raise TypeError(f"spec must be a PoolSpec, got {type(spec).__name__}")
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    dims = tuple(input_shape)
    if not all(type(dim) is int for dim in dims):  # fast path for plain ints (not bools)
        for dim in dims:
            if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
                raise TypeError(f"input_shape must hold ints, got {input_shape!r}")
        dims = tuple(int(dim) for dim in dims)
    if dims and min(dims) < 0:
        raise ValueError(f"input_shape must be non-negative, got {dims}")
    if len(dims) < spec.ndim:
        raise ValueError(
            f"input_shape must have at least {spec.ndim} axes for kernel_size "
            f"{spec.kernel_size}, got {tuple(dims)}"
        )
    return Geometry.of(dims, spec)


def check_index_array(
    indices: object, name: str, geometry: Geometry, *, in_plane: bool = True
) -> np.ndarray:
    """Check that ``indices`` is an integer array shaped like the output.

    With ``in_plane`` (the default), also check that every index lies in the
    input plane ``[0, plane_size)``.
    """
    array = _as_array(indices, name)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {array.dtype}")
    _check_output_shape(array, name, geometry)
    if in_plane and array.size:
        low, high = array.min(), array.max()
        if low < 0 or high >= geometry.plane_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"{name} must lie in the input plane [0, {geometry.plane_size}) of "
                f"spatial shape {geometry.spatial_shape}, found {int(bad)}"
            )
    return array


def _check_output_shape(array: np.ndarray, name: str, geometry: Geometry) -> None:
    if array.shape != geometry.output_shape:
        raise ValueError(
            f"{name} has shape {array.shape}, but the output for input_shape "
            f"{geometry.input_shape} and {geometry.spec} has shape {geometry.output_shape}"
        )


def prepare_backward(
    grad_out: object,
    indices: object,
    input_shape: Sequence[int],
    spec: PoolSpec,
    *,
    in_plane: bool = True,
) -> tuple[np.ndarray, np.ndarray, Geometry]:
    """Validate the arguments of ``backward`` and resolve the geometry.

    Checks that ``grad_out`` has a supported dtype, ``indices`` an integer
    dtype, that both have the output shape for ``input_shape`` and ``spec``,
    and (with ``in_plane``, the default) that every index lies inside the
    input plane. An implementation that proves the last point more cheaply
    on its own may pass ``in_plane=False``, and must then call
    `check_index_array` itself before trusting an index it could not place.
    """
    geometry = geometry_for_shape(input_shape, spec)
    grad = _as_array(grad_out, "grad_out")
    check_dtype(grad.dtype, "grad_out")
    _check_output_shape(grad, "grad_out", geometry)
    check_fits(geometry.input_shape, grad.itemsize, "the gradient for input_shape")
    index_array = check_index_array(indices, "indices", geometry, in_plane=in_plane)
    return grad, index_array, geometry


def lowest_value(dtype: np.dtype) -> int | float:
    """The smallest value of ``dtype``: the fill for padding (-inf for floats)."""
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def region_overlap(geometry: Geometry) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices of the input part shared by planes and the window region.

    Returns ``(in_planes, in_region)`` for ``(batch, *spatial)`` planes and
    ``(batch, *region)`` buffers.
    """
    in_planes, in_region = [slice(None)], [slice(None)]
    for (lo, hi), length in zip(geometry.region(), geometry.spatial_shape, strict=True):
        start, stop = max(lo, 0), min(hi, length)
        in_planes.append(slice(start, stop))
        in_region.append(slice(start - lo, stop - lo))
    return tuple(in_planes), tuple(in_region)


def _gathered_axes(geometry: Geometry) -> tuple[bool, ...]:
    """Per axis: whether its windows hold fewer elements (``O * k``) than they span."""
    return tuple(
        out * k < hi - lo
        for (lo, hi), out, k in zip(
            geometry.region(), geometry.output_spatial, geometry.spec.kernel_size, strict=True
        )
    )


def gathered_geometry(geometry: Geometry) -> Geometry:
    """The geometry of the windows inside the buffer of `pad_to_windows`.

    Along an axis whose windows hold fewer elements than they span (``O * k``
    below the region's length: strides or dilations wider than the kernel),
    the buffer keeps only each window's ``k`` elements, one window after the
    other: stride ``k``, dilation 1 and no padding there. Along the other
    axes, and where no axis qualifies, the geometry is ``geometry`` itself.
    """
    gathered = _gathered_axes(geometry)
    if not any(gathered):
        return geometry
    spec = geometry.spec
    kernel, stride, dilation = spec.kernel_size, spec.stride, spec.dilation
    spec = PoolSpec(
        kernel,
        tuple(k if g else s for k, s, g in zip(kernel, stride, gathered, strict=True)),
        0,
        tuple(1 if g else d for d, g in zip(dilation, gathered, strict=True)),
    )
    pads = tuple((0, 0) if g else p for p, g in zip(geometry.pads, gathered, strict=True))
    return dataclasses.replace(geometry, spec=spec, pads=pads)


def pad_to_windows(planes: np.ndarray, geometry: Geometry, fill: object) -> np.ndarray:
    """Copy ``(batch, *spatial)`` planes into a buffer that holds every window.

    The buffer covers the region (`Geometry.region`) of `gathered_geometry`:
    positions outside the input hold ``fill``. Where windows lie far apart,
    it holds each window's elements side by side instead of the positions
    between them, so its size is bounded by the input and the outputs times
    the kernel, never by the stride, padding or dilation.
    """
    gathered = _gathered_axes(geometry)
    if not any(gathered):
        shape = planes.shape[:1] + tuple(hi - lo for lo, hi in geometry.region())
        padded = np.full(shape, fill, dtype=planes.dtype)
        in_planes, in_region = region_overlap(geometry)
        padded[in_region] = planes[in_planes]
        return padded
    spec, positions = geometry.spec, []
    for axis, (lo, hi) in enumerate(geometry.region()):
        if gathered[axis]:  # each window's elements, window after window
            steps = np.arange(spec.kernel_size[axis]) * spec.dilation[axis]
            positions.append((geometry.window_starts(axis)[:, np.newaxis] + steps).reshape(-1))
        else:
            positions.append(np.arange(lo, hi))
    lengths = geometry.spatial_shape
    clipped = [np.clip(p, 0, n - 1) for p, n in zip(positions, lengths, strict=True)]
    region: tuple[slice | np.ndarray, ...] = (slice(None), *np.ix_(*clipped))
    padded = planes[region]
    for axis, (where, n) in enumerate(zip(positions, lengths, strict=True)):
        padded[(slice(None),) * (axis + 1) + (((where < 0) | (where >= n)),)] = fill
    return padded


def crop_to_input(padded: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Inverse of `pad_to_windows`: ``(batch, *spatial)`` planes, zero where no window reads.

    Only where `gathered_geometry` is ``geometry`` (a gathered buffer may hold
    an input element several times).
    """
    planes = np.zeros(padded.shape[:1] + geometry.spatial_shape, dtype=padded.dtype)
    in_planes, in_region = region_overlap(geometry)
    planes[in_planes] = padded[in_region]
    return planes


def first_max_position(windows: np.ndarray, axis: int, valid: np.ndarray) -> np.ndarray:
    """Position along ``axis`` of the selected element of each window.

    The selected element is the first maximal one among the ``valid`` (non
    padding) entries, where NaN counts as larger than every number, so a
    window holding NaN selects its first NaN. ``valid`` broadcasts against
    ``windows``; padding entries must hold `lowest_value` (or anything not
    above the true maximum).
    """
    maximum = np.expand_dims(windows.max(axis=axis), axis)  # NaN propagates
    selected = windows == maximum
    if windows.dtype.kind == "f":
        # When the maximum is NaN, the NaN entries are the maximal ones; when it
        # is not, no entry is NaN, so this adds nothing.
        selected |= np.isnan(windows)
    selected &= valid
    return selected.argmax(axis=axis)


def _kernel_offsets(position: np.ndarray, spec: PoolSpec) -> list[np.ndarray]:
    """Split row-major window positions into one kernel offset per axis."""
    offsets = []
    for k in reversed(spec.kernel_size):
        position, offset = np.divmod(position, k)
        offsets.append(offset)
    return offsets[::-1]


def _output_axis_shape(geometry: Geometry, axis: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-axis vector along output axis ``axis``."""
    shape = [1] * geometry.spec.ndim
    shape[axis] = geometry.output_spatial[axis]
    return tuple(shape)


def plane_index(position: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Convert window positions, shaped ``(..., *output_spatial)``, to plane indices."""
    spec = geometry.spec
    index = np.zeros(position.shape, dtype=np.int64)
    offsets = _kernel_offsets(position.astype(np.int64, copy=False), spec)
    for axis, offset in enumerate(offsets):
        starts = geometry.window_starts(axis).reshape(_output_axis_shape(geometry, axis))
        index *= geometry.spatial_shape[axis]
        index += starts + offset * spec.dilation[axis]
    return index


def window_position(indices: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Convert plane indices, shaped ``(..., *output_spatial)``, to window positions.

    Returns ``(position, inside)``: ``inside`` is False where an index does
    not name an element of its own window (never the case for indices that
    ``forward`` returned); ``position`` is 0 there.
    """
    spec = geometry.spec
    coords = np.unravel_index(indices.astype(np.int64, copy=False), geometry.spatial_shape)
    position = np.zeros(indices.shape, dtype=np.int64)
    inside = np.ones(indices.shape, dtype=bool)
    for axis, coord in enumerate(coords):
        starts = geometry.window_starts(axis).reshape(_output_axis_shape(geometry, axis))
        step, remainder = np.divmod(coord - starts, spec.dilation[axis])
        inside &= (remainder == 0) & (step >= 0) & (step < spec.kernel_size[axis])
        position = position * spec.kernel_size[axis] + step
    position[~inside] = 0
    return position, inside
