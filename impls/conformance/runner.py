"""Running one property on one implementation, and what came of it.

`run_property` runs a `Property` under Hypothesis and returns an `Outcome`:
``passed``, ``failed`` (one `Failure` per distinct bug, each with its
shrunk case as runnable Python), ``skipped`` (every case lay outside the
declared limits, with counts) or ``not claimed``. It never raises for a
broken implementation; the pytest suite and ``maxpool verify`` both turn its
outcome into their reports.

Calls outside the implementation's declared `impls.Capabilities`, and calls
that raise `NotImplementedError`, are skipped one by one (the drawn case is
discarded and counted), never failed: a limit the implementation admits is
not a bug.

Examples
--------
>>> import impls
>>> from hypothesis import settings
>>> from impls.conformance.properties import BY_NAME
>>> few = settings(max_examples=5)
>>> ties = BY_NAME["first_maximum_on_ties"]
>>> outcome = run_property(impls.get("strided"), ties, run_settings=few)
>>> outcome.status, outcome.cases_run > 0
('passed', True)
"""

from __future__ import annotations

import collections
import os
import re
import signal
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import FailedHealthCheck, Flaky, Unsatisfiable, UnsatisfiedAssumption

from impls import Capabilities, MaxPoolImpl, PoolSpec

from .checks import derives_indices, impl_label
from .diagnose import collecting
from .properties import Property
from .reproduce import call_snippet, case_snippet
from .strategies import Call, Case

if sys.version_info >= (3, 11):
    _ExceptionGroup = BaseExceptionGroup  # noqa: F821 (a builtin from 3.11)
    _Group = ExceptionGroup  # noqa: F821
else:  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup as _ExceptionGroup
    from exceptiongroup import ExceptionGroup as _Group

__all__ = [
    "STATUSES",
    "Failure",
    "LimitedImpl",
    "Outcome",
    "OutsideLimits",
    "TargetExit",
    "check_one",
    "group_half",
    "judged_view",
    "row_deadline",
    "run_checks",
    "run_property",
]

# "not run": ``maxpool verify`` gave up on the row before it started (the target hung on
# the rows before it, or the run's time ran out); the note says which.
STATUSES = ("passed", "failed", "crashed", "skipped", "not claimed", "not run")

_HARNESS = os.path.dirname(os.path.abspath(__file__))
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))


@dataclass
class Failure:
    """One distinct bug: what broke (one line), the details, and the case that shows it."""

    kind: str
    message: str
    example: str = ""


@dataclass
class Outcome:
    """What running one property (or one group of fixed checks) found."""

    name: str
    status: str
    failures: list[Failure] = field(default_factory=list)
    cases_run: int = 0
    cases_skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    note: str = ""
    unit: str = "case"
    # "forward", "backward" or "validation": the half of the contract the row judges.
    half: str = "forward"
    # True where the time budget ended the row before its profile's number of cases.
    budget_reached: bool = False

    @property
    def message(self) -> str:
        """One line per failure, or the note (why skipped, not claimed, or crashed)."""
        if self.failures:
            return "\n".join(f.kind for f in self.failures)
        return self.note

    def counts(self) -> str:
        """``"100 cases, 7 skipped outside the declared limits"``, or empty."""
        if not self.cases_run:
            return ""
        text = f"{self.cases_run} {self.unit}{'s' if self.cases_run != 1 else ''}"
        if self.cases_skipped:
            text += f", {self.cases_skipped} skipped outside the declared limits"
        if self.budget_reached:
            text += ", stopped by the time budget"
        return text


class OutsideLimits(UnsatisfiedAssumption):
    """A call lies outside the declared limits: Hypothesis discards the case, checks skip it."""


class TargetExit(Exception):
    """The implementation raised ``SystemExit`` or ``KeyboardInterrupt``: it ends the process.

    The target's crash, named: its row is ``crashed``, and the report names
    the exception and the call, instead of stopping the whole run.
    """

    def __init__(self, raised: BaseException, method: str) -> None:
        what = type(raised).__name__
        if isinstance(raised, SystemExit):
            what = f"SystemExit({raised.code!r})"
        self.kind = f"crashes: {method} raises {what}, which ends the process"
        super().__init__(f"{self.kind} (a library must raise an Exception, not exit)")


