"""Render measured rows as text tables or as JSON for ``maxpool bench`` and ``recommend``.

JSON documents carry a ``schema`` key (``"maxpool-bench/1"`` or
``"maxpool-recommend/1"``), the ``environment`` of `impls.tools.timing.environment`,
the ``methodology`` text, and the rows as plain dictionaries (`row_to_dict`):
times in milliseconds, memory in bytes, ``null`` where not measured.
Specs are described by `impls.spec.describe_spec`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..registry import OPTIONAL, absent
from ..spec import PoolSpec, describe_spec
from .bench import BenchCase, Row
from .recommend import Recommendation, cost, readability
from .timing import Timing

__all__ = [
    "BENCH_SCHEMA",
    "RECOMMEND_SCHEMA",
    "bench_json",
    "bench_text",
    "recommend_json",
    "recommend_text",
    "row_to_dict",
]

BENCH_SCHEMA = "maxpool-bench/1"
RECOMMEND_SCHEMA = "maxpool-recommend/1"
MB = 1e6


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _ms(timing: Timing | None) -> str:
    return "-" if timing is None else f"{timing.median * 1e3:.2f}"


def _seconds_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def _mb(count: int | None) -> str:
    return "-" if count is None else f"{count / MB:.1f}"


def _ratio(row: Row) -> str:
    if row.peak_extra_bytes is None:
        return "-"
    return f"{row.peak_extra_bytes / row.case.output_bytes:.1f}"


def _label(row: Row) -> str:
    return row.candidate.label + ("*" if row.candidate.is_reference else "")


def _check_cell(row: Row) -> str:
    if row.check is None:
        return "-"
    return row.check.status.upper() if row.check.status == "fail" else row.check.status


def _table(header: Sequence[str], body: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [fmt(header), *(fmt(line) for line in body)]


def _references_ran(rows: Sequence[Row]) -> list[Any]:
    """The reference adapters measured in ``rows`` (timed or checked), in order of first row."""
    seen: dict[str, Any] = {}
    for row in rows:
        if row.candidate.is_reference and (row.forward is not None or row.check is not None):
            seen.setdefault(row.candidate.impl.name, row.candidate.impl)
    return list(seen.values())


def _method(methodology: str, rows: Sequence[Row]) -> str:
    """The methodology, with the references that ran (and only those) named at the end."""
    references = _references_ran(rows)
    if not references:
        return f"{methodology} No reference ran."
    described = ", ".join(reference.describe() for reference in references)
    return (
        f"{methodology} References (rows marked *), each on its library's default "
        f"thread count: {described}."
    )


def _times(reference: Timing, fastest: Timing) -> str:
    return f"{reference.median / fastest.median:.2f}x its time ({reference.median * 1e3:.2f} ms)"


def _takeaway(case_rows: Sequence[Row]) -> dict[str, Any]:
    """The fastest implementation of one case, forward and forward + backward, against
    each reference that was timed: the data of one takeaway line."""
    passed = [
        row
        for row in case_rows
        if not row.candidate.is_reference
        and row.forward is not None
        and row.check is not None
        and row.check.passed
    ]
    references = [row for row in case_rows if row.candidate.is_reference and row.forward]
    summary: dict[str, Any] = {"workload": case_rows[0].case.label, "forward": None}
    if not passed:
        return summary
    fastest = min(passed, key=lambda row: row.forward.median if row.forward else 0.0)
    assert fastest.forward is not None
    summary["forward"] = {
        "implementation": fastest.candidate.label,
        "ms": fastest.forward.median * 1e3,
        "reference_ratios": {
            row.candidate.label: row.forward.median / fastest.forward.median
            for row in references
            if row.forward is not None
        },
        "text": [_times(row.forward, fastest.forward) for row in references if row.forward],
        "references": [row.candidate.label for row in references],
    }
    trained = [row for row in passed if row.total_seconds is not None]
    trained_references = [row for row in references if row.total_seconds is not None]
    if trained and trained_references:
        best = min(trained, key=lambda row: row.total_seconds or 0.0)
        summary["training"] = {
            "implementation": best.candidate.label,
            "ms": (best.total_seconds or 0.0) * 1e3,
            "reference_ratios": {
                row.candidate.label: (row.total_seconds or 0.0) / (best.total_seconds or 1.0)
                for row in trained_references
            },
        }
    return summary


def _cases(rows: Sequence[Row]) -> list[list[Row]]:
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(id(row.case), []).append(row)
    return list(grouped.values())


def _takeaway_lines(rows: Sequence[Row]) -> list[str]:
    lines = ["takeaways (fastest implementation that passed its check; * references):"]
    for case_rows in _cases(rows):
        summary = _takeaway(case_rows)
        forward = summary["forward"]
        label = summary["workload"]
        if forward is None:
            lines.append(f"  {label}: no implementation passed its check and was timed")
            continue
        line = f"  {label}: fastest forward {forward['implementation']} ({forward['ms']:.2f} ms)"
        if forward["references"]:
            compared = "; ".join(
                f"{name}* takes {text}"
                for name, text in zip(forward["references"], forward["text"], strict=True)
            )
            line += f"; {compared}"
        else:
            line += "; no reference ran"
        training = summary.get("training")
        if training:
            ratios = ", ".join(
                f"{name}* {ratio:.2f}x" for name, ratio in training["reference_ratios"].items()
            )
            line += (
                f". Forward + backward: {training['implementation']} "
                f"({training['ms']:.2f} ms); {ratios} its time"
            )
        lines.append(line)
    return lines


def _environment_lines(environment: dict[str, Any], methodology: str) -> list[str]:
    versions = [f"Python {environment['python']}", f"NumPy {environment['numpy']}"]
    for library, label in (("scipy", "SciPy"), ("torch", "torch")):
        if environment.get(library):
            versions.append(f"{label} {environment[library]}")
    threads = " ".join(
        f"{name}={value if value is not None else 'unset'}"
        for name, value in environment["thread_env"].items()
    )
    return [
        f"date: {environment['date']}",
        f"machine: {environment['cpu']}, {environment['cpu_count']} logical CPUs "
        f"({environment['usable_cpus']} usable); {', '.join(versions)}",
        f"threads: {threads}",
        f"method: {methodology}",
    ]


def _notes(rows: Sequence[Row]) -> list[str]:
    lines = []
    for row in rows:
        detail = row.note or (row.check.detail if row.check and not row.check.passed else "")
        if detail:
            lines.append(f"  {row.case.label} / {row.candidate.label}: {detail}")
    return lines


def _reference_lines(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, str] = {}
    for row in rows:
        ref = row.candidate.impl
        if row.candidate.is_reference and ref.name not in seen:
            how = "values and indices" if ref.gives_indices else "values only"
            nan = "" if ref.check_with_nan else ", checked without NaN"
            seen[ref.name] = f"  * {ref.describe()}: reference, never recommended; {how}{nan}"
    return list(seen.values())


def bench_text(rows: Sequence[Row], environment: dict[str, Any], methodology: str) -> str:
    """The ``maxpool bench`` report: environment, method, one table row per measurement."""
    header = [
        "workload",
        "input",
        "pooling",
        "implementation",
        "first call ms",
        "forward ms",
        "backward ms",
        "peak extra MB",
        "x out",
        "check",
    ]
    body, previous = [], None
    for row in rows:
        case = row.case
        first = case is not previous
        previous = case
        body.append(
            [
                case.label if first else "",
                f"{_shape(case.input_shape)} {case.dtype}" if first else "",
                describe_spec(case.spec) if first else "",
                _label(row),
                _seconds_ms(row.first_call),
                _ms(row.forward),
                _ms(row.backward),
                _mb(row.peak_extra_bytes),
                _ratio(row),
                _check_cell(row),
            ]
        )
    lines = _environment_lines(environment, _method(methodology, rows)) + [""]
    lines += _table(header, body, right={4, 5, 6, 7, 8})
    lines += [
        "",
        "first call: the first forward call on the case in this process (filling caches "
        "included; compiled kernels load in the background meanwhile); forward, backward: "
        "steady state. x out: peak extra memory / "
        "bytes of values + int64 indices. check: quick conformance check against naive "
        "on a reduced input of the same case (ties, signed zeros, NaN, -inf): values bit "
        "for bit, indices, backward.",
    ]
    lines += _reference_lines(rows)
    lines += [f"  {name}: not registered: {why}" for name, why in absent().items()]
    notes = _notes(rows)
    if notes:
        lines += ["notes:", *notes]
    lines += _takeaway_lines(rows)
    return "\n".join(lines)


def _timing_dict(timing: Timing | None, key: str) -> dict[str, Any]:
    if timing is None:
        return {f"{key}_ms": None, f"{key}_samples_ms": [], f"{key}_calls_per_sample": None}
    return {
        f"{key}_ms": timing.median * 1e3,
        f"{key}_samples_ms": [sample * 1e3 for sample in timing.samples],
        f"{key}_calls_per_sample": timing.calls_per_sample,
    }


def _spec_dict(spec: PoolSpec) -> dict[str, Any]:
    return {
        "kernel_size": list(spec.kernel_size),
        "stride": list(spec.stride),
        "padding": spec.padding
        if isinstance(spec.padding, str)
        else [list(pair) for pair in spec.padding],
        "dilation": list(spec.dilation),
        "ceil_mode": spec.ceil_mode,
    }


def _case_dict(case: BenchCase) -> dict[str, Any]:
    return {
        "workload": case.label,
        "description": case.description,
        "input_shape": list(case.input_shape),
        "dtype": case.dtype,
        "spec": _spec_dict(case.spec),
        "output_shape": list(case.output_shape),
        "output_bytes": case.output_bytes,
    }


def row_to_dict(row: Row) -> dict[str, Any]:
    """One measurement as plain JSON-ready data."""
    check = None
    if row.check is not None:
        check = {
            "status": row.check.status,
            "detail": row.check.detail,
            "input_shape": list(row.check.input_shape),
        }
    return {
        **_case_dict(row.case),
        "implementation": row.candidate.label,
        "impl": row.candidate.code_ref or None,
        "reference": row.candidate.is_reference,
        "check": check,
        "first_call_ms": None if row.first_call is None else row.first_call * 1e3,
        **_timing_dict(row.forward, "forward"),
        **_timing_dict(row.backward, "backward"),
        "peak_extra_bytes": row.peak_extra_bytes,
        "note": row.note,
    }


def bench_json(rows: Sequence[Row], environment: dict[str, Any], methodology: str) -> str:
    """The ``maxpool bench --json`` document."""
    takeaways = []
    for case_rows in _cases(rows):
        summary = _takeaway(case_rows)
        if summary["forward"] is not None:
            summary["forward"] = {
                key: value
                for key, value in summary["forward"].items()
                if key not in ("text", "references")
            }
        takeaways.append(summary)
    document = {
        "schema": BENCH_SCHEMA,
        "environment": environment,
        "methodology": _method(methodology, rows),
        "rows": [row_to_dict(row) for row in rows],
        "not_registered": absent(),
        "takeaways": takeaways,
    }
    return json.dumps(document, indent=2)


def _ranking_entry(row: Row, recommendation: Recommendation) -> dict[str, Any]:
    seconds = cost(row, recommendation.goal)
    best = cost(recommendation.best, recommendation.goal) if recommendation.best else None
    lines, summary = readability(row.candidate.impl)
    return {
        **row_to_dict(row),
        "cost_ms": None if seconds is None else seconds * 1e3,
        "relative_to_best": None if seconds is None or not best else seconds / best,
        "module_lines": None if row.candidate.is_reference else lines,
        "summary": "" if row.candidate.is_reference else summary,
    }


def recommend_json(
    recommendations: Sequence[Recommendation], environment: dict[str, Any], methodology: str
) -> str:
    """The ``maxpool recommend --json`` document."""
    cases = []
    for rec in recommendations:
        first = rec.ranked[0]
        cases.append(
            {
                "case": _case_dict(first.case),
                "goal": rec.goal,
                "recommended": rec.best.candidate.code_ref if rec.best else None,
                "code": rec.code or None,
                "ranking": [_ranking_entry(row, rec) for row in rec.ranked],
            }
        )
    document = {
        "schema": RECOMMEND_SCHEMA,
        "environment": environment,
        "methodology": methodology,
        "cases": cases,
    }
    return json.dumps(document, indent=2)


GOAL_TEXT = {
    "training": "ranked by forward + backward median time",
    "inference": "ranked by forward median time",
}


def _recommendation_text(rec: Recommendation) -> list[str]:
    case = rec.ranked[0].case
    lines = [
        f"case: {case.label} ({case.description}), input {_shape(case.input_shape)} "
        f"{case.dtype}, pooling {describe_spec(case.spec)}; values + indices "
        f"{_mb(case.output_bytes)} MB",
        f"goal: {rec.goal}, {GOAL_TEXT[rec.goal]}; only implementations that passed "
        "the quick check qualify",
    ]
    if rec.best is None:
        return [*lines, "recommended: none: no implementation passed the quick check here"]
    best = rec.best
    timing = f"{_ms(best.forward)} ms forward"
    if rec.goal == "training":
        timing += f" + {_ms(best.backward)} ms backward"
    lines += [f"recommended: {best.candidate.label} ({timing})", f"    {rec.code}"]
    if best.candidate.code_ref in OPTIONAL:
        _, module, extra = OPTIONAL[best.candidate.code_ref]
        lines.append(f'    (needs {module}: pip install "maxpool-impls[{extra}]")')
    lines.append("trade-offs:")
    best_cost = cost(best, rec.goal)
    header = ["implementation", "time ms", "vs best", "peak extra MB", "x out", "check"]
    header += ["module lines", "idea"]
    body = []
    for row in rec.ranked:
        if row.candidate.is_reference:
            continue
        seconds = cost(row, rec.goal)
        lines_of_code, summary = readability(row.candidate.impl)
        body.append(
            [
                row.candidate.label,
                "-" if seconds is None else f"{seconds * 1e3:.2f}",
                "-" if seconds is None or not best_cost else f"{seconds / best_cost:.2f}x",
                _mb(row.peak_extra_bytes),
                _ratio(row),
                _check_cell(row),
                "-" if lines_of_code is None else str(lines_of_code),
                summary,
            ]
        )
    lines += ["  " + line for line in _table(header, body, right={1, 2, 3, 4, 6})]
    notes = _notes([r for r in rec.ranked if not r.candidate.is_reference])
    return lines + (["notes:", *notes] if notes else [])


def recommend_text(
    recommendations: Sequence[Recommendation], environment: dict[str, Any], methodology: str
) -> str:
    """The ``maxpool recommend`` report: for each case, the choice, its code, the trade-offs."""
    lines = _environment_lines(environment, methodology)
    for rec in recommendations:
        lines += ["", *_recommendation_text(rec)]
    return "\n".join(lines)
