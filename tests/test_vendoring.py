"""Each readable implementation can be vendored: its module and three helpers, nothing else.

A downstream library copies the files of `VENDOR_SETS` into a package of its
own. These tests copy exactly those files (from the installed ``impls``) into
a temporary package named ``vendored_*``, check that the copy imports and runs
with ``impls`` made unimportable, and run the copy through the conformance
harness (the fixed checks and a few properties), through an adapter that
hands it its own `PoolSpec`.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import impls
from impls import PoolSpec
from impls.conformance.fixed import CHECKS, GROUPS
from impls.conformance.properties import BY_NAME
from impls.conformance.runner import run_checks, run_property

# What each readable implementation needs: itself, the pooling geometry
# (spec.py, geometry.py) and the memory guard geometry.py imports.
HELPERS = ("spec.py", "geometry.py", "memory.py")
VENDOR_SETS = {
    "naive": ("naive.py", *HELPERS),
    "im2col": ("im2col.py", *HELPERS),
    "stride_tricks": ("stride_tricks.py", *HELPERS),
}
CLASSES = {"naive": "NaiveMaxPool", "im2col": "Im2colMaxPool", "stride_tricks": "StridedMaxPool"}
PROPERTIES = ("matches_naive_forward", "matches_naive_backward", "overlapping_windows_accumulate")
QUICK = settings(
    max_examples=10, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def vendor(module: str, directory: Path, package: str) -> Path:
    """Copy the vendor set of ``module`` into ``directory/package``, a new package."""
    source = Path(impls.__file__).parent
    target = directory / package
    target.mkdir()
    (target / "__init__.py").write_text('"""A vendored max pool."""\n', encoding="utf-8")
    for name in VENDOR_SETS[module]:
        shutil.copyfile(source / name, target / name)
    return target


class Adapter:
    """The vendored class behind the harness: the harness's `impls.PoolSpec` becomes the copy's."""

    def __init__(self, copy: ModuleType, spec_module: ModuleType, class_name: str) -> None:
        self.impl = getattr(copy, class_name)()
        self.name = f"vendored {self.impl.name}"
        self._spec_class = spec_module.PoolSpec

    def _spec(self, spec: object) -> object:
        if not isinstance(spec, PoolSpec):  # the harness's invalid calls: the copy must refuse
            return spec
        return self._spec_class(
            spec.kernel_size, spec.stride, spec.padding, spec.dilation, spec.ceil_mode
        )

    def forward(self, x: object, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        values, indices = self.impl.forward(x, self._spec(spec))
        return values, indices

    def backward(
        self, grad_out: object, indices: object, input_shape: Sequence[int], spec: PoolSpec
    ) -> np.ndarray:
        grad_in: np.ndarray = self.impl.backward(grad_out, indices, input_shape, self._spec(spec))
        return grad_in


@pytest.fixture
def vendored(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    """``(directory, package)``: a place for a vendored package, importable, removed after."""
    package = f"vendored_pool_{request.node.name.split('[')[-1].rstrip(']')}".replace("-", "_")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path, package
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.split(".")[0] == package]:
        del sys.modules[name]


def load(package: str, module: str) -> Adapter:
    importlib.invalidate_caches()
    copy = importlib.import_module(f"{package}.{module}")
    spec_module = importlib.import_module(f"{package}.spec")
    assert Path(copy.__file__).parent.name == package
    return Adapter(copy, spec_module, CLASSES[module])


@pytest.mark.parametrize("module", list(VENDOR_SETS))
def test_the_copy_runs_without_impls(module, tmp_path):
    vendor(module, tmp_path, "vendored_pool")
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["impls"] = None  # any import of impls now raises ImportError
        import numpy as np
        from vendored_pool.spec import PoolSpec
        from vendored_pool.{module} import {CLASSES[module]} as Pool
        x = np.arange(16.0).reshape(1, 4, 4)
        spec = PoolSpec((2, 2), stride=1, padding=1)
        values, indices = Pool().forward(x, spec)
        grad = Pool().backward(np.ones_like(values), indices, x.shape, spec)
        assert values.shape == (1, 5, 5) and grad.sum() == 25, (values, grad)
        loaded = [name for name in sys.modules if name.split(".")[0] == "impls"]
        assert loaded == ["impls"], loaded  # only the blocking None
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", list(VENDOR_SETS))
def test_the_copy_is_conformant(module, vendored):
    directory, package = vendored
    vendor(module, directory, package)
    adapter = load(package, module)
    outcomes = [run_checks(adapter, group, CHECKS[group], claim=GROUPS[group]) for group in GROUPS]
    outcomes += [run_property(adapter, BY_NAME[name], run_settings=QUICK) for name in PROPERTIES]
    failed = [(o.name, o.status, o.note, o.failures) for o in outcomes if o.status != "passed"]
    assert not failed


@pytest.mark.parametrize("module", ["stride_tricks"])
def test_a_broken_copy_is_rejected(module, vendored):
    # The same run goes red when the copy's backward subtracts instead of adding.
    directory, package = vendored
    copied = vendor(module, directory, package) / f"{module}.py"
    text = copied.read_text(encoding="utf-8")
    assert "np.add.at(" in text
    copied.write_text(text.replace("np.add.at(", "np.subtract.at("), encoding="utf-8")
    adapter = load(package, module)
    outcome = run_property(adapter, BY_NAME["matches_naive_backward"], run_settings=QUICK)
    assert outcome.status == "failed"
