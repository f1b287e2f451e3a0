"""PoolSpec: normalisation, hand-computed geometry, and every construction error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from impls import PoolSpec


class TestNormalisation:
    def test_stride_defaults_to_kernel(self):
        assert PoolSpec((3, 2)).stride == (3, 2)

    def test_ints_apply_to_every_axis(self):
        spec = PoolSpec((2, 2, 2), stride=1, padding=1, dilation=2)
        assert spec.stride == (1, 1, 1)
        assert spec.dilation == (2, 2, 2)
        assert spec.padding == ((1, 1), (1, 1), (1, 1))

    def test_padding_forms(self):
        assert PoolSpec((2, 2), padding=(1, 0)).padding == ((1, 1), (0, 0))
        assert PoolSpec((2, 2), padding=((1, 0), (0, 2))).padding == ((1, 0), (0, 2))
        assert PoolSpec((2, 2), padding=[[1, 0], 2]).padding == ((1, 0), (2, 2))
        for name in ("valid", "same", "same_lower"):
            assert PoolSpec((2,), padding=name).padding == name

    def test_numpy_integers_become_python_ints(self):
        spec = PoolSpec((np.int64(2),), stride=np.int32(1), padding=np.uint8(1))
        assert spec.kernel_size == (2,)
        assert type(spec.kernel_size[0]) is int
        assert type(spec.padding[0][0]) is int

    def test_lists_become_tuples(self):
        spec = PoolSpec([2, 3], stride=[1, 2])
        assert spec.kernel_size == (2, 3)
        assert spec.stride == (1, 2)

    def test_ceil_mode_is_bool(self):
        assert PoolSpec((2,), ceil_mode=np.True_).ceil_mode is True

    def test_frozen_and_hashable(self):
        spec = PoolSpec((2, 2), stride=1)
        assert spec == PoolSpec([2, 2], stride=(1, 1))
        assert hash(spec) == hash(PoolSpec([2, 2], stride=(1, 1)))
        assert len({spec, PoolSpec((2, 2), stride=1), PoolSpec((2, 2))}) == 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.stride = (2, 2)  # type: ignore[misc]  # frozen: the error is the point

    def test_derived_sizes(self):
        spec = PoolSpec((3, 2), dilation=(2, 1))
        assert spec.ndim == 2
        assert spec.window_size == 6
        assert spec.extent == (5, 2)


# (kernel, stride, padding, dilation, ceil_mode, input length, expected pads, expected length)
# Every expected value below is worked out by hand from the contract's formulas.
GEOMETRY_1D = [
    # floor((10 - 3) / 2) + 1 = 4
    (3, 2, 0, 1, False, 10, (0, 0), 4),
    # ceil(7 / 2) + 1 = 5; window 4 starts at 8 < 10, kept
    (3, 2, 0, 1, True, 10, (0, 0), 5),
    # floor((5 + 2 - 2) / 2) + 1 = 3
    (2, 2, 1, 1, False, 5, (1, 1), 3),
    # ceil(5 / 2) + 1 = 4, but window 3 starts at 3*2 = 6 >= 5 + 1: dropped -> 3
    (2, 2, 1, 1, True, 5, (1, 1), 3),
    # ResNet stem: floor((112 + 2 - 3) / 2) + 1 = 56
    (3, 2, 1, 1, False, 112, (1, 1), 56),
    # dilation 2: extent 5, floor((10 - 5) / 1) + 1 = 6
    (3, 1, 0, 2, False, 10, (0, 0), 6),
    # asymmetric padding (2, 0): floor((4 + 2 - 3) / 2) + 1 = 2; window 0 reads -2, -1, 0
    (3, 2, ((2, 0),), 1, False, 4, (2, 0), 2),
    # padding wider than half the kernel is allowed: floor((3 + 4 - 3) / 1) + 1 = 5
    (3, 1, 2, 1, False, 3, (2, 2), 5),
    # "valid": no padding, floor((32 - 5) / 1) + 1 = 28
    (5, 1, "valid", 1, False, 32, (0, 0), 28),
    # "valid" is zero padding, so ceil_mode applies: ceil((7 - 2) / 2) + 1 = 4
    (2, 2, "valid", 1, True, 7, (0, 0), 4),
    # "same": ceil(5 / 2) = 3, total (3 - 1) * 2 + 2 - 5 = 1, odd unit at the end
    (2, 2, "same", 1, False, 5, (0, 1), 3),
    (2, 2, "same_lower", 1, False, 5, (1, 0), 3),
    # "same" ignores ceil_mode: the length is ceil(L / s) by definition
    (2, 2, "same", 1, True, 5, (0, 1), 3),
    # "same" with dilation: ceil(7 / 1) = 7, total 6 + 5 - 7 = 4 -> (2, 2)
    (3, 1, "same", 2, False, 7, (2, 2), 7),
    # "same" never pads negatively: ceil(9 / 3) = 3, (3 - 1) * 3 + 2 - 9 = -1 -> 0
    (2, 3, "same", 1, False, 9, (0, 0), 3),
]


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "ceil_mode", "length", "pads", "expected"),
    GEOMETRY_1D,
)
def test_geometry_1d(kernel, stride, padding, dilation, ceil_mode, length, pads, expected):
    spec = PoolSpec((kernel,), stride, padding, dilation, ceil_mode)
    assert spec.pads((length,)) == (pads,)
    assert spec.output_shape((length,)) == (expected,)


class TestOnnxExamples:
    """Cases from the ONNX MaxPool operator documentation and backend tests."""

    def test_precomputed_same_upper(self):
        # 5x5 input, kernel 3, stride 2, SAME_UPPER -> 3x3 output, pads 1 per side
        spec = PoolSpec((3, 3), stride=2, padding="same")
        assert spec.output_shape((5, 5)) == (3, 3)
        assert spec.pads((5, 5)) == ((1, 1), (1, 1))

    def test_same_upper_and_lower_32(self):
        # 32x32, kernel 2, stride 1: total padding 1, at the end or the beginning
        assert PoolSpec((2, 2), stride=1, padding="same").pads((32, 32)) == ((0, 1), (0, 1))
        lower = PoolSpec((2, 2), stride=1, padding="same_lower")
        assert lower.pads((32, 32)) == ((1, 0), (1, 0))
        assert lower.output_shape((32, 32)) == (32, 32)

    def test_ceil(self):
        # 4x4, kernel 3, stride 2: 1x1 with floor, 2x2 with ceil
        assert PoolSpec((3, 3), stride=2).output_shape((4, 4)) == (1, 1)
        assert PoolSpec((3, 3), stride=2, ceil_mode=True).output_shape((4, 4)) == (2, 2)

    def test_ceil_output_size_reduce_by_one(self):
        # 2x2, kernel 1, stride 2, ceil: ceil(1 / 2) + 1 = 2, but window 1
        # would start at 2 >= 2, so the output is 1x1
        spec = PoolSpec((1, 1), stride=2, ceil_mode=True)
        assert spec.output_shape((2, 2)) == (1, 1)

    def test_dilations(self):
        # 4x4, kernel 2, stride 1, dilation 2 -> 2x2
        assert PoolSpec((2, 2), stride=1, dilation=2).output_shape((4, 4)) == (2, 2)

    def test_pads_3d(self):
        spec = PoolSpec((2, 2, 2), stride=2, padding=((1, 0), (0, 1), (1, 1)))
        # floor((L + pads - 2) / 2) + 1 per axis
        assert spec.output_shape((4, 5, 6)) == (2, 3, 4)


class TestGeometryErrors:
    def test_window_entirely_in_begin_padding(self):
        # window 0 reads positions -3 and -2 only
        with pytest.raises(ValueError, match=r"axis 0: window 0 spans input positions -3..-2"):
            PoolSpec((2,), stride=1, padding=3).output_shape((4,))

    def test_window_entirely_in_end_padding(self):
        # last window starts at 3 * 1 - 0 = 3 = L with padding (0, 3)
        with pytest.raises(ValueError, match=r"window 4 starts at input position 4"):
            PoolSpec((2,), stride=1, padding=((0, 3),)).output_shape((3,))

    def test_dilation_stepping_over_the_input(self):
        # kernel 2, dilation 3, padding 1 on a length-2 axis: window 0 reads -1 and 2
        with pytest.raises(ValueError, match=r"dilation 3 some window steps over"):
            PoolSpec((2,), stride=1, padding=1, dilation=3).output_shape((2,))

    def test_same_padding_can_step_over_the_input(self):
        # L=1, kernel 2, dilation 3: "same" pads (1, 2) and the window reads -1 and 2
        with pytest.raises(ValueError, match=r"covers padding only"):
            PoolSpec((2,), stride=1, padding="same", dilation=3).output_shape((1,))

    def test_input_shorter_than_window(self):
        with pytest.raises(ValueError, match=r"axis 1: input length 2 .* extent 3"):
            PoolSpec((2, 3)).output_shape((4, 2))

    def test_empty_axis(self):
        with pytest.raises(ValueError, match=r"input length 0"):
            PoolSpec((1,), padding="same").output_shape((0,))
        with pytest.raises(ValueError, match=r"input length 0"):
            PoolSpec((1,)).output_shape((0,))

    def test_huge_values_answer_quickly(self):
        big = 10**12
        spec = PoolSpec((3,), stride=1, padding=2 * big - 1, dilation=big)
        with pytest.raises(ValueError, match=r"steps over every input element"):
            spec.output_shape((1,))
        assert PoolSpec((2,), stride=1).output_shape((big,)) == (big - 1,)

    @pytest.mark.parametrize("shape", [(4,), (4, 4, 4), ()])
    def test_spatial_shape_length(self, shape):
        with pytest.raises(ValueError, match=r"spatial_shape must have 2 entries"):
            PoolSpec((2, 2)).output_shape(shape)

    def test_spatial_shape_type(self):
        with pytest.raises(TypeError, match=r"spatial_shape"):
            PoolSpec((2,)).output_shape(4)
        with pytest.raises(TypeError, match=r"spatial_shape"):
            PoolSpec((2,)).pads((4.0,))


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"kernel_size": 2}, TypeError, r"kernel_size must be a tuple .* \(2, 2\)"),
        ({"kernel_size": ()}, ValueError, r"1 to 3 entries .* got 0"),
        ({"kernel_size": (2, 2, 2, 2)}, ValueError, r"1 to 3 entries .* got 4"),
        ({"kernel_size": (0, 2)}, ValueError, r"kernel_size must be >= 1 .* got 0 on axis 0"),
        ({"kernel_size": (2, -1)}, ValueError, r"got -1 on axis 1"),
        ({"kernel_size": (2.0,)}, TypeError, r"kernel_size must be an integer, got 2.0"),
        ({"kernel_size": (True,)}, TypeError, r"kernel_size .* bool True"),
        ({"kernel_size": ("2",)}, TypeError, r"kernel_size must be an integer, got '2'"),
        ({"kernel_size": (2,), "stride": 0}, ValueError, r"stride must be >= 1"),
        ({"kernel_size": (2,), "stride": (1, 1)}, ValueError, r"stride .* got 2 entries"),
        ({"kernel_size": (2,), "stride": 1.5}, TypeError, r"stride must be an integer"),
        ({"kernel_size": (2,), "stride": False}, TypeError, r"stride .* bool"),
        ({"kernel_size": (2,), "dilation": 0}, ValueError, r"dilation must be >= 1"),
        ({"kernel_size": (2, 2), "dilation": (1,)}, ValueError, r"dilation .* 1 entries"),
        ({"kernel_size": (2,), "padding": -1}, ValueError, r"padding must be >= 0, got -1"),
        ({"kernel_size": (2,), "padding": 1.0}, TypeError, r"padding must be an integer"),
        ({"kernel_size": (2,), "padding": None}, TypeError, r"padding must be an integer"),
        ({"kernel_size": (2,), "padding": "SAME"}, ValueError, r"one of .* got 'SAME'"),
        ({"kernel_size": (2,), "padding": "full"}, ValueError, r"padding string .* 'full'"),
        ({"kernel_size": (2, 2), "padding": (1,)}, ValueError, r"padding .* got 1 entries"),
        ({"kernel_size": (2,), "padding": (1, 2)}, ValueError, r"write \(\(1, 2\),\)"),
        ({"kernel_size": (2,), "padding": ((1, 2, 3),)}, ValueError, r"\(begin, end\) pair"),
        ({"kernel_size": (2,), "padding": ((1, -2),)}, ValueError, r"padding must be >= 0"),
        ({"kernel_size": (2,), "padding": ((1, True),)}, TypeError, r"padding .* bool"),
        ({"kernel_size": (2,), "ceil_mode": 1}, TypeError, r"ceil_mode must be a bool, got 1"),
        ({"kernel_size": (2,), "ceil_mode": "yes"}, TypeError, r"ceil_mode must be a bool"),
    ],
)
def test_construction_errors(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        PoolSpec(**kwargs)
