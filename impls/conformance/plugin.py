"""The conformance harness as a pytest plug-in: ``--impl``, Hypothesis profiles, ``target``.

Load it explicitly; it registers nothing into other pytest runs by itself::

    python -m pytest -p impls.conformance.plugin --pyargs impls.conformance.suite \\
        --impl=theirlib.pool:MaxPool

or, in a project's ``conftest.py``, ``pytest_plugins = ["impls.conformance.plugin"]``.

``--impl=TARGET`` (repeatable) names what to verify (see
`impls.conformance.targets`); without it, this package's built-in
implementations are verified. Every test that takes the ``target`` fixture
runs once per target (the ``conformance_target`` parameter), and the
``implementation`` fixture gives the loaded object.
Profiles: see `impls.conformance.profiles` (``--hypothesis-profile=NAME`` or
``HYPOTHESIS_PROFILE`` chooses one).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pytest
from hypothesis import settings

from impls import Capabilities, MaxPoolImpl
from impls.registry import BUILTIN

from . import profiles
from .record import Recorder
from .targets import load_target

__all__ = ["TARGETS"]

profiles.register()
settings.load_profile(profiles.default_profile())  # --hypothesis-profile overrides it later

# The targets under test, in order.
TARGETS = pytest.StashKey[Sequence[str]]()  # the targets under test, in order
RECORDER = pytest.StashKey["Recorder | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("maxpool", "MaxPool conformance")
    group.addoption(
        "--impl",
        action="append",
        default=[],
        metavar="TARGET",
        help=(
            "implementation to verify: a registered name, 'package.module:attribute', "
            "'path/to/file.py:attribute', or torch, onnxruntime, jax (repeatable; default: "
            "this package's built-in implementations)"
        ),
    )
    group.addoption(
        "--maxpool-record",
        default=None,
        metavar="DIR",
        help="(used by 'maxpool verify') write progress and outcomes into DIR",
    )


@functools.cache
def loaded(target: str) -> MaxPoolImpl:
    """The implementation ``target`` names, loaded once per process."""
    return load_target(target)


def pytest_configure(config: pytest.Config) -> None:
    targets = list(dict.fromkeys(config.getoption("impl"))) or list(BUILTIN)
    for target in targets:
        try:
            Capabilities.of(loaded(target))
        except Exception as error:  # any failure to load is a usage error
            raise pytest.UsageError(f"--impl={target}: {error}") from error
    config.stash[TARGETS] = targets
    record = config.getoption("maxpool_record")
    config.stash[RECORDER] = Recorder(record) if record else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_target" in metafunc.fixturenames:
        targets = metafunc.config.stash[TARGETS]
        metafunc.parametrize("conformance_target", targets, ids=targets, scope="session")


def pytest_report_header(config: pytest.Config) -> list[str]:
    profile = getattr(settings, "get_current_profile_name", lambda: "(unknown)")()
    targets: Sequence[str] = config.stash[TARGETS]
    return [
        f"maxpool implementations under test: {', '.join(targets)}",
        f"hypothesis profile: {profile}, {settings().max_examples} examples per property",
    ]


@pytest.fixture
def implementation(conformance_target: str) -> MaxPoolImpl:
    """The implementation under test, loaded from ``conformance_target``."""
    return loaded(conformance_target)


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Recorder | None:
    """Where ``maxpool verify`` collects progress (None in a plain pytest run)."""
    return request.config.stash[RECORDER]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = []
    for target in terminalreporter.config.stash[TARGETS]:
        left_out = Capabilities.of(loaded(target)).left_out()
        if left_out:
            lines.append(f"{target}: not tested with {', '.join(left_out)}")
    if lines:
        terminalreporter.section("maxpool conformance: left out by declared capabilities")
        for line in lines:
            terminalreporter.line(line)
