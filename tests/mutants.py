"""A correct max pool from outside the registry, and the classic bugs as broken copies of it.

`TextbookMaxPool` is written the way a from-scratch framework would write it
(pad, loop over output positions, take the first maximum of each window) and
is registered nowhere: the suite must accept it. Each mutant overrides one
small hook with one classic bug, and names in ``caught_by`` the conformance
properties that must reject it. ``test_mutants.py`` checks both, so every
property is shown to fail on a real bug, and the suite to pass a correct
outsider. Run the suite on any of them to watch it go red, for example::

    python -m pytest --impl=tests.mutants:LastMaximum
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from impls import Capabilities, PoolSpec
from impls.geometry import lowest_value, prepare_backward, prepare_forward

__all__ = ["MUTANTS", "TextbookMaxPool", "TextbookMaxPool2D"]


class TextbookMaxPool:
    """Max pooling by padding, then one vectorised step per output position."""

    name = "textbook"
    caught_by: tuple[str, ...] = ()
    # Words the report's one-line description of the bug must contain.
    named = ""

    # Hooks: each mutant changes one of these.

    def pads(self, spec: PoolSpec, spatial: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        return spec.pads(spatial)

    def output_shape(self, spec: PoolSpec, spatial: tuple[int, ...]) -> tuple[int, ...]:
        return spec.output_shape(spatial)

    def dilation(self, spec: PoolSpec) -> tuple[int, ...]:
        return spec.dilation

    def fill(self, dtype: np.dtype) -> object:
        """The padding value."""
        return lowest_value(dtype)

    def select(self, windows: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Position of the selected element of each row of ``(batch, K)`` windows."""
        candidates = np.broadcast_to(inside, windows.shape)
        if windows.dtype.kind == "f":
            nan = np.isnan(windows) & candidates
            has_nan = nan.any(axis=1, keepdims=True)
            candidates = np.where(has_nan, nan, candidates)
        best = np.where(candidates, windows, lowest_value(windows.dtype)).max(
            axis=1, keepdims=True
        )
        winners = candidates & ((windows == best) | np.isnan(windows))
        return winners.argmax(axis=1)

    def plane_index(
        self,
        coords: Sequence[np.ndarray],
        spatial: tuple[int, ...],
        pads: Sequence[tuple[int, int]],
    ) -> np.ndarray:
        """Row-major flat index of input coordinates ``coords`` (one array per axis)."""
        return np.ravel_multi_index(tuple(coords), spatial)

    def accumulate(
        self, grad_in: np.ndarray, rows: np.ndarray, targets: np.ndarray, grad: np.ndarray
    ) -> None:
        """Add ``grad`` into ``grad_in[rows, targets]``, repeated targets adding up."""
        np.add.at(grad_in, (rows, targets), grad)

    def check_backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        grad, index_array, geometry = prepare_backward(grad_out, indices, input_shape, spec)
        return grad, index_array, geometry.input_shape

    # The algorithm.

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        array, geometry = prepare_forward(x, spec)
        lead, spatial = geometry.lead_shape, geometry.spatial_shape
        batch = math.prod(lead)
        pads, out = self.pads(spec, spatial), self.output_shape(spec, spatial)
        dilation = self.dilation(spec)
        extent = [d * (k - 1) + 1 for k, d in zip(spec.kernel_size, dilation, strict=True)]
        # Enough room on the end side for every window, also with ceil_mode.
        room = [
            max(length + begin, (o - 1) * s + e)
            for length, (begin, _), o, s, e in zip(
                spatial, pads, out, spec.stride, extent, strict=True
            )
        ]
        padded = np.full((batch, *room), self.fill(array.dtype), dtype=array.dtype)
        inside = np.zeros(room, dtype=bool)
        core = tuple(
            slice(begin, begin + length) for (begin, _), length in zip(pads, spatial, strict=True)
        )
        padded[(slice(None),) + core] = array.reshape(batch, *spatial)
        inside[core] = True

        values = np.empty((batch, *out), dtype=array.dtype)
        indices = np.empty((batch, *out), dtype=np.int64)
        offsets = np.array(list(itertools.product(*map(range, spec.kernel_size))))
        for position in itertools.product(*map(range, out)):
            window = tuple(
                slice(o * s, o * s + e, d)
                for o, s, e, d in zip(position, spec.stride, extent, dilation, strict=True)
            )
            rows = padded[(slice(None),) + window].reshape(batch, spec.window_size)
            chosen = self.select(rows, inside[window].reshape(-1))
            values[(slice(None),) + position] = rows[np.arange(batch), chosen]
            coords = [
                o * s - begin + offsets[chosen, axis] * d
                for axis, (o, s, (begin, _), d) in enumerate(
                    zip(position, spec.stride, pads, dilation, strict=True)
                )
            ]
            indices[(slice(None),) + position] = self.plane_index(coords, spatial, pads)
        return values.reshape(lead + out), indices.reshape(lead + out)

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        grad, index_array, shape = self.check_backward(grad_out, indices, input_shape, spec)
        spatial = shape[len(shape) - spec.ndim :]
        batch, plane = math.prod(shape[: len(shape) - spec.ndim]), math.prod(spatial)
        grad_in = np.zeros((batch, plane), dtype=grad.dtype)
        outputs = math.prod(spec.output_shape(spatial))
        targets = index_array.reshape(batch, outputs)
        rows = np.broadcast_to(np.arange(batch)[:, np.newaxis], targets.shape)
        self.accumulate(grad_in, rows, targets, grad.reshape(batch, outputs))
        return grad_in.reshape(shape)


