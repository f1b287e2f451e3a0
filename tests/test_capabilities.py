"""impls.Capabilities: what an implementation declares it supports."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls import CONTRACT_DTYPES, Capabilities, PoolSpec
from impls.limits import square_kernel, windows_tile_input


def test_the_default_is_the_whole_contract():
    caps = Capabilities()
    assert caps.complete
    assert caps.ndims == (1, 2, 3)
    assert caps.dtypes == CONTRACT_DTYPES
    assert caps.left_out() == ()
    assert caps.unsupported(PoolSpec((2, 2, 2), 1, "same", 3, True), np.dtype("uint64")) == ()


def test_fields_are_normalised():
    caps = Capabilities(ndims=(2, 1, 2), dtypes=(np.float32, "f8", np.dtype("int8"), "float32"))
    assert caps.ndims == (1, 2)
    assert caps.dtypes == ("float32", "float64", "int8")
    assert not caps.complete


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"ndims": ()}, ValueError),
        ({"ndims": (4,)}, ValueError),
        ({"ndims": (True,)}, ValueError),
        ({"dtypes": ()}, ValueError),
        ({"dtypes": ("bool",)}, ValueError),
        ({"dtypes": ("complex128",)}, ValueError),
        ({"dtypes": ("no such dtype",)}, ValueError),
        ({"padding": 1}, TypeError),
        ({"ceil_mode": None}, TypeError),
    ],
)
def test_invalid_declarations_are_refused(arguments, error):
    with pytest.raises(error):
        Capabilities(**arguments)


def test_unsupported_names_each_feature_a_call_uses():
    caps = Capabilities(
        ndims=(2,), dtypes=("float32",), padding=False, dilation=False, ceil_mode=False
    )
    spec = PoolSpec((2,), padding=((0, 1),), dilation=2, ceil_mode=True)
    assert caps.unsupported(spec, np.dtype("int8")) == (
        "pooling over 1 axis",
        "padding",
        "dilation",
        "ceil_mode",
        "dtype int8",
    )
    # No padding: 0 and "valid" are fine, "same" is not even where it resolves to none.
    assert caps.unsupported(PoolSpec((2, 2), padding="valid"), np.dtype("float32")) == ()
    assert caps.unsupported(PoolSpec((2, 2), padding=0)) == ()
    assert caps.unsupported(PoolSpec((1, 1), padding="same")) == ("padding",)
    # Dtypes outside the contract must raise TypeError anyway: not reported.
    assert caps.unsupported(PoolSpec((2, 2)), np.dtype(bool)) == ()


def test_of_reads_the_attribute_and_checks_its_type():
    class Declared:
        capabilities = Capabilities(ndims=(1,))

    class Wrong:
        capabilities = ("ndims", 1)

    assert Capabilities.of(Declared()).ndims == (1,)
    assert Capabilities.of(impls.get("strided")) == Capabilities()
    with pytest.raises(TypeError, match=r"must be an impls\.Capabilities"):
        Capabilities.of(Wrong())


class BadlyDeclared:
    """An implementation whose capabilities are not a Capabilities (see test_plugin.py)."""

    name = "badly-declared"
    capabilities = ("2d only",)

    def forward(self, x, spec):
        raise NotImplementedError

    def backward(self, grad_out, indices, input_shape, spec):
        raise NotImplementedError


def test_gradient_dtypes_default_to_the_forward_dtypes_or_follow_the_input():
    assert Capabilities(dtypes=("float32",)).grad_dtypes == ("float32",)
    caps = Capabilities(dtypes=("float32", "int8"), grad_dtypes=("float64",))
    assert caps.gradient_dtypes("int8") == ("float64",)
    assert caps.gradient_dtype("int8") == np.float64
    follows = Capabilities(grad_dtypes="input")
    assert follows.gradient_dtypes("int16") == ("int16",)
    assert follows.unsupported_backward(
        PoolSpec((2,)), np.dtype("float32"), (4,), np.dtype("int8")
    )
    assert not follows.unsupported_backward(
        PoolSpec((2,)), np.dtype("int8"), (4,), np.dtype("int8")
    )


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"grad_dtypes": "output"}, ValueError),
        ({"grad_dtypes": ("bool",)}, ValueError),
        ({"backward_indices": "mine"}, ValueError),
        ({"backward": "yes"}, TypeError),
        ({"validates_arguments": 1}, TypeError),
        ({"supports": 3}, TypeError),
    ],
)
def test_invalid_new_declarations_are_refused(arguments, error):
    with pytest.raises(error):
        Capabilities(**arguments)


def test_geometry_limits_join_the_other_features():
    caps = Capabilities(supports=square_kernel & windows_tile_input)
    assert caps.unsupported(PoolSpec((2, 2)), np.dtype("float32"), (4, 4)) == ()
    assert caps.unsupported(PoolSpec((2, 3)), np.dtype("float32"), (4, 5)) == (
        "kernel (2, 3) is not square",
        "on axis 1, windows of extent 3 and stride 3 do not end exactly at the border of the "
        "padded length 5",
    )
    # Without the input's shape, the geometry is not judged.
    assert caps.unsupported(PoolSpec((2, 3))) == ()
    assert caps.left_out() == (
        "kernels that are not square",
        "inputs whose last window does not end exactly at the border",
    )


def test_claims_appear_in_what_is_left_out():
    caps = Capabilities(backward=False, validates_arguments=False)
    assert caps.left_out() == ("backward", "argument validation (not claimed)")
    assert caps.unsupported_backward(PoolSpec((2,))) == ("backward",)
    assert Capabilities().claims_validation
    assert Capabilities(backward_indices="forward").left_out() == (
        "backward through indices other than forward's own",
    )
