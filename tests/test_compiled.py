"""The background loader of the compiled kernels, and the NumPy path that serves meanwhile.

The loader's mechanics are tested with warm-ups of the tests' own (no numba
needed): a warm-up blocked on an event stands for a compilation in progress.
The NumPy path is compared bit for bit with the compiled kernels where numba
is installed. Nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import PoolSpec
from impls.fast import compiled, numba_pool, table_cache
from impls.geometry import Geometry

DEADLINE_SECONDS = 60.0


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch) -> compiled._Loader:
    """A loader of its own for the test, in background mode, that imports no numba and
    starts no child to compile its fake kernels."""
    fresh = compiled._Loader()
    fresh.module = ModuleType("fake kernels")  # never imports impls.fast.numba_kernels
    monkeypatch.setattr(compiled, "_loader", fresh)
    monkeypatch.setattr(compiled, "_compile_in_child", lambda keys: False)  # no child for fakes
    monkeypatch.delenv(compiled.ENV_VARIABLE, raising=False)
    return fresh


class Gate:
    """A warm-up that waits for ``open`` and counts its calls: a compilation in progress."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self.timed_out = False

    def __call__(self, kernels: ModuleType) -> None:
        self.calls += 1
        self.started.set()
        if not self.opened.wait(DEADLINE_SECONDS):
            self.timed_out = True
            raise TimeoutError("the test never opened the gate")


def test_a_call_does_not_wait_for_its_kernel(loader):
    gate = Gate()
    assert compiled.kernels_for("k", gate) is None  # looks only
    assert not gate.started.is_set()
    compiled.request("k", gate)  # returns while the warm-up is blocked
    assert gate.started.wait(DEADLINE_SECONDS)
    compiled.request("k", gate)  # being warmed: not queued again
    assert compiled.kernels_for("k", gate) is None
    gate.opened.set()
    assert compiled.wait_until_ready([("k", gate)], timeout=DEADLINE_SECONDS)
    assert compiled.kernels_for("k", gate) is loader.module
    assert gate.calls == 1


def test_wait_mode_waits(loader, monkeypatch):
    monkeypatch.setenv(compiled.ENV_VARIABLE, "wait")
    gate = Gate()
    gate.opened.set()
    assert compiled.kernels_for("k", gate) is loader.module


def test_off_mode_never_loads(loader, monkeypatch):
    monkeypatch.setenv(compiled.ENV_VARIABLE, "off")
    gate = Gate()
    compiled.request("k", gate)
    assert compiled.kernels_for("k", gate) is None
    assert not compiled.wait_until_ready([("k", gate)], timeout=1)
    assert gate.calls == 0


def test_a_bad_mode_is_refused(loader, monkeypatch):
    monkeypatch.setenv(compiled.ENV_VARIABLE, "soon")
    with pytest.raises(ValueError, match="MAXPOOL_COMPILE must be one of"):
        compiled.request("k", Gate())


def test_a_failed_warm_up_is_reported_and_not_retried(loader):
    calls = []

    def failing(kernels: ModuleType) -> None:
        calls.append(1)
        raise RuntimeError("no LLVM today")

    assert not compiled.wait_until_ready([("k", failing)], timeout=DEADLINE_SECONDS)
    assert compiled.kernels_for("k", failing) is None
    assert not compiled.wait_until_ready([("k", failing)], timeout=DEADLINE_SECONDS)
    assert calls == [1]
    assert "RuntimeError: no LLVM today" in compiled.status()


def test_many_threads_ask_at_once_and_each_kernel_is_warmed_once(loader):
    gates = {key: Gate() for key in range(3)}
    barrier = threading.Barrier(8)

    def ask(number: int) -> object:
        barrier.wait()
        key = number % 3
        compiled.request(key, gates[key])
        assert compiled.wait_until_ready([(key, gates[key])], timeout=DEADLINE_SECONDS)
        return compiled.kernels_for(key, gates[key])

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ask, number) for number in range(8)]
        for gate in gates.values():
            gate.opened.set()
        results = [future.result(timeout=DEADLINE_SECONDS) for future in futures]
    assert all(result is loader.module for result in results)
    assert [gate.calls for gate in gates.values()] == [1, 1, 1]
    assert loader.thread is None  # the loader exits once it has nothing to do


