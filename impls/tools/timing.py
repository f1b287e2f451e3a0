"""Timing and memory measurement for ``maxpool bench`` and the scripts in ``benchmarks/``.

One timing loop: a sample calls a function back to back (`sample_seconds`),
often enough to last `MIN_SAMPLE_SECONDS` (`calls_per_sample`). `time_call`
times one function in repeats; `time_rounds` times several in interleaved
rounds, as the benchmark scripts compare candidates.

Methodology of ``maxpool bench``, stated once here and printed with every report (`methodology`):
a few untimed warm-up calls, then timed repeats with `time.perf_counter`;
each repeat runs the call often enough to last at least `MIN_SAMPLE_SECONDS`
and records the time per call; the median of the repeats is reported. Peak
extra memory is measured with `tracemalloc`, to which NumPy reports its array
allocations: the peak during one call minus the memory in use just before
it, so the input (allocated earlier) is excluded and the outputs are included.

Examples
--------
>>> timing = time_call(lambda: sum(range(100)), warmup=1, repeats=3)
>>> len(timing.samples), timing.median > 0
(3, True)
>>> import numpy as np
>>> result, extra = peak_extra_bytes(lambda: np.ones(1_000_000))
>>> extra >= 8_000_000
True
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..catalogue import CATALOGUE
from ..fast.threads import get_num_threads

__all__ = [
    "MIN_SAMPLE_SECONDS",
    "THREAD_ENV_VARS",
    "Timing",
    "calls_per_sample",
    "copy_bandwidth",
    "environment",
    "methodology",
    "peak_extra_bytes",
    "sample_seconds",
    "time_call",
    "time_rounds",
]

T = TypeVar("T")
K = TypeVar("K")

MIN_SAMPLE_SECONDS = 0.02
# Environment variables that set the thread count of NumPy's BLAS and of torch.
THREAD_ENV_VARS = (
    "MAXPOOL_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


@dataclass(frozen=True)
class Timing:
    """Seconds per call of each timed repeat, and how many calls each repeat ran."""

    samples: tuple[float, ...]
    calls_per_sample: int

    @property
    def median(self) -> float:
        """Median seconds per call over the repeats."""
        return statistics.median(self.samples)


def time_call(
    func: Callable[[], object],
    *,
    warmup: int = 1,
    warmup_seconds: float = 0.0,
    repeats: int = 5,
    min_repeats: int = 3,
    budget_seconds: float = 3.0,
) -> Timing:
    """Time ``func()``: ``warmup`` untimed calls, then up to ``repeats`` timed repeats.

    Parameters
    ----------
    func : callable
        Called with no arguments.
    warmup : int
        Untimed calls first (first-touch page faults, caches).
    warmup_seconds : float
        Untimed calls go on until this long after the first began (the
        scheduler of a small virtual machine may keep a fresh process's
        threads on one CPU for its first tens of milliseconds of load).
    repeats : int
        Most timed repeats.
    min_repeats : int
        Fewest timed repeats (capped at ``repeats``); beyond them, repeats
        stop once ``budget_seconds`` of timed work has been spent.
    budget_seconds : float
        Time after which no further repeats start, once ``min_repeats`` ran.

    Returns
    -------
    Timing

    Examples
    --------
    >>> time_call(lambda: None, warmup=0, repeats=2).calls_per_sample > 1
    True
    """
    last = 0.0
    started = time.perf_counter()
    for _ in range(warmup):
        last = sample_seconds(func, 1)
    _call_until(func, started + warmup_seconds)
    if warmup == 0:
        last = sample_seconds(func, 1)
        samples = [last]
    else:
        samples = []
    calls = calls_per_sample(last)
    spent = 0.0
    while len(samples) < repeats:
        if len(samples) >= min(min_repeats, repeats) and spent >= budget_seconds:
            break
        seconds = sample_seconds(func, calls)
        spent += seconds * calls
        samples.append(seconds)
    return Timing(tuple(samples), calls)


def sample_seconds(func: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``func()`` called ``calls`` times back to back.

    Parameters
    ----------
    func : callable
        Called with no arguments.
    calls : int
        Calls in the sample.

    Returns
    -------
    float

    Examples
    --------
    >>> sample_seconds(lambda: None, 10) >= 0
    True
    """
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def calls_per_sample(
    seconds_per_call: float, min_sample_seconds: float = MIN_SAMPLE_SECONDS
) -> int:
    """Calls a sample groups so that it lasts ``min_sample_seconds``: enough for the clock.

    Short calls are then timed as a training loop runs them, back to back.

    Parameters
    ----------
    seconds_per_call : float
        One call's time, as measured once; 0 when unknown.
    min_sample_seconds : float
        Shortest sample; 0 times each call on its own.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> calls_per_sample(0.001), calls_per_sample(1.0), calls_per_sample(0.001, 0)
    (20, 1, 1)
    """
    if seconds_per_call <= 0 or min_sample_seconds <= 0:
        return 1
    return max(1, math.ceil(min_sample_seconds / seconds_per_call))


