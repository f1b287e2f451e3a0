"""The ``maxpool`` command: measure implementations and recommend one.

``maxpool bench`` measures every registered implementation on the standard
workloads (`impls.tools.workloads`), or on your own case given with ``--shape``
and the pooling options, and prints a table. ``maxpool recommend`` takes the
same options and prints the fastest implementation that passed the quick
conformance check, the line of code that uses it, and the trade-offs.
``maxpool verify TARGET...`` runs the conformance harness on targets (see
`impls.conformance.verify`).

``--json`` works alike in every command: alone (or ``--json -``) it prints
the JSON document on stdout instead of the tables; ``--json PATH`` writes it
to PATH (checked before the run, replaced whole: `impls.tools.outputs`) and
the tables still go to stdout. Put a bare ``--json`` after the targets of
``maxpool verify``. An ``--impl`` target is first loaded in a child process
(`impls.tools.loadcheck`): one that cannot be loaded (one that exits or
hangs on import, say) is a usage error. SIGTERM, SIGHUP and SIGINT end the
command and every process it started, with one line and the exit status
128 + the signal's number.

Pooling options (the pooled axes are the trailing ones):

- ``--shape 32,64,112,112`` (or ``32x64x112x112``): the input shape.
- ``--kernel 3`` (every pooled axis; how many axes: ``--ndim``, else all
  axes but the first two, batch and channels, as in PyTorch) or ``--kernel
  3,3`` (one size per pooled axis, which also sets their number).
- ``--stride``, ``--dilation``: one int for every axis, or one per axis.
- ``--padding``: ``1`` (every side), ``1,2`` (per axis), ``0:1,1:0``
  (``begin:end`` per axis; mixing ``1,0:1`` works), ``valid``, ``same`` or
  ``same_lower``. A single entry applies to every axis.
- ``--ceil-mode``, ``--dtype float32``.

Examples
--------
>>> from impls.tools.cli import parse_padding
>>> parse_padding("0:1,2")
((0, 1), 2)
>>> parse_padding("same")
'same'
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from .. import __version__
from ..frameworks import FRAMEWORKS
from ..memory import check_fits
from ..protocol import CONTRACT_DTYPES
from ..registry import names
from ..spec import PADDING_STRINGS, PoolSpec
from . import bench, recommend, report, timing
from .outputs import STDOUT, check_output, write_whole
from .workloads import WORKLOADS

__all__ = ["DTYPES", "build_parser", "case_from_args", "main", "parse_padding", "parse_shape"]

# The --dtype choices: every dtype the contract supports.
DTYPES = CONTRACT_DTYPES


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors take one line (and exit with status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int(text: str, what: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{what} must be >= {minimum}, got {value}")
    return value


def _int_list(text: str, what: str, minimum: int) -> tuple[int, ...]:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{what} is empty")
    return tuple(_int(item.strip(), what, minimum) for item in text.split(","))


def parse_shape(text: str) -> tuple[int, ...]:
    """``"32,64,112,112"`` or ``"32x64x112x112"`` -> ``(32, 64, 112, 112)``.

    Examples
    --------
    >>> parse_shape("4x64x16x56x56")
    (4, 64, 16, 56, 56)
    """
    return _int_list(text.replace("x", ","), f"shape {text!r}: each length", 1)


def _positive_list(text: str) -> tuple[int, ...]:
    return _int_list(text, f"{text!r}: each entry", 1)


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        return _int(text, "the value", minimum)

    return parse


def _seconds(text: str, *, zero: bool = False) -> float:
    """A finite, positive number of seconds (or zero, with ``zero``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise argparse.ArgumentTypeError(
            f"must be finite and {'>=' if zero else '>'} 0, got {text!r}"
        )
    return value


def _seconds_or_zero(text: str) -> float:
    """A finite number of seconds, zero or more."""
    return _seconds(text, zero=True)


def parse_padding(text: str) -> str | int | tuple[int | tuple[int, int], ...]:
    """Parse ``--padding``: an int, a string, or per-axis entries ``N`` / ``BEGIN:END``.

    Examples
    --------
    >>> parse_padding("1"), parse_padding("1,2"), parse_padding("0:1,1:0")
    (1, (1, 2), ((0, 1), (1, 0)))
    """
    if text in PADDING_STRINGS:
        return text
    if text.replace(" ", "").lstrip("-").isdigit():
        return _int(text, "padding", 0)
    forms = (
        "padding is an int, per-axis entries such as 1,2 or 0:1,1:0, "
        f"or one of {', '.join(PADDING_STRINGS)}"
    )
    entries: list[int | tuple[int, int]] = []
    for entry in text.split(","):
        parts = entry.split(":")
        if len(parts) > 2:
            message = f"padding entry {entry!r} must be N or BEGIN:END; {forms}"
            raise argparse.ArgumentTypeError(message)
        try:
            amounts = [_int(part.strip(), f"padding entry {entry!r}", 0) for part in parts]
        except argparse.ArgumentTypeError as err:
            raise argparse.ArgumentTypeError(f"{err}; {forms}") from None
        entries.append(amounts[0] if len(amounts) == 1 else (amounts[0], amounts[1]))
    return tuple(entries)


def _pooling_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "your case (default: the standard workloads)",
        "The pooled axes are the trailing ones. Per-axis options take one value for "
        "every axis or a comma-separated value per axis.",
    )
    group.add_argument("--shape", type=parse_shape, help="input shape, e.g. 32,64,112,112")
    group.add_argument("--kernel", type=_positive_list, help="window size: 3, or 3,3 per axis")
    group.add_argument(
        "--ndim",
        type=int,
        choices=(1, 2, 3),
        help="number of pooled axes when --kernel is one int (default: all axes "
        "but the first two, batch and channels)",
    )
    group.add_argument("--stride", type=_positive_list, help="default: the kernel size")
    group.add_argument(
        "--padding",
        type=parse_padding,
        default=0,
        help="1 | 1,2 (per axis) | 0:1,1:0 (begin:end per axis) | valid | same | same_lower",
    )
    group.add_argument("--dilation", type=_positive_list, default=(1,), help="default: 1")
    group.add_argument("--ceil-mode", action="store_true", help="round output lengths up")
    group.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        metavar="DTYPE",
        help=f"input dtype: {', '.join(DTYPES)} (default: float32)",
    )
    group.add_argument(
        "--workload",
        action="append",
        choices=[w.name for w in WORKLOADS],
        default=[],
        metavar="NAME",
        help=f"only this standard workload (repeatable; {', '.join(w.name for w in WORKLOADS)})"
        "; not with --shape",
    )


