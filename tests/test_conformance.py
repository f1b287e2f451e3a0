"""The conformance suite (`impls.conformance.suite`) on the implementations under test.

Select them with ``--impl`` (default: the built-in ones); each property and
each group of fixed-input checks runs once per implementation.
"""

from __future__ import annotations

from impls.conformance.suite import test_fixed_checks, test_property

__all__ = ["test_fixed_checks", "test_property"]
