"""``maxpool verify``: run the conformance checks on targets in child processes, and judge.

For each target, a child ``python -m pytest`` runs the suite
(`impls.conformance.suite`) on that target alone, with plug-in autoloading
off and its own configuration, in a temporary directory: the user's pytest
settings, conftest files and working directory are left alone. With ``-n``,
pytest-xdist spreads the properties over processes.

The child records its progress (`impls.conformance.record`). When it dies in
the middle of a check (segfault, abort, hard exit) or a check runs past the
time limit, that check becomes a ``crashed`` row naming the last case it ran,
and a new child runs the checks that remain, so the report is always
complete.

Examples
--------
>>> report = verify_target("strided", profile="dev", processes=1)  # doctest: +SKIP
>>> report.verdict  # doctest: +SKIP
'conformant'
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impls import Capabilities

from .fixed import GROUPS
from .properties import PROPERTIES
from .record import Progress, read
from .reproduce import call_snippet, case_snippet
from .runner import Failure, Outcome
from .strategies import Call, Case
from .targets import load_target

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_TIMEOUT",
    "HALVES",
    "Report",
    "row_half",
    "row_names",
    "verify_target",
]

DEFAULT_PROFILE = "dev"
# Seconds one property may run before it counts as hung.
DEFAULT_TIMEOUT = 600.0
# At most this many child processes per target (each death costs one).
MAX_RESTARTS = 40

_SUITE = "impls.conformance.suite"


def row_names() -> list[str]:
    """The report's rows, in order: the properties, then the fixed-check groups."""
    return [prop.name for prop in PROPERTIES] + list(GROUPS)


def row_half(row: str, indices_from_backward: bool = False) -> str:
    """The half of the contract ``row`` judges: ``"forward"``, ``"backward"`` or ``"validation"``.

    Properties about forward's indices judge backward where the indices are
    worked out from it (``indices_from_backward``).
    """
    if row in GROUPS:
        return GROUPS[row] or "forward"
    prop = next(p for p in PROPERTIES if p.name == row)
    if prop.claim is not None:
        return prop.claim
    return "backward" if prop.uses_indices and indices_from_backward else "forward"


def _test_name(target: str, row: str) -> str:
    """The name of ``row``'s test for ``target`` (its node id after the module's path)."""
    if row in GROUPS:
        return f"test_fixed_checks[{target}-{row}]"
    return f"test_property[{target}-{row}]"


def _short(nodeid: str) -> str:
    return nodeid.rpartition("::")[2]


# The halves of the contract a report judges apart, in the order it shows them.
HALVES = ("forward", "backward", "validation")


@dataclass
class Report:
    """The verdict on one target, and one `Outcome` per row."""

    implementation: str
    profile: str
    outcomes: list[Outcome]
    left_out: tuple[str, ...]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``"conformant"`` when no row failed or crashed and at least one passed."""
        bad = any(o.status in ("failed", "crashed") for o in self.outcomes)
        passed = any(o.status == "passed" for o in self.outcomes)
        return "conformant" if passed and not bad else "not conformant"

    def half_verdict(self, half: str) -> str:
        """``"conformant"``, ``"not conformant"`` or ``"not judged"`` for one half.

        A half is not judged when none of its rows passed or failed (not
        claimed, skipped, never run); it is not conformant as soon as one of
        its rows failed or crashed.
        """
        rows = [o for o in self.outcomes if o.half == half]
        if any(o.status in ("failed", "crashed") for o in rows):
            return "not conformant"
        if any(o.status == "passed" for o in rows):
            return "conformant"
        return "not judged"

    def halves(self) -> dict[str, str]:
        """The verdict of each half: forward and backward always, validation where claimed."""
        verdicts = {half: self.half_verdict(half) for half in HALVES}
        claimed = any(o.half == "validation" and o.status != "not claimed" for o in self.outcomes)
        if not claimed:
            verdicts.pop("validation")
        return verdicts


def _write_config(directory: Path) -> Path:
    """An empty pytest configuration, so that the user's settings do not apply."""
    config = directory / "pytest.ini"
    config.write_text("[pytest]\n", encoding="utf-8")
    return config


def _command(
    target: str, record: Path, config: Path, processes: int, done: list[str]
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "impls.conformance.plugin",
        "-p",
        "no:cacheprovider",
        "-c",
        str(config),
        "--rootdir",
        str(config.parent),
        "--confcutdir",
        str(config.parent),
        "--pyargs",
        _SUITE,
        f"--impl={target}",
        f"--maxpool-record={record}",
        "-q",
        "-p",
        "no:warnings",
    ]
    if processes > 1:
        command += ["-p", "xdist.plugin", "-n", str(processes)]
    for nodeid in done:
        command += ["--deselect", nodeid]
    return command


