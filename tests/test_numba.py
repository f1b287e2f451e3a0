"""The numba implementation: paths the conformance suite rarely reaches, threads, compiling.

Skipped as a whole when numba is not installed. Every result is compared
with the naive oracle; nothing here asserts a speed. Calls wait for their
kernels here (``MAXPOOL_COMPILE=wait``), so that the kernels, not the NumPy
path that serves calls while they load, are what is tested; the loading
itself is tested in test_compiled.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

pytest.importorskip("numba")

import impls
from impls import PoolSpec
from impls.fast import compiled, numba_kernels, numba_pool, table_cache
from impls.fast import threads as parallel
from impls.fast.whole_plane import is_whole_plane

from .children import python_code
from .test_fast_paths import ORACLE, SHAPES, SPECS, assert_same_as_oracle, sample

NUMBA = numba_pool.NumbaMaxPool


@pytest.fixture(autouse=True)
def compiled_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call runs the compiled kernels, small ones too: it waits for them if they
    are not ready."""
    monkeypatch.setenv(compiled.ENV_VARIABLE, "wait")
    monkeypatch.setattr(numba_pool, "GATHER_ELEMENTS", 0)
    table_cache.clear()  # plans made under other settings
    yield
    table_cache.clear()


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of one plane and threads for any amount of work."""
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1)
    monkeypatch.setattr(parallel, "MIN_BYTES_PER_THREAD", 1)
    table_cache.clear()  # plans made under other settings
    yield
    table_cache.clear()


@pytest.fixture(params=["one plane per group", "interleaved planes"])
def lanes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both staging paths: planes one at a time, or several interleaved."""
    if request.param == "interleaved planes":
        monkeypatch.setattr(numba_pool, "MIN_PASS_LENGTH", 1 << 30)
        monkeypatch.setattr(numba_pool, "INTERLEAVED_PASS_LENGTH", 37)  # odd groups of planes
    else:
        monkeypatch.setattr(numba_pool, "MIN_PASS_LENGTH", 1)
    table_cache.clear()
    yield request.param
    table_cache.clear()


@pytest.mark.usefixtures("lanes")
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_staging_paths(spec):
    x = sample(SHAPES[spec.ndim], dtype=np.float32)
    assert_same_as_oracle(NUMBA(threads=2), x, spec)


@pytest.mark.usefixtures("lanes")
@pytest.mark.parametrize("stride", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("padding", [(0, 0), (1, 2), (2, 0)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_row_splits_heads_and_tails(stride, padding, dilation):
    # Splits 1 to 4 have loops of their own; rows start and end anywhere
    # in a group of `stride` elements; with dilation 1 every phase is read.
    spec = PoolSpec((5,), stride=stride, padding=(padding,), dilation=dilation)
    for length in (10, 13, 16, 23):
        assert_same_as_oracle(NUMBA(), sample((3, 2, length), dtype=np.int16), spec)


@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((4, 3, 7, 7), PoolSpec((7, 7))),  # the global pool of a ResNet head
        ((2, 3, 9), PoolSpec((9,), stride=4)),
        ((2, 2, 3, 4, 5), PoolSpec((3, 4, 5), stride=(1, 2, 3))),
    ],
)
def test_whole_planes(shape, spec):
    geometry = impls.geometry.Geometry.of(shape, spec)
    assert is_whole_plane(geometry.compact)
    x = sample(shape, dtype=np.float64)
    x[0, 0] = -np.inf  # a plane of -inf selects its first element
    x.reshape(-1, geometry.plane_size)[1, [5, 3]] = np.nan  # the first NaN, in plane order
    assert_same_as_oracle(NUMBA(), x, spec)


@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((2, 3, 7, 7), PoolSpec((7, 7), padding=1)),  # padding
        ((2, 3, 7, 7), PoolSpec((3, 3), dilation=3)),  # gaps
        ((2, 3, 8, 8), PoolSpec((7, 7), stride=1)),  # four windows
    ],
)
def test_not_whole_planes(shape, spec):
    # The staged kernel takes these.
    assert not is_whole_plane(impls.geometry.Geometry.of(shape, spec).compact)
    assert_same_as_oracle(NUMBA(), sample(shape), spec)


NAN_BITS = {
    np.float16: [0x7C01, 0xFE00, 0x7E55],  # signalling, negative and payload NaN
    np.float32: [0x7F800001, 0xFFC00000, 0x7FC12345],
    np.float64: [0x7FF0000000000001, 0xFFF8000000000000, 0x7FF8000000012345],
}


