import numpy as np

import impls
from impls import Capabilities
from impls.limits import square_kernel


class Pool:
    """2-D float32 only, square kernels; refuses the rest with NotImplementedError.

    Registered through an entry point by `tests/test_entry_points.py`, to show that
    a third-party implementation with limits never makes the self-tests fail.
    """

    name = "limited-pool"
    capabilities = Capabilities(ndims=(2,), dtypes=("float32",), supports=square_kernel)

    def __init__(self):
        self._inner = impls.get("strided")

    def _check(self, spec, dtype):
        if spec.ndim != 2 or np.dtype(dtype) != np.float32 or len(set(spec.kernel_size)) > 1:
            raise NotImplementedError("limited-pool pools 2-D float32 with square kernels")

    def forward(self, x, spec):
        self._check(spec, np.asarray(x).dtype)
        return self._inner.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        self._check(spec, np.asarray(grad_out).dtype)
        return self._inner.backward(grad_out, indices, input_shape, spec)
