"""The built-in implementations: the one list that everything else reads.

`impls.registry` registers them, ``maxpool bench`` and the asv benchmarks
(which load this file by path, so that it also serves older commits) measure
them, the methodology line of reports says which are threaded, and the tests
parametrize over them. Adding an implementation means writing its module and
adding one `Entry` here.

This module imports nothing from the package, and nothing but the standard
library.

Examples
--------
>>> [entry.name for entry in CATALOGUE if entry.family == "readable"]
['naive', 'im2col', 'strided']
>>> by_name("numba").needs
'numba'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "FAMILIES", "Entry", "by_name", "names_in"]

# readable: one module a library can vendor (with spec, geometry and
#   memory), one thread, in the textbook shapes; fast: pure NumPy, blocks of
#   planes over threads; compiled: needs an optional dependency; dispatch:
#   picks among the others.
FAMILIES = ("readable", "fast", "compiled", "dispatch")


@dataclass(frozen=True)
class Entry:
    """One built-in implementation.

    ``target`` is ``"module:attribute"``, imported on first use. ``needs``
    names the optional module it requires (installed by the extra of the
    same name), or is ``None``.
    """

    name: str
    target: str
    family: str
    idea: str
    needs: str | None = None

    @property
    def threaded(self) -> bool:
        """Whether it splits the leading axes over `impls.set_num_threads` threads."""
        return self.family != "readable"


CATALOGUE: tuple[Entry, ...] = (
    Entry("naive", "impls.naive:NaiveMaxPool", "readable", "Python loops; the oracle"),
    Entry("im2col", "impls.im2col:Im2colMaxPool", "readable", "im2col, argmax, col2im"),
    Entry(
        "strided",
        "impls.stride_tricks:StridedMaxPool",
        "readable",
        "sliding_window_view, argmax, np.add.at",
    ),
    Entry(
        "sliced",
        "impls.fast.view_running_max:SlicedMaxPool",
        "fast",
        "running maximum over strided views",
    ),
    Entry(
        "reshape",
        "impls.fast.staged_running_max:ReshapeMaxPool",
        "fast",
        "running maximum over staged contiguous rows",
    ),
    Entry(
        "separable",
        "impls.fast.separable:SeparableMaxPool",
        "fast",
        "one pooled axis at a time",
    ),
    Entry(
        "numba",
        "impls.fast.numba_pool:NumbaMaxPool",
        "compiled",
        "the staged running maximum as compiled loops",
        needs="numba",
    ),
    Entry("auto", "impls.fast.auto:AutoMaxPool", "dispatch", "the fastest for the case"),
)


def names_in(*families: str) -> tuple[str, ...]:
    """Names of the implementations in ``families``, in catalogue order.

    Examples
    --------
    >>> names_in("fast", "dispatch")
    ('sliced', 'reshape', 'separable', 'auto')
    """
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"no such family {sorted(unknown)}; the families are {FAMILIES}")
    return tuple(entry.name for entry in CATALOGUE if entry.family in families)


def by_name(name: str) -> Entry:
    """The `Entry` called ``name``; `KeyError` if there is none."""
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    raise KeyError(name)
