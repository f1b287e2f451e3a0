"""What a test process leaves behind for ``maxpool verify``: progress, last case, outcomes.

``maxpool verify`` runs the checks in a child process (pytest, perhaps with
xdist workers). Each process writes, into a directory the parent chose:

- ``events-<pid>.jsonl``: one line when a check starts;
- ``case-<pid>.pickle``: the case being checked, replaced before each one;
- ``outcome-<digest>.json``: the outcome of each finished check.

If a process dies in the middle of a check (a segfault, an abort, a hard
exit), the check has a start but no outcome, and its process's last case is
the one that killed it.

Examples
--------
>>> import tempfile
>>> from impls.conformance.runner import Outcome
>>> with tempfile.TemporaryDirectory() as directory:
...     recorder = Recorder(directory)
...     recorder.start("suite.py::test_x[a]")
...     recorder.case(("any", "picklable", "case"))
...     recorder.finish("suite.py::test_x[a]", Outcome("x", "passed"))
...     progress = read(directory)
>>> progress.outcomes["suite.py::test_x[a]"]["status"], progress.unfinished()
('passed', {})
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the runner needs Hypothesis, a record does not
    from .runner import Outcome

__all__ = ["Progress", "Recorder", "read"]


class Recorder:
    """Writes this process's progress into ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()

    def _events(self) -> Path:
        return self.directory / f"events-{self.pid}.jsonl"

    def start(self, nodeid: str) -> None:
        """A check begins: note it, and forget the previous case."""
        with open(self._events(), "a", encoding="utf-8") as events:
            events.write(json.dumps({"start": nodeid, "pid": self.pid, "time": time.time()}))
            events.write("\n")
        self.case(None)

    def case(self, drawn: object) -> None:
        """The case about to run (replaced atomically: a crash leaves a whole one)."""
        try:
            payload = pickle.dumps(drawn)
        except Exception:  # an unpicklable fuzzed argument: keep its repr
            payload = pickle.dumps(repr(drawn))
        target = self.directory / f"case-{self.pid}.pickle"
        partial = target.with_suffix(".partial")
        partial.write_bytes(payload)
        os.replace(partial, target)

    def finish(self, nodeid: str, outcome: Outcome) -> None:
        """The check's outcome (a `impls.conformance.runner.Outcome`)."""
        data = dataclasses.asdict(outcome)
        digest = hashlib.sha1(nodeid.encode(), usedforsecurity=False).hexdigest()
        path = self.directory / f"outcome-{digest}.json"
        path.write_text(json.dumps({"nodeid": nodeid, **data}), encoding="utf-8")


@dataclass
class Progress:
    """What the processes left: started checks (with pid and time) and outcomes."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    directory: Path = Path()

    def unfinished(self) -> dict[str, dict[str, Any]]:
        """Checks that started and have no outcome (their process died or was stopped)."""
        return {n: s for n, s in self.started.items() if n not in self.outcomes}

    def last_case(self, pid: int) -> object:
        """The last case process ``pid`` began (None if there was none)."""
        path = self.directory / f"case-{pid}.pickle"
        try:
            return pickle.loads(path.read_bytes())
        except Exception:
            return None


def read(directory: str | os.PathLike[str]) -> Progress:
    """Everything the processes wrote into ``directory`` so far."""
    directory = Path(directory)
    progress = Progress(directory=directory)
    for events in sorted(directory.glob("events-*.jsonl")):
        for line in events.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:  # the last line of a process that died writing it
                continue
            progress.started[event["start"]] = event
    for path in directory.glob("outcome-*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        progress.outcomes[data.pop("nodeid")] = data
    return progress
