"""auto: send each forward call to the implementation measured fastest for its kind of case.

The choice depends only on the geometry (through `DispatchCase`), never on the data,
so it is deterministic. Rules whose implementation is not registered are
skipped: `impls.fast.numba_pool` is registered only where numba is installed, and
without it auto chooses among the pure-NumPy implementations. Backward needs
only the indices: auto uses the compiled scatter of `impls.fast.numba_pool` where
numba is installed, else the one the NumPy implementations share
(`impls.fast.blocks.flat_scatter_worker`).

The rules in `RULES` come from measurements recorded in
``docs/auto-dispatch.md`` (which case, which winner, by how much), made with
``python -m scripts.auto_dispatch``; that command also reports whether
every rule still picks the measured winner.

Cost
----
That of the chosen implementation. The choice is made once per plan (per
spec, shape, dtype and layout: `impls.fast.blocks`); a repeated call goes
straight to the chosen implementation's plan.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.fast.auto import AutoMaxPool
>>> x = np.arange(16.0).reshape(4, 4)
>>> values, indices = AutoMaxPool().forward(x, PoolSpec((2, 2)))
>>> values
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from ..geometry import Geometry, geometry_for_shape
from ..registry import BUILTIN, OPTIONAL, get
from ..spec import PoolSpec
from .blocks import BackwardPlan, BlockedMaxPool, ForwardPlan
from .van_herk import VanHerkMaxPool
from .whole_plane import WholePlaneMaxPool, is_whole_plane

__all__ = [
    "COMPILED_BELOW",
    "PRIVATE_PATHS",
    "RULES",
    "RUNNING_MAX_FROM",
    "AutoMaxPool",
    "DispatchCase",
    "Rule",
]


@dataclass(frozen=True)
class DispatchCase:
    """What the rules look at: the geometry of one call, summarised."""

    pooled_axes: int  # 1, 2 or 3
    windows_overlap: bool  # some input element belongs to several windows
    unit_stride: bool  # stride 1 on every pooled axis
    window_size: int  # elements per window, K
    window_elements: int  # elements read by all windows together: outputs * K
    whole_plane: bool = False  # one window per plane, reading all of it
    mean_kernel: float = 1.0  # kernel elements per pooled axis, on average

    @classmethod
    def of(cls, geometry: Geometry) -> DispatchCase:
        """The case of a compact geometry (`impls.geometry.Geometry.compact`)."""
        spec = geometry.spec
        overlap = any(s < e for s, e in zip(spec.stride, spec.extent, strict=True))
        outputs = geometry.batch * geometry.output_plane_size
        return cls(
            pooled_axes=spec.ndim,
            windows_overlap=overlap,
            unit_stride=all(s == 1 for s in spec.stride),
            window_size=spec.window_size,
            window_elements=outputs * spec.window_size,
            whole_plane=is_whole_plane(geometry),
            mean_kernel=sum(spec.kernel_size) / spec.ndim,
        )


@dataclass(frozen=True)
class Rule:
    """If ``applies(case)``, run forward with ``forward``; ``why`` cites the measurement."""

    applies: Callable[[DispatchCase], bool]
    forward: str
    why: str


# Kernel elements per axis, on average, from which the running maximum of
# impls.fast.van_herk beats the other NumPy implementations with stride 1 (1-D k33
# and 2-D k17 still lose, 1-D k65 is about even; in 3-D, 3x3x3 to 13x13x13
# lose to separable by 3x to 7x).
RUNNING_MAX_FROM = {1: 64, 2: 32}

# Stride-1 windows from which the compiled implementation, whose cost grows
# with the window size K, loses to the NumPy paths that do not: separable's
# k0 + k1 passes in 2-D and 3-D (2-D k17 numba 1.3x ahead, k21 separable 1.2x),
# the running maximum in 1-D (k257 numba 3.3x ahead, k511 about even).
COMPILED_BELOW = {1: 512, 2: 19 * 19, 3: 19 * 19}


def _compiled_wins(case: DispatchCase) -> bool:
    if case.whole_plane or not (case.unit_stride and case.windows_overlap):
        return True
    return case.window_size < COMPILED_BELOW[case.pooled_axes]


# First match among the registered implementations wins; the last rule
# matches everything. The measurements behind each rule are in
# docs/auto-dispatch.md.
RULES: tuple[Rule, ...] = (
    Rule(
        _compiled_wins,
        forward="numba",
        why="compiled (where numba is installed): ahead of the NumPy implementations on "
        "every measured case but large stride-1 windows (19x19 and more in 2-D and 3-D, "
        "k512 and more in 1-D), whose cost the others do not tie to the window size",
    ),
    Rule(
        lambda case: case.whole_plane,
        forward="wholeplane",
        why="one window over the whole plane (global pooling, ResNet-50 head): one argmax "
        "per plane reads the input once, whatever the kernel size",
    ),
    Rule(
        lambda case: case.window_elements < 1 << 20,
        forward="sliced",
        why="little work (LeNet-5, small inputs): no staging copy to amortise",
    ),
    Rule(
        lambda case: (
            case.unit_stride
            and case.mean_kernel >= RUNNING_MAX_FROM.get(case.pooled_axes, float("inf"))
        ),
        forward="vanherk",
        why="large stride-1 windows (1-D k65, 2-D k33): the running maximum costs a fixed "
        "number of passes per element, whatever the kernel",
    ),
    Rule(
        lambda case: (
            case.windows_overlap
            and case.unit_stride
            and case.window_size >= 9
            and case.pooled_axes >= 2
        ),
        forward="separable",
        why="overlapping stride-1 windows in 2-D and 3-D (SPP k5, 3x3 and 3x3x3 s1): one pass "
        "per kernel row and column instead of one per element",
    ),
    Rule(
        lambda case: case.windows_overlap and not case.unit_stride and case.pooled_axes <= 2,
        forward="reshape",
        why="strided overlapping windows in 1-D and 2-D (ResNet stem, dilated, 1-D k3 s2): "
        "staged contiguous rows beat strided views",
    ),
    Rule(
        lambda case: True,
        forward="sliced",
        why="disjoint windows, 3-D strides, small stride-1 kernels, 1-D stride-1 windows below "
        "the running maximum's (VGG-16, C3D, k3 s3, 3-D k3 s2, 1-D k5 to k33 s1): staging "
        "costs more than it saves",
    ),
)


# Paths auto takes that are not registered implementations of their own.
PRIVATE_PATHS: dict[str, type[BlockedMaxPool]] = {
    "wholeplane": WholePlaneMaxPool,
    "vanherk": VanHerkMaxPool,
}


def _implementation(name: str, threads: int | None) -> BlockedMaxPool:
    kind = PRIVATE_PATHS.get(name)
    if kind is None:
        registered = get(name)
        if not isinstance(registered, BlockedMaxPool):
            raise TypeError(f"auto runs only blocked implementations, not {name!r}")
        kind = type(registered)
    return kind(threads)


class AutoMaxPool(BlockedMaxPool):
    """Dispatch each forward call to the implementation `RULES` pick for its case.

    Parameters
    ----------
    threads : int, optional
        Threads for the implementations it calls; default
        `impls.fast.threads.get_num_threads`.
    compiled : bool, optional
        Whether to use the compiled implementation (``"numba"``) where it is
        registered; with False, only the pure-NumPy ones. Default True.
    """

    name = "auto"

    def __init__(self, threads: int | None = None, *, compiled: bool = True) -> None:
        super().__init__(threads)
        self._impls: dict[str, BlockedMaxPool] = {
            name: _implementation(name, threads)
            for name in dict.fromkeys(rule.forward for rule in RULES)
            if name in PRIVATE_PATHS or (name in BUILTIN and (compiled or name not in OPTIONAL))
        }

    def wait_until_compiled(
        self,
        dtypes: Iterable[DTypeLike],
        timeout: float | None = None,
        *,
        shape: Sequence[int] | None = None,
        spec: PoolSpec | None = None,
    ) -> bool:
        """Wait for the compiled kernels where numba is registered (True at once elsewhere)."""
        compiled = self._impls.get("numba")
        if compiled is None:
            return True
        return compiled.wait_until_compiled(dtypes, timeout, shape=shape, spec=spec)

    def rule(self, case: DispatchCase) -> Rule:
        """The first rule of `RULES` that applies to ``case`` and whose implementation
        is registered."""
        return next(rule for rule in RULES if rule.forward in self._impls and rule.applies(case))

    def choose(self, x_shape: Sequence[int], spec: PoolSpec) -> str:
        """Name of the implementation whose forward runs for this call.

        Examples
        --------
        >>> numpy_only = AutoMaxPool(compiled=False)
        >>> numpy_only.choose((8, 256, 20, 20), PoolSpec((5, 5), 1, 2))
        'separable'
        >>> numpy_only.choose((64, 6, 28, 28), PoolSpec((2, 2)))
        'sliced'
        """
        geometry = geometry_for_shape(tuple(x_shape), spec)
        return self.rule(DispatchCase.of(geometry.compact)).forward

    def forward_plan(self, array: np.ndarray, geometry: Geometry) -> tuple[ForwardPlan, int]:
        """The plan of the implementation chosen for this case: a repeated call goes
        straight to it."""
        rule = self.rule(DispatchCase.of(geometry.compact))
        return self._impls[rule.forward].forward_plan(array, geometry)

    def backward_plan(
        self, grad: np.ndarray, indices: np.ndarray, geometry: Geometry
    ) -> BackwardPlan:
        """The compiled scatter where numba is registered, else the shared NumPy one."""
        compiled = self._impls.get("numba")
        if compiled is not None:
            return compiled.backward_plan(grad, indices, geometry)
        return super().backward_plan(grad, indices, geometry)
