"""What ``maxpool verify TARGET`` and ``pytest --impl=TARGET`` accept, loaded.

A target is one of:

- a registered name (``strided``; see `impls.names`);
- ``package.module:attribute``, an implementation instance, a class taking no
  arguments, or a `impls.conformance.from_layer` result; the module is
  imported from the current directory too, as ``python -m`` would;
- ``path/to/file.py:attribute``, the same from a file (a relative path is
  relative to the working directory of whoever names the target: see
  `absolute_target`, which ``maxpool verify`` applies before its children,
  running elsewhere, load it);
- a framework: ``torch``, ``onnxruntime``, ``jax``, ``tensorflow``,
  ``paddle`` or ``tinygrad`` (`impls.frameworks.FRAMEWORKS`), when that
  library is installed.

Examples
--------
>>> load_target("naive").name
'naive'
>>> load_target("no-such-thing")
Traceback (most recent call last):
...
ValueError: unknown implementation 'no-such-thing'; known implementations: ...
>>> absolute_target("pool.py:MaxPool", "/home/me")
'/home/me/pool.py:MaxPool'
"""

from __future__ import annotations

import os
import sys

from impls import MaxPoolImpl, resolve
from impls.frameworks import FRAMEWORKS, framework

__all__ = ["absolute_target", "load_target"]


def load_target(target: str) -> MaxPoolImpl:
    """The implementation ``target`` names (see the module docstring for the forms)."""
    if not isinstance(target, str):
        raise TypeError(f"target must be a str, got {target!r}")
    if target in FRAMEWORKS:
        return framework(target)
    if ":" in target and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would, for the user's own modules
    return resolve(target)


def absolute_target(target: str, cwd: str | os.PathLike[str] | None = None) -> str:
    """``target`` with a relative ``path/to/file.py`` made absolute against ``cwd``.

    ``cwd`` defaults to the working directory. Other forms come back as they
    are (a ``package.module`` is found on the child's ``PYTHONPATH``).
    """
    path, sep, attribute = target.rpartition(":")
    if not sep or not path.endswith(".py"):
        return target
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(os.path.abspath(os.getcwd() if cwd is None else cwd), path)
    return f"{path}:{attribute}"  # not normalised: "link/.." is the link's parent