def _in_child(body) -> int:
    """Run ``body()`` in a forked child; its exit status (0: it returned True)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            status = 0 if body() else 2
        finally:
            os._exit(status)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_loading_serves_numpy(loader):
    gate = Gate()
    compiled.request("k", gate)
    assert gate.started.wait(DEADLINE_SECONDS)  # the loader is busy: numba's locks may be held
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    spec = PoolSpec((3, 3), stride=2, padding=1)
    expected = impls.get("naive").forward(x, spec)

    def child() -> bool:
        # Nothing more is loaded here, and nothing waits for the parent's loader.
        assert compiled.kernels_for("k", gate) is None
        assert not compiled.wait_until_ready([("other", Gate())], timeout=DEADLINE_SECONDS)
        assert "forked while the compiled kernels were loading" in compiled.status()
        values, indices = numba_pool.NumbaMaxPool().forward(x, spec)
        return np.array_equal(values, expected[0]) and np.array_equal(indices, expected[1])

    try:
        assert _in_child(child) == 0
    finally:
        gate.opened.set()
    assert compiled.wait_until_ready([("k", gate)], timeout=DEADLINE_SECONDS)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_idle_loads_on_its_own(loader):
    ready = Gate()
    ready.opened.set()
    assert compiled.wait_until_ready([("ready", ready)], timeout=DEADLINE_SECONDS)

    def child() -> bool:
        fresh = Gate()
        fresh.opened.set()
        assert compiled.kernels_for("ready", ready) is not None  # kept from the parent
        return compiled.wait_until_ready([("new", fresh)], timeout=DEADLINE_SECONDS)

    assert _in_child(child) == 0


def test_numba_serves_numpy_while_its_kernel_loads(loader, monkeypatch):
    gate = Gate()
    monkeypatch.setattr(numba_pool, "_warm_forward", lambda native, kind, kernels: gate(kernels))
    x = np.random.default_rng(1).standard_normal((3, 2, 9, 9)).astype(np.float32)
    spec = PoolSpec((3, 3), stride=2, padding=1)
    try:
        values, indices = numba_pool.NumbaMaxPool().forward(x, spec)  # the warm-up is blocked
        assert gate.started.wait(DEADLINE_SECONDS)
    finally:
        gate.opened.set()
    assert not gate.timed_out  # the call returned while the warm-up waited
    expected = impls.get("naive").forward(x, spec)
    assert_array_equal(values, expected[0])
    assert_array_equal(indices, expected[1])


def test_threads_calling_while_the_real_kernels_load(monkeypatch):
    # A fresh loader in background mode: the first calls take the NumPy path,
    # later ones the kernels, with every thread seeing the right results throughout.
    pytest.importorskip("numba")
    monkeypatch.setattr(compiled, "_loader", compiled._Loader())
    monkeypatch.delenv(compiled.ENV_VARIABLE, raising=False)
    spec = PoolSpec((2, 3), stride=1, padding=(1, 1))  # staged: kernels other tests load
    rng = np.random.default_rng(2)
    inputs = [
        rng.integers(-5, 6, (3, 4, 10, 11)).astype(dtype)
        for dtype in (np.float32, np.float64, np.int16, np.uint8)
    ]
    expected = [impls.get("naive").forward(x, spec) for x in inputs]
    impl = numba_pool.NumbaMaxPool()
    barrier = threading.Barrier(8)

    def work(number: int) -> int:
        barrier.wait()
        x, (values, indices) = inputs[number % 4], expected[number % 4]
        for _ in range(40):
            got = impl.forward(x, spec)
            assert_array_equal(got[0], values)
            assert_array_equal(got[1], indices)
        return number

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    # The kernels these calls asked for load (not every kernel of the four dtypes: a
    # minute of compiling in a fresh environment).
    requests = [
        (
            numba_pool._forward_kernel(x.dtype, "staged planes"),
            numba_pool._bound(numba_pool._warm_forward, x.dtype, "staged planes"),
        )
        for x in inputs
    ]
    assert compiled.wait_until_ready(requests, timeout=600)


# The NumPy path against the compiled kernels, bit for bit.

NAN_BITS = {
    np.float16: [0x7C01, 0xFE00],
    np.float32: [0x7F800001, 0xFFC00000],
    np.float64: [0x7FF0000000000001, 0xFFF8000000000000],
}
CASES = [
    ((3, 4, 9, 10), PoolSpec((2, 2))),
    ((3, 4, 9, 10), PoolSpec((3, 3), stride=2, padding=1)),
    ((2, 3, 20), PoolSpec((4,), stride=4)),
    ((2, 2, 4, 6, 6), PoolSpec((2, 2, 2))),
    ((4, 3, 7, 7), PoolSpec((7, 7))),  # whole planes
    ((2, 8, 12, 12), PoolSpec((5, 5), stride=1, padding=2)),
    ((2, 3, 4, 129), PoolSpec((2, 2))),  # in place: rows of 64 outputs
    ((2, 3, 2 * 70 + 1), PoolSpec((2,))),
]


def _tricky(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        flat = x.reshape(-1)
        flat[::7] = -0.0
        bits = np.dtype(f"u{np.dtype(dtype).itemsize}")
        flat.view(bits)[3::11] = NAN_BITS[dtype][0]
        flat.view(bits)[5::13] = NAN_BITS[dtype][1]
    return x


def _count_kernel_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on the forward kernels; the list of those called."""
    from impls.fast import numba_kernels as kernels  # the module the loader hands out

    calls: list[str] = []
    names = ["pool_planes", "pool_whole_planes"]
    names += ["pool_rows_{}_{}".format(*group) for group in numba_pool.ROW_GROUPS]
    names.append("pool_pairs_2_2")
    for name in names:
        kernel = getattr(kernels, name)

        def spy(*args, kernel=kernel, name=name):
            calls.append(name)
            return kernel(*args)

        monkeypatch.setattr(kernels, name, spy)
    return calls


