"""Implementations that need an optional dependency: registered only where it imports.

These run with and without numba installed: a child process hides numba to
see the package as it is without it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import impls
from impls import registry
from tests.children import python_code

WITHOUT_NUMBA = textwrap.dedent(
    """
    import json, sys
    sys.modules["numba"] = None  # any import of numba now fails, as if not installed
    import impls
    from impls import PoolSpec, registry
    from impls.tools.cli import main

    try:
        impls.get("numba")
    except ValueError as err:
        unknown = str(err)
    main(["bench", "--shape", "2,3,8,8", "--kernel", "2", "--only", "strided",
          "--no-references", "--repeats", "1", "--warmup", "0", "--quiet"])
    auto = impls.get("auto")
    print(json.dumps({
        "names": impls.names(),
        "absent": registry.absent(),
        "unknown": unknown,
        "auto": [auto.choose(shape, PoolSpec(*spec)) for shape, spec in [
            ((8, 256, 20, 20), ((5, 5), 1, 2)),
            ((32, 64, 112, 112), ((3, 3), 2, 1)),
            ((64, 6, 28, 28), ((2, 2),)),
        ]],
    }))
    """
)


def _without_numba() -> tuple[str, dict]:
    done = subprocess.run(python_code(WITHOUT_NUMBA), capture_output=True, text=True, check=True)
    *bench, last = done.stdout.strip().splitlines()
    return "\n".join(bench), json.loads(last)


def test_without_numba_it_is_not_registered_and_auto_is_unchanged():
    bench, found = _without_numba()
    assert "numba" not in found["names"]
    assert found["names"][-1] == "auto"
    assert 'pip install "maxpool-impls[numba]"' in found["absent"]["numba"]
    assert "unknown implementation 'numba'" in found["unknown"]
    assert "  numba: not registered: needs numba" in bench
    assert found["auto"] == ["separable", "reshape", "sliced"]  # the pure-NumPy rules


def test_registered_exactly_when_numba_imports():
    installed = importlib.util.find_spec("numba") is not None
    assert ("numba" in impls.names()) == installed
    assert ("numba" in registry.absent()) == (not installed)


def test_a_broken_dependency_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    reason = registry._absent_optional()["numba"]
    assert reason.startswith("needs numba (installed, but importing it fails: ")