class _Interrupts:
    """Tells a Ctrl-C (SIGINT: the run stops) from a ``KeyboardInterrupt`` that a target raises.

    While a check runs in the main thread, SIGINT goes through a handler that
    notes it before raising as Python's default handler does.
    """

    def __init__(self) -> None:
        self.signalled = False

    def __enter__(self) -> _Interrupts:
        self.signalled = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            if callable(self._previous):
                signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signalled = True
        self._previous(signum, frame)

    def __exit__(self, *exc: object) -> None:
        if callable(self._previous):
            signal.signal(signal.SIGINT, self._previous)


_INTERRUPTS = _Interrupts()


class LimitedImpl:
    """An implementation seen through its declared limits, and through the half being judged.

    A call outside ``Capabilities.of(impl)``, or one that raises
    `NotImplementedError`, is rejected (`hypothesis.reject`): the case is
    discarded, and its reason counted in ``skip_reasons``.

    ``view`` says what forward returns to a check of an implementation whose
    indices are worked out from backward (`impls.conformance.checks.derives_indices`):
    ``"values"`` (forward checks: the values alone, and None for indices,
    so that backward is never called), ``"handles"`` (backward checks: the
    values, and a handle backward takes, without working indices out), or
    None (the indices, worked out). Other implementations ignore it.
    """

    def __init__(self, impl: MaxPoolImpl, view: str | None = None) -> None:
        self.impl = impl
        self.caps = Capabilities.of(impl)
        self.name = impl_label(impl)
        self.capabilities = self.caps
        self.view = view if derives_indices(impl) else None
        self.skip_reasons: collections.Counter[str] = collections.Counter()
        # dtype of the input of each forward call, by indices object, for grad_dtypes="input".
        self._input_dtype: np.dtype | None = None

    def __repr__(self) -> str:
        return repr(self.impl)

    @property
    def indices_from_backward(self) -> bool:
        return derives_indices(self.impl)

    def explain_index(self, indices: np.ndarray, position: tuple[int, ...]) -> str | None:
        explain = getattr(self.impl, "explain_index", None)
        return explain(indices, position) if callable(explain) else None

    def skip(self, reasons: Sequence[str]) -> None:
        """Discard the case, counting ``reasons``."""
        for reason in reasons:
            self.skip_reasons[reason] += 1
        raise OutsideLimits()

    def _call(self, method: Callable[..., Any], name: str, *args: object) -> Any:
        try:
            return method(*args)
        except NotImplementedError as error:
            self.skip([f"NotImplementedError: {error}" if str(error) else "NotImplementedError"])
        except KeyboardInterrupt as error:
            if _INTERRUPTS.signalled:
                raise
            raise TargetExit(error, name) from None
        except SystemExit as error:
            raise TargetExit(error, name) from None

    def forward(self, x: object, spec: object) -> Any:
        if isinstance(spec, PoolSpec) and isinstance(x, np.ndarray):
            missing = self.caps.unsupported(spec, x.dtype, x.shape)
            if missing:
                self.skip(self._reasons(spec, x.shape, missing))
            self._input_dtype = x.dtype
        if self.view == "values":
            return self._call(self.impl.forward_values, "forward", x, spec), None  # type: ignore[attr-defined]
        if self.view == "handles":
            return self._call(self.impl.forward_handle, "forward", x, spec)  # type: ignore[attr-defined]
        return self._call(self.impl.forward, "forward", x, spec)

    def backward(
        self, grad_out: object, indices: object, input_shape: object, spec: object
    ) -> Any:
        if isinstance(spec, PoolSpec) and isinstance(grad_out, np.ndarray):
            shape = input_shape if isinstance(input_shape, tuple) else None
            missing = self.caps.unsupported_backward(
                spec, grad_out.dtype, shape, self._input_dtype
            )
            if missing:
                self.skip(self._reasons(spec, shape, missing))
        return self._call(self.impl.backward, "backward", grad_out, indices, input_shape, spec)

    def _reasons(
        self, spec: PoolSpec, shape: tuple[int, ...] | None, missing: Sequence[str]
    ) -> list[str]:
        """Reasons to count: limits by what they exclude, flags by name."""
        if self.caps.limit is None or shape is None:
            return list(missing)
        broken = set(self.caps.limit.failures(spec, shape))
        excluded = [atom.excluded for atom in self.caps.limit.failed(spec, shape)]
        return [reason for reason in missing if reason not in broken] + excluded


