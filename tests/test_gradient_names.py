"""Naming backward bugs from the whole call: each classic pattern gets its own true name.

The expected gradients here are worked out by hand from the contract and from
what each buggy backward does, not by the harness.
"""

from __future__ import annotations

import numpy as np
import pytest

from impls import PoolSpec
from impls.conformance.gradients import (
    DROPS_INF,
    DROPS_NAN_WINDOW,
    LAST_TIE,
    NAN_GRADIENTS,
    NAN_TO_NUMBER,
    OVERWRITES,
    SIGNED_ZERO,
    SPLITS_TIES,
    SPLITS_WITH_PADDING,
    UNEXPLAINED,
    WHOLE_TO_EVERY_TIE,
    ZERO_PADDING_WINS,
    distinct_labels,
    gradient_bugs,
)

NAN, INF = np.nan, np.inf
TILES = PoolSpec((2, 2))  # 2x2 windows, stride 2
# Windows of a 2x4 plane: {0, 1, 4, 5} and {2, 3, 6, 7}.
TIED = np.array([[5.0, 5.0, 1.0, 2.0], [0.0, 5.0, 3.0, 0.0]])
TIED_ROUTING = np.array([[0, 6]])  # the contract: the first 5, and the 3
GRAD = np.array([[4.0, 2.0]])


def test_a_right_backward_has_no_bug():
    got = np.array([[4.0, 0, 0, 0], [0, 0, 2.0, 0]])
    assert gradient_bugs(TIED, TILES, GRAD, got, TIED_ROUTING) == []


@pytest.mark.parametrize(
    ("got", "kind"),
    [
        # 4 split over the three 5s
        ([[4 / 3, 4 / 3, 0, 0], [0, 4 / 3, 2, 0]], SPLITS_TIES),
        # 4 to each of the three 5s
        ([[4, 4, 0, 0], [0, 4, 2, 0]], WHOLE_TO_EVERY_TIE),
        # 4 to the last 5
        ([[0, 0, 0, 0], [0, 4, 2, 0]], LAST_TIE),
    ],
)
def test_tie_rules_are_named(got, kind):
    assert gradient_bugs(TIED, TILES, GRAD, np.array(got), TIED_ROUTING) == [kind]


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_ties_are_exact_for_64_bit_integers(dtype):
    # Distinct integers near the top of the type round to one float64: they must not
    # seem tied. Windows {0, 1, 4, 5} and {2, 3, 6, 7}; the first holds two tied maxima.
    top = int(np.iinfo(dtype).max)
    x = np.array([[top, top, top - 9, top - 7], [top - 3, top - 1, top - 8, top - 6]], dtype)
    routing = np.array([[0, 7]])
    got = np.array([[4.0, 4.0, 0, 0], [0, 0, 0, 2.0]])  # 4 to both tops, 2 to top - 6 alone
    assert gradient_bugs(x, TILES, GRAD, got, routing) == [WHOLE_TO_EVERY_TIE]


def test_a_nan_window_sending_nan_everywhere_is_named_beside_the_split():
    x = np.array([[NAN, 5.0, 1.0, 2.0], [0.0, 5.0, 3.0, 3.0]])
    routing = np.array([[0, 6]])
    # mask = window == max: the NaN window matches nothing and divides 0 by 0;
    # the second window splits 2 over its two 3s.
    got = np.array([[NAN, NAN, 0, 0], [NAN, NAN, 1, 1]])
    assert set(gradient_bugs(x, TILES, GRAD, got, routing)) == {NAN_GRADIENTS, SPLITS_TIES}


def test_a_nan_window_sending_nothing_is_named():
    x = np.array([[NAN, 5.0, 1.0, 2.0], [0.0, 5.0, 3.0, 0.0]])
    got = np.array([[0, 0, 0, 0], [0, 0, 2.0, 0]])
    assert gradient_bugs(x, TILES, GRAD, got, np.array([[0, 6]])) == [DROPS_NAN_WINDOW]


def test_overwriting_where_windows_overlap_is_named():
    x = np.array([[0.0, 9.0, 0.0]])  # both windows of k2 s1 select the 9
    spec = PoolSpec((1, 2), stride=1)
    got = np.array([[0.0, 3.0, 0.0]])  # the second gradient replaced the first
    grad = np.array([[5.0, 3.0]])
    assert gradient_bugs(x, spec, grad, got, np.array([[1, 1]])) == [OVERWRITES]


def test_dropped_output_columns_are_told_from_overwriting():
    x = np.array([[0.0, 9.0, 0.0]])
    spec = PoolSpec((1, 2), stride=1)
    got = np.array([[0.0, 5.0, 0.0]])  # the first gradient alone: the second output dropped
    grad = np.array([[5.0, 3.0]])
    kinds = gradient_bugs(x, spec, grad, got, np.array([[1, 1]]))
    assert kinds == ["the gradient of the last output columns reaches no element"]


