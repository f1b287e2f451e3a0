"""Commands for the tests' child Pythons: they import ``impls`` as the tests do.

``python -m`` and ``python -c`` put the working directory first on ``sys.path``
(Python 3.10 has no ``-P``): a child started in the checkout would import
``./impls`` instead of the installed package. These commands move that entry to
the end, where it still finds the checkout's ``tests`` and ``examples``.
"""

from __future__ import annotations

import sys

__all__ = ["python_code", "python_module"]

_LAST = "import sys; sys.path.append(sys.path.pop(0))\n"


def python_module(module: str, *args: str) -> list[str]:
    """The command ``python -m module *args``, with the working directory last on sys.path."""
    run = "import runpy; runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
    return [sys.executable, "-c", _LAST + run, module, *args]


def python_code(code: str) -> list[str]:
    """The command ``python -c code``, with the working directory last on sys.path."""
    return [sys.executable, "-c", _LAST + code]