# Every case on float32 and float16 (which numba cannot compare: always staged), the other
# dtypes on one case per kernel kind: each (dtype, kernel) pair compiles a kernel (5-13 s).
KERNEL_CASES = [
    (shape, spec, dtype) for shape, spec in CASES for dtype in (np.float16, np.float32)
] + [
    (shape, spec, dtype)
    for shape, spec in (CASES[4], CASES[5], CASES[6])  # whole planes, staged, rows 2/2
    for dtype in (np.float64, np.int8, np.uint64)
]


@pytest.mark.parametrize(
    ("shape", "spec", "dtype"),
    KERNEL_CASES,
    ids=[f"{spec}-{np.dtype(dtype).name}" for _, spec, dtype in KERNEL_CASES],
)
def test_the_numpy_path_gives_the_compiled_kernels_bits(monkeypatch, shape, spec, dtype):
    pytest.importorskip("numba")
    monkeypatch.setattr(numba_pool, "GATHER_ELEMENTS", 0)  # small calls to the kernels too
    x = _tricky(shape, dtype)
    results = {}
    for chosen in ("wait", "off"):  # "off" once the kernels are loaded: still NumPy
        monkeypatch.setenv(compiled.ENV_VARIABLE, chosen)
        table_cache.clear()
        impl = numba_pool.NumbaMaxPool()
        calls = _count_kernel_calls(monkeypatch)
        values, indices = impl.forward(x, spec)
        grad = np.random.default_rng(6).standard_normal(values.shape)
        results[chosen] = (values, indices, impl.backward(grad, indices, x.shape, spec))
        assert bool(calls) == (chosen == "wait")
    kind = numba_pool._kind(numba_pool._tables(Geometry.of(shape, spec).compact, np.dtype(dtype)))
    assert compiled.ready(numba_pool._forward_kernel(np.dtype(dtype), kind))  # "wait" used it
    (values, indices, grad_in), (kernel_values, kernel_indices, kernel_grad_in) = (
        results["off"],
        results["wait"],
    )
    assert values.dtype == kernel_values.dtype
    assert_array_equal(values.view(np.uint8), kernel_values.view(np.uint8))
    assert_array_equal(indices, kernel_indices)
    assert_array_equal(grad_in, kernel_grad_in)


