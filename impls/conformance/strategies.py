"""Hypothesis strategies that draw whole pooling calls: spec, shape, values and layout together.

A drawn `Case` is always a valid call: shapes are built from the spec's own
geometry (`PoolSpec.output_shape` on each axis) instead of being filtered.
Everything is drawn inside an implementation's `impls.Capabilities`, and kept
small (see `WORK_BUDGET`) because the ``naive`` oracle runs at about a
microsecond per window element.

Values come from a NumPy generator seeded by Hypothesis, in one of the
`REGIMES`; Hypothesis still shrinks the spec, the shapes, the regime and the
seed, and a failing `Case` prints its whole input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

from impls import Capabilities, MaxPoolImpl, PoolSpec
from impls.limits import BUILTIN_LIMITS, Limit, all_of

from .values import vary_nan_payloads

__all__ = [
    "DEFECTS",
    "DTYPES",
    "FORWARD_DEFECTS",
    "FUZZED_SHAPES",
    "FUZZED_SPEC_ARGUMENTS",
    "LAYOUTS",
    "MAX_ELEMENTS",
    "MAX_FUZZED_WORK",
    "PADDING_FORMS",
    "REGIMES",
    "SPECIALS",
    "UNSUPPORTED_DTYPES",
    "WORK_BUDGET",
    "Call",
    "Case",
    "cases",
    "claims_any_indices",
    "fuzzed_calls",
    "gradient_dtype",
    "invalid_calls",
    "relayout",
    "spatial_shapes",
    "spec_arguments",
    "specs",
]

DTYPES: tuple[str, ...] = Capabilities().dtypes
PADDING_FORMS = ("int", "per_axis", "pairs", "valid", "same", "same_lower")
REGIMES = ("distinct", "ties", "constant", "special")
# Special values sprinkled into floats; integers get their minimum and maximum instead.
SPECIALS = ("nan", "inf", "-inf")
LAYOUTS = ("C", "fortran", "transposed", "negative strides", "strided")
MAX_KERNEL, MAX_STRIDE, MAX_DILATION, MAX_LEAD = 4, 4, 3, 3
# Upper bound on batch * outputs per plane * window size, the naive oracle's work.
WORK_BUDGET = 2000
# Upper bound on the elements of one input, where the spec allows.
MAX_ELEMENTS = 4096


@dataclass(frozen=True, eq=False)
class Case:
    """One valid call: ``forward(x, spec)`` with ``x`` stored in ``layout``.

    ``regime`` names how the values were made; ``seed`` feeds any further
    randomness a property needs (gradients, directions), through `rng`.
    """

    spec: PoolSpec
    x: np.ndarray
    layout: str
    regime: str
    seed: int = 0

    @property
    def ndim(self) -> int:
        return self.spec.ndim

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return self.x.shape[: self.x.ndim - self.spec.ndim]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.x.shape[self.x.ndim - self.spec.ndim :]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.lead_shape + self.spec.output_shape(self.spatial_shape)

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A generator determined by the case, for the property's own random draws."""
        return np.random.default_rng([self.seed, salt])

    def describe(self) -> str:
        """Where a failure happened: spec, shape, dtype, layout and regime."""
        return (
            f"spec={self.spec!r}, x.shape={self.x.shape}, dtype={self.x.dtype}, "
            f"layout={self.layout}, regime={self.regime}"
        )

    def __repr__(self) -> str:
        x = np.array_repr(np.ascontiguousarray(self.x), max_line_width=99)
        return (
            f"Case(spec={self.spec!r}, layout={self.layout!r}, regime={self.regime!r}, "
            f"seed={self.seed}, x=np.{x})"
        )


def _axis_spec(spec: PoolSpec, axis: int) -> PoolSpec:
    """The 1-D spec that acts along pooled ``axis`` of ``spec`` as ``spec`` does.

    Geometry is per axis in the contract, so an input length is valid for
    ``spec`` exactly when each length is valid for its axis spec.
    """
    padding = spec.padding if isinstance(spec.padding, str) else (spec.padding[axis],)
    return PoolSpec(
        (spec.kernel_size[axis],),
        spec.stride[axis],
        padding,
        spec.dilation[axis],
        spec.ceil_mode,
    )