def time_rounds(
    candidates: Mapping[K, Sequence[Callable[[], object]]],
    *,
    rounds: int,
    min_sample_seconds: float = MIN_SAMPLE_SECONDS,
    pause_seconds: float = 0.0,
    warmup_seconds: float = 0.0,
) -> dict[K, tuple[Timing, ...]]:
    """Time several candidates' calls in interleaved rounds, so that drifts hit them alike.

    Each call is first called once, untimed (warm-up), then, unless
    ``min_sample_seconds`` is 0, once more, timed, to set its `calls_per_sample`.
    Each round then takes one sample of every call, candidate after
    candidate, a candidate's calls in their order; each round starts with
    the next candidate, so that none is always timed right after the same
    other one. The medians of the returned timings are the figures to report.

    Parameters
    ----------
    candidates : mapping
        Candidate key -> its calls (called with no arguments).
    rounds : int
        Timed rounds.
    min_sample_seconds : float
        Shortest sample (see `calls_per_sample`); 0 times each call on its own.
    pause_seconds : float
        Sleep after each candidate's samples in a round: time for threads a
        library leaves spinning to settle before the next candidate runs.
    warmup_seconds : float
        Before each candidate's samples in a round, call its first call back
        to back, untimed, for this long: a sample then starts where the machine
        has settled under the load (after a pause, a scheduler may keep a
        process's threads on one CPU until they have run for a while).

    Returns
    -------
    dict
        Candidate key -> one `Timing` per call, in the order of its calls.

    Examples
    --------
    >>> timings = time_rounds({"sum": [lambda: sum(range(9))], "nothing": [lambda: None]},
    ...                       rounds=3, min_sample_seconds=0)
    >>> [len(timing.samples) for timing in timings["sum"] + timings["nothing"]]
    [3, 3]
    """
    numbers: dict[K, list[int]] = {key: [] for key in candidates}
    for key, calls in candidates.items():
        for call in calls:
            call()  # warm-up
            once = sample_seconds(call, 1) if min_sample_seconds > 0 else 0.0
            numbers[key].append(calls_per_sample(once, min_sample_seconds))
    samples: dict[K, list[list[float]]] = {
        key: [[] for _ in calls] for key, calls in candidates.items()
    }
    order = list(candidates)
    for round_number in range(rounds):
        shift = round_number % len(order)
        for key in order[shift:] + order[:shift]:
            _call_until(candidates[key][0], time.perf_counter() + warmup_seconds)
            for call, number, seconds in zip(
                candidates[key], numbers[key], samples[key], strict=True
            ):
                seconds.append(sample_seconds(call, number))
            if pause_seconds > 0:
                time.sleep(pause_seconds)
    return {
        key: tuple(
            Timing(tuple(seconds), number)
            for seconds, number in zip(samples[key], numbers[key], strict=True)
        )
        for key in candidates
    }


