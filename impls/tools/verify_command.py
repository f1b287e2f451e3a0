"""``maxpool verify``: parse-level checks, running the harness, and writing the reports.

Kept apart from `impls.tools.cli` so that ``maxpool bench`` never imports the
harness (which needs the ``conformance`` extra).

Before anything runs, the report paths are checked (`impls.tools.outputs`)
and every target is loaded in a child (`impls.tools.loadcheck`): either
failing is a usage error, one line and exit status 2. SIGTERM, SIGHUP and
SIGINT stop every process the command started, remove its temporary
directories, print one line and exit with 128 + the signal's number.

Exit status: 0 every target conformant; 1 some target not conformant (a row
failed or crashed); 2 a usage error, or a target the harness could not judge
(the reason in one line); 128 + N when stopped by signal N.

``--markdown PATH`` writes the report between `MARKERS`, each alone on its
line (`replace_section`): the text around them is kept byte for byte, line
endings (LF or CRLF) included; a file without markers gets the section,
with its markers, appended; a lone, doubled or reversed marker is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .outputs import STDOUT, check_distinct, check_output, write_whole

if TYPE_CHECKING:  # the harness needs the conformance extra: imported when verify runs
    from ..conformance.verify import Report
    from .processes import StopSignals

__all__ = ["MARKERS", "replace_section", "run_verify", "write_markdown"]

MARKERS = ("<!-- begin maxpool verify -->", "<!-- end maxpool verify -->")


def _lines(text: str) -> list[str]:
    """``text`` cut after each ``\\n``, keeping every character (``"".join`` gives it back)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _marker_lines(lines: Sequence[str], marker: str) -> list[int]:
    return [number for number, line in enumerate(lines) if line.strip() == marker]


def replace_section(existing: str, content: str) -> str:
    """``existing`` with ``content`` between its `MARKERS`, or appended with markers.

    Only the text between a begin marker and the end marker after it (each
    alone on its line, spaces around allowed) is replaced; everything else is
    kept as it was. A text without markers gets the section appended. Line
    endings follow the text's (CRLF if it uses them).

    Raises
    ------
    ValueError
        If the markers do not form one pair: a lone marker, two of a kind, or
        the end before the begin (the message names their lines).

    Examples
    --------
    >>> begin, end = MARKERS
    >>> page = f"notes\\r\\n{begin}\\r\\nold\\r\\n{end}\\r\\n"
    >>> replace_section(page, "new\\n")
    'notes\\r\\n<!-- begin maxpool verify -->\\r\\nnew\\r\\n<!-- end maxpool verify -->\\r\\n'
    >>> replace_section("notes\\n", "new\\n")
    'notes\\n\\n<!-- begin maxpool verify -->\\nnew\\n<!-- end maxpool verify -->\\n'
    """
    lines = _lines(existing)
    begins, ends = (_marker_lines(lines, marker) for marker in MARKERS)
    body = content.rstrip("\n").split("\n")
    if not begins and not ends:
        newline = "\r\n" if "\r\n" in existing else "\n"
        section = newline.join([MARKERS[0], *body, MARKERS[1]]) + newline
        if not existing.strip():
            return existing + section
        ending = "" if existing.endswith("\n") else newline
        return existing + ending + newline + section
    where = "; ".join(
        f"{kind} marker{'s' if len(found) > 1 else ''} on line "
        + ", ".join(str(number + 1) for number in found)
        for kind, found in (("begin", begins), ("end", ends))
        if found
    )
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError(
            f"its markers do not form one pair ({where}); each of {MARKERS[0]!r} and "
            f"{MARKERS[1]!r} must stand once, alone on its line, begin first"
        )
    begin, end = begins[0], ends[0]
    newline = "\r\n" if lines[begin].endswith("\r\n") else "\n"
    inside = newline.join(body) + newline
    return "".join(lines[: begin + 1]) + inside + "".join(lines[end:])