def _valid_lengths(spec: PoolSpec, axis: int, limit: Limit | None = None) -> list[tuple[int, int]]:
    """``(input length, output length)`` pairs valid along ``axis``, shortest first.

    With ``limit`` (made of per-axis `impls.limits`), only lengths inside it.
    """
    one_axis = _axis_spec(spec, axis)
    longest = spec.extent[axis] + 2 * spec.stride[axis]
    pairs = []
    for length in range(1, longest + 1):
        try:
            (out,) = one_axis.output_shape((length,))
        except ValueError:
            continue
        if limit is None or limit(one_axis, (length,)):
            pairs.append((length, out))
    return pairs


def _per_axis_limit(caps: Capabilities) -> Limit | None:
    """The declared limits that `impls.limits` defines, which hold axis by axis."""
    if caps.limit is None:
        return None
    known = [atom for atom in caps.limit.atoms() if atom in BUILTIN_LIMITS]
    return all_of(*known) if known else None


def _steering(caps: Capabilities) -> frozenset[str]:
    """Names of the declared `impls.limits` the spec strategy draws inside of directly."""
    return caps.limit.names() if caps.limit is not None else frozenset()


@st.composite
def spec_arguments(
    draw: st.DrawFn,
    caps: Capabilities | None = None,
    *,
    ndims: Sequence[int] | None = None,
    padding_forms: Sequence[str] = PADDING_FORMS,
    max_kernel: int = MAX_KERNEL,
    max_dilation: int = MAX_DILATION,
    overlap: float = 0.0,
) -> dict[str, object]:
    """Draw `PoolSpec` arguments inside ``caps``, in every form the constructor accepts.

    Kernel 1 to ``max_kernel``, stride 1 to `MAX_STRIDE` (or the default, the
    kernel), dilation 1 to ``max_dilation``, padding in each of
    ``padding_forms`` with at most ``extent - 1`` on a side (so the first
    window always reaches the input). ``overlap`` is the probability (True:
    always) of forcing stride < kernel on some axis, so that windows overlap;
    never where the declared limits keep the stride equal to the kernel. The
    geometry limits of `impls.limits` that ``caps`` declares (square kernels,
    one stride, a stride equal to the kernel, symmetric or bounded padding)
    are drawn inside of directly. Returns the keyword arguments, as given to the
    constructor.
    """
    caps = caps or Capabilities()
    limits = _steering(caps)
    allowed = [n for n in caps.ndims if ndims is None or n in ndims]
    ndim = draw(st.sampled_from(allowed))
    sizes = st.integers(1, max_kernel)
    if "square_kernel" in limits:
        kernel = [draw(sizes)] * ndim
    else:
        kernel = list(draw(st.tuples(*[sizes] * ndim)))

    forms = ["default", "int"] if "one_stride" in limits else ["default", "int", "per axis"]
    if "stride_equals_kernel" in limits:
        forms = ["default"]
    stride_form = draw(st.sampled_from(forms))
    if "stride_equals_kernel" in limits and "one_stride" in limits:
        kernel = [kernel[0]] * ndim  # one stride, equal to the kernel: a square kernel
    elif stride_form == "default" and "one_stride" in limits and len(set(kernel)) > 1:
        stride_form = "int"
    if stride_form == "default":
        stride: list[int] = list(kernel)
    elif stride_form == "int":
        stride = [draw(st.integers(1, MAX_STRIDE))] * ndim
    else:
        stride = list(draw(st.tuples(*[st.integers(1, MAX_STRIDE)] * ndim)))
    forced = overlap >= 1 or (overlap > 0 and draw(st.integers(1, 100)) <= overlap * 100)
    if "stride_equals_kernel" in limits:
        forced = False
    if forced and not any(s < k for s, k in zip(stride, kernel, strict=True)):
        # Widen the kernel (every axis, if it must stay square) and shorten the stride.
        axis = draw(st.integers(0, ndim - 1))
        widened = max(kernel[axis], 2)
        shortened = draw(st.integers(1, widened - 1))
        for other in range(ndim) if "square_kernel" in limits else [axis]:
            kernel[other] = max(kernel[other], widened)
        for other in range(ndim) if "one_stride" in limits else [axis]:
            stride[other] = shortened
        stride_form = "per axis"

    dilation: int | tuple[int, ...] = 1
    if caps.dilation and max_dilation > 1:
        dilation_form = draw(st.sampled_from(["none", "int", "per axis"]))
        if dilation_form == "int":
            dilation = draw(st.integers(1, max_dilation))
        elif dilation_form == "per axis":
            dilation = draw(st.tuples(*[st.integers(1, max_dilation)] * ndim))
    dilations = (dilation,) * ndim if isinstance(dilation, int) else dilation
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilations, strict=True)]

    forms = [f for f in padding_forms if caps.padding or f not in ("same", "same_lower")]
    if "symmetric_padding" in limits:
        forms = [f for f in forms if f != "pairs"] or ["valid"]
    # "same" and "same_lower" twice as often as the others: where their padding is odd,
    # the side of the extra unit is a classic mistake, and only they show it.
    form = draw(st.sampled_from(forms + [f for f in forms if f.startswith("same")]))
    reach = [e - 1 if caps.padding else 0 for e in extent]
    if "padding_at_most_half_kernel" in limits:
        reach = [min(r, k // 2) for r, k in zip(reach, kernel, strict=True)]
    if "padding_below_kernel" in limits:
        reach = [min(r, k - 1) for r, k in zip(reach, kernel, strict=True)]
    padding: object
    if form == "int":
        padding = draw(st.integers(0, min(reach)))
    elif form == "per_axis":
        padding = tuple(draw(st.integers(0, r)) for r in reach)
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, r)), draw(st.integers(0, r))) for r in reach)
    else:
        padding = form

    ceil_mode = draw(st.booleans()) if caps.ceil_mode else False
    stride_arg = {"default": None, "int": stride[0], "per axis": tuple(stride)}[stride_form]
    return {
        "kernel_size": draw(st.sampled_from([tuple, list]))(kernel),
        "stride": stride_arg,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }


