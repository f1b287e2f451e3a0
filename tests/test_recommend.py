"""Choosing an implementation from rows with injected timings, and the code it prints."""

from __future__ import annotations

import pytest

import impls
from impls import PoolSpec
from impls.tools.bench import BenchCase, Candidate, Row
from impls.tools.quickcheck import CheckResult
from impls.tools.recommend import code_line, recommend
from impls.tools.references import ScipyReference
from impls.tools.timing import Timing

CASE = BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")


def row(label, forward, backward=None, status="pass", impl=None):
    candidate = Candidate(label, impl or impls.get("strided"), label)
    timings = [None if t is None else Timing((t,), 1) for t in (forward, backward)]
    check = None if status is None else CheckResult(status)
    return Row(CASE, candidate, check, *timings, peak_extra_bytes=100)


def test_training_ranks_by_forward_plus_backward():
    rows = [row("a", 1.0, 5.0), row("b", 2.0, 1.0), row("c", 0.5, 4.0)]
    chosen = recommend(rows, "training")
    assert chosen.best.candidate.label == "b"
    assert [r.candidate.label for r in chosen.ranked] == ["b", "c", "a"]
    assert chosen.code == 'impls.MaxPool((2, 2), impl="b")'


def test_inference_ranks_by_forward_only():
    rows = [row("a", 1.0, 5.0), row("b", 2.0, 1.0), row("c", 0.5, None)]
    assert recommend(rows, "inference").best.candidate.label == "c"
    # without a backward time, c cannot be ranked for training
    assert recommend(rows, "training").best.candidate.label == "b"


@pytest.mark.parametrize("status", ["fail", "error", "unsupported", None])
def test_only_implementations_that_passed_the_check_qualify(status):
    rows = [row("fast", 0.1, 0.1, status=status), row("slow", 9.0, 9.0)]
    chosen = recommend(rows)
    assert chosen.best.candidate.label == "slow"
    assert [r.candidate.label for r in chosen.ranked] == ["slow", "fast"]


def test_references_are_never_recommended():
    reference = row("scipy.ndimage", 0.001, 0.001, impl=ScipyReference())
    assert reference.candidate.is_reference
    assert recommend([reference, row("strided", 1.0, 1.0)]).best.candidate.label == "strided"


def test_nothing_qualifies():
    chosen = recommend([row("broken", 1.0, 1.0, status="fail")])
    assert chosen.best is None
    assert chosen.code == ""


def test_unknown_goal():
    with pytest.raises(ValueError, match=r"goal must be one of"):
        recommend([row("a", 1.0, 1.0)], "latency")


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (PoolSpec((2, 2)), 'impls.MaxPool((2, 2), impl="x")'),
        (PoolSpec((3, 3), 2, 1), 'impls.MaxPool((3, 3), stride=2, padding=1, impl="x")'),
        (
            PoolSpec((3, 3), (1, 2), (1, 0)),
            'impls.MaxPool((3, 3), stride=(1, 2), padding=(1, 0), impl="x")',
        ),
        (
            PoolSpec((3,), padding=((0, 1),), dilation=2, ceil_mode=True),
            'impls.MaxPool((3,), padding=((0, 1),), dilation=2, ceil_mode=True, impl="x")',
        ),
        (
            PoolSpec((3, 3), 1, "same_lower"),
            'impls.MaxPool((3, 3), stride=1, padding="same_lower", impl="x")',
        ),
    ],
)
def test_code_line_round_trips(spec, line):
    assert code_line(spec, "x") == line
    built = eval(line.replace('impl="x"', 'impl="strided"'), {"impls": impls})
    assert built.spec == spec
