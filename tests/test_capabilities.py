"""impls.Capabilities: what an implementation declares it supports."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls import CONTRACT_DTYPES, Capabilities, PoolSpec


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
