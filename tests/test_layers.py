"""from_layer: layer classes presented to the harness, with indices read or worked out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

import impls
from impls import Capabilities, PoolSpec
from impls.conformance import axis_offsets, from_layer
from impls.conformance.gradients import WHOLE_TO_EVERY_TIE
from impls.conformance.properties import BY_NAME
from impls.conformance.runner import run_property

NAIVE_SPEC = PoolSpec((2, 2), stride=1)
NAIVE = impls.get("naive")


class ContractLayer:
    """A correct layer over any leading axes, backed by the naive implementation."""

    def __init__(self, spec, input_shape, log=None):
        import impls

        self.spec, self.impl, self.log = spec, impls.get("naive"), log
        if log is not None:
            log.append(input_shape)

    def forward(self, x):
        self.x = x
        values, self.indices = self.impl.forward(x, self.spec)
        return values

    def backward(self, grad):
        return self.impl.backward(grad, self.indices, self.x.shape, self.spec)


class AssigningLayer(ContractLayer):
    """Backward assigns instead of adding: overlapping windows overwrite each other."""

    def backward(self, grad):
        dx = np.zeros(self.x.shape, dtype=grad.dtype)
        planes = dx.reshape(-1, np.prod(self.x.shape[-self.spec.ndim :]))
        flat = self.indices.reshape(planes.shape[0], -1)
        rows = np.arange(planes.shape[0])[:, None]
        planes[rows, flat] = grad.reshape(planes.shape[0], -1)
        return dx


class EveryTieLayer(ContractLayer):
    """Backward sends each gradient whole to every maximal element of the window."""

    def backward(self, grad):
        dx = np.zeros(self.x.shape, dtype=grad.dtype)
        for o, g in enumerate(grad.reshape(-1)):
            window = self.x.reshape(-1)[o : o + 2]
            dx.reshape(-1)[o : o + 2] += g * (window == window.max())
        return dx


def test_leading_axes_are_reshaped_to_what_the_layer_takes():
    log = []
    impl = from_layer(lambda spec, shape: ContractLayer(spec, shape, log), leading_axes=2)
    x = np.arange(2 * 3 * 4 * 5 * 5, dtype=np.float64).reshape(2, 3, 4, 5, 5)
    values, indices = impl.forward(x, NAIVE_SPEC)
    assert log[-1] == (6, 4, 5, 5)  # extra leading axes merge into the first
    assert values.shape == indices.shape == (2, 3, 4, 4, 4)
    impl.forward(x[0, 0, 0], NAIVE_SPEC)
    assert log[-1] == (1, 1, 5, 5)  # missing ones are added


def test_indices_are_worked_out_from_values_and_backward_on_ties():
    impl = from_layer(lambda spec, shape: ContractLayer(spec, shape))
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]])  # ties in every window
    import impls

    expected = impls.get("naive").forward(x, NAIVE_SPEC)
    values, indices = impl.forward(x, NAIVE_SPEC)
    np.testing.assert_array_equal(indices, expected[1])
    np.testing.assert_array_equal(values, expected[0])


def test_an_overwriting_layer_is_named_where_no_index_can_be_worked_out():
    impl = from_layer(lambda spec, shape: AssigningLayer(spec, shape))
    # Both windows tie between the 5s and select the same one, where they overlap.
    x = np.array([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
    _, indices = impl.forward(x, NAIVE_SPEC)
    lost = [tuple(p) for p in np.argwhere(indices < 0)]
    assert lost
    assert impl.explain_index(indices, lost[0]) == (
        "overlapping windows overwrite the gradient instead of adding it"
    )


def test_a_gradient_sent_to_every_tie_is_named():
    impl = from_layer(lambda spec, shape: EveryTieLayer(PoolSpec((2,), stride=1), shape))
    _, indices = impl.forward(np.array([5.0, 5.0, 1.0]), PoolSpec((2,), stride=1))
    assert indices[0] == -1
    assert impl.explain_index(indices, (0,)) == WHOLE_TO_EVERY_TIE


def test_backward_runs_only_for_its_own_forward_and_dtype():
    impl = from_layer(lambda spec, shape: ContractLayer(spec, shape))
    x = np.arange(9.0).reshape(3, 3)
    values, indices = impl.forward(x, NAIVE_SPEC)
    grad = np.ones_like(values)
    np.testing.assert_array_equal(impl.backward(grad, indices, x.shape, NAIVE_SPEC).sum(), 4.0)
    with pytest.raises(NotImplementedError, match="own forward's indices"):
        impl.backward(grad, (indices + 1) % 9, x.shape, NAIVE_SPEC)
    with pytest.raises(NotImplementedError, match="input's dtype"):
        impl.backward(grad.astype(np.float32), indices, x.shape, NAIVE_SPEC)


def test_the_declarations_are_what_a_layer_is():
    impl = from_layer(
        lambda spec, shape: ContractLayer(spec, shape),
        capabilities=Capabilities(ndims=(2,), validates_arguments=None),
    )
    caps = impl.capabilities
    assert (caps.grad_dtypes, caps.backward_indices) == ("input", "forward")
    assert not caps.claims_validation
    assert impl.name == "ContractLayer"  # the class make returns
    claimed = from_layer(ContractLayer, capabilities=Capabilities(validates_arguments=True))
    assert claimed.capabilities.claims_validation
    assert claimed.name == "ContractLayer"


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"make": 3}, TypeError, "make must be callable"),
        ({"leading_axes": -1}, ValueError, "leading_axes must be None or an int >= 0"),
        ({"leading_axes": True}, ValueError, "leading_axes"),
        ({"backward": "layer.backward"}, TypeError, "backward must be callable"),
        ({"capabilities": ("2d",)}, TypeError, "must be an impls.Capabilities"),
    ],
)
def test_bad_declarations_are_refused(arguments, error, message):
    arguments = {"make": ContractLayer, **arguments}
    make = arguments.pop("make")
    with pytest.raises(error, match=message):
        from_layer(make, **arguments)


def test_a_layer_that_raises_not_implemented_is_skipped_not_failed():
    class OnlyTwoDimensional(ContractLayer):
        def forward(self, x):
            if self.spec.ndim != 2:
                raise NotImplementedError("2-D only")
            return super().forward(x)

    impl = from_layer(lambda spec, shape: OnlyTwoDimensional(spec, shape))
    outcome = run_property(
        impl, BY_NAME["matches_naive_forward"], run_settings=settings(max_examples=30)
    )
    assert outcome.status == "passed"
    assert outcome.cases_skipped > 0
    assert outcome.skip_reasons == {"NotImplementedError: 2-D only": outcome.cases_skipped}


def test_index_readers_convert_what_the_layer_keeps():
    class Offsets(ContractLayer):
        def forward(self, x):
            values = super().forward(x)
            rows, columns = np.divmod(self.indices, x.shape[-1])
            out_rows = np.arange(values.shape[-2])[:, None]
            out_columns = np.arange(values.shape[-1])[None, :]
            self.offsets = np.stack([rows - out_rows, columns - out_columns], axis=-1)
            return values

    impl = from_layer(
        lambda spec, shape: Offsets(spec, shape),
        indices=axis_offsets(lambda layer, x, values: layer.offsets),
    )
    x = np.random.default_rng(0).standard_normal((2, 5, 5))
    import impls

    _, expected = impls.get("naive").forward(x, NAIVE_SPEC)
    np.testing.assert_array_equal(impl.forward(x, NAIVE_SPEC)[1], expected)


def test_the_shared_state_check_is_the_call_itself():
    # The check runs a layer alone (forward, then backward) beside an interleaved pair:
    # that layer's backward is the call's result, not run a third time.
    from impls.conformance import layers

    calls = []

    class CountingLayer(ContractLayer):
        def backward(self, grad):
            calls.append(1)
            return super().backward(grad)

    impl = from_layer(lambda spec, shape: CountingLayer(spec, shape))
    x = np.arange(24.0).reshape(2, 3, 4)
    spec = PoolSpec((2,), stride=2)
    values, indices = impl.forward(x, spec)
    per_call = []
    for _ in range(layers.STATE_CHECKS + 2):
        calls.clear()
        grad = impl.backward(np.ones(values.shape), indices, x.shape, spec)
        per_call.append(len(calls))
        expected = NAIVE.backward(np.ones(values.shape), indices, x.shape, spec)
        np.testing.assert_array_equal(grad, expected)
    assert per_call == [2] * layers.STATE_CHECKS + [1, 1]
