"""The readable implementations can be vendored, as the README says.

Each of ``naive.py``, ``im2col.py`` and ``stride_tricks.py`` is copied, with
the three modules it imports (``spec.py``, ``geometry.py``, ``memory.py``),
into a temporary package outside ``impls``; the copy must import without
``impls`` and pass the harness.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import impls
from impls.conformance import PROPERTIES, run_property

SOURCES = Path(impls.__file__).resolve().parent
SUPPORT = ("spec.py", "geometry.py", "memory.py")
READABLE = {"naive": "NaiveMaxPool", "im2col": "Im2colMaxPool", "stride_tricks": "StridedMaxPool"}
PACKAGE = "theirlib_pooling"


@pytest.fixture(scope="module")
def vendor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vendor")
    package = root / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for name in (*(f"{module}.py" for module in READABLE), *SUPPORT):
        shutil.copy(SOURCES / name, package / name)
    return root


def test_the_copies_import_without_impls(vendor_root: Path) -> None:
    modules = ", ".join(f"{PACKAGE}.{module}" for module in READABLE)
    code = f"import sys; sys.modules['impls'] = None; import {modules}"
    subprocess.run([sys.executable, "-c", code], cwd=vendor_root, check=True)


class Vendored:
    """A copied implementation, called with the copy's own `PoolSpec`."""

    capabilities = impls.Capabilities(validates_arguments=False)

    def __init__(self, module: object, cls_name: str) -> None:
        self.impl = getattr(module, cls_name)()
        self.spec_type = module.PoolSpec  # type: ignore[attr-defined]
        self.name = f"vendored {self.impl.name}"

    def _spec(self, spec: impls.PoolSpec) -> object:
        return self.spec_type(
            spec.kernel_size, spec.stride, spec.padding, spec.dilation, spec.ceil_mode
        )

    def forward(self, x: object, spec: impls.PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        return self.impl.forward(x, self._spec(spec))

    def backward(
        self, grad_out: object, indices: object, input_shape: object, spec: impls.PoolSpec
    ) -> np.ndarray:
        return self.impl.backward(grad_out, indices, input_shape, self._spec(spec))


@pytest.mark.parametrize("module_name", list(READABLE))
def test_the_copy_passes_the_harness(
    vendor_root: Path, module_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(vendor_root))
    module = importlib.import_module(f"{PACKAGE}.{module_name}")
    assert not module.__file__.startswith(str(SOURCES))
    impl = Vendored(module, READABLE[module_name])
    few = settings(
        max_examples=20,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    for prop in PROPERTIES:
        outcome = run_property(impl, prop, run_settings=few)
        assert outcome.status in ("passed", "not claimed"), (prop.name, outcome)
