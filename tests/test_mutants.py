"""The suite tests itself: every seeded bug is rejected, a correct outsider is accepted."""

from __future__ import annotations

import pytest
from hypothesis import Phase, Verbosity, errors, settings

from .mutants import MUTANTS, TextbookMaxPool, TextbookMaxPool2D
from .properties import PROPERTIES, Property, run_property

BY_NAME = {prop.name: prop for prop in PROPERTIES}

# Quick and reproducible: a rejection stops at the first failing example (max_examples
# is only an upper bound) and needs no shrinking.
MUTANT_SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    verbosity=Verbosity.quiet,
    print_blob=False,
)
# The outsiders must pass, and should they not, the failure must be shrunk.
OUTSIDER_SETTINGS = settings(
    MUTANT_SETTINGS, max_examples=30, phases=list(Phase), verbosity=Verbosity.normal
)


def rejection(impl: object, prop: Property) -> Exception | None:
    """The failure ``prop`` reports on ``impl``, or None if it accepts it.

    Hypothesis's own errors (health checks, unsatisfiable strategies) are
    problems of the suite, not rejections, and propagate.
    """
    try:
        run_property(impl, prop, run_settings=MUTANT_SETTINGS)
    except errors.FlakyFailure as failure:  # fails, but not every time: still a rejection
        return failure
    except errors.HypothesisException:
        raise
    except Exception as failure:
        return failure
    return None


@pytest.mark.parametrize(
    ("mutant", "prop_name"),
    [(mutant, name) for mutant in MUTANTS for name in mutant.caught_by],
    ids=lambda value: getattr(value, "name", value),
)
def test_the_property_rejects_the_mutant(mutant, prop_name):
    failure = rejection(mutant(), BY_NAME[prop_name])
    assert failure is not None, f"{prop_name} accepts {mutant.__name__}: {mutant.__doc__}"
    # Rejected by an assertion about the contract, not by a crash along the way.
    assert isinstance(failure, (AssertionError, errors.FlakyFailure)), repr(failure)


def test_every_mutant_is_a_distinct_bug_caught_somewhere():
    assert len(MUTANTS) >= 12
    assert len({mutant.name for mutant in MUTANTS}) == len(MUTANTS)
    for mutant in MUTANTS:
        assert mutant.caught_by, f"{mutant.__name__} names no property that rejects it"
        assert set(mutant.caught_by) <= set(BY_NAME), f"{mutant.__name__}: unknown properties"


def test_every_property_rejects_some_mutant():
    caught = {name for mutant in MUTANTS for name in mutant.caught_by}
    assert sorted(set(BY_NAME) - caught) == []


@pytest.mark.parametrize("prop", PROPERTIES, ids=lambda prop: prop.name)
@pytest.mark.parametrize("outsider", [TextbookMaxPool, TextbookMaxPool2D], ids=["full", "2d"])
def test_a_correct_outsider_is_accepted(outsider, prop):
    impl = outsider()
    if prop.unavailable(impl):
        pytest.skip(prop.unavailable(impl))
    run_property(impl, prop, run_settings=OUTSIDER_SETTINGS)
