"""What ``maxpool verify TARGET`` and ``pytest --impl=TARGET`` accept, loaded.

A target is one of:

- a registered name (``strided``; see `impls.names`);
- ``package.module:attribute``, an implementation instance, a class taking no
  arguments, or a `impls.conformance.from_layer` result; the module is
  imported from the current directory too, as ``python -m`` would;
- ``path/to/file.py:attribute``, the same from a file;
- a framework: ``torch``, ``onnxruntime`` or ``jax`` (see `impls.frameworks`),
  when that library is installed.

Examples
--------
>>> load_target("naive").name
'naive'
>>> load_target("no-such-thing")
Traceback (most recent call last):
...
ValueError: unknown implementation 'no-such-thing'; known implementations: ...
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from impls import MaxPoolImpl, resolve
from impls.frameworks import FRAMEWORKS, framework
from impls.registry import instantiate

__all__ = ["load_target"]


def _from_file(target: str) -> MaxPoolImpl:
    path_text, _, attribute = target.rpartition(":")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise ValueError(f"no such file {path_text!r} for {target!r}")
    module_name = f"_maxpool_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path_text!r} for {target!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    obj: object = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{path_text!r} has no attribute {attribute!r}") from None
    return instantiate(obj, target)


def load_target(target: str) -> MaxPoolImpl:
    """The implementation ``target`` names (see the module docstring for the forms)."""
    if not isinstance(target, str):
        raise TypeError(f"target must be a str, got {target!r}")
    if target in FRAMEWORKS:
        return framework(target)
    module, sep, _ = target.rpartition(":")
    if sep and module.endswith(".py"):
        return _from_file(target)
    if sep and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would, for the user's own modules
    return resolve(target)
