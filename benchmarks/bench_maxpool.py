"""Every implementation on the standard workloads: forward, backward, both, peak memory.

asv imports this file from the working tree and runs it against the package
built from each benchmarked commit, so it relies only on what every commit
has: ``impls.names``, ``impls.get`` and ``impls.PoolSpec``. The parameters
stay static across commits: an implementation a commit lacks, one whose optional
dependency its environment lacks, and the naive loops on workloads where one
call would take more than a few seconds, are skipped by raising
`NotImplementedError` in ``setup``, with the reason.

Compiled kernels load in the background in commits that have
``wait_until_compiled``; ``setup`` waits for them, so that the kernels, not the
NumPy path that serves meanwhile, are timed.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import impls


def _load_from_tree(relative_path, name):
    """Load a module of the working tree, by path.

    The workloads and the catalogue of implementations have one source of
    truth each, in the package; but the package asv installs for an older
    commit may lack them, so they are read from the tree beside this
    directory. Neither imports anything from ``impls``, so this works.
    """
    path = Path(__file__).resolve().parent.parent / relative_path
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


workloads = _load_from_tree("impls/tools/workloads.py", "_maxpool_benchmark_workloads")
catalogue = _load_from_tree("impls/catalogue.py", "_maxpool_benchmark_catalogue")

# Every built-in implementation, the same parameters for every commit (asv
# needs that); a commit that lacks one, or lacks its optional dependency,
# skips it.
IMPLEMENTATIONS = [entry.name for entry in catalogue.CATALOGUE]


# asv calls setup before every sample, in one process per benchmark and
# parameter set: cache the data instead of rebuilding 200 MB each time.
@functools.lru_cache(maxsize=1)
def _input(workload_name):
    workload = workloads.by_name(workload_name)
    return workloads.random_input(workload.input_shape, workload.dtype, seed=0)


@functools.lru_cache(maxsize=1)
def _indices(implementation, workload_name):
    workload = workloads.by_name(workload_name)
    spec = impls.PoolSpec(**workload.spec_kwargs)
    return impls.get(implementation).forward(_input(workload_name), spec)[1]


def _why_absent(implementation):
    """Why ``implementation`` is not registered in this commit's environment."""
    registry = getattr(impls, "registry", None)
    absent = getattr(registry, "absent", None)
    if callable(absent) and implementation in absent():
        return f"{implementation!r} is not registered here: {absent()[implementation]}"
    builtin = getattr(registry, "BUILTIN", None)
    optional = getattr(registry, "OPTIONAL", {})
    if implementation in optional:
        return f"{implementation!r} is not registered here: its optional dependency is missing"
    if builtin is not None and implementation not in builtin:
        return f"{implementation!r} is not in this commit"
    return f"{implementation!r} is not registered in this environment"


def _load_compiled(implementation, dtype):
    """Wait for the compiled kernels the implementation runs (commits that load them late)."""
    wait = getattr(impls.get(implementation), "wait_until_compiled", None)
    if callable(wait) and not wait([dtype]):
        raise NotImplementedError(f"{implementation!r}: its compiled kernels did not load")


def _prepare(benchmark, implementation, workload_name):
    """Set the attributes every benchmark uses, or skip the parameter set."""
    if implementation not in impls.names():
        raise NotImplementedError(_why_absent(implementation))
    workload = workloads.by_name(workload_name)
    spec = impls.PoolSpec(**workload.spec_kwargs)
    if implementation == "naive":
        steps = workloads.naive_steps(workload.input_shape, spec)
        if steps > workloads.NAIVE_STEP_BUDGET:
            raise NotImplementedError(f"naive would visit {steps} window elements")
    _load_compiled(implementation, workload.dtype)
    benchmark.impl = impls.get(implementation)
    benchmark.spec = spec
    benchmark.x = _input(workload_name)
    split = len(workload.input_shape) - spec.ndim
    output_shape = workload.input_shape[:split] + spec.output_shape(workload.input_shape[split:])
    benchmark.grad_out = workloads.random_input(output_shape, workload.dtype, seed=1)


class _Settings:
    params = (IMPLEMENTATIONS, [w.name for w in workloads.WORKLOADS])
    param_names = ("implementation", "workload")
    # One forward call on the VGG-16 workload takes seconds with im2col.
    timeout = 300
    # Per round (asv runs two): at least 2 samples, none started after 4 s.
    repeat = (2, 5, 4.0)


class MaxPool(_Settings):
    """Forward time and peak memory, and a forward+backward training step."""

    def setup(self, implementation, workload_name):
        _prepare(self, implementation, workload_name)

    def time_forward(self, implementation, workload_name):
        self.impl.forward(self.x, self.spec)

    # The same body; asv measures the peak resident memory of the process.
    peakmem_forward = time_forward

    def time_forward_backward(self, implementation, workload_name):
        _, indices = self.impl.forward(self.x, self.spec)
        self.impl.backward(self.grad_out, indices, self.x.shape, self.spec)


class MaxPoolBackward(_Settings):
    """Backward from indices; its own class, as only it pays a forward call in setup."""

    def setup(self, implementation, workload_name):
        _prepare(self, implementation, workload_name)
        self.indices = _indices(implementation, workload_name)

    def time_backward(self, implementation, workload_name):
        self.impl.backward(self.grad_out, self.indices, self.x.shape, self.spec)
