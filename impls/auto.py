"""auto: send each forward call to the implementation measured fastest for its kind of case.

The choice depends only on the geometry (through `Case`), never on the data,
so it is deterministic. Rules whose implementation is not registered are
skipped: `impls.numba_pool` is registered only where numba is installed, and
without it auto chooses among the pure-NumPy implementations. Backward needs
only the indices: auto uses the compiled scatter of `impls.numba_pool` where
numba is installed, else the one the NumPy implementations share
(`impls.blocked.flat_scatter_worker`).

The rules in `RULES` come from measurements recorded in
``docs/auto-dispatch.md`` (which case, which winner, by how much), made with
``python -m benchmarks.auto_dispatch``; that command also reports whether
every rule still picks the measured winner.

Cost
----
That of the chosen implementation, plus choosing: a few microseconds.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.auto import AutoMaxPool
>>> x = np.arange(16.0).reshape(4, 4)
>>> values, indices = AutoMaxPool().forward(x, PoolSpec((2, 2)))
>>> values
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .blocked import BlockedMaxPool
from .registry import BUILTIN, OPTIONAL, get
from .spec import PoolSpec
from .windows import Geometry, geometry_for_shape, prepare_forward

__all__ = ["RULES", "AutoMaxPool", "Case", "Rule"]


@dataclass(frozen=True)
class Case:
    """What the rules look at: the geometry of one call, summarised."""

    pooled_axes: int  # 1, 2 or 3
    windows_overlap: bool  # some input element belongs to several windows
    unit_stride: bool  # stride 1 on every pooled axis
    window_size: int  # elements per window, K
    window_elements: int  # elements read by all windows together: outputs * K

    @classmethod
    def of(cls, geometry: Geometry) -> Case:
        spec = geometry.spec
        overlap = any(s < e for s, e in zip(spec.stride, spec.extent, strict=True))
        outputs = geometry.batch * geometry.output_plane_size
        return cls(
            pooled_axes=spec.ndim,
            windows_overlap=overlap,
            unit_stride=all(s == 1 for s in spec.stride),
            window_size=spec.window_size,
            window_elements=outputs * spec.window_size,
        )


@dataclass(frozen=True)
class Rule:
    """If ``applies(case)``, run forward with ``forward``; ``why`` cites the measurement."""

    applies: Callable[[Case], bool]
    forward: str
    why: str


# First match among the registered implementations wins; the last rule
# matches everything. The measurements behind each rule are in
# docs/auto-dispatch.md.
RULES: tuple[Rule, ...] = (
    Rule(
        lambda case: (
            not (
                case.unit_stride
                and case.windows_overlap
                and case.pooled_axes >= 2
                and case.window_size >= 19 * 19
            )
        ),
        forward="numba",
        why="compiled (where numba is installed): ahead of the NumPy implementations on "
        "every measured case but stride-1 windows of 19x19 and more, where separable's "
        "k0 + k1 passes beat its k0 * k1 steps",
    ),
    Rule(
        lambda case: case.window_elements < 1 << 20,
        forward="sliced",
        why="little work (LeNet-5, small inputs): no staging copy to amortise",
    ),
    Rule(
        lambda case: case.windows_overlap and case.unit_stride and case.window_size >= 9,
        forward="separable",
        why="overlapping stride-1 windows (SPP k5, 3x3 and 3x3x3 s1): one pass per kernel "
        "row and column instead of one per element",
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
        why="disjoint windows, 3-D strides, small stride-1 kernels (VGG-16, C3D, k3 s3, "
        "3-D k3 s2): staging costs more than it saves",
    ),
)


class AutoMaxPool(BlockedMaxPool):
    """Dispatch each forward call to the implementation `RULES` pick for its case.

    Parameters
    ----------
    threads : int, optional
        Threads for the implementations it calls; default
        `impls.parallel.get_num_threads`.
    compiled : bool, optional
        Whether to use the compiled implementation (``"numba"``) where it is
        registered; with False, only the pure-NumPy ones. Default True.
    """

    name = "auto"

    def __init__(self, threads: int | None = None, *, compiled: bool = True) -> None:
        super().__init__(threads)
        self._impls: dict[str, BlockedMaxPool] = {
            rule.forward: type(get(rule.forward))(threads)
            for rule in RULES
            if rule.forward in BUILTIN and (compiled or rule.forward not in OPTIONAL)
        }

    def rule(self, case: Case) -> Rule:
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
        return self.rule(Case.of(geometry)).forward

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        """Pool ``x`` with the forward implementation chosen for its case."""
        array, geometry = prepare_forward(x, spec)
        rule = self.rule(Case.of(geometry))
        return self._impls[rule.forward].forward(array, spec)

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: PoolSpec,
    ) -> np.ndarray:
        """Add each ``grad_out`` element to the input element its index names."""
        compiled = self._impls.get("numba")
        if compiled is not None:
            return compiled.backward(grad_out, indices, input_shape, spec)
        return super().backward(grad_out, indices, input_shape, spec)
