"""The fixed-input contract checks: worked examples, documented errors, layouts and purity.

Where the properties draw thousands of cases, these pin the contract on small
inputs whose answers were worked out by hand from the contract (docs/contract.md). Each is a
`FixedCheck` with a ``name`` and ``run(impl)``; they come in three groups,
each reported as one row by ``maxpool verify``:

- ``worked_examples``: forward's results;
- ``worked_gradients``: backward's results (run where backward is claimed);
- ``documented_errors``: the error type for each documented defect (run only
  for implementations that claim argument validation);
- ``layouts_and_purity``: any memory layout gives the C-order result, the
  input is left alone, read-only inputs work, forward repeats exactly;
- ``backward_purity``: backward leaves its arguments alone, takes read-only
  ones and NumPy integers in ``input_shape``, and repeats exactly.

Like the properties, each group judges one half of the contract: an
implementation whose indices are worked out from its backward is judged on
its values alone by the forward groups.

A check whose call lies outside the implementation's declared limits is
skipped (see `impls.conformance.runner.LimitedImpl`). Messages are matched
only for this package's own implementations: others owe the exception type,
not the wording.

Examples
--------
>>> import impls
>>> [check.name for check in CHECKS["worked_examples"]][:2]
['kernel2_stride1_3x3', 'kernel2_stride2_4x4']
>>> BY_NAME["tie_1d"].run(impls.get("naive"))  # passes silently
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from impls import Capabilities, MaxPoolImpl, PoolSpec
from impls.registry import is_builtin

from .checks import (
    assert_forward_matches,
    assert_identical,
    backward_probe,
    backward_result,
    checked_backward,
    checked_forward,
    expect_error,
    explain_backward,
    forward_result,
    impl_label,
    routed_forward,
)
from .diagnose import fail
from .runner import OutsideLimits
from .strategies import gradient_dtype

__all__ = ["BY_NAME", "CHECKS", "GROUPS", "FixedCheck"]

NAN, INF = np.nan, np.inf


@dataclass(frozen=True)
class FixedCheck:
    """One fixed-input check of the contract: ``run(impl)`` raises if ``impl`` breaks it."""

    name: str
    group: str
    body: Callable[[object], None]

    def run(self, impl: MaxPoolImpl) -> None:
        self.body(impl)


def _is_ours(impl: MaxPoolImpl) -> bool:
    """Whether ``impl`` is a built-in implementation of this package (its messages are known)."""
    return is_builtin(getattr(impl, "impl", impl))


def _context(impl: MaxPoolImpl, name: str) -> str:
    return f"impl={impl_label(impl)}, fixed check {name}"


def expect_forward(
    impl: MaxPoolImpl,
    x: object,
    spec: PoolSpec,
    values: object,
    indices: object,
    context: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``impl.forward(x, spec)`` equals ``(values, indices)``, bit for bit, dtypes included.

    Indices are judged where forward gives them (see
    `impls.conformance.checks.checked_forward`).
    """
    x = np.asarray(x)
    where = f"{context}, spec={spec!r}, x={np.array2string(x, separator=', ')}"
    got_values, got_indices = checked_forward(impl, x, spec, where)
    expected_indices = np.asarray(indices, dtype=np.int64)
    expected_values = np.asarray(values, dtype=x.dtype)
    assert_forward_matches(
        got_values, got_indices, expected_values, expected_indices, x, spec, where, "the contract"
    )
    return got_values, got_indices


# ---------------------------------------------------------------------------
# Worked examples.


def _forward_example(x: object, spec: PoolSpec, values: object, indices: object) -> Callable:
    def body(impl: MaxPoolImpl, name: str) -> None:
        expect_forward(impl, x, spec, values, indices, _context(impl, name))

    return body


def _backward_example(
    x: np.ndarray, spec: PoolSpec, indices: object, grad: np.ndarray, grad_in: object
) -> Callable:
    """Backward of ``grad`` after forward on ``x``, where forward selects ``indices``.

    An implementation whose forward selects other elements (a forward bug, for
    the forward groups to report) has no worked answer here: skipped.
    """

    def body(impl: MaxPoolImpl, name: str) -> None:
        where = f"{_context(impl, name)}, spec={spec!r}"
        _, given, routing = routed_forward(impl, x, spec, where)
        if not np.array_equal(routing, np.asarray(indices)):
            raise OutsideLimits()
        got = checked_backward(impl, grad, given, x.shape, spec, where)
        expected = np.asarray(grad_in, dtype=grad.dtype)
        probe = backward_probe(impl, given, x.shape, spec)
        explain = explain_backward(x, spec, grad, got, routing, where, probe)
        assert_identical(got, expected, "gradients", where, "the contract", explain)

    return body


