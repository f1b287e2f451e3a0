"""The one timing loop: what `time_rounds` calls, in which order, and what it returns."""

from __future__ import annotations

from impls.tools import timing


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
