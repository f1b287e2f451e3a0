"""``maxpool bench`` survives candidates that hang, raise, crash or modify their input.

Issue 9, items 14 and 15. Each misbehaving candidate runs in its own child
process with its own copy of the input; the time limit here is short, so a
sleeper costs about a second.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import impls
from impls import PoolSpec
from impls.tools import bench, cli, report

CASE = bench.BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")
SETTINGS = bench.Settings(warmup=0, repeats=1, time_limit=2.0)
STRIDED = impls.get("strided")


class Strided:
    """Correct: forwards to ``strided``; subclasses misbehave."""

    name = "misbehaving"

    def forward(self, x, spec):
        return STRIDED.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        return STRIDED.backward(grad_out, indices, input_shape, spec)


class Sleeper(Strided):
    def forward(self, x, spec):
        time.sleep(60)
        return super().forward(x, spec)


class Interrupts(Strided):
    def forward(self, x, spec):
        raise KeyboardInterrupt


class Exits(Strided):
    def forward(self, x, spec):
        raise SystemExit(3)


class Crashes(Strided):
    def forward(self, x, spec):
        os._exit(7)


class Mutates(Strided):
    def forward(self, x, spec):
        result = super().forward(x, spec)
        x[...] = 0  # forbidden: inputs are never modified
        return result


def run(*misbehaving: Strided) -> list[bench.Row]:
    to_measure = [bench.Candidate(type(impl).__name__, impl) for impl in misbehaving]
    to_measure.append(bench.Candidate("strided", STRIDED, "strided"))
    return bench.run([CASE], to_measure, SETTINGS)


@pytest.mark.parametrize(
    ("impl", "note"),
    [
        (Sleeper(), "not measured: stopped after the time limit of 2 s"),
        (Interrupts(), "not measured: raised KeyboardInterrupt"),
        (Exits(), "not measured: raised SystemExit: 3"),
        (Crashes(), "not measured: crashed (exit code 7)"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_a_candidate_that_hangs_or_raises_gets_its_row_and_the_run_goes_on(impl, note):
    started = time.monotonic()
    bad, good = run(impl)
    assert bad.note == note
    assert bad.forward is None
    assert good.check.passed
    assert good.forward is not None
    assert time.monotonic() - started < 30


def test_a_candidate_that_modifies_its_input_is_flagged_and_spoils_no_other_row():
    x = CASE.make_input()
    pristine = x.copy()
    to_measure = [bench.Candidate("Mutates", Mutates()), bench.Candidate("strided", STRIDED)]
    bad, good = [bench.measure_isolated(CASE, c, SETTINGS, x) for c in to_measure]
    assert bad.check.status == "fail"
    assert "modified its input" in bad.check.detail
    assert "modified its input" in bad.note
    assert good.check.passed
    assert "modified" not in good.note
    assert np.array_equal(x, pristine)


def test_the_time_limit_is_an_option(monkeypatch):
    seen = []
    monkeypatch.setattr(
        bench, "run", lambda cases, to_measure, settings, progress: seen.append(settings) or []
    )
    monkeypatch.setattr(report, "bench_text", lambda *args: "")
    cli.main(["bench", "--workload", "lenet5", "--time-limit", "7.5", "--quiet"])
    assert seen[0].time_limit == 7.5


class SlowFirstCall:
    """Correct, but its first call pays a one-off cost (as a JIT compiling would)."""

    name = "slow-first-call"

    def __init__(self):
        self.warm = False

    def forward(self, x, spec):
        if not self.warm:
            time.sleep(0.3)
            self.warm = True
        return STRIDED.forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        return STRIDED.backward(grad_out, indices, input_shape, spec)


def test_the_first_call_is_timed_apart_from_the_steady_state():
    x = CASE.make_input()
    row = bench.measure_isolated(CASE, bench.Candidate("slow", SlowFirstCall()), SETTINGS, x)
    assert row.check is not None
    assert row.check.passed, row
    assert row.forward is not None  # the steady state was measured too
    assert row.first_call >= 0.3  # the one-off cost is in the first call's own figure
