"""A quick conformance check of one implementation on one pooling case.

Not the full conformance suite (that lives in ``tests/``): a single
comparison against the ``naive`` oracle, cheap enough to run before every
benchmark. The input is reduced to a few planes and a few windows per axis
with the same spec, and filled to provoke the classic bugs: heavy ties
(including ``-0.0`` against ``0.0``), NaN, ``-inf``, and one plane holding
nothing but the lowest value, so that padding would win if it could.
Values are compared bit for bit, indices exactly, and the gradient of an
integer-valued upstream gradient exactly (its sums are exact).

Examples
--------
>>> import impls
>>> from impls.tools.quickcheck import quick_check
>>> spec = impls.PoolSpec((3, 3), stride=2, padding=1)
>>> quick_check(impls.get("strided"), (32, 64, 112, 112), spec).status
'pass'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocol import Capabilities
from ..registry import get
from ..spec import PoolSpec

__all__ = ["ORACLE_NAME", "CheckResult", "check_input", "quick_check", "reduced_shape"]

# The registered name of the oracle every check compares with.
ORACLE_NAME = "naive"
# Leading axes are cut to at most this length: enough planes to catch
# indices or gradients routed to the wrong plane.
MAX_LEADING_LENGTH = 3
# Windows per pooled axis in the reduced input (when the input has that many).
WINDOWS_PER_AXIS = 4


@dataclass(frozen=True)
class CheckResult:
    """Outcome of `quick_check`.

    Attributes
    ----------
    status : {"pass", "fail", "error", "unsupported"}
        ``fail``: results differ from the oracle; ``error``: an unexpected
        exception; ``unsupported``: the implementation raised
        `NotImplementedError` for this case.
    detail : str
        What differed or what was raised; empty on a pass.
    input_shape : tuple of int
        Shape of the reduced input that was checked.
    """

    status: str
    detail: str = ""
    input_shape: tuple[int, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def __str__(self) -> str:
        return self.status if not self.detail else f"{self.status}: {self.detail}"


def _reduced_length(length: int, axis: int, spec: PoolSpec, probe: Callable[[int], bool]) -> int:
    """Shortest length >= a few windows, congruent to ``length`` modulo the stride, that fits."""
    stride = spec.stride[axis]
    target = spec.extent[axis] + (WINDOWS_PER_AXIS - 1) * stride
    # Keep the remainder modulo the stride, which decides partial end windows
    # under ceil_mode and the "same" padding amounts.
    target += (length - target) % stride
    for candidate in range(min(target, length), length + 1):
        if probe(candidate):
            return candidate
    return length


def reduced_shape(input_shape: tuple[int, ...], spec: PoolSpec) -> tuple[int, ...]:
    """A small input shape with the same number of axes that ``spec`` still accepts.

    Examples
    --------
    >>> reduced_shape((32, 64, 112, 112), PoolSpec((3, 3), stride=2, padding=1))
    (3, 3, 10, 10)
    >>> reduced_shape((16000,), PoolSpec((4,), stride=4))
    (16,)
    """
    split = len(input_shape) - spec.ndim
    lead = tuple(min(n, MAX_LEADING_LENGTH) for n in input_shape[:split])
    spatial = list(input_shape[split:])
    for axis in range(spec.ndim):

        def fits(candidate: int, axis: int = axis) -> bool:
            trial = spatial[:axis] + [candidate] + spatial[axis + 1 :]
            try:
                spec.output_shape(tuple(trial))
            except ValueError:
                return False
            return True

        spatial[axis] = _reduced_length(spatial[axis], axis, spec, fits)
    return lead + tuple(spatial)


def check_input(
    shape: tuple[int, ...],
    dtype: Any,
    pooled_axes: int,
    *,
    with_nan: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Values that provoke the classic bugs: ties, signed zeros, NaN, -inf, a lowest plane.

    Integer dtypes draw from a small alphabet that includes the dtype's
    minimum and maximum. When there are leading axes, the first plane (all
    leading indices 0) holds only the lowest value of the dtype.

    Examples
    --------
    >>> x = check_input((2, 4, 4), "float32", pooled_axes=2)
    >>> bool(np.isneginf(x[0]).all()), bool(np.isnan(x).any())
    (True, True)
    """
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        alphabet = np.array([-np.inf, -1.0, -0.0, 0.0, 1.0, 2.0], dtype=kind)
        lowest = -np.inf
    else:
        info = np.iinfo(kind)
        alphabet = np.array([info.min, info.min + 1, 0, 1, info.max], dtype=kind)
        lowest = info.min
    x = rng.choice(alphabet, size=shape)
    if kind.kind == "f" and with_nan:
        x[rng.random(shape) < 0.04] = np.nan
        last_plane = x.reshape(-1, math.prod(shape[x.ndim - pooled_axes :]))[-1]
        last_plane[rng.integers(last_plane.size)] = np.nan  # at least one NaN
    if x.ndim > pooled_axes:
        x[(0,) * (x.ndim - pooled_axes)] = lowest
    return x


