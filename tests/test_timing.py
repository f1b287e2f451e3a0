"""The one timing loop: what `time_rounds` calls, in which order, and what it returns."""

from __future__ import annotations

import pytest

from impls.tools import bench, timing


def test_time_rounds_warms_up_then_interleaves_rotating_rounds(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(timing.time, "sleep", lambda seconds: log.append(f"pause {seconds}"))

    def call(label: str):
        return lambda: log.append(label)

    candidates = {"a": [call("a.forward"), call("a.backward")], "b": [call("b.forward")]}
    result = timing.time_rounds(candidates, rounds=3, min_sample_seconds=0, pause_seconds=0.5)

    warmup = ["a.forward", "a.backward", "b.forward"]
    a, b = ["a.forward", "a.backward", "pause 0.5"], ["b.forward", "pause 0.5"]
    assert log == warmup + a + b + b + a + a + b
    assert [len(t.samples) for t in result["a"] + result["b"]] == [3, 3, 3]
    assert {t.calls_per_sample for t in result["a"] + result["b"]} == {1}


def test_time_rounds_groups_short_calls_into_samples():
    (grouped,) = timing.time_rounds({"nothing": [lambda: None]}, rounds=2)["nothing"]
    assert grouped.calls_per_sample > 1
    assert len(grouped.samples) == 2


def test_time_rounds_warms_each_candidate_up_before_its_samples(monkeypatch):
    log: list[str] = []
    clock = iter(range(1_000_000))  # each reading one second later
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(clock)))

    def call(label: str):
        return lambda: log.append(label)

    candidates = {"a": [call("a.forward"), call("a.backward")], "b": [call("b.forward")]}
    timing.time_rounds(candidates, rounds=2, min_sample_seconds=0, warmup_seconds=2.5)

    # the first call of each candidate, back to back until 2.5 s have passed: two calls
    # (the deadline is set at one reading, then read before each call), then the samples
    warm_a, warm_b = ["a.forward"] * 2, ["b.forward"] * 2
    a, b = ["a.forward", "a.backward"], ["b.forward"]
    first_warmup = ["a.forward", "a.backward", "b.forward"]
    assert log == first_warmup + warm_a + a + warm_b + b + warm_b + b + warm_a + a


def _one_second_per_reading(monkeypatch):
    clock = iter(range(1_000_000))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(clock)))


@pytest.mark.parametrize(("warmup_seconds", "calls"), [(0.0, 2), (3.5, 3), (5.5, 5)])
def test_time_call_warms_up_until_its_seconds_have_passed(monkeypatch, warmup_seconds, calls):
    _one_second_per_reading(monkeypatch)
    log: list[str] = []
    timing.time_call(
        lambda: log.append("call"),
        warmup=1,
        warmup_seconds=warmup_seconds,
        repeats=1,
        min_repeats=1,
    )
    # the clock read at the start, twice around the warm-up call, then once per
    # further warm-up call until the seconds have passed; then one timed call
    assert len(log) == calls


@pytest.mark.parametrize(("warmup", "seconds"), [(1, 0.1), (3, 0.1), (0, 0.0)])
def test_bench_warms_up_for_its_seconds_unless_told_no_warmup(monkeypatch, warmup, seconds):
    seen: dict[str, object] = {}
    monkeypatch.setattr(bench, "time_call", lambda func, **kwargs: seen.update(kwargs))
    bench.Settings(warmup=warmup, warmup_seconds=0.1).time(lambda: None, warmup=0)
    assert seen["warmup"] == 0
    assert seen["warmup_seconds"] == seconds
