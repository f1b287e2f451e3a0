"""Does a target load? Asked of a short-lived child process, never of the command itself.

``maxpool verify`` and ``maxpool bench --impl`` take code they did not write,
and importing it may do anything: raise, call ``sys.exit(0)`` (as a module
ending in ``sys.exit(main())`` does), end the process with ``os._exit``,
hang, fork. `check_target` imports the target in a child within a time limit
and turns every way that can end into one line naming the cause, so that
the command can refuse the target (exit status 2) before it starts anything
else. Relative ``path/to/file.py:attribute`` targets are made absolute
against the caller's working directory first (`absolute_target`).

Run as ``python -m impls.tools.loadcheck RESULT TARGET``, the child writes
``{"left_out": [...], "indices_from_backward": bool}`` (what the target's
declared limits leave out, and whether its indices are worked out from its
backward) or ``{"error": "one line"}`` into the file RESULT.

Examples
--------
>>> check_target("strided").error
''
>>> check_target("no-such-thing").error  # doctest: +ELLIPSIS
"unknown implementation 'no-such-thing'; known implementations: ..."
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..conformance.targets import absolute_target
from .processes import StopSignals, Subreaper, end_group, signal_name, wait_for

__all__ = ["LOAD_TIME_LIMIT", "LoadCheck", "check_target", "child_environment", "one_line"]

# Seconds a target may take to load (importing torch or jax takes a few).
LOAD_TIME_LIMIT = 60.0

_IMPLS = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class LoadCheck:
    """What loading ``target`` in a child found.

    ``resolved`` is the target as children should load it (relative file
    paths made absolute); ``error`` is empty if it loads, else one line;
    ``left_out`` lists what its declared capabilities leave out;
    ``indices_from_backward`` says whether its indices are worked out from
    its backward (which decides the half some rows judge).
    """

    target: str
    resolved: str
    error: str = ""
    left_out: tuple[str, ...] = ()
    indices_from_backward: bool = False


def one_line(text: str, limit: int = 400) -> str:
    """``text`` on one line: control characters escaped, whitespace runs made one space.

    Examples
    --------
    >>> one_line("a\\n  b\\tc\\x00 é")
    'a b c\\\\x00 é'
    """
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def child_environment(cwd: str | None = None) -> dict[str, str]:
    """This process's environment, ``cwd`` (default: the working directory) first on PYTHONPATH.

    A child that runs elsewhere then imports the user's ``package.module``
    targets as ``python -m`` run in their directory would.
    """
    env = dict(os.environ)
    first = os.path.abspath(cwd if cwd is not None else os.getcwd())
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != first]
    env["PYTHONPATH"] = os.pathsep.join([first, *rest])
    return env


def check_target(
    target: str,
    *,
    time_limit: float = LOAD_TIME_LIMIT,
    env: Mapping[str, str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    stop: StopSignals | None = None,
) -> LoadCheck:
    """Load ``target`` in a child process within ``time_limit`` seconds; say what came of it.

    The child runs in ``workdir`` (default: an empty temporary directory) with
    ``env`` (default: `child_environment`). It and anything it started are
    ended before this returns. ``stop`` (a `impls.tools.processes.StopSignals`)
    is checked while waiting: a stop signal ends the child and raises. What the
    child forked and left behind, even in a session of its own, is ended too
    (`impls.tools.processes.Subreaper`).
    """
    resolved = absolute_target(target)
    given, path = target.rpartition(":")[0], resolved.rpartition(":")[0]
    if path.endswith(".py") and not os.path.isfile(path):  # said without a child
        where = "" if given == path else f" (looked for {path!r})"
        return LoadCheck(target, resolved, one_line(f"no such file {given!r}{where}"))
    with (
        tempfile.TemporaryDirectory(
            prefix="maxpool-verify-load-", ignore_cleanup_errors=True
        ) as scratch,
        Subreaper(),  # what the child left behind is ended before its directory is removed
    ):
        result = Path(scratch) / "result.json"
        run_in = Path(workdir) if workdir is not None else Path(scratch) / "work"
        run_in.mkdir(exist_ok=True)
        with open(Path(scratch) / "output.txt", "wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-m", __name__, str(result), resolved],
                cwd=run_in,
                env=dict(env) if env is not None else child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                ended = _wait(child, time_limit, stop)
            finally:
                end_group(child)
        try:
            found = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
    if not ended:
        return LoadCheck(target, resolved, f"loading it took more than {time_limit:g} s")
    if not isinstance(found, dict):
        return LoadCheck(target, resolved, _ending(child.returncode))
    if found.get("error"):
        return LoadCheck(target, resolved, one_line(str(found["error"])))
    return LoadCheck(
        target,
        resolved,
        left_out=tuple(found.get("left_out", ())),
        indices_from_backward=found.get("indices_from_backward") is True,
    )


def _wait(child: subprocess.Popen[bytes], time_limit: float, stop: StopSignals | None) -> bool:
    deadline = time.monotonic() + time_limit
    while time.monotonic() < deadline:
        if stop is not None:
            stop.check()
        if wait_for(child, min(0.2, max(0.0, deadline - time.monotonic()))):
            return True
    return False


def _ending(status: int | None) -> str:
    if status is not None and status < 0:
        return f"the process died with {signal_name(-status)} while loading it"
    return f"the process exited with status {status} while loading it, before it was checked"


def _raised(error: BaseException) -> str:
    """One line for an exception raised while loading, with where the target raised it."""
    frames = traceback.extract_tb(error.__traceback__)
    inner = [f for f in frames if not f.filename.startswith(("<", _IMPLS))]
    if isinstance(error, (ValueError, TypeError)) and frames and not inner:
        return str(error)  # the loader's own message: no such module, attribute, ...
    if isinstance(error, SystemExit):
        text = f"loading it raised SystemExit({error.code!r})"
    else:
        text = f"loading it raised {type(error).__name__}" + (f": {error}" if str(error) else "")
    if inner and not isinstance(error, SyntaxError):
        text += f" (at {inner[-1].filename}:{inner[-1].lineno})"
    return text


def _load(target: str) -> dict[str, object]:
    from impls import Capabilities

    from ..conformance.targets import load_target

    impl = load_target(target)
    for method in ("forward", "backward"):
        if not callable(getattr(impl, method, None)):
            kind = type(getattr(impl, method, None)).__name__
            return {"error": f"its {method} is not callable (it is a {kind})"}
    return {
        "left_out": list(Capabilities.of(impl).left_out()),
        "indices_from_backward": getattr(impl, "indices_from_backward", False) is True,
    }


def _main(result_path: str, target: str) -> None:
    from .processes import die_with_parent

    die_with_parent()
    pid = os.getpid()
    try:
        found = _load(target)
    except BaseException as error:  # SystemExit and KeyboardInterrupt too: name them
        found = {"error": _raised(error)}
    if os.getpid() != pid:  # a copy the target forked, back in this code: only one writes
        os._exit(0)
    partial = f"{result_path}.{pid}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(found, file)
    os.replace(partial, result_path)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a target may have replaced or closed them
            stream.flush()
    # Not sys.exit: threads and atexit hooks the target left behind must not keep us alive.
    os._exit(0)


if __name__ == "__main__":
    _main(*sys.argv[1:3])