def test_no_guess_where_no_pattern_fits():
    got = np.array([[7.0, 0, 0, 0], [0, 0, 2.0, 0]])
    assert gradient_bugs(TIED, TILES, GRAD, got, TIED_ROUTING) == [UNEXPLAINED]


def test_routing_outside_the_windows_is_judged_as_given():
    """Arbitrary in-plane indices: the contract's expectation is the routing itself."""
    got = np.array([[0.0, 0, 0, 6.0], [0, 0, 0, 0]])  # both gradients to element 3, added
    assert gradient_bugs(TIED, TILES, GRAD, got, np.array([[3, 3]])) == []
    overwritten = np.array([[0.0, 0, 0, 2.0], [0, 0, 0, 0]])
    assert gradient_bugs(TIED, TILES, GRAD, overwritten, np.array([[3, 3]])) == [OVERWRITES]


def test_distinct_labels_fit_their_dtype():
    labels = distinct_labels(np.zeros((2, 3, 3), dtype=np.int8), 2)
    assert labels.dtype == np.int8
    np.testing.assert_array_equal(labels[1], np.arange(1, 10).reshape(3, 3))
    assert distinct_labels(np.zeros((20, 20), dtype=np.int8), 2) is None  # 210 > 127


def test_a_running_maximum_through_nan_is_named():
    """``best = first; if v > best: best = v``: NaN wins only where it comes first."""
    x = np.array([[1.0, NAN, NAN, 2.0], [4.0, 0.0, 3.0, 0.0]])
    routing = np.array([[1, 2]])  # the first NaN of each window
    # The first window's running maximum ends at its 4; the second starts at NaN, keeps it.
    got = np.array([[0, 0, 2.0, 0], [4.0, 0, 0, 0]])
    assert gradient_bugs(x, TILES, GRAD, got, routing) == [NAN_TO_NUMBER]


def test_infinite_maxima_dropped_are_told_from_dropped_columns():
    x = np.array([[1.0, 2.0, INF, 0.0]])  # 1x4, windows of (1, 2): {0, 1} and {2, 3}
    spec = PoolSpec((1, 2))
    got = np.array([[0.0, 5.0, 0.0, 0.0]])  # the +inf window's gradient is lost
    grad = np.array([[5.0, 3.0]])
    assert gradient_bugs(x, spec, grad, got, np.array([[1, 2]])) == [DROPS_INF[np.inf]]


def test_minus_zero_gradients_are_named():
    got = np.array([[4.0, -0.0, 0, 0], [0, 0, 2.0, 0]])
    assert gradient_bugs(TIED, TILES, GRAD, got, TIED_ROUTING) == [SIGNED_ZERO]


def test_a_split_with_padding_in_an_all_minus_inf_window_is_named():
    """An all -inf window with one padded slot: the padding takes a third of 3."""
    x = np.array([-INF, -INF])
    spec = PoolSpec((3,), padding=1)  # one window: [pad, -inf, -inf]
    got = np.array([1.0, 1.0])
    assert gradient_bugs(x, spec, np.array([3.0]), got, np.array([0])) == [SPLITS_WITH_PADDING]


def test_infinite_windows_of_both_signs_dropped_are_named_together():
    x = np.array([[INF, 1.0, -INF, -INF]])
    spec = PoolSpec((1, 2))
    got = np.zeros((1, 4))
    kinds = gradient_bugs(x, spec, np.array([[5.0, 3.0]]), got, np.array([[0, 2]]))
    assert set(kinds) == set(DROPS_INF.values())


def test_zero_padding_that_wins_is_named_where_the_call_pads():
    # Windows [pad, -3], [-1, 2], [-5, pad]: padded with zeros, the first and the last
    # pick their padding, and their gradients (1 and 4) are lost.
    x = np.array([-3.0, -1.0, 2.0, -5.0])
    spec = PoolSpec((2,), padding=1)
    got = np.array([0.0, 0.0, 2.0, 0.0])
    assert gradient_bugs(x, spec, np.array([1.0, 2.0, 4.0]), got, np.array([0, 2, 3])) == [
        ZERO_PADDING_WINS
    ]
    # Without padding, nothing is said of it: the same loss is a band of outputs.
    no_padding = gradient_bugs(x, PoolSpec((2,)), np.array([2.0, 4.0]), got, np.array([1, 2]))
    assert ZERO_PADDING_WINS not in no_padding


def test_a_running_maximum_with_ge_is_named_with_the_last_tie():
    # best = first; if v >= best: best = v. Window [2, nan, 2]: NaN never compares true,
    # so the gradient goes to the last 2; window [4, 4]: to the last 4.
    x = np.array([2.0, NAN, 2.0, 4.0, 4.0, 0.0])
    spec = PoolSpec((3,))
    routing = np.array([1, 3])  # the contract: the NaN, and the first 4
    got = np.array([0.0, 0.0, 3.0, 0.0, 5.0, 0.0])
    assert set(gradient_bugs(x, spec, np.array([3.0, 5.0]), got, routing)) == {
        LAST_TIE,
        NAN_TO_NUMBER,
    }
