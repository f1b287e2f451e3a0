"""The conformance suite as a pytest plug-in: ``--impl``, Hypothesis profiles, ``impl``.

``pytest --impl=NAME`` (repeatable) tests registered implementations,
``pytest --impl=package.module:attr`` any object that follows the protocol;
without the option every registered implementation is tested. Every test that
takes ``impl`` runs once per implementation under test.

Hypothesis profiles: ``dev`` (the default: quick), ``ci`` (chosen when the
``CI`` environment variable is set: derandomized, more examples) and
``thorough`` (many more examples). ``--hypothesis-profile=NAME`` or the
``HYPOTHESIS_PROFILE`` environment variable picks one explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import numpy as np
import pytest
from hypothesis import settings

import impls
from impls import Capabilities

from .checks import impl_label

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("thorough", max_examples=1000, deadline=None)


def _default_profile() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    ci = os.environ.get("CI", "").strip().lower()
    return "ci" if ci not in ("", "0", "false", "no") else "dev"


settings.load_profile(_default_profile())  # --hypothesis-profile overrides this later

UNDER_TEST = pytest.StashKey[list[tuple[str, impls.MaxPoolImpl]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("maxpool", "MaxPool conformance")
    group.addoption(
        "--impl",
        action="append",
        default=[],
        metavar="NAME|MODULE:ATTR",
        help=(
            "implementation to test: a registered name or a 'package.module:attribute' path "
            "to an instance or a class taking no arguments (repeatable; default: every "
            "registered implementation)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    targets = list(dict.fromkeys(config.getoption("impl"))) or list(impls.names())
    under_test = []
    for target in targets:
        try:
            impl = impls.resolve(target)
            Capabilities.of(impl)
        except Exception as error:  # any failure to load is a usage error
            raise pytest.UsageError(
                f"--impl={target}: {error}\nregistered implementations: {', '.join(impls.names())}"
            ) from error
        under_test.append((target, _guarded(impl)))
    config.stash[UNDER_TEST] = under_test


def _parametrized_by_the_test(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if name in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test may parametrize `impl` itself (with names, say); it then keeps its own.
    if "impl" in metafunc.fixturenames and not _parametrized_by_the_test(metafunc, "impl"):
        under_test = metafunc.config.stash[UNDER_TEST]
        metafunc.parametrize(
            "impl", [impl for _, impl in under_test], ids=[target for target, _ in under_test]
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    names = ", ".join(target for target, _ in config.stash[UNDER_TEST])
    profile = getattr(settings, "get_current_profile_name", lambda: "(unknown)")()
    return [
        f"maxpool implementations under test: {names} (oracle: naive)",
        f"hypothesis profile: {profile}, {settings.default.max_examples} examples per property",
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    limited = [
        (target, Capabilities.of(impl))
        for target, impl in terminalreporter.config.stash[UNDER_TEST]
        if not Capabilities.of(impl).complete
    ]
    if limited:
        terminalreporter.section("maxpool conformance: left out by declared capabilities")
        for target, caps in limited:
            terminalreporter.line(f"{target}: not tested with {', '.join(caps.left_out())}")


def _is_ours(impl: object) -> bool:
    """Whether ``impl`` is one of this package's implementations."""
    inner = impl._impl if isinstance(impl, _Guarded) else impl
    return type(inner).__module__.partition(".")[0] == "impls"


@pytest.fixture
def raises(impl: impls.MaxPoolImpl) -> Callable[..., AbstractContextManager[object]]:
    """``pytest.raises``, matching the message only for this package's implementations.

    The README prescribes the exception types; the wording of the messages is
    this package's own, which other implementations need not copy.
    """

    def expect(error: type[Exception], match: str) -> AbstractContextManager[object]:
        return pytest.raises(error, match=match if _is_ours(impl) else None)

    return expect


class _Guarded:
    """An implementation that declares limited capabilities, for fixed-input tests.

    A call outside the declared capabilities skips the test instead of
    running it; everything else goes straight through.
    """

    def __init__(self, impl: impls.MaxPoolImpl) -> None:
        self._impl = impl
        self._caps = Capabilities.of(impl)

    def __getattr__(self, attribute: str) -> object:
        return getattr(self._impl, attribute)

    def __repr__(self) -> str:
        return f"<{impl_label(self._impl)}, skipping calls outside {self._caps}>"

    def _skip_outside(self, spec: object, data: object) -> None:
        if not isinstance(spec, impls.PoolSpec):
            return
        try:
            dtype = np.asarray(data).dtype
        except Exception:  # not array-like: the call itself will fail
            dtype = None
        missing = self._caps.unsupported(spec, dtype)
        if missing:
            pytest.skip(f"{impl_label(self._impl)} does not support {', '.join(missing)}")

    def forward(self, x: object, spec: impls.PoolSpec) -> tuple[np.ndarray, np.ndarray]:
        self._skip_outside(spec, x)
        return self._impl.forward(x, spec)

    def backward(
        self,
        grad_out: object,
        indices: object,
        input_shape: Sequence[int],
        spec: impls.PoolSpec,
    ) -> np.ndarray:
        self._skip_outside(spec, grad_out)
        return self._impl.backward(grad_out, indices, input_shape, spec)


def _guarded(impl: impls.MaxPoolImpl) -> impls.MaxPoolImpl:
    return impl if Capabilities.of(impl).complete else _Guarded(impl)  # type: ignore[return-value]
