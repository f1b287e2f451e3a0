"""The reference rows agree with the oracle where they apply, and the report says which ran."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impls import PoolSpec
from impls.tools.quickcheck import quick_check
from impls.tools.timing import environment

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


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8"])
def test_onnxruntime_agrees_without_nan(spec, dtype):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from impls.tools.references import OnnxRuntimeReference

    reference = OnnxRuntimeReference()
    result = quick_check(reference, (2, 3) + (17,) * spec.ndim, spec, dtype, with_nan=False)
    assert result.passed, result


def test_bench_has_an_onnxruntime_row_with_values_and_indices():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from impls.tools import bench
    from impls.tools.references import OnnxRuntimeReference, available_references

    assert "onnxruntime" in [reference.name for reference in available_references()]
    case = bench.BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")
    settings = bench.Settings(warmup=0, repeats=1, time_limit=20.0)
    candidate = bench.Candidate("onnxruntime", OnnxRuntimeReference())
    (row,) = bench.run([case], [candidate], settings)
    assert row.forward is not None, row.note
    assert row.check is not None
    assert row.check.passed, row.check
    assert row.backward is None  # an inference runtime
    # int16 is outside its declared dtypes: said, not measured
    case16 = bench.BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "int16")
    (row16,) = bench.run([case16], [candidate], settings)
    assert row16.forward is None
    assert "outside onnxruntime's limits: dtype int16" in row16.note


class _Reference:
    """A reference adapter of the tests' own: its description is all the report reads."""

    name = "fakeref"
    gives_indices = True
    check_with_nan = False

    def describe(self) -> str:
        return "fakeref 1.0 (3 threads)"


def _rows(with_reference: bool):
    from impls.tools.bench import BenchCase, Candidate, Row
    from impls.tools.quickcheck import CheckResult
    from impls.tools.references import Reference
    from impls.tools.timing import Timing

    class Fake(_Reference, Reference):
        pass

    def timing(ms: float) -> Timing:
        return Timing((ms / 1e3,), 1)

    rows = []
    for label in ("lenet5", "global"):
        case = BenchCase(label, "", (2, 3, 8, 8), PoolSpec((2, 2)), "float32")
        passed = CheckResult("pass")
        rows += [
            Row(case, Candidate("slow", object(), "slow"), passed, timing(3.0), timing(1.0)),
            Row(case, Candidate("fast", object(), "fast"), passed, timing(2.0), timing(3.0)),
            Row(case, Candidate("wrong", object(), "wrong"), CheckResult("fail"), timing(1.0)),
        ]
        if with_reference:
            rows.append(Row(case, Candidate("fakeref", Fake()), passed, timing(6.0), timing(6.0)))
    return rows


def test_the_takeaway_names_the_fastest_and_its_ratio_to_each_reference():
    from impls.tools.report import bench_json, bench_text

    text = bench_text(_rows(with_reference=True), environment(), "How.")
    takeaways = text[text.index("takeaways") :].splitlines()
    assert len(takeaways) == 3  # the heading, one line per workload
    for line, label in zip(takeaways[1:], ("lenet5", "global"), strict=True):
        # "wrong" is faster but failed its check; "slow" wins forward + backward
        assert line.startswith(f"  {label}: fastest forward fast (2.00 ms); ")
        assert "fakeref* takes 3.00x its time (6.00 ms)" in line
        assert "Forward + backward: slow (4.00 ms); fakeref* 3.00x its time" in line
    document = json.loads(bench_json(_rows(with_reference=True), environment(), "How."))
    forward = document["takeaways"][0]["forward"]
    assert forward["implementation"] == "fast"
    assert forward["reference_ratios"] == {"fakeref": pytest.approx(3.0)}


def test_the_method_line_names_only_the_references_that_ran():
    from impls.tools.report import bench_text

    with_reference = bench_text(_rows(with_reference=True), environment(), "How.")
    method = next(line for line in with_reference.splitlines() if line.startswith("method:"))
    assert method.endswith("thread count: fakeref 1.0 (3 threads).")
    without = bench_text(_rows(with_reference=False), environment(), "How.")
    method = next(line for line in without.splitlines() if line.startswith("method:"))
    assert method == "method: How. No reference ran."
    assert "no reference ran" in without.splitlines()[-1]


def test_the_methodology_names_no_library():
    from impls.tools.timing import methodology

    text = methodology(warmup=1, repeats=5, min_repeats=3, budget_seconds=3.0)
    for library in ("torch", "onnx", "scipy"):
        assert library not in text