def _read_text(path: Path) -> str:
    """The text of ``path`` ('' if there is none); `ValueError` if it is not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"is not UTF-8 text (byte {error.start}); refusing to change it"
        ) from None


def check_markdown(path: str) -> None:
    """Raise `ValueError` (one line) if ``--markdown PATH`` could not be written as promised."""
    check_output(path, "--markdown")
    if path == STDOUT:
        return
    try:
        replace_section(_read_text(Path(os.path.realpath(path))), "")
    except ValueError as error:
        raise ValueError(f"argument --markdown: {path!r}: {error}") from None


def write_markdown(path: str | os.PathLike[str], content: str) -> None:
    """Write ``content`` into the Markdown file ``path`` (see `replace_section`), whole."""
    real = Path(os.path.realpath(path))
    write_whole(real, replace_section(_read_text(real), content).encode("utf-8"))


def _exit_status(report: Report) -> int:
    """0 conformant, 1 not conformant (a row failed or crashed), 2 not judged."""
    return {"conformant": 0, "not conformant": 1}.get(report.verdict, 2)


def _say(line: str) -> None:
    """Print ``line`` on stderr, if there still is one (a closed terminal is not an error)."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _check_paths(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    try:
        if args.json_path is not None:
            check_output(args.json_path, "--json")
        if args.markdown_path is not None:
            check_markdown(args.markdown_path)
        check_distinct([("--json", args.json_path), ("--markdown", args.markdown_path)])
    except ValueError as error:
        parser.error(str(error))
    from ..conformance.targets import absolute_target

    for target in args.targets:
        path = absolute_target(target).rpartition(":")[0]
        if not path.endswith(".py"):
            continue
        for option, output in (("--json", args.json_path), ("--markdown", args.markdown_path)):
            if output not in (None, STDOUT) and os.path.realpath(output) == os.path.realpath(path):
                parser.error(f"argument {option}: {output!r} is the target's own file")


def run_verify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``maxpool verify``; return the exit status (2 through ``parser.error``)."""
    missing = [m for m in ("hypothesis", "pytest", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        parser.error(
            f'verify needs {", ".join(missing)}: pip install "maxpool-impls[conformance]"'
        )
    if args.processes > 1 and importlib.util.find_spec("xdist") is None:
        parser.error("argument -n: needs pytest-xdist: pip install pytest-xdist")
    _check_paths(args, parser)
    from .processes import Stopped, StopSignals, Subreaper

    # Signals stay handled until the reports are written: a stop after the run lets the
    # writes (a rename each) finish, and leaves no partial file.
    with StopSignals() as stop, Subreaper():
        try:
            reports = _run(args, parser, stop)
        except Stopped as stopped:
            _say(
                f"maxpool verify: stopped by {stopped.name}: every process it started was "
                "ended; no verdict"
            )
            return stopped.exit_status
        return _publish(args, reports)


def _run(
    args: argparse.Namespace, parser: argparse.ArgumentParser, stop: StopSignals
) -> list[Report]:
    """Load every target in a child (a usage error if one fails), then verify each."""
    from ..conformance.profiles import BUDGETS
    from ..conformance.verify import load_time_limit, verify_target
    from .loadcheck import check_target, one_line

    budget = args.budget if args.budget is not None else BUDGETS[args.profile]

    def progress(line: str) -> None:
        if not args.quiet:
            _say(line)

    checks = []
    for target in args.targets:
        checked = check_target(target, time_limit=load_time_limit(args.timeout), stop=stop)
        if checked.error:
            parser.error(f"argument TARGET: {one_line(target)}: {checked.error}")
        checks.append(checked)
    reports = []
    for checked in checks:
        progress(f"verifying {one_line(checked.target)} (profile {args.profile}) ...")
        reports.append(
            verify_target(
                checked.target,
                profile=args.profile,
                processes=args.processes,
                timeout=args.timeout,
                progress=progress,
                budget=budget,
                stop=stop,
                loaded=checked,
            )
        )
    return reports


def _publish(args: argparse.Namespace, reports: list[Report]) -> int:
    """Print the table (unless a format goes to stdout), write the files; the exit status."""
    from ..conformance import report
    from .loadcheck import one_line

    documents = {
        "json": report.json_document(reports) + "\n",
        "markdown": report.markdown(reports),
    }
    outputs = [("--json", args.json_path, "json"), ("--markdown", args.markdown_path, "markdown")]
    if all(path != STDOUT for _, path, _ in outputs):
        print(report.text(reports))
    status = max(_exit_status(r) for r in reports)
    for option, path, kind in outputs:
        if path == STDOUT:
            sys.stdout.write(documents[kind])
            sys.stdout.flush()
        elif path is not None:
            try:
                if kind == "markdown":
                    write_markdown(path, documents[kind])
                else:
                    write_whole(path, documents[kind].encode("utf-8"))
            except (OSError, ValueError) as error:
                _say(f"maxpool verify: error: could not write {option} {path!r} ({error}); "
                     "the file was left as it was")  # fmt: skip
                status = 2
    for r in reports:
        if _exit_status(r) == 2:
            reason = one_line(r.not_judged) if r.not_judged else "no check passed or failed"
            _say(f"maxpool verify: could not judge {one_line(r.implementation)}: {reason}")
    return status