def test_bench_says_when_the_kernels_did_not_load(monkeypatch):
    from impls.tools import bench

    monkeypatch.setenv(compiled.ENV_VARIABLE, "off")
    case = bench.BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")
    candidate = bench.Candidate("numba", numba_pool.NumbaMaxPool(), "numba")
    row = bench.measure(case, candidate, bench.Settings(warmup=0, repeats=1), case.make_input())
    assert row.forward is not None
    assert row.check is not None
    assert row.check.passed
    assert row.note.startswith("compiled kernels did not load (")
    assert row.note.endswith("timed on the NumPy path")


def test_small_calls_are_gathered_unless_waiting(monkeypatch):
    pytest.importorskip("numba")
    x = np.random.default_rng(3).standard_normal((1, 1, 4, 4)).astype(np.float32)
    spec = PoolSpec((2, 2))
    assert numba_pool.wait_until_compiled(["float32"], timeout=600, shape=x.shape, spec=spec)
    expected = impls.get("naive").forward(x, spec)
    for chosen, runs_kernel in (("background", False), ("wait", True)):
        monkeypatch.setenv(compiled.ENV_VARIABLE, chosen)
        table_cache.clear()
        calls = _count_kernel_calls(monkeypatch)
        values, indices = numba_pool.NumbaMaxPool().forward(x, spec)
        assert bool(calls) == runs_kernel, chosen
        assert_array_equal(values, expected[0])
        assert_array_equal(indices, expected[1])


@pytest.mark.parametrize(
    ("shape", "spec", "dtype", "forward"),
    [
        ((64, 6, 28, 28), PoolSpec((2, 2)), "float32", ["pairs 2/2"]),
        ((8, 256, 20, 20), PoolSpec((5, 5), 1, 2), "float32", ["staged planes"]),
        ((16, 64, 224, 224), PoolSpec((2, 2)), "float64", ["rows 2/2"]),
        ((16, 64, 224, 224), PoolSpec((2, 2)), "float16", ["staged planes"]),
        ((32, 2048, 7, 7), PoolSpec((7, 7)), "int8", ["whole planes"]),
    ],
)
def test_waiting_for_one_call_asks_for_its_kernels_alone(monkeypatch, shape, spec, dtype, forward):
    asked = []

    def spy(requests, timeout=None):
        asked.extend(key for key, _ in requests)
        return True

    monkeypatch.setattr(compiled, "wait_until_ready", spy)
    assert numba_pool.wait_until_compiled([dtype], shape=shape, spec=spec)
    native = np.dtype(dtype).str
    backward = [] if dtype == "float16" else [("scatter", native)]
    assert asked == [(kind, native) for kind in forward] + backward
    asked.clear()
    assert numba_pool.wait_until_compiled([dtype])  # every kernel
    rows = [f"rows {k}/{s}" for k, s in numba_pool.ROW_GROUPS] + ["pairs 2/2"]
    rows = [] if dtype == "float16" else rows
    kinds = ["staged planes", "whole planes", *rows]
    assert asked == [(kind, native) for kind in kinds] + backward
    with pytest.raises(TypeError, match="shape and spec together"):
        numba_pool.wait_until_compiled([dtype], shape=shape)


# Compiling in a child process (background mode), then loading from its cache.

