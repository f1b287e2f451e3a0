"""Correct implementations that misbehave as processes: the harness must survive each.

Each is the correct `impls.stride_tricks` implementation, plus one hostile
habit: a thread or an ``atexit`` hook that never ends, a fork that runs on, a
hang, files deleted in the working directory. Where a test needs to know
which processes a target started, it sets ``MAXPOOL_TEST_PIDS`` to a file
and the target appends one pid per line to it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import threading
import time

import impls

_STRIDED = impls.get("strided")


def note_pid(pid: int | None = None) -> None:
    """Append ``pid`` (default: this process's) to the file ``MAXPOOL_TEST_PIDS`` names."""
    path = os.environ.get("MAXPOOL_TEST_PIDS")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid() if pid is None else pid}\n")


class Correct:
    name = "correct"

    def forward(self, x, spec):
        return _STRIDED.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        return _STRIDED.backward(grad_out, indices, input_shape, spec)


class LeavesAThread(Correct):
    """Starts a non-daemon thread that never ends, on its first call."""

    name = "leaves-a-thread"
    started = False

    def forward(self, x, spec):
        if not LeavesAThread.started:
            LeavesAThread.started = True
            threading.Thread(target=threading.Event().wait, daemon=False).start()
        return super().forward(x, spec)


class LeavesAnAtexitHook(Correct):
    """Registers an ``atexit`` hook that sleeps for an hour, on its first call."""

    name = "leaves-an-atexit-hook"
    registered = False

    def forward(self, x, spec):
        if not LeavesAnAtexitHook.registered:
            LeavesAnAtexitHook.registered = True
            atexit.register(time.sleep, 3600)
        return super().forward(x, spec)


class ForksAndRunsOn(Correct):
    """Forks on its first call; both processes return and carry on (no exit in the child)."""

    name = "forks-and-runs-on"
    forked = False

    def forward(self, x, spec):
        if not ForksAndRunsOn.forked:
            ForksAndRunsOn.forked = True
            pid = os.fork()
            note_pid(pid if pid else None)
        return super().forward(x, spec)


class LeavesADaemon(Correct):
    """On its first call, double-forks a process in a session of its own that sleeps an hour."""

    name = "leaves-a-daemon"
    forked = False

    def forward(self, x, spec):
        if not LeavesADaemon.forked:
            LeavesADaemon.forked = True
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    note_pid()
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    time.sleep(3600)
                os._exit(0)
        return super().forward(x, spec)


class HangsOnEveryCall(Correct):
    """Every call sleeps for an hour (noting its process first)."""

    name = "hangs-on-every-call"

    def forward(self, x, spec):
        note_pid()
        time.sleep(3600)
        return super().forward(x, spec)


class DeletesItsWorkingDirectory(Correct):
    """Every call deletes every file and directory in its working directory."""

    name = "deletes-its-working-directory"

    def forward(self, x, spec):
        for entry in os.listdir("."):
            if os.path.isdir(entry) and not os.path.islink(entry):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(entry)
        return super().forward(x, spec)


class LeavesADaemonAndHangs(LeavesADaemon):
    """Leaves a daemon (see `LeavesADaemon`), then every call sleeps for an hour."""

    name = "leaves-a-daemon-and-hangs"

    def forward(self, x, spec):
        result = super().forward(x, spec)
        note_pid()
        time.sleep(3600)
        return result
