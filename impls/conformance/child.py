"""The pytest child of ``maxpool verify``: ``python -m impls.conformance.child DONE ARGS...``.

It runs ``pytest.main(ARGS)`` (the suite, with the plug-in) and then ends at
once with pytest's exit status, after writing it into the file DONE: threads
and ``atexit`` hooks that the target left behind cannot keep it alive, and
DONE tells the parent that pytest itself finished (a target calling
``os._exit`` leaves no DONE). It dies with its parent (`die_with_parent`),
and so do its xdist workers (the plug-in arranges it, see `WATCHED`).
"""

from __future__ import annotations

import os
import sys

__all__ = ["PARENT", "WATCHED", "main"]

# Environment variables the parent sets: its pid, and that its descendants should die with
# their parents (the plug-in reads it in xdist workers).
PARENT = "MAXPOOL_VERIFY_PARENT"
WATCHED = "MAXPOOL_VERIFY_WATCHED"


def main(done: str, args: list[str]) -> None:
    """Run pytest with ``args``, write its exit status into ``done``, and end this process."""
    from impls.tools.processes import die_with_parent

    parent = os.environ.get(PARENT)
    die_with_parent(int(parent) if parent and parent.isdigit() else None)
    pid = os.getpid()
    status = 3
    try:
        import pytest

        status = int(pytest.main(args))
    except BaseException as error:  # pytest ended by something the target raised: say so
        print(
            f"maxpool verify: pytest ended with {type(error).__name__}: {error}", file=sys.stderr
        )
    if os.getpid() == pid:
        partial = f"{done}.partial"
        with open(partial, "w", encoding="utf-8") as file:
            file.write(str(status))
        os.replace(partial, done)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a target may have closed or replaced them
            pass
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