CHILD_CHECK = """
import json, sys
from impls import PoolSpec
from impls.fast import compiled, numba_pool
children = []
compile_in_child = compiled._compile_in_child
def spy(keys):
    succeeded = compile_in_child(keys)
    children.append([keys, succeeded])
    return succeeded
compiled._compile_in_child = spy
ready = numba_pool.wait_until_compiled(["float32"], shape=(2, 3, 8, 16), spec=PoolSpec((2, 2)))
from impls.fast import numba_kernels
stats = [numba_kernels.pool_pairs_2_2.stats, numba_kernels.scatter_planes.stats]
print(json.dumps({
    "ready": ready,
    "children": children,
    "hits": [sum(s.cache_hits.values()) for s in stats],
    "misses": [sum(s.cache_misses.values()) for s in stats],
}))
"""


def _child_environment(cache: object) -> dict[str, str]:
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    environment.pop(compiled.ENV_VARIABLE, None)  # background
    return environment


def test_background_kernels_compile_in_a_child_and_load_from_its_cache(tmp_path):
    # In a fresh process with an empty cache: a child compiles, this process only loads.
    pytest.importorskip("numba")
    done = subprocess.run(
        [sys.executable, "-c", CHILD_CHECK],
        env=_child_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["ready"]
    assert report["children"]
    assert all(succeeded for _, succeeded in report["children"])
    asked = [tuple(key) for keys, _ in report["children"] for key in keys]
    assert sorted(asked) == [("pairs 2/2", "<f4"), ("scatter", "<f4")]
    assert report["misses"] == [0, 0]  # nothing compiled in the process itself
    assert report["hits"] == [1, 1]


def test_the_compiling_child_exits_when_its_parent_is_gone(tmp_path):
    # The child compiles for seconds with an empty cache, at the lowest priority; the end
    # of its standard input (what the parent's exit or death leaves) stops it at once.
    pytest.importorskip("numba")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            compiled._CHILD_CODE,
            str(compiled._package_root()),
            json.dumps([["rows 3/3", "<f8"], ["staged planes", "<f8"]]),
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_child_environment(tmp_path),
    )
    try:
        time.sleep(1.0)  # importing numba, or compiling
        assert child.poll() is None
        if hasattr(os, "getpriority"):  # it compiles at the lowest priority
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, ours + 19)
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=30) == 3
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_failing_child_leaves_the_kernel_to_the_loader(monkeypatch):
    # The child cannot warm this key; the loader then warms it in-process, as without one.
    fresh = compiled._Loader()
    fresh.module = ModuleType("fake kernels")
    monkeypatch.setattr(compiled, "_loader", fresh)
    monkeypatch.delenv(compiled.ENV_VARIABLE, raising=False)
    monkeypatch.setattr(compiled, "CHILD_WARMER", ("impls.fast.compiled", "no_such_function"))
    monkeypatch.setattr(compiled, "KERNELS_MODULE", "json")  # what the child imports first
    children = []
    compile_in_child = compiled._compile_in_child

    def spy(keys):
        succeeded = compile_in_child(keys)
        children.append(succeeded)
        return succeeded

    monkeypatch.setattr(compiled, "_compile_in_child", spy)
    warmed = []
    assert compiled.wait_until_ready([("a key", warmed.append)], timeout=DEADLINE_SECONDS)
    assert children == [False]
    assert warmed == [fresh.module]


def test_requests_made_together_go_to_one_child(loader, monkeypatch):
    # Forward, then backward a few milliseconds later: one child for both.
    batches = []
    monkeypatch.setattr(compiled, "_compile_in_child", lambda keys: batches.append(keys))
    warmed = []
    compiled.request("forward", warmed.append)
    time.sleep(0.01)  # a fifth of the gathering time
    compiled.request("backward", warmed.append)
    assert compiled.wait_until_ready(
        [("forward", warmed.append), ("backward", warmed.append)], timeout=DEADLINE_SECONDS
    )
    assert batches == [["forward", "backward"]]
    assert len(warmed) == 2
