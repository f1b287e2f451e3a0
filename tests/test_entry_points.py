"""A third-party implementation registered through the entry point, as a user installs one.

It declares limits (2-D float32, square kernels) and refuses the rest with
`NotImplementedError`. Registered, it must never make this project's
self-tests fail, and ``maxpool bench`` must honour its limits.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.children import python_code, python_module

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment where ``limited-pool`` is registered (a dist-info on the path)."""
    site = tmp_path_factory.mktemp("site")
    info = site / "limited_pool-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: limited-pool\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[maxpool.implementations]\nlimited-pool = tests.targets.limited_pool:Pool\n"
    )
    env = dict(os.environ)
    # The checkout is not on the path: impls comes from where the tests import it, and the
    # entry point's tests.targets from the working directory (last on the children's path).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def run(env: dict[str, str], command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


def test_it_is_registered(registered):
    result = run(registered, python_code("import impls; print(impls.names())"))
    assert "'limited-pool'" in result.stdout, result.stdout + result.stderr


def test_the_self_tests_that_list_implementations_still_pass(registered):
    result = run(
        registered, python_module(
            "pytest", "-q", "-p", "no:cacheprovider",
            "tests/test_quickcheck.py", "tests/test_workloads.py", "tests/test_api.py",
            "tests/test_recommend.py", "tests/test_capabilities.py",
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_bench_reports_its_limits_instead_of_failing(registered):
    result = run(
        registered, python_module(
            "impls", "bench", "--shape", "2,3,8,8", "--kernel", "3,2",
            "--only", "strided", "--only", "limited-pool", "--no-references", "--repeats", "1",
            "--quiet",
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outside limited-pool's declared limits (kernel (3, 2) is not square)" in result.stdout