def _call_until(call: Callable[[], object], deadline: float) -> None:
    """Call ``call()`` back to back until `time.perf_counter` reaches ``deadline``."""
    while time.perf_counter() < deadline:
        call()


def copy_bandwidth(megabytes: int = 256, repeats: int = 7) -> float:
    """Bytes per second moved by one `numpy.copyto` (read plus write), median of single copies.

    The scripts' copy floor: the time to read and write a workload's bytes at
    this rate. One call on one thread, into a target touched beforehand (no
    page faults), of a ``megabytes`` array, far larger than the caches.

    Examples
    --------
    >>> copy_bandwidth(megabytes=1, repeats=1) > 0
    True
    """
    import numpy as np  # the timing loop itself needs no NumPy

    source = np.ones(megabytes << 18, dtype=np.float32)
    target = np.zeros_like(source)  # touched by the warm-up copy, before timing
    copies = {"copy": [functools.partial(np.copyto, target, source)]}
    (timing,) = time_rounds(copies, rounds=repeats, min_sample_seconds=0)["copy"]
    return 2 * source.nbytes / timing.median


def peak_extra_bytes(func: Callable[[], T]) -> tuple[T, int]:
    """Call ``func()`` under `tracemalloc`; return its result and the peak extra bytes.

    The peak counts every allocation traced during the call that was alive at
    the peak moment, including the returned arrays; memory in use before the
    call is not counted. Allocations outside Python's and NumPy's allocators
    (for example PyTorch's) are not seen.
    """
    already_tracing = tracemalloc.is_tracing()
    if not already_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        result = func()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already_tracing:
            tracemalloc.stop()
    return result, max(0, peak - baseline)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Describe the machine and software a measurement ran on.

    Examples
    --------
    >>> env = environment()
    >>> env['cpu_count'] == os.cpu_count(), 'numpy' in env
    (True, True)
    """
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "maxpool_impls": _version("maxpool-impls"),
        "thread_env": {name: os.environ.get(name) for name in THREAD_ENV_VARS},
    }


def methodology(
    *,
    warmup: int,
    repeats: int,
    min_repeats: int,
    budget_seconds: float,
    warmup_seconds: float = 0.0,
) -> str:
    """One paragraph saying how `time_call` and `peak_extra_bytes` were used.

    Examples
    --------
    >>> methodology(warmup=1, repeats=5, min_repeats=3, budget_seconds=3.0)[:40]
    'Each time is the median of up to 5 timed'
    """
    single = [entry.name for entry in CATALOGUE if not entry.threaded]
    threaded = [entry.name for entry in CATALOGUE if entry.threaded]
    return (
        f"Each time is the median of up to {repeats} timed repeats (at least "
        f"{min(min_repeats, repeats)}; no new repeat after {budget_seconds:g} s), "
        f"after {warmup} untimed warm-up call(s)"
        + (f", going on for {warmup_seconds:g} s at least" if warmup and warmup_seconds else "")
        + "; a repeat runs the call enough "
        f"times to last at least {MIN_SAMPLE_SECONDS * 1000:g} ms. The first "
        "forward call on each case, which pays for filling caches, is timed on "
        "its own and counts as a warm-up call; it never waits for compiled kernels "
        "(the pure-NumPy path serves until they are loaded, in the background), "
        "and the check and the timed calls run once they are. Backward is timed "
        "with float64 gradients wherever an implementation accepts them (the "
        "widest float it accepts otherwise), the same for every implementation: "
        "a float32 training loop's float32 gradients take less. Clock: "
        f"time.perf_counter, wall time, in one process. {', '.join(single)} "
        f"run on one thread; {', '.join(threaded)} split the "
        f"leading axes over {get_num_threads()} threads (impls.set_num_threads, "
        "MAXPOOL_NUM_THREADS). Peak extra memory: tracemalloc peak during the "
        "second (warm-up) forward call minus the memory in use before it: outputs "
        "included, input excluded; not available for references, whose allocators "
        "tracemalloc does not see."
    )
