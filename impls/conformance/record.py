"""What a test process leaves behind for ``maxpool verify``: progress, last case, outcomes.

``maxpool verify`` runs the checks in a child process (pytest, perhaps with
xdist workers). Each process writes, into a directory the parent chose (never
the target's working directory):

- ``events-<pid>.jsonl``: one line when a check starts (its node id, its
  report row, the pid and the time);
- ``case-<pid>.pickle``: the case being checked, replaced before each one;
- ``outcome-<digest>.json``: the outcome of each finished check, with its row.

If a process dies in the middle of a check (a segfault, an abort, a hard
exit), the check has a start but no outcome, and its process's last case is
the one that killed it.

Every file is written whole (a temporary file renamed into place, or one
``write`` of a line in append mode), and `read` skips what it cannot parse,
so the parent can read while the children write. Only the process that made
the `Recorder` writes: a copy of it that the implementation forked and let
run on writes nothing. A directory deleted under it is made again.

Examples
--------
>>> import tempfile
>>> from impls.conformance.runner import Outcome
>>> with tempfile.TemporaryDirectory() as directory:
...     recorder = Recorder(directory)
...     recorder.start("suite.py::test_x[a]", "x")
...     recorder.case(("any", "picklable", "case"))
...     recorder.finish("suite.py::test_x[a]", Outcome("x", "passed"))
...     progress = read(directory)
>>> progress.outcomes["suite.py::test_x[a]"]["status"], progress.unfinished()
('passed', {})
>>> progress.row("suite.py::test_x[a]")
'x'
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
    """Writes this process's progress into ``directory`` (from this process only)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()

    def is_mine(self) -> bool:
        """Whether the calling process is the one that made the recorder (not a fork of it)."""
        return os.getpid() == self.pid

    def _replace(self, name: str, payload: bytes) -> None:
        """Write ``payload`` to ``name`` whole: a partial file of this process, renamed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        partial = self.directory / f".{name}.{self.pid}.partial"
        partial.write_bytes(payload)
        os.replace(partial, target)

    def start(self, nodeid: str, row: str = "") -> None:
        """A check begins: note it (and the report row it fills), and forget the previous case."""
        if not self.is_mine():
            return
        event = {"start": nodeid, "row": row, "pid": self.pid, "time": time.time()}
        line = (json.dumps(event) + "\n").encode()
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(
            self.directory / f"events-{self.pid}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT
        )
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        self.case(None)

    def case(self, drawn: object) -> None:
        """The case about to run (replaced atomically: a crash leaves a whole one)."""
        if not self.is_mine():
            return
        try:
            payload = pickle.dumps(drawn)
        except Exception:  # an unpicklable fuzzed argument: keep its repr
            payload = pickle.dumps(repr(drawn))
        self._replace(f"case-{self.pid}.pickle", payload)

    def finish(self, nodeid: str, outcome: Outcome, row: str = "") -> None:
        """The check's outcome (a `impls.conformance.runner.Outcome`), for report row ``row``."""
        if not self.is_mine():
            return
        data = dataclasses.asdict(outcome)
        digest = hashlib.sha1(nodeid.encode(), usedforsecurity=False).hexdigest()
        document = {"nodeid": nodeid, "row": row or outcome.name, **data}
        self._replace(f"outcome-{digest}.json", json.dumps(document).encode())


@dataclass
class Progress:
    """What the processes left: started checks (with row, pid and time) and outcomes.

    ``outcomes`` maps node ids to the fields of their `Outcome`, plus ``row``.
    """

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    directory: Path = Path()

    def unfinished(self) -> dict[str, dict[str, Any]]:
        """Checks that started and have no outcome (their process died or was stopped)."""
        return {n: s for n, s in self.started.items() if n not in self.outcomes}

    def row(self, nodeid: str) -> str:
        """The report row of check ``nodeid`` (empty if it was never recorded)."""
        if nodeid in self.outcomes:
            return str(self.outcomes[nodeid].get("row", ""))
        return str(self.started.get(nodeid, {}).get("row", ""))

    def merge(self, newer: Progress) -> None:
        """Add what ``newer`` holds: the latest start of each check, and every outcome.

        What was read before stays, even if its files are gone since.
        """
        for nodeid, event in newer.started.items():
            known = self.started.get(nodeid)
            if known is None or event["time"] >= known["time"]:
                self.started[nodeid] = event
        self.outcomes.update(newer.outcomes)
        self.directory = newer.directory

    def last_case(self, pid: int) -> object:
        """The last case process ``pid`` began (None if there was none)."""
        path = self.directory / f"case-{pid}.pickle"
        try:
            return pickle.loads(path.read_bytes())
        except Exception:
            return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:  # deleted meanwhile
        return []


def read(directory: str | os.PathLike[str]) -> Progress:
    """Everything the processes wrote into ``directory`` so far (nothing if it is gone)."""
    directory = Path(directory)
    progress = Progress(directory=directory)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return progress
    for name in names:
        if name.startswith("events-") and name.endswith(".jsonl"):
            for line in _lines(directory / name):
                try:
                    event = json.loads(line)
                    nodeid, moment = event["start"], float(event["time"])
                except (ValueError, KeyError, TypeError):  # a line cut short by a death
                    continue
                known = progress.started.get(nodeid)
                if known is None or moment >= known["time"]:
                    progress.started[nodeid] = event
        elif name.startswith("outcome-") and name.endswith(".json"):
            try:
                data = json.loads((directory / name).read_text(encoding="utf-8"))
                nodeid = data.pop("nodeid")
            except (OSError, ValueError, KeyError, AttributeError):
                continue
            progress.outcomes[nodeid] = data
    return progress
