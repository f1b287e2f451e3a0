"""Faults of the target are named as the target's, never as the harness's.

A target that ends the process (``SystemExit``, ``KeyboardInterrupt``), returns
lists or ``None``, or a tuple of the wrong length, gets a row that names what it
did; the half it did it in is the only one blamed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, settings

import impls
from impls import Capabilities
from impls.conformance import from_layer
from impls.conformance.fixed import CHECKS, GROUPS
from impls.conformance.properties import BY_NAME
from impls.conformance.runner import run_checks, run_property

QUICK = settings(max_examples=5, database=None, derandomize=True, phases=[Phase.generate])
NAIVE = impls.get("naive")


class Correct:
    """The naive implementation, under another name and without validation claimed."""

    name = "correct"
    capabilities = Capabilities(validates_arguments=False)

    def forward(self, x, spec):
        return NAIVE.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        return NAIVE.backward(grad_out, indices, input_shape, spec)


class ExitsInForward(Correct):
    def forward(self, x, spec):
        raise SystemExit(3)


class InterruptsInBackward(Correct):
    def backward(self, grad_out, indices, input_shape, spec):
        raise KeyboardInterrupt


class ReturnsLists(Correct):
    def forward(self, x, spec):
        values, indices = NAIVE.forward(x, spec)
        return values.tolist(), indices.tolist()


class ReturnsThree(Correct):
    def forward(self, x, spec):
        return (*NAIVE.forward(x, spec), None)


class BackwardReturnsNone(Correct):
    def backward(self, grad_out, indices, input_shape, spec):
        return None


def _kinds(impl, prop: str) -> tuple[str, list[str]]:
    outcome = run_property(impl, BY_NAME[prop], run_settings=QUICK)
    return outcome.status, [failure.kind for failure in outcome.failures]


def test_a_target_that_exits_crashes_its_row_by_name():
    status, kinds = _kinds(ExitsInForward(), "matches_naive_forward")
    assert status == "crashed"
    assert kinds == ["crashes: forward raises SystemExit(3), which ends the process"]


def test_a_keyboard_interrupt_from_the_target_is_its_crash():
    assert _kinds(InterruptsInBackward(), "matches_naive_forward") == ("passed", [])
    status, kinds = _kinds(InterruptsInBackward(), "matches_naive_backward")
    assert status == "crashed"
    assert kinds == ["crashes: backward raises KeyboardInterrupt, which ends the process"]


@pytest.mark.parametrize(
    ("impl", "kind"),
    [
        (ReturnsLists(), "forward returns values that are not an ndarray"),
        (ReturnsThree(), "forward does not return a (values, indices) pair"),
    ],
)
def test_wrong_return_types_of_forward_are_named(impl, kind):
    assert _kinds(impl, "matches_naive_forward") == ("failed", [kind])


@pytest.mark.parametrize(
    ("impl", "failing", "kind"),
    [
        (ReturnsLists(), "forward", "forward returns values that are not an ndarray"),
        (BackwardReturnsNone(), "backward", "backward does not return an ndarray"),
    ],
)
def test_the_fixed_checks_name_wrong_return_types_too(impl, failing, kind):
    for group, claim in GROUPS.items():
        outcome = run_checks(impl, group, CHECKS[group], claim=claim)
        kinds = {failure.kind for failure in outcome.failures}
        if outcome.half == failing:
            assert kinds == {kind}, group
        elif claim != "validation":  # the target does not claim validation
            assert outcome.status == "passed", (group, kinds)


def test_backward_returning_none_fails_backward_only():
    assert _kinds(BackwardReturnsNone(), "matches_naive_forward") == ("passed", [])
    status, kinds = _kinds(BackwardReturnsNone(), "matches_naive_backward")
    assert (status, kinds) == ("failed", ["backward does not return an ndarray"])


class ValuesLayer:
    """A layer whose forward returns naive's values; each test gives it a backward."""

    def __init__(self, spec):
        self.spec = spec

    def forward(self, x):
        return NAIVE.forward(x, self.spec)[0]


def test_a_layer_whose_backward_returns_none_keeps_its_forward():
    class Layer(ValuesLayer):
        def backward(self, grad):
            return None

    layer = from_layer(lambda spec, shape: Layer(spec))
    assert _kinds(layer, "matches_naive_forward") == ("passed", [])
    assert _kinds(layer, "leaves_inputs_alone_and_repeats") == ("passed", [])
    status, kinds = _kinds(layer, "matches_naive_backward")
    assert (status, kinds) == ("failed", ["backward does not return an ndarray"])
    status, kinds = _kinds(layer, "indices_lie_in_their_windows")
    assert status == "failed"
    assert kinds == ["backward does not return the input's gradient as an ndarray"]


def test_a_layer_is_named_by_its_class():
    class MyMaxPool:
        def __init__(self, size):
            self.size = size

    layer = from_layer(lambda spec, shape: MyMaxPool(spec.kernel_size[0]))
    assert layer.name == "MyMaxPool"
    assert from_layer(MyMaxPool).name == "MyMaxPool"
    assert from_layer(MyMaxPool, name="mine").name == "mine"


def test_forward_checks_never_call_a_layers_backward():
    calls = []

    class Layer(ValuesLayer):
        def backward(self, grad):
            calls.append(grad)
            return np.zeros(1)

    layer = from_layer(lambda spec, shape: Layer(spec))
    for name in ("matches_naive_forward", "first_maximum_on_ties", "shift_and_scale_commute"):
        assert _kinds(layer, name) == ("passed", [])
    assert calls == []
