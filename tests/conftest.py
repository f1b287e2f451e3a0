"""The project's self-tests load the conformance plug-in (``--impl``, profiles, ``target``).

Without ``--impl``, the conformance suite runs on this package's built-in
implementations; entry points that installed packages register are left to
``--impl`` and ``maxpool verify``, so they never make these tests fail.

With ``CI=true``, the session refuses to start unless ``impls`` was imported
from site-packages: CI tests the installed package, never the checkout.

The compiled kernels are waited for (``MAXPOOL_COMPILE=wait``, unless set), so
that the conformance tests of ``numba`` and ``auto`` judge the kernels, not the
NumPy path that serves calls while they load; tests of the loading itself set
the mode they test.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

os.environ.setdefault("MAXPOOL_COMPILE", "wait")

import impls  # after the mode is set

pytest_plugins = ["impls.conformance.plugin"]


def installed_location() -> Path | None:
    """The site-packages directory ``impls`` was imported from, or None if another place."""
    location = Path(impls.__file__).resolve()
    for key in ("purelib", "platlib"):
        site = Path(sysconfig.get_paths()[key]).resolve()
        if location.is_relative_to(site):
            return site
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") == "true" and installed_location() is None:
        raise pytest.UsageError(
            f"CI=true: impls was imported from {Path(impls.__file__).parent}, not from "
            "site-packages; install the package (python -m pip install .) and run the "
            "README's test command, `pytest`, whose sys.path does not start with the checkout"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"impls imported from {Path(impls.__file__).parent}"
