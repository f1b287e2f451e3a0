"""Paths of the fast implementations that small conformance cases never reach.

Blocks of several planes split across threads, NaN in only some blocks,
signed zeros, indices that do not decode into their window, and gradients
that are not finite. Every result is compared with the naive oracle, on both
paths of a small call: gathered (`impls.fast.gather`) and the implementation's
own running maximum.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import PoolSpec
from impls.catalogue import names_in
from impls.fast import blocks as blocked
from impls.fast import gather, table_cache
from impls.fast import threads as parallel

# the pure-NumPy fast implementations
FAST = names_in("fast")
ORACLE = impls.get("naive")

SPECS = [
    PoolSpec((3, 3), stride=2, padding=1),  # overlapping, padded
    PoolSpec((2, 2)),  # disjoint tiles
    PoolSpec((3, 2), stride=(1, 3), padding=((2, 0), (1, 1)), dilation=(1, 2)),
    PoolSpec((2, 3), stride=2, padding="same", ceil_mode=True),
    PoolSpec((4,), stride=1, padding=((3, 1),), dilation=2),
    PoolSpec((2, 2, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
]
SHAPES = {1: (5, 3, 17), 2: (5, 3, 9, 11), 3: (4, 2, 5, 6, 7)}


@pytest.fixture(autouse=True, params=["gathered", "running maximum"])
def small_calls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Small calls gathered, or given to the implementation's own algorithm."""
    if request.param == "running maximum":
        monkeypatch.setattr(gather, "SMALL_WINDOW_ELEMENTS", 0)
    table_cache.clear()  # plans made under the other setting
    yield request.param
    table_cache.clear()


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of one plane, threads for any amount of work, gradients zeroed per block."""
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1)
    monkeypatch.setattr(parallel, "MIN_BYTES_PER_THREAD", 1)
    monkeypatch.setattr(blocked, "ZERO_IN_WORKERS_BYTES", 0)


def sample(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).integers(-4, 5, shape).astype(dtype)


def assert_same_as_oracle(impl, x, spec, grad=None):
    values, indices = impl.forward(x, spec)
    expected_values, expected_indices = ORACLE.forward(x, spec)
    assert_array_equal(indices, expected_indices)
    assert_array_equal(values.view(np.uint8), expected_values.view(np.uint8))  # bitwise
    if grad is None:
        grad = np.random.default_rng(1).integers(-3, 4, values.shape).astype(np.float64)
    got = impl.backward(grad, expected_indices, x.shape, spec)
    assert_array_equal(got, ORACLE.backward(grad, expected_indices, x.shape, spec))


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_and_threads(name, spec, threads):
    impl = type(impls.get(name))(threads=threads)
    x = sample(SHAPES[spec.ndim], dtype=np.float32)
    assert_same_as_oracle(impl, x, spec)


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("spec", SPECS[:3], ids=str)
def test_nan_in_some_blocks_only(name, spec):
    x = sample(SHAPES[spec.ndim])
    x[1, 2, 3, 4] = np.nan  # one plane of one block
    x[3, 0, 0, 0] = np.nan  # a corner, possibly in padding-adjacent windows
    x[4, 1, 5, 2:6] = np.nan  # several NaN in one window: the first wins
    assert_same_as_oracle(type(impls.get(name))(threads=2), x, spec)


@pytest.mark.parametrize("name", FAST)
def test_signed_zeros_keep_the_selected_element(name):
    x = np.array([[-0.0, 0.0, 0.0, -0.0, -1.0, 0.0]], dtype=np.float32)
    values, indices = impls.get(name).forward(x, PoolSpec((2,), stride=1))
    assert_array_equal(indices, [[0, 1, 2, 3, 5]])
    assert_array_equal(np.signbit(values), [[True, False, False, True, False]])


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.float16])
def test_lowest_value_ties_with_padding(name, dtype):
    lowest = np.iinfo(dtype).min if np.dtype(dtype).kind in "iu" else -np.inf
    x = np.full((3, 4, 5), lowest, dtype=dtype)
    x[1, 2, 3] = 0
    assert_same_as_oracle(impls.get(name), x, PoolSpec((3, 2), stride=1, padding=(2, 1)))


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_indices_that_do_not_come_from_forward(name, spec):
    shape = SHAPES[spec.ndim]
    out_shape = shape[: -spec.ndim] + spec.output_shape(shape[-spec.ndim :])
    rng = np.random.default_rng(2)
    plane = int(np.prod(shape[-spec.ndim :]))
    indices = rng.integers(0, plane, out_shape)
    grad = rng.integers(-3, 4, out_shape).astype(np.float64)
    got = impls.get(name).backward(grad, indices, shape, spec)
    assert_array_equal(got, ORACLE.backward(grad, indices, shape, spec))
    with pytest.raises(ValueError, match="input plane"):
        impls.get(name).backward(grad, indices + plane, shape, spec)


@pytest.mark.parametrize("name", FAST)
def test_index_aliasing_a_padding_position(name):
    # Window (1, 0) of a 3x3, stride 2, padding 1 pool starts at (1, -1), which
    # is padding. Flat index 1*6 - 1 = 5 is that position's flat offset from the
    # window start, but it names the in-plane element (0, 5), outside the
    # window. Backward must still route the gradient to element 5.
    spec = PoolSpec((3, 3), stride=2, padding=1)
    x = sample((2, 5, 6))
    _, indices = ORACLE.forward(x, spec)
    indices[1, 1, 0] = 5
    grad = np.arange(1.0, indices.size + 1).reshape(indices.shape)
    got = impls.get(name).backward(grad, indices, x.shape, spec)
    assert_array_equal(got, ORACLE.backward(grad, indices, x.shape, spec))
    assert got[1, 0, 5] == grad[1, 1, 0]


@pytest.mark.parametrize("name", FAST)
def test_windows_wider_than_the_plane(name):
    # A 3-wide kernel on 2-wide rows: elements (0, 2) and (1, 0) of a window
    # are both 2 apart in the flat plane, so flat offsets cannot name codes.
    spec = PoolSpec((2, 3), stride=1, padding=(0, 1))
    assert_same_as_oracle(impls.get(name), sample((2, 3, 2)), spec)


@pytest.mark.parametrize("name", FAST)
def test_non_finite_gradients_stay_where_they_belong(name):
    spec = PoolSpec((2, 2), stride=1)
    x = sample((2, 4, 4))
    values, _ = impls.get(name).forward(x, spec)
    grad = np.ones(values.shape)
    grad[0, 0, 0], grad[1, 2, 2] = np.inf, np.nan
    assert_same_as_oracle(impls.get(name), x, spec, grad=grad)


class TestThreadSettings:
    def test_default_follows_the_machine(self, monkeypatch):
        monkeypatch.delenv(parallel.ENV_VARIABLE, raising=False)
        parallel.set_num_threads(None)
        assert parallel.get_num_threads() >= 1

    def test_explicit_and_environment(self, monkeypatch):
        monkeypatch.setenv(parallel.ENV_VARIABLE, "3")
        parallel.set_num_threads(None)
        assert parallel.get_num_threads() == 3
        parallel.set_num_threads(5)
        try:
            assert parallel.get_num_threads() == 5
        finally:
            parallel.set_num_threads(None)

    @pytest.mark.parametrize(
        ("bad", "error", "message"),
        [
            (0, ValueError, "threads must be a positive int, got 0"),
            (-1, ValueError, "threads must be a positive int, got -1"),
            (1.5, TypeError, "threads must be an integer, got 1.5"),
            (True, TypeError, "threads must be an integer, got the bool True"),
            ("2", TypeError, "threads must be an integer, got '2'"),
        ],
    )
    def test_bad_counts(self, bad, error, message):
        with pytest.raises(error, match=message):
            parallel.set_num_threads(bad)
        with pytest.raises(error, match=message):
            impls.get("sliced").__class__(threads=bad).forward(np.zeros((4, 4)), PoolSpec((2, 2)))

    def test_bad_environment(self, monkeypatch):
        monkeypatch.setenv(parallel.ENV_VARIABLE, "many")
        parallel.set_num_threads(None)
        with pytest.raises(ValueError, match="MAXPOOL_NUM_THREADS must be a positive int"):
            parallel.get_num_threads()

    @pytest.mark.usefixtures("tiny_blocks")
    def test_ranges_cover_every_item_once(self):
        seen: list[int] = []
        parallel.run_split(lambda a, b: seen.extend(range(a, b)), 10, 1, threads=3)
        assert sorted(seen) == list(range(10))

    @pytest.mark.usefixtures("tiny_blocks")
    def test_worker_errors_propagate(self):
        def fail(start: int, stop: int) -> None:
            raise RuntimeError(f"range {start}:{stop}")

        with pytest.raises(RuntimeError, match="range"):
            parallel.run_split(fail, 10, 1, threads=2)

    @pytest.mark.usefixtures("tiny_blocks")
    def test_an_error_on_a_worker_alone_propagates(self):
        def fail_on_a_worker(start: int, stop: int) -> None:
            if start == 0:  # the first range goes to a worker, the last to the caller
                assert threading.current_thread() is not threading.main_thread()
                raise RuntimeError(f"range {start}:{stop}")

        with pytest.raises(RuntimeError, match="range 0:5"):
            parallel.run_split(fail_on_a_worker, 10, 1, threads=2)

    @pytest.mark.usefixtures("tiny_blocks")
    def test_a_failing_caller_waits_for_its_workers(self):
        finished: list[int] = []

        def slow_worker_failing_caller(start: int, stop: int) -> None:
            if start != 0:
                raise RuntimeError("the caller's range")
            time.sleep(0.2)
            finished.append(start)

        with pytest.raises(RuntimeError, match="caller"):
            parallel.run_split(slow_worker_failing_caller, 10, 1, threads=2)
        assert finished == [0]  # no worker still writing once the call has raised

    @pytest.mark.usefixtures("tiny_blocks")
    @pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
    def test_an_interrupted_caller_waits_for_its_workers(self):
        # Ctrl-C while the caller waits for a worker: the KeyboardInterrupt comes once the
        # worker's range is done, never while it still writes into the outputs.
        if threading.current_thread() is not threading.main_thread():
            pytest.skip("signal handlers run on the main thread only")
        finished: list[int] = []

        def slow_worker(start: int, stop: int) -> None:
            if start == 0:
                time.sleep(0.3)
                finished.append(start)

        main = threading.get_ident()
        interrupt = threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGINT))
        interrupt.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                parallel.run_split(slow_worker, 10, 1, threads=2)
            assert finished == [0]
        finally:
            interrupt.join()


@pytest.mark.parametrize(
    ("shape", "spec", "chosen"),
    [
        ((64, 6, 28, 28), PoolSpec((2, 2)), "sliced"),  # little work
        ((8, 256, 20, 20), PoolSpec((5, 5), 1, 2), "separable"),  # stride-1 overlap
        ((32, 64, 112, 112), PoolSpec((3, 3), 2, 1), "reshape"),  # strided overlap, 2-D
        ((32, 64, 8000), PoolSpec((3,), 2, 1), "reshape"),  # strided overlap, 1-D
        ((2, 32, 16, 56, 56), PoolSpec((3, 3, 3), 2, 1), "sliced"),  # strided overlap, 3-D
        ((16, 64, 224, 224), PoolSpec((2, 2)), "sliced"),  # disjoint
        ((8, 64, 56, 56), PoolSpec((2, 2), 1), "sliced"),  # stride 1, small kernel
        ((32, 2048, 7, 7), PoolSpec((7, 7)), "wholeplane"),  # ResNet-50 head
        ((1, 2**20), PoolSpec((2**20,)), "wholeplane"),  # a kernel as long as the signal
        ((2, 9, 9), PoolSpec((12, 12), stride=1, padding="same", ceil_mode=True), "sliced"),
        ((2, 9, 9), PoolSpec((28, 28), stride=5, padding=10), "wholeplane"),  # padded around
        ((8, 64, 4000), PoolSpec((65,), 1, 32), "vanherk"),  # large stride-1 windows, 1-D
        ((8, 64, 4000), PoolSpec((33,), 1, 16), "sliced"),  # 1-D stride 1: not large enough
        ((2, 32, 64, 64), PoolSpec((33, 33), 1, 16), "vanherk"),  # and 2-D
        ((8, 64, 56, 56), PoolSpec((17, 17), 1, 8), "separable"),  # not large enough
        ((2, 16, 40, 40, 40), PoolSpec((33, 33, 33), 1), "separable"),  # 3-D: not measured
        ((8, 64, 4000), PoolSpec((65,), 2, 32), "reshape"),  # a stride
    ],
)
def test_auto_follows_its_rules(shape, spec, chosen):
    from impls.fast.auto import AutoMaxPool

    assert AutoMaxPool(compiled=False).choose(shape, spec) == chosen


def test_auto_rules_cover_every_case():
    # The last rule is the catch-all, so every case gets an implementation.
    from impls.fast.auto import PRIVATE_PATHS, RULES, DispatchCase

    catch_all = DispatchCase(
        pooled_axes=2,
        windows_overlap=False,
        unit_stride=False,
        window_size=1,
        window_elements=1 << 30,
    )
    assert RULES[-1].applies(catch_all)
    # Every rule names a registered or optional implementation, or one of auto's private paths.
    private = set(PRIVATE_PATHS)
    assert {rule.forward for rule in RULES} <= {*impls.names(), *impls.registry.OPTIONAL, *private}
