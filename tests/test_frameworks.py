"""The framework targets: their adapters add no deviation of their own.

``maxpool verify torch`` must fail only for PyTorch's true deviations from
the contract: the last NaN of a window selected, no bounds check on the
indices backward reads, and errors raised as RuntimeError. Skipped where
PyTorch is not installed (CI installs it).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import impls
from impls import PoolSpec
from impls.frameworks import FRAMEWORKS, available, framework
from tests.children import python_module

ROOT = Path(__file__).resolve().parent.parent

# PyTorch's known deviations, as the report names them.
TORCH_DEVIATIONS = re.compile(
    "|".join(
        [
            r"selects the last NaN instead of the first",
            r"raises RuntimeError, not (ValueError|TypeError)",
            r"returns a result instead of raising ValueError",  # no bounds check on indices
            r"(RuntimeError|IndexError) escapes a call with bad arguments",
            # ceil_mode lets a window hang past the end of an input shorter than it
            r"returns a result for a call the contract refuses",
            r"allocates more than \d+ MiB",  # sized by a hostile parameter
            r"crashes: the process died with SIG(SEGV|ABRT)",  # reads outside the gradient
            r"raises (RuntimeError|TypeError|ValueError|IndexError) on a valid call",
            # torch's own refusal (an empty channel axis in (C, ...) form), never the adapter's
            r"refuses a valid call: RuntimeError",
        ]
    )
)


def test_unknown_and_missing_frameworks_are_usage_errors():
    with pytest.raises(ValueError, match="unknown framework 'caffe'"):
        framework("caffe")
    for name in FRAMEWORKS:
        if not available(name):
            with pytest.raises(ValueError, match=f"{name} is not installed; install it with"):
                framework(name)


@pytest.mark.skipif(not available("torch"), reason="needs torch")
def test_the_torch_adapter_matches_the_oracle_inside_torch_limits():
    torch = framework("torch")
    naive = impls.get("naive")
    rng = np.random.default_rng(0)
    for spec, shape, dtype in [
        (PoolSpec((3, 3), stride=2, padding=1), (2, 3, 9, 9), np.float32),
        (PoolSpec((2,), ceil_mode=True), (4, 7), np.float64),
        (PoolSpec((2, 2, 2), dilation=(1, 2, 1)), (1, 1, 4, 5, 4), np.int16),
        (PoolSpec((3, 3), stride=1, padding="same"), (3, 6, 5), np.float16),
        (PoolSpec((2,)), (3, 8), np.dtype(">i2")),  # byte-swapped: the adapter converts
    ]:
        x = rng.integers(-5, 5, shape).astype(dtype)[..., ::-1]  # ties, negative strides
        got_values, got_indices = torch.forward(x, spec)
        values, indices = naive.forward(x, spec)
        np.testing.assert_array_equal(got_values, values)
        np.testing.assert_array_equal(got_indices, indices)
        if x.dtype.kind == "f":
            grad = rng.standard_normal(values.shape).astype(dtype)
            np.testing.assert_allclose(
                torch.backward(grad, indices, x.shape, spec),
                naive.backward(grad, indices, x.shape, spec),
                rtol=1e-3,
            )
    # Fortran order with one long axis: C-contiguous for NumPy, not for max_pool3d.
    x = np.lib.stride_tricks.as_strided(
        np.arange(2.0, dtype=np.float32), (1, 2, 1, 1), (4, 4, 8, 8)
    )
    spec = PoolSpec((2, 1, 1))
    np.testing.assert_array_equal(torch.forward(x, spec)[1], naive.forward(x, spec)[1])


@pytest.mark.skipif(not available("torch"), reason="needs torch")
@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        (PoolSpec((3,), stride=2, padding=1), (2, 3, 11)),
        (PoolSpec((3, 3), stride=2, padding=1), (2, 3, 9, 9)),
        (PoolSpec((2, 2, 2)), (1, 2, 4, 5, 4)),
    ],
)
def test_the_torch_calls_to_time_are_forward_and_backward(spec, shape):
    """What ``scripts/vs_torch.py`` times is the adapter's forward and backward."""
    torch_pool = framework("torch")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    forward, backward = torch_pool.timed_calls(x, spec)
    values, indices = torch_pool.forward(x, spec)
    got_values, got_indices = forward()
    np.testing.assert_array_equal(got_values.numpy().reshape(values.shape), values)
    np.testing.assert_array_equal(got_indices.numpy().reshape(indices.shape), indices)
    expected = torch_pool.backward(np.ones_like(values), indices, shape, spec)
    np.testing.assert_array_equal(backward().numpy().reshape(shape), expected)
    assert torch_pool.describe().startswith("torch ")


@pytest.mark.skipif(not available("torch"), reason="needs torch")
def test_verify_torch_reports_only_true_deviations(tmp_path):
    report_path = tmp_path / "torch.json"
    result = subprocess.run(
        python_module("impls", "verify", "torch", "--quiet", "--json", str(report_path)),
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    kinds = [failure["kind"] for row in report["properties"] for failure in row["failures"]]
    assert any("selects the last NaN" in kind for kind in kinds), kinds
    unexplained = [kind for kind in kinds if not TORCH_DEVIATIONS.search(kind)]
    assert unexplained == [], result.stdout[-4000:]
