"""ONNX Runtime's ``MaxPool`` operator, as a `impls.MaxPoolImpl` (forward only).

Each geometry and dtype becomes a one-node ONNX model (opset 22) with both
outputs, ``Y`` and ``Indices``, run by an ``InferenceSession`` on the CPU;
sessions are cached. ONNX takes exactly two leading axes: the adapter runs
``(planes, 1, *spatial)`` and converts ``Indices`` (counted across batch and
channels) back to the contract's per-plane format with
`impls.from_onnx_indices`. "same" padding is resolved to explicit pads.

ONNX Runtime's limits, declared: float16, float32, float64, int8 and uint8;
padding smaller than the kernel. It is an inference runtime: no backward, and
no claim to the contract's argument validation (it checks models when they
load, with its own exception types).

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> pool = adapter()  # doctest: +SKIP
>>> x = np.array([[1.0, 3.0, 2.0]], np.float32)
>>> pool.forward(x, PoolSpec((2,), stride=1))  # doctest: +SKIP
(array([[3., 3.]], dtype=float32), array([[1, 1]]))
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from impls.limits import padding_below_kernel
from impls.onnx import from_onnx_indices
from impls.protocol import Capabilities
from impls.spec import PoolSpec

__all__ = ["CAPABILITIES", "OPSET", "OnnxRuntimeMaxPool", "adapter"]

OPSET = 22
CAPABILITIES = Capabilities(
    dtypes=("float16", "float32", "float64", "int8", "uint8"),
    supports=padding_below_kernel,
    backward=False,
    validates_arguments=False,
)


class OnnxRuntimeMaxPool:
    """ONNX ``MaxPool`` with ``Indices`` in ONNX Runtime (CPU)."""

    name = "onnxruntime"
    capabilities = CAPABILITIES

    def __init__(self) -> None:
        import onnx
        import onnxruntime

        self.onnx = onnx
        self.runtime = onnxruntime
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<onnxruntime {self.runtime.__version__} MaxPool (opset {OPSET})>"

    @functools.lru_cache(maxsize=256)  # noqa: B019 (one adapter per process)
    def _session(
        self,
        dtype: str,
        kernel: tuple[int, ...],
        stride: tuple[int, ...],
        pads: tuple[int, ...],
        dilation: tuple[int, ...],
        ceil_mode: bool,
    ) -> Any:
        helper = self.onnx.helper
        element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        node = helper.make_node(
            "MaxPool",
            ["X"],
            ["Y", "Indices"],
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=list(pads),
            dilations=list(dilation),
            ceil_mode=int(ceil_mode),
        )
        graph = helper.make_graph(
            [node],
            "maxpool",
            [helper.make_tensor_value_info("X", element, None)],
            [
                helper.make_tensor_value_info("Y", element, None),
                helper.make_tensor_value_info("Indices", self.onnx.TensorProto.INT64, None),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        options = self.runtime.SessionOptions()
        options.log_severity_level = 3
        return self.runtime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        split = x.ndim - spec.ndim
        spatial = x.shape[split:]
        pairs = spec.pads(spatial)
        pads = tuple(begin for begin, _ in pairs) + tuple(end for _, end in pairs)
        with self._lock:
            session = self._session(
                x.dtype.name, spec.kernel_size, spec.stride, pads, spec.dilation, spec.ceil_mode
            )
        planes = np.ascontiguousarray(x).reshape((math.prod(x.shape[:split]), 1) + spatial)
        values, onnx_indices = session.run(None, {"X": planes})
        indices = from_onnx_indices(onnx_indices, planes.shape, spec)
        out = x.shape[:split] + values.shape[2:]
        return values.reshape(out), indices.reshape(out)

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        raise NotImplementedError("ONNX Runtime's MaxPool has no backward")


def adapter() -> OnnxRuntimeMaxPool:
    """The ONNX Runtime adapter."""
    return OnnxRuntimeMaxPool()