class TextbookMaxPool2D(TextbookMaxPool):
    """The textbook pool, declaring a small part of the contract, and refusing the rest.

    The suite must draw only inside these capabilities: any call outside
    them raises `NotImplementedError`, which the conformance properties
    would report.
    """

    name = "textbook-2d"
    capabilities = Capabilities(
        ndims=(2,), dtypes=("float32", "float64"), padding=False, dilation=False, ceil_mode=False
    )

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        self._refuse(spec, np.asarray(x).dtype)
        return super().forward(x, spec)

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        self._refuse(spec, np.asarray(grad_out).dtype)
        return super().backward(grad_out, indices, input_shape, spec)

    def _refuse(self, spec: object, dtype: np.dtype) -> None:
        if isinstance(spec, PoolSpec):
            missing = self.capabilities.unsupported(spec, dtype)
            if missing:
                raise NotImplementedError(f"{self.name} does not support {', '.join(missing)}")


# ---------------------------------------------------------------------------
# The mutants: one classic bug each.


class _ClipsIndices(TextbookMaxPool):
    """Clamps coordinates into the plane, as code that lets padding win must to return an index."""

    def plane_index(self, coords, spatial, pads):
        clipped = [np.clip(c, 0, n - 1) for c, n in zip(coords, spatial, strict=True)]
        return super().plane_index(clipped, spatial, pads)


class OverwritingGradient(TextbookMaxPool):
    """Backward assigns ``grad_in[idx] = g``: overlapping windows overwrite each other."""

    named = "overwrite"

    name = "overwriting-gradient"
    caught_by = (
        "matches_naive_backward",
        "backward_is_the_adjoint_of_gathering",
        "gradient_is_conserved",
        "overlapping_windows_accumulate",
        "finite_differences_full_jacobian",
        "finite_differences_random_direction",
    )

    def accumulate(self, grad_in, rows, targets, grad):
        grad_in[rows, targets] = grad


class LastMaximum(TextbookMaxPool):
    """Ties go to the last maximum (``>=`` instead of ``>``)."""

    named = "selects the last"

    name = "last-maximum"
    caught_by = ("matches_naive_forward", "first_maximum_on_ties")

    def select(self, windows, inside):
        reversed_choice = TextbookMaxPool.select(self, windows[:, ::-1], inside[::-1])
        return windows.shape[1] - 1 - reversed_choice


class NanDropped(TextbookMaxPool):
    """NaN is skipped, as ``nanmax`` does."""

    named = "NaN"

    name = "nan-dropped"
    caught_by = (
        "matches_naive_forward",
        "nan_propagates_with_the_first_nan_index",
        "whole_plane_window_gives_plane_max",
    )

    def select(self, windows, inside):
        if windows.dtype.kind == "f":
            numbers = inside & ~np.isnan(windows)
            inside = np.where(numbers.any(axis=1, keepdims=True), numbers, inside)
        return super().select(windows, inside)


class ZeroPaddingWins(_ClipsIndices):
    """Pads with zeros and lets padding take part, then clips the index into the plane."""

    named = "padding wins"

    name = "zero-padding-wins"
    caught_by = (
        "matches_naive_forward",
        "values_are_the_input_at_indices",
        "agrees_with_scipy_maximum_filter",
        "shift_and_scale_commute",
    )

    def fill(self, dtype):
        return 0

    def select(self, windows, inside):
        return super().select(windows, np.ones_like(inside))


