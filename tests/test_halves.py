"""Verdicts by half: forward is judged on what forward returns, backward on where gradients go.

A layer that exposes no indices has them worked out from its backward; a broken
backward must then fail backward rows only, never a forward row or forward's
purity, and forward's own bugs must show whatever backward does.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import Phase, settings

import impls
from impls import Capabilities, PoolSpec
from impls.conformance import from_layer
from impls.conformance.fixed import CHECKS, GROUPS
from impls.conformance.gradients import OVERWRITES, SPLITS_TIES
from impls.conformance.layers import SHARES_STATE
from impls.conformance.properties import PROPERTIES
from impls.conformance.runner import run_checks, run_property
from impls.conformance.verify import Report, row_half
from impls.conformance.windows import window_table

QUICK = settings(max_examples=10, database=None, derandomize=True, phases=[Phase.generate])
NAIVE = impls.get("naive")
CAPS = Capabilities(ndims=(2,), padding=False, dilation=False, ceil_mode=False)


class RightForward:
    """Forward by the contract (values only: the layer keeps no indices), for (N, C, H, W)."""

    def __init__(self, size: int, stride: int) -> None:
        self.spec = PoolSpec((size, size), stride=stride)

    def forward(self, x):
        self.x = x
        return NAIVE.forward(x, self.spec)[0]

    def backward(self, grad):
        return NAIVE.backward(grad, NAIVE.forward(self.x, self.spec)[1], self.x.shape, self.spec)


class CrashingBackward(RightForward):
    def backward(self, grad):
        raise RuntimeError("backward is not written yet")


class SplittingBackward(RightForward):
    """Backward divides each gradient among the tied maxima of its window (a course's reshape)."""

    def backward(self, grad):
        n, c, h, w = self.x.shape
        k = self.spec.kernel_size[0]
        windows = self.x.reshape(n, c, h // k, k, w // k, k)
        top = windows.max(axis=(3, 5), keepdims=True)
        mask = windows == top
        with np.errstate(invalid="ignore"):  # a window holding NaN matches nothing: 0 / 0
            share = mask / mask.sum(axis=(3, 5), keepdims=True)
        return (share * grad[:, :, :, None, :, None]).reshape(self.x.shape).astype(grad.dtype)


class ClassCache(RightForward):
    """Keeps forward's input on the class: two layers of one network overwrite each other."""

    def forward(self, x):
        type(self).cached = x
        return NAIVE.forward(x, self.spec)[0]

    def backward(self, grad):
        self.x = type(self).cached
        return super().backward(grad)


def _layer(cls, *, tiles: bool = False, caps: Capabilities = CAPS):
    def supports(spec, shape):
        square = len(set(spec.kernel_size)) == 1 and len(set(spec.stride)) == 1
        if not tiles:
            return square
        k = spec.kernel_size[0]
        return square and spec.stride == spec.kernel_size and shape[-1] % k == shape[-2] % k == 0

    return from_layer(
        lambda spec, shape: cls(spec.kernel_size[0], spec.stride[0]),
        leading_axes=2,
        supports=supports,
        capabilities=caps,
    )


def _report(impl) -> Report:
    outcomes = [run_property(impl, prop, run_settings=QUICK) for prop in PROPERTIES]
    outcomes += [run_checks(impl, g, CHECKS[g], claim=GROUPS[g]) for g in GROUPS]
    return Report("layer", "test", outcomes, ())


def test_a_crashing_backward_fails_backward_rows_only():
    report = _report(_layer(CrashingBackward))
    by_half = {o.name: (o.half, o.status) for o in report.outcomes}
    forward = [name for name, (half, _) in by_half.items() if half == "forward"]
    assert "leaves_inputs_alone_and_repeats" in forward
    assert "matches_naive_forward" in forward
    for name in forward:
        assert by_half[name][1] in ("passed", "skipped"), (name, by_half[name])
    assert by_half["matches_naive_backward"] == ("backward", "failed")
    # Indices worked out through backward belong to backward.
    assert by_half["indices_lie_in_their_windows"] == ("backward", "failed")
    assert report.halves() == {"forward": "conformant", "backward": "not conformant"}
    assert report.verdict == "not conformant"


def test_a_tie_splitting_backward_is_named_and_leaves_forward_alone():
    floats = dataclasses.replace(CAPS, dtypes=("float16", "float32", "float64"))
    report = _report(_layer(SplittingBackward, tiles=True, caps=floats))
    assert report.half_verdict("forward") == "conformant"
    kinds = {f.kind for o in report.outcomes for f in o.failures}
    assert SPLITS_TIES in kinds
    assert all("padding" not in kind for kind in kinds), kinds


def _last_maxima(x: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """The index of the last maximal element of each window (NaN-free inputs)."""
    split = x.ndim - spec.ndim
    flat, inside = window_table(x.shape[split:], spec)
    planes = np.ascontiguousarray(x).reshape(int(np.prod(x.shape[:split])), -1)
    windows = np.where(inside, planes[:, np.where(inside, flat, 0)], -np.inf)
    top = windows == windows.max(axis=-1, keepdims=True)
    last = top.shape[-1] - 1 - top[..., ::-1].argmax(axis=-1)
    chosen = np.take_along_axis(np.broadcast_to(flat, top.shape), last[..., None], -1)
    return chosen.reshape(x.shape[:split] + flat.shape[:-1])


def test_indices_the_layer_gives_are_judged_with_forward():
    class LastIndex(RightForward):
        """Values right, but the index it reports is that of the last maximum on a tie."""

        def forward(self, x):
            self.x, self.last = x, _last_maxima(x, self.spec)
            return NAIVE.forward(x, self.spec)[0]

        def backward(self, grad):
            return NAIVE.backward(grad, self.last, self.x.shape, self.spec)

    impl = from_layer(
        lambda spec, shape: LastIndex(spec.kernel_size[0], spec.stride[0]),
        leading_axes=2,
        indices=lambda layer, x, values: layer.last,
        supports=lambda spec, shape: len(set(spec.kernel_size)) == len(set(spec.stride)) == 1,
        capabilities=CAPS,
    )
    ties = next(p for p in PROPERTIES if p.name == "first_maximum_on_ties")
    assert ties.half(impl) == "forward"
    outcome = run_property(impl, ties, run_settings=QUICK)
    assert outcome.status == "failed"
    assert "last maximal" in outcome.failures[0].kind
    # Backward is judged by the indices forward gave: it routes by them correctly.
    backward = next(p for p in PROPERTIES if p.name == "matches_naive_backward")
    assert run_property(impl, backward, run_settings=QUICK).status == "passed"


class CanonicalNanLastIndex:
    """Two forward bugs at once: a canonical NaN, and the last NaN's index in each window."""

    name = "canonical-nan-last-index"

    def forward(self, x, spec):
        x = np.asarray(x)
        values, indices = NAIVE.forward(x, spec)
        split = x.ndim - spec.ndim
        flat, inside = window_table(x.shape[split:], spec)
        planes = np.ascontiguousarray(x).reshape(int(np.prod(x.shape[:split])), -1)
        windows = planes[:, np.where(inside, flat, 0)]
        nan = np.isnan(windows) & inside
        last = nan.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
        last_index = np.take_along_axis(np.broadcast_to(flat, nan.shape), last[..., None], -1)
        several = nan.sum(axis=-1) > 1
        indices = np.where(several, last_index[..., 0], indices.reshape(several.shape))
        values = np.where(np.isnan(values), np.array(np.nan, values.dtype), values)
        return values, indices.reshape(values.shape).astype(np.int64)

    def backward(self, grad_out, indices, input_shape, spec):
        return NAIVE.backward(grad_out, indices, input_shape, spec)


def test_a_value_bug_is_reported_beside_an_index_bug():
    nan_row = next(p for p in PROPERTIES if p.name == "nan_propagates_with_the_first_nan_index")
    outcome = run_property(
        CanonicalNanLastIndex(), nan_row, run_settings=settings(QUICK, max_examples=60)
    )
    kinds = [f.kind for f in outcome.failures]
    assert "returns a NaN with other bits than the selected NaN" in kinds
    assert "in a window holding several NaN, selects the last NaN instead of the first" in kinds


def test_shared_layer_state_is_named():
    outcome = run_property(
        _layer(ClassCache),
        next(p for p in PROPERTIES if p.name == "matches_naive_backward"),
        run_settings=QUICK,
    )
    assert outcome.status == "failed"
    assert [f.kind for f in outcome.failures] == [SHARES_STATE]


@pytest.mark.parametrize(
    ("row", "derived", "half"),
    [
        ("matches_naive_forward", True, "forward"),
        ("indices_lie_in_their_windows", False, "forward"),
        ("indices_lie_in_their_windows", True, "backward"),
        ("gradient_is_conserved", False, "backward"),
        ("worked_gradients", False, "backward"),
        ("documented_errors", False, "validation"),
    ],
)
def test_each_row_has_its_half(row, derived, half):
    assert row_half(row, derived) == half


OVERWRITE_SEERS = (
    "matches_naive_backward",
    "finite_differences_full_jacobian",
    "finite_differences_random_direction",
    "backward_is_the_adjoint_of_gathering",
    "gradient_is_conserved",
    "overlapping_windows_accumulate",
)


@pytest.mark.parametrize("prop_name", OVERWRITE_SEERS)
def test_the_default_profile_sees_overwriting_in_every_gradient_property(prop_name):
    """The example layer that assigns instead of adding, at the dev profile's 20 cases."""
    from examples.strided_layer import maxpool as overwriting

    dev = settings(max_examples=20, database=None, derandomize=True)
    prop = next(p for p in PROPERTIES if p.name == prop_name)
    outcome = run_property(overwriting, prop, run_settings=dev)
    assert outcome.status == "failed", f"{prop_name} passed {outcome.cases_run} cases"
    assert [f.kind for f in outcome.failures] == [OVERWRITES]
