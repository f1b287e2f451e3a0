"""The standard workloads, and the asv benchmarks that run them."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

import impls
from benchmarks import bench_maxpool
from impls.registry import BUILTIN
from impls.spec import describe_spec
from impls.tools.workloads import NAIVE_STEP_BUDGET, WORKLOADS, by_name, naive_steps, random_input
from tests.children import python_code

# The table of the issue: name -> (input shape, kernel, stride, padding).
EXPECTED = {
    "lenet5": ((64, 6, 28, 28), (2, 2), 2, 0),
    "vgg16": ((16, 64, 224, 224), (2, 2), 2, 0),
    "resnet50": ((32, 64, 112, 112), (3, 3), 2, 1),
    "spp": ((8, 256, 20, 20), (5, 5), 1, 2),
    "audio1d": ((32, 64, 16000), (4,), 4, 0),
    "video3d": ((4, 64, 16, 56, 56), (2, 2, 2), 2, 0),
    "global": ((32, 2048, 7, 7), (7, 7), 7, 0),
}


def test_workloads_are_the_documented_layers():
    found = {w.name: (w.input_shape, w.kernel_size, w.stride, w.padding) for w in WORKLOADS}
    assert found == EXPECTED
    assert {w.dtype for w in WORKLOADS} == {"float32"}


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_every_workload_is_a_valid_spec(workload):
    spec = impls.PoolSpec(**workload.spec_kwargs)
    assert len(spec.output_shape(workload.input_shape[2:])) == len(workload.kernel_size)


def test_by_name_lists_the_known_names():
    assert by_name("spp").stride == 1
    with pytest.raises(ValueError, match=r"unknown workload 'alexnet'.*lenet5, vgg16"):
        by_name("alexnet")


def test_naive_runs_only_on_the_small_workloads():
    quick = [
        w.name
        for w in WORKLOADS
        if naive_steps(w.input_shape, impls.PoolSpec(**w.spec_kwargs)) <= NAIVE_STEP_BUDGET
    ]
    assert quick == ["lenet5"]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "uint16"])
def test_random_input_is_reproducible_and_typed(dtype):
    x = random_input((3, 4), dtype, seed=7)
    assert x.dtype == np.dtype(dtype)
    assert np.array_equal(x, random_input((3, 4), dtype, seed=7), equal_nan=True)
    assert not np.array_equal(x, random_input((3, 4), dtype, seed=8))


class TestAsvBenchmarks:
    def test_benchmarks_load_the_same_workload_table(self):
        # The benchmarks read impls/tools/workloads.py by path (older commits lack
        # the module); this guards that loader.
        loaded = [dataclasses.astuple(w) for w in bench_maxpool.workloads.WORKLOADS]
        assert loaded == [dataclasses.astuple(w) for w in WORKLOADS]

    def test_parameters_cover_every_built_in_implementation(self):
        # New implementations must be appended to the static list.
        assert set(BUILTIN) <= set(bench_maxpool.IMPLEMENTATIONS)
        _, workload_names = bench_maxpool.MaxPool.params
        assert workload_names == [w.name for w in WORKLOADS]

    def test_setup_skips_missing_implementations_and_slow_naive(self):
        suite = bench_maxpool.MaxPool()
        with pytest.raises(NotImplementedError, match="not in this commit"):
            suite.setup("no-such-implementation", "lenet5")
        with pytest.raises(NotImplementedError, match="naive would visit"):
            suite.setup("naive", "vgg16")

    def test_a_skipped_numba_says_the_true_reason(self):
        # Without numba in the environment, numba is skipped because its dependency
        # is missing, not because the commit lacks it (asv's environments install
        # the numba extra: asv.conf.json).
        code = (
            "import sys; sys.modules['numba'] = None\n"
            "from benchmarks import bench_maxpool\n"
            "try:\n"
            "    bench_maxpool.MaxPool().setup('numba', 'lenet5')\n"
            "except NotImplementedError as err:\n"
            "    print(err)\n"
        )
        done = subprocess.run(python_code(code), capture_output=True, text=True, check=True)
        reason = done.stdout.strip()
        assert reason.startswith("'numba' is not registered here: needs numba (not installed)")
        assert "not in this commit" not in reason

    def test_asv_installs_the_numba_extra(self):
        config = (Path(__file__).resolve().parent.parent / "asv.conf.json").read_text("utf-8")
        assert "{wheel_file}[numba]" in config

    def test_compiled_kernels_are_loaded_before_timing(self, monkeypatch):
        if "numba" not in impls.names():
            pytest.skip("numba is not installed")
        from impls.fast import compiled

        monkeypatch.delenv(compiled.ENV_VARIABLE, raising=False)  # background loading
        suite = bench_maxpool.MaxPool()
        suite.setup("numba", "lenet5")
        assert compiled.ready(("staged planes", "<f4"))

    def test_every_benchmark_runs_on_the_smallest_workload(self):
        forward = bench_maxpool.MaxPool()
        forward.setup("strided", "lenet5")
        forward.time_forward("strided", "lenet5")
        forward.peakmem_forward("strided", "lenet5")
        forward.time_forward_backward("strided", "lenet5")
        backward = bench_maxpool.MaxPoolBackward()
        backward.setup("strided", "lenet5")
        backward.time_backward("strided", "lenet5")
        assert backward.indices.shape == (64, 6, 14, 14)


def test_readme_lists_the_workloads():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in readme.splitlines()
        if line.startswith("| `")
    }
    for workload in WORKLOADS:
        cells = [cell.strip() for cell in rows[workload.name].split("|")]
        shape = "x".join(map(str, workload.input_shape))
        assert cells[3:5] == [shape, describe_spec(impls.PoolSpec(**workload.spec_kwargs))]