def _measurement_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("what and how to measure")
    group.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="NAME_OR_PATH",
        help="also measure this implementation, e.g. package.module:attr (repeatable)",
    )
    group.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="measure only these registered implementations (repeatable)",
    )
    group.add_argument(
        "--repeats", type=_count(1), default=5, metavar="N", help="most timed repeats (5)"
    )
    group.add_argument(
        "--warmup", type=_count(0), default=1, metavar="N", help="untimed calls first (1)"
    )
    group.add_argument(
        "--warmup-seconds",
        type=_seconds_or_zero,
        default=bench.Settings.warmup_seconds,
        metavar="SECONDS",
        help="untimed calls go on this long at least, unless --warmup is 0 "
        f"({bench.Settings.warmup_seconds:g})",
    )
    group.add_argument(
        "--budget",
        type=_seconds,
        default=3.0,
        metavar="SECONDS",
        help="no new repeat after this much timed work, once 3 ran (3.0)",
    )
    group.add_argument(
        "--time-limit",
        type=_seconds,
        default=bench.DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help="stop a candidate that takes longer on one case, and report it in its row "
        f"({bench.DEFAULT_TIME_LIMIT:g})",
    )
    _json_option(group)
    group.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _json_option(group: Any, dest: str = "json") -> None:
    group.add_argument(
        "--json",
        dest=dest,
        nargs="?",
        const=STDOUT,
        default=None,
        metavar="PATH",
        help="JSON: alone (or with -), printed on stdout instead of the tables; with PATH, "
        "written to PATH",
    )


