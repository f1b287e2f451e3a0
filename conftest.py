"""Test collection for the whole tree: the tests run against the installed package.

The README's test command, ``pytest`` (the script, not ``python -m pytest``,
which puts the working directory first on ``sys.path`` on Python 3.10), with
``--import-mode=importlib`` (``pyproject.toml``), leaves ``sys.path`` as it is:
``impls`` is imported from site-packages (or from an editable install), and its
doctests are collected there (``--pyargs`` turns ``impls`` in ``testpaths`` into
the installed package). The checkout's ``tests``, ``examples`` and ``benchmarks``
packages are not installed: this directory is appended to ``sys.path``, after
site-packages, so that they import without shadowing the installed ``impls``.

Without numba installed, the numba modules' doctests are not collected
(``tests/test_numba.py`` skips itself).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

NUMBA_MODULES = ("numba_kernels.py", "numba_pool.py")


class _WithoutNumba:
    """Leaves the numba modules of ``impls.fast`` out of collection, wherever installed.

    A plug-in rather than this conftest's own hook or ``collect_ignore``: those
    apply only below this directory, and the installed package lies elsewhere.
    """

    @staticmethod
    def pytest_ignore_collect(collection_path: Path) -> bool | None:
        parts = collection_path.parts
        if parts[-3:-1] == ("impls", "fast") and parts[-1] in NUMBA_MODULES:
            return True
        return None


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("numba") is None:
        config.pluginmanager.register(_WithoutNumba(), "maxpool-without-numba")