def specs(caps: Capabilities | None = None, **options: Any) -> st.SearchStrategy[PoolSpec]:
    """Draw a `PoolSpec` from `spec_arguments` (same options)."""
    return spec_arguments(caps, **options).map(_build_spec)


def _build_spec(arguments: dict[str, Any]) -> PoolSpec:
    return PoolSpec(**arguments)


@st.composite
def spatial_shapes(
    draw: st.DrawFn,
    spec: PoolSpec,
    *,
    budget: int = WORK_BUDGET,
    max_elements: int = MAX_ELEMENTS,
    limit: Limit | None = None,
) -> tuple[int, ...]:
    """Draw pooled-axis lengths valid for ``spec``, shortest (output length 1) preferred.

    Each axis gets at most ``(budget / window_size) ** (1 / ndim)`` outputs,
    and the plane at most ``max_elements`` elements, where the shortest
    valid lengths allow it. With ``limit``, a conjunction of per-axis
    `impls.limits` (windows that tile the input, say), every length is
    inside it.
    """
    per_axis_outputs = max(1, int((budget / spec.window_size) ** (1 / spec.ndim)))
    lengths: list[int] = []
    for axis in range(spec.ndim):
        pairs = _valid_lengths(spec, axis, limit)
        # Some specs have no valid length short enough (dilation stepping over
        # short inputs, windows starting in the end padding): discard those.
        assume(pairs)
        fewest = min(out for _, out in pairs)
        choices = [length for length, out in pairs if out <= max(per_axis_outputs, fewest)]
        room = max_elements // math.prod(lengths)
        choices = [length for length in choices if length <= room] or choices[:1]
        lengths.append(draw(st.sampled_from(choices)))
    return tuple(lengths)


def _lead_shape(draw: st.DrawFn, lead_axes: tuple[int, int], room: int) -> tuple[int, ...]:
    count = draw(st.integers(*lead_axes))
    shape = []
    for _ in range(count):
        size = draw(st.integers(1, max(1, min(MAX_LEAD, room))))
        room //= size
        shape.append(size)
    return tuple(shape)


def _capacity(dtype: np.dtype) -> int:
    """How many consecutive integers ``dtype`` holds exactly."""
    if dtype.kind == "f":
        return 2 ** (np.finfo(dtype).nmant + 1)
    info = np.iinfo(dtype)
    return int(info.max) - int(info.min) + 1


