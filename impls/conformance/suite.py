"""The conformance checks as pytest tests: one per property and per group of fixed checks.

Collected with ``--pyargs impls.conformance.suite`` and the plug-in
(`impls.conformance.plugin`), or imported into a test module. Each test runs
its property with `impls.conformance.runner` and turns the outcome into
pytest's: a failure lists each distinct bug, with its smallest case as
runnable Python; a property outside the declared limits, or not claimed, is
skipped with the reason.

A target that forks and lets the copy return into the harness: the copy is
ended (``os._exit``) the next time it reaches the harness's code, a drawn case
or the end of the check, so it never reports anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from impls import MaxPoolImpl

from .fixed import CHECKS, GROUPS
from .properties import PROPERTIES, Property
from .record import Recorder
from .runner import Outcome, run_checks, run_property

__all__ = ["test_fixed_checks", "test_property"]


def _conclude(outcome: Outcome, nodeid: str, row: str, recorder: Recorder | None) -> None:
    __tracebackhide__ = True
    if recorder is not None:
        recorder.finish(nodeid, outcome, row)
    if outcome.status in ("failed", "crashed"):
        parts = [f"{outcome.name}: {outcome.status}"]
        if outcome.note:
            parts.append(outcome.note)
        for failure in outcome.failures:
            parts += [f"- {failure.kind}", f"  {failure.message}"]
            if failure.example:
                parts += ["  smallest failing case:", _indent(failure.example, "    ")]
        pytest.fail("\n".join(parts), pytrace=False)
    if outcome.status in ("skipped", "not claimed"):
        pytest.skip(f"{outcome.status}: {outcome.note}")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _end_forked_copy(pid: int) -> None:
    """End this process if it is not ``pid``: a copy the target forked, back in the harness."""
    if os.getpid() != pid:
        os._exit(0)


def _check(
    request: pytest.FixtureRequest, recorder: Recorder | None, row: str, run: Callable
) -> None:
    """Run one check (``run(on_case)`` returns its outcome), record it as ``row``, conclude."""
    __tracebackhide__ = True
    nodeid = request.node.nodeid
    pid = os.getpid()
    if recorder is not None:
        recorder.start(nodeid, row)

    def on_case(drawn: object) -> None:
        _end_forked_copy(pid)
        if recorder is not None:
            recorder.case(drawn)

    outcome = run(on_case)
    _end_forked_copy(pid)
    _conclude(outcome, nodeid, row, recorder)


@pytest.mark.parametrize("prop", PROPERTIES, ids=lambda prop: prop.name)
def test_property(
    conformance_target: str,
    implementation: MaxPoolImpl,
    prop: Property,
    recorder: Recorder | None,
    maxpool_deadline: float | None,
    request: pytest.FixtureRequest,
) -> None:
    _check(
        request,
        recorder,
        prop.name,
        lambda on_case: run_property(
            implementation,
            prop,
            target=conformance_target,
            on_case=on_case,
            deadline=maxpool_deadline,
        ),
    )


@pytest.mark.parametrize("group", list(GROUPS))
def test_fixed_checks(
    conformance_target: str,
    implementation: MaxPoolImpl,
    group: str,
    recorder: Recorder | None,
    maxpool_deadline: float | None,
    request: pytest.FixtureRequest,
) -> None:
    _check(
        request,
        recorder,
        group,
        lambda on_case: run_checks(
            implementation,
            group,
            CHECKS[group],
            claim=GROUPS[group],
            target=conformance_target,
            on_case=on_case,
            deadline=maxpool_deadline,
        ),
    )