def _every_dtype(dtype: str) -> Callable:
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    x = np.array([info.min, info.max, 0, info.min], dtype=dtype)
    # windows [pad,min] [min,max] [max,0] [0,min] [min,pad]
    values = [info.min, info.max, info.max, 0, info.min]
    return _forward_example(x, PoolSpec((2,), stride=1, padding=1), values, [0, 1, 1, 2, 3])


def _leading_axes(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    x = np.array([[[1, 3], [2, 0]], [[4, 4], [9, 1]]], dtype=np.float64)  # (C=2, 2, 2)
    expect_forward(impl, x, PoolSpec((2, 2)), [[[3]], [[9]]], [[[1]], [[2]]], context)
    x5 = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)[None, None]
    values = np.array([11, 23], dtype=np.float32).reshape(1, 1, 2, 1, 1, 1)
    expect_forward(impl, x5, PoolSpec((3, 4)), values, np.full(values.shape, 11), context)


def _empty_leading_axis(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    expect_forward(impl, np.zeros((0, 3, 4, 4)), PoolSpec((2, 2)), np.zeros((0, 3, 2, 2)),
                   np.zeros((0, 3, 2, 2)), context)  # fmt: skip


def _empty_leading_axis_backward(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    spec = PoolSpec((2, 2))
    x = np.zeros((0, 3, 4, 4))
    _, given, _ = routed_forward(impl, x, spec, context)
    grad = np.zeros((0, 3, 2, 2), dtype=gradient_dtype(Capabilities.of(impl), x.dtype))
    checked_backward(impl, grad, given, x.shape, spec, context)


def _x(values: Sequence[object], dtype: Any = np.float64) -> np.ndarray:
    return np.array(values, dtype=dtype)


_SQUARE = _x([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 3]], np.float32)
_PEAK = _x([[1, 2, 1], [2, 9, 2], [1, 2, 1]])
_ROUTED = np.zeros((4, 4), dtype=np.float32)
_ROUTED[0, 1], _ROUTED[1, 2], _ROUTED[3, 0], _ROUTED[2, 3] = 1, 2, 3, 4
_3D = np.zeros((2, 2, 4))
_3D[1, 0, 1], _3D[0, 1, 3] = 5, 2  # flat indices 9 (first window) and 7 (second)

_WORKED: dict[str, Callable] = {
    "kernel2_stride1_3x3": _forward_example(
        _x([[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        PoolSpec((2, 2), stride=1),
        [[5, 6], [8, 9]],
        [[4, 5], [7, 8]],
    ),
    # windows {1,5,3,4} {2,0,8,1} {0,2,9,1} {6,7,3,3}
    "kernel2_stride2_4x4": _forward_example(
        _SQUARE, PoolSpec((2, 2)), [[5, 8], [9, 7]], [[1, 6], [12, 11]]
    ),
    # the two 9s tie: the first (index 1) wins
    "tie_1d": _forward_example(_x([3, 9, 9, 1]), PoolSpec((4,)), [9], [1]),
    # (0, 1) comes before (1, 0) and (1, 1) in row-major order
    "tie_2d_row_major": _forward_example(
        _x([[0, 5], [5, 5]], np.int32), PoolSpec((2, 2)), [[5]], [[1]]
    ),
    "constant_input_selects_each_first": _forward_example(
        np.full((3, 3), 7, dtype=np.uint8),
        PoolSpec((2, 2), stride=1),
        [[7, 7], [7, 7]],
        [[0, 1], [3, 4]],
    ),
    "nan_wins_first_nan": _forward_example(_x([1, NAN, 3, NAN]), PoolSpec((4,)), [NAN], [1]),
    "nan_in_each_window": _forward_example(
        _x([1, NAN, 3, NAN]), PoolSpec((2,)), [NAN, NAN], [1, 3]
    ),
    "nan_before_a_larger_number": _forward_example(
        _x([NAN, 5], np.float16), PoolSpec((2,)), [NAN], [0]
    ),
    "nan_beats_inf": _forward_example(_x([INF, NAN], np.float32), PoolSpec((2,)), [NAN], [1]),
    # padding 1: windows are [pad, x0] and [x1, pad]
    "all_minus_inf_windows": _forward_example(
        _x([-INF, -INF]), PoolSpec((2,), stride=2, padding=1), [-INF, -INF], [0, 1]
    ),
    # window (i, j) covers rows {i-1, i} and columns {j-1, j}
    "padding_never_wins_over_negatives": _forward_example(
        _x([[-5, -3], [-4, -6]]),
        PoolSpec((2, 2), stride=1, padding=1),
        [[-5, -3, -3], [-4, -3, -3], [-4, -4, -6]],
        [[0, 1, 1], [2, 1, 1], [2, 2, 3]],
    ),
    # int8's lowest value in the input ties with the padding value
    "padding_never_wins_a_tie_with_int_min": _forward_example(
        _x([-128, -128, -128], np.int8),
        PoolSpec((2,), stride=1, padding=1),
        [-128] * 4,
        [0, 0, 1, 2],
    ),
    "floor_mode_drops_the_partial_window": _forward_example(
        _x([1, 2, 3, 4, 5], np.int64), PoolSpec((2,)), [2, 4], [1, 3]
    ),
    "ceil_mode_keeps_the_partial_window": _forward_example(
        _x([1, 2, 3, 4, 5], np.int64), PoolSpec((2,), ceil_mode=True), [2, 4, 5], [1, 3, 4]
    ),
    # windows read (0, 2), (1, 3), (2, 4)
    "dilation": _forward_example(
        _x([1, 9, 2, 8, 3], np.int16),
        PoolSpec((2,), stride=1, dilation=2),
        [2, 9, 3],
        [2, 1, 4],
    ),
    # "same" pads (0, 1): [1,2] [3,4] [5,pad]
    "same_pads_the_end": _forward_example(
        _x([1, 2, 3, 4, 5], np.float32), PoolSpec((2,), padding="same"), [2, 4, 5], [1, 3, 4]
    ),
    # "same_lower" pads (1, 0): [pad,1] [2,3] [4,5]
    "same_lower_pads_the_beginning": _forward_example(
        _x([1, 2, 3, 4, 5], np.float32),
        PoolSpec((2,), padding="same_lower"),
        [1, 3, 5],
        [0, 2, 4],
    ),
    "pooling_3d": _forward_example(_3D, PoolSpec((2, 2, 2)), [[[5, 2]]], [[[9, 7]]]),
    "leading_axes_are_independent": _leading_axes,
    "empty_leading_axis": _empty_leading_axis,
}
_GRADIENTS: dict[str, Callable] = {
    # the centre is the maximum of all four 2x2 windows
    "overlapping_windows_accumulate": _backward_example(
        _PEAK,
        PoolSpec((2, 2), stride=1),
        [[4, 4], [4, 4]],
        _x([[1, 2], [3, 4]]),
        [[0, 0, 0], [0, 10, 0], [0, 0, 0]],
    ),
    "backward_routes_each_gradient": _backward_example(
        _SQUARE, PoolSpec((2, 2)), [[1, 6], [12, 11]], _x([[1, 2], [3, 4]], np.float32), _ROUTED
    ),
    "backward_keeps_the_gradient_dtype": _backward_example(
        _x([1, 2, 4, 3]), PoolSpec((2,)), [1, 2], _x([7, -2], np.int16), [0, 7, -2, 0]
    ),
    # windows start at -1, 1, 3 (5 is dropped) and read {0,1} {1,2,3} {3,4}
    "backward_with_padding_and_ceil_mode": _backward_example(
        _x([4, 1, 0, 2, 2]),
        PoolSpec((3,), stride=2, padding=1, ceil_mode=True),
        [0, 3, 3],
        _x([1, 10, 100]),
        [1, 0, 0, 110, 0],
    ),
    "empty_leading_axis_backward": _empty_leading_axis_backward,
}

_CONTRACT_DTYPES = (
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
)  # fmt: skip
for _dtype in _CONTRACT_DTYPES:
    _WORKED[f"every_dtype_{_dtype}"] = _every_dtype(_dtype)


# ---------------------------------------------------------------------------
# Documented errors.

_SPEC = PoolSpec((2, 2))
_X = np.arange(16.0).reshape(1, 4, 4)
_OUT = (1, 2, 2)
_INDICES = np.zeros(_OUT, dtype=np.int64)
_GRAD = np.ones(_OUT)


def _raises(
    error: type[Exception], pattern: str, method: str, *args: object, defect: str
) -> Callable:
    def body(impl: MaxPoolImpl, name: str) -> None:
        expect_error(
            lambda: getattr(impl, method)(*args),
            (error,),
            defect,
            _context(impl, name),
            match=pattern if _is_ours(impl) else None,
        )

    return body


def _errors() -> dict[str, Callable]:
    table: dict[str, Callable] = {}
    unsupported = [
        ("bool", np.ones((4, 4), dtype=bool), "dtype bool"),
        ("complex128", np.ones((4, 4), dtype=np.complex128), "dtype complex128"),
        ("object", np.ones((4, 4), dtype=object), "dtype object"),
        ("str", np.full((4, 4), "a"), "dtype <U1"),
        ("datetime64", np.zeros((4, 4), dtype="datetime64[s]"), "dtype datetime64"),
        ("bool_list", [[True, False], [False, True]], "dtype bool"),
        ("none", None, "dtype object"),
    ]
    if np.finfo(np.longdouble).bits > 64:
        unsupported.append(("longdouble", np.ones((4, 4), dtype=np.longdouble), "dtype float128"))
    for label, x, pattern in unsupported:
        table[f"forward_refuses_dtype_{label}"] = _raises(
            TypeError,
            rf"x has {pattern}.*supported dtypes are float16",
            "forward",
            x,
            _SPEC,
            defect="x has an unsupported dtype",
        )
    for shape in [(), (4,), (3,)]:
        table[f"forward_refuses_too_few_axes_{len(shape)}_{shape and shape[0]}"] = _raises(
            ValueError,
            r"x must have at least 2 axes .* got shape",
            "forward",
            np.zeros(shape),
            _SPEC,
            defect="x has fewer axes than the kernel",
        )
    table["forward_refuses_ragged_input"] = _raises(
        ValueError,
        r"x could not be converted to an array",
        "forward",
        [[1.0, 2.0], [3.0]],
        PoolSpec((1,)),
        defect="x is ragged",
    )
    table["forward_refuses_a_spec_that_is_not_a_poolspec"] = _raises(
        TypeError,
        r"spec must be a PoolSpec, got tuple",
        "forward",
        _X,
        (2, 2),
        defect="spec is not a PoolSpec",
    )
    table["forward_refuses_a_window_longer_than_the_input"] = _raises(
        ValueError,
        r"pooled axis 1: input length 4 .* extent 5",
        "forward",
        _X,
        PoolSpec((2, 5)),
        defect="a window is longer than the padded input",
    )
    table["forward_refuses_a_window_of_padding_only"] = _raises(
        ValueError,
        r"covers padding only",
        "forward",
        _X,
        PoolSpec((2, 2), padding=((0, 0), (2, 0))),
        defect="a window covers padding only",
    )
    backward = [
        ("grad_wrong_length", np.ones((1, 2, 3)), _INDICES, _X.shape, ValueError,
         r"grad_out has shape \(1, 2, 3\)", "grad_out has the wrong shape"),
        ("grad_missing_axis", np.ones((2, 2)), _INDICES, _X.shape, ValueError,
         r"grad_out has shape \(2, 2\)", "grad_out has the wrong shape"),
        ("indices_wrong_shape", _GRAD, np.zeros((1, 2, 1), np.int64), _X.shape, ValueError,
         "indices has shape", "indices have the wrong shape"),
        ("input_shape_does_not_fit", _GRAD, _INDICES, (1, 4, 6), ValueError,
         r"output .* has shape \(1, 2, 3\)", "grad_out does not fit input_shape"),
        ("index_below_the_plane", _GRAD, _INDICES - 1, _X.shape, ValueError,
         r"plane \[0, 16\) .* found -1", "an index lies outside the plane"),
        ("index_above_the_plane", _GRAD, _INDICES + 16, _X.shape, ValueError,
         r"plane \[0, 16\) .* found 16", "an index lies outside the plane"),
        ("float_indices", _GRAD, _INDICES.astype(float), _X.shape, TypeError,
         "integer dtype", "indices are not integers"),
        ("bool_gradient", _GRAD.astype(bool), _INDICES, _X.shape, TypeError,
         "grad_out has dtype bool", "grad_out has an unsupported dtype"),
        ("complex_gradient", _GRAD.astype(complex), _INDICES, _X.shape, TypeError,
         "grad_out has dtype", "grad_out has an unsupported dtype"),
        ("input_shape_too_few_axes", _GRAD, _INDICES, (4,), ValueError,
         "input_shape must have at least 2 axes", "input_shape has fewer axes than the kernel"),
        ("input_shape_negative", _GRAD, _INDICES, (1, -4, 4), ValueError,
         "input_shape must be non-negative", "input_shape is negative"),
        ("input_shape_float", _GRAD, _INDICES, (1, 4.0, 4), TypeError,
         "input_shape must hold ints", "input_shape holds non-integers"),
        ("input_shape_bool", _GRAD, _INDICES, (1, True, 4), TypeError,
         "input_shape must hold ints", "input_shape holds non-integers"),
        ("input_shape_not_a_tuple", _GRAD, _INDICES, 16, TypeError,
         "input_shape must be a tuple", "input_shape is not a tuple"),
        ("input_too_short_for_the_kernel", _GRAD, _INDICES, (1, 4, 1), ValueError,
         "pooled axis 1: input length 1", "a window is longer than the padded input"),
    ]  # fmt: skip
    for label, grad, indices, input_shape, error, pattern, defect in backward:
        table[f"backward_refuses_{label}"] = _raises(
            error, pattern, "backward", grad, indices, input_shape, _SPEC, defect=defect
        )
    table["backward_refuses_a_spec_that_is_not_a_poolspec"] = _raises(
        TypeError,
        r"spec must be a PoolSpec",
        "backward",
        _GRAD,
        _INDICES,
        _X.shape,
        {"kernel_size": (2, 2)},
        defect="spec is not a PoolSpec",
    )
    return table


# ---------------------------------------------------------------------------
# Layouts and purity.

# A rich geometry first; then plainer ones, for implementations that declare limits.
_LAYOUT_SETTINGS = (
    (PoolSpec((3, 2), stride=(2, 1), padding=((1, 0), 1), dilation=(1, 2)), (2, 3, 7, 6)),
    (PoolSpec((3, 3), stride=2, padding=1), (2, 3, 7, 7)),
    (PoolSpec((2, 2)), (2, 3, 6, 6)),
    (PoolSpec((3,), stride=2, padding=1), (2, 3, 7)),
    (PoolSpec((2,)), (2, 3, 6)),
    (PoolSpec((2, 2, 2)), (2, 2, 4, 4, 4)),
)


def _setting(impl: MaxPoolImpl) -> tuple[PoolSpec, tuple[int, ...], np.dtype, np.dtype]:
    """``(spec, shape, dtype, gradient dtype)`` for the layout checks, inside ``impl``'s limits.

    Rejects (skips the check) when no setting fits.
    """
    caps = Capabilities.of(impl)
    preferred = [str(d) for d in ("float32", "float64", "float16") if d in caps.dtypes]
    dtype = np.dtype((preferred or list(caps.dtypes))[0])
    for spec, shape in _LAYOUT_SETTINGS:
        if not caps.unsupported(spec, dtype, shape):
            return spec, shape, dtype, gradient_dtype(caps, dtype)
    raise OutsideLimits()


def _sample(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    # small integers give plenty of ties
    return np.random.default_rng(0).integers(-3, 4, shape).astype(dtype)


def _stored(x: np.ndarray, layout: str) -> object:
    """``x`` stored as ``layout`` (a view of another array where that is the point)."""
    if layout == "fortran":
        return np.asfortranarray(x)
    if layout == "transposed_view":
        return np.ascontiguousarray(np.swapaxes(x, -1, -2)).swapaxes(-1, -2)
    if layout == "negative_strides":
        flip = (slice(None, None, -1),) * x.ndim
        return np.ascontiguousarray(x[flip])[flip]
    if layout == "non_contiguous":
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "read_only":
        frozen = x.copy()
        frozen.flags.writeable = False
        return frozen
    return x.tolist()  # "list"


def _forward(
    impl: MaxPoolImpl, x: Any, spec: PoolSpec, context: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """``impl.forward(x, spec)``, failing by name where it returns no pair of ndarrays."""
    __tracebackhide__ = True
    return forward_result(impl.forward(x, spec), context)


def _any_layout(layout: str) -> Callable:
    def body(impl: MaxPoolImpl, name: str) -> None:
        context = _context(impl, name)
        spec, shape, dtype, _ = _setting(impl)
        x = _sample(shape, dtype)
        expected_values, expected_indices = _forward(impl, x, spec, context)
        stored = _stored(x, layout)
        values, indices = _forward(impl, stored, spec, context)
        kind = f"the result depends on the memory layout ({layout.replace('_', ' ')})"
        if layout == "list":  # a list of Python numbers converts to float64 or int64
            expected_values = expected_values.astype(np.asarray(stored).dtype)
        judged = [("values", values, expected_values)]
        if indices is not None and expected_indices is not None:
            judged.insert(0, ("indices", indices, expected_indices))
        for what, got, expected in judged:
            assert_identical(
                np.asarray(got), expected, what, context, "the C-order input", lambda p: kind
            )

    return body


def _inputs_not_modified(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    spec, shape, dtype, _ = _setting(impl)
    x = _sample(shape, dtype)
    if dtype.kind == "f":
        x.flat[0] = np.nan
    x_before = x.copy()
    impl.forward(x, spec)
    assert_identical(x, x_before, "input after forward", context, "the input before",
                     lambda p: "forward modifies its input")  # fmt: skip


def _backward_arguments_not_modified(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    spec, shape, dtype, grad_dtype = _setting(impl)
    x = _sample(shape, dtype)
    if dtype.kind == "f":
        x.flat[0] = np.nan
    values, indices, _ = routed_forward(impl, x, spec, context)
    grad = np.random.default_rng(1).standard_normal(values.shape).astype(grad_dtype)
    grad_before, indices_before = grad.copy(), indices.copy()
    impl.backward(grad, indices, x.shape, spec)
    assert_identical(grad, grad_before, "grad_out after backward", context, "before",
                     lambda p: "backward modifies grad_out")  # fmt: skip
    assert_identical(indices, indices_before, "indices after backward", context, "before",
                     lambda p: "backward modifies indices")  # fmt: skip


def _read_only_input(impl: MaxPoolImpl, name: str) -> None:
    spec, shape, dtype, _ = _setting(impl)
    x = _sample(shape, dtype)
    x.flags.writeable = False
    impl.forward(x, spec)


def _read_only_backward_arguments(impl: MaxPoolImpl, name: str) -> None:
    spec, shape, dtype, grad_dtype = _setting(impl)
    x = _sample(shape, dtype)
    values, indices, _ = routed_forward(impl, x, spec, _context(impl, name))
    grad = np.ones(values.shape, dtype=grad_dtype)
    grad.flags.writeable = False
    indices = np.array(indices)
    indices.flags.writeable = False
    impl.backward(grad, indices, x.shape, spec)


def _outputs_do_not_alias(impl: MaxPoolImpl, name: str) -> None:
    spec, shape, dtype, _ = _setting(impl)
    x = _sample(shape, dtype)
    identity = PoolSpec((1,) * spec.ndim)
    values, _ = _forward(impl, x, identity, _context(impl, name))
    if np.shares_memory(values, x):
        kind = "values share memory with the input"
        fail(kind, f"{kind}: kernel 1 returned a view of x [{_context(impl, name)}]")


_NOT_DETERMINISTIC = "not deterministic: a repeated call gives another result"


def _repeats_exactly(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    spec, shape, dtype, _ = _setting(impl)
    x = _sample(shape, dtype)
    first_values, first_indices = _forward(impl, x, spec, context)
    for _ in range(3):
        values, indices = _forward(impl, x, spec, context)
        repeated = [("values", values, first_values)]
        if indices is not None and first_indices is not None:
            repeated.append(("indices", indices, first_indices))
        for what, got, expected in repeated:
            assert_identical(got, expected, what, context, "the first call",
                             lambda p: _NOT_DETERMINISTIC)  # fmt: skip


def _backward_repeats_exactly(impl: MaxPoolImpl, name: str) -> None:
    context = _context(impl, name)
    spec, shape, dtype, grad_dtype = _setting(impl)
    x = _sample(shape, dtype)
    values, indices, _ = routed_forward(impl, x, spec, context)
    grad = np.random.default_rng(2).standard_normal(values.shape).astype(grad_dtype)
    first = backward_result(impl.backward(grad, indices, x.shape, spec), context)
    for _ in range(3):
        _, again_indices, _ = routed_forward(impl, x, spec, context)
        again = backward_result(impl.backward(grad, again_indices, x.shape, spec), context)
        assert_identical(again, first, "gradients", context, "the first call",
                         lambda p: _NOT_DETERMINISTIC)  # fmt: skip


def _unbatched(drop: int) -> Callable:
    def body(impl: MaxPoolImpl, name: str) -> None:
        context = _context(impl, name)
        spec, shape, dtype, _ = _setting(impl)
        batched = _sample(shape, dtype)
        first = (0,) * drop
        values, indices = _forward(impl, batched[first], spec, context)
        all_values, all_indices = _forward(impl, batched, spec, context)
        lead = len(shape) - spec.ndim - drop
        kind = f"an input with {lead} leading axes gives another result than a batch"
        judged = [("values", values, all_values[first])]
        if indices is not None and all_indices is not None:
            judged.insert(0, ("indices", indices, all_indices[first]))
        for what, got, expected in judged:
            assert_identical(got, expected, what, context, "the batched call", lambda p: kind)

    return body


def _numpy_integer_shapes(impl: MaxPoolImpl, name: str) -> None:
    spec, shape, dtype, grad_dtype = _setting(impl)
    x = _sample(shape, dtype)
    context = _context(impl, name)
    values, indices, _ = routed_forward(impl, x, spec, context)
    grad = np.ones(values.shape, dtype=grad_dtype)
    numpy_shape = tuple(np.int64(n) for n in shape)
    got = backward_result(impl.backward(grad, indices, numpy_shape, spec), context)
    if np.shape(got) != shape:
        kind = "backward does not take an input_shape of NumPy integers"
        fail(kind, f"{kind}: got shape {np.shape(got)} [{context}]")


_LAYOUTS: dict[str, Callable] = {
    f"any_layout_{layout}": _any_layout(layout)
    for layout in (
        "fortran", "transposed_view", "negative_strides", "non_contiguous", "read_only", "list",
    )
}  # fmt: skip
_LAYOUTS.update(
    {
        "inputs_are_not_modified": _inputs_not_modified,
        "read_only_input_works": _read_only_input,
        "outputs_do_not_alias_the_input": _outputs_do_not_alias,
        "repeated_calls_are_identical": _repeats_exactly,
        "bare_plane_matches_the_batch": _unbatched(2),
        "one_leading_axis_matches_the_batch": _unbatched(1),
    }
)
_BACKWARD_PURITY: dict[str, Callable] = {
    "backward_arguments_are_not_modified": _backward_arguments_not_modified,
    "read_only_backward_arguments_work": _read_only_backward_arguments,
    "repeated_backward_calls_are_identical": _backward_repeats_exactly,
    "backward_takes_numpy_integer_shapes": _numpy_integer_shapes,
}


def _as_checks(group: str, table: dict[str, Callable]) -> tuple[FixedCheck, ...]:
    def bind(name: str, body: Callable) -> Callable[[object], None]:
        return lambda impl: body(impl, name)

    return tuple(FixedCheck(name, group, bind(name, body)) for name, body in table.items())


# Each group and the claim it needs (None: forward, the core of the contract).
GROUPS: dict[str, str | None] = {
    "worked_examples": None,
    "worked_gradients": "backward",
    "documented_errors": "validation",
    "layouts_and_purity": None,
    "backward_purity": "backward",
}
CHECKS: dict[str, tuple[FixedCheck, ...]] = {
    "worked_examples": _as_checks("worked_examples", _WORKED),
    "worked_gradients": _as_checks("worked_gradients", _GRADIENTS),
    "documented_errors": _as_checks("documented_errors", _errors()),
    "layouts_and_purity": _as_checks("layouts_and_purity", _LAYOUTS),
    "backward_purity": _as_checks("backward_purity", _BACKWARD_PURITY),
}
BY_NAME: dict[str, FixedCheck] = {
    check.name: check for group in CHECKS.values() for check in group
}
