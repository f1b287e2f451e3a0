"""The compiled loops behind `impls.numba_pool`: one forward kernel, one backward kernel.

Both are ``@numba.njit(nogil=True, cache=True)``: they release the GIL, so
the library's own thread pool (`impls.parallel`) runs them on several
threads at once, and they are compiled once per dtype and then loaded from
the on-disk cache. They know nothing of `PoolSpec`: the caller hands them the
staged layout of `impls.staging` as integer tables (`impls.numba_pool`
builds them), with every geometry seen as 3-D: 1-D and 2-D pools have unit
leading axes, which costs nothing.

Indexing is unsigned wherever an index is provably non-negative: numba adds
a negative-index fix-up to every signed index, which keeps LLVM from
vectorising the loops.

numba compiles one version per array type, layout and writeability
included. The caller hands every array as C-contiguous (inputs read-only,
outputs writable), so each dtype compiles once: with strided inputs the
staging loop would run about twice as slowly anyway.

Forward table layout
--------------------
``copy`` : int64 ``(phases, 3, 4)``
    Per phase buffer and axis: first input position read, input step,
    number of positions copied, first buffer position written (a count of 0
    on the first axis: the phase reads only padding and is never written).
``sizes`` : int64 ``(8,)``
    ``Q1, Q2`` (phase buffer lengths of the two inner axes), buffer length per
    plane, ``O0, O1, O2`` (output lengths), ``W1, W2`` (inner lengths of the
    wide layout, whose outer length is ``O0``).
``offsets`` : int64 ``(n, 3)``
    Per window offset reading some input, in code order: phase buffer, flat
    start of its view, code.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["pool_planes", "scatter_planes"]

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")


@_jit
def _stage(x, planes, lanes, copy, sizes, buffers):  # pragma: no cover - compiled
    """Copy ``planes`` consecutive planes from ``x[start:]`` into the phase buffers.

    Plane ``lane`` goes to positions ``position * lanes + lane``; padding
    positions are never written (they keep the buffers' fill).
    """
    q1, q2 = sizes[0], sizes[1]
    for lane in range(planes):
        plane = x[lane]
        for phase in range(copy.shape[0]):
            if copy[phase, 0, 2] == 0:
                continue
            target = buffers[phase]
            step2, first2, count2 = copy[phase, 2, 1], copy[phase, 2, 0], copy[phase, 2, 2]
            for a in range(copy[phase, 0, 2]):
                i0 = copy[phase, 0, 0] + a * copy[phase, 0, 1]
                for b in range(copy[phase, 1, 2]):
                    row = plane[np.uint64(i0), np.uint64(copy[phase, 1, 0] + b * copy[phase, 1, 1])]
                    start = ((copy[phase, 0, 3] + a) * q1 + copy[phase, 1, 3] + b) * q2
                    start = (start + copy[phase, 2, 3]) * lanes + lane
                    for c in range(count2):
                        target[np.uint64(start + c * lanes)] = row[np.uint64(first2 + c * step2)]


@_jit
def _running_max(buffers, offsets, copy_first, first_code, lowest, best, code, nan_aware):  # pragma: no cover
    """First maximum over the window offsets, in code order; return whether NaN was read.

    ``best`` and ``code`` hold the wide layout times the lanes. NaN-blind
    (``nan_aware`` False), a NaN is never selected; NaN-aware, it counts as
    above every number and the first one stays.
    """
    length = best.shape[0]
    lanes = length // first_code.shape[0]
    first = 0
    if copy_first:
        source, start = buffers[offsets[0, 0]], offsets[0, 1] * lanes
        for i in range(length):
            best[np.uint64(i)] = source[np.uint64(start + i)]
            code[np.uint64(i)] = 0
        first = 1
    else:
        for wide in range(first_code.shape[0]):
            for lane in range(lanes):
                best[np.uint64(wide * lanes + lane)] = lowest
                code[np.uint64(wide * lanes + lane)] = first_code[np.uint64(wide)]
    seen = False
    for number in range(first, offsets.shape[0]):
        source, start = buffers[offsets[number, 0]], offsets[number, 1] * lanes
        candidate = np.int32(offsets[number, 2])
        for i in range(length):
            value = source[np.uint64(start + i)]
            held = best[np.uint64(i)]
            greater = value > held
            if nan_aware:
                greater |= (value != value) & (held == held)
            seen |= value != value
            best[np.uint64(i)] = value if greater else held
            code[np.uint64(i)] = candidate if greater else code[np.uint64(i)]
    return seen


@_jit
def _write_outputs(best, code, planes, lanes, sizes, relative, window_start, values, indices):  # pragma: no cover
    """Copy the real outputs of the wide layout into ``values`` and ``indices`` rows."""
    o0, o1, o2, w1, w2 = sizes[3], sizes[4], sizes[5], sizes[6], sizes[7]
    for lane in range(planes):
        out = 0
        for a in range(o0):
            for b in range(o1):
                wide = (a * w1 + b) * w2
                for c in range(o2):
                    position = np.uint64((wide + c) * lanes + lane)
                    values[lane, np.uint64(out)] = best[position]
                    step = relative[np.uint64(code[position])]
                    indices[lane, np.uint64(out)] = window_start[np.uint64(out)] + step
                    out += 1


@_jit
def pool_planes(
    x, values, indices, lanes, copy, sizes, offsets, copy_first, first_code, relative,
    window_start, lowest,
):  # pragma: no cover - compiled
    """Max-pool planes ``x`` (``(n, D, H, W)``, any strides) into output rows.

    ``values`` and ``indices`` are ``(n, outputs per plane)``. Planes go
    ``lanes`` at a time, interleaved in the staged buffers so that the passes
    run over long contiguous rows even for small planes. Each group is
    maximised NaN-blind first and redone NaN-aware only if it read a NaN.
    """
    wide = first_code.shape[0]
    buffers = np.full((copy.shape[0], sizes[2] * lanes), lowest, dtype=x.dtype)
    best = np.empty(wide * lanes, dtype=x.dtype)
    code = np.empty(wide * lanes, dtype=np.int32)
    total = x.shape[0]
    for start in range(0, total, lanes):
        planes = min(lanes, total - start)
        _stage(x[start:], planes, lanes, copy, sizes, buffers)
        if _running_max(buffers, offsets, copy_first, first_code, lowest, best, code, False):
            _running_max(buffers, offsets, copy_first, first_code, lowest, best, code, True)
        _write_outputs(
            best, code, planes, lanes, sizes, relative, window_start,
            values[start:], indices[start:],
        )


@_jit
def scatter_planes(grad, indices, grad_in):  # pragma: no cover - compiled
    """Zero ``grad_in`` (``(n, plane)``) and add each ``grad`` element at its index.

    Planes are zeroed one at a time just before their scatter, so that
    fresh pages are touched by the thread that fills them, while in cache.
    Returns -1, or the flat position in ``indices`` of the first index outside
    its plane (the caller then raises; ``grad_in`` is garbage).
    """
    plane = np.uint64(grad_in.shape[1])
    outputs = indices.shape[1]
    for b in range(grad_in.shape[0]):
        target = grad_in[b]
        target[:] = 0
        for o in range(outputs):
            index = indices[b, np.uint64(o)]
            if np.uint64(index) >= plane:
                return b * outputs + o
            target[np.uint64(index)] += grad[b, np.uint64(o)]
    return -1
