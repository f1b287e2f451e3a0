"""Finding implementations by name, by import path, or through entry points.

Built-in implementations (`impls.catalogue`) are listed in `BUILTIN`; those
that need an optional dependency (`OPTIONAL`) are listed only when it is installed,
and `absent` says why the others are not. Whether it is installed is decided
without importing it (numba alone would add a tenth of a second to ``import
impls``): an installed dependency that fails to import leaves its implementation
on the pure-NumPy path, and `impls.fast.compiled.status` says why. Installed
packages add their own under the ``maxpool.implementations`` entry-point group,
each entry point naming a `MaxPoolImpl` instance or a class that takes no
arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalogue import CATALOGUE
from .protocol import MaxPoolImpl

if TYPE_CHECKING:
    import importlib.metadata

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "OPTIONAL",
    "absent",
    "get",
    "instantiate",
    "is_builtin",
    "load",
    "names",
    "resolve",
]

ENTRY_POINT_GROUP = "maxpool.implementations"

# Built-in implementations that need an optional dependency:
# name -> ("module:attribute", the module it needs, the extra that installs it).
OPTIONAL: dict[str, tuple[str, str, str]] = {
    entry.name: (entry.target, entry.needs, entry.needs)
    for entry in CATALOGUE
    if entry.needs is not None
}


def _installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (nor its package's code)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails, a None in sys.modules
        return False


def _absent_optional() -> dict[str, str]:
    """The `OPTIONAL` implementations whose dependency is not installed, and why."""
    return {
        name: f"needs {module} (not installed); install it with "
        f'pip install "maxpool-impls[{extra}]"'
        for name, (_, module, extra) in OPTIONAL.items()
        if not _installed(module)
    }


_ABSENT = _absent_optional()

# name -> "module:attribute", imported on first use: the catalogue, less the
# implementations whose optional dependency does not import.
BUILTIN: dict[str, str] = {
    entry.name: entry.target for entry in CATALOGUE if entry.name not in _ABSENT
}


def absent() -> dict[str, str]:
    """Built-in implementations left out of `BUILTIN`, and why.

    Examples
    --------
    >>> set(absent()) | set(names()) >= set(OPTIONAL)
    True
    """
    return dict(_ABSENT)


_instances: dict[str, MaxPoolImpl] = {}


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    import importlib.metadata  # on first use: it takes milliseconds to import

    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {ep.name: ep for ep in found if ep.name not in BUILTIN}


def names() -> tuple[str, ...]:
    """Names of the registered implementations: built-ins first, then entry points.

    Examples
    --------
    >>> names()[:3]
    ('naive', 'im2col', 'strided')
    """
    return tuple(BUILTIN) + tuple(sorted(_entry_points()))


def instantiate(obj: Any, origin: str) -> MaxPoolImpl:
    """Turn a loaded object (an instance, or a class taking no arguments) into an impl."""
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as err:
            raise TypeError(
                f"{origin} is a class that cannot be instantiated without arguments: {err}"
            ) from err
    missing = [attr for attr in ("name", "forward", "backward") if not hasattr(obj, attr)]
    if missing:
        raise TypeError(
            f"{origin} does not follow the MaxPoolImpl protocol: it lacks {', '.join(missing)}"
        )
    # hasattr rather than isinstance(obj, MaxPoolImpl): from Python 3.12 the
    # protocol check ignores attributes that __getattr__ provides.
    impl: MaxPoolImpl = obj
    return impl


def _import_file(path_text: str, target: str) -> Any:
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
    return module


def load(target: str) -> MaxPoolImpl:
    """Import ``"package.module:attribute"`` and return the implementation it names.

    The attribute may be dotted (``module:Class.attribute``), and may be an
    instance or a class that takes no arguments. ``"path/to/file.py:attribute"``
    imports the file instead.
    """
    module_name, sep, attribute = target.rpartition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'package.module:attribute', got {target!r}")
    if module_name.endswith(".py"):
        obj: Any = _import_file(module_name, target)
    else:
        try:
            obj = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(
                f"cannot import module {module_name!r} for {target!r}: {err}"
            ) from err
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return instantiate(obj, target)


def get(name: str) -> MaxPoolImpl:
    """Return the registered implementation called ``name``.

    Raises
    ------
    ValueError
        If no implementation has that name; the message lists the known ones.

    Examples
    --------
    >>> get("naive").name
    'naive'
    """
    if not isinstance(name, str):
        raise TypeError(f"implementation name must be a str, got {name!r}")
    if name not in _instances:
        if name in BUILTIN:
            _instances[name] = load(BUILTIN[name])
        else:
            entry_point = _entry_points().get(name)
            if entry_point is None:
                raise ValueError(
                    f"unknown implementation {name!r}; known implementations: {', '.join(names())}"
                )
            _instances[name] = instantiate(entry_point.load(), f"entry point {name!r}")
    return _instances[name]


def is_builtin(impl: object) -> bool:
    """Whether ``impl`` is an instance of one of this package's built-in implementations.

    Examples
    --------
    >>> is_builtin(get("strided")), is_builtin(object())
    (True, False)
    """
    kind = type(impl)
    return f"{kind.__module__}:{kind.__qualname__}" in BUILTIN.values()


def resolve(impl: object) -> MaxPoolImpl:
    """Accept a registered name, a ``"module:attribute"`` path, or an implementation."""
    if isinstance(impl, str):
        return load(impl) if ":" in impl else get(impl)
    return instantiate(impl, repr(impl))
