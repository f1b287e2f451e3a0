"""The public API: registry, conveniences, the layer class and ONNX index conversion."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import impls
from impls import MaxPool, MaxPoolImpl, PoolSpec, from_onnx_indices, max_pool, to_onnx_indices
from impls.naive import NaiveMaxPool

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])


class TestRegistry:
    def test_builtin_names_come_first(self):
        assert impls.names()[:3] == ("naive", "im2col", "strided")

    @pytest.mark.parametrize("name", ["naive", "im2col", "strided"])
    def test_get_returns_a_protocol_instance_with_that_name(self, name):
        impl = impls.get(name)
        assert isinstance(impl, MaxPoolImpl)
        assert impl.name == name
        assert impls.get(name) is impl

    def test_unknown_name_lists_the_known_ones(self):
        with pytest.raises(ValueError, match=r"unknown implementation 'fast'.*naive, im2col"):
            impls.get("fast")

    def test_name_must_be_a_string(self):
        with pytest.raises(TypeError, match=r"must be a str"):
            impls.get(3)

    def test_load_instantiates_a_class(self):
        impl = impls.load("impls.naive:NaiveMaxPool")
        assert isinstance(impl, NaiveMaxPool)

    @pytest.mark.parametrize(
        ("target", "error", "pattern"),
        [
            ("impls.naive", ValueError, "expected 'package.module:attribute'"),
            ("no_such_module_xyz:Thing", ValueError, "cannot import module 'no_such_module_xyz'"),
            ("impls.naive:Missing", ValueError, "has no attribute 'Missing'"),
            ("impls.naive:NaiveMaxPool.name", TypeError, "lacks name, forward, backward"),
            ("impls.spec:PoolSpec", TypeError, "cannot be instantiated without arguments"),
        ],
    )
    def test_load_errors(self, target, error, pattern):
        with pytest.raises(error, match=pattern):
            impls.load(target)

    def test_resolve_accepts_names_paths_instances_and_classes(self):
        assert impls.resolve("strided") is impls.get("strided")
        assert isinstance(impls.resolve("impls.naive:NaiveMaxPool"), NaiveMaxPool)
        instance = NaiveMaxPool()
        assert impls.resolve(instance) is instance
        assert isinstance(impls.resolve(NaiveMaxPool), NaiveMaxPool)
        with pytest.raises(TypeError, match=r"does not follow the MaxPoolImpl protocol"):
            impls.resolve(object())


class TestMaxPoolFunction:
    @pytest.mark.parametrize("impl", ["naive", "im2col", "strided"])
    def test_values_and_indices(self, impl):
        values, indices = max_pool(X, (2, 2), stride=1, impl=impl)
        assert_array_equal(values, [[5, 6], [8, 9]])
        assert_array_equal(indices, [[4, 5], [7, 8]])

    def test_default_implementation(self):
        assert impls.DEFAULT_IMPL in impls.names()
        values, _ = max_pool(X, (3, 3))
        assert_array_equal(values, [[9]])

    def test_spec_errors_surface(self):
        with pytest.raises(ValueError, match=r"stride must be >= 1"):
            max_pool(X, (2, 2), stride=0)

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            ({"stride": 1.0}, TypeError),  # 1.0 == 1 and hashes alike
            ({"stride": True}, TypeError),  # so does True
            ({"stride": (1, True)}, TypeError),
            ({"padding": ((0, 1.0), 0)}, TypeError),
            ({"ceil_mode": 1}, TypeError),
            ({"dilation": 0}, ValueError),
        ],
    )
    def test_kept_specs_never_stand_for_refused_arguments(self, arguments, error):
        accepted = {"stride": 1, "padding": ((0, 1), 0), "dilation": 1, "ceil_mode": False}
        max_pool(X, (2, 2), **accepted)  # kept
        with pytest.raises(error):
            max_pool(X, (2, 2), **{**accepted, **arguments})

    def test_equal_arguments_of_other_types_give_the_same_results(self):
        expected = max_pool(X, (2, 2), stride=1, padding=1)
        for kernel, stride in [([2, 2], np.int64(1)), ((np.int8(2), 2), [1, 1]), ((2, 2), (1, 1))]:
            got = max_pool(X, kernel, stride=stride, padding=1)
            assert_array_equal(got[0], expected[0])
            assert_array_equal(got[1], expected[1])

    def test_a_kept_spec_is_the_spec_of_its_arguments(self):
        for padding in [0, 1, "same", ((1, 0), (0, 1))]:
            for stride in [None, 1, 2]:
                values, indices = max_pool(X, (2, 2), stride=stride, padding=padding)
                spec = PoolSpec((2, 2), stride=stride, padding=padding)
                expected = impls.get("naive").forward(X, spec)
                assert_array_equal(values, expected[0])
                assert_array_equal(indices, expected[1])


def _channels_last(x: np.ndarray) -> np.ndarray:
    """The same values, stored with the second axis innermost (leading axes that do not merge)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


