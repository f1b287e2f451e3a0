"""A quick conformance check of one implementation on one pooling case.

Not the full conformance suite (`impls.conformance`, ``maxpool verify``): a
single comparison against the ``naive`` oracle, cheap enough to run before
every benchmark, built on the harness's own pieces, which need neither
Hypothesis nor pytest. The input is reduced to a few planes and a few
windows per axis with the same spec, and filled by
`impls.conformance.values.provoking_input` to provoke the classic bugs:
heavy ties (including ``-0.0`` against ``0.0``), NaN of varied bits,
``-inf``, and one plane holding nothing but the lowest value, so that padding
would win if it could. Forward is compared as the harness compares it
(`impls.conformance.checks.assert_forward_matches`: values bit for bit,
indices exactly, a failure named by the bug it shows), and so is the
gradient of an integer-valued upstream gradient (its sums are exact).

Examples
--------
>>> import impls
>>> from impls.tools.quickcheck import quick_check
>>> spec = impls.PoolSpec((3, 3), stride=2, padding=1)
>>> quick_check(impls.get("strided"), (32, 64, 112, 112), spec).status
'pass'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conformance.checks import (
    assert_equal,
    assert_forward_matches,
    assert_identical,
    explain_gradients,
    flat_targets,
    impl_label,
)
from ..conformance.diagnose import ConformanceFailure
from ..conformance.values import provoking_input, same_bits
from ..protocol import Capabilities
from ..registry import get
from ..spec import PoolSpec, describe_spec

__all__ = ["ORACLE_NAME", "CheckResult", "quick_check", "reduced_shape"]

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
    x = provoking_input(shape, dtype, spec.ndim, with_nan=with_nan, seed=seed)
    pristine = x.copy()
    oracle = get(ORACLE_NAME)
    want_values, want_indices = oracle.forward(x, spec)
    context = f"{impl_label(impl)}, {describe_spec(spec)}, input {shape} {x.dtype}"
    try:
        values, indices = impl.forward(x, spec)
        values = np.asarray(values)
        if values_only:
            assert_equal(values, want_values, "values", context, ORACLE_NAME)
            return CheckResult("pass", "values only", shape)
        indices = np.asarray(indices)
        assert_forward_matches(
            values, indices, want_values, want_indices, x, spec, context, ORACLE_NAME
        )
        caps = Capabilities.of(impl)
        if not caps.backward:
            return CheckResult("pass", "forward only (backward not claimed)", shape)
        grad_dtype = caps.gradient_dtype(x.dtype)
        rng = np.random.default_rng(seed + 1)
        grad_out = rng.integers(-3, 4, size=want_values.shape).astype(grad_dtype)
        want_grad = oracle.backward(grad_out, want_indices, shape, spec)
        grad = np.asarray(impl.backward(grad_out, want_indices, shape, spec))
        assert_identical(
            grad,
            want_grad,
            "gradients",
            context,
            ORACLE_NAME,
            explain_gradients(
                grad, want_grad, grad_out, flat_targets(want_indices, shape, spec.ndim)
            ),
        )
    except ConformanceFailure as failure:
        message = str(failure)
        if not message.startswith(failure.kind):
            message = f"{failure.kind}: {message}"
        return CheckResult("fail", message, shape)
    except NotImplementedError as err:
        return CheckResult("unsupported", str(err) or "NotImplementedError", shape)
    except Exception as err:
        return CheckResult("error", f"{type(err).__name__}: {err}", shape)
    if not same_bits(x, pristine):
        return CheckResult("fail", "modifies its input: the input was modified", shape)
    return CheckResult("pass", "", shape)
