"""Shared fixtures: every test that takes ``impl`` runs once per implementation."""

from __future__ import annotations

import pytest

import impls


@pytest.fixture(params=impls.names())
def impl(request: pytest.FixtureRequest) -> impls.MaxPoolImpl:
    return impls.get(request.param)