def _environment(profile: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["HYPOTHESIS_PROFILE"] = profile
    # The user's own modules import as they would with `python -m`.
    path = [os.getcwd()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def _crash_note(returncode: int | None, timed_out: bool, timeout: float, processes: int) -> str:
    if timed_out:
        return f"the check ran for more than {timeout:g} s and was stopped"
    if processes > 1:  # an xdist worker died; its own status is not known here
        return "the worker process died in the middle of the check"
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the process died with {name}"
    return f"the process exited with status {returncode} in the middle of the check"


def _crash_outcome(row: str, note: str, last_case: object, target: str) -> Outcome:
    example = ""
    if isinstance(last_case, Case):
        example = case_snippet(last_case, row, target)
        note += f" on the case {last_case.describe()}"
    elif isinstance(last_case, Call):
        example = call_snippet(last_case, target)
        note += f" on the call {last_case!r}"
    elif last_case is not None:
        note += f" on {last_case}"
    failure = Failure(f"crashes: {note.split(' on ')[0]}", note, example)
    return Outcome(row, "crashed", [failure], note=note, half=row_half(row))


def _outcome(row: str, data: dict[str, Any]) -> Outcome:
    """An `Outcome` back from the JSON a test process wrote (`Recorder.finish`)."""
    failures = [Failure(**failure) for failure in data.pop("failures", [])]
    data.pop("name", None)
    return Outcome(row, failures=failures, **data)


def verify_target(
    target: str,
    *,
    profile: str = DEFAULT_PROFILE,
    processes: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Verify ``target`` in child processes; return its `Report`.

    Raises `ValueError` if the target cannot be loaded (a usage error).
    ``progress``, if given, is called with a line of text as rows finish.
    """
    caps = Capabilities.of(load_target(target))
    rows = row_names()
    by_test = {_test_name(target, row): row for row in rows}
    announced: set[str] = set()

    def announce(nodeid: str, outcome: dict[str, object]) -> None:
        row = by_test.get(_short(nodeid))
        if progress is not None and row is not None and row not in announced:
            announced.add(row)
            progress(f"[{len(announced)}/{len(rows)}] {row}: {outcome['status']}")

    crashed: dict[str, Outcome] = {}
    started_at = time.perf_counter()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="maxpool-verify-") as scratch:
        directory = Path(scratch)
        config = _write_config(directory)
        record = directory / "record"
        seen = Progress()
        for _ in range(MAX_RESTARTS):
            done = [n for n in seen.started if _short(n) in crashed or n in seen.outcomes]
            if len({_short(n) for n in done} & set(by_test)) == len(by_test):
                break
            with open(directory / "output.txt", "w", encoding="utf-8") as output:
                launched = time.time()
                child = subprocess.Popen(
                    _command(target, record, config, processes, done),
                    cwd=directory,
                    env=_environment(profile),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    timed_out = _wait(child, record, timeout, announce, since=launched)
                finally:  # interrupted (Ctrl-C), or done: never leave the child running
                    if child.poll() is None:
                        os.killpg(child.pid, signal.SIGKILL)
                        child.wait()
            seen = read(record)
            unfinished = {
                _short(n): s
                for n, s in seen.unfinished().items()
                if _short(n) in by_test and _short(n) not in crashed
            }
            if timed_out is not None:
                key = _short(timed_out)
                unfinished = {key: unfinished[key]} if key in unfinished else {}
            for test, start in unfinished.items():
                note = _crash_note(child.returncode, timed_out is not None, timeout, processes)
                last = seen.last_case(start["pid"])
                crashed[test] = _crash_outcome(by_test[test], note, last, target)
                if progress is not None:
                    announced.add(by_test[test])
                    progress(f"[{len(announced)}/{len(rows)}] {by_test[test]}: crashed ({note})")
            if child.returncode not in (0, 1) and not unfinished:
                # pytest itself failed (a usage error in the child): nothing more will run.
                text = (directory / "output.txt").read_text(encoding="utf-8", errors="replace")
                notes.append(text.strip()[-3000:])
                break
        finished = {_short(n): data for n, data in seen.outcomes.items()}
        outcomes = []
        for test, row in by_test.items():
            if test in crashed:
                outcomes.append(crashed[test])
            elif test in finished:
                outcomes.append(_outcome(row, dict(finished[test])))
            else:
                outcomes.append(
                    Outcome(row, "crashed", note="the check never ran", half=row_half(row))
                )
    return Report(
        target, profile, outcomes, caps.left_out(), time.perf_counter() - started_at, notes
    )


def _wait(
    child: subprocess.Popen[bytes],
    record: Path,
    timeout: float,
    report: Callable[[str, dict[str, object]], None],
    since: float = 0.0,
) -> str | None:
    """Wait for ``child``; stop it if a check runs past ``timeout`` (return that check).

    ``report(nodeid, outcome)`` is called once for each check as it finishes.
    Only checks started at ``since`` (`time.time`) or later count: the record
    also holds the checks that earlier children never finished.
    """
    reported: set[str] = set()

    def report_new(progress: Progress) -> None:
        for nodeid, outcome in progress.outcomes.items():
            if nodeid not in reported:
                reported.add(nodeid)
                report(nodeid, outcome)

    while True:
        try:
            child.wait(timeout=0.5)
            if record.exists():
                report_new(read(record))
            return None
        except subprocess.TimeoutExpired:
            pass
        if not record.exists():
            continue
        progress = read(record)
        report_new(progress)
        now = time.time()
        for nodeid, start in progress.unfinished().items():
            if start["time"] >= since and now - start["time"] > timeout:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                return nodeid
