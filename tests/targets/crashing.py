"""An implementation whose backward dies with SIGSEGV on an out-of-plane index.

Like PyTorch's backward, it trusts its indices; where PyTorch reads out of
bounds (and may segfault), this one kills its own process with the signal,
every time. Otherwise it is the correct `impls.stride_tricks` implementation.
"""

from __future__ import annotations

import math
import os
import signal

import numpy as np

import impls


class SegfaultsOnBadIndex:
    name = "segfaults-on-bad-index"

    def __init__(self) -> None:
        self._inner = impls.get("strided")

    def forward(self, x, spec):
        return self._inner.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        try:
            plane = math.prod(tuple(input_shape)[len(tuple(input_shape)) - spec.ndim :])
            outside = np.any((np.asarray(indices) < 0) | (np.asarray(indices) >= plane))
        except Exception:
            outside = False
        if outside:
            os.kill(os.getpid(), signal.SIGSEGV)
        return self._inner.backward(grad_out, indices, input_shape, spec)


class ExitsOnThreeAxes(SegfaultsOnBadIndex):
    """Calls ``os._exit(3)`` when asked to pool three axes (a hard exit, no traceback)."""

    name = "exits-on-three-axes"

    def forward(self, x, spec):
        if getattr(spec, "ndim", 0) == 3:
            os._exit(3)
        return self._inner.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        return self._inner.backward(grad_out, indices, input_shape, spec)
