"""The standard workloads, from real networks (temporary copy; see impls/workloads.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from impls import PoolSpec


@dataclass(frozen=True)
class Workload:
    label: str
    shape: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    itemsize: int = 4

    @property
    def spec(self) -> PoolSpec:
        return PoolSpec(self.kernel, self.stride, self.padding)

    @property
    def output_shape(self) -> tuple[int, ...]:
        nd = len(self.kernel)
        return self.shape[:-nd] + self.spec.output_shape(self.shape[-nd:])

    @property
    def input_bytes(self) -> int:
        return math.prod(self.shape) * self.itemsize

    def make_input(self) -> np.ndarray:
        return np.random.default_rng(0).standard_normal(self.shape, dtype=np.float32)


WORKLOADS = {
    w.label: w
    for w in (
        Workload("lenet", (64, 6, 28, 28), (2, 2), (2, 2), (0, 0)),
        Workload("vgg", (16, 64, 224, 224), (2, 2), (2, 2), (0, 0)),
        Workload("resnet", (32, 64, 112, 112), (3, 3), (2, 2), (1, 1)),
        Workload("spp", (8, 256, 20, 20), (5, 5), (1, 1), (2, 2)),
        Workload("audio", (32, 64, 16000), (4,), (4,), (0,)),
        Workload("video", (4, 64, 16, 56, 56), (2, 2, 2), (2, 2, 2), (0, 0, 0)),
    )
}