def group_half(claim: str | None) -> tuple[str, str | None]:
    """``(half, view)`` of a group of fixed checks that needs ``claim`` (see `LimitedImpl`)."""
    if claim == "backward":
        return "backward", "handles"
    if claim is None:
        return "forward", "values"
    return claim, None


def judged_view(impl: MaxPoolImpl, prop: Property) -> LimitedImpl:
    """``impl`` as ``prop`` sees it: within its limits, and through the half ``prop`` judges."""
    return LimitedImpl(impl, prop.view)


def _where_raised(error: BaseException) -> tuple[str, bool]:
    """``("file:line in function", raised_by_the_harness)`` for the innermost non-NumPy frame."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if not frame.filename.startswith(_NUMPY):
            in_harness = frame.filename.startswith(_HARNESS) and not frame.filename.endswith(
                ("layers.py", "frameworks.py")
            )
            return f"{frame.filename}:{frame.lineno} in {frame.name}", in_harness
    return "", False


def _describe(error: BaseException) -> tuple[str, str]:
    """``(kind, message)`` for an exception raised while checking a case."""
    kind = getattr(error, "kind", None)
    if isinstance(kind, str):
        return kind, str(error)
    where, in_harness = _where_raised(error)
    name = type(error).__name__
    if isinstance(error, AssertionError) and in_harness:
        return "breaks the contract", str(error)
    if in_harness:
        return f"harness error: {name}", f"{name}: {error} (raised at {where}; please report it)"
    return (
        f"raises {name} on a valid call",
        f"{name}: {error}" + (f" (raised at {where})" if where else ""),
    )


def _example(drawn: object, prop_name: str, target: str | None) -> str:
    if isinstance(drawn, Case):
        return case_snippet(drawn, prop_name, target)
    if isinstance(drawn, Call):
        return call_snippet(drawn, target)
    return ""


def _flatten(error: BaseException) -> list[BaseException]:
    if isinstance(error, _ExceptionGroup):
        leaves = []
        for inner in error.exceptions:
            leaves += _flatten(inner)
        return leaves
    return [error]


# Declared limits and skipped calls discard many drawn cases, by design.
_SUPPRESSED = (HealthCheck.filter_too_much, HealthCheck.too_slow)


# How many times a property looks for bugs: after the first pass finds some, the next
# one treats cases that show only those as passing, and looks for others, with half as
# many cases as the pass before.
PASSES = 3


class _OutOfTime(BaseException):
    """The row's time is up: stops Hypothesis at once (it lets a BaseException through)."""


# A row runs at least this many cases, whatever its time budget.
MIN_CASES = 1


def row_deadline(
    run_deadline: float, rows_left: int, workers: int = 1, now: float | None = None
) -> float:
    """The deadline of the next row: its share of the time left to the ``rows_left`` rows.

    ``workers`` processes run rows side by side, so each row may take
    ``workers`` shares; never past ``run_deadline``.

    Examples
    --------
    >>> row_deadline(100.0, rows_left=4, now=60.0)
    70.0
    >>> row_deadline(100.0, rows_left=4, workers=2, now=60.0)
    80.0
    >>> row_deadline(100.0, rows_left=0, now=120.0)
    120.0
    """
    now = time.time() if now is None else now
    share = max(0.0, run_deadline - now) * workers / max(1, rows_left)
    return min(now + share, max(run_deadline, now))


def _size(drawn: object) -> tuple[int, int]:
    """How big a failing case is, to keep the smallest one seen of each bug."""
    x = getattr(drawn, "x", None)
    return (x.size if isinstance(x, np.ndarray) else 0, len(repr(drawn)))


def check_one(prop: Property, limited: LimitedImpl, case: object) -> None:
    """Run ``prop``'s check on one case; raise every distinct bug it shows (see `collecting`)."""
    __tracebackhide__ = True
    collecting(lambda: prop.check(limited, case), skipped=(UnsatisfiedAssumption,))


