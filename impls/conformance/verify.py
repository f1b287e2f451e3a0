"""``maxpool verify``: judge targets in child processes, whatever the targets do.

The target is never imported here. For each target:

1. a short child loads it (`impls.tools.loadcheck`): a target that cannot
   be loaded (no such file, a syntax error, an import that raises, exits or
   hangs, an attribute that is missing or not callable) is a `ValueError`
   with one line naming the cause, before anything else starts;
2. a child ``python -m impls.conformance.child`` runs the pytest suite
   (`impls.conformance.suite`) on that target alone, with plug-in
   autoloading off and its own configuration; with ``-n``, pytest-xdist
   spreads the properties over processes. It runs in a working directory of
   its own, apart from the harness's files (configuration, record, output),
   so a target that deletes files around it spoils nothing.

The child records its progress (`impls.conformance.record`), which this
process reads as it goes and keeps. When the child dies in the middle of a
check (segfault, abort, hard exit) or a check runs past the time limit, that
check becomes a ``crashed`` row naming the last case it ran, and a new child
runs the checks that remain. After `HANG_STREAK` checks in a row ran past the
time limit, the remaining rows are ``not run`` at once, which bounds the
run's time. If the children cannot run the checks at all (pytest fails to
start, or stops twice without progress), the remaining rows are ``not run``
and `Report.not_judged` says why.

Each child is started in a session of its own; when it ends, its process
group is killed, and so is every process it left behind (this process adopts
them: `impls.tools.processes.Subreaper`). Children die with this process.
``budget`` seconds give a deadline that every child receives
(``--maxpool-deadline``).

Examples
--------
>>> report = verify_target("strided", profile="dev", processes=1)  # doctest: +SKIP
>>> report.verdict  # doctest: +SKIP
'conformant'
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impls.tools.loadcheck import LOAD_TIME_LIMIT, LoadCheck, check_target, child_environment
from impls.tools.processes import StopSignals, Subreaper, end_group, signal_name, wait_for

from .child import PARENT, WATCHED
from .fixed import GROUPS
from .properties import PROPERTIES
from .record import Progress, read
from .reproduce import call_snippet, case_snippet
from .runner import Failure, Outcome, group_half
from .strategies import Call, Case

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_TIMEOUT",
    "HALVES",
    "HANG_STREAK",
    "Report",
    "load_time_limit",
    "row_half",
    "row_names",
    "verify_target",
]

DEFAULT_PROFILE = "dev"
# Seconds one property may run before it counts as hung.
DEFAULT_TIMEOUT = 600.0
# At most this many child processes per target (each death costs one).
MAX_RESTARTS = 40
# After this many checks in a row ran past the time limit, the remaining rows are not run.
HANG_STREAK = 2
# Seconds the child may take to end once every row has its outcome (pytest's own teardown).
FINISH_GRACE = 3.0
# Seconds, beyond loading the target, that pytest may take to start its first check.
STARTUP_GRACE = 30.0
# How often the record is read, in seconds.
_POLL = 0.25

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
        return group_half(GROUPS[row])[0]
    return next(p for p in PROPERTIES if p.name == row).half_for(indices_from_backward)


def load_time_limit(timeout: float) -> float:
    """Seconds a target may take to load: ``timeout``, within 20 s and `LOAD_TIME_LIMIT`."""
    return min(LOAD_TIME_LIMIT, max(20.0, timeout))


# The halves of the contract a report judges apart, in the order it shows them.
HALVES = ("forward", "backward", "validation")


@dataclass
class Report:
    """The verdict on one target, and one `Outcome` per row.

    ``not_judged`` is empty when the harness could run the checks, else one
    line saying why it could not (the rows it could not run are ``not run``).
    """

    implementation: str
    profile: str
    outcomes: list[Outcome]
    left_out: tuple[str, ...]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    not_judged: str = ""

    @property
    def verdict(self) -> str:
        """``"conformant"``, ``"not conformant"`` or ``"not judged"``.

        Not conformant as soon as a row failed or crashed; else not judged
        where the harness could not run every row (``not run``) or none
        passed; else conformant.
        """
        if any(o.status in ("failed", "crashed") for o in self.outcomes):
            return "not conformant"
        ran_all = not self.not_judged and all(o.status != "not run" for o in self.outcomes)
        if ran_all and any(o.status == "passed" for o in self.outcomes):
            return "conformant"
        return "not judged"

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


def _environment(profile: str) -> dict[str, str]:
    env = child_environment()  # the user's own modules import as they would with `python -m`
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # Judge the compiled kernels, not the NumPy path that serves calls while they load.
    env.setdefault("MAXPOOL_COMPILE", "wait")
    env["HYPOTHESIS_PROFILE"] = profile
    env[PARENT] = str(os.getpid())
    env[WATCHED] = "1"
    return env


def _crash_note(returncode: int | None, processes: int, pytest_status: int | None) -> str:
    if processes > 1:  # an xdist worker died; its own status is not known here
        return "the worker process died in the middle of the check"
    if pytest_status == 2:  # pytest's ExitCode.INTERRUPTED: a KeyboardInterrupt in the check
        return "KeyboardInterrupt stopped pytest in the middle of the check"
    if pytest_status is not None:
        return f"the check ended without an outcome (pytest ended with status {pytest_status})"
    if returncode is not None and returncode < 0:
        return f"the process died with {signal_name(-returncode)}"
    return f"the process exited with status {returncode} in the middle of the check"


def _crash_outcome(
    row: str, note: str, last_case: object, target: str, indices_from_backward: bool
) -> Outcome:
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
    half = row_half(row, indices_from_backward)
    return Outcome(row, "crashed", [failure], note=note, half=half)


def _outcome(row: str, data: dict[str, Any]) -> Outcome:
    """An `Outcome` back from the JSON a test process wrote (`Recorder.finish`)."""
    failures = [Failure(**failure) for failure in data.pop("failures", [])]
    for key in ("name", "row", "nodeid"):
        data.pop(key, None)
    return Outcome(row, failures=failures, **data)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Run:
    """The children that check one target, and what they found."""

    def __init__(
        self,
        target: str,
        resolved: str,
        scratch: Path,
        *,
        profile: str,
        processes: int,
        timeout: float,
        deadline: float | None,
        startup_limit: float,
        indices_from_backward: bool = False,
        progress: Callable[[str], None] | None,
        stop: StopSignals | None,
        reaper: Subreaper,
    ) -> None:
        self.target, self.resolved = target, resolved
        self.processes, self.timeout, self.deadline = processes, timeout, deadline
        self.startup_limit = startup_limit
        self.derived = indices_from_backward
        self.progress, self.stop, self.reaper = progress, stop, reaper
        self.harness, self.work = scratch / "harness", scratch / "work"
        self.harness.mkdir()
        self.work.mkdir()
        self.record = self.harness / "record"
        self.config = _write_config(self.harness)
        self.env = _environment(profile)
        self.rows = row_names()
        self.seen = Progress(directory=self.record)
        self.crashed: dict[str, Outcome] = {}
        self.not_run: dict[str, Outcome] = {}
        self.announced: set[str] = set()
        self.notes: list[str] = []
        self.not_judged = ""

    # What is known so far.

    def _finished(self) -> dict[str, dict[str, Any]]:
        return {self.seen.row(n): data for n, data in self.seen.outcomes.items()}

    def _done(self) -> set[str]:
        """The rows with an outcome: finished, crashed or given up."""
        return set(self._finished()) | set(self.crashed) | set(self.not_run)

    def _remaining(self) -> list[str]:
        done = self._done()
        return [row for row in self.rows if row not in done]

    def _announce(self, row: str, text: str) -> None:
        if self.progress is not None and row in self.rows and row not in self.announced:
            self.announced.add(row)
            self.progress(f"[{len(self.announced)}/{len(self.rows)}] {row}: {text}")

    def _absorb(self) -> bool:
        """Read the record into what is known; announce new outcomes; True if anything was new."""
        before = (dict(self.seen.started), set(self.seen.outcomes))
        self.seen.merge(read(self.record))
        new = [n for n in self.seen.outcomes if n not in before[1]]
        for nodeid in sorted(new, key=lambda n: self.seen.started.get(n, {}).get("time", 0.0)):
            self._announce(self.seen.row(nodeid), str(self.seen.outcomes[nodeid].get("status")))
        return self.seen.started != before[0] or set(self.seen.outcomes) != before[1]

    def _crash(self, nodeid: str, note: str) -> None:
        row = self.seen.row(nodeid)
        if row not in self.rows or row in self.crashed or row in self._finished():
            return
        last = self.seen.last_case(int(self.seen.started[nodeid]["pid"]))
        self.crashed[row] = _crash_outcome(row, note, last, self.resolved, self.derived)
        self._announce(row, f"crashed ({note})")

    def _give_up(self, note: str) -> None:
        """Every remaining row is ``not run``, for the reason ``note``."""
        for row in self._remaining():
            self.not_run[row] = Outcome(
                row, "not run", note=note, half=row_half(row, self.derived)
            )
            self._announce(row, f"not run ({note})")

    # The children.

    def _command(self, done: Path) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "impls.conformance.child",
            str(done),
            "-p",
            "impls.conformance.plugin",
            "-p",
            "no:cacheprovider",
            "-c",
            str(self.config),
            "--rootdir",
            str(self.harness),
            "--confcutdir",
            str(self.harness),
            "--basetemp",
            str(self.harness / "pytest-tmp"),
            "--pyargs",
            _SUITE,
            f"--impl={self.resolved}",
            f"--maxpool-record={self.record}",
            "-q",
            "-p",
            "no:warnings",
        ]
        if self.deadline is not None:
            command.append(f"--maxpool-deadline={self.deadline!r}")
        if self.processes > 1:
            command += ["-p", "xdist.plugin", "-n", str(self.processes)]
        done_rows = self._done()
        for nodeid in sorted(set(self.seen.started) | set(self.seen.outcomes)):
            if self.seen.row(nodeid) in done_rows:
                command += ["--deselect", nodeid]
        return command

    def run(self) -> None:
        streak = 0
        for attempt in range(MAX_RESTARTS):
            if not self._remaining():
                return
            if self.stop is not None:
                self.stop.check()
            before = (set(self.seen.outcomes), set(self.crashed))
            how, hung, status, pytest_status, output = self._child(attempt)
            new_outcomes = set(self.seen.outcomes) - before[0]
            if new_outcomes:
                streak = 0
            if hung is not None:
                streak += 1
            elif set(self.crashed) - before[1]:
                streak = 0
            if not new_outcomes and set(self.crashed) == before[1]:
                self._stalled(how, status, pytest_status, output)
                return
            if streak >= HANG_STREAK and self._remaining():
                note = (
                    f"the target hung on {streak} checks in a row, each stopped after "
                    f"{self.timeout:g} s"
                )
                self.notes.append(
                    f"{note}; the {len(self._remaining())} remaining checks were not run"
                )
                self._give_up(note)
                return
        if self._remaining():
            reason = f"the checks' processes died {MAX_RESTARTS} times"
            self.not_judged = reason
            self._give_up(reason)

    def _stalled(
        self, how: str, status: int | None, pytest_status: int | None, output: Path
    ) -> None:
        """A child ran and made no progress: the harness cannot judge the remaining rows."""
        if how == "idle":
            reason = f"the pytest child started no check within {self.startup_limit:g} s"
        elif pytest_status is not None:
            reason = f"pytest ended with status {pytest_status} without running a check"
        elif status is not None and status < 0:
            reason = f"the pytest child died with {signal_name(-status)} before running a check"
        else:
            reason = f"the pytest child exited with status {status} before running a check"
        try:
            text = output.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        last = text.splitlines()[-1].strip() if text else ""
        self.not_judged = reason + (f": {last}" if last else "")
        if text:
            self.notes.append(text[-3000:])
        self._give_up(reason)

    def _child(self, attempt: int) -> tuple[str, str | None, int | None, int | None, Path]:
        """Run one child on the remaining rows; attribute the checks it left unfinished.

        Returns how it ended (``"exited"``, ``"hung"``, ``"idle"``, ``"complete"``),
        the check that hung (or None), its exit status, pytest's own status (None
        if pytest did not finish) and its output file.
        """
        done = self.harness / f"done-{attempt}"
        output = self.harness / f"output-{attempt}.txt"
        launched = time.time()
        with open(output, "wb") as stream:
            child = subprocess.Popen(
                self._command(done),
                cwd=self.work,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                how, hung = self._watch(child, launched)
            finally:  # done, hung, or stopped by a signal: nothing it started runs on
                end_group(child)
                self.reaper.end_strays()
        self._absorb()
        try:
            pytest_status: int | None = int(done.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pytest_status = None
        unfinished = [n for n, e in self.seen.unfinished().items() if e["time"] >= launched]
        if hung is not None:
            self._crash(hung, f"the check ran for more than {self.timeout:g} s and was stopped")
        elif how == "exited":
            note = _crash_note(child.returncode, self.processes, pytest_status)
            for nodeid in unfinished:
                self._crash(nodeid, note)
        return how, hung, child.returncode, pytest_status, output

    def _watch(self, child: subprocess.Popen[bytes], launched: float) -> tuple[str, str | None]:
        """Wait for ``child`` while reading the record; stop it if a check hangs."""
        last_activity = time.monotonic()
        complete_since: float | None = None
        while True:
            if self.stop is not None:
                self.stop.check()
            if wait_for(child, _POLL):
                return "exited", None
            if self._absorb():
                last_activity = time.monotonic()
            now = time.time()
            running = {n: e for n, e in self.seen.unfinished().items() if e["time"] >= launched}
            for nodeid, event in running.items():
                if self.seen.row(nodeid) in self.crashed:
                    continue
                if self.processes > 1 and not _alive(int(event["pid"])):
                    self._crash(nodeid, _crash_note(None, self.processes, None))
                elif now - float(event["time"]) > self.timeout:
                    return "hung", nodeid
            if not self._remaining():
                complete_since = complete_since or time.monotonic()
                if time.monotonic() - complete_since > FINISH_GRACE:
                    return "complete", None
            elif not running and time.monotonic() - last_activity > self.startup_limit:
                return "idle", None


def verify_target(
    target: str,
    *,
    profile: str = DEFAULT_PROFILE,
    processes: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
    budget: float | None = None,
    stop: StopSignals | None = None,
    loaded: LoadCheck | None = None,
) -> Report:
    """Verify ``target`` in child processes; return its `Report`.

    Parameters
    ----------
    target : str
        What to verify (see `impls.conformance.targets`); a relative file path
        is relative to the working directory.
    profile, processes, timeout
        The Hypothesis profile, the number of pytest processes, and the seconds
        one check may run before it counts as hung (``crashed``).
    progress : callable, optional
        Called with a line of text as rows finish.
    budget : float, optional
        Seconds the checks may take together: ``time.time() + budget``, taken
        at the start, is the deadline every child receives. None: no limit.
    stop : impls.tools.processes.StopSignals, optional
        Checked while waiting: a stop signal ends every child and raises
        `impls.tools.processes.Stopped`.
    loaded : impls.tools.loadcheck.LoadCheck, optional
        The target's load check, if the caller made it already.

    Raises
    ------
    ValueError
        If the target cannot be loaded (a usage error); the message is one
        line naming the cause.
    """
    started_at = time.perf_counter()
    deadline = None if budget is None else time.time() + budget
    load_limit = load_time_limit(timeout)
    with Subreaper() as reaper:
        if loaded is None:
            loaded = check_target(
                target, time_limit=load_limit, env=_environment(profile), stop=stop
            )
        if loaded.error:
            raise ValueError(loaded.error)
        with tempfile.TemporaryDirectory(
            prefix="maxpool-verify-", ignore_cleanup_errors=True
        ) as scratch:
            run = _Run(
                target,
                loaded.resolved,
                Path(scratch),
                profile=profile,
                processes=processes,
                timeout=timeout,
                deadline=deadline,
                startup_limit=load_limit + STARTUP_GRACE,
                indices_from_backward=loaded.indices_from_backward,
                progress=progress,
                stop=stop,
                reaper=reaper,
            )
            run.run()
    finished = run._finished()
    outcomes = []
    for row in run.rows:
        if row in run.crashed:
            outcomes.append(run.crashed[row])
        elif row in finished:
            outcomes.append(_outcome(row, dict(finished[row])))
        elif row in run.not_run:
            outcomes.append(run.not_run[row])
        else:  # cannot happen: every path out of run() leaves no row unaccounted for
            outcomes.append(
                Outcome(
                    row, "not run", note="the check never ran", half=row_half(row, run.derived)
                )
            )
    return Report(
        target,
        profile,
        outcomes,
        loaded.left_out,
        time.perf_counter() - started_at,
        run.notes,
        run.not_judged,
    )