@pytest.mark.parametrize("dtype", list(NAN_BITS), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("spec", [PoolSpec((2, 3), stride=1), PoolSpec((4, 6))], ids=str)
def test_float_bits_come_back_unchanged(dtype, spec):
    bits = np.dtype(f"u{np.dtype(dtype).itemsize}")
    x = np.zeros((3, 4, 6), dtype=dtype)
    x[0] = -0.0
    x[0, 1, 2] = 0.0  # ties with -0.0: the first zero wins, with its sign
    x[1].view(bits)[0, :3] = NAN_BITS[dtype]  # NaN of any sign or payload beats everything
    x[1, 0, 3] = np.inf
    x[2] = -np.inf
    x[2, 3, 5] = -np.finfo(dtype).max
    assert_same_as_oracle(NUMBA(), x, spec)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint32, np.uint64])
def test_integer_extremes(dtype):
    info = np.iinfo(dtype)
    x = np.full((2, 3, 8), info.min, dtype=dtype)
    x[0, 1, [2, 5]] = info.max
    x[1, 2, 3] = info.max // 2 + 1  # the top bit of unsigned integers
    x[1, 2, 6] = info.max // 2
    for spec in (PoolSpec((3,), stride=1, padding=1), PoolSpec((8,))):
        assert_same_as_oracle(NUMBA(), x, spec)


def _unaligned(x: np.ndarray) -> np.ndarray:
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)[1:]
    view = raw.view(x.dtype).reshape(x.shape)
    view[...] = x
    assert not view.flags.aligned
    return view


@pytest.mark.parametrize(
    "layout",
    [
        lambda x: x.astype(x.dtype.newbyteorder(">")),
        _unaligned,
        lambda x: np.asfortranarray(x),
        lambda x: x[::-1, :, ::-2],
    ],
    ids=["byte-swapped", "unaligned", "fortran", "negative strides"],
)
@pytest.mark.parametrize("kernel", ["staged planes", "rows 3/2"])
@pytest.mark.usefixtures("tiny_blocks", "short_rows")
def test_inputs_copied_a_block_at_a_time(layout, kernel):
    x = layout(sample((3, 5, 9), dtype=np.float32))
    spec = PoolSpec((3,), stride=2, padding=1)
    if kernel == "staged planes":
        spec = PoolSpec((3,), stride=1, padding=1)
    assert _kernel_of(x.shape, spec, x.dtype.newbyteorder("=")) == kernel
    values, indices = NUMBA(threads=2).forward(x, spec)
    expected_values, expected_indices = impls.get("naive").forward(np.asarray(x), spec)
    assert values.dtype == x.dtype
    assert_array_equal(indices, expected_indices)
    assert_array_equal(values, expected_values)


@pytest.mark.parametrize("grad_dtype", [np.float16, np.dtype(">f8"), np.int32, np.uint8], ids=str)
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32, np.uint16])
def test_backward_dtypes(grad_dtype, index_dtype):
    spec = PoolSpec((3, 3), stride=2, padding=1)
    x = sample((2, 3, 7, 8))
    _, indices = impls.get("naive").forward(x, spec)
    grad = np.arange(indices.size).reshape(indices.shape).astype(grad_dtype)
    indices = indices.astype(index_dtype)
    got = NUMBA().backward(grad, indices, x.shape, spec)
    expected = impls.get("naive").backward(grad, indices, x.shape, spec)
    assert got.dtype == expected.dtype
    assert_array_equal(got, expected)


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("bad", [-1, 56, 1 << 40])
def test_backward_index_outside_its_plane(bad):
    spec = PoolSpec((2, 2))
    indices = np.zeros((3, 2, 3, 4), dtype=np.int64)
    indices[2, 1, 2, 3] = bad  # in the last block, on another thread
    with pytest.raises(ValueError, match=r"indices must lie in the input plane \[0, 56\)"):
        NUMBA(threads=2).backward(np.ones(indices.shape), indices, (3, 2, 7, 8), spec)


