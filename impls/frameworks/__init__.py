"""Other libraries' max pooling behind this package's contract, for verifying and measuring them.

Each adapter takes and returns NumPy arrays like a `impls.MaxPoolImpl`, adds
no semantics of its own (only the reshaping and conversions the library's
API needs), and declares the library's limits as `impls.Capabilities`, so
that ``maxpool verify torch`` reports the library's own deviations from the
contract, and ``maxpool bench`` can time it beside the implementations here.

- ``torch``: ``torch.nn.functional.max_pool2d/3d(..., return_indices=True)``
  and ``max_pool2d/3d_with_indices_backward``, 1-D as 2-D over a unit axis
  (`impls.frameworks.pytorch`);
- ``onnxruntime``: the ONNX ``MaxPool`` operator with its ``Indices`` output,
  in ONNX Runtime on the CPU; no backward (`impls.frameworks.onnx_runtime`);
- ``jax``: ``jax.lax.reduce_window`` with ``max`` and its ``jax.vjp``, on the
  CPU (`impls.frameworks.jax_lax`), verified as a layer: JAX has no indices,
  so the harness works them out from the gradient;
- ``tensorflow``: ``tf.nn.max_pool1d/2d/3d`` and ``tf.GradientTape``, on the
  CPU (`impls.frameworks.tensorflow_nn`), verified as a layer like JAX;
- ``paddle``: ``paddle.nn.functional.max_pool1d/2d/3d(..., return_mask=True)``
  and ``paddle.grad``, on the CPU (`impls.frameworks.paddle_nn`), its mask
  read as the indices;
- ``tinygrad``: ``Tensor.max_pool2d(..., return_indices=True)`` and its
  autograd, on tinygrad's ``CPU`` device (`impls.frameworks.tinygrad_tensor`).

Examples
--------
>>> FRAMEWORKS
('torch', 'onnxruntime', 'jax', 'tensorflow', 'paddle', 'tinygrad')
>>> framework("caffe")
Traceback (most recent call last):
...
ValueError: unknown framework 'caffe'; known: torch, onnxruntime, jax, tensorflow, paddle, tinygrad
"""

from __future__ import annotations

import importlib
import importlib.util

from impls.protocol import MaxPoolImpl

__all__ = ["FRAMEWORKS", "available", "framework"]

# name -> (module of this package that adapts it, what to install)
_ADAPTERS = {
    "torch": ("impls.frameworks.pytorch", "torch==2.13.0"),
    "onnxruntime": ("impls.frameworks.onnx_runtime", "onnx onnxruntime"),
    "jax": ("impls.frameworks.jax_lax", "jax"),
    "tensorflow": ("impls.frameworks.tensorflow_nn", "tensorflow-cpu"),
    "paddle": ("impls.frameworks.paddle_nn", "paddlepaddle"),
    "tinygrad": ("impls.frameworks.tinygrad_tensor", "tinygrad"),
}
FRAMEWORKS: tuple[str, ...] = tuple(_ADAPTERS)
_REQUIRED = {
    "torch": ("torch",),
    "onnxruntime": ("onnx", "onnxruntime"),
    "jax": ("jax",),
    "tensorflow": ("tensorflow",),
    "paddle": ("paddle",),
    "tinygrad": ("tinygrad",),
}


def available(name: str) -> bool:
    """Whether the libraries the ``name`` adapter needs are installed."""
    return all(importlib.util.find_spec(module) is not None for module in _REQUIRED[name])


def framework(name: str) -> MaxPoolImpl:
    """The adapter for framework ``name``; `ValueError` if unknown or not installed."""
    if name not in _ADAPTERS:
        raise ValueError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
    module, install = _ADAPTERS[name]
    if not available(name):
        raise ValueError(f"{name} is not installed; install it with: pip install {install}")
    return importlib.import_module(module).adapter()