class NegInfWindowSelectsPadding(_ClipsIndices):
    """Padding holds -inf and is not masked: an all -inf window selects a padded position."""

    named = "all -inf"

    name = "neg-inf-window-selects-padding"
    caught_by = (
        "all_minus_inf_windows_select_their_first_input",
        "indices_lie_in_their_windows",
    )

    def select(self, windows, inside):
        return super().select(windows, np.ones_like(inside))


class OffByOneOutput(TextbookMaxPool):
    """Output length ``(L + p - extent + s - 1) // s``: ceil division mistaken for floor + 1."""

    named = "off by one"

    name = "off-by-one-output"
    caught_by = ("matches_naive_forward", "kernel_one_is_identity")

    def output_shape(self, spec, spatial):
        if isinstance(spec.padding, str) and spec.padding != "valid":
            return super().output_shape(spec, spatial)
        return tuple(
            max(1, (length + begin + end - extent + stride - 1) // stride)
            for length, (begin, end), extent, stride in zip(
                spatial, spec.pads(spatial), spec.extent, spec.stride, strict=True
            )
        )


class CeilDropRuleMissing(_ClipsIndices):
    """ceil_mode keeps the last window even when it starts in the end padding."""

    named = "off by one"

    name = "ceil-drop-rule-missing"
    caught_by = ("matches_naive_forward",)

    def output_shape(self, spec, spatial):
        if not spec.ceil_mode or spec.padding in ("same", "same_lower"):
            return super().output_shape(spec, spatial)
        return tuple(
            -(-(length + begin + end - extent) // stride) + 1
            for length, (begin, end), extent, stride in zip(
                spatial, spec.pads(spatial), spec.extent, spec.stride, strict=True
            )
        )

    def select(self, windows, inside):
        # A window of padding only has no candidate; keep its first element.
        return super().select(windows, inside if inside.any() else np.ones_like(inside))


class DilationIgnored(_ClipsIndices):
    """Windows read adjacent elements whatever the dilation."""

    named = "dilation"

    name = "dilation-ignored"
    caught_by = ("matches_naive_forward", "agrees_with_scipy_maximum_filter")

    def dilation(self, spec):
        return (1,) * spec.ndim


class SameSplitSwapped(TextbookMaxPool):
    """ "same" puts the odd padding unit at the beginning, "same_lower" at the end."""

    named = "'same' padding"

    name = "same-split-swapped"
    caught_by = (
        "matches_naive_forward",
        "pooling_is_separable",
        "agrees_with_scipy_maximum_filter",
    )

    def pads(self, spec, spatial):
        if isinstance(spec.padding, str) and spec.padding != "valid":
            return tuple((end, begin) for begin, end in spec.pads(spatial))
        return spec.pads(spatial)


class PaddedFrameIndices(TextbookMaxPool):
    """Indices address the padded plane, in forward and (consistently) in backward."""

    named = "padded plane"

    name = "padded-frame-indices"
    caught_by = (
        "matches_naive_forward",
        "matches_naive_backward",
        "values_are_the_input_at_indices",
        "indices_lie_in_their_windows",
        "gradient_support_is_the_selected_elements",
    )

    def plane_index(self, coords, spatial, pads):
        padded = tuple(n + b + e for n, (b, e) in zip(spatial, pads, strict=True))
        shifted = [c + b for c, (b, _) in zip(coords, pads, strict=True)]
        return np.ravel_multi_index(tuple(shifted), padded)

    def check_backward(self, grad_out, indices, input_shape, spec):
        shape = tuple(input_shape)
        spatial = shape[len(shape) - spec.ndim :]
        pads = spec.pads(spatial)
        padded = tuple(n + b + e for n, (b, e) in zip(spatial, pads, strict=True))
        coords = np.unravel_index(np.asarray(indices), padded)
        unpadded = [c - b for c, (b, _) in zip(coords, pads, strict=True)]
        in_plane = np.ravel_multi_index(tuple(unpadded), spatial, mode="clip")
        return super().check_backward(grad_out, in_plane, input_shape, spec)


class WindowPositionIndices(TextbookMaxPool):
    """Indices are the position inside the window (the raw argmax)."""

    named = "offsets within the window"

    name = "window-position-indices"
    caught_by = (
        "matches_naive_forward",
        "indices_lie_in_their_windows",
        "kernel_one_is_identity",
    )

    def select(self, windows, inside):
        self._last = super().select(windows, inside)
        return self._last

    def plane_index(self, coords, spatial, pads):
        return self._last


class BatchOffsetIndices(TextbookMaxPool):
    """Indices count from the start of the whole input (ONNX style), not of the plane."""

    named = "leading axes"

    name = "batch-offset-indices"
    caught_by = (
        "matches_naive_forward",
        "values_are_the_input_at_indices",
        "permuting_leading_axes_commutes",
    )

    def forward(self, x, spec):
        values, indices = super().forward(x, spec)
        lead = indices.shape[: indices.ndim - spec.ndim]
        plane = math.prod(np.shape(x)[np.ndim(x) - spec.ndim :])
        offset = np.arange(math.prod(lead)).reshape(lead + (1,) * spec.ndim) * plane
        return values, indices + offset


class ColumnMajorIndices(TextbookMaxPool):
    """Indices flatten the plane in column-major order."""

    named = "column-major"

    name = "column-major-indices"
    caught_by = ("matches_naive_forward", "indices_lie_in_their_windows")

    def plane_index(self, coords, spatial, pads):
        return np.ravel_multi_index(tuple(coords), spatial, order="F")


class Float64Values(TextbookMaxPool):
    """Values come back as float64 whatever the input dtype."""

    named = "dtype"

    name = "float64-values"
    caught_by = ("matches_naive_forward", "kernel_one_is_identity")

    def forward(self, x, spec):
        values, indices = super().forward(x, spec)
        return values.astype(np.float64), indices


class ReducedValues(TextbookMaxPool):
    """Values come from arithmetic on the window, not from the selected element.

    Equal in value, but not bit for bit: ``max + 0`` turns -0.0 into 0.0 and
    every NaN into the canonical one, as a reduction followed by arithmetic
    does (a plain ``max`` reduction keeps either zero and any NaN, depending on
    how SIMD code reads the memory: no test could rely on it).
    """

    named = "bits"

    name = "reduced-values"
    caught_by = ("matches_naive_forward", "values_are_the_input_at_indices")

    def select(self, windows, inside):
        chosen = super().select(windows, inside)
        reduced = np.where(inside, windows, lowest_value(windows.dtype)).max(axis=1)
        if reduced.dtype.kind == "f":
            reduced = reduced + reduced.dtype.type(0)
            reduced[np.isnan(reduced)] = np.nan
        # Write the reduction where the selected element sits, so forward returns it.
        windows[np.arange(len(windows)), chosen] = reduced
        return chosen


class MutatesInput(TextbookMaxPool):
    """Forward cleans NaN out of the caller's array in place."""

    named = "modifies its input"

    name = "mutates-input"
    caught_by = ("leaves_inputs_alone_and_repeats",)

    def forward(self, x, spec):
        result = super().forward(x, spec)
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.flags.writeable:
            x[np.isnan(x)] = -np.inf
        return result


class ZeroesGradOut(TextbookMaxPool):
    """Backward resets the caller's ``grad_out`` to zero once it has used it."""

    named = "modifies grad_out"

    name = "zeroes-grad-out"
    caught_by = ("backward_leaves_inputs_alone_and_repeats",)

    def backward(self, grad_out, indices, input_shape, spec):
        grad_in = super().backward(grad_out, indices, input_shape, spec)
        if isinstance(grad_out, np.ndarray) and grad_out.flags.writeable:
            grad_out[...] = 0
        return grad_in


class NonDeterministic(TextbookMaxPool):
    """Every other call breaks ties the other way (as a racy parallel reduction might)."""

    named = "deterministic"

    name = "non-deterministic"
    caught_by = ("leaves_inputs_alone_and_repeats", "first_maximum_on_ties")

    calls = 0

    def select(self, windows, inside):
        return (LastMaximum.select if self.calls % 2 else TextbookMaxPool.select)(
            self, windows, inside
        )

    def forward(self, x, spec):
        type(self).calls += 1
        return super().forward(x, spec)


class UncheckedIndices(TextbookMaxPool):
    """Backward trusts its indices: out-of-plane ones wrap around or raise IndexError."""

    named = "outside the plane"

    name = "unchecked-indices"
    caught_by = ("raises_the_documented_error", "fuzzed_calls_fail_cleanly")

    def check_backward(self, grad_out, indices, input_shape, spec):
        grad = np.asarray(grad_out)
        return grad, np.asarray(indices), tuple(input_shape)


MUTANTS: tuple[type[TextbookMaxPool], ...] = (
    OverwritingGradient,
    LastMaximum,
    NanDropped,
    ZeroPaddingWins,
    NegInfWindowSelectsPadding,
    OffByOneOutput,
    CeilDropRuleMissing,
    DilationIgnored,
    SameSplitSwapped,
    PaddedFrameIndices,
    WindowPositionIndices,
    BatchOffsetIndices,
    ColumnMajorIndices,
    Float64Values,
    ReducedValues,
    MutatesInput,
    ZeroesGradOut,
    NonDeterministic,
    UncheckedIndices,
)
