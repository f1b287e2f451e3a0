"""``maxpool verify``'s reports: a table for the terminal, JSON, and Markdown.

The JSON schema is stable (fields may be added, never renamed or removed).
For one target it is one object; for several, a list of them::

    {
      "implementation": "examples.loop_layer:maxpool",
      "verdict": "conformant" | "not conformant" | "not judged",
      "forward": "conformant" | "not conformant" | "not judged",
      "backward": "conformant" | "not conformant" | "not judged",
      "validation": "...",       (only where argument validation is claimed)
      "profile": "dev",
      "properties": [
        {
          "name": "matches_naive_forward",
          "half": "forward" | "backward" | "validation",
          "status": "passed" | "failed" | "crashed" | "skipped" | "not claimed" | "not run",
          "message": "one line per distinct bug (or why skipped / not claimed)",
          "example": "runnable Python for the first bug's smallest case, or \\"\\"",
          "failures": [{"kind": "...", "message": "...", "example": "..."}],
          "cases": 20, "skipped_cases": 0, "skip_reasons": {"reason": count},
          "budget_reached": false
        }
      ],
      "left_out": ["pooling over 1 axis", ...],
      "seconds": 12.3,
      "notes": ["what happened to the run itself, if anything"],
      "not_judged": "why the checks could not run, or \\"\\""
    }

The verdict of a half is "not conformant" when one of its rows failed or
crashed, "conformant" when none did and one passed, else "not judged"; the
overall verdict is "not conformant" when a row failed or crashed, "not
judged" when some rows could not run (or none passed), else "conformant".

The text report shows the rows half by half, each under its verdict. The
Markdown report holds the same: with several targets, a conformance matrix
first (a row per property, a column per target), then each target's
failures.

Examples
--------
>>> from impls.conformance.runner import Failure, Outcome
>>> from impls.conformance.verify import Report
>>> row = Outcome("matches_naive_forward", "passed", cases_run=20)
>>> report = Report("mylib:Pool", "dev", [row], ())
>>> for line in text([report]).splitlines()[2:4]:
...     print(line)
forward: conformant
  matches_naive_forward                            passed       20 cases
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .runner import Failure, Outcome
from .verify import Report

__all__ = ["json_document", "markdown", "text"]

_WIDTH = 48


def _row(outcome: Outcome) -> dict[str, object]:
    first = outcome.failures[0].example if outcome.failures else ""
    return {
        "name": outcome.name,
        "half": outcome.half,
        "status": outcome.status,
        "message": outcome.message,
        "example": first,
        "failures": [
            {"kind": f.kind, "message": f.message, "example": f.example} for f in outcome.failures
        ],
        "cases": outcome.cases_run,
        "skipped_cases": outcome.cases_skipped,
        "skip_reasons": outcome.skip_reasons,
        "budget_reached": outcome.budget_reached,
    }


def _document(report: Report) -> dict[str, object]:
    return {
        "implementation": report.implementation,
        "verdict": report.verdict,
        **report.halves(),
        "profile": report.profile,
        "properties": [_row(outcome) for outcome in report.outcomes],
        "left_out": list(report.left_out),
        "seconds": round(report.seconds, 1),
        "notes": list(report.notes),
        "not_judged": report.not_judged,
    }


def json_document(reports: Sequence[Report]) -> str:
    """The JSON report: one object for one target, a list for several."""
    documents = [_document(report) for report in reports]
    return json.dumps(documents[0] if len(documents) == 1 else documents, indent=2)


def _detail(outcome: Outcome) -> str:
    if outcome.status == "passed":
        return outcome.counts()
    if outcome.status in ("skipped", "not claimed", "not run"):
        counts = outcome.counts()
        return f"{outcome.note}" + (f" ({counts})" if counts else "")
    return outcome.counts()


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _bugs(report: Report) -> dict[str, list[tuple[str, Failure]]]:
    """Each distinct bug (by kind), with the rows that found it and their failures."""
    bugs: dict[str, list[tuple[str, Failure]]] = {}
    for outcome in report.outcomes:
        for failure in outcome.failures:
            bugs.setdefault(failure.kind, []).append((outcome.name, failure))
        if outcome.status == "crashed" and not outcome.failures:
            bugs.setdefault(f"crashes: {outcome.note}", []).append(
                (outcome.name, Failure(f"crashes: {outcome.note}", outcome.note))
            )
    return bugs


def text(reports: Sequence[Report], *, examples: bool = True) -> str:
    """The terminal report: a row per property, then each distinct bug with its smallest case.

    A bug that several properties found is shown once, with the shortest of
    their failing cases.
    """
    blocks = []
    for report in reports:
        lines = [f"maxpool verify {report.implementation} (profile {report.profile})", ""]
        for half, verdict in _shown_halves(report).items():
            lines.append(f"{_HALF_TITLE[half]}: {verdict}")
            for outcome in (o for o in report.outcomes if o.half == half):
                lines.append(f"  {outcome.name:{_WIDTH}} {outcome.status:12} {_detail(outcome)}")
                for failure in outcome.failures:
                    lines.append(f"      - {failure.kind}")
        for kind, found in _bugs(report).items():
            rows = ", ".join(dict.fromkeys(row for row, _ in found))
            with_example = [f for _, f in found if f.example] or [found[0][1]]
            shortest = min(with_example, key=lambda f: len(f.example))
            lines += ["", f"{kind}", f"  found by: {rows}", _indent(shortest.message, "  ")]
            if examples and shortest.example:
                lines += ["  smallest failing case:", _indent(shortest.example, "    ")]
        if report.left_out:
            lines += ["", f"left out (declared limits): {', '.join(report.left_out)}"]
        for note in report.notes:
            lines += ["", "about the run:", _indent(note, "  ")]
        bad = sum(o.status in ("failed", "crashed") for o in report.outcomes)
        summary = f"{bad} of {len(report.outcomes)} failed or crashed" if bad else "none failed"
        halves = ", ".join(f"{half} {verdict}" for half, verdict in report.halves().items())
        lines += [
            "",
            f"verdict: {report.verdict} ({halves}; {summary}; {report.seconds:.0f} s)",
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


_HALF_TITLE = {
    "forward": "forward",
    "backward": "backward",
    "validation": "argument validation",
}


def _shown_halves(report: Report) -> dict[str, str]:
    """Each half that has rows, with its verdict (validation's "not judged" when not claimed)."""
    shown = {}
    for half in _HALF_TITLE:
        if any(o.half == half for o in report.outcomes):
            shown[half] = report.half_verdict(half)
    return shown


_SYMBOL = {
    "passed": "passed",
    "failed": "**failed**",
    "crashed": "**crashed**",
    "skipped": "skipped",
    "not claimed": "not claimed",
    "not run": "not run",
}


def markdown(reports: Sequence[Report]) -> str:
    """The Markdown report: the matrix (with several targets), then the failures of each."""
    lines: list[str] = []
    if len(reports) > 1:
        names = [report.implementation for report in reports]
        lines += ["| property | " + " | ".join(f"`{n}`" for n in names) + " |"]
        lines += ["|---|" + "---|" * len(names)]
        for index, outcome in enumerate(reports[0].outcomes):
            cells = []
            for report in reports:
                row = report.outcomes[index]
                cells.append(_SYMBOL[row.status])
            lines.append(f"| {outcome.name} | " + " | ".join(cells) + " |")
        verdicts = " | ".join(report.verdict for report in reports)
        lines += [f"| **verdict** | {verdicts} |", ""]
    for report in reports:
        lines += [f"### `{report.implementation}`: {report.verdict}", ""]
        halves = "; ".join(f"{half}: {verdict}" for half, verdict in report.halves().items())
        lines.append(f"Profile `{report.profile}`, {report.seconds:.0f} s. {halves[:1].upper()}"
                     f"{halves[1:]}.")  # fmt: skip
        if report.left_out:
            lines.append(f"Left out by its declared limits: {', '.join(report.left_out)}.")
        lines.append("")
        failing = [o for o in report.outcomes if o.status in ("failed", "crashed")]
        if not failing:
            lines += ["Every property within the declared limits passed.", ""]
        for outcome in failing:
            lines.append(f"- `{outcome.name}` ({outcome.status}):")
            for failure in outcome.failures or []:
                lines.append(f"  - {failure.kind}")
            if outcome.note and not outcome.failures:
                lines.append(f"  - {outcome.note}")
        lines.append("")
        for outcome in failing:
            for failure in outcome.failures:
                if failure.example:
                    lines += [
                        f"<details><summary><code>{outcome.name}</code>: {failure.kind}</summary>",
                        "",
                        failure.message.replace("\n", " "),
                        "",
                        "```python",
                        failure.example,
                        "```",
                        "</details>",
                        "",
                    ]
    return "\n".join(lines).rstrip() + "\n"
