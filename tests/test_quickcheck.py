"""The quick conformance check accepts correct implementations and rejects broken ones."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import impls
from impls import PoolSpec
from impls.conformance.values import provoking_input
from impls.registry import BUILTIN
from impls.tools.quickcheck import quick_check, reduced_shape

STRIDED = impls.get("strided")
OVERLAPPING = PoolSpec((3, 3), stride=1, padding=1)

SPECS = [
    PoolSpec((2, 2)),
    PoolSpec((3, 3), stride=2, padding=1),
    OVERLAPPING,
    PoolSpec((3, 2), stride=(2, 1), padding=((0, 1), (2, 0)), dilation=(1, 2), ceil_mode=True),
    PoolSpec((3,), stride=2, padding="same"),
    PoolSpec((2, 3, 2), stride=2, padding="same_lower"),
    PoolSpec((4,), stride=3, padding="valid", ceil_mode=True),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_reduced_shape_is_small_and_valid(spec):
    shape = (32, 64) + (41,) * spec.ndim
    small = reduced_shape(shape, spec)
    assert len(small) == len(shape)
    assert all(n <= 3 for n in small[:2])
    assert all(n <= 20 for n in small[2:])
    spec.output_shape(small[2:])


def test_reduced_shape_keeps_short_axes():
    assert reduced_shape((5,), PoolSpec((5,))) == (5,)


def test_provoking_input_has_ties_nan_and_a_lowest_plane():
    x = provoking_input((2, 3, 6, 6), "float32", pooled_axes=2)
    assert np.isneginf(x[0, 0]).all()
    assert np.isnan(x).any()
    zeros = x[x == 0]
    assert np.signbit(zeros).any()
    assert not np.signbit(zeros).all()
    ints = provoking_input((2, 6, 6), "int8", pooled_axes=2)
    assert (ints[0] == -128).all()
    assert (ints == 127).any()


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int16", "uint8"])
@pytest.mark.parametrize("name", list(BUILTIN))
def test_registered_implementations_pass(name, dtype, spec):
    result = quick_check(impls.get(name), (4, 5) + (23,) * spec.ndim, spec, dtype)
    assert result.passed, result


class Broken:
    """A correct implementation with one classic bug switched on."""

    def __init__(self, bug):
        self.name = bug
        self.bug = bug

    def forward(self, x, spec):
        x = np.asarray(x)
        if self.bug == "nan dropped":
            values, indices = STRIDED.forward(np.where(np.isnan(x), -np.inf, x), spec)
            return values, indices
        if self.bug == "ceil_mode ignored":
            spec = PoolSpec(spec.kernel_size, spec.stride, spec.padding, spec.dilation)
        values, indices = STRIDED.forward(x, spec)
        if self.bug == "dtype changed":
            values = values.astype(np.float64)
        if self.bug == "indices in the padded frame":
            indices = indices + 1
        if self.bug == "input mutated":
            x[..., 0] = 0
        return values, indices

    def backward(self, grad_out, indices, input_shape, spec):
        if self.bug != "gradient overwritten":
            return STRIDED.backward(grad_out, indices, input_shape, spec)
        batch = int(np.prod(input_shape[: len(input_shape) - spec.ndim]))
        grad_in = np.zeros((batch, int(np.prod(input_shape[-spec.ndim :]))), grad_out.dtype)
        rows = np.arange(batch)[:, np.newaxis]
        grad_in[rows, indices.reshape(batch, -1)] = grad_out.reshape(batch, -1)
        return grad_in.reshape(input_shape)


@pytest.mark.parametrize(
    ("bug", "spec", "reported"),
    [
        ("nan dropped", PoolSpec((2, 2)), "selects a number in a window holding NaN"),
        ("ceil_mode ignored", PoolSpec((2, 2), ceil_mode=True), "values have another shape"),
        ("dtype changed", PoolSpec((2, 2)), "values have another dtype"),
        ("indices in the padded frame", OVERLAPPING, "indices"),
        ("input mutated", PoolSpec((2, 2)), "modifies its input"),
        ("gradient overwritten", OVERLAPPING, "overwrite"),
    ],
)
def test_broken_implementations_fail(bug, spec, reported):
    result = quick_check(Broken(bug), (8, 3, 31, 31), spec)
    assert result.status == "fail"
    assert result.detail.startswith(reported) or reported in result.detail
    assert quick_check(Broken("none"), (8, 3, 31, 31), spec).passed


class Partial:
    name = "partial"

    def forward(self, x, spec):
        if spec.ndim != 2:
            raise NotImplementedError("2-D only")
        raise RuntimeError("boom")

    def backward(self, grad_out, indices, input_shape, spec):
        raise AssertionError("not reached")


def test_unsupported_and_crashing_implementations_are_reported():
    unsupported = quick_check(Partial(), (4, 16), PoolSpec((2,)))
    assert (unsupported.status, unsupported.detail) == ("unsupported", "2-D only")
    crashed = quick_check(Partial(), (4, 4, 4), PoolSpec((2, 2)))
    assert (crashed.status, crashed.detail) == ("error", "RuntimeError: boom")
    assert str(crashed) == "error: RuntimeError: boom"


def test_the_quick_check_needs_no_test_dependencies():
    # `pip install .` then `maxpool bench`: no Hypothesis, pytest or SciPy.
    script = (
        "import sys\n"
        "for name in ('hypothesis', 'pytest', 'scipy'):\n"
        "    sys.modules[name] = None\n"
        "import impls\n"
        "from impls.tools.quickcheck import quick_check\n"
        "spec = impls.PoolSpec((3, 3), stride=1, padding=1)\n"
        "print(quick_check(impls.get('strided'), (4, 3, 20, 20), spec))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pass"
