"""The pytest plug-in from the outside: ``pytest -p impls.conformance.plugin --impl=...``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.children import python_module

ROOT = Path(__file__).resolve().parent.parent
SUITE = ["-p", "impls.conformance.plugin", "--pyargs", "impls.conformance.suite"]


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # A fixed seed keeps the inner runs reproducible in every profile.
        python_module("pytest", "-p", "no:cacheprovider", "--hypothesis-seed=0", *args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no-such-impl", "unknown implementation 'no-such-impl'"),
        ("tests.mutants:NoSuchClass", "has no attribute 'NoSuchClass'"),
        ("no_such_module_xyz:Pool", "cannot import module 'no_such_module_xyz'"),
        ("impls.spec:PoolSpec", "cannot be instantiated without arguments"),
        ("tests.test_capabilities:BadlyDeclared", "must be an impls.Capabilities"),
    ],
)
def test_a_bad_target_is_a_usage_error(target, message):
    result = run_pytest(f"--impl={target}", "--co", "-q", "tests/test_conformance.py")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert f"--impl={target}" in result.stderr
    assert message in result.stderr


def test_impl_selects_registered_names_and_import_paths():
    result = run_pytest(
        "--impl=strided", "--impl=tests.mutants:TextbookMaxPool", "--co", "-q",
        "tests/test_conformance.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert any("[strided-" in line for line in ids)
    assert any("[tests.mutants:TextbookMaxPool-" in line for line in ids)
    assert not any("[naive" in line or "[im2col" in line for line in ids)


def test_without_impl_the_built_in_implementations_are_tested():
    result = run_pytest("--co", "-q", "tests/test_conformance.py")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("naive", "im2col", "strided", "auto"):
        assert f"test_property[{name}-matches_naive_forward]" in result.stdout
        assert f"test_fixed_checks[{name}-worked_examples]" in result.stdout


def test_the_harness_runs_from_any_directory(tmp_path):
    result = run_pytest(*SUITE, "--impl=naive", "-k", "kernel_one or worked", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout  # kernel_one, worked_examples, worked_gradients
    # Hypothesis's database goes to the cache directory, not the working directory.
    assert not (tmp_path / ".hypothesis").exists()


def test_nothing_is_loaded_into_other_pytest_runs(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_other():\n    pass\n")
    result = run_pytest("-q", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "maxpool" not in result.stdout
    assert run_pytest("--impl=naive", cwd=tmp_path).returncode == pytest.ExitCode.USAGE_ERROR


def test_declared_limits_skip_and_are_reported():
    result = run_pytest(
        "--impl=tests.mutants:TextbookMaxPool2D", "-rs", "-k",
        "kernel_one or separable or worked_examples or full_jacobian", "tests/test_conformance.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.split("left out by declared capabilities")[1]
    assert "not tested with pooling over 1 axis, pooling over 3 axes" in summary


def test_a_broken_implementation_fails_with_the_bug_and_a_runnable_case():
    result = run_pytest(
        "--impl=tests.mutants:LastMaximum", "-k", "first_maximum_on_ties",
        "tests/test_conformance.py",
    )  # fmt: skip
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "on a tie, selects the last maximal element of the window instead of the first" in (
        result.stdout
    )
    assert "impl=last-maximum" in result.stdout
    assert "smallest failing case:" in result.stdout
    assert "load_target('tests.mutants:LastMaximum')" in result.stdout
