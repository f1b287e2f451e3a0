"""The conformance suite: every property, for every implementation under test.

Select implementations with ``--impl`` (see ``conftest.py``); each property is
a plain function in ``properties.py``, run here under the current Hypothesis
profile.
"""

from __future__ import annotations

import pytest

from .properties import PROPERTIES, run_property


@pytest.mark.parametrize("prop", PROPERTIES, ids=lambda prop: prop.name)
def test_conformance(impl, prop):
    reason = prop.unavailable(impl)
    if reason is not None:
        pytest.skip(reason)
    run_property(impl, prop)
