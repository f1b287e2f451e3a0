"""Running untrusted code in a child process, under a time limit.

``maxpool bench`` measures implementations it did not write. One that hangs,
raises `KeyboardInterrupt` or `SystemExit`, crashes the interpreter or
modifies its input must cost its own row, not the run. `call_isolated` runs
a function in a child made with ``fork`` (which inherits the input without
copying it) and returns what the function returned, or why it did not.

The child leads a process group of its own and dies with this process
(`impls.tools.processes.die_with_parent`); when the call ends, however it
ends (a stop signal raised here included), the child and anything it forked
into its group are killed.

Where ``fork`` is not available (Windows), the function runs in this process:
exceptions, `SystemExit` included, are still reported, but there is no time
limit and a `KeyboardInterrupt` ends the run.

Examples
--------
>>> call_isolated(lambda: 6 * 7, time_limit=30).value
42
>>> call_isolated(lambda: 1 / 0, time_limit=30).failure
'raised ZeroDivisionError: division by zero'
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .processes import die_with_parent

__all__ = ["Outcome", "call_isolated"]


@dataclass(frozen=True)
class Outcome:
    """What an isolated call returned (``value``), or why it returned nothing (``failure``)."""

    value: Any = None
    failure: str = ""


def _describe(err: BaseException) -> str:
    return f"raised {type(err).__name__}: {err}" if str(err) else f"raised {type(err).__name__}"


def _child(func: Callable[[], Any], connection: Connection, parent: int) -> None:
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # a group of its own: what it forks is killed with it
    die_with_parent(parent)
    try:
        result = Outcome(func())
    except BaseException as err:  # KeyboardInterrupt and SystemExit too: report them all
        result = Outcome(failure=_describe(err))
    try:
        connection.send(result)
    except Exception as err:  # the value could not be pickled
        connection.send(Outcome(failure=f"returned something that cannot be sent back: {err}"))
    connection.close()


def call_isolated(func: Callable[[], Any], time_limit: float) -> Outcome:
    """Call ``func()`` in a forked child; give up and kill it after ``time_limit`` seconds.

    ``func`` and what it returns must be picklable only in the sense that the
    return value is sent back through a pipe; ``func`` itself is inherited.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        try:
            return Outcome(func())
        except (Exception, SystemExit) as err:
            return Outcome(failure=_describe(err))
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(func, sender, os.getpid()), daemon=True)
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork in a threaded process; the project's own
        # thread pool is fork-safe (impls.fast.threads), and the child only measures.
        warnings.simplefilter("ignore", DeprecationWarning)
        child.start()
    sender.close()
    outcome: Outcome | None = None
    try:
        if not receiver.poll(time_limit):
            outcome = Outcome(failure=f"stopped after the time limit of {time_limit:g} s")
        else:
            try:
                outcome = receiver.recv()
            except EOFError:  # it died without a word: let it finish dying, to read its status
                child.join(5.0)
    finally:  # however the call ended (a stop signal raised here too): nothing of it runs on
        receiver.close()
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)  # and what it forked into its group
            if child.exitcode is None:
                child.kill()
        child.join()
    if outcome is None:
        return Outcome(failure=f"crashed (exit code {child.exitcode})")
    return outcome
