"""Report files of the ``maxpool`` commands: checked before the run, written whole.

Every command that writes a file (``--json PATH``, ``--markdown PATH``) checks
the path before it starts measuring or verifying (`check_output`): a
directory, a missing directory, a directory it may not write in, a file it
may not write, or two formats sent to one place are usage errors, found in
seconds rather than after the run. ``-`` (`STDOUT`) means standard output.
A file is then written by `write_whole`: into a temporary file in the same
directory, renamed over the old one, so that a full disk or a stop signal
leaves the old file as it was, never half of the new one.

Examples
--------
>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as directory:
...     path = pathlib.Path(directory) / "report.json"
...     check_output(str(path), "--json")
...     write_whole(path, b"{}")
...     path.read_bytes()
b'{}'
>>> check_output("/no/such/place/out.json", "--json")
Traceback (most recent call last):
...
ValueError: argument --json: '/no/such/place/out.json': no such directory '/no/such/place'
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

__all__ = ["STDOUT", "check_distinct", "check_output", "write_whole"]

# The path that means standard output.
STDOUT = "-"


def _where(path: str) -> Path:
    """The file that writing ``path`` changes (a symbolic link's target, not the link)."""
    return Path(os.path.realpath(os.path.expanduser(path)))


def check_output(path: str, option: str) -> None:
    """Raise `ValueError` (one line, naming ``option`` and ``path``) if ``path`` is unwritable."""
    if path == STDOUT:
        return

    def refuse(why: str) -> ValueError:
        return ValueError(f"argument {option}: {path!r}: {why}")

    if not path:
        raise refuse("an empty path")
    real = _where(path)
    if real.is_dir():
        raise refuse("is a directory")
    if real.exists() and not real.is_file():
        raise refuse(f"is not a regular file (use {STDOUT} for standard output)")
    if not real.parent.is_dir():
        raise refuse(f"no such directory {str(real.parent)!r}")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise refuse(f"cannot create files in {str(real.parent)!r} (permission denied)")
    if real.exists() and not os.access(real, os.W_OK):
        raise refuse("is not writable (permission denied)")


def check_distinct(paths: Sequence[tuple[str, str | None]]) -> None:
    """Raise `ValueError` if two ``(option, path)`` pairs name one file (or both stdout)."""
    seen: dict[str, str] = {}
    for option, path in paths:
        if path is None:
            continue
        key = STDOUT if path == STDOUT else str(_where(path))
        for other_key, other in seen.items():
            same = other_key == key
            if not same and key != STDOUT and other_key != STDOUT:
                with contextlib.suppress(OSError):
                    same = os.path.samefile(key, other_key)
            if same:
                raise ValueError(
                    f"argument {option}: {path!r} is also the path of {other}: give each "
                    "format its own file"
                )
        seen[key] = option


def write_whole(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at ``path`` by ``data`` at once (a temporary file renamed into place).

    The new file keeps the old one's permissions (or gets the usual ones,
    umask applied). On any error the old file is left as it was, and the
    temporary file is removed.
    """
    real = _where(os.fspath(path))
    mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else None
    while True:
        partial = real.parent / f".{real.name}.{secrets.token_hex(6)}.partial"
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover (a 48-bit name taken)
            continue
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(partial, mode)
        os.replace(partial, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
