"""The conformance harness as a pytest plug-in: ``--impl``, Hypothesis profiles, ``target``.

Load it explicitly; it registers nothing into other pytest runs by itself::

    python -m pytest -p impls.conformance.plugin --pyargs impls.conformance.suite \\
        --impl=theirlib.pool:MaxPool

or, in a project's ``conftest.py``, ``pytest_plugins = ["impls.conformance.plugin"]``.

``--impl=TARGET`` (repeatable) names what to verify (see
`impls.conformance.targets`); without it, this package's built-in
implementations are verified. Every test that takes the ``target`` fixture
runs once per target (the ``conformance_target`` parameter, whose test id is
the target itself when it is plain ASCII without spaces, else ``target1``,
``target2``...: pytest would escape it), and the ``implementation`` fixture
gives the loaded object. ``--maxpool-deadline=EPOCH_SECONDS`` (used by
``maxpool verify``) is a `time.time` by which every check must end; the
``maxpool_deadline`` fixture gives it (None without it).
Profiles: see `impls.conformance.profiles` (``--hypothesis-profile=NAME`` or
``HYPOTHESIS_PROFILE`` chooses one).
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Sequence

import pytest
from hypothesis import settings

from impls import Capabilities, MaxPoolImpl
from impls.frameworks import FRAMEWORKS
from impls.registry import BUILTIN

from . import profiles
from .child import WATCHED
from .record import Recorder
from .runner import row_deadline
from .targets import load_target

__all__ = ["TARGETS", "target_id"]

profiles.register()
settings.load_profile(profiles.default_profile())  # --hypothesis-profile overrides it later

# The targets under test, in order.
TARGETS = pytest.StashKey[Sequence[str]]()  # the targets under test, in order
RECORDER = pytest.StashKey["Recorder | None"]()
DEADLINE = pytest.StashKey["float | None"]()
STARTED = pytest.StashKey[int]()  # checks this process has begun

_PLAIN = re.compile(r"[A-Za-z0-9_.:/+=@-]+")


def target_id(target: str, index: int) -> str:
    """The test id of ``target``, the ``index``-th one: itself if plain, else ``target<index>``.

    Examples
    --------
    >>> target_id("tests.mutants:LastMaximum", 0), target_id("/home/josé/pool.py:maxpool", 1)
    ('tests.mutants:LastMaximum', 'target1')
    """
    return target if _PLAIN.fullmatch(target) else f"target{index}"


def _deadline(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"--maxpool-deadline must be a finite time.time(), got {text!r}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("maxpool", "MaxPool conformance")
    group.addoption(
        "--impl",
        action="append",
        default=[],
        metavar="TARGET",
        help=(
            "implementation to verify: a registered name, 'package.module:attribute', "
            f"'path/to/file.py:attribute', or a framework ({', '.join(FRAMEWORKS)}) "
            "(repeatable; default: this package's built-in implementations)"
        ),
    )
    group.addoption(
        "--maxpool-record",
        default=None,
        metavar="DIR",
        help="(used by 'maxpool verify') write progress and outcomes into DIR",
    )
    group.addoption(
        "--maxpool-deadline",
        type=_deadline,
        default=None,
        metavar="EPOCH_SECONDS",
        help="(used by 'maxpool verify') the time.time() by which every check must end",
    )


@functools.cache
def loaded(target: str) -> MaxPoolImpl:
    """The implementation ``target`` names, loaded once per process."""
    return load_target(target)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(WATCHED):  # an xdist worker of `maxpool verify`: die with the controller
        from impls.tools.processes import die_with_parent

        die_with_parent()
    pid = os.getpid()
    targets = list(dict.fromkeys(config.getoption("impl"))) or list(BUILTIN)
    for target in targets:
        try:
            Capabilities.of(loaded(target))
        except Exception as error:  # any failure to load is a usage error
            raise pytest.UsageError(f"--impl={target}: {error}") from error
        if os.getpid() != pid:  # a copy that the target forked on import: it must not run on
            os._exit(0)
    config.stash[TARGETS] = targets
    record = config.getoption("maxpool_record")
    config.stash[RECORDER] = Recorder(record) if record else None
    config.stash[DEADLINE] = config.getoption("maxpool_deadline")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_target" in metafunc.fixturenames:
        targets = metafunc.config.stash[TARGETS]
        ids = [target_id(target, index) for index, target in enumerate(targets, 1)]
        metafunc.parametrize("conformance_target", targets, ids=ids, scope="session")


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


@pytest.fixture
def maxpool_deadline(request: pytest.FixtureRequest) -> float | None:
    """The `time.time` by which this check must end, or None without ``--maxpool-deadline``.

    Each check gets an equal share of the time left to the checks left
    (`impls.conformance.runner.row_deadline`): what a quick one leaves over
    goes to those after it.
    """
    run_deadline = request.config.stash[DEADLINE]
    if run_deadline is None:
        return None
    started = request.config.stash.get(STARTED, 0)
    request.config.stash[STARTED] = started + 1
    # An xdist worker shares the rows with the others (the environment variable would
    # also be inherited by a plain pytest that an xdist worker starts).
    workerinput = getattr(request.config, "workerinput", None)
    workers = int(workerinput["workercount"]) if workerinput else 1
    rows_left = len(request.session.items) - started * workers
    return row_deadline(run_deadline, rows_left, workers)


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
