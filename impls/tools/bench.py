"""Measure implementations on pooling cases: the engine behind ``maxpool bench``.

A `BenchCase` is an input shape, a dtype and a `PoolSpec`; a `Candidate` is an
implementation (or a reference library) to measure on it. `measure` times the
first forward call on the case (which pays for any compiling or caching),
runs the quick conformance check (`impls.tools.quickcheck`), then times forward
and backward in the steady state and measures the peak extra memory of
forward (`impls.tools.timing`), and returns a `Row`. Rendering the rows is
`impls.tools.report`'s job.

Examples
--------
>>> from impls.tools.bench import BenchCase, Settings, candidates, measure
>>> case = BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")
>>> strided = [c for c in candidates(references=False) if c.label == "strided"][0]
>>> row = measure(case, strided, Settings(repeats=1), x=case.make_input())
>>> row.check.status, row.forward is not None, row.peak_extra_bytes > 0
('pass', True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conformance.values import same_bits
from ..protocol import Capabilities
from ..registry import get, names, resolve
from ..spec import PoolSpec
from .isolation import call_isolated
from .quickcheck import ORACLE_NAME, CheckResult, quick_check
from .references import Reference, available_references
from .timing import Timing, peak_extra_bytes, sample_seconds, time_call
from .workloads import NAIVE_STEP_BUDGET, WORKLOADS, Workload, naive_steps, random_input

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "BenchCase",
    "Candidate",
    "Row",
    "Settings",
    "candidates",
    "measure",
    "measure_isolated",
    "run",
    "skip_reason",
    "standard_cases",
]


@dataclass(frozen=True)
class BenchCase:
    """One pooling problem: input shape and dtype, and the spec."""

    label: str
    description: str
    input_shape: tuple[int, ...]
    spec: PoolSpec
    dtype: str

    @classmethod
    def from_workload(cls, workload: Workload) -> BenchCase:
        return cls(
            workload.name,
            workload.description,
            workload.input_shape,
            PoolSpec(**workload.spec_kwargs),
            workload.dtype,
        )

    @classmethod
    def custom(cls, input_shape: Sequence[int], spec: PoolSpec, dtype: str) -> BenchCase:
        return cls("custom", "your case", tuple(input_shape), spec, dtype)

    @property
    def output_shape(self) -> tuple[int, ...]:
        split = len(self.input_shape) - self.spec.ndim
        return self.input_shape[:split] + self.spec.output_shape(self.input_shape[split:])

    @property
    def output_bytes(self) -> int:
        """Bytes of the values plus the int64 indices."""
        itemsize = np.dtype(self.dtype).itemsize + np.dtype(np.int64).itemsize
        return math.prod(self.output_shape) * itemsize

    def make_input(self) -> np.ndarray:
        """The benchmark input, the same on every run."""
        return random_input(self.input_shape, self.dtype, seed=0)


def standard_cases(selected: Sequence[str] = ()) -> list[BenchCase]:
    """The standard workloads (all, or those named in ``selected``), as cases."""
    return [BenchCase.from_workload(w) for w in WORKLOADS if not selected or w.name in selected]


@dataclass(frozen=True)
class Candidate:
    """Something to measure: an implementation, or a reference library.

    ``code_ref`` is what a user passes as ``impl=`` (a registered name or a
    ``"module:attribute"`` path); it is empty for references.
    """

    label: str
    impl: Any
    code_ref: str = ""

    @property
    def is_reference(self) -> bool:
        return isinstance(self.impl, Reference)


def candidates(
    extra: Sequence[str] = (),
    *,
    only: Sequence[str] = (),
    references: bool = True,
) -> list[Candidate]:
    """Registered implementations (or ``only`` those), then ``extra`` ones, then references.

    ``extra`` entries are names or ``"package.module:attribute"`` paths.
    """
    found = [Candidate(name, get(name), name) for name in names() if not only or name in only]
    for target in extra:
        if any(c.code_ref == target for c in found):
            continue
        impl = resolve(target)
        label = target if ":" in target else impl.name
        found.append(Candidate(label, impl, target))
    if references:
        found += [Candidate(ref.name, ref) for ref in available_references()]
    return found


# Seconds one candidate may take on one case, check and timings together. The
# slowest built-in measurement, im2col on VGG-16, takes about 25 s here.
DEFAULT_TIME_LIMIT = 60.0


@dataclass(frozen=True)
class Settings:
    """How to time (`impls.tools.timing.time_call`), and how long to wait at most.

    ``time_limit`` bounds each candidate (`measure_isolated`).
    """

    warmup: int = 1
    repeats: int = 5
    min_repeats: int = 3
    budget_seconds: float = 3.0
    time_limit: float = DEFAULT_TIME_LIMIT
    # Untimed calls go on this long (none with ``warmup`` 0): a fresh process's
    # two threads ran on one CPU of a 2-CPU virtual machine for their first
    # 40-50 ms of load (the ResNet-50 stem's forward 10.1 against 5.8 ms).
    warmup_seconds: float = 0.1

    def time(self, func: Callable[[], object], warmup: int | None = None) -> Timing:
        return time_call(
            func,
            warmup=self.warmup if warmup is None else warmup,
            warmup_seconds=self.warmup_seconds if self.warmup else 0.0,
            repeats=self.repeats,
            min_repeats=self.min_repeats,
            budget_seconds=self.budget_seconds,
        )


@dataclass(frozen=True)
class Row:
    """The measurements of one candidate on one case.

    ``forward``/``backward`` are ``None`` when not measured, and ``note``
    then says why; ``peak_extra_bytes`` is ``None`` for references.
    ``first_call`` is the seconds of the first forward call on the case, in
    the child process that measures the candidate, or in this one for references
    (``None`` if it failed).
    """

    case: BenchCase
    candidate: Candidate
    check: CheckResult | None = None
    forward: Timing | None = None
    backward: Timing | None = None
    peak_extra_bytes: int | None = None
    note: str = ""
    first_call: float | None = None

    @property
    def total_seconds(self) -> float | None:
        """Forward plus backward median, when both were measured."""
        if self.forward is None or self.backward is None:
            return None
        return self.forward.median + self.backward.median


def skip_reason(case: BenchCase, candidate: Candidate) -> str | None:
    """Why ``candidate`` is not measured on ``case`` at all, or ``None``."""
    if candidate.is_reference:
        return candidate.impl.not_applicable(case.input_shape, case.spec, np.dtype(case.dtype))
    missing = Capabilities.of(candidate.impl).unsupported(
        case.spec, np.dtype(case.dtype), case.input_shape
    )
    if missing:
        return f"unsupported: outside {candidate.label}'s declared limits ({'; '.join(missing)})"
    if candidate.code_ref == ORACLE_NAME:
        steps = naive_steps(case.input_shape, case.spec)
        if steps > NAIVE_STEP_BUDGET:
            return (
                f"skipped: {steps / 1e6:.1f}M window elements in Python loops "
                f"(~{steps / 1e6:.0f} s per call); naive runs up to {NAIVE_STEP_BUDGET / 1e6:g}M"
            )
    return None


def _check(case: BenchCase, candidate: Candidate) -> CheckResult:
    if candidate.is_reference:
        return quick_check(
            candidate.impl,
            case.input_shape,
            case.spec,
            case.dtype,
            values_only=not candidate.impl.gives_indices,
            with_nan=candidate.impl.check_with_nan,
        )
    return quick_check(candidate.impl, case.input_shape, case.spec, case.dtype)


def _time(
    case: BenchCase, candidate: Candidate, settings: Settings, x: np.ndarray
) -> tuple[Timing, Timing | None, int | None]:
    """Forward timing, backward timing (``None`` without indices), peak extra bytes."""
    impl, spec = candidate.impl, case.spec

    def forward() -> tuple[np.ndarray, Any]:
        return impl.forward(x, spec)

    if candidate.is_reference:
        peak = None
        forward_time = settings.time(forward)
        values, indices = forward()
    else:
        (values, indices), peak = peak_extra_bytes(forward)
        # The first call and the traced one were warm-up calls already.
        forward_time = settings.time(forward, warmup=max(0, settings.warmup - 2))
    caps = Capabilities.of(impl)
    if indices is None or not caps.backward:
        return forward_time, None, peak
    grad_dtype = caps.gradient_dtype(values.dtype)
    grad_out = np.random.default_rng(1).standard_normal(values.shape).astype(grad_dtype)
    del values
    backward_time = settings.time(lambda: impl.backward(grad_out, indices, case.input_shape, spec))
    return forward_time, backward_time, peak


def _first_call(case: BenchCase, candidate: Candidate, x: np.ndarray) -> float | None:
    """Seconds of the first forward call on ``x``; ``None`` if it raised (reported later)."""
    try:
        return sample_seconds(lambda: candidate.impl.forward(x, case.spec), 1)
    except Exception:  # the check, or the timed calls, say what went wrong
        return None


def _wait_until_compiled(case: BenchCase, candidate: Candidate) -> str:
    """Let an implementation that loads compiled kernels in the background finish loading
    those of this case (input and gradient dtypes), so that they are what is checked
    and timed; a note if they did not load."""
    wait = getattr(candidate.impl, "wait_until_compiled", None)
    if candidate.is_reference or not callable(wait):
        return ""
    dtype = np.dtype(case.dtype)
    grad_dtype = Capabilities.of(candidate.impl).gradient_dtype(dtype)
    if wait([dtype, grad_dtype], shape=case.input_shape, spec=case.spec):
        return ""
    from ..fast import compiled

    return f"compiled kernels did not load ({compiled.status()}): timed on the NumPy path"


def measure(case: BenchCase, candidate: Candidate, settings: Settings, x: np.ndarray) -> Row:
    """Time the first call, then forward and backward of ``candidate`` on ``x``, then check.

    ``x`` is the case's input. The first call is timed on its own, as it pays
    for filling caches; it counts as a warm-up call, and so does the next,
    which runs under `tracemalloc` to measure the peak extra memory. Compiled
    kernels, which the first call does not wait for, are loaded before the
    timed calls and the check (`impls.fast.blocks.BlockedMaxPool.wait_until_compiled`).
    A candidate whose check errs, or which declines the case, gets no timings.
    The check comes last: its small calls run on one thread, and after them the
    scheduler of a 2-CPU virtual machine kept a threaded call's two threads on
    one CPU for longer than the warm-up (C3D's forward 3.3-3.6 against 1.8-2.1 ms).
    """
    reason = skip_reason(case, candidate)
    if reason is not None:
        return Row(case, candidate, note=reason)
    first_call = _first_call(case, candidate, x)
    unloaded = _wait_until_compiled(case, candidate)
    failure = None
    try:
        forward_time, backward_time, peak = _time(case, candidate, settings, x)
    except Exception as err:  # e.g. out of memory on the full input: report, go on
        failure = f"not timed: {type(err).__name__}: {err}"
    check = _check(case, candidate)
    if check.status in ("error", "unsupported"):
        return Row(case, candidate, check, note=f"not timed: {check}", first_call=first_call)
    if failure is not None:
        note = "; ".join(filter(None, [unloaded, failure]))
        return Row(case, candidate, check, note=note, first_call=first_call)
    return Row(case, candidate, check, forward_time, backward_time, peak, unloaded, first_call)


def measure_isolated(
    case: BenchCase, candidate: Candidate, settings: Settings, x: np.ndarray
) -> Row:
    """`measure` in a child process, on its own copy of ``x``, within ``settings.time_limit``.

    A candidate that hangs, raises (`KeyboardInterrupt` and `SystemExit`
    included) or crashes gets a row saying so, and the run goes on. One that
    modifies its input fails its check, and its row says so; ``x`` itself,
    which later rows use, is never handed to a candidate.
    """

    def measured() -> tuple[Any, ...]:
        own = x.copy()
        row = measure(case, candidate, settings, own)
        modified = not same_bits(own, x)
        return (
            row.check,
            row.forward,
            row.backward,
            row.peak_extra_bytes,
            row.note,
            row.first_call,
            modified,
        )

    outcome = call_isolated(measured, settings.time_limit)
    if outcome.failure:
        return Row(case, candidate, note=f"not measured: {outcome.failure}")
    check, forward, backward, peak, note, first_call, modified = outcome.value
    if modified:
        detail = "modified its input (the contract forbids it), so its timings are suspect"
        check = CheckResult("fail", detail, check.input_shape if check else ())
        note = "; ".join(filter(None, [note, detail]))
    return Row(case, candidate, check, forward, backward, peak, note, first_call=first_call)


def run(
    cases: Sequence[BenchCase],
    to_measure: Sequence[Candidate],
    settings: Settings,
    progress: Callable[[str], None] = lambda message: None,
) -> list[Row]:
    """Measure every candidate on every case, reporting each step to ``progress``."""
    rows = []
    total, step = len(cases) * len(to_measure), 0
    for case in cases:
        x = case.make_input()
        for candidate in to_measure:
            step += 1
            progress(f"[{step}/{total}] {case.label}: {candidate.label} ...")
            if candidate.is_reference:
                # The references are this package's own adapters, and torch's OpenMP
                # runtime does not survive a fork once it has run: measured in process.
                row = measure(case, candidate, settings, x.copy())
            else:
                row = measure_isolated(case, candidate, settings, x)
            progress(f"[{step}/{total}] {case.label}: {candidate.label}: {_summary(row)}")
            rows.append(row)
        del x
    return rows


def _summary(row: Row) -> str:
    if row.forward is None:
        return row.note
    parts = [f"check {row.check.status}" if row.check else "", f"forward {_ms(row.forward)}"]
    if row.backward is not None:
        parts.append(f"backward {_ms(row.backward)}")
    return ", ".join(p for p in parts if p)


def _ms(timing: Timing) -> str:
    milliseconds = timing.median * 1e3
    return f"{milliseconds:.1f} ms" if milliseconds >= 1 else f"{milliseconds:.3f} ms"
