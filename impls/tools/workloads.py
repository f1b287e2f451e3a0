"""Standard benchmark workloads: max pools taken from well-known networks.

This module is the single source of truth for the workloads used by both
``maxpool bench`` and the asv benchmarks in ``benchmarks/``. asv runs the
benchmark code of the working tree against the package built from older
commits, which lack this module, so the benchmarks load this file by path.
It therefore imports only the standard library and NumPy, never ``impls``.

Examples
--------
>>> from impls.tools.workloads import WORKLOADS, by_name
>>> [w.name for w in WORKLOADS][:3]
['lenet5', 'vgg16', 'resnet50']
>>> by_name("resnet50").spec_kwargs
{'kernel_size': (3, 3), 'stride': 2, 'padding': 1}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "NAIVE_STEP_BUDGET",
    "WORKLOADS",
    "Workload",
    "by_name",
    "naive_steps",
    "random_input",
]

# The naive loops cost about a microsecond per window element; above this
# many elements one call takes more than a couple of seconds, so the
# benchmarks and ``maxpool bench`` skip ``naive`` there.
NAIVE_STEP_BUDGET = 2_000_000


@dataclass(frozen=True)
class Workload:
    """One pooling layer of a real network, float32 NCHW (or NCL, NCDHW).

    Attributes
    ----------
    name : str
        Short identifier used on the command line and in asv parameters.
    description : str
        Where the layer comes from.
    input_shape : tuple of int
        Batch, channels, then the pooled axes.
    kernel_size : tuple of int
        Window size per pooled axis.
    stride : int
        Step between windows, on every pooled axis.
    padding : int
        Padding on both sides of every pooled axis.
    dtype : str
        NumPy dtype name of the input.
    """

    name: str
    description: str
    input_shape: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: int
    padding: int = 0
    dtype: str = "float32"

    @property
    def spec_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``impls.PoolSpec``."""
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}


WORKLOADS: tuple[Workload, ...] = (
    Workload("lenet5", "LeNet-5 subsampling", (64, 6, 28, 28), (2, 2), 2),
    Workload("vgg16", "VGG-16 first pool", (16, 64, 224, 224), (2, 2), 2),
    Workload("resnet50", "ResNet-50 stem pool", (32, 64, 112, 112), (3, 3), 2, 1),
    Workload("spp", "YOLO SPP, overlapping stride 1", (8, 256, 20, 20), (5, 5), 1, 2),
    Workload("audio1d", "1-D audio pool", (32, 64, 16000), (4,), 4),
    Workload("video3d", "C3D video pool", (4, 64, 16, 56, 56), (2, 2, 2), 2),
    Workload("global", "ResNet-50 head, global max pool", (32, 2048, 7, 7), (7, 7), 7),
)


def by_name(name: str) -> Workload:
    """Return the standard workload called ``name``.

    Raises
    ------
    ValueError
        If there is no such workload; the message lists the known names.
    """
    for workload in WORKLOADS:
        if workload.name == name:
            return workload
    known = ", ".join(w.name for w in WORKLOADS)
    raise ValueError(f"unknown workload {name!r}; known workloads: {known}")


def naive_steps(input_shape: tuple[int, ...], spec: Any) -> int:
    """Number of window elements the naive loops visit for one forward call.

    ``spec`` is an ``impls.PoolSpec`` (duck-typed: ``ndim``, ``window_size``
    and ``output_shape`` are all that is used).

    Examples
    --------
    >>> from impls import PoolSpec
    >>> naive_steps((64, 6, 28, 28), PoolSpec((2, 2), stride=2))
    301056
    """
    lead = input_shape[: len(input_shape) - spec.ndim]
    outputs = math.prod(spec.output_shape(input_shape[len(lead) :]))
    return math.prod(lead) * outputs * spec.window_size


def random_input(shape: tuple[int, ...], dtype: str = "float32", seed: int = 0) -> np.ndarray:
    """Reproducible benchmark data: standard normal floats, or integers over the dtype's range.

    Examples
    --------
    >>> x = random_input((2, 3), seed=1)
    >>> x.dtype, x.shape
    (dtype('float32'), (2, 3))
    >>> bool((random_input((2, 3), seed=1) == x).all())
    True
    """
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        # standard_normal only produces float32 and float64 directly.
        native = kind if kind.itemsize >= 4 else np.dtype(np.float32)
        return rng.standard_normal(shape, dtype=native).astype(kind, copy=False)
    info = np.iinfo(kind)
    return rng.integers(info.min, info.max, size=shape, dtype=kind, endpoint=True)
