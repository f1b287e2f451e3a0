"""The input as ``(batch, *spatial)`` planes, without copying it whole.

The fast implementations work on blocks of planes: the leading axes of the
input merged into one. Most inputs merge with a reshape that is a view. When
the leading axes cannot merge without a copy (NHWC data viewed as NCHW with
``x.transpose(0, 3, 1, 2)``: the channel axis has the smallest stride),
`planes_of` returns a `StagedPlanes` instead, which copies each block of
planes into a buffer of its own when a worker asks for it. Extra memory is
then one block per thread, never the whole input.

Examples
--------
>>> import numpy as np
>>> nhwc = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
>>> nchw = nhwc.transpose(0, 3, 1, 2)  # (2, 5, 3, 4): channels have the smallest stride
>>> source = planes_of(nchw, spatial_ndim=2)
>>> blocks = source.blocks(capacity=4)
>>> bool((blocks[3:7] == nchw.reshape(10, 3, 4)[3:7]).all())
True
"""

from __future__ import annotations

import itertools
import math
from typing import Protocol

import numpy as np

__all__ = ["PlaneSource", "StagedPlanes", "planes_of"]


class PlaneSource(Protocol):
    """What a forward worker reads: ``source[block]`` is ``(n, *spatial)`` planes."""

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, block: slice) -> np.ndarray: ...


def _merges(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Whether axes of these sizes and strides flatten into one without a copy."""
    kept = [(n, s) for n, s in zip(shape, strides, strict=True) if n != 1]
    return all(
        outer == inner * n_inner for (_, outer), (n_inner, inner) in itertools.pairwise(kept)
    )


def planes_of(array: np.ndarray, spatial_ndim: int) -> np.ndarray | StagedPlanes:
    """``array`` as ``(batch, *spatial)`` planes: a view, or a `StagedPlanes`.

    Never copies the input: a view where the leading axes merge, otherwise
    an object that copies one block of planes at a time.
    """
    lead = array.ndim - spatial_ndim
    spatial = array.shape[lead:]
    if array.size == 0 or _merges(array.shape[:lead], array.strides[:lead]):
        return array.reshape(math.prod(array.shape[:lead]), *spatial)
    return StagedPlanes(array, spatial_ndim)


def _copy_range(array: np.ndarray, lead: int, start: int, stop: int, out: np.ndarray) -> None:
    """Copy planes ``start .. stop - 1`` (row-major over the first ``lead`` axes) into ``out``."""
    if lead == 1:
        out[...] = array[start:stop]
        return
    inner = math.prod(array.shape[1:lead])
    done = 0
    while start < stop:
        outer, offset = divmod(start, inner)
        if offset == 0 and stop - start >= inner:  # whole rows of the first axis at once
            rows = (stop - start) // inner
            out[done : done + rows * inner].reshape(rows, *array.shape[1:])[...] = array[
                outer : outer + rows
            ]
            taken = rows * inner
        else:
            taken = min(stop - start, inner - offset)
            _copy_range(array[outer], lead - 1, offset, offset + taken, out[done : done + taken])
        start += taken
        done += taken


class StagedPlanes:
    """Planes of an input whose leading axes do not merge, read block by block.

    Parameters
    ----------
    array : numpy.ndarray
        The input, leading axes then ``spatial_ndim`` pooled axes.
    spatial_ndim : int
        Number of pooled axes.
    """

    def __init__(self, array: np.ndarray, spatial_ndim: int) -> None:
        self.array = array
        self.lead = array.ndim - spatial_ndim
        self.spatial = array.shape[self.lead :]

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def blocks(self, capacity: int) -> _BlockCopies:
        """A reader for one thread: copies blocks of up to ``capacity`` planes into its buffer."""
        return _BlockCopies(self, capacity)


class _BlockCopies:
    """``reader[block]``: the block's planes, copied once into this reader's own buffer."""

    def __init__(self, planes: StagedPlanes, capacity: int) -> None:
        self._planes = planes
        self._buffer = np.empty((capacity, *planes.spatial), planes.dtype)
        self._held: tuple[int, int] | None = None

    @property
    def dtype(self) -> np.dtype:
        return self._planes.dtype

    def __getitem__(self, block: slice) -> np.ndarray:
        start, stop = block.start, block.stop
        out = self._buffer[: stop - start]
        if self._held != (start, stop):  # a worker reads its block several times
            _copy_range(self._planes.array, self._planes.lead, start, stop, out)
            self._held = (start, stop)
        return out