def test_one_compiled_version_per_key_dtype():
    """Layout and writeability do not compile new versions: inputs reach the kernels
    C-contiguous and read-only, outputs C-contiguous and writable."""
    spec = PoolSpec((2, 2), stride=1)
    x = sample((2, 3, 5, 6), dtype=np.float32)
    readonly = x.copy()
    readonly.flags.writeable = False
    for layout in (x, readonly, np.asfortranarray(x), x[..., ::-1]):
        NUMBA().forward(layout, spec)
    for signature in numba_kernels.pool_planes.signatures:
        source, values, indices = signature[:3]
        assert (source.layout, source.mutable) == ("C", False)
        assert (values.layout, values.mutable) == ("C", True)
        assert (indices.layout, indices.mutable) == ("C", True)


class TestThreads:
    @pytest.mark.usefixtures("tiny_blocks")
    @pytest.mark.parametrize("how", ["set_num_threads", parallel.ENV_VARIABLE])
    def test_thread_count_is_honoured(self, monkeypatch, how):
        seen: set[int] = set()
        kernel = numba_kernels.pool_planes

        def spy(*args):
            seen.add(threading.get_ident())
            return kernel(*args)

        def use(count: int) -> None:
            if how == "set_num_threads":
                impls.set_num_threads(count)
            else:
                monkeypatch.setenv(parallel.ENV_VARIABLE, str(count))

        monkeypatch.setattr(numba_kernels, "pool_planes", spy)
        monkeypatch.delenv(parallel.ENV_VARIABLE, raising=False)
        x = sample((6, 4, 9, 9), dtype=np.float32)
        spec = PoolSpec((3, 3), stride=1)  # staged: too much overlap for the row kernels
        try:
            use(1)
            impls.get("numba").forward(x, spec)
            assert seen == {threading.get_ident()}
            use(2)  # the calling thread takes the last range, a worker the first
            seen.clear()
            impls.get("numba").forward(x, spec)
            assert len(seen) == 2
            assert threading.get_ident() in seen
        finally:
            impls.set_num_threads(None)

    @pytest.mark.usefixtures("tiny_blocks")
    @pytest.mark.parametrize("kernel", ["staged planes", "rows 3/2"])
    def test_concurrent_calls_from_many_threads(self, request, kernel):
        if kernel.startswith("rows"):
            request.getfixturevalue("short_rows")
        rng = np.random.default_rng(3)
        spec = PoolSpec((3, 3), stride=2, padding=1)
        if kernel == "staged planes":
            spec = PoolSpec((3, 3), stride=1, padding=1)  # too much overlap for rows
        assert _kernel_of((4, 3, 11, 10), spec, np.float32) == kernel
        inputs = [rng.integers(-5, 6, (4, 3, 11, 10)).astype(np.float32) for _ in range(8)]
        expected = [impls.get("naive").forward(x, spec) for x in inputs]
        impl = NUMBA(threads=2)

        def run(number: int) -> None:
            for _ in range(5):
                values, indices = impl.forward(inputs[number], spec)
                assert_array_equal(values, expected[number][0])
                assert_array_equal(indices, expected[number][1])
                grad = impl.backward(np.ones(values.shape), indices, inputs[number].shape, spec)
                assert grad.sum() == values.size

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(run, range(8)))

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    @pytest.mark.usefixtures("tiny_blocks")
    @pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
    def test_works_in_a_forked_child(self):
        # numba starts no threading layer of its own (no OpenMP, no workqueue),
        # so its kernels run in a child forked from a parent that ran them on
        # several threads. (Threads in the child are the pool's business:
        # impls.fast.threads.)
        spec = PoolSpec((2, 2))
        x = sample((4, 3, 8, 8), dtype=np.float32)
        expected = NUMBA(threads=2).forward(x, spec)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            status = 1
            try:
                values, indices = NUMBA(threads=1).forward(x, spec)
                same = np.array_equal(values, expected[0]) and np.array_equal(indices, expected[1])
                status = 0 if same else 3
            finally:
                os._exit(status)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")


def test_auto_uses_the_compiled_backward(monkeypatch):
    calls = []
    scatter = numba_kernels.scatter_planes

    def spy(*args):
        calls.append(args)
        return scatter(*args)

    monkeypatch.setattr(numba_kernels, "scatter_planes", spy)
    spec = PoolSpec((2, 2))
    x = sample((2, 3, 4, 4))
    _, indices = impls.get("naive").forward(x, spec)
    grad = impls.get("auto").backward(np.ones(indices.shape), indices, x.shape, spec)
    assert calls
    assert_array_equal(
        grad, impls.get("naive").backward(np.ones(indices.shape), indices, x.shape, spec)
    )