def _verify_options(commands: Any) -> None:
    verify_parser = commands.add_parser(
        "verify",
        help="verify implementations against the contract (needs the conformance extra)",
        description="Run the conformance checks on each TARGET, in a child process, and "
        "print one row per property: passed, failed (what broke, and the smallest failing "
        "case as runnable Python), crashed, skipped (outside the declared limits) or not "
        "claimed; not run where it gave up (see --timeout). Exit status: 0 conformant, 1 not "
        "conformant, 2 usage error or a target that could not be judged (the reason in one "
        "line), 128+N when stopped by signal N.",
    )
    verify_parser.set_defaults(command_parser=verify_parser)
    verify_parser.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="a registered name, package.module:attribute, path/to/file.py:attribute, "
        "or a framework: " + ", ".join(FRAMEWORKS),
    )
    verify_parser.add_argument(
        "--profile",
        choices=("dev", "ci", "thorough"),
        default="dev",
        help="Hypothesis profile: dev (20 examples per property, the default), ci (100, "
        "derandomized), thorough (1000)",
    )
    verify_parser.add_argument(
        "-n",
        dest="processes",
        type=_count(1),
        default=1,
        metavar="N",
        help="spread the properties over N processes (needs pytest-xdist)",
    )
    verify_parser.add_argument(
        "--timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="a property running longer counts as crashed; after 2 in a row the rest are "
        "not run (600)",
    )
    verify_parser.add_argument(
        "--budget",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds the checks of one target may take together (default: the profile's, "
        "in impls.conformance.profiles.BUDGETS)",
    )
    _json_option(verify_parser, dest="json_path")
    verify_parser.add_argument(
        "--markdown",
        dest="markdown_path",
        metavar="PATH",
        help="write Markdown between the lines '<!-- begin maxpool verify -->' and '<!-- end "
        "maxpool verify -->' of PATH, or append them with it; - for stdout",
    )
    verify_parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    """The ``maxpool`` argument parser, with its ``bench`` and ``recommend`` commands."""
    parser = _Parser(
        prog="maxpool",
        description="Measure the max-pooling implementations and choose one.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench_parser = commands.add_parser(
        "bench",
        help="measure every implementation on the standard workloads or on --shape",
        description="Measure forward and backward time, peak extra memory, and a quick "
        "conformance check, for every implementation, on the standard workloads or on "
        "your case. PyTorch and SciPy, when installed, appear as reference rows.",
    )
    bench_parser.set_defaults(command_parser=bench_parser)
    _pooling_options(bench_parser)
    _measurement_options(bench_parser)
    bench_parser.add_argument(
        "--no-references",
        action="store_true",
        help="leave out the reference rows (torch, onnxruntime, scipy)",
    )
    recommend_parser = commands.add_parser(
        "recommend",
        help="the fastest implementation that passes the check, and how to use it",
        description="Measure, then print the fastest implementation that passed the quick "
        "conformance check, the line of code that uses it, and the trade-offs.",
    )
    recommend_parser.set_defaults(command_parser=recommend_parser)
    _pooling_options(recommend_parser)
    _measurement_options(recommend_parser)
    _verify_options(commands)
    recommend_parser.add_argument(
        "--goal",
        choices=recommend.GOALS,
        default="training",
        help="training: rank by forward + backward time (default); inference: forward only",
    )
    return parser


def _one_per_axis(
    values: tuple[Any, ...], option: str, ndim: int, parser: argparse.ArgumentParser
) -> tuple[Any, ...]:
    """One value for every pooled axis: a single entry is repeated, else one per axis."""
    if len(values) == 1:
        return values * ndim
    if len(values) != ndim:
        parser.error(
            f"argument {option}: {len(values)} entries for {ndim} pooled axes "
            "(give one entry for every axis, or one per axis)"
        )
    return values


def _pooled_axes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if len(args.kernel) > 1:
        if args.ndim is not None and args.ndim != len(args.kernel):
            parser.error(
                f"argument --ndim: {args.ndim} disagrees with --kernel "
                f"{','.join(map(str, args.kernel))}, which has {len(args.kernel)} entries"
            )
        return len(args.kernel)
    if args.ndim is not None:
        return args.ndim
    ndim = len(args.shape) - 2
    if not 1 <= ndim <= 3:
        parser.error(
            f"argument --kernel: cannot tell how many axes to pool in a {len(args.shape)}-axis "
            "--shape; give --ndim or one kernel size per pooled axis"
        )
    return ndim


def case_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> bench.BenchCase | None:
    """The user's case from ``--shape`` and the pooling options, or ``None`` for the workloads.

    Calls ``parser.error`` (exit status 2) with a one-line message on bad options.
    """
    pooling_given = [
        option
        for option, value, default in (
            ("--kernel", args.kernel, None),
            ("--ndim", args.ndim, None),
            ("--stride", args.stride, None),
            ("--padding", args.padding, 0),
            ("--dilation", args.dilation, (1,)),
            ("--ceil-mode", args.ceil_mode, False),
        )
        if value != default
    ]
    if args.shape is None:
        if pooling_given:
            parser.error(f"argument {pooling_given[0]}: needs --shape")
        return None
    if args.workload:
        parser.error("argument --workload: not allowed with --shape")
    if args.kernel is None:
        parser.error("argument --kernel: required with --shape")
    ndim = _pooled_axes(args, parser)
    if len(args.shape) < ndim:
        parser.error(f"argument --shape: {len(args.shape)} axes, fewer than {ndim} pooled axes")
    padding = args.padding
    if isinstance(padding, tuple):
        padding = _one_per_axis(padding, "--padding", ndim, parser)
    try:
        spec = PoolSpec(
            _one_per_axis(args.kernel, "--kernel", ndim, parser),
            stride=None
            if args.stride is None
            else _one_per_axis(args.stride, "--stride", ndim, parser),
            padding=padding,
            dilation=_one_per_axis(args.dilation, "--dilation", ndim, parser),
            ceil_mode=args.ceil_mode,
        )
        spec.output_shape(args.shape[len(args.shape) - ndim :])
    except (ValueError, TypeError) as err:
        parser.error(f"these pooling options do not fit --shape {_shape(args.shape)}: {err}")
    case = bench.BenchCase.custom(args.shape, spec, args.dtype)
    try:
        check_fits(case.input_shape, np.dtype(case.dtype).itemsize, f"the {case.dtype} input")
        values_and_indices = np.dtype(case.dtype).itemsize + np.dtype(np.int64).itemsize
        check_fits(case.output_shape, values_and_indices, "the values and int64 indices")
    except ValueError as err:
        parser.error(f"argument --shape: {err}")
    return case


def _shape(shape: Sequence[int]) -> str:
    return ",".join(map(str, shape))


def _candidates(
    args: argparse.Namespace, parser: argparse.ArgumentParser, references: bool
) -> list[bench.Candidate]:
    unknown = [name for name in args.only if name not in names()]
    if unknown:
        parser.error(f"argument --only: unknown implementation {unknown[0]!r}; known: {names()}")
    from .loadcheck import check_target, one_line

    for target in args.impl:
        if target not in names():  # outside code: loaded in a child first, whatever it does
            error = check_target(target).error
            if error:
                parser.error(f"argument --impl: {one_line(target)}: {error}")
    try:
        return bench.candidates(args.impl, only=args.only, references=references)
    except (Exception, SystemExit, KeyboardInterrupt) as err:  # the target's import, again
        parser.error(f"argument --impl: {type(err).__name__}: {err}")


def _progress(quiet: bool) -> Any:
    if quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``maxpool`` command; return the exit status.

    Examples
    --------
    >>> main(["bench", "--shape", "2,3,8,8", "--kernel", "2", "--only", "strided",
    ...       "--no-references", "--repeats", "1", "--quiet"])  # doctest: +ELLIPSIS
    date: ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    subparser = args.command_parser
    if args.command == "verify":
        from .verify_command import run_verify

        return run_verify(args, subparser)
    case = case_from_args(args, subparser)
    if args.json not in (None, STDOUT):
        try:
            check_output(args.json, "--json")
        except ValueError as err:
            subparser.error(str(err))
    from .processes import Stopped, StopSignals

    try:
        with StopSignals(raise_at_once=True):
            return _measure(args, subparser, case)
    except Stopped as stopped:
        with contextlib.suppress(OSError, ValueError):  # no terminal left
            print(f"maxpool {args.command}: stopped by {stopped.name}", file=sys.stderr)
        return stopped.exit_status


def _measure(
    args: argparse.Namespace, subparser: argparse.ArgumentParser, case: bench.BenchCase | None
) -> int:
    """Measure and print (``maxpool bench``) or recommend (``maxpool recommend``)."""
    cases = [case] if case is not None else bench.standard_cases(args.workload)
    references = args.command == "bench" and not args.no_references
    to_measure = _candidates(args, subparser, references)
    settings = bench.Settings(
        warmup=args.warmup,
        repeats=args.repeats,
        budget_seconds=args.budget,
        time_limit=args.time_limit,
        warmup_seconds=args.warmup_seconds,
    )
    method = timing.methodology(
        warmup=settings.warmup,
        repeats=settings.repeats,
        min_repeats=settings.min_repeats,
        budget_seconds=settings.budget_seconds,
        warmup_seconds=settings.warmup_seconds,
    )
    rows = bench.run(cases, to_measure, settings, _progress(args.quiet))
    environment = timing.environment()
    if args.command == "bench":
        text = report.bench_text(rows, environment, method)
        document = report.bench_json(rows, environment, method)
    else:
        recommendations = [
            recommend.recommend([row for row in rows if row.case is c], args.goal) for c in cases
        ]
        text = report.recommend_text(recommendations, environment, method)
        document = report.recommend_json(recommendations, environment, method)
    print(document if args.json == STDOUT else text)
    if args.json not in (None, STDOUT):
        try:
            write_whole(args.json, (document + "\n").encode("utf-8"))
        except OSError as err:
            print(
                f"maxpool {args.command}: error: could not write --json {args.json!r} ({err}); "
                "the file was left as it was",
                file=sys.stderr,
            )
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