def _distinct(
    rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, int], offset: str
) -> np.ndarray:
    """``(batch, plane)`` integer values, distinct within each plane.

    The plane must fit the dtype's `_capacity`. ``offset`` places them around
    zero (``"middle"``), at the bottom of the dtype's range (``"low"``) or at
    its top (``"high"``); for floats, "low" and "high" scale them by 1/4 and
    4 instead, which keeps them exact and at least 1/4 apart.
    """
    plane = shape[1]
    steps = rng.permuted(np.broadcast_to(np.arange(plane), shape), axis=1)
    if dtype.kind == "f":
        scale = {"middle": 1.0, "low": 0.25, "high": 4.0}[offset]
        return ((steps - plane // 2) * scale).astype(dtype)
    low, high = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    start = {"low": low, "middle": max(low, -(plane // 2)), "high": high - plane + 1}[offset]
    # uint64 needs unsigned arithmetic at the top of its range; all else fits int64.
    work = np.uint64 if dtype.kind == "u" else np.int64
    return (steps.astype(work) + work(start)).astype(dtype)


def _alphabet(draw: st.DrawFn, dtype: np.dtype, size: int) -> list[object]:
    """``size`` distinct small values; for floats, often both 0.0 and -0.0."""
    pool: list[object] = list(range(-3, 4)) if dtype.kind != "u" else list(range(7))
    if dtype.kind == "f" and size > 1 and draw(st.booleans()):
        # 0.0 ties with -0.0: the first of the two must be selected, bit for bit.
        negatives = st.lists(st.integers(-3, -1), min_size=size - 2, max_size=size - 2)
        return [0.0, -0.0, *draw(negatives)]
    picks = st.lists(st.integers(0, len(pool) - 1), min_size=size, max_size=size, unique=True)
    return [pool[i] for i in draw(picks)]


@st.composite
def _values(
    draw: st.DrawFn,
    dtype: np.dtype,
    regime: str,
    base: str,
    shape: tuple[int, ...],
    plane: int,
    specials: Sequence[str],
) -> tuple[np.ndarray, str, int]:
    """Values in ``regime``; a "special" regime sprinkles special values over ``base``."""
    size = math.prod(shape)
    label = regime
    alphabet = _alphabet(
        draw, dtype, {"constant": 1, "ties": draw(st.integers(2, 3))}.get(base, 3)
    )
    if base == "constant" and dtype.kind in "iu" and draw(st.booleans()):
        alphabet = [np.iinfo(dtype).min]  # ties with the padding fill of typical code
    offset = draw(st.sampled_from(["middle", "low", "high"]))
    if regime == "special":
        if dtype.kind == "f":
            kinds = draw(st.lists(st.sampled_from(specials), min_size=1, unique=True))
            sprinkle = [float(kind) for kind in kinds]
        else:
            kinds = ["min", "max"]
            sprinkle = [np.iinfo(dtype).min, np.iinfo(dtype).max]
        share = draw(st.sampled_from([0.1, 0.4, 0.9]))
        label = f"special ({base}, {'/'.join(kinds)} at {share:.0%})"
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    if base == "distinct":
        flat = _distinct(rng, dtype, (size // plane, plane), offset).ravel()
    else:
        flat = np.array(alphabet, dtype=dtype)[rng.integers(0, len(alphabet), size)]
    if regime == "special":
        where = rng.random(size) < share
        flat[where] = np.array(sprinkle, dtype=dtype)[rng.integers(0, len(sprinkle), where.sum())]
        if dtype.kind == "f":
            vary_nan_payloads(rng, flat)
    return flat.reshape(shape), label, seed


def relayout(x: np.ndarray, layout: str, readonly: bool = False) -> np.ndarray:
    """An array equal to ``x`` whose memory is laid out as ``layout`` says.

    ``"C"`` and ``"fortran"`` are contiguous copies; ``"transposed"`` is a
    view of a C array with the first and last axes swapped; ``"negative strides"``
    reverses every axis of a C array twice; ``"strided"`` takes every other
    element of a larger array. ``readonly`` clears the writeable flag.
    """
    if layout == "C":
        stored = np.array(x, order="C")
    elif layout == "fortran":
        stored = np.array(x, order="F")
    elif layout == "transposed":
        stored = np.ascontiguousarray(np.swapaxes(x, 0, -1)).swapaxes(0, -1)
    elif layout == "negative strides":
        flip = (slice(None, None, -1),) * x.ndim
        stored = np.ascontiguousarray(x[flip])[flip]
    elif layout == "strided":
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        wide[..., ::2] = x
        stored = wide[..., ::2]
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if readonly:
        stored.flags.writeable = False
    return stored


@st.composite
def cases(
    draw: st.DrawFn,
    caps: Capabilities | None = None,
    *,
    spec: st.SearchStrategy[PoolSpec] | None = None,
    dtypes: Sequence[str] = DTYPES,
    regimes: Sequence[str] = REGIMES,
    specials: Sequence[str] = SPECIALS,
    layouts: Sequence[str] = LAYOUTS,
    lead_axes: tuple[int, int] = (0, MAX_LEAD),
    spatial: st.SearchStrategy[tuple[int, ...]] | None = None,
    budget: int = WORK_BUDGET,
    max_elements: int = MAX_ELEMENTS,
) -> Case:
    """Draw a valid `Case` inside ``caps``.

    Parameters
    ----------
    caps : Capabilities, optional
        Limits of the implementation under test (default: the whole contract).
    spec : strategy, optional
        Where the spec comes from (default: ``specs(caps)``).
    dtypes, regimes, specials, layouts : sequence of str
        What to draw from; ``dtypes`` is intersected with ``caps.dtypes``.
    lead_axes : (int, int)
        Least and most leading (unpooled) axes.
    spatial : strategy, optional
        Where the pooled-axis lengths come from; it must give lengths valid
        for the spec (default: ``spatial_shapes(spec)`` inside the declared
        limits).
    budget : int
        Upper bound on batch * outputs * window size, where shapes allow.
    max_elements : int
        Upper bound on the elements of one plane, and of the whole input
        through the leading axes, where shapes allow.
    """
    caps = caps or Capabilities()
    pool_spec = draw(spec if spec is not None else specs(caps))
    if spatial is None:
        spatial = spatial_shapes(
            pool_spec, budget=budget, max_elements=max_elements, limit=_per_axis_limit(caps)
        )
    plane = draw(spatial)
    work = math.prod(pool_spec.output_shape(plane)) * pool_spec.window_size
    room = min(budget // work, max_elements // math.prod(plane))
    lead = _lead_shape(draw, lead_axes, room)
    # Any other geometry predicate the implementation declares filters here.
    assume(not caps.unsupported(pool_spec, None, lead + plane))
    plane_size = math.prod(plane)

    # Special values find the most bugs: twice the weight of the other regimes.
    regime = draw(st.sampled_from([*regimes, "special"] if "special" in regimes else regimes))
    base = draw(st.sampled_from(["distinct", "ties"])) if regime == "special" else regime
    allowed = [d for d in dtypes if d in caps.dtypes]
    if base == "distinct":
        # Distinct values must fit the dtype (int8 holds 256), plane by plane.
        wide = [d for d in allowed if _capacity(np.dtype(d)) >= plane_size]
        allowed = wide or allowed
        if not wide:
            base = regime = "ties"
    # Floats carry NaN and signed zeros: draw them as often as all integers together.
    groups = [[d for d in allowed if d[0] == "f"], [d for d in allowed if d[0] != "f"]]
    dtype = np.dtype(draw(st.sampled_from(draw(st.sampled_from([g for g in groups if g])))))
    if regime == "special" and dtype.kind == "f" and not specials:
        regime = base
    x, regime, seed = draw(_values(dtype, regime, base, lead + plane, plane_size, specials))
    layout = draw(st.sampled_from(layouts))
    readonly = draw(st.booleans())
    label = f"{layout}, read-only" if readonly else layout
    return Case(pool_spec, relayout(x, layout, readonly), label, regime, seed)


# ---------------------------------------------------------------------------
# Calls that must fail: one documented defect at a time, and fuzzed arguments.


def _supported_unsupported_dtypes() -> tuple[str, ...]:
    """Dtypes the contract refuses with TypeError, as they exist on this platform."""
    names = ["bool", "complex64", "complex128", "object", "<U2", "S2"]
    names += ["datetime64[s]", "timedelta64[ms]", "clongdouble"]
    if np.dtype(np.longdouble).itemsize > 8:  # on some platforms longdouble is float64
        names.append("longdouble")
    return tuple(names)


UNSUPPORTED_DTYPES = _supported_unsupported_dtypes()


def _short(value: object) -> str:
    if isinstance(value, np.ndarray) and value.size > 24:
        return f"<array shape={value.shape} dtype={value.dtype}>"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True, eq=False)
class Call:
    """A call to ``forward`` or ``backward`` and what is wrong with it (if anything).

    ``errors`` are the exception types the contract allows it to raise.
    """

    method: str
    args: tuple[object, ...]
    defect: str
    errors: tuple[type[Exception], ...] = (ValueError, TypeError)

    def run(self, impl: MaxPoolImpl) -> object:
        return getattr(impl, self.method)(*self.args)

    def __repr__(self) -> str:
        args = ", ".join(map(_short, self.args))
        return f"Call({self.defect!r}: {self.method}({args}))"


def gradient_dtype(caps: Capabilities, input_dtype: np.dtype | str | None = None) -> np.dtype:
    """The dtype for ``grad_out`` after forward on ``input_dtype`` (`Capabilities.gradient_dtype`).

    Without ``input_dtype``, the first forward dtype stands in.
    """
    return caps.gradient_dtype(input_dtype if input_dtype is not None else caps.dtypes[0])


def claims_any_indices(caps: Capabilities) -> bool:
    """Whether backward is claimed for any in-plane indices, not only forward's own."""
    return caps.backward and caps.backward_indices == "any"


def _backward_arguments(case: Case, caps: Capabilities) -> tuple[np.ndarray, np.ndarray]:
    """A valid ``grad_out`` and valid (arbitrary in-plane) ``indices`` for ``case``."""
    rng = case.rng(1)
    grad = rng.integers(-3, 4, case.output_shape).astype(gradient_dtype(caps, case.x.dtype))
    plane = math.prod(case.spatial_shape)
    return grad, rng.integers(0, plane, case.output_shape, dtype=np.int64)


def _wrong_shape(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    how = draw(st.sampled_from(["extra axis", "missing axis", "longer axis"]))
    if how == "extra axis":
        return (1,) + shape
    if how == "missing axis":
        return shape[1:]
    axis = draw(st.integers(0, len(shape) - 1))
    return shape[:axis] + (shape[axis] + 1,) + shape[axis + 1 :]


# Every defect the contract documents an error for, one per invalid call.
DEFECTS = (
    "x has an unsupported dtype",
    "x has fewer axes than the kernel",
    "a window is longer than the padded input",
    "a window covers padding only",
    "grad_out has the wrong shape",
    "indices have the wrong shape",
    "an index lies outside the plane",
    "indices are not integers",
    "grad_out has an unsupported dtype",
    "input_shape has fewer axes than the kernel",
)
FORWARD_DEFECTS = DEFECTS[:4]


@st.composite
def invalid_calls(draw: st.DrawFn, caps: Capabilities | None = None) -> Call:
    """A valid call with one documented defect, and the error type the contract prescribes."""
    caps = caps or Capabilities()
    case = draw(cases(caps, max_elements=256))
    spec, x, spatial = case.spec, case.x, case.spatial_shape
    grad, indices = _backward_arguments(case, caps)
    plane = math.prod(spatial)
    # Padding defects are drawn only for implementations that support padding,
    # backward defects only for those whose backward takes any in-plane indices.
    defects = [d for d in DEFECTS if caps.padding or d != "a window covers padding only"]
    if not claims_any_indices(caps):
        defects = [d for d in defects if d in FORWARD_DEFECTS]
    defect = draw(st.sampled_from(defects))
    backward = ["backward", grad, indices, x.shape, spec]
    axis = draw(st.integers(0, spec.ndim - 1))
    pads = [list(pair) for pair in spec.pads(spatial)]
    kernel, dilation = list(spec.kernel_size), list(spec.dilation)

    if defect == "x has an unsupported dtype":
        bad = np.zeros(x.shape, dtype=draw(st.sampled_from(UNSUPPORTED_DTYPES)))
        return Call("forward", (bad, spec), defect, (TypeError,))
    if defect == "x has fewer axes than the kernel":
        return Call("forward", (x[(0,) * (x.ndim - spec.ndim + 1)], spec), defect, (ValueError,))
    if defect == "a window is longer than the padded input":
        kernel[axis], dilation[axis] = spatial[axis] + sum(pads[axis]) + 1, 1
        too_long = PoolSpec(tuple(kernel), spec.stride, tuple(map(tuple, pads)), dilation)
        assume(not caps.unsupported(too_long, None, x.shape))
        return Call("forward", (x, too_long), defect, (ValueError,))
    if defect == "a window covers padding only":
        pads[axis][0] = spec.extent[axis] + draw(st.integers(0, 2))
        padding_only = PoolSpec(spec.kernel_size, spec.stride, tuple(map(tuple, pads)), dilation)
        assume(not caps.unsupported(padding_only, None, x.shape))
        return Call("forward", (x, padding_only), defect, (ValueError,))
    if defect == "grad_out has the wrong shape":
        backward[1] = np.ones(_wrong_shape(draw, grad.shape), dtype=grad.dtype)
    elif defect == "indices have the wrong shape":
        backward[2] = np.zeros(_wrong_shape(draw, indices.shape), dtype=np.int64)
    elif defect == "an index lies outside the plane":
        offset = draw(st.sampled_from([0, 1, 2**40]))
        bad_index = draw(st.sampled_from([-1 - offset, plane + offset]))
        out_of_plane = indices.copy()
        out_of_plane.flat[draw(st.integers(0, indices.size - 1))] = bad_index
        backward[2] = out_of_plane
    elif defect == "indices are not integers":
        dtype = draw(st.sampled_from(["float64", "float32", "bool", "complex128"]))
        backward[2] = indices.astype(dtype)
    elif defect == "grad_out has an unsupported dtype":
        backward[1] = np.zeros(grad.shape, dtype=draw(st.sampled_from(UNSUPPORTED_DTYPES)))
    else:  # input_shape has fewer axes than the kernel
        backward[3] = spatial[1:]
    prescribed = TypeError if "dtype" in defect or "integers" in defect else ValueError
    return Call("backward", tuple(backward[1:]), defect, (prescribed,))


_SIZES = st.one_of(
    st.integers(-3, 6),
    st.sampled_from([0, 2**31, 2**63 - 1, 2**63, 2**64, 10**18, -(2**63)]),
    st.integers(-(2**70), 2**70),
)


def _junk() -> st.SearchStrategy[object]:
    """Arbitrary Python and NumPy values, most of them meaningless as arguments."""
    arrays = npst.arrays(
        npst.scalar_dtypes() | st.just(np.dtype(object)) | st.just(np.dtype("<U3")),
        npst.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
    )
    return st.one_of(
        st.none(),
        st.booleans(),
        _SIZES,
        st.floats(),
        st.complex_numbers(),
        st.text(max_size=3),
        st.binary(max_size=2),
        st.lists(st.integers(-3, 5), max_size=4),
        st.lists(st.lists(st.integers(-2, 2), max_size=3), max_size=3),  # ragged too
        st.dictionaries(st.text(max_size=1), st.integers(), max_size=2),
        st.builds(object),
        arrays,
    )


_JUNK = _junk()


def _try_spec(arguments: tuple[Any, ...]) -> object:
    """``PoolSpec(*arguments)``, or the arguments themselves where the constructor refuses them."""
    try:
        return PoolSpec(*arguments)
    except (ValueError, TypeError):
        return arguments


_HUGE = st.integers(2**40, 10**19)
# Valid positional `PoolSpec` arguments with huge sizes.
_HUGE_SPEC_ARGUMENTS = st.tuples(
    st.lists(st.integers(1, 4) | _HUGE, min_size=1, max_size=3).map(tuple),
    st.none() | st.integers(1, 4) | _HUGE,
    st.integers(0, 2) | _HUGE | st.sampled_from(PADDING_FORMS[3:]),
    st.integers(1, 4) | _HUGE,
    st.booleans(),
)
_PER_AXIS = st.one_of(_SIZES, st.lists(_SIZES, min_size=1, max_size=3).map(tuple), _JUNK)
# Arbitrary positional `PoolSpec` arguments, mostly invalid.
_ARBITRARY_SPEC_ARGUMENTS = st.tuples(
    st.lists(_SIZES, min_size=0, max_size=4).map(tuple) | _JUNK,
    st.none() | _PER_AXIS,
    _PER_AXIS | st.sampled_from(["valid", "same", "same_lower", "full"]),
    _PER_AXIS,
    st.booleans() | _JUNK,
)
FUZZED_SPEC_ARGUMENTS = _HUGE_SPEC_ARGUMENTS | _ARBITRARY_SPEC_ARGUMENTS

# Shapes, for ``input_shape`` and ``spatial_shape``: huge, negative, mistyped, junk.
FUZZED_SHAPES = st.one_of(
    st.lists(_SIZES, max_size=5).map(tuple),
    st.lists(st.one_of(_SIZES, st.floats(), st.booleans(), st.none()), max_size=4).map(tuple),
    st.lists(st.integers(0, 5).map(np.int64), max_size=4).map(tuple),
    _JUNK,
)


def _edited_shapes(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[object, ...]]:
    """``shape`` with one entry replaced by a fuzzed size (huge, negative...), or one more."""
    return st.builds(
        lambda position, size, insert: shape[:position] + (size,) + shape[position + insert :],
        st.integers(0, len(shape) - 1),
        _SIZES,
        st.sampled_from([0, 1]),
    )


def _estimated_work(call: Call) -> int:
    """Rough element count a call that may be valid would touch; 0 if it cannot be valid."""
    try:
        shape: tuple[int, ...]
        if call.method == "forward":
            x, spec = call.args
            shape = np.asarray(x).shape
        else:
            grad, indices, shape_arg, spec = call.args
            shape = tuple(int(n) for n in np.asarray(shape_arg).reshape(-1))
        if not isinstance(spec, PoolSpec) or len(shape) < spec.ndim:
            return 0
        split = len(shape) - spec.ndim
        out = spec.output_shape(shape[split:])
        expected = tuple(shape[:split]) + out
        if call.method == "backward" and not (
            np.asarray(grad).shape == np.asarray(indices).shape == expected
        ):
            return 0
        spans = zip(out, spec.stride, spec.extent, strict=True)
        region = math.prod((o - 1) * s + e for o, s, e in spans)
        return math.prod(shape) + math.prod(shape[:split]) * (
            math.prod(out) * spec.window_size + region
        )
    except Exception:  # an argument too odd even to estimate: the call cannot be valid
        return 0


# Calls this big may be valid, and would then rightly take time and memory.
MAX_FUZZED_WORK = 10**6


@st.composite
def fuzzed_calls(draw: st.DrawFn, caps: Capabilities | None = None) -> Call:
    """A valid call with any of its arguments replaced by arbitrary values.

    Huge and negative sizes, wrong types, mismatched shapes and out-of-range
    indices all appear; calls that may be valid and need more than
    `MAX_FUZZED_WORK` elements of work are left out.
    """
    caps = caps or Capabilities()
    case = draw(cases(caps, max_elements=256))
    grad, indices = _backward_arguments(case, caps)

    def maybe(valid: object, *kinds: st.SearchStrategy[object]) -> object:
        """``valid`` half the time, else a draw from one of ``kinds``, chosen evenly."""
        return valid if draw(st.booleans()) else draw(draw(st.sampled_from(kinds)))

    spec = maybe(
        case.spec,
        specs(caps),
        _HUGE_SPEC_ARGUMENTS.map(_try_spec),
        _ARBITRARY_SPEC_ARGUMENTS.map(_try_spec),
        _JUNK,
    )
    if not claims_any_indices(caps) or draw(st.booleans()):
        call = Call("forward", (maybe(case.x, _JUNK), spec), "fuzzed")
    else:
        any_ints = npst.integer_dtypes() | npst.unsigned_integer_dtypes()
        grad_arg = maybe(grad, _JUNK)
        indices_arg = maybe(indices, npst.arrays(any_ints, grad.shape), _JUNK)
        shape_arg = maybe(case.x.shape, _edited_shapes(case.x.shape), FUZZED_SHAPES)
        call = Call("backward", (grad_arg, indices_arg, shape_arg, spec), "fuzzed")
    assume(_estimated_work(call) <= MAX_FUZZED_WORK)
    return call
