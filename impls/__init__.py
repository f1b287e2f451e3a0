"""Interchangeable NumPy max-pooling implementations behind one contract.

Every implementation takes an input with any number of leading axes, pools
its trailing ``len(kernel_size)`` axes as a `PoolSpec` describes, and returns
``(values, indices)``; its ``backward`` routes gradients back through the
indices. The contract they all obey is in docs/contract.md.

Examples
--------
>>> import numpy as np
>>> import impls
>>> impls.names()[:3]
('naive', 'im2col', 'strided')
>>> x = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
>>> values, indices = impls.max_pool(x, (2, 2), stride=1)  # impl="auto"
>>> values
array([[5., 6.],
       [8., 9.]])
"""

from .api import DEFAULT_IMPL, MaxPool, max_pool
from .fast.threads import get_num_threads, set_num_threads
from .onnx import from_onnx_indices, to_onnx_indices
from .protocol import CONTRACT_DTYPES, Capabilities, MaxPoolImpl
from .registry import get, load, names, resolve
from .spec import PoolSpec

__all__ = [
    "CONTRACT_DTYPES",
    "DEFAULT_IMPL",
    "Capabilities",
    "MaxPool",
    "MaxPoolImpl",
    "PoolSpec",
    "from_onnx_indices",
    "get",
    "get_num_threads",
    "load",
    "max_pool",
    "names",
    "resolve",
    "set_num_threads",
    "to_onnx_indices",
]

__version__ = "0.1.0"