def run_property(
    impl: MaxPoolImpl,
    prop: Property,
    *,
    run_settings: settings | None = None,
    target: str | None = None,
    on_case: Callable[[object], None] | None = None,
    deadline: float | None = None,
) -> Outcome:
    """Check ``prop`` on ``impl`` under Hypothesis and return the `Outcome`.

    Parameters
    ----------
    impl : MaxPoolImpl
        The implementation; its ``capabilities`` bound what is drawn.
    prop : Property
        The property to check.
    run_settings : hypothesis.settings, optional
        Default: the current Hypothesis profile.
    target : str, optional
        How the implementation is loaded (``"package.module:attribute"``), for
        the runnable examples; without it they leave the line to fill in.
    on_case : callable, optional
        Called with every drawn case before it runs (``maxpool verify`` keeps
        the last one, to name the case if the process dies).
    deadline : float, optional
        A `time.time` by which the property must end: no new case starts
        after it (once `MIN_CASES` have run), and the failures found so far are
        reported with the smallest case seen of each, shrunk as far as time
        allowed.
    """
    half = prop.half(impl)
    unavailable = prop.availability(impl)
    if unavailable is not None:
        status, reason = unavailable
        return Outcome(prop.name, status, note=reason, half=half)
    limited = judged_view(impl, prop)
    counts = {"run": 0, "skipped": 0}
    # Kinds of bug already found: later passes look for others.
    known: set[str] = set()
    # The smallest failing case seen of each bug, by kind: the report if time runs out.
    smallest: dict[str, tuple[tuple[int, int], BaseException, object]] = {}

    def check(case: Any) -> None:
        if deadline is not None and counts["run"] >= MIN_CASES and time.time() > deadline:
            raise _OutOfTime()
        counts["run"] += 1
        if on_case is not None:
            on_case(case)
        try:
            check_one(prop, limited, case)
            return
        except UnsatisfiedAssumption:
            counts["skipped"] += 1
            raise
        except Exception as error:
            leaves = _flatten(error)
            for leaf in [error, *leaves]:
                leaf._maxpool_case = case  # type: ignore[attr-defined]  # read back by getattr
            kinds = [_describe(leaf)[0] for leaf in leaves]
            for kind, leaf in zip(kinds, leaves, strict=True):
                if kind not in smallest or _size(case) < smallest[kind][0]:
                    smallest[kind] = (_size(case), leaf, case)
            new = [leaf for kind, leaf in zip(kinds, leaves, strict=True) if kind not in known]
            if len(new) == len(leaves):
                raise
        # Outside the handler: the bugs not found yet, alone (a known one makes no failure).
        if new:
            raise new[0] if len(new) == 1 else _Group("distinct bugs in one call", new)

    base = run_settings if run_settings is not None else settings()
    outcome = Outcome(prop.name, "passed", half=half)
    found: list[BaseException] = []
    # The name shows in Hypothesis's reports and enters its database key and
    # derandomized seed; it must be an identifier. Each pass has its own.
    name = prop.name + "__" + re.sub(r"\W", "_", impl_label(impl))
    for attempt in range(PASSES):
        check.__name__ = check.__qualname__ = name + (f"__pass{attempt + 1}" if attempt else "")
        # Later passes look with fewer cases: half as many as the one before.
        examples = max(1, base.max_examples >> attempt)
        test = settings(
            base, max_examples=examples, suppress_health_check=_SUPPRESSED, deadline=None
        )(given(prop.cases(limited.caps))(check))
        if base.derandomize:
            # A seed of the name alone: derandomized runs draw the same cases whatever
            # this module's source (Hypothesis would otherwise hash the function's).
            test = seed(zlib.crc32(check.__name__.encode()))(test)
        try:
            with _INTERRUPTS:
                test()
        except _OutOfTime:
            outcome.budget_reached = True
            found += [leaf for kind, (_, leaf, _) in smallest.items() if kind not in known]
            break
        except Unsatisfiable:
            if attempt == 0:
                outcome.status = "skipped"
            break
        except FailedHealthCheck as error:
            outcome.status = "failed"
            outcome.failures.append(Failure("harness error: Hypothesis health check", str(error)))
            break
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except SystemExit as error:  # raised by the harness's own process, not the target
            raise error
        except BaseException as error:  # the implementation's failures, one per distinct bug
            leaves = _flatten(error)
            if any(isinstance(leaf, _OutOfTime) for leaf in leaves):
                # Time ran out while Hypothesis replayed its failing cases: report the
                # smallest seen of each bug instead.
                outcome.budget_reached = True
                found += [leaf for leaf in leaves if not isinstance(leaf, _OutOfTime)]
                reported = {_describe(part)[0] for error in found for part in _flatten(error)}
                found += [leaf for kind, (_, leaf, _) in smallest.items() if kind not in reported]
                break
            kinds = {_describe(leaf)[0] for leaf in leaves}
            found.append(error)
            if kinds <= known:
                break
            known |= kinds
            continue
        break  # a pass without a new bug: none left to find within the profile
    _add_failures(outcome, found, prop.name, target)
    outcome.cases_run = counts["run"]
    outcome.cases_skipped = counts["skipped"]
    outcome.skip_reasons = dict(limited.skip_reasons.most_common())
    if outcome.status == "passed" and outcome.cases_run == outcome.cases_skipped:
        outcome.status = "skipped"
    if outcome.status == "skipped" and not outcome.note:
        if outcome.skip_reasons:
            reasons = ", ".join(outcome.skip_reasons)
            outcome.note = f"every case lay outside the declared limits ({reasons})"
        else:
            outcome.note = "the declared limits leave no case this property can draw"
    return outcome


