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
``axes`` : int64 ``(3, 5)``
    Per axis: the first position of the window region (minus the begin
    padding), the input positions ``[start, stop)`` inside the region, the
    split ``s`` into phases, and the phase buffer length ``Q``. Input position
    ``i`` goes to phase ``t % s``, buffer position ``t // s``, for
    ``t = i - region start``; phase ``(p0, p1, p2)`` is buffer
    ``(p0 * s1 + p1) * s2 + p2``, each of ``Q0 * Q1 * Q2`` positions plus slack.
``sizes`` : int64 ``(8,)``
    Unused, unused, buffer length per plane, ``O0, O1, O2`` (output
    lengths), ``W1, W2`` (inner lengths of the wide layout, whose outer
    length is ``O0``).
``offsets`` : int64 ``(n, 3)``
    Per window offset reading some input, in code order: phase buffer, flat
    start of its view, code.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["pool_planes", "scatter_planes"]

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")
# Helpers are inlined into their callers: a call per row would pay for
# passing arrays (reference counts included) on every row.
_inline = numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")


@_inline
def _copy_row(x, first, planes, lanes, i0, i1, start, stop, axis, buffers, phase, position):
    """Stage ``x[first:first + planes, i0, i1, start:stop]``: any split, any lanes.

    Element ``i`` of plane ``first + lane`` goes to phase ``phase + t % s``,
    position ``(position + t // s) * lanes + lane`` of the innermost axis,
    where ``t = i - axis[0]`` and ``s = axis[3]``. The innermost loop runs
    over the planes, so that its writes are contiguous.
    """
    split = axis[3]
    t = start - axis[0]
    p, r = t % split, t // split
    for i in range(start, stop):
        at = (position + r) * lanes
        for lane in range(planes):
            buffers[phase + p, np.uint64(at + lane)] = x[
                np.uint64(first + lane), i0, i1, np.uint64(i)
            ]
        p += 1
        if p == split:
            p = 0
            r += 1


@_inline
def _copy_row_split(x, plane, i0, i1, start, stop, axis, buffers, phase, position):
    """`_copy_row` for one plane, not interleaved: whole groups of ``s`` elements go
    through loops with a constant stride, which LLVM turns into vector loads and
    shuffles."""
    split = axis[3]
    head = min(stop, start + (axis[0] - start) % split)  # up to the next phase-0 element
    _copy_row(x, plane, 1, 1, i0, i1, start, head, axis, buffers, phase, position)
    groups = (stop - head) // split
    first = head + groups * split
    base = position + (head - axis[0]) // split
    row = np.uint64(plane)
    if split == 1:
        for c in range(groups):
            at = np.uint64(base + c)
            buffers[phase, at] = x[row, i0, i1, np.uint64(head + c)]
    elif split == 2:
        for c in range(groups):
            at, read = np.uint64(base + c), np.uint64(head + 2 * c)
            buffers[phase, at] = x[row, i0, i1, read]
            buffers[phase + 1, at] = x[row, i0, i1, read + np.uint64(1)]
    elif split == 4:
        for c in range(groups):
            at, read = np.uint64(base + c), np.uint64(head + 4 * c)
            buffers[phase, at] = x[row, i0, i1, read]
            buffers[phase + 1, at] = x[row, i0, i1, read + np.uint64(1)]
            buffers[phase + 2, at] = x[row, i0, i1, read + np.uint64(2)]
            buffers[phase + 3, at] = x[row, i0, i1, read + np.uint64(3)]
    else:
        first = head
    _copy_row(x, plane, 1, 1, i0, i1, first, stop, axis, buffers, phase, position)


