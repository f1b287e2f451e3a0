"""Naming the bugs behind a wrong gradient, from the whole call: input, spec, grad_out, result.

The contract routes each output's gradient to the one element its index
selects and adds gradients that meet. Backward written by hand breaks this in
a few recognisable ways, and each leaves a pattern over the whole gradient,
not at one element alone. `gradient_bugs` predicts backward's result under
each way, and under pairs and triples of them, and names those whose
prediction is backward's result exactly:

- ties: the gradient split equally among the tied maxima of a window, sent
  whole to each of them, or to the last of them (the mask
  ``window == window.max()`` that hand-written backward builds);
- outputs dropped: the gradient of the last rows or columns of outputs
  reaching no element (a loop bound read from the wrong axis), or of windows
  whose zero padding wins the maximum (the input padded with zeros);
- overwriting: where several windows route to one element, one gradient
  replacing the others instead of adding to them;
- NaN: NaN gradients out of a window that holds NaN, or its gradient
  reaching no element (NaN equals nothing, not even the maximum).

Where no prediction fits, it says what it saw, in plain words, and guesses
nothing.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> x = np.array([5.0, 5.0, 1.0, 2.0])  # the first window ties
>>> spec = PoolSpec((2,))
>>> routing = np.array([0, 3])  # the contract's indices
>>> got = np.array([0.5, 0.5, 0.0, 1.0])  # backward of ones, split over the tie
>>> print(gradient_bug(x, spec, np.ones(2), got, routing)[:60])
splits an output's gradient equally among the tied maxima of
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from impls import PoolSpec

from .windows import flat_targets, gather_windows

__all__ = [
    "DROPS_INF",
    "DROPS_NAN_WINDOW",
    "LAST_TIE",
    "NAN_GRADIENTS",
    "NAN_TO_NUMBER",
    "OVERWRITES",
    "SIGNED_ZERO",
    "SPLITS_TIES",
    "SPLITS_WITH_PADDING",
    "UNEXPLAINED",
    "WHOLE_TO_EVERY_TIE",
    "ZERO_PADDING_WINS",
    "distinct_labels",
    "gradient_bug",
    "gradient_bugs",
    "largest_exact_label",
    "scatter_add",
]

OVERWRITES = "overlapping windows overwrite the gradient instead of adding it"
SPLITS_TIES = (
    "splits an output's gradient equally among the tied maxima of its window "
    "(the contract sends it all to the first)"
)
SPLITS_WITH_PADDING = (
    "splits an output's gradient equally among the tied maxima of its window, padding "
    "included: an all -inf window loses the share of its padding"
)
WHOLE_TO_EVERY_TIE = (
    "sends an output's whole gradient to every tied maximum of its window "
    "(the contract: to the first only)"
)
LAST_TIE = "on a tie, backward sends the gradient to the last maximal element instead of the first"
NAN_GRADIENTS = "a window holding NaN sends NaN gradients to its elements"
DROPS_NAN_WINDOW = (
    "the gradient of a window holding NaN reaches no element "
    "(the contract sends it to the first NaN)"
)
NAN_TO_NUMBER = (
    "a window holding NaN sends its gradient where a running maximum ends (NaN wins only "
    "where it comes first), not to its first NaN"
)
DROPS_INF = {
    np.inf: "the gradient of a window whose maximum is +inf reaches no element",
    -np.inf: "the gradient of a window whose maximum is -inf reaches no element",
}
ZERO_PADDING_WINS = (
    "zero padding wins the maximum: the gradient of a window whose elements are all below "
    "zero goes into the padding, and is lost"
)
SIGNED_ZERO = "returns -0.0 where the contract's sum of gradients is +0.0 (the other signed zero)"
# What is said where no pattern fits: what was seen, no guess.
UNEXPLAINED = "gradients differ from the sum of the gradients routed to each element"

_TIES = {
    "first": None,
    "split": SPLITS_TIES,
    "every": WHOLE_TO_EVERY_TIE,
    "last": LAST_TIE,
    "split_padded": SPLITS_WITH_PADDING,
}
_NAN_RULES = {
    "contract": None,
    "drop": DROPS_NAN_WINDOW,
    "running": NAN_TO_NUMBER,
    "running_last": NAN_TO_NUMBER,
    "nan": NAN_GRADIENTS,
}
_AXIS_NAMES = {1: ("positions",), 2: ("rows", "columns"), 3: ("planes", "rows", "columns")}


def scatter_add(
    grad: np.ndarray, routing: np.ndarray, input_shape: tuple[int, ...], pooled_axes: int
) -> np.ndarray:
    """What backward must return, in float64: each gradient added where its index routes it.

    ``routing`` holds in-plane indices (the contract's format), shaped like ``grad``.
    """
    targets = flat_targets(np.asarray(routing, dtype=np.int64), input_shape, pooled_axes)
    total = np.bincount(
        targets, weights=grad.astype(np.float64).ravel(), minlength=math.prod(input_shape)
    )
    return total.reshape(input_shape)


class _Call:
    """One backward call seen as planes: the input's windows, the gradients, and predictions."""

    def __init__(
        self,
        x: np.ndarray,
        spec: PoolSpec,
        grad: np.ndarray,
        got: np.ndarray,
        routing: np.ndarray,
    ) -> None:
        lead = x.ndim - spec.ndim
        self.spatial = x.shape[lead:]
        self.out = spec.output_shape(self.spatial)
        self.batch = math.prod(x.shape[:lead])
        self.plane_size = math.prod(self.spatial)
        self.raw, in_plane, self.flat, self.inside = gather_windows(x, spec)  # (batch, outputs, K)
        self.elements = np.broadcast_to(in_plane, (self.batch,) + self.flat.shape)
        values = _comparable(self.raw)
        self.windows = np.where(self.inside, values, -np.inf)  # (batch, outputs, K)
        self.nan = np.asarray(np.isnan(self.windows).any(axis=-1))  # (batch, outputs)
        self.grad = grad.astype(np.float64).reshape(self.batch, -1)  # (batch, outputs)
        self.got = np.asarray(got).astype(np.float64).reshape(self.batch, self.plane_size)
        self.routing = np.asarray(routing, dtype=np.int64).reshape(self.batch, -1)
        self._spreads: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.expected = self.predict("first", "contract", None, "add")

    # -- where each output's gradient goes, under a rule ----------------------------

    def _one_hot(self, targets: np.ndarray) -> np.ndarray:
        """Weights (batch, outputs, K): 1 at the window slot of each output's target element."""
        return ((self.elements == targets[..., np.newaxis]) & self.inside) * 1.0

    def _mask(self) -> np.ndarray:
        """``window == window.max()``, as hand-written backward builds it: NaN matches nothing."""
        with np.errstate(invalid="ignore"):
            top = self.windows.max(axis=-1, keepdims=True)
            return (self.windows == top) & self.inside

    def _running_maximum(self, last: bool = False) -> np.ndarray:
        """(batch, outputs): where ``best = first; if v > best: best = v`` ends in each window
        (``v >= best`` with ``last``: the last of tied numbers).

        NaN compares false: it wins only where it comes first.
        """
        best = np.full(self.nan.shape, np.nan)
        chosen = self.routing.copy()
        started = np.zeros(self.nan.shape, dtype=bool)
        for k in range(self.windows.shape[-1]):
            value, inside = self.windows[..., k], self.inside[:, k]
            with np.errstate(invalid="ignore"):
                beats = (value >= best) if last else (value > best)
                take = inside & (~started | beats)
            best = np.where(take, value, best)
            chosen = np.where(take, self.elements[..., k], chosen)
            started |= inside
        return chosen

    def spread(self, ties: str, nan_rule: str) -> tuple[np.ndarray, np.ndarray]:
        """``(elements, weights)``, (batch, outputs, K) each: where gradients go.

        ``ties`` rules the windows without NaN: ``"first"`` is the routing
        given (any in-plane indices); the others follow the mask of hand-written
        backward. ``nan_rule`` rules the windows holding NaN: ``"contract"``
        (the routing given), ``"drop"`` (nowhere), ``"running"`` or
        ``"running_last"`` (where a running maximum ends, with ``>`` or ``>=``)
        or ``"nan"`` (NaN to every element).
        """
        if ties == "first" and (nan_rule == "contract" or not self.nan.any()):
            return self.routing[..., np.newaxis], np.ones(self.routing.shape + (1,))
        if ties == "first":
            weights = self._one_hot(self.routing)
        elif ties == "split":
            mask = self._mask()
            with np.errstate(invalid="ignore", divide="ignore"):
                weights = mask / mask.sum(axis=-1, keepdims=True)
        elif ties == "every":
            weights = self._mask() * 1.0
        elif ties == "split_padded":
            # Padding counts as -inf here: it ties with an all -inf window, and takes
            # its share, which no element receives.
            with np.errstate(invalid="ignore", divide="ignore"):
                top = self.windows.max(axis=-1, keepdims=True)
                tied = self.windows == top
                weights = np.where(self.inside, tied / tied.sum(axis=-1, keepdims=True), 0.0)
        else:  # "last"
            mask = self._mask()
            last = mask.shape[-1] - 1 - mask[..., ::-1].argmax(axis=-1)
            weights = np.zeros(mask.shape)
            np.put_along_axis(weights, last[..., np.newaxis], 1.0, axis=-1)
            weights *= mask.any(axis=-1, keepdims=True)
        if self.nan.any():
            if nan_rule == "contract":
                in_nan = self._one_hot(self.routing)
            elif nan_rule in ("running", "running_last"):
                in_nan = self._one_hot(self._running_maximum(last=nan_rule == "running_last"))
            elif nan_rule == "nan":
                in_nan = np.where(self.inside, np.nan, 0.0) * np.ones(weights.shape)
            else:  # "drop"
                in_nan = np.zeros(weights.shape)
            weights = np.where(self.nan[..., np.newaxis], in_nan, weights)
        return self.elements, weights

    def predict(
        self, ties: str, nan_rule: str, dropped: np.ndarray | None, assign: str
    ) -> np.ndarray:
        """Backward's result (batch, plane) under the rules, dropped outputs and an assignment.

        ``assign`` is ``"add"`` (the contract), or ``"last"``: where several
        outputs reach one element, the last one in row-major output order
        replaces the others (what assigning in a loop, or NumPy's fancy
        assignment, does).
        """
        grad = self.grad if dropped is None else np.where(dropped, 0.0, self.grad)
        if (ties, nan_rule) not in self._spreads:  # the same for every dropped set and assign
            self._spreads[ties, nan_rule] = self.spread(ties, nan_rule)
        elements, weights = self._spreads[ties, nan_rule]
        with np.errstate(invalid="ignore"):
            contributions = grad[..., np.newaxis] * weights
        rows = np.broadcast_to(np.arange(self.batch)[:, None, None], contributions.shape)
        result = np.zeros((self.batch, self.plane_size))
        if assign == "add":
            np.add.at(result, (rows, elements), contributions)
            return result
        for o in range(contributions.shape[1]):
            hit = weights[:, o] != 0
            result[rows[:, o][hit], elements[:, o][hit]] = contributions[:, o][hit]
        return result

    def shared(self) -> bool:
        """Whether two outputs of a plane route to one element (where overwriting can show)."""
        return any(len(np.unique(r)) < len(r) for r in self.routing)

    def dropped_outputs(self) -> Iterator[tuple[tuple[str, ...], np.ndarray]]:
        """Sets of outputs whose gradient hand-written backward may lose, with their names.

        Windows whose maximum is +inf, or -inf, or either (a comparison that
        never holds for them); then bands of trailing outputs (a loop bound
        read from the wrong axis), where a band holds a window of finite
        maximum: a band of infinite ones is told by their values, not their
        place.
        """
        with np.errstate(invalid="ignore"):
            top = self.windows.max(axis=-1)
        infinite = {name: top == infinity for infinity, name in DROPS_INF.items()}
        present = {name: windows for name, windows in infinite.items() if windows.any()}
        for name, windows in present.items():
            yield (name,), windows
        if len(present) == 2:
            yield tuple(present), np.logical_or(*present.values())
        if not self.inside.all():
            # Padding with zeros (np.pad's default) and taking the first maximum.
            padded = np.where(self.inside, self.raw, np.zeros((), self.raw.dtype))
            chosen = padded.argmax(axis=-1)[..., np.newaxis]
            inside = np.broadcast_to(self.inside, padded.shape)
            into_padding = ~np.take_along_axis(inside, chosen, axis=-1)[..., 0]
            if into_padding.any():
                yield (ZERO_PADDING_WINS,), into_padding
        finite = np.isfinite(top)
        names = _AXIS_NAMES.get(len(self.out), ())
        positions = np.indices(self.out).reshape(len(self.out), -1)
        for axis, length in enumerate(self.out):
            along = names[axis] if axis < len(names) else f"positions along pooled axis {axis}"
            for count in range(1, length):
                band = positions[axis] >= length - count
                if (finite & band).any():
                    yield (f"the gradient of the last output {along} reaches no element",), band


def _comparable(values: np.ndarray) -> np.ndarray:
    """``values`` as float64 that order and tie exactly as the values do.

    Floats convert exactly. Integers are replaced by their ranks: 64-bit ones
    near their extremes would round together in float64 and seem tied.
    """
    if values.dtype.kind == "f":
        return values.astype(np.float64)
    ranks = np.unique(values, return_inverse=True)[1]
    return ranks.reshape(values.shape).astype(np.float64)


def _fits(predicted: np.ndarray, got: np.ndarray) -> bool:
    """Whether ``predicted`` equals ``got`` everywhere, to rounding (NaN to NaN)."""
    if not np.array_equal(np.isnan(predicted), np.isnan(got)):
        return False
    finite = ~np.isnan(predicted)
    return bool(np.allclose(predicted[finite], got[finite], rtol=2e-3, atol=0))


def _explained(call: _Call) -> list[str] | None:
    """The fewest bugs whose prediction is backward's result, named; None if none fits."""
    nan_rules = list(_NAN_RULES) if call.nan.any() else ["contract"]
    dropped: list[tuple[tuple[str, ...], np.ndarray | None]] = [
        ((), None),
        *call.dropped_outputs(),
    ]
    assigns = ["add", "last"] if call.shared() else ["add"]
    combos = []
    for tie, nan_rule, (drop_names, drop), assign in itertools.product(
        _TIES, nan_rules, dropped, assigns
    ):
        names = [
            _TIES[tie],
            _NAN_RULES[nan_rule],
            *drop_names,
            OVERWRITES if assign != "add" else None,
        ]
        found = [name for name in names if name is not None]
        if found:
            combos.append((len(found), found, tie, nan_rule, drop, assign))
    combos.sort(key=lambda combo: combo[0])
    fitting: list[list[str]] = []
    for count, found, tie, nan_rule, drop, assign in combos:
        if fitting and count > len(fitting[0]):
            break
        if _fits(call.predict(tie, nan_rule, drop, assign), call.got):
            fitting.append(found)
    if not fitting:
        return None
    # A gradient lost where a window that zero padding wins overlaps an earlier one fits
    # both overwriting and the padding: this call cannot tell them apart, so it names
    # neither. (Elsewhere the first fit in the order above is named: overwriting before
    # a band of outputs dropped, the commoner bug where both fit.)
    named = {name for found in fitting for name in found}
    if {OVERWRITES, ZERO_PADDING_WINS} <= named:
        return None
    return fitting[0]


def gradient_bugs(
    x: np.ndarray,
    spec: PoolSpec,
    grad: np.ndarray,
    got: np.ndarray,
    routing: np.ndarray,
) -> list[str]:
    """The bugs backward's ``got`` shows, against ``grad`` routed to ``routing``; empty if none.

    ``x`` is forward's input, ``spec`` the call's, ``grad`` the ``grad_out``
    given to backward, ``got`` what it returned (shaped like ``x``) and
    ``routing`` the in-plane indices the contract routes by. The fewest bugs
    that account for the whole result; where no pattern fits, one plain
    description of what differs.
    """
    call = _Call(x, spec, grad, got, routing)
    differ = ~((call.got == call.expected) | (np.isnan(call.got) & np.isnan(call.expected)))
    if not differ.any():
        zeros = (call.got == 0) & (np.signbit(call.got) != np.signbit(call.expected))
        return [SIGNED_ZERO] if zeros.any() else []
    return _explained(call) or [_plain(call, differ)]


def _plain(call: _Call, differ: np.ndarray) -> str:
    """What differs, said plainly: gradient missing, or where none belongs, or other values."""
    unexpected_nan = np.isnan(call.got) & ~np.isnan(call.expected)
    if unexpected_nan.any():
        return "backward returns NaN gradients where the contract's are numbers"
    if (call.got[differ] == 0).all():
        return "a selected element receives no gradient"
    if (call.expected[differ] == 0).all():
        return "gradient reaches an element that no index selects"
    return UNEXPLAINED


def largest_exact_label(dtype: np.dtype) -> int | None:
    """The largest whole number ``dtype`` holds exactly, every smaller one too; None
    for a dtype that holds no numbers."""
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).max)
    if dtype.kind == "f":
        return 1 << (int(np.finfo(dtype).nmant) + 1)
    return None


def distinct_labels(grad: np.ndarray, pooled_axes: int) -> np.ndarray | None:
    """Gradients 1, 2, 3... within each plane, in ``grad``'s shape and dtype, or None.

    Distinct labels leave no coincidence between two bugs' predictions (an
    overwrite and a dropped output both leave one gradient where two meet);
    None where their sums would not be exact in the dtype.
    """
    outputs = math.prod(grad.shape[grad.ndim - pooled_axes :])
    total = outputs * (outputs + 1) // 2
    exact = largest_exact_label(grad.dtype)
    if exact is None or total > exact:
        return None
    labels = 1 + np.arange(outputs).reshape(grad.shape[grad.ndim - pooled_axes :])
    return np.ascontiguousarray(np.broadcast_to(labels, grad.shape)).astype(grad.dtype)


def gradient_bug(
    x: np.ndarray,
    spec: PoolSpec,
    grad: np.ndarray,
    got: np.ndarray,
    routing: np.ndarray,
) -> str | None:
    """The first of `gradient_bugs`, or None where backward is right."""
    bugs = gradient_bugs(x, spec, grad, got, routing)
    return bugs[0] if bugs else None
