"""Child processes that never outlive the command that started them.

``maxpool verify`` and ``maxpool bench`` run code they did not write in child
processes. Whatever that code does (hang, fork, start threads, ignore
signals) and however the command ends (its report, Ctrl-C, SIGTERM from a CI
runner or ``timeout``, SIGHUP from a closed terminal), no process it started
is left running:

- `StopSignals` turns SIGTERM, SIGHUP and SIGINT into a request to stop,
  which `StopSignals.check` raises as `Stopped` where the command can clean
  up (or, with ``raise_at_once``, the handler raises it itself);
- `die_with_parent` asks the kernel to kill the calling process when its
  parent dies (Linux; elsewhere a watchdog thread does it), for the case
  where the command itself is killed with SIGKILL;
- `Subreaper` makes this process adopt its orphaned descendants (Linux), so
  that `Subreaper.end_strays` finds and kills what a child forked and left
  behind, even in another session;
- `end_group` kills a child and every process in its process group.

Examples
--------
>>> import subprocess, sys
>>> with StopSignals() as stop, Subreaper() as reaper:
...     child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
...     stop.check()  # raises Stopped if a signal came
...     end_group(child)
...     reaper.end_strays()
0
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from types import FrameType, TracebackType

__all__ = [
    "STOP_SIGNALS",
    "StopSignals",
    "Stopped",
    "Subreaper",
    "die_with_parent",
    "end_group",
    "signal_name",
    "wait_for",
]

# The signals that ask a command to stop: Ctrl-C, `kill`/`timeout`/CI runners, a closed terminal.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def _prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` through the C library; False where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.prctl(
            ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )  # fmt: skip
    except (OSError, AttributeError):
        return False
    return int(result) == 0


def _is_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    flag = ctypes.c_int(0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.prctl(ctypes.c_int(_PR_GET_CHILD_SUBREAPER), ctypes.byref(flag), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return int(result) == 0 and flag.value != 0


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, or ``"signal N"`` for a number without a name here."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Stopped(BaseException):
    """The command was asked to stop by ``signum`` (SIGTERM, SIGHUP or SIGINT).

    Like `KeyboardInterrupt`, it is no `Exception`: code that reports the
    errors of what it measures lets it through.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {self.name}")

    @property
    def name(self) -> str:
        return signal_name(self.signum)

    @property
    def exit_status(self) -> int:
        """128 + the signal number, as a shell reports a command the signal ended."""
        return 128 + self.signum


class StopSignals:
    """While active, SIGTERM, SIGHUP and SIGINT ask to stop instead of killing this process.

    The first signal is kept in ``received``; `check` raises `Stopped` for it.
    With ``raise_at_once`` the handler raises `Stopped` itself, wherever the
    main thread is (for code whose ``finally`` blocks end what it started).
    Later signals are ignored while the command cleans up. Outside the main
    thread (where handlers cannot be installed) it does nothing.
    """

    def __init__(self, *, raise_at_once: bool = False) -> None:
        self.raise_at_once = raise_at_once
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            if self.raise_at_once:
                raise Stopped(signum)

    def check(self) -> None:
        """Raise `Stopped` if a stop signal came."""
        if self.received is not None:
            raise Stopped(self.received)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]  # what signal.signal gave
        self._previous.clear()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    with contextlib.suppress(OSError):
        os.killpg(os.getpgid(0), signal.SIGKILL)
    os._exit(1)


def die_with_parent(parent: int | None = None) -> None:
    """Make the calling process die when its parent does.

    On Linux the kernel sends SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a
    daemon thread polls the parent and kills this process's group. If
    ``parent`` is given and is no longer the parent (it died before this
    call), the process exits at once.
    """
    if not _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL):
        watched = os.getppid() if parent is None else parent
        threading.Thread(target=_watch_parent, args=(watched,), daemon=True).start()
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def wait_for(child: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``child`` to end; True if it did.

    Where the system can (``waitid``; not macOS), the ended child is left
    unreaped: its pid, and so its process-group id, cannot be reused before
    `end_group` has killed what is left in the group.
    """
    if not hasattr(os, "waitid"):
        try:
            child.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + seconds
    while True:
        try:
            ended = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # already reaped
            return True
        if ended is not None and ended.si_pid == child.pid:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))


def end_group(child: subprocess.Popen[bytes]) -> None:
    """Kill ``child`` and everything in its process group (it was started in a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)  # taken while a member lives, even if reaped
    if child.returncode is None:  # not reaped: the pid is still the child's
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child.pid, signal.SIGKILL)
    child.wait()


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (Linux, from /proc; empty elsewhere)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


class Subreaper:
    """While active, this process adopts its orphaned descendants (``PR_SET_CHILD_SUBREAPER``).

    `end_strays` kills and reaps every child this process did not have on
    entry (and is not told to keep): what the processes it started forked
    and left behind, even in a session of their own. It is called on exit too.
    Elsewhere only the process groups of the children can be ended.
    """

    def __init__(self) -> None:
        self._set = False
        self._before: set[int] = set()

    def __enter__(self) -> Subreaper:
        self._before = set(_children(os.getpid()))
        if not _is_subreaper():
            self._set = _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        return self

    def end_strays(self, keep: Collection[int] = ()) -> int:
        """Kill and reap adopted children (and theirs, as they are adopted in turn); how many."""
        ended = 0
        for _ in range(100):  # each pass adopts the children of the processes it killed
            strays = [
                pid
                for pid in _children(os.getpid())
                if pid not in self._before and pid not in keep
            ]
            if not strays:
                break
            for pid in strays:
                for kill in (os.killpg, os.kill):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        kill(pid, signal.SIGKILL)
            for pid in strays:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                ended += 1
        return ended

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end_strays()
        if self._set:
            _prctl(_PR_SET_CHILD_SUBREAPER, 0)