def test_recommend_names_the_extra_it_needs(capsys):
    from impls.tools.cli import main

    argv = ["recommend", "--shape", "2,3,9,9", "--kernel", "3", "--only", "numba"]
    assert main([*argv, "--repeats", "1", "--warmup", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert 'impl="numba")\n    (needs numba: pip install "maxpool-impls[numba]")' in out


@pytest.mark.parametrize(
    ("shape", "spec", "chosen"),
    [
        ((64, 6, 28, 28), PoolSpec((2, 2)), "numba"),
        ((8, 256, 20, 20), PoolSpec((5, 5), 1, 2), "numba"),
        ((32, 2048, 7, 7), PoolSpec((7, 7)), "numba"),
        ((8, 64, 56, 56), PoolSpec((17, 17), 1, 8), "numba"),
        ((8, 64, 56, 56), PoolSpec((19, 19), 1, 9), "separable"),  # k0 + k1 passes win
        ((32, 64, 4000), PoolSpec((511,), 1, 255), "numba"),  # 1-D: nothing to separate
        ((32, 64, 4000), PoolSpec((513,), 1, 256), "vanherk"),  # the running maximum
        ((8, 64, 56, 56), PoolSpec((19, 19), 2, 9), "numba"),  # strided
    ],
)
def test_auto_follows_its_compiled_rules(shape, spec, chosen):
    assert impls.get("auto").choose(shape, spec) == chosen


@pytest.fixture
def short_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The row kernels take rows of any length and windows of any overlap."""
    monkeypatch.setattr(numba_pool, "MIN_ROW_OUTPUTS", 1)
    monkeypatch.setattr(numba_pool, "MAX_ROW_OVERLAP", 1 << 30)
    table_cache.clear()
    yield
    table_cache.clear()


def _kernel_of(shape: tuple[int, ...], spec: PoolSpec, dtype: type) -> str:
    compact = impls.geometry.Geometry.of(shape, spec).compact
    return numba_pool._kind(numba_pool._tables(compact, np.dtype(dtype)))


def _ties_and_nan(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    """Few distinct values (ties everywhere); floats with signed zeros and NaN of every kind."""
    x = sample(shape, dtype=dtype, seed=seed)
    if np.dtype(dtype).kind == "f":
        flat = x.reshape(-1)
        flat[::5] = -0.0
        flat[1::7] = 0.0
        bits = flat.view(f"u{np.dtype(dtype).itemsize}")
        for start, pattern in enumerate(NAN_BITS[dtype]):
            bits[start * 3 :: 17] = pattern
    return x


IN_PLACE = [
    ((3, 2, 6, 9), PoolSpec((2, 2))),  # a leftover column
    ((2, 3, 7, 12), PoolSpec((3, 3), padding=(1, 0))),  # padding across rows only
    ((2, 2, 9, 16), PoolSpec((3, 4), stride=(2, 4), dilation=(2, 1))),
    ((3, 2, 31), PoolSpec((3,))),
    ((2, 2, 4, 5, 8), PoolSpec((2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0))),
    ((1, 1, 1, 9), PoolSpec((1, 4))),  # one window row
    ((2, 3, 9, 12), PoolSpec((3, 3), stride=2, padding=1)),  # the ResNet stem's, padded rows
    ((2, 3, 6, 9), PoolSpec((2, 2), ceil_mode=True)),  # a partial window
    ((2, 3, 6, 8), PoolSpec((2, 2), padding=(0, 1))),
    ((2, 3, 9, 12), PoolSpec((3, 3), stride=(3, 2))),  # output rows share no window row
    ((2, 2, 4, 7, 12), PoolSpec((2, 3, 3), stride=(1, 2, 2))),  # some do, across depth not
]


# Geometry on float32, dtypes on one kernel: every (dtype, kernel) pair compiles a kernel
# of its own (5-13 s), and the comparisons do not depend on the kernel.
@pytest.mark.usefixtures("short_rows")
@pytest.mark.parametrize(("shape", "spec"), IN_PLACE, ids=[str(s) for _, s in IN_PLACE])
def test_windows_that_tile_the_rows_are_read_in_place(shape, spec):
    assert _kernel_of(shape, spec, np.float32).startswith(("rows ", "pairs "))
    assert_same_as_oracle(NUMBA(threads=2), _ties_and_nan(shape, np.float32), spec)


@pytest.mark.usefixtures("short_rows")
@pytest.mark.parametrize("dtype", [np.float64, np.uint64, np.int8])
def test_row_kernels_compare_every_dtype_by_the_contract(dtype):
    shape, spec = (2, 3, 7, 12), PoolSpec((2, 2), padding=(1, 0))
    assert _kernel_of(shape, spec, dtype) == "rows 2/2"
    assert_same_as_oracle(NUMBA(threads=2), _ties_and_nan(shape, dtype), spec)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    extremes = np.full(shape, info.min, dtype=dtype)
    extremes[0, 1, 3, 5] = info.max
    extremes[1, 2, 4, 8:10] = info.max  # a tie of the largest values
    assert_same_as_oracle(NUMBA(threads=2), extremes, spec)


@pytest.mark.usefixtures("short_rows")
@pytest.mark.parametrize(
    ("shape", "spec", "dtype"),
    [
        ((2, 3, 6, 8), PoolSpec((2, 2)), np.float16),  # numba cannot compare float16
        ((2, 3, 6, 8), PoolSpec((2, 2), stride=(2, 1)), np.float32),  # overlapping
        ((2, 3, 6, 8), PoolSpec((2, 2), dilation=(1, 2)), np.float32),  # gaps
        ((2, 3, 6, 15), PoolSpec((5, 5)), np.float32),  # groups of 5
    ],
)
def test_other_windows_are_staged(shape, spec, dtype):
    assert not _kernel_of(shape, spec, dtype).startswith("rows")
    assert_same_as_oracle(NUMBA(), _ties_and_nan(shape, dtype), spec)


@pytest.mark.parametrize(
    ("shape", "spec", "kernel"),
    [
        ((64, 6, 28, 28), PoolSpec((2, 2)), "pairs 2/2"),  # LeNet-5: rows of 14, small
        ((64, 6, 28, 28), PoolSpec((2, 2), padding=(1, 0)), "rows 2/2"),  # 1 or 2 rows
        ((4, 64, 16, 56, 56), PoolSpec((2, 2, 2)), "rows 2/2"),  # C3D: 28 outputs
        ((16, 64, 224, 224), PoolSpec((2, 2)), "rows 2/2"),  # VGG-16: 112 outputs, large
        ((32, 64, 16000), PoolSpec((3,), 2, 1), "rows 3/2"),  # 3 elements per 2
        ((32, 64, 112, 112), PoolSpec((3, 3), 2, 1), "rows 3/2"),  # ResNet-50: 9 per 4
        ((64, 128, 128), PoolSpec((3, 2), (1, 2)), "rows 2/2"),  # 3 per 1
        ((64, 128, 128), PoolSpec((7, 2), (1, 2)), "staged planes"),  # 7 per 1
        ((16, 16, 64, 64), PoolSpec((3, 3, 2), (1, 1, 2)), "staged planes"),  # 9 per 1
        ((64, 6, 14, 14), PoolSpec((2, 2)), "staged planes"),  # rows of 7 outputs
    ],
)
def test_rows_of_little_overlap_are_read_in_place(shape, spec, kernel):
    assert _kernel_of(shape, spec, np.float32) == kernel


def _outer_axes(
    data: st.DataObject, dimensions: int, dilation: int, longest: int
) -> tuple[list[tuple[int, int, int]], list[int], list[int]]:
    """Draw the axes before the innermost one: per axis ``(kernel, stride, dilation)``
    (kernels 1-3, strides 1-2, dilations up to ``dilation``), a begin padding of at
    most half the window, and a length from one window to ``longest``."""
    outer = [
        data.draw(st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, dilation)))
        for _ in range(dimensions - 1)
    ]
    pads = [data.draw(st.integers(0, (k - 1) * d // 2)) for k, _, d in outer]
    spatial = [data.draw(st.integers((k - 1) * d + 1, longest)) for k, _, d in outer]
    return outer, pads, spatial


@pytest.mark.usefixtures("short_rows")
@settings(max_examples=60, deadline=None)
@given(
    dimensions=st.integers(1, 3),
    group=st.sampled_from(numba_pool.ROW_GROUPS),
    data=st.data(),
)
def test_in_place_rows_agree_with_the_oracle(dimensions, group, data):
    width, split = group
    outer, pads, spatial = _outer_axes(data, dimensions, dilation=2, longest=7)
    spatial.append(data.draw(st.integers(width + split, 30)))
    spec = PoolSpec(
        tuple(k for k, _, _ in outer) + (width,),
        stride=tuple(s for _, s, _ in outer) + (split,),
        padding=(*pads, data.draw(st.integers(0, (width - 1) // 2))),
        dilation=tuple(d for _, _, d in outer) + (1,),
        ceil_mode=data.draw(st.booleans()),
    )
    shape = (2, 3, *spatial)
    assert _kernel_of(shape, spec, np.float32) in (f"rows {width}/{split}", "pairs 2/2")
    x = _ties_and_nan(shape, np.float32, seed=len(spatial))
    assert_same_as_oracle(NUMBA(threads=2), x, spec)


@pytest.mark.usefixtures("short_rows")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_pairs_agree_with_the_oracle(data):
    """Output rows of two window rows each, every one inside the input: one pass per
    output row reads both, along whichever outer axis they lie."""
    dimensions = data.draw(st.integers(2, 3))
    paired = data.draw(st.integers(0, dimensions - 2))  # the outer axis of kernel 2
    stride = data.draw(st.integers(1, 3))
    dilation = data.draw(st.integers(1, 2))
    kernel = [1] * (dimensions - 1) + [2]
    kernel[paired] = 2
    strides = [data.draw(st.integers(1, 2)) for _ in range(dimensions - 1)] + [2]
    strides[paired] = stride
    dilations = [1] * dimensions
    dilations[paired] = dilation
    spatial = [data.draw(st.integers(1, 5)) for _ in range(dimensions - 1)]
    spatial[paired] = data.draw(st.integers(dilation + 1, 8))
    spatial.append(data.draw(st.integers(4, 30)))
    spec = PoolSpec(
        tuple(kernel),
        stride=tuple(strides),
        padding=0,
        dilation=tuple(dilations),
        ceil_mode=data.draw(st.booleans()),
    )
    shape = (2, 3, *spatial)
    compact = impls.geometry.Geometry.of(shape, spec).compact
    last_row = (compact.output_spatial[paired] - 1) * stride + dilation
    expected = "pairs 2/2" if last_row < spatial[paired] else "rows 2/2"  # a partial window
    assert _kernel_of(shape, spec, np.float32) == expected
    x = _ties_and_nan(shape, np.float32, seed=len(spatial))
    assert_same_as_oracle(NUMBA(threads=2), x, spec)


def test_the_pair_kernel_refuses_rows_that_are_not_pairs():
    shape, spec = (2, 3, 7, 12), PoolSpec((3, 2), stride=(1, 2))
    compact = impls.geometry.Geometry.of(shape, spec).compact
    tables = numba_pool._row_tables(compact)
    assert tables is not None
    assert not tables.pairs
    x = numba_pool._read_only(np.zeros((6, *tables.spatial), dtype=np.float32))
    values = np.empty((6, compact.output_plane_size), dtype=np.float32)
    indices = np.empty_like(values, dtype=np.int64)
    with pytest.raises(ValueError, match="other than 2 window rows"):
        numba_kernels.pool_pairs_2_2(x, values, indices, tables.axes, tables.rows_of, tables.heads)


@pytest.mark.usefixtures("short_rows")
def test_padding_along_the_rows_takes_the_row_kernel_not_the_pairs():
    # The pair kernel's passes take their rows from the window's start (begin 0).
    spec = PoolSpec((2, 2), stride=2, padding=(0, 1))
    assert _kernel_of((2, 3, 8, 12), spec, np.float32) == "rows 2/2"
    assert _kernel_of((2, 3, 8, 12), PoolSpec((2, 2), stride=2), np.float32) == "pairs 2/2"


def test_the_pair_kernel_refuses_padding_along_the_rows():
    shape, spec = (2, 3, 8, 12), PoolSpec((2, 2), stride=2, padding=(0, 1))
    compact = impls.geometry.Geometry.of(shape, spec).compact
    tables = numba_pool._row_tables(compact)
    assert tables is not None
    x = numba_pool._read_only(np.zeros((6, *tables.spatial), dtype=np.float32))
    values = np.empty((6, compact.output_plane_size), dtype=np.float32)
    indices = np.empty_like(values, dtype=np.int64)
    with pytest.raises(ValueError, match="without padding"):
        numba_kernels.pool_pairs_2_2(x, values, indices, tables.axes, tables.rows_of, tables.heads)


@pytest.mark.parametrize(
    ("row", "step"),
    [
        (0, 1),  # the first window row not the window's first
        (1, 2),  # the second window row not its step after the first
    ],
)
def test_the_pair_kernel_refuses_rows_apart_from_their_steps(row, step):
    # The pair kernel reads the second window row at its step from the first: a table
    # where the two disagree would have it read rows its bounds checks never saw.
    shape, spec = (2, 3, 8, 12), PoolSpec((2, 2), stride=2)
    compact = impls.geometry.Geometry.of(shape, spec).compact
    tables = numba_pool._row_tables(compact)
    assert tables is not None
    assert tables.pairs
    rows_of = tables.rows_of.copy()
    rows_of[1, row, 2] += step
    x = numba_pool._read_only(np.zeros((6, *tables.spatial), dtype=np.float32))
    values = np.empty((6, compact.output_plane_size), dtype=np.float32)
    indices = np.empty_like(values, dtype=np.int64)
    numba_kernels.pool_pairs_2_2(x, values, indices, tables.axes, tables.rows_of, tables.heads)
    with pytest.raises(ValueError, match="not a window's two rows"):
        numba_kernels.pool_pairs_2_2(x, values, indices, tables.axes, rows_of, tables.heads)


@pytest.mark.usefixtures("short_rows")
@settings(max_examples=40, deadline=None)
@given(dimensions=st.integers(2, 3), data=st.data())
def test_staged_rows_agree_with_the_oracle(dimensions, data):
    """`pool_rows_3_2` stages each input row's group maxima once per plane, in slots a
    window's rows never share, and folds three staged rows per pass: output rows of one
    to nine window rows, far apart (dilation) or sharing rows (stride 1), planes after
    the first, and ties, NaN and signed zeros kept first."""
    outer, pads, spatial = _outer_axes(data, dimensions, dilation=3, longest=8)
    spatial.append(data.draw(st.integers(5, 40)))
    spec = PoolSpec(
        tuple(k for k, _, _ in outer) + (3,),
        stride=tuple(s for _, s, _ in outer) + (2,),
        padding=(*pads, data.draw(st.integers(0, 1))),
        dilation=tuple(d for _, _, d in outer) + (1,),
        ceil_mode=data.draw(st.booleans()),
    )
    shape = (2, 3, *spatial)
    assert _kernel_of(shape, spec, np.float32) == "rows 3/2"
    x = _ties_and_nan(shape, np.float32, seed=len(spatial))
    assert_same_as_oracle(NUMBA(threads=2), x, spec)


@pytest.mark.parametrize(
    ("slots", "room", "error"),
    [
        (4, 0, "too short"),  # the slots' rows shorter than a run-on pass
        (2, None, "too few"),  # fewer slots than the rows one output row spans
        (6, None, "too few"),  # not a power of two
    ],
)
def test_the_staged_kernel_refuses_scratch_it_would_overrun(slots, room, error):
    shape, spec = (2, 3, 9, 20), PoolSpec((3, 3), stride=2, padding=1)
    compact = impls.geometry.Geometry.of(shape, spec).compact
    tables = numba_pool._row_tables(compact)
    assert tables is not None
    assert tables.slots == 4  # an output row's window rows span 3 input rows
    room = tables.room if room is None else room
    x = numba_pool._read_only(np.zeros((6, *tables.spatial), dtype=np.float32))
    values = np.empty((6, compact.output_plane_size), dtype=np.float32)
    indices = np.empty_like(values, dtype=np.int64)
    groups = np.empty((slots + 1) * room, dtype=np.float32)
    steps = np.empty_like(groups, dtype=np.int32)
    tags = np.empty(slots, dtype=np.int64)
    rows = (tables.axes, tables.rows_of, tables.heads)
    with pytest.raises(ValueError, match=error):
        numba_kernels.pool_rows_3_2(x, values, indices, *rows, groups, steps, tags)


RUN_ON = [
    ((3, 2, 5, 18), PoolSpec((2, 2))),  # one pass per row, in pairs, writing the outputs
    ((3, 2, 5, 18), PoolSpec((2, 2), padding=(1, 0))),  # one or two window rows
    ((3, 2, 5, 5, 18), PoolSpec((2, 2, 2))),  # four passes, the last writing
    ((3, 2, 5, 18), PoolSpec((3, 3), 2, 1)),  # 2 or 3 window rows, edges
    ((3, 2, 5, 18), PoolSpec((1, 4), (1, 4))),  # one window row, a leftover column
    ((3, 2, 5, 5, 58), PoolSpec((2, 2, 2))),  # 29 outputs, run on to 32
    ((3, 2, 7, 75), PoolSpec((3, 3), 2, 1)),  # 37, edges, run on to 48
]


@pytest.mark.usefixtures("short_rows")
@pytest.mark.parametrize(("shape", "spec"), RUN_ON, ids=[str(spec) for _, spec in RUN_ON])
def test_short_rows_run_on_inside_their_outputs(shape, spec):
    """Passes over rows shorter than ROW_RUN, or not a multiple of ROW_VECTOR, compute
    on into the following elements: no write leaves the call's outputs, whose last rows
    come out right too."""
    compact = impls.geometry.Geometry.of(shape, spec).compact
    tables = numba_pool._tables(compact, np.dtype(np.float32))
    assert isinstance(tables, numba_pool.RowTables)
    outputs = compact.output_spatial[-1]
    assert outputs < numba_kernels.ROW_RUN or outputs % numba_kernels.ROW_VECTOR
    x = _ties_and_nan(shape, np.float32)
    expected_values, expected_indices = ORACLE.forward(x, spec)
    planes = compact.batch
    size = expected_values.size
    room = size + 2 * max(numba_kernels.ROW_RUN, numba_kernels.ROW_VECTOR)
    value_buffer = np.full(room, 7.5, dtype=np.float32)
    index_buffer = np.full(room, -5, dtype=np.int64)
    values = value_buffer[:size].reshape(planes, -1)
    indices = index_buffer[:size].reshape(planes, -1)
    rows = numba_pool._read_only(x.reshape(planes, *tables.spatial))
    _, scalars = numba_pool._key_scalars(np.dtype(np.float32))
    numba_pool._pool_call(numba_kernels, rows, values, indices, tables, scalars)
    assert (value_buffer[size:] == 7.5).all()
    assert (index_buffer[size:] == -5).all()
    assert_array_equal(indices.reshape(expected_indices.shape), expected_indices)
    assert_array_equal(
        values.reshape(expected_values.shape).view(np.uint32), expected_values.view(np.uint32)
    )


# A child pools an input whose last element ends a page, the page after it unreadable:
# a read past the input kills the child. Tables and call as in the test above.
_POOL_BEFORE_A_GUARD_PAGE = """
import ctypes, mmap, sys
import numpy as np
from impls import PoolSpec
from impls.geometry import Geometry
from impls.fast import numba_kernels, numba_pool

shape, spec = eval(sys.argv[1]), eval(sys.argv[2])
compact = Geometry.of(shape, spec).compact
tables = numba_pool._row_tables(compact)
size = int(np.prod(shape)) * 4
pages = -(-size // mmap.PAGESIZE) + 1
memory = mmap.mmap(-1, pages * mmap.PAGESIZE)
guard = ctypes.addressof(ctypes.c_char.from_buffer(memory)) + (pages - 1) * mmap.PAGESIZE
assert ctypes.CDLL(None).mprotect(ctypes.c_void_p(guard), mmap.PAGESIZE, 0) == 0  # PROT_NONE
x = np.frombuffer(memory, np.float32, size // 4, (pages - 1) * mmap.PAGESIZE - size)
x[:] = np.arange(size // 4) % 7
planes = compact.batch
rows = numba_pool._read_only(x.reshape(planes, *tables.spatial))
values = np.empty((planes, compact.output_plane_size), np.float32)
indices = np.empty_like(values, dtype=np.int64)
_, scalars = numba_pool._key_scalars(np.dtype(np.float32))
numba_pool._pool_call(numba_kernels, rows, values, indices, tables, scalars)
print(int(indices.max()))
"""


@pytest.mark.parametrize(("shape", "spec"), RUN_ON, ids=[str(spec) for _, spec in RUN_ON])
def test_short_rows_run_on_inside_their_input(shape, spec):
    """Passes that run on past a row read only elements of the call's input: those of
    the last plane's last rows stop at its end (here, before an unreadable page)."""
    code = python_code(_POOL_BEFORE_A_GUARD_PAGE) + [repr(shape), repr(spec)]
    done = subprocess.run(code, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    plane = int(np.prod(shape[2:]))
    assert 0 <= int(done.stdout) < plane
