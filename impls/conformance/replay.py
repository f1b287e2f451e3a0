"""Replaying one failing case: what the runnable examples of a report call.

Examples
--------
>>> import numpy as np
>>> import impls
>>> from impls import PoolSpec
>>> from impls.conformance.strategies import Case
>>> case = Case(PoolSpec((2,)), np.array([3.0, 3.0]), "C", "ties")
>>> check_case("first_maximum_on_ties", impls.get("naive"), case)  # passes: returns None
"""

from __future__ import annotations

from impls import MaxPoolImpl

from .diagnose import collecting
from .fixed import BY_NAME as FIXED
from .fixed import GROUPS
from .properties import BY_NAME as PROPERTIES
from .runner import LimitedImpl, check_one, group_half, judged_view

__all__ = ["check_case", "check_fixed"]


def check_case(prop_name: str, impl: MaxPoolImpl, case: object) -> None:
    """Run property ``prop_name`` on ``impl`` for ``case`` alone; raise what it finds.

    Several distinct bugs come as an ``ExceptionGroup``. Calls outside the
    implementation's declared limits raise Hypothesis's
    ``UnsatisfiedAssumption`` (the case would have been skipped).
    """
    if prop_name not in PROPERTIES:
        raise ValueError(f"unknown property {prop_name!r}; known: {', '.join(PROPERTIES)}")
    prop = PROPERTIES[prop_name]
    check_one(prop, judged_view(impl, prop), case)


def check_fixed(name: str, impl: MaxPoolImpl) -> None:
    """Run the fixed-input check ``name`` on ``impl``; raise what it finds."""
    if name not in FIXED:
        raise ValueError(f"unknown fixed check {name!r}; known: {', '.join(FIXED)}")
    fixed = FIXED[name]
    _, view = group_half(GROUPS[fixed.group])
    limited = LimitedImpl(impl, view)
    collecting(lambda: fixed.run(limited))
