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

import numpy as np

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


def test_registration_does_not_import_the_dependency():
    code = "import sys, impls; impls.names(); impls.get('auto'); print('numba' in sys.modules)"
    done = subprocess.run(python_code(code), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_broken_dependency_leaves_the_numpy_path(monkeypatch):
    # Installed but failing to import: registered (deciding would mean importing it),
    # every call served by NumPy, and the loader's status says why.
    from impls.fast import compiled, numba_pool

    monkeypatch.setattr(compiled, "_loader", compiled._Loader())
    monkeypatch.setitem(sys.modules, compiled.KERNELS_MODULE, None)  # importing it fails
    # The child that compiles ahead imports the kernels in a process of its own, where
    # they are not broken: not what this test is about, and compiling float64 kernels
    # there at the lowest priority took over the minute waited below on a loaded machine.
    monkeypatch.setattr(compiled, "_compile_in_child", lambda keys: None)
    monkeypatch.delenv(compiled.ENV_VARIABLE, raising=False)
    spec = impls.PoolSpec((3, 3), stride=2, padding=1)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9))
    impl = numba_pool.NumbaMaxPool()
    expected = impls.get("naive").forward(x, spec)
    for _ in range(2):  # before and after the loader failed
        values, indices = impl.forward(x, spec)
        np.testing.assert_array_equal(values, expected[0])
        np.testing.assert_array_equal(indices, expected[1])
        assert not numba_pool.wait_until_compiled(["float64"], timeout=60)
    assert "the compiled kernels cannot be imported: ModuleNotFoundError" in compiled.status()