@_inline
def _stage(x, first, planes, lanes, axes, buffers):
    """Copy planes ``first .. first + planes - 1`` of ``x`` into the phase buffers.

    ``buffers`` is ``(phases, buffer length * lanes)``; the plane numbered
    ``lane`` in the group goes to positions ``position * lanes + lane``.
    Padding positions are never written: they keep the buffers' fill.
    """
    s1, s2 = axes[1, 3], axes[2, 3]
    q1, q2 = axes[1, 4], axes[2, 4]
    start, stop = axes[2, 1], axes[2, 2]
    for group in range(1 if lanes > 1 else planes):
        for i0 in range(axes[0, 1], axes[0, 2]):
            t0 = i0 - axes[0, 0]
            p0, r0 = t0 % axes[0, 3], t0 // axes[0, 3]
            for i1 in range(axes[1, 1], axes[1, 2]):
                t1 = i1 - axes[1, 0]
                phase = (p0 * s1 + t1 % s1) * s2
                position = (r0 * q1 + t1 // s1) * q2
                row0, row1 = np.uint64(i0), np.uint64(i1)
                if lanes > 1:
                    _copy_row(
                        x,
                        first,
                        planes,
                        lanes,
                        row0,
                        row1,
                        start,
                        stop,
                        axes[2],
                        buffers,
                        phase,
                        position,
                    )
                else:
                    _copy_row_split(
                        x,
                        first + group,
                        row0,
                        row1,
                        start,
                        stop,
                        axes[2],
                        buffers,
                        phase,
                        position,
                    )


@_inline
def _running_max(buffers, offsets, copy_first, first_code, lowest, best, code, nan_aware):
    """First maximum over the window offsets, in code order; return whether NaN was read.

    ``best`` and ``code`` hold the wide layout times the lanes. NaN-blind
    (``nan_aware`` False), a NaN is never selected; NaN-aware, it counts as
    above every number and the first one stays.
    """
    length = best.shape[0]
    wide = first_code.shape[0]
    lanes = length // wide
    first = 0
    if copy_first:
        phase, start = np.uint64(offsets[0, 0]), offsets[0, 1] * lanes
        for i in range(length):
            best[np.uint64(i)] = buffers[phase, np.uint64(start + i)]
            code[np.uint64(i)] = 0
        first = 1
    elif lanes == 1:
        for i in range(length):
            best[np.uint64(i)] = lowest
            code[np.uint64(i)] = first_code[np.uint64(i)]
    else:
        for position in range(wide):
            for i in range(position * lanes, (position + 1) * lanes):
                best[np.uint64(i)] = lowest
                code[np.uint64(i)] = first_code[np.uint64(position)]
    seen = False
    for number in range(first, offsets.shape[0]):
        phase, start = np.uint64(offsets[number, 0]), offsets[number, 1] * lanes
        candidate = np.int32(offsets[number, 2])
        for i in range(length):
            value = buffers[phase, np.uint64(start + i)]
            held = best[np.uint64(i)]
            greater = value > held
            if nan_aware:
                greater |= (value != value) & (held == held)
            seen |= value != value
            best[np.uint64(i)] = value if greater else held
            code[np.uint64(i)] = candidate if greater else code[np.uint64(i)]
    return seen


@_inline
def _write_outputs(best, code, first, planes, sizes, relative, window_start, values, indices):
    """Copy the real outputs of the wide layout into rows ``first ..`` of the outputs."""
    o0, o1, o2, w1, w2 = sizes[3], sizes[4], sizes[5], sizes[6], sizes[7]
    lanes = best.shape[0] // (o0 * w1 * w2)
    for lane in range(planes):
        row = np.uint64(first + lane)
        out = 0
        for a in range(o0):
            for b in range(o1):
                wide = (a * w1 + b) * w2
                if lanes == 1:  # contiguous: vectorised
                    for c in range(o2):
                        values[row, np.uint64(out + c)] = best[np.uint64(wide + c)]
                    for c in range(o2):
                        step = relative[np.uint64(code[np.uint64(wide + c)])]
                        indices[row, np.uint64(out + c)] = window_start[np.uint64(out + c)] + step
                else:
                    for c in range(o2):
                        position = np.uint64((wide + c) * lanes + lane)
                        values[row, np.uint64(out + c)] = best[position]
                        step = relative[np.uint64(code[position])]
                        indices[row, np.uint64(out + c)] = window_start[np.uint64(out + c)] + step
                out += o2


@_jit
def pool_planes(
    x,
    values,
    indices,
    lanes,
    axes,
    sizes,
    offsets,
    copy_first,
    first_code,
    relative,
    window_start,
    lowest,
):
    """Max-pool the planes of ``x`` (``(n, D, H, W)``) into output rows.

    ``values`` and ``indices`` are ``(n, outputs per plane)``. Planes go
    ``lanes`` at a time, interleaved in the staged buffers so that the passes
    run over long contiguous rows even for small planes. Each group is
    maximised NaN-blind first and redone NaN-aware only if it read a NaN.
    """
    wide = first_code.shape[0]
    phases = axes[0, 3] * axes[1, 3] * axes[2, 3]
    buffers = np.full((phases, sizes[2] * lanes), lowest, dtype=x.dtype)
    best = np.empty(wide * lanes, dtype=x.dtype)
    code = np.empty(wide * lanes, dtype=np.int32)
    total = x.shape[0]
    for first in range(0, total, lanes):
        planes = min(lanes, total - first)
        _stage(x, first, planes, lanes, axes, buffers)
        if _running_max(buffers, offsets, copy_first, first_code, lowest, best, code, False):
            _running_max(buffers, offsets, copy_first, first_code, lowest, best, code, True)
        _write_outputs(best, code, first, planes, sizes, relative, window_start, values, indices)


@_jit
def scatter_planes(grad, indices, grad_in):
    """Zero ``grad_in`` (``(n, plane)``) and add each ``grad`` element at its index.

    Planes are zeroed one at a time just before their scatter, so that
    fresh pages are touched by the thread that fills them, while in cache.
    Returns -1, or the flat position in ``indices`` of the first index outside
    its plane (the caller then raises; ``grad_in`` is garbage).
    """
    plane = np.uint64(grad_in.shape[1])
    outputs = indices.shape[1]
    for b in range(grad_in.shape[0]):
        row = np.uint64(b)
        for i in range(plane):
            grad_in[row, i] = 0
        for o in range(outputs):
            index = np.uint64(indices[row, np.uint64(o)])
            if index >= plane:
                return b * outputs + o
            grad_in[row, index] += grad[row, np.uint64(o)]
    return -1