def _bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(
        np.array_equal(
            np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)
        )
    )


def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"shape {a.shape} instead of {b.shape}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} instead of {b.dtype}"
    differs = np.ascontiguousarray(a).view(np.uint8).reshape(
        a.shape + (-1,)
    ) != np.ascontiguousarray(b).view(np.uint8).reshape(b.shape + (-1,))
    where = tuple(int(i) for i in np.argwhere(differs.any(axis=-1))[0])
    return f"at {where}: {a[where]!r} instead of {b[where]!r}"


def quick_check(
    impl: Any,
    input_shape: tuple[int, ...],
    spec: PoolSpec,
    dtype: Any = "float32",
    *,
    values_only: bool = False,
    with_nan: bool = True,
    seed: int = 0,
) -> CheckResult:
    """Compare ``impl`` with the ``naive`` oracle on a reduced version of the case.

    Parameters
    ----------
    impl : MaxPoolImpl
        The implementation under check. Its ``backward`` is checked too,
        unless ``values_only``.
    input_shape : tuple of int
        Shape of the real input; the check uses `reduced_shape` of it.
    spec : PoolSpec
        The pooling, unchanged.
    dtype : dtype-like
        Input dtype.
    values_only : bool
        Compare only the values, by ``==`` rather than bitwise (NaN equal to
        NaN): for references that return no indices or normalise signed zeros.
    with_nan : bool
        Put NaN in float inputs. References that order NaN differently from
        the contract are checked without.
    seed : int
        Seed of the input values.

    Returns
    -------
    CheckResult
    """
    shape = reduced_shape(tuple(input_shape), spec)
    x = check_input(shape, dtype, spec.ndim, with_nan=with_nan, seed=seed)
    pristine = x.copy()
    oracle = get(ORACLE_NAME)
    want_values, want_indices = oracle.forward(x, spec)
    try:
        values, indices = impl.forward(x, spec)
        values = np.asarray(values)
        if values_only:
            same = values.shape == want_values.shape and np.array_equal(
                values, want_values, equal_nan=values.dtype.kind == "f"
            )
            if not same:
                return CheckResult(
                    "fail", "values " + _first_difference(values, want_values), shape
                )
            return CheckResult("pass", "values only", shape)
        if not _bitwise_equal(values, want_values):
            return CheckResult("fail", "values " + _first_difference(values, want_values), shape)
        indices = np.asarray(indices)
        if not _bitwise_equal(indices, want_indices):
            return CheckResult(
                "fail", "indices " + _first_difference(indices, want_indices), shape
            )
        caps = Capabilities.of(impl)
        if not caps.backward:
            return CheckResult("pass", "forward only (backward not claimed)", shape)
        grad_dtype = caps.gradient_dtype(x.dtype)
        rng = np.random.default_rng(seed + 1)
        grad_out = rng.integers(-3, 4, size=want_values.shape).astype(grad_dtype)
        want_grad = oracle.backward(grad_out, want_indices, shape, spec)
        grad = np.asarray(impl.backward(grad_out, want_indices, shape, spec))
        if not _bitwise_equal(grad, want_grad):
            return CheckResult("fail", "backward " + _first_difference(grad, want_grad), shape)
    except NotImplementedError as err:
        return CheckResult("unsupported", str(err) or "NotImplementedError", shape)
    except Exception as err:
        return CheckResult("error", f"{type(err).__name__}: {err}", shape)
    if not _bitwise_equal(x, pristine):
        return CheckResult("fail", "the input was modified", shape)
    return CheckResult("pass", "", shape)