def _add_failures(
    outcome: Outcome, found: Sequence[BaseException], prop_name: str, target: str | None
) -> None:
    """One `Failure` per distinct bug among ``found``; a target that exits makes the row crash."""
    seen = set()
    for error in found:
        flaky = isinstance(error, Flaky)
        for leaf in _flatten(error):
            kind, message = _describe(leaf)
            if flaky:
                kind += " (flaky: not on every run)"
            if kind in seen:
                continue
            seen.add(kind)
            drawn = getattr(leaf, "_maxpool_case", getattr(error, "_maxpool_case", None))
            outcome.failures.append(Failure(kind, message, _example(drawn, prop_name, target)))
            if isinstance(leaf, TargetExit):
                outcome.status = "crashed"
                outcome.note = outcome.note or kind
            elif outcome.status != "crashed":
                outcome.status = "failed"


def run_checks(
    impl: MaxPoolImpl,
    name: str,
    checks: Sequence[Any],
    *,
    claim: str | None = None,
    target: str | None = None,
    on_case: Callable[[object], None] | None = None,
    deadline: float | None = None,
) -> Outcome:
    """Run a group of fixed-input checks (see `impls.conformance.fixed`) as one outcome.

    Each check is an object with ``name`` and ``run(impl)``; one whose calls
    lie outside the declared limits counts as skipped. ``claim`` is what the
    group needs claimed (``"backward"``, ``"validation"``, or None for the
    forward half). Past ``deadline`` (a `time.time`), the checks left are not
    run, and the outcome says so.
    """
    half, view = group_half(claim)
    caps = Capabilities.of(impl)
    if claim == "validation" and not caps.claims_validation:
        return Outcome(
            name, "not claimed", note=f"{impl_label(impl)} does not claim it", half=half
        )
    if claim == "backward" and not caps.backward:
        note = f"{impl_label(impl)} does not claim backward"
        return Outcome(name, "not claimed", note=note, half=half)
    limited = LimitedImpl(impl, view)
    outcome = Outcome(name, "passed", unit="check", half=half)
    for fixed in checks:
        if deadline is not None and outcome.cases_run >= MIN_CASES and time.time() > deadline:
            outcome.budget_reached = True
            break
        outcome.cases_run += 1
        if on_case is not None:
            on_case(fixed)
        try:
            with _INTERRUPTS:
                collecting(partial(fixed.run, limited), skipped=(UnsatisfiedAssumption,))
        except UnsatisfiedAssumption:
            outcome.cases_skipped += 1
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as error:
            for leaf in _flatten(error):
                kind, message = _describe(leaf)
                earlier = [f for f in outcome.failures if f.kind == kind]
                if earlier:  # the same bug again: counted, not repeated
                    earlier[0].message += f"; also in {fixed.name}"
                    continue
                snippet = (
                    "from impls.conformance import check_fixed, load_target\n\n"
                    + (f"impl = load_target({target!r})\n" if target else "impl = ...\n")
                    + f"check_fixed({fixed.name!r}, impl)"
                )
                outcome.failures.append(Failure(kind, f"{fixed.name}: {message}", snippet))
                if isinstance(leaf, TargetExit):
                    outcome.status = "crashed"
                    outcome.note = outcome.note or f"{fixed.name}: {kind}"
    if outcome.failures and outcome.status != "crashed":
        outcome.status = "failed"
    outcome.skip_reasons = dict(limited.skip_reasons.most_common())
    if outcome.status == "passed" and outcome.cases_run == outcome.cases_skipped:
        outcome.status = "skipped"
        outcome.note = "every check lay outside the declared limits"
    return outcome