class TestPlans:
    """Repeated calls reuse what depends on their arguments alone, and nothing more."""

    LAYOUTS: ClassVar = {
        "C": lambda x: x,
        "Fortran": np.asfortranarray,
        "reversed": lambda x: x[::-1, :, ::-1],
        "byte-swapped": lambda x: x.astype(x.dtype.newbyteorder(">")),
        "read-only": lambda x: np.lib.stride_tricks.as_strided(x, writeable=False),
        "channels last": _channels_last,
    }

    def test_keys_tell_every_layout_apart(self):
        from impls.fast.blocks import forward_key

        x = np.zeros((2, 3, 4, 5), dtype=np.float32)
        unaligned = np.zeros(x.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(x.shape)
        keys = [forward_key(make(x), PoolSpec((2, 2))) for make in self.LAYOUTS.values()]
        keys += [forward_key(unaligned, PoolSpec((2, 2))), forward_key(x, PoolSpec((2, 2), 1))]
        keys += [forward_key(x.astype(np.int32), PoolSpec((2, 2)))]
        read_only = keys.pop(4)
        assert read_only == keys[0]  # writeability changes nothing a plan decides
        assert len(set(keys)) == len(keys)
        assert forward_key(x.tolist(), PoolSpec((2, 2))) is None
        assert forward_key(x, "k2") is None

    @pytest.mark.parametrize("name", ["sliced", "reshape", "separable", "auto", "numba"])
    @pytest.mark.parametrize("size", [4, 12], ids=["small", "blocked"])
    def test_every_layout_and_dtype_after_every_other(self, name, size):
        if name not in impls.names():
            pytest.skip(f"{name} is not registered here")
        impl = impls.get(name)
        spec = PoolSpec((3, 3), stride=2, padding=1)
        rng = np.random.default_rng(0)
        base = rng.integers(-9, 9, (2, 3, size, size + 1))
        for _ in range(2):  # the second round runs on the kept plans
            for dtype in (np.float32, np.int16, np.float64):
                for label, make in self.LAYOUTS.items():
                    x = make(base.astype(dtype))
                    values, indices = impl.forward(x, spec)
                    expected = impls.get("naive").forward(x, spec)
                    assert values.dtype == x.dtype, label
                    assert_array_equal(values, expected[0], err_msg=label)
                    assert_array_equal(indices, expected[1], err_msg=label)
                    grad = rng.standard_normal(values.shape).astype(dtype)
                    got = impl.backward(grad, indices, x.shape, spec)
                    want = impls.get("naive").backward(grad, indices, x.shape, spec)
                    assert_array_equal(got, want, err_msg=label)

    def test_backward_checks_every_call_even_with_a_kept_plan(self):
        spec = PoolSpec((2, 2))
        x = np.arange(16.0).reshape(1, 4, 4)
        values, indices = impls.get("auto").forward(x, spec)
        impls.get("auto").backward(np.ones(values.shape), indices, x.shape, spec)  # kept
        bad = indices.copy()
        bad[0, 1, 1] = 16
        with pytest.raises(ValueError, match=r"input plane \[0, 16\)"):
            impls.get("auto").backward(np.ones(values.shape), bad, x.shape, spec)
        with pytest.raises(TypeError, match="input_shape must hold ints"):  # True == 1
            impls.get("auto").backward(np.ones(values.shape), indices, (True, 4, 4), spec)


class TestMaxPoolLayer:
    def test_forward_then_backward(self):
        layer = MaxPool((2, 2), stride=1, impl="im2col")
        assert_array_equal(layer.forward(X), [[5, 6], [8, 9]])
        assert_array_equal(layer.indices, [[4, 5], [7, 8]])
        grad = layer.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
        assert_array_equal(grad, [[0, 0, 0], [0, 1, 2], [0, 3, 4]])

    def test_call_is_forward(self):
        layer = MaxPool((3,))
        assert_array_equal(layer(np.array([[1, 3, 2], [0, 0, 5]])), [[3], [5]])

    def test_backward_uses_the_latest_forward(self):
        layer = MaxPool((2,), impl="naive")
        layer.forward(np.array([1.0, 0.0]))
        layer.forward(np.array([[0.0, 1.0, 2.0, 3.0]]))
        assert_array_equal(layer.backward(np.array([[1.0, 1.0]])), [[0, 1, 0, 1]])

    def test_backward_before_forward(self):
        with pytest.raises(RuntimeError, match=r"before forward"):
            MaxPool((2,)).backward(np.ones(1))

    def test_repr(self):
        assert repr(MaxPool((2,), impl="naive")).endswith("impl='naive')")

    def test_bad_impl(self):
        with pytest.raises(ValueError, match=r"unknown implementation"):
            MaxPool((2,), impl="nope")


class TestOnnxIndices:
    SHAPE = (2, 1, 4, 4)

    def indices(self):
        x = np.arange(32.0).reshape(self.SHAPE)
        return max_pool(x, (2, 2))[1]

    def test_row_major(self):
        # the maximum of each 2x2 window is its bottom-right element;
        # the second plane starts at offset 16
        onnx = to_onnx_indices(self.indices(), self.SHAPE, PoolSpec((2, 2)))
        assert onnx.dtype == np.int64
        assert_array_equal(onnx[0, 0], [[5, 7], [13, 15]])
        assert_array_equal(onnx[1, 0], [[21, 23], [29, 31]])

    def test_column_major(self):
        # (h, w) -> h + w * 4 within the plane
        onnx = to_onnx_indices(self.indices(), self.SHAPE, PoolSpec((2, 2)), storage_order=1)
        assert_array_equal(onnx[0, 0], [[1 + 4, 1 + 12], [3 + 4, 3 + 12]])
        assert_array_equal(onnx[1, 0], [[21, 29], [23, 31]])

    def test_row_major_indexes_the_flattened_input(self):
        spec = PoolSpec((2, 3), stride=1, padding=1)
        x = np.random.default_rng(0).standard_normal((3, 2, 5, 4))
        values, indices = max_pool(x, (2, 3), stride=1, padding=1)
        assert_array_equal(x.ravel()[to_onnx_indices(indices, x.shape, spec)], values)

    @pytest.mark.parametrize("storage_order", [0, 1])
    def test_round_trip(self, storage_order):
        spec = PoolSpec((2, 3), stride=1, padding=1)
        x = np.random.default_rng(0).standard_normal((3, 2, 5, 4))
        _, indices = max_pool(x, (2, 3), stride=1, padding=1)
        onnx = to_onnx_indices(indices, x.shape, spec, storage_order=storage_order)
        back = from_onnx_indices(onnx, x.shape, spec, storage_order=storage_order)
        assert_array_equal(back, indices)

    def test_errors(self):
        spec = PoolSpec((2, 2))
        with pytest.raises(ValueError, match=r"storage_order must be 0"):
            to_onnx_indices(self.indices(), self.SHAPE, spec, storage_order=2)
        with pytest.raises(ValueError, match=r"indices has shape"):
            to_onnx_indices(self.indices()[0], self.SHAPE, spec)
        with pytest.raises(ValueError, match=r"plane of their own output position"):
            from_onnx_indices(np.zeros((2, 1, 2, 2), np.int64), self.SHAPE, spec)
        with pytest.raises(TypeError, match=r"integer dtype"):
            from_onnx_indices(np.zeros((2, 1, 2, 2)), self.SHAPE, spec)
