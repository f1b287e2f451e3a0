"""Failing cases as runnable Python: paste the snippet, watch the failure again.

A snippet builds the input exactly (NaN included: its bits are set one by
one, since a NaN's sign and payload are part of what the contract checks),
stores it in the failing memory layout, calls the implementation once, and
re-runs the property's check on that one case.

Examples
--------
>>> import numpy as np
>>> from impls import PoolSpec
>>> from impls.conformance.strategies import Case
>>> x = np.array([1.0, np.nan], dtype=np.float32)
>>> case = Case(PoolSpec((2,)), x, "C", "special (distinct, nan at 40%)", seed=7)
>>> print(case_snippet(case, "nan_propagates_with_the_first_nan_index", "mylib:Pool"))
import numpy as np
from impls import PoolSpec
from impls.conformance import Case, check_case, load_target
<BLANKLINE>
impl = load_target('mylib:Pool')
x = np.array([1.0, np.nan], dtype=np.float32)
x.view(np.uint32)[1] = 0x7FC00000  # the bits of this NaN
spec = PoolSpec((2,))
values, indices = impl.forward(x, spec)
case = Case(spec, x, 'C', 'special (distinct, nan at 40%)', seed=7)
check_case('nan_propagates_with_the_first_nan_index', impl, case)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from impls import PoolSpec
from impls.spec import spec_arguments

if TYPE_CHECKING:  # strategies needs Hypothesis; the snippets do not
    from .strategies import Call, Case

__all__ = ["array_source", "call_snippet", "case_snippet", "spec_source"]

_HEADER = (
    "import numpy as np\n"
    "from impls import PoolSpec\n"
    "from impls.conformance import Case, check_case, load_target\n\n"
)


def spec_source(spec: PoolSpec) -> str:
    """``PoolSpec(...)`` that rebuilds ``spec``, in the arguments of `impls.spec.spec_arguments`.

    Examples
    --------
    >>> spec_source(PoolSpec((2, 2), padding="same"))
    'PoolSpec((2, 2), padding="same")'
    """
    return f"PoolSpec({spec_arguments(spec)})"


def _element(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def _nested(values: object) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return _element(values)


def array_source(array: np.ndarray, name: str = "x") -> list[str]:
    """Lines that rebuild ``array`` (C order) exactly, NaN bits included.

    Examples
    --------
    >>> array_source(np.array([[0.0, -0.0]]))
    ['x = np.array([[0.0, -0.0]], dtype=np.float64)']
    """
    array = np.ascontiguousarray(array)
    lines = [f"{name} = np.array({_nested(array.tolist())}, dtype=np.{array.dtype.name})"]
    if array.shape == (0,) or 0 in array.shape:
        lines = [f"{name} = np.zeros({array.shape}, dtype=np.{array.dtype.name})"]
    if array.dtype.kind == "f" and np.isnan(array).any():
        unsigned = f"np.uint{8 * array.dtype.itemsize}"
        width = 2 * array.dtype.itemsize
        bits = array.view(unsigned.removeprefix("np."))
        where = np.argwhere(np.isnan(array))
        if len(where) <= 8:
            for position in where:
                index = ", ".join(str(int(i)) for i in position)
                lines.append(
                    f"{name}.view({unsigned})[{index}] = "
                    f"0x{int(bits[tuple(position)]):0{width}X}  # the bits of this NaN"
                )
        else:
            every = ", ".join(f"0x{int(b):0{width}X}" for b in bits[np.isnan(array)])
            lines.append(
                f"{name}.view({unsigned})[np.isnan({name})] = [{every}]"
                "  # the bits of each NaN, in C order"
            )
    return lines


def _layout_lines(layout: str, name: str = "x") -> list[str]:
    """Lines that store ``x`` as the case's layout label says (see `relayout`)."""
    stored, _, readonly = layout.partition(", ")
    lines = []
    if stored != "C":
        lines.append(
            "from impls.conformance.strategies import relayout\n"
            f"{name} = relayout({name}, {stored!r}, readonly={bool(readonly)})"
        )
    elif readonly:
        lines.append(f"{name}.flags.writeable = False")
    return lines


def _target_line(target: str | None) -> str:
    if target is None:
        return "impl = ...  # the implementation under test"
    return f"impl = load_target({target!r})"


def case_snippet(case: Case, prop_name: str, target: str | None) -> str:
    """Runnable Python that replays ``case`` (a drawn `Case`) against ``prop_name``."""
    lines = [_target_line(target)]
    lines += array_source(case.x)
    lines += _layout_lines(case.layout)
    lines.append(f"spec = {spec_source(case.spec)}")
    lines.append("values, indices = impl.forward(x, spec)")
    lines.append(f"case = Case(spec, x, {case.layout!r}, {case.regime!r}, seed={case.seed})")
    lines.append(f"check_case({prop_name!r}, impl, case)")
    return _HEADER + "\n".join(lines)


def call_snippet(call: Call, target: str | None) -> str:
    """Runnable Python for a drawn `Call` (an invalid or fuzzed call)."""
    lines = [_target_line(target)]
    names = []
    for position, argument in enumerate(call.args):
        name = f"arg{position}"
        if isinstance(argument, np.ndarray) and argument.dtype.kind in "biuf":
            lines += array_source(argument, name)
        elif isinstance(argument, PoolSpec):
            lines.append(f"{name} = {spec_source(argument)}")
        else:
            lines.append(f"{name} = {argument!r}")
        names.append(name)
    method = call.method
    lines.append(f"impl.{method}({', '.join(names)})  # {call.defect}")
    return _HEADER + "\n".join(lines)
