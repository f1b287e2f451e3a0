"""The running-maximum path of auto for large stride-1 windows (issue 9, item 5).

`impls.fast.van_herk` is not a registered implementation (it takes stride 1 only),
so the conformance suite does not reach it by itself: the properties that
judge the forward result run here, on stride-1 geometries, through both of
its scan strategies. No timings: those are in scripts/hardening.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import Capabilities, PoolSpec
from impls.conformance.properties import BY_NAME
from impls.conformance.runner import run_property
from impls.fast import van_herk as vanherk
from impls.fast.auto import AutoMaxPool
from impls.fast.van_herk import VanHerkMaxPool
from impls.geometry import Geometry
from impls.tools.timing import peak_extra_bytes

AUTO = AutoMaxPool(compiled=False)  # the running maximum is a path of the NumPy auto


def unit_stride(spec: PoolSpec, input_shape: tuple[int, ...]) -> bool:
    """Stride 1 on every pooled axis once the geometry is compact (any input that fails
    to resolve is left in: the path must refuse it as every implementation does)."""
    try:
        geometry = Geometry.of(tuple(input_shape), spec).compact
    except (ValueError, TypeError):
        return True
    return vanherk.is_unit_stride(geometry)


class UnitStrideVanHerk(VanHerkMaxPool):
    capabilities = Capabilities(supports=unit_stride)


FORWARD_PROPERTIES = (
    "matches_naive_forward",
    "values_are_the_input_at_indices",
    "indices_lie_in_their_windows",
    "first_maximum_on_ties",
    "nan_propagates_with_the_first_nan_index",
    "all_minus_inf_windows_select_their_first_input",
    "pooling_is_separable",
    "leaves_inputs_alone_and_repeats",
)


@pytest.mark.parametrize("scan", ["loop", "accumulate"])
@pytest.mark.parametrize("name", FORWARD_PROPERTIES)
def test_the_contract_holds_on_stride_one_windows(name, scan, monkeypatch):
    # One NumPy call per block position, or numpy.maximum.accumulate along blocks.
    monkeypatch.setattr(vanherk, "LOOP_ELEMENTS", 0 if scan == "loop" else 1 << 62)
    outcome = run_property(UnitStrideVanHerk(), BY_NAME[name])
    assert outcome.status == "passed", (outcome.note, outcome.failures)


def traps(shape, dtype, seed):
    """Heavy ties, NaN with payloads, -inf runs and signed zeros."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, shape).astype(dtype)
    if x.dtype.kind == "f":
        cut = rng.random(shape)
        x[cut < 0.002] = np.nan
        x[(cut > 0.1) & (cut < 0.2)] = -0.0
        x[..., : shape[-1] // 3] = -np.inf  # windows of -inf and padding only
        x.reshape(-1)[-5:].view(np.uint8)[:] = 0xFF  # NaNs of another sign and payload
    else:
        x[..., : shape[-1] // 3] = np.iinfo(dtype).min
    return x


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.uint32])
@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((2, 3000), PoolSpec((700,), stride=1, padding=300)),
        ((2, 3000), PoolSpec((300,), stride=1, padding=((0, 500),), dilation=3)),
        ((2, 90, 80), PoolSpec((40, 33), stride=1, padding=(20, 16))),
        ((1, 60, 70), PoolSpec((32, 40), stride=1, padding="same", dilation=(2, 1))),
    ],
    ids=str,
)
def test_large_windows_agree_with_the_readable_implementation(shape, spec, dtype):
    x = traps(shape, dtype, seed=len(shape))
    assert AUTO.choose(x.shape, spec) == "vanherk"
    values, indices = AUTO.forward(x, spec)
    expected_values, expected_indices = impls.get("strided").forward(x, spec)
    assert_array_equal(indices, expected_indices)
    assert values.dtype == expected_values.dtype
    assert_array_equal(values.view(np.uint8), expected_values.view(np.uint8))  # bit for bit


def test_strides_above_one_are_refused():
    x = np.zeros((2, 100), np.float32)
    with pytest.raises(ValueError, match="stride 1"):
        VanHerkMaxPool().forward(x, PoolSpec((40,), stride=2))


@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((1, 2**20), PoolSpec((2**18,), stride=1)),
        ((8, 16, 256, 256), PoolSpec((64, 64), stride=1)),
    ],
    ids=["1-D k2**18", "2-D k64x64"],
)
def test_auto_sends_the_issues_large_windows_to_the_running_maximum(shape, spec):
    # Before, these went to separable: O(outputs x kernel), minutes for the 1-D case.
    assert AUTO.choose(shape, spec) == "vanherk"


def test_memory_does_not_grow_with_the_kernel():
    x = np.random.default_rng(4).standard_normal((1, 2**18)).astype(np.float32)
    peaks = [
        peak_extra_bytes(lambda k=k: VanHerkMaxPool().forward(x, PoolSpec((k,), stride=1)))[1]
        for k in (2**6, 2**12, 2**16)
    ]
    # Outputs shrink as the kernel grows; scratch is a few copies of the padded signal.
    assert max(peaks) < 20 * x.nbytes
