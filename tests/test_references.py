"""The torch and scipy reference rows agree with the oracle where they apply."""

from __future__ import annotations

import numpy as np
import pytest

from impls import PoolSpec
from impls.tools.quickcheck import quick_check

SPECS = [
    PoolSpec((2, 2)),
    PoolSpec((3, 3), stride=2, padding=1),
    PoolSpec((3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1), ceil_mode=True),
    PoolSpec((4,), stride=3, ceil_mode=True),
    PoolSpec((2, 3, 2), stride=2, padding="valid"),
]


@pytest.mark.parametrize("spec", [*SPECS, PoolSpec((3, 3), padding=((0, 2), (1, 0)))], ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_scipy_values_agree(spec, dtype):
    from impls.tools.references import ScipyReference

    pytest.importorskip("scipy")
    result = quick_check(
        ScipyReference(), (2, 3) + (17,) * spec.ndim, spec, dtype, values_only=True, with_nan=False
    )
    assert result.passed, result


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_torch_agrees_without_nan(spec, dtype):
    pytest.importorskip("torch")
    from impls.tools.references import TorchReference

    result = quick_check(TorchReference(), (2, 3) + (17,) * spec.ndim, spec, dtype, with_nan=False)
    assert result.passed, result


def test_torch_does_not_apply_to_asymmetric_or_wide_padding():
    pytest.importorskip("torch")
    from impls.tools.references import TorchReference

    torch_ref = TorchReference()
    float32 = np.dtype(np.float32)
    assert torch_ref.not_applicable((1, 10, 10), PoolSpec((3, 3), padding=1), float32) is None
    asymmetric = torch_ref.not_applicable(
        (1, 10), PoolSpec((2,), padding="same", stride=1), float32
    )
    assert "padding (0, 1) on axis 0 is not symmetric" in asymmetric
    wide = torch_ref.not_applicable((1, 10), PoolSpec((3,), padding=2), float32)
    assert "exceeds half the kernel" in wide
    # torch counts the kernel, not its dilated extent: k3 d2 takes padding 1, not 2.
    dilated = torch_ref.not_applicable((1, 10), PoolSpec((3,), padding=2, dilation=2), float32)
    assert "exceeds half the kernel" in dilated


def test_bench_measures_torch_after_torch_ran_in_this_process():
    # torch's OpenMP runtime hangs in a forked child once it has run in the
    # parent, so maxpool bench measures its references in process.
    pytest.importorskip("torch")
    from impls.tools import bench
    from impls.tools.references import TorchReference

    torch_ref = TorchReference()
    case = bench.BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")
    x = case.make_input()
    torch_ref.forward(x, case.spec)  # torch's threads start here, in the parent
    settings = bench.Settings(warmup=0, repeats=1, time_limit=20.0)
    (row,) = bench.run([case], [bench.Candidate("torch", torch_ref)], settings)
    assert row.forward is not None, row.note
