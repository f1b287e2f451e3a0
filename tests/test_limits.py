"""impls.limits: each geometry limit judges calls rightly, and the strategies draw inside it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from impls import Capabilities, PoolSpec
from impls.conformance.strategies import cases
from impls.limits import (
    BUILTIN_LIMITS,
    all_of,
    one_stride,
    padding_at_most_half_kernel,
    padding_below_kernel,
    square_kernel,
    symmetric_padding,
    windows_tile_input,
)


@pytest.mark.parametrize(
    ("limit", "inside", "outside"),
    [
        (square_kernel, (PoolSpec((3, 3)), (9, 9)), (PoolSpec((3, 2)), (9, 9))),
        (
            one_stride,
            (PoolSpec((3, 2), stride=2), (9, 9)),
            (PoolSpec((2, 2), stride=(1, 2)), (9, 9)),
        ),
        (
            symmetric_padding,
            (PoolSpec((3,), padding=1), (9,)),
            (PoolSpec((3,), padding=((0, 1),)), (9,)),
        ),
        # "same" resolves against the input: 2 units of padding split evenly, or 1 not.
        (
            symmetric_padding,
            (PoolSpec((3,), stride=1, padding="same"), (9,)),
            (PoolSpec((2,), stride=1, padding="same"), (9,)),
        ),
        (
            padding_at_most_half_kernel,
            (PoolSpec((3,), padding=1), (9,)),
            (PoolSpec((3,), padding=2), (9,)),
        ),
        # torch counts the kernel, not the dilated extent: k3 d2 allows 1, not 2.
        (
            padding_at_most_half_kernel,
            (PoolSpec((3,), dilation=2, padding=1), (9,)),
            (PoolSpec((3,), dilation=2, padding=2), (9,)),
        ),
        (
            padding_below_kernel,
            (PoolSpec((3,), padding=2), (9,)),
            (PoolSpec((3,), padding=3), (9,)),
        ),
        (windows_tile_input, (PoolSpec((2,)), (8,)), (PoolSpec((2,)), (9,))),
        (
            windows_tile_input,
            (PoolSpec((3,), stride=2, padding=1), (7,)),
            (PoolSpec((3,), stride=2, padding=1), (8,)),
        ),
    ],
)
def test_each_limit_accepts_inside_and_refuses_outside(limit, inside, outside):
    assert limit(*inside)
    assert not limit(*outside)
    assert limit.failures(*inside) == ()
    (reason,) = limit.failures(*outside)
    assert reason  # a sentence naming the offending value


def test_limits_combine_and_name_every_failure():
    combined = square_kernel & one_stride & windows_tile_input
    assert combined.names() == {"square_kernel", "one_stride", "windows_tile_input"}
    spec = PoolSpec((2, 3), stride=(1, 2))
    assert combined.failures(spec, (4, 5)) == (
        "kernel (2, 3) is not square",
        "stride (1, 2) differs between axes",
    )
    assert combined.excludes()[0] == "kernels that are not square"


def test_any_predicate_combines_with_the_limits():
    def small(spec, input_shape):
        return max(input_shape) <= 8

    combined = all_of(square_kernel, small)
    assert combined(PoolSpec((2, 2)), (8, 8))
    assert combined.failures(PoolSpec((2, 2)), (9, 8)) == (
        "test_any_predicate_combines_with_the_limits.<locals>.small(PoolSpec(kernel_size=(2, 2), "
        "stride=(2, 2), padding=((0, 0), (0, 0)), dilation=(1, 1), ceil_mode=False), (9, 8)) "
        "is False",
    )
    with pytest.raises(TypeError, match="must be callable"):
        all_of(square_kernel, 3)


def test_a_predicate_that_raises_counts_as_outside():
    def fragile(spec, input_shape):
        raise ZeroDivisionError("oops")

    (reason,) = all_of(fragile).failures(PoolSpec((2,)), (4,))
    assert "raised ZeroDivisionError: oops" in reason


@pytest.mark.parametrize("limit", BUILTIN_LIMITS, ids=lambda limit: limit.name)
def test_drawn_cases_lie_inside_each_limit(limit):
    caps = Capabilities(supports=limit)

    # The strategies steer into the limit: no health check about filtering may fire.
    @settings(max_examples=60, database=None, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(cases(caps))
    def check(case):
        assert limit(case.spec, case.x.shape), limit.failures(case.spec, case.x.shape)

    check()


def test_drawn_cases_lie_inside_all_limits_at_once():
    every = all_of(*BUILTIN_LIMITS)
    caps = Capabilities(ndims=(2,), supports=every)

    @settings(max_examples=40, database=None, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(cases(caps))
    def check(case):
        assert every(case.spec, case.x.shape), every.failures(case.spec, case.x.shape)

    check()
