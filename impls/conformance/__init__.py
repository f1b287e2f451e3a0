"""The conformance harness: verify any max-pooling implementation against the contract.

It needs the ``conformance`` extra (``pip install "maxpool-impls[conformance]"``:
Hypothesis, pytest, SciPy) and runs from any directory:

- ``maxpool verify TARGET`` prints one row per property (see
  `impls.conformance.verify`);
- ``python -m pytest -p impls.conformance.plugin --pyargs impls.conformance.suite
  --impl=TARGET`` runs the same checks as pytest tests;
- `run_property` and `check_case` run them from Python.

A layer class (``forward(x)``, ``backward(dy)``, built with its pool size
and stride) is presented with `from_layer`; its limits are declared with
`impls.Capabilities` and the predicates of `impls.limits`; the index
formats layers keep are converted by the readers in
`impls.conformance.indices`.

The modules: `strategies` (Hypothesis strategies that draw whole calls),
`windows` (the contract's windows and selection rule, written apart),
`checks` (assertion helpers, and the half of the contract each call is
judged in), `diagnose` (naming the forward bug behind a difference),
`gradients` (naming the backward bug from the whole call), `properties`
(the properties), `fixed` (the fixed-input checks), `runner` (running them
within a time budget), `replay` (one case again), `reproduce` (failing
cases as Python), `layers` and `indices` (layer classes), `targets` (what
TARGET may be), `plugin`, `suite` and `child` (pytest, and the child process
``maxpool verify`` runs it in), `record` (what the child leaves behind),
`verify` and `report` (``maxpool verify``), `profiles` (examples and time
per profile), `resources` (bounding a call's memory), `values`
(bug-provoking inputs and bitwise comparison, without Hypothesis: the quick
check of ``maxpool bench`` uses them).
Submodules are imported on first use, so importing this package costs
nothing until a name is used.

Examples
--------
>>> from impls.conformance import PROPERTIES, load_target, run_property
>>> from hypothesis import settings
>>> few = settings(max_examples=3)
>>> outcome = run_property(load_target("strided"), PROPERTIES[0], run_settings=few)
>>> outcome.status
'passed'
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "PROPERTIES",
    "Case",
    "IndexReader",
    "LayerImpl",
    "Outcome",
    "Property",
    "axis_offsets",
    "axis_positions",
    "check_case",
    "check_fixed",
    "from_axis_offsets",
    "from_axis_positions",
    "from_layer",
    "from_window_offsets",
    "load_target",
    "onnx_indices",
    "provoking_input",
    "run_property",
    "same_bits",
    "window_offsets",
]

# Public name -> the submodule that defines it.
_WHERE = {
    "PROPERTIES": "properties",
    "Property": "properties",
    "Case": "strategies",
    "IndexReader": "indices",
    "axis_offsets": "indices",
    "axis_positions": "indices",
    "from_axis_offsets": "indices",
    "from_axis_positions": "indices",
    "from_window_offsets": "indices",
    "onnx_indices": "indices",
    "window_offsets": "indices",
    "LayerImpl": "layers",
    "from_layer": "layers",
    "load_target": "targets",
    "Outcome": "runner",
    "run_property": "runner",
    "check_case": "replay",
    "check_fixed": "replay",
    "provoking_input": "values",
    "same_bits": "values",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
