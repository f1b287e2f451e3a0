"""The plug-in from the outside: ``pytest --impl=...`` as a downstream user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # A fixed seed keeps the inner runs reproducible in every profile.
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--hypothesis-seed=0", *args],
        cwd=ROOT,
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
def test_a_bad_impl_is_a_usage_error(target, message):
    result = run_pytest(f"--impl={target}", "--co", "-q", "tests/test_conformance.py")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert f"--impl={target}" in result.stderr
    assert message in result.stderr


def test_impl_selects_registered_names_and_import_paths():
    result = run_pytest(
        "--impl=strided",
        "--impl=tests.mutants:TextbookMaxPool",
        "--co",
        "-q",
        "tests/test_conformance.py",
        "tests/test_examples.py",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert any("[strided-" in line for line in ids)
    assert any("[tests.mutants:TextbookMaxPool-" in line for line in ids)
    assert not any("[naive" in line or "[im2col" in line for line in ids)


def test_without_impl_every_registered_implementation_is_tested():
    result = run_pytest("--co", "-q", "tests/test_conformance.py")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("naive", "im2col", "strided"):
        assert f"test_conformance[{name}-matches_naive_forward]" in result.stdout


def test_declared_capabilities_skip_and_are_reported():
    result = run_pytest(
        "--impl=tests.mutants:TextbookMaxPool2D",
        "-k",
        "kernel_one or separable or test_3d or test_dilation or every_supported_dtype",
        "tests/test_conformance.py",
        "tests/test_examples.py",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "textbook-2d does not support pooling over 3 axes" in result.stdout
    assert "textbook-2d does not support pooling over 1 axis, padding, dtype int8" in result.stdout
    summary = result.stdout.split("left out by declared capabilities")[1]
    assert "not tested with pooling over 1 axis, pooling over 3 axes, padding" in summary


def test_a_broken_implementation_fails_with_its_name_and_a_minimal_example():
    result = run_pytest(
        "--impl=tests.mutants:LastMaximum",
        "-k",
        "first_maximum_on_ties",
        "tests/test_conformance.py",
    )
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    # Hypothesis's heading for the shrunk example, in older and newer versions.
    assert re.search("Falsifying example|Failing test case", result.stdout)
    assert "indices differ at" in result.stdout
    assert "impl=last-maximum" in result.stdout
