"""The harness tests itself: each seeded bug is rejected and named, correct outsiders pass."""

from __future__ import annotations

import pytest
from hypothesis import Phase, Verbosity, settings

from impls.conformance.properties import BY_NAME, PROPERTIES
from impls.conformance.runner import Outcome, run_property

from .mutants import MUTANTS, TextbookMaxPool, TextbookMaxPool2D

# Quick and reproducible: a rejection stops at the first failing example (max_examples
# is only an upper bound) and needs no shrinking.
MUTANT_SETTINGS = settings(
    max_examples=200,
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


def rejection(impl: object, prop_name: str) -> Outcome:
    return run_property(impl, BY_NAME[prop_name], run_settings=MUTANT_SETTINGS)


@pytest.mark.parametrize(
    ("mutant", "prop_name"),
    [(mutant, name) for mutant in MUTANTS for name in mutant.caught_by],
    ids=lambda value: getattr(value, "name", value),
)
def test_the_property_rejects_the_mutant(mutant, prop_name):
    outcome = rejection(mutant(), prop_name)
    assert outcome.status == "failed", f"{prop_name} accepts {mutant.__name__}: {mutant.__doc__}"
    # Rejected for a broken rule of the contract, never for a crash of the harness.
    kinds = [failure.kind for failure in outcome.failures]
    assert not any(kind.startswith("harness error") for kind in kinds), outcome.failures


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_the_report_names_the_bug(mutant):
    outcome = rejection(mutant(), mutant.caught_by[0])
    kinds = [failure.kind for failure in outcome.failures]
    assert any(mutant.named in kind for kind in kinds), (
        f"{mutant.__name__} ({mutant.__doc__}) is reported as {kinds}, "
        f"which does not say {mutant.named!r}"
    )


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
    outcome = run_property(outsider(), prop, run_settings=OUTSIDER_SETTINGS)
    assert outcome.status in ("passed", "skipped"), outcome.failures
