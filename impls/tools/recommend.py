"""Choose an implementation from measured rows: ``maxpool recommend``.

The choice is the fastest implementation that passed the quick conformance
check, fastest by forward plus backward time (goal ``"training"``) or by
forward time alone (goal ``"inference"``). References are never chosen.
Alongside it come the line of code that uses it and the trade-offs of every
candidate: time relative to the best, peak extra memory, and how much code
one has to read (the length of the implementation's module).

Examples
--------
>>> from impls.tools.recommend import code_line
>>> from impls import PoolSpec
>>> code_line(PoolSpec((3, 3), stride=2, padding=1), "strided")
'impls.MaxPool((3, 3), stride=2, padding=1, impl="strided")'
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..spec import PoolSpec, spec_arguments
from .bench import Row

__all__ = ["GOALS", "Recommendation", "code_line", "cost", "readability", "recommend"]

GOALS = ("training", "inference")


def cost(row: Row, goal: str) -> float | None:
    """Seconds the goal costs with this row's implementation, or ``None`` if unmeasured."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    if goal == "inference":
        return None if row.forward is None else row.forward.median
    return row.total_seconds


@dataclass(frozen=True)
class Recommendation:
    """The chosen row (``None`` if nothing qualified) and all rows ranked by cost."""

    goal: str
    best: Row | None
    ranked: tuple[Row, ...]
    code: str


def recommend(rows: Sequence[Row], goal: str = "training") -> Recommendation:
    """Pick the cheapest row, for ``goal``, among implementations that passed the check.

    ``rows`` all belong to one case. Rows that failed, were skipped or are
    references rank after the eligible ones, in their given order.

    Examples
    --------
    >>> recommend([], "inference").best is None
    True
    """

    def eligible(row: Row) -> bool:
        return (
            not row.candidate.is_reference
            and row.check is not None
            and row.check.passed
            and cost(row, goal) is not None
        )

    def known_cost(row: Row) -> float:
        value = cost(row, goal)
        assert value is not None  # eligible rows have one
        return value

    chosen = sorted((r for r in rows if eligible(r)), key=known_cost)
    rest = [r for r in rows if not eligible(r)]
    best = chosen[0] if chosen else None
    code = code_line(best.case.spec, best.candidate.code_ref) if best else ""
    return Recommendation(goal, best, tuple(chosen + rest), code)


def code_line(spec: PoolSpec, impl: str) -> str:
    """The one line that builds a layer with this spec and implementation.

    Examples
    --------
    >>> code_line(PoolSpec((2,), padding=((0, 1),), ceil_mode=True), "my.pkg:Pool")
    'impls.MaxPool((2,), padding=((0, 1),), ceil_mode=True, impl="my.pkg:Pool")'
    """
    return f'impls.MaxPool({spec_arguments(spec)}, impl="{impl}")'


def readability(impl: object) -> tuple[int | None, str]:
    """Lines of the module that defines ``impl``, and the first line of its docstring.

    Examples
    --------
    >>> import impls
    >>> lines, summary = readability(impls.get("naive"))
    >>> lines > 10, summary.startswith("Naive max pooling")
    (True, True)
    """
    module = sys.modules.get(type(impl).__module__)
    summary = ((module.__doc__ if module else None) or type(impl).__doc__ or "").strip()
    try:
        lines = len(inspect.getsource(module).splitlines()) if module else None
    except (OSError, TypeError):
        lines = None
    return lines, summary.splitlines()[0] if summary else ""
