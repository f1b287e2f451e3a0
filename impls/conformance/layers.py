"""Verifying a layer class as it is: `from_layer` presents it as an implementation.

From-scratch frameworks write MaxPool as a layer: built with its pool size
and stride, with ``forward(x)`` and ``backward(dy)``, remembering where each
maximum came from, and often exposing no indices at all. `from_layer` turns
such a class into an object that ``maxpool verify`` and ``pytest --impl``
accept, with a few declarations instead of glue:

>>> from impls import PoolSpec
>>> from impls.conformance import from_layer
>>> from impls.limits import one_stride, square_kernel
>>> class MyPool:  # the user's layer, unchanged
...     def __init__(self, size, stride): ...
>>> maxpool = from_layer(
...     lambda spec, input_shape: MyPool(spec.kernel_size[0], spec.stride[0]),
...     leading_axes=2,
...     supports=square_kernel & one_stride,
... )

Where the layer exposes no indices, the harness works them out from its
backward: it sends labelled gradients through groups of outputs whose
windows do not overlap, and sees where each label lands. Such a layer's
forward is judged on its values alone, and everything the worked-out indices
decide belongs to its backward (`impls.conformance.checks.derives_indices`):
a broken backward never fails a forward check. Overwriting on overlapping
windows does not show in the probes, so it is caught where it matters: the
properties compare backward on all the outputs at once with the sum of the
routed gradients.

The adapter builds a fresh layer for each call, and runs backward right after
a forward on the same input; so that a layer keeping its cache on the class
(two layers of one network overwriting each other's argmax) is not taken for
a correct one, the first backward calls interleave a second layer's forward
on another input, and the bug is named where it changes the gradient.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from impls import CONTRACT_DTYPES, Capabilities, PoolSpec
from impls.limits import all_of

from .checks import bits, window_table
from .diagnose import fail
from .gradients import (
    OVERWRITES,
    UNEXPLAINED,
    distinct_labels,
    gradient_bug,
    largest_exact_label,
)
from .indices import IndexReader
from .windows import contract_forward, gather_windows

__all__ = ["SHARES_STATE", "LayerImpl", "from_layer"]

# How many forward calls a layer implementation remembers, to run backward later.
MEMORY = 256
# How many backward calls interleave a second layer's forward (see `_check_own_state`).
STATE_CHECKS = 3

SHARES_STATE = (
    "layers share state: another layer's forward changes this layer's backward "
    "(a cache kept on the class, or one instance reused)"
)


def _capacity(dtype: np.dtype) -> int:
    """The largest label ``dtype`` holds exactly (labels are 1, 2, ...); for integers at
    most 2**31."""
    exact = largest_exact_label(dtype) or 0
    return exact if dtype.kind == "f" else min(exact, 2**31)


class LayerImpl:
    """A layer class presented as a `impls.MaxPoolImpl`; made by `from_layer`."""

    def __init__(
        self,
        make: Callable[[PoolSpec, tuple[int, ...]], Any],
        *,
        name: str | None,
        leading_axes: int | None,
        forward: Callable[[Any, np.ndarray], Any] | None,
        backward: Callable[[Any, np.ndarray], Any] | None,
        indices: Callable[..., Any] | None,
        capabilities: Capabilities,
    ) -> None:
        self.make = make
        self._name = name
        self.leading_axes = leading_axes
        self._forward = forward or (lambda layer, x: layer.forward(x))
        self._backward = backward or (lambda layer, grad: layer.backward(grad))
        self._indices = indices
        self.capabilities = capabilities
        self._memory: collections.OrderedDict[tuple[Any, ...], np.ndarray] = (
            collections.OrderedDict()
        )
        # Why an index is -1, by flat output position, for the indices of recent calls.
        self._defects: dict[bytes, dict[int, str]] = {}
        # Whether backward overwrites, by (spec, shape, dtype): see `_overwrites`.
        self._overwriting: dict[tuple[Any, ...], bool] = {}
        self._lock = threading.Lock()
        self._handles = itertools.count(1)
        # Interleaved checks left to run, and whether one showed shared state.
        self._state_checks = STATE_CHECKS
        self._shares_state = False

    def __repr__(self) -> str:
        return f"<layer implementation {self.name!r}>"

    @property
    def name(self) -> str:
        """The name given to `from_layer`, else that of the class ``make`` returns."""
        if self._name is None:
            self._name = _class_name(self.make, self.capabilities, self.leading_axes)
        return self._name

    @property
    def indices_from_backward(self) -> bool:
        """True where the layer gives no indices, and the harness works them out from backward."""
        return self._indices is None

    # -- shapes ------------------------------------------------------------

    def _layer_shape(self, shape: tuple[int, ...], spec: PoolSpec) -> tuple[int, ...]:
        """The shape the layer sees: exactly ``leading_axes`` leading axes."""
        split = len(shape) - spec.ndim
        if self.leading_axes is None or split == self.leading_axes:
            return shape
        lead = shape[:split]
        if split > self.leading_axes:
            merged = math.prod(lead[: split - self.leading_axes + 1])
            lead = (merged,) + lead[split - self.leading_axes + 1 :]
        else:
            lead = (1,) * (self.leading_axes - split) + lead
        return lead + shape[split:]

    # -- the protocol --------------------------------------------------------

    def _run_forward(
        self, x: object, spec: PoolSpec
    ) -> tuple[Any, Any, np.ndarray, tuple[int, ...], bool]:
        """``(layer, values, seen, out_shape, fits)``: a fresh layer's forward on ``x``.

        ``seen`` is the input as the layer saw it; ``fits`` says whether the
        values are an array of the layer's output shape.
        """
        x = np.asarray(x)
        layer_shape = self._layer_shape(x.shape, spec)
        seen = x.reshape(layer_shape)
        layer = self.make(spec, layer_shape)
        if self._name is None:
            self._name = type(layer).__name__
        values = self._forward(layer, seen)
        split = x.ndim - spec.ndim
        out_shape = x.shape[:split] + spec.output_shape(x.shape[split:])
        layer_lead = layer_shape[: len(layer_shape) - spec.ndim]
        fits = isinstance(values, np.ndarray) and values.shape == layer_lead + out_shape[split:]
        if (
            not fits
            and isinstance(values, np.ndarray)
            and values.shape[: len(layer_lead)] == layer_lead
        ):
            # Pooled lengths of its own (off by one, say): shown in the caller's leading
            # axes, so that the report names the lengths, not the axes the adapter added.
            values = values.reshape(x.shape[:split] + values.shape[len(layer_lead) :])
        return layer, values, seen, out_shape, fits

    def forward_values(self, x: object, spec: PoolSpec) -> Any:
        """The layer's values alone (the harness's forward checks): backward is never called."""
        _, values, _, out_shape, fits = self._run_forward(x, spec)
        return values.reshape(out_shape) if fits else values

    def forward_handle(self, x: object, spec: PoolSpec) -> tuple[Any, np.ndarray]:
        """The values, and a handle `backward` takes instead of indices (the backward checks).

        The handle is an int64 array of the output's shape, unique to this
        call; no index is worked out, so backward is not called here.
        """
        x = np.asarray(x)
        _, values, seen, out_shape, fits = self._run_forward(x, spec)
        handle = np.full(out_shape, -next(self._handles), dtype=np.int64)
        self._remember(spec, x.shape, handle, seen, {})
        return (values.reshape(out_shape) if fits else values), handle

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """The layer's values, and its indices (reported, or worked out from backward)."""
        x = np.asarray(x)
        layer, values, seen, out_shape, fits = self._run_forward(x, spec)
        if not fits:
            # Let the harness report the wrong type or shape, in the caller's terms.
            return values, np.zeros(out_shape, dtype=np.int64)
        defects: dict[int, str] = {}
        if self._indices is None:
            indices = self._route(seen, values, spec, defects)
        elif isinstance(self._indices, IndexReader):
            indices = self._indices(layer, seen, values, spec)
        else:
            indices = np.asarray(self._indices(layer, seen, values))
        indices = np.asarray(indices).reshape(out_shape)
        self._remember(spec, x.shape, indices, seen, defects)
        return values.reshape(out_shape), indices

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        """The layer's backward, after its forward on the input that gave ``indices``."""
        input_shape = tuple(int(n) for n in input_shape)
        seen = self._recall(spec, input_shape, np.asarray(indices))
        if seen is None:
            raise NotImplementedError(
                "a layer's backward routes gradients only through its own forward's indices"
            )
        grad_out = np.asarray(grad_out)
        if grad_out.dtype != seen.dtype:
            raise NotImplementedError(
                f"a layer's gradients have its input's dtype ({seen.dtype}), not {grad_out.dtype}"
            )
        layer_out = (
            seen.shape[: seen.ndim - spec.ndim] + grad_out.shape[grad_out.ndim - spec.ndim :]
        )
        layer_grad = grad_out.reshape(layer_out)
        checked, grad_in = self._check_own_state(seen, spec, layer_grad)
        if not checked:  # else the check's own layer, alone, gave this call's result
            layer = self.make(spec, seen.shape)
            self._forward(layer, seen)
            grad_in = self._backward(layer, layer_grad)
        if isinstance(grad_in, np.ndarray) and grad_in.size == math.prod(input_shape):
            return grad_in.reshape(input_shape)
        # Anything else goes back as it is: the harness reports the wrong type or shape.
        return cast(np.ndarray, grad_in)

    def _check_own_state(
        self, seen: np.ndarray, spec: PoolSpec, grad: np.ndarray
    ) -> tuple[bool, object]:
        """Fail if a second layer's forward, between a layer's forward and backward, changes it.

        Runs on the first `STATE_CHECKS` backward calls whose input has a
        decoy selecting other elements; once shared state is seen, every
        backward call fails with `SHARES_STATE`. Returns ``(True, result)``
        where it ran: ``result`` is the backward of a layer alone, the call's
        own result; ``(False, None)`` where it did not.
        """
        with self._lock:
            shared, left = self._shares_state, self._state_checks
        alone_grad: tuple[bool, object] = (False, None)
        if not shared and left > 0:
            decoy = _decoy(seen, spec)
            if decoy is None:
                return alone_grad
            first = self.make(spec, seen.shape)
            self._forward(first, seen)
            second = self.make(spec, seen.shape)
            self._forward(second, decoy)
            interleaved = np.asarray(self._backward(first, grad))
            alone = self.make(spec, seen.shape)
            self._forward(alone, seen)
            alone_grad = (True, self._backward(alone, grad))
            expected = np.asarray(alone_grad[1])
            differ = interleaved.shape != expected.shape or not np.array_equal(
                bits(interleaved), bits(expected)
            )
            with self._lock:
                self._state_checks -= 1
                self._shares_state = self._shares_state or differ
                shared = self._shares_state
        if shared:
            fail(
                SHARES_STATE,
                f"{SHARES_STATE}: after layer A's forward, layer B's forward on another input "
                f"changes A's backward [spec={spec!r}, layer input shape {seen.shape}]",
            )
        return alone_grad

    def explain_index(self, indices: np.ndarray, position: tuple[int, ...]) -> str | None:
        """Why no index could be worked out for the output at ``position`` (None if unknown)."""
        flat = int(np.ravel_multi_index(position, indices.shape))
        with self._lock:
            defects = self._defects.get(_digest(indices), {})
        return defects.get(flat)

    # -- memory of forward calls --------------------------------------------

    def _key(self, spec: PoolSpec, shape: tuple[int, ...], indices: np.ndarray) -> tuple[Any, ...]:
        return (spec, shape, _digest(indices))

    def _remember(
        self,
        spec: PoolSpec,
        shape: tuple[int, ...],
        indices: np.ndarray,
        seen: np.ndarray,
        defects: dict[int, str],
    ) -> None:
        key = self._key(spec, shape, indices)
        with self._lock:
            self._memory[key] = seen.copy()
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY:
                self._memory.popitem(last=False)
            if defects:
                self._defects[_digest(indices)] = defects
                while len(self._defects) > MEMORY:
                    self._defects.pop(next(iter(self._defects)))

    def _recall(
        self, spec: PoolSpec, shape: tuple[int, ...], indices: np.ndarray
    ) -> np.ndarray | None:
        if indices.dtype.kind not in "iu":
            return None
        with self._lock:
            return self._memory.get(self._key(spec, shape, indices.astype(np.int64)))

    # -- indices from the values, and from backward where values tie ---------

    def _probe(self, seen: np.ndarray, spec: PoolSpec, grad: np.ndarray) -> np.ndarray:
        """Backward of a fresh layer (after forward on ``seen``) for ``grad``, as planes."""
        layer = self.make(spec, seen.shape)
        self._forward(layer, seen)
        landed = self._backward(layer, grad)
        if not isinstance(landed, np.ndarray) or landed.size != seen.size:
            what = type(landed).__name__
            if isinstance(landed, np.ndarray):
                what = f"an array of shape {landed.shape}"
            kind = "backward does not return the input's gradient as an ndarray"
            fail(
                kind,
                f"{kind}: it returned {what} for an input of shape {seen.shape}; without "
                "it, no index can be worked out",
            )
        split = seen.ndim - spec.ndim
        batch, plane = math.prod(seen.shape[:split]), math.prod(seen.shape[split:])
        return landed.reshape(batch, plane).astype(np.float64)

    def _route(
        self, seen: np.ndarray, values: np.ndarray, spec: PoolSpec, defects: dict[int, str]
    ) -> np.ndarray:
        """The indices, worked out: where backward sends each output's gradient.

        A first guess costs no backward call: an output whose value (bit for
        bit) is one element of its window stands for that element. Outputs
        whose windows tie, or whose value is no element of the window, are
        probed: outputs whose windows cannot overlap are
        probed together, each with its own label, and each gets the element
        its label lands on. One more probe, with every output labelled, checks
        that backward sends the gradients where the guesses say; where it does
        not (a backward that disagrees with forward, or overwrites), every
        output is probed, and backward alone decides. An output whose label
        lands nowhere, or in several elements, is a defect: its index is -1,
        and `explain_index` says why (a lost label is put down to overwriting
        where the layer overwrites on a single peak: see `_overwrites`).
        """
        split = seen.ndim - spec.ndim
        out = values.shape[split:]
        indices, count = self._guess(seen, values, spec)
        guessed = indices.copy()
        outputs = count.shape[1]
        agrees, _ = self._routes_as_guessed(seen, spec, out, indices)
        # Outputs of no single element (ties, or a value no element has: forward's bug,
        # for the forward checks) are probed: their index is where backward sends them.
        to_probe = count != 1 if agrees else np.ones_like(count, dtype=bool)
        named: str | None = None
        if to_probe.any():
            scattered = set(defects)
            lost = self._probe_groups(seen, spec, out, to_probe, indices, defects)
            scattered = set(defects) - scattered
            if lost or scattered:
                named = self._name_the_bug(seen, spec, out)
            for key in scattered:
                if named is not None:
                    defects[key] = named
            for key in lost:
                if named is not None:
                    defects[key] = named
                    continue
                # Only a clean single peak tells overwriting from a gradient sent into
                # padding (as JAX does for NaN windows): both leave one label where the
                # guesses expect two. The peak goes where this output's value was.
                element = int(guessed[key // outputs, key % outputs])
                overwrites = self._overwrites(seen.shape, seen.dtype, spec, element)
                defects[key] = OVERWRITES if overwrites else _LOST
        return indices

    def _name_the_bug(self, seen: np.ndarray, spec: PoolSpec, out: tuple[int, ...]) -> str | None:
        """The bug backward shows on ``seen`` with small labelled gradients (None if unnamed).

        Backward's result is compared with the labels routed by the contract's
        selection rule (`impls.conformance.gradients.gradient_bug`).
        """
        split = seen.ndim - spec.ndim
        batch = math.prod(seen.shape[:split])
        outputs = math.prod(out)
        layer_out = seen.shape[:split] + out
        grad = distinct_labels(np.zeros(layer_out, dtype=seen.dtype), spec.ndim)
        if grad is None:
            grad = np.broadcast_to(1 + np.arange(outputs) % 3, (batch, outputs)).astype(seen.dtype)
            grad = grad.reshape(layer_out)
        landed = self._probe(seen, spec, grad)
        routing = contract_forward(seen, spec)[1]
        kind = gradient_bug(seen, spec, grad, landed.reshape(seen.shape), routing)
        return None if kind in (None, UNEXPLAINED) else kind

    def _guess(
        self, seen: np.ndarray, values: np.ndarray, spec: PoolSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, count)``: the element each value is, where exactly one is (else -1).

        ``count[b, o]`` is how many elements of the window equal the value: bit
        for bit, or, where none does, as a number (the other signed zero,
        another NaN; the properties report the value itself).
        """
        windows, _, flat, inside = gather_windows(seen, spec)  # (batch, outputs, window)
        chosen = values.reshape(windows.shape[0], flat.shape[0], 1)
        equal = (bits(windows) == bits(chosen)) & inside
        if values.dtype.kind == "f":
            alike = (windows == chosen) | (np.isnan(windows) & np.isnan(chosen))
            missing = ~equal.any(axis=-1, keepdims=True)
            equal |= missing & alike & inside
        count = equal.sum(axis=-1)
        first = flat[np.arange(flat.shape[0])[np.newaxis], equal.argmax(-1)]
        return np.where(count == 1, first, -1), count

    def _overwrites(
        self, shape: tuple[int, ...], dtype: np.dtype, spec: PoolSpec, element: int = -1
    ) -> bool:
        """Whether backward overwrites where windows overlap, seen on a single peak.

        On an input of zeros with one 1 at ``element`` of each plane (a flat
        in-plane index), every window holding the 1 selects it alone; where
        two of them overlap, an overwriting backward leaves one gradient there
        instead of the sum. With a negative ``element`` (the selected one is
        unknown, as on ties), the peak goes where two windows overlap; where
        none do, nothing can be overwritten.
        """
        key = (spec, shape, np.dtype(dtype), element)
        with self._lock:
            if key in self._overwriting:
                return self._overwriting[key]
        split = len(shape) - spec.ndim
        spatial = shape[split:]
        if element < 0:
            flat, inside = window_table(spatial, spec)
            readers = np.bincount(flat[inside], minlength=math.prod(spatial))
            shared = np.flatnonzero(readers >= 2)
            if shared.size == 0:
                with self._lock:
                    self._overwriting[key] = False
                return False
            element = int(shared[shared.size // 2])
        at = tuple(int(i) for i in np.unravel_index(element, spatial))
        peak = np.zeros(shape, dtype=dtype)
        peak[(Ellipsis,) + at] = 1
        layer = self.make(spec, shape)
        values = np.asarray(self._forward(layer, peak))
        indices, _ = self._guess(peak, values, spec)
        _, overwrites = self._routes_as_guessed(peak, spec, values.shape[split:], indices)
        with self._lock:
            self._overwriting[key] = overwrites
        return overwrites

    def _routes_as_guessed(
        self, seen: np.ndarray, spec: PoolSpec, out: tuple[int, ...], indices: np.ndarray
    ) -> tuple[bool, bool]:
        """Send every guessed output's gradient at once: ``(all as guessed, overwrites seen)``.

        Overwriting shows where two outputs route to one element: it holds one
        of their gradients instead of the sum.
        """
        batch, outputs = indices.shape
        known = indices >= 0
        # Small labels keep every sum exact, even in float16 or int8; outputs without a
        # guess send nothing.
        grad = np.where(known, 1 + np.arange(outputs) % 3, 0).astype(seen.dtype)
        layer_out = seen.shape[: seen.ndim - spec.ndim] + out
        landed = self._probe(seen, spec, grad.reshape(layer_out))
        expected = np.zeros_like(landed)
        routed = np.zeros(landed.shape, dtype=np.int64)
        rows = np.broadcast_to(np.arange(batch)[:, np.newaxis], indices.shape)
        np.add.at(expected, (rows[known], indices[known]), grad.astype(np.float64)[known])
        np.add.at(routed, (rows[known], indices[known]), 1)
        if np.array_equal(landed, expected):
            return True, False
        shared = (routed > 1) & (landed != expected)
        for b, element in zip(*np.nonzero(shared), strict=True):
            sent = grad[b][known[b] & (indices[b] == element)].astype(np.float64)
            if landed[b, element] in set(sent.tolist()):
                return False, True
        return False, False

    def _probe_groups(
        self,
        seen: np.ndarray,
        spec: PoolSpec,
        out: tuple[int, ...],
        probed: np.ndarray,
        indices: np.ndarray,
        defects: dict[int, str],
    ) -> list[int]:
        """Send labelled gradients through the ``probed`` outputs; read where each label lands.

        Returns the outputs (``plane * outputs + output``) whose label landed
        nowhere; their indices are -1.
        """
        lost = []
        batch, outputs = probed.shape
        layer_out = seen.shape[: seen.ndim - spec.ndim] + out
        gaps = [min(n, -(-e // s)) for n, e, s in zip(out, spec.extent, spec.stride, strict=True)]
        positions = np.arange(outputs).reshape(out)
        for residue in itertools.product(*(range(g) for g in gaps)):
            group = positions[tuple(slice(r, None, g) for r, g in zip(residue, gaps, strict=True))]
            group = group.ravel()
            group = group[probed[:, group].any(axis=0)]
            step = _capacity(seen.dtype)
            for start in range(0, group.size, step):
                members = group[start : start + step]
                labels = np.zeros((batch, outputs), dtype=seen.dtype)
                labels[:, members] = np.arange(1, members.size + 1, dtype=seen.dtype)
                landed = self._probe(seen, spec, labels.reshape(layer_out))
                found = np.full((batch, members.size), -1, dtype=np.int64)
                receipts = _attribute(landed, members.size, found)
                rows, columns = np.nonzero(probed[:, members])
                outputs_here = members[columns]
                single = receipts[rows, columns] == 1
                indices[rows[single], outputs_here[single]] = found[rows, columns][single]
                for b, k, o in zip(
                    rows[~single], columns[~single], outputs_here[~single], strict=True
                ):
                    indices[b, o] = -1
                    if receipts[b, k] == 0:
                        lost.append(int(b) * outputs + int(o))
                    else:
                        defects[int(b) * outputs + int(o)] = _SCATTERED
        return lost


_LOST = "backward sends an output's gradient to no input element"
_SCATTERED = "backward sends one output's gradient to several input elements"


def _decoy(seen: np.ndarray, spec: PoolSpec) -> np.ndarray | None:
    """An input of ``seen``'s shape and dtype whose windows select other elements, or None."""
    split = seen.ndim - spec.ndim
    batch, plane = math.prod(seen.shape[:split]), math.prod(seen.shape[split:])
    if seen.size == 0 or seen.dtype.name not in CONTRACT_DTYPES:
        return None
    wanted = contract_forward(seen, spec)[1]
    span = min(plane, 100)  # distinct in every dtype, int8 included
    for seed in range(4):
        order = np.random.default_rng(seed).permuted(
            np.broadcast_to(np.arange(plane) % span, (batch, plane)), axis=1
        )
        decoy = order.astype(seen.dtype).reshape(seen.shape)
        if not np.array_equal(contract_forward(decoy, spec)[1], wanted):
            return decoy
    return None


def _class_name(make: Callable[..., Any], caps: Capabilities, leading_axes: int | None) -> str:
    """The name of the class ``make`` builds (``make`` itself if it is a class), else "layer"."""
    if isinstance(make, type):
        return make.__name__
    ndim = caps.ndims[0]
    spec = PoolSpec((2,) * ndim)
    shape = (1,) * (1 if leading_axes is None else leading_axes) + (4,) * ndim
    try:
        return type(make(spec, shape)).__name__
    except Exception:  # make needs another call: the name can wait for the first forward
        return "layer"


def _attribute(landed: np.ndarray, count: int, found: np.ndarray) -> np.ndarray:
    """Read one probe: where each label ``1 .. count`` landed, plane by plane.

    Fills ``found[b, k]`` with the element that received label ``k + 1`` in
    plane ``b`` (where exactly one did) and returns how many received it.
    """
    batch = landed.shape[0]
    planes, elements = np.nonzero(landed)
    labels = landed[planes, elements]
    valid = (labels == np.round(labels)) & (labels >= 1) & (labels <= count)
    slots = planes[valid] * count + labels[valid].astype(np.int64) - 1
    receipts = np.bincount(slots, minlength=batch * count).reshape(batch, count)
    target = np.full(batch * count, -1, dtype=np.int64)
    target[slots] = elements[valid]
    found[...] = np.where(receipts == 1, target.reshape(batch, count), -1)
    return receipts


def _digest(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    return hashlib.blake2b(array.tobytes() + repr(array.shape).encode(), digest_size=16).digest()


def from_layer(
    make: Callable[[PoolSpec, tuple[int, ...]], Any],
    *,
    name: str | None = None,
    leading_axes: int | None = None,
    forward: Callable[[Any, np.ndarray], Any] | None = None,
    backward: Callable[[Any, np.ndarray], Any] | None = None,
    indices: Callable[..., Any] | None = None,
    supports: Callable[[PoolSpec, tuple[int, ...]], bool] | None = None,
    capabilities: Capabilities | None = None,
) -> LayerImpl:
    """Present a layer class as an implementation that the harness can verify.

    Parameters
    ----------
    make : callable
        ``make(spec, input_shape)`` builds the layer for one call;
        ``input_shape`` is the shape the layer will see.
    name : str, optional
        The name in reports (default: the name of the class ``make`` returns).
    leading_axes : int, optional
        Exactly how many leading axes the layer takes: 2 for ``(N, C, H, W)``
        layers, 1 for ``(C, H, W)``; None for any number. Inputs are reshaped
        to fit (extra axes merged into the first, missing ones added as 1).
    forward : callable, optional
        ``forward(layer, x) -> values``; default ``layer.forward(x)``.
    backward : callable, optional
        ``backward(layer, grad_out) -> grad_in``; default
        ``layer.backward(grad_out)``. A lambda covers other signatures, such
        as ``layer.backward(dy, learning_rate)`` or a ``(dX, [])`` return.
        Gradients reach the layer in the dtype of its input.
    indices : callable or IndexReader, optional
        ``indices(layer, x, values)``, called after forward, returns the
        indices in the contract's format; or a reader from
        `impls.conformance.indices` (``window_offsets``, ``axis_offsets``,
        ``axis_positions``, ``onnx_indices``) that converts the layer's own
        format. Without it, the indices are worked out from backward.
    supports : callable, optional
        ``supports(spec, input_shape) -> bool``: the geometry the layer
        accepts, typically predicates from `impls.limits` joined with ``&``.
    capabilities : Capabilities, optional
        Further limits (pooled axes, dtypes, padding, dilation, ceil_mode).

    Returns
    -------
    LayerImpl
        An implementation whose backward takes only its own forward's indices,
        with gradients in the input's dtype, that does not claim argument
        validation unless ``capabilities`` sets ``validates_arguments=True``.
    """
    if not callable(make):
        raise TypeError(f"make must be callable as make(spec, input_shape), got {make!r}")
    if leading_axes is not None and (
        isinstance(leading_axes, bool) or not isinstance(leading_axes, int) or leading_axes < 0
    ):
        raise ValueError(f"leading_axes must be None or an int >= 0, got {leading_axes!r}")
    for label, value in (("forward", forward), ("backward", backward), ("indices", indices)):
        if value is not None and not callable(value):
            raise TypeError(f"{label} must be callable, got {value!r}")
    declared = capabilities or Capabilities()
    if not isinstance(declared, Capabilities):
        raise TypeError(f"capabilities must be an impls.Capabilities, got {declared!r}")
    limit = declared.supports
    if supports is not None:
        limit = supports if limit is None else all_of(limit, supports)
    caps = dataclasses.replace(
        declared,
        supports=limit,
        grad_dtypes="input",
        backward_indices="forward",
        # Validation is claimed only explicitly: a layer is usually called by its framework.
        validates_arguments=declared.validates_arguments is True,
    )
    return LayerImpl(
        make,
        name=name,
        leading_axes=leading_axes,
        forward=forward,
        backward=backward,
        indices=indices,
        capabilities=caps,
    )
