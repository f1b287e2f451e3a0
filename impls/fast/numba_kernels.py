"""The compiled loops behind `impls.fast.numba_pool`.

Eight kernels, ``@numba.njit(nogil=True, cache=True)``: they release the GIL,
so the library's own thread pool (`impls.fast.threads`) runs them on several
threads at once, and they are compiled once per dtype and then loaded from
the on-disk cache. They know nothing of `PoolSpec`: the caller hands them the
staged layout of `impls.fast.staging` as integer tables (`impls.fast.numba_pool`
builds them), with every geometry seen as 3-D: 1-D and 2-D pools have unit
leading axes, which costs nothing.

* `pool_planes`: the staged running maximum, for any geometry.
* `pool_rows_2_2`, `pool_rows_3_3`, `pool_rows_4_4`: windows read in place,
  without a staging copy, one pass per window row, where the kernel and
  stride along the innermost axis are those two numbers, without dilation
  there; `pool_pairs_2_2`, one pass per two window rows, for small inputs;
  `pool_rows_3_2`, each input row's group maxima staged once per plane, one
  pass per output row over three of them. These allocate nothing and are
  compiled without numba's runtime (see `_jit_rows`).
* `pool_whole_planes`: the first maximum of each whole plane (global pooling),
  where the staged layout would have a single output per plane.
* `scatter_planes`: backward.

Comparing floats as integers
----------------------------
Forward compares integers only. Float bits are read as the signed integers
of their width and turned into keys that order as the contract does:
``-x`` becomes ``-|x|``, ``-0.0`` and ``0.0`` both become 0, and every NaN
the largest key, so the running maximum needs no NaN test, ties of signed
zeros and of NaN keep their first element, and float16 is handled like any
other width (numba cannot compute with float16). Integers are their own
keys. The values returned are read back from the input by
index, so they are the selected elements bit for bit.

Indexing is unsigned wherever an index is provably non-negative: numba adds
a negative-index fix-up to every signed index, which keeps LLVM from
vectorising the loops. numba compiles one version per array type, layout and
writeability included: the caller hands every array C-contiguous (inputs
read-only, outputs writable), so each key dtype compiles once.

Comparing in place
------------------
The row kernels compare the elements themselves, as NumPy would: an element
is later's first maximum when it is greater, or a NaN where the maximum so
far is not, so ties, signed zeros and NaN keep the first element, whose bits
are returned as they are. numba cannot compute with float16: those inputs
take `pool_planes`.

Row table layout
----------------
``axes`` : int64 ``(3, 6)``
    Per axis: the input length, the outputs, the kernel, the stride, the
    dilation and the begin padding (unit axes: ``1, 1, 1, 1, 1, 0``). The
    contract sees that every window reads some input element along each axis.
``rows_of`` : int64 ``(R, k0 * k1, 3)``
    Per output row (the outer output axes, row-major), its window rows in
    code order: ``(i0, i1, step)``, the in-bounds ``(d, h)`` kernel positions
    and the flat offset of the row's first element from the window's start.
``heads`` : int64 ``(R, 2)``
    Per output row, the number of its window rows (at least one) and the flat
    index of its first window's start.
``groups``, ``steps``, ``tags`` (`pool_rows_3_2` only)
    Scratch: ``len(tags) + 1`` slots of staged group maxima (``x``'s dtype)
    and their steps in the group (int32), see `_staged_row`.

Forward table layout
--------------------
``axes`` : int64 ``(3, 5)``
    Per axis: the first position of the window region (minus the begin
    padding), the input positions ``[start, stop)`` inside the region, the
    split ``s`` into phases, and the phase buffer length ``Q``. Input position
    ``i`` goes to phase ``t % s``, buffer position ``t // s``, for
    ``t = i - region start``; phase ``(p0, p1, p2)`` is buffer
    ``(p0 * s1 + p1) * s2 + p2``, each of ``Q0 * Q1 * Q2`` positions plus slack.
``sizes`` : int64 ``(6,)``
    Buffer length per plane, ``O0, O1, O2`` (output lengths), ``W1, W2``
    (inner lengths of the wide layout, whose outer length is ``O0``).
``offsets`` : int64 ``(n, 3)``
    Per window offset reading some input, in code order: phase buffer, flat
    start of its view, and its element's flat offset from the window's start
    in the plane (the *step*), which the running maximum keeps.
``first_step`` : int32, the wide layout
    The step of each window's first in-bounds element (where the running
    maximum starts from ``lowest``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .row_runs import ROW_RUN, ROW_VECTOR

__all__ = [
    "SCATTER_ELEMENTS",
    "pool_pairs_2_2",
    "pool_planes",
    "pool_rows_2_2",
    "pool_rows_3_2",
    "pool_rows_3_3",
    "pool_rows_4_4",
    "pool_whole_planes",
    "scatter_planes",
]

# Backward zeroes the gradient this many elements at a time (or one plane).
SCATTER_ELEMENTS = 4096
# The row kernels fetch ahead, into the cache, the window rows of the output
# rows PREFETCH_AHEAD to twice that on (every PREFETCH_AHEAD rows, those
# PREFETCH_AHEAD rows after the next), where input rows are at most PREFETCH_ROW_BYTES
# long: the hardware prefetchers follow longer runs, and fall behind on C3D's
# rows of 224 bytes, four per output row. Measured, one thread, inputs of 51
# MB: C3D's 3.0 -> 1.9 ns per output, rows of 112 bytes 5.2 -> 3.3; rows of
# 448-896 bytes, mixed (0.68 -> 0.79, 1.43 -> 1.89, 2.85 -> 2.12); from cache
# 15% slower. Two and eight rows ahead did worse than four on C3D.
PREFETCH_AHEAD = 8
PREFETCH_ROW_BYTES = 256

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")
# The row kernels allocate nothing (their callers hand them every array) and
# are compiled without numba's reference counting (its runtime, NRT): with it,
# each inlined helper that takes arrays increments and decrements their
# reference counts, atomically, on every call, which LLVM cannot prune where
# the helper holds a loop: a cost per pass, per output row, that made up half
# of the ResNet-50 stem's time (2.2 against 1.5 ns per output, one thread,
# measured). ``_nrt`` is numba's own option for code without its runtime.
_WITHOUT_RUNTIME: dict[str, Any] = {"_nrt": False}  # not in numba's type stubs
_jit_rows = numba.njit(nogil=True, cache=True, error_model="numpy", **_WITHOUT_RUNTIME)
# Helpers are inlined into their callers: a call per row would pay for
# passing arrays (reference counts included) on every row.
_inline = numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")


@intrinsic
def _prefetch(typingctx, address):
    """Fetch the cache line at ``address`` (a uint64) for reading: LLVM's prefetch."""

    def codegen(context, builder, signature, arguments):
        pointer = builder.inttoptr(arguments[0], ir.PointerType(ir.IntType(8)))
        i32 = ir.IntType(32)
        # named after the pointer type as this llvmlite writes it (p0 or p0i8)
        function = builder.module.declare_intrinsic(
            "llvm.prefetch", [pointer.type],
            ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32]),
        )  # fmt: skip
        # read, into every cache level, data
        builder.call(function, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(types.uint64), codegen


@_jit_rows  # called, not inlined: inlined, it slowed the passes of rows it skips (VGG-16 1.15x)
def _prefetch_rows(x, flat, plane, rows_of, heads, first):
    """Fetch the window rows of `PREFETCH_AHEAD` output rows from ``first`` of ``plane``
    (rows past the last are those of the next plane) into the cache."""
    rows = heads.shape[0]
    address = np.uint64(flat.ctypes.data)
    length = np.uint64(x.shape[3] * x.itemsize)
    for row in range(first, first + PREFETCH_AHEAD):
        at = plane + np.uint64(row // rows)
        if at >= np.uint64(x.shape[0]):
            return
        row = row % rows
        for r in range(heads[row, 0]):
            start = address + np.uint64(x.itemsize) * _row_start(x, at, rows_of, row, r)
            for line in range(np.uint64(0), length + np.uint64(63), np.uint64(64)):
                _prefetch(start + line)


@_inline
def _key(bits, mask, nan):
    """The order key of ``bits`` (see the module docstring).

    For floats ``mask`` is the largest integer of the width and ``nan`` the
    bits of infinity, above which every magnitude is a NaN; for integers both
    are None (a separate compilation, where the key is ``bits`` itself).
    """
    if mask is None:
        return bits
    sign = -np.int64(bits < 0)
    key = (bits ^ (sign & mask)) + (sign & mask & 1)
    return mask if (bits & mask) > nan else key


@_inline
def _copy_row(
    x, first, planes, lanes, i0, i1, start, stop, axis, buffers, phase, position, mask, nan
):
    """Stage the keys of ``x[first:first + planes, i0, i1, start:stop]``: any split, any lanes.

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
            bits = x[np.uint64(first + lane), i0, i1, np.uint64(i)]
            buffers[phase + p, np.uint64(at + lane)] = _key(bits, mask, nan)
        p += 1
        if p == split:
            p = 0
            r += 1


@_inline
def _copy_row_split(x, plane, i0, i1, start, stop, axis, buffers, phase, position, mask, nan):
    """`_copy_row` for one plane, not interleaved: whole groups of ``s`` elements
    (``s`` up to 4) go through loops with a constant stride, which LLVM turns into
    vector loads and shuffles."""
    split = axis[3]
    head = min(stop, start + (axis[0] - start) % split)  # up to the next phase-0 element
    for i in range(start, head):  # at most s - 1 elements
        t = i - axis[0]
        at = np.uint64(position + t // split)
        buffers[phase + t % split, at] = _key(x[np.uint64(plane), i0, i1, np.uint64(i)], mask, nan)
    groups = (stop - head) // split
    first = head + groups * split
    base = position + (head - axis[0]) // split
    row = np.uint64(plane)
    if split == 1:
        for c in range(groups):
            at = np.uint64(base + c)
            buffers[phase, at] = _key(x[row, i0, i1, np.uint64(head + c)], mask, nan)
    elif split == 2:
        for c in range(groups):
            at, read = np.uint64(base + c), np.uint64(head + 2 * c)
            buffers[phase, at] = _key(x[row, i0, i1, read], mask, nan)
            buffers[phase + 1, at] = _key(x[row, i0, i1, read + np.uint64(1)], mask, nan)
    elif split == 3:
        for c in range(groups):
            at, read = np.uint64(base + c), np.uint64(head + 3 * c)
            buffers[phase, at] = _key(x[row, i0, i1, read], mask, nan)
            buffers[phase + 1, at] = _key(x[row, i0, i1, read + np.uint64(1)], mask, nan)
            buffers[phase + 2, at] = _key(x[row, i0, i1, read + np.uint64(2)], mask, nan)
    elif split == 4:
        for c in range(groups):
            at, read = np.uint64(base + c), np.uint64(head + 4 * c)
            buffers[phase, at] = _key(x[row, i0, i1, read], mask, nan)
            buffers[phase + 1, at] = _key(x[row, i0, i1, read + np.uint64(1)], mask, nan)
            buffers[phase + 2, at] = _key(x[row, i0, i1, read + np.uint64(2)], mask, nan)
            buffers[phase + 3, at] = _key(x[row, i0, i1, read + np.uint64(3)], mask, nan)
    else:
        first = head
    # The last group, or the whole row with other splits.
    _copy_row(x, plane, 1, 1, i0, i1, first, stop, axis, buffers, phase, position, mask, nan)


@_inline
def _stage(x, first, planes, lanes, axes, buffers, mask, nan):
    """Copy the keys of planes ``first .. first + planes - 1`` of ``x`` into the phase buffers.

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
                        x, first, planes, lanes, row0, row1, start, stop, axes[2],
                        buffers, phase, position, mask, nan,
                    )  # fmt: skip
                else:
                    _copy_row_split(
                        x, first + group, row0, row1, start, stop, axes[2],
                        buffers, phase, position, mask, nan,
                    )  # fmt: skip


@_inline
def _running_max(buffers, offsets, copy_first, first_step, lowest, best, step):
    """First maximum of the keys over the window offsets, in code order.

    ``best`` and ``step`` hold the wide layout times the lanes; ``step`` is the
    selected element's flat offset from its window's start (the offsets'
    third column), so that writing the indices needs no table. The comparison
    is strict, so the first maximum stays.
    """
    length = best.shape[0]
    wide = first_step.shape[0]
    lanes = length // wide
    first = 0
    if copy_first:
        phase, start = np.uint64(offsets[0, 0]), offsets[0, 1] * lanes
        held = np.int32(offsets[0, 2])
        for i in range(length):
            best[np.uint64(i)] = buffers[phase, np.uint64(start + i)]
            step[np.uint64(i)] = held
        first = 1
    elif lanes == 1:
        for i in range(length):
            best[np.uint64(i)] = lowest
            step[np.uint64(i)] = first_step[np.uint64(i)]
    else:
        for position in range(wide):
            for i in range(position * lanes, (position + 1) * lanes):
                best[np.uint64(i)] = lowest
                step[np.uint64(i)] = first_step[np.uint64(position)]
    for number in range(first, offsets.shape[0]):
        phase, start = np.uint64(offsets[number, 0]), offsets[number, 1] * lanes
        candidate = np.int32(offsets[number, 2])
        for i in range(length):
            key = buffers[phase, np.uint64(start + i)]
            held = best[np.uint64(i)]
            greater = key > held
            best[np.uint64(i)] = key if greater else held
            step[np.uint64(i)] = candidate if greater else step[np.uint64(i)]


@_inline
def _bits(key, mask):
    """The bits of the float whose key is ``key`` (`_key` inverted), but for 0 and NaN."""
    if mask is None:
        return key
    return key if key >= 0 else -key | ~mask


@_inline
def _write_outputs(best, step, first, planes, sizes, window_start, flat, values, indices, mask):
    """Write indices and values into rows ``first ..`` of the outputs.

    An index is its window's start plus the selected step. Values come from
    the keys, except for keys that stand for several bit patterns (signed
    zeros, NaN payloads): those are read from the input (``flat``,
    ``(n, plane)``) at their index.
    """
    o0, o1, o2, w1, w2 = sizes[1], sizes[2], sizes[3], sizes[4], sizes[5]
    lanes = step.shape[0] // (o0 * w1 * w2)
    for lane in range(planes):
        row = np.uint64(first + lane)
        out = 0
        ambiguous = False
        for a in range(o0):
            for b in range(o1):
                # Position (wide + c) * lanes + lane of the wide layout; the
                # loops for one plane per group are separate, as vectorised.
                wide = (a * w1 + b) * w2
                if lanes == 1:
                    for c in range(o2):
                        at = np.uint64(out + c)
                        indices[row, at] = window_start[at] + step[np.uint64(wide + c)]
                    for c in range(o2):
                        key = best[np.uint64(wide + c)]
                        values[row, np.uint64(out + c)] = _bits(key, mask)
                        if mask is not None:
                            ambiguous |= (key == 0) | (key == mask)
                else:
                    for c in range(o2):
                        position = np.uint64((wide + c) * lanes + lane)
                        at = np.uint64(out + c)
                        indices[row, at] = window_start[at] + step[position]
                        key = best[position]
                        values[row, at] = _bits(key, mask)
                        if mask is not None:
                            ambiguous |= (key == 0) | (key == mask)
                out += o2
        if ambiguous:  # written as 0 or as the NaN key: read the element itself
            for out in range(values.shape[1]):
                written = values[row, np.uint64(out)]
                if written == 0 or written == mask:
                    values[row, np.uint64(out)] = flat[
                        row, np.uint64(indices[row, np.uint64(out)])
                    ]


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
    first_step,
    window_start,
    lowest,
    mask,
    nan,
):
    """Max-pool the planes of ``x`` (``(n, D, H, W)``) into output rows.

    ``x`` and ``values`` hold bits (see the module docstring; ``lowest`` is
    the smallest key, below every element's), ``values`` and ``indices`` are
    ``(n, outputs per plane)``. Planes go ``lanes`` at a time, interleaved in
    the staged buffers so that the passes run over long contiguous rows even
    for small planes.
    """
    total = x.shape[0]
    flat = x.reshape((total, x.shape[1] * x.shape[2] * x.shape[3]))
    wide = first_step.shape[0]
    phases = axes[0, 3] * axes[1, 3] * axes[2, 3]
    buffers = np.full((phases, sizes[0] * lanes), lowest, dtype=x.dtype)
    best = np.empty(wide * lanes, dtype=x.dtype)
    step = np.empty(wide * lanes, dtype=np.int32)
    for first in range(0, total, lanes):
        planes = min(lanes, total - first)
        _stage(x, first, planes, lanes, axes, buffers, mask, nan)
        _running_max(buffers, offsets, copy_first, first_step, lowest, best, step)
        _write_outputs(best, step, first, planes, sizes, window_start, flat, values, indices, mask)


@_inline
def _later(element, top, chosen, candidate):
    """The first maximum of ``top`` (at ``chosen``) and a later ``element`` (at ``candidate``).

    The later element wins when greater, or when it is a NaN and ``top`` is
    not (integers are never NaN: the test compiles away).
    """
    wins = (top == top) & (not (element <= top))
    return (element if wins else top), (candidate if wins else chosen)


@_inline
def _group_top(flat, read, width, candidate):
    """The first maximum of ``flat[read:read + width]`` and its step.

    ``candidate`` is the first element's step; ``width`` (2 to 4) is a
    constant where this is inlined, so the loop of the caller has no inner
    loop left and vectorises.
    """
    top, chosen = flat[read], candidate
    if width >= 2:
        top, chosen = _later(flat[read + np.uint64(1)], top, chosen, candidate + np.int32(1))
    if width >= 3:
        top, chosen = _later(flat[read + np.uint64(2)], top, chosen, candidate + np.int32(2))
    if width >= 4:
        top, chosen = _later(flat[read + np.uint64(3)], top, chosen, candidate + np.int32(3))
    return top, chosen


@_inline
def _edge_group_top(flat, row_start, length, start, width, candidate):
    """`_group_top` of a group that starts before its row or ends after it.

    The row holds ``flat[row_start:row_start + length]``; only the elements
    inside it count, and the contract sees that there is one.
    """
    first = max(0, -start)
    top = flat[row_start + np.uint64(start + first)]
    chosen = np.int32(candidate + first)
    for k in range(first + 1, min(width, length - start)):
        element = flat[row_start + np.uint64(start + k)]
        top, chosen = _later(element, top, chosen, np.int32(candidate + k))
    return top, chosen


@_inline
def _row_start(x, plane, rows_of, row, r):
    """The flat position in ``x`` of window row ``r`` of output row ``row`` in ``plane``."""
    i0, i1 = np.uint64(rows_of[row, r, 0]), np.uint64(rows_of[row, r, 1])
    depth, height, length = np.uint64(x.shape[1]), np.uint64(x.shape[2]), np.uint64(x.shape[3])
    return ((plane * depth + i0) * height + i1) * length


@_inline
def _reads_inside(x, row_start, split, begin, width, last):
    """Whether the group of output ``last`` of the input row at ``row_start`` ends inside
    ``x``: how far a pass over that row may run on (see `_run`)."""
    return row_start + np.uint64(split * last - begin + width) <= np.uint64(x.size)


@_inline
def _row_number(rows_of, row, r, height):
    """The number ``i0 * height + i1`` of window row ``r`` of output row ``row``: input
    rows in address order within a plane."""
    return rows_of[row, r, 0] * height + rows_of[row, r, 1]


@_inline
def _pair_pass(
    flat, first_row, rows_of, row, width, split, begin, low, run, values, indices, out, base,
):  # fmt: skip
    """The outputs ``low`` to ``low + run - 1`` of an output row of two window rows, in one
    pass that reads both and writes the outputs.

    Output ``c`` reads the ``width`` elements from ``split * c - begin`` of
    each window row (the first at the flat position ``first_row`` of ``x``),
    whose groups lie in the row, and goes into the flat ``values`` and
    ``indices`` at position ``out + c``, its index from ``base``. ``width``
    and ``split`` are constants where this is inlined, which leaves one
    branch-free loop. ``run`` may go past the row's outputs (see `_run`):
    elements read through the flat ``flat`` stay in ``x``. Both window rows
    lie in the input (`_pool_rows` checks): the first is the window's first
    (step 0), and the second starts its step after it (``rows_of[row, 1, 2]``).
    Taking them so, not from the table (in `_run` too), and with ``begin`` 0 (no padding along
    the rows, which `_pool_rows` checks too), shortened each pass enough to
    show: LeNet-5 0.073-0.076 -> 0.061-0.066 ms, one thread, measured. (A
    second copy of the passes, for ``begin`` 0 beside any, was as fast, and
    took 15.6 s to compile against 6.4.)
    """
    pitch = rows_of[row, 1, 2]
    second_row = first_row + np.uint64(pitch)
    candidate = np.int32(0)
    second_candidate = np.int32(pitch)
    for c in range(low, low + run):
        read = np.uint64(split * c - begin)
        top, chosen = _group_top(flat, first_row + read, width, candidate)
        row_top, row_chosen = _group_top(flat, second_row + read, width, second_candidate)
        top, chosen = _later(row_top, top, chosen, row_chosen)
        position = np.uint64(out + c)
        indices[position] = base + split * c + chosen
        values[position] = top


@_inline
def _start_row(x, flat, plane, rows_of, row, width, split, begin, low, run, values, indices, out):
    """Start the maxima of outputs ``low`` to ``low + run - 1`` of output row ``row``, in
    the flat ``values`` and ``indices`` from position ``out`` (the selected element's
    step in place of its index): the first maximum of each window's first window row."""
    first_row = _row_start(x, plane, rows_of, row, 0)
    candidate = np.int32(rows_of[row, 0, 2])
    for c in range(low, low + run):
        at = np.uint64(out + c)
        read = first_row + np.uint64(split * c - begin)
        top, chosen = _group_top(flat, read, width, candidate)
        values[at] = top
        indices[at] = chosen


@_inline
def _fold_row(
    x, flat, plane, rows_of, row, r, width, split, begin, low, run, values, indices, out, base,
    last,
):  # fmt: skip
    """Fold window row ``r`` of output row ``row`` into the maxima of its outputs ``low``
    to ``low + run - 1``, kept in the flat ``values`` and ``indices`` from position
    ``out``, with the selected element's step in place of its index.

    With ``last`` (a constant where this is inlined), the steps become indices,
    from ``base``.
    """
    row_start = _row_start(x, plane, rows_of, row, r)
    candidate = np.int32(rows_of[row, r, 2])
    for c in range(low, low + run):
        at = np.uint64(out + c)
        read = row_start + np.uint64(split * c - begin)
        top, chosen = _group_top(flat, read, width, candidate)
        top, chosen = _later(top, values[at], np.int32(indices[at]), chosen)
        values[at] = top
        if last:
            indices[at] = base + split * c + chosen
        else:
            indices[at] = chosen


@_inline
def _finish_row(indices, split, low, high, out, base):
    """Turn the steps of outputs ``low`` to ``high - 1`` of an output row (in the flat
    ``indices`` from position ``out``) into indices, from ``base``."""
    for c in range(low, high):
        at = np.uint64(out + c)
        indices[at] = base + split * c + indices[at]


@_inline
def _fold_groups(
    groups, steps, first, first_step, second, second_step, third, third_step, low, run,
    values, indices, out, base, split, last, into,
):  # fmt: skip
    """The first maxima of three staged rows (positions ``first``, ``second`` and
    ``third`` of ``groups`` and ``steps``, in code order, each row's steps moved by
    its ``*_step``), outputs ``low`` to ``low + run - 1``.

    With ``last`` (a constant where this is inlined), into the flat ``values``
    and ``indices`` from position ``out``, the steps made indices from
    ``base``; otherwise into position ``into`` of ``groups`` and ``steps``,
    steps kept (the maxima so far of an output row of more than three window
    rows).
    """
    for c in range(low, low + run):
        at = np.uint64(first + c)
        top, chosen = groups[at], steps[at] + first_step
        at = np.uint64(second + c)
        top, chosen = _later(groups[at], top, chosen, steps[at] + second_step)
        at = np.uint64(third + c)
        top, chosen = _later(groups[at], top, chosen, steps[at] + third_step)
        if last:
            position = np.uint64(out + c)
            values[position] = top
            indices[position] = base + split * c + chosen
        else:
            at = np.uint64(into + c)
            groups[at] = top
            steps[at] = chosen


@_inline
def _slot_start(rows_of, row, r, height, slots, room):
    """Where window row ``r`` of output row ``row`` is staged (see `_staged_row`)."""
    return (_row_number(rows_of, row, r, height) & (slots - 1)) * room


@_inline
def _staged_row(
    x, flat, plane, rows_of, row, count, width, split, begin, low, high, outputs, values,
    indices, out, base, groups, steps, tags, room,
):  # fmt: skip
    """All ``outputs`` of output row ``row`` from the group maxima of its window rows,
    edges included, staged in ``groups`` and ``steps``, three window rows per
    pass: the first maxima of the first three (into the slot past the staged
    rows), then of those and the next two, and so on; a missing row is the first
    again, which never wins over itself.

    Input row ``(i0, i1)`` is staged in slot ``(i0 * H + i1) % len(tags)`` (a
    power of two above the span of any window's rows, so the rows of one
    output row never share one), once per plane: ``tags`` holds the input row
    each slot holds. Where windows overlap along the rows too (the ResNet-50
    stem's), passes over the input would compute each group twice and gather
    each group's first element; staged, a group is computed once, and the
    pass over staged rows reads contiguous elements: the stem 1.5x faster
    (one thread, measured).
    """
    height, slots = x.shape[2], tags.shape[0]
    for r in range(count):
        number = _row_number(rows_of, row, r, height)
        slot = number & (slots - 1)
        if tags[slot] != number:
            staged = _wanted_run(high - low)
            row_start = _row_start(x, plane, rows_of, row, r)
            if not _reads_inside(x, row_start, split, begin, width, low + staged - 1):
                staged = high - low  # see `_run`
            for c in range(low, low + staged):
                top, chosen = _group_top(
                    flat, row_start + np.uint64(split * c - begin), width, np.int32(0)
                )
                at = np.uint64(slot * room + c)
                groups[at] = top
                steps[at] = chosen
            for edge in range(outputs - (high - low)):  # after the run-on of the others
                c = _edge_column(edge, low, high)
                top, chosen = _edge_group_top(
                    flat, row_start, x.shape[3], split * c - begin, width, np.int32(0)
                )
                at = np.uint64(slot * room + c)
                groups[at] = top
                steps[at] = chosen
            tags[slot] = number
    run = _wanted_run(outputs)
    if out + run > values.size:
        run = outputs  # see `_run`
    accumulated = slots * room
    first = _slot_start(rows_of, row, 0, height, slots, room)
    first_step = np.int32(rows_of[row, 0, 2])
    r = 1
    while count - r > 2:  # more than three rows left with the first: fold three in
        second = _slot_start(rows_of, row, r, height, slots, room)
        third = _slot_start(rows_of, row, r + 1, height, slots, room)
        _fold_groups(
            groups, steps, first, first_step, second, np.int32(rows_of[row, r, 2]), third,
            np.int32(rows_of[row, r + 1, 2]), 0, run, values, indices, out, base, split, False,
            accumulated,
        )  # fmt: skip
        first, first_step = accumulated, np.int32(0)
        r += 2
    second, second_step, third, third_step = first, first_step, first, first_step
    if r < count:
        second = _slot_start(rows_of, row, r, height, slots, room)
        second_step = np.int32(rows_of[row, r, 2])
    if r + 1 < count:
        third = _slot_start(rows_of, row, r + 1, height, slots, room)
        third_step = np.int32(rows_of[row, r + 1, 2])
    _fold_groups(
        groups, steps, first, first_step, second, second_step, third, third_step, 0, run,
        values, indices, out, base, split, True, 0,
    )  # fmt: skip


@_inline
def _edge_column(edge, low, high):
    """The output of a row that is its ``edge``-th edge output: those before ``low``,
    then those from ``high`` (the outputs whose groups leave the input row)."""
    return edge if edge < low else high + edge - low


@_inline
def _edge_outputs(
    x, flat, plane, rows_of, row, rows, width, split, begin, low, high, outputs, values,
    indices, out, base,
):  # fmt: skip
    """The outputs of one output row before ``low`` and from ``high``, whole, into the flat
    ``values`` and ``indices`` from position ``out``."""
    length = x.shape[3]
    for edge in range(outputs - (high - low)):
        c = _edge_column(edge, low, high)
        start = split * c - begin
        top, chosen = _edge_group_top(
            flat, _row_start(x, plane, rows_of, row, 0), length, start, width,
            np.int32(rows_of[row, 0, 2]),
        )  # fmt: skip
        for r in range(1, rows):
            row_top, row_chosen = _edge_group_top(
                flat, _row_start(x, plane, rows_of, row, r), length, start, width,
                np.int32(rows_of[row, r, 2]),
            )  # fmt: skip
            top, chosen = _later(row_top, top, chosen, row_chosen)
        position = np.uint64(out + c)
        indices[position] = base + split * c + chosen
        values[position] = top


@_inline
def _run(x, last_row, split, begin, width, low, high, out, outputs):
    """How many outputs from ``low`` the passes of an output row compute, its last window
    row at the flat position ``last_row`` of ``x``.

    LLVM vectorises the loops of the passes only where they run at least
    `ROW_RUN` times (or so: measured, rows of 22 outputs ran as slowly as
    scalar code, of 24 and more 3.5x faster), and falls back to scalar code
    below that, and for the last ``run % 16`` or so. Rows with fewer outputs
    (LeNet-5's 14) run on to `ROW_RUN`, and longer ones to a multiple of
    `ROW_VECTOR` (C3D's 28 to 32: 1.1-1.2x faster, the ResNet-50 stem's 55
    to 64: 1.05x, one thread, measured), into the
    following elements of ``x``, where the reads stay in ``x`` and the writes
    in staged rows (sized for it: `row_runs.row_room`) or in outputs of this
    row's edges and of later output rows of this call (``outputs`` in all),
    which are written again
    after: rows go in order, and the edge outputs of a row after its passes.
    The extra maxima are never kept, and the passes, repeated, give the same
    result.
    """
    run = high - low
    wanted = _wanted_run(run)
    if run == wanted:
        return run
    if not _reads_inside(x, last_row, split, begin, width, low + wanted - 1):
        return run
    if out + low + wanted > outputs:
        return run
    return wanted


@_inline
def _wanted_run(run):
    """The outputs a pass over ``run`` of them computes where it can run on (see `_run`)."""
    return max(ROW_RUN, -(-run // ROW_VECTOR) * ROW_VECTOR)


@_inline
def _planes_of_rows(
    x, values, indices, rows_of, heads, paired, width, split, begin, low, high, outputs,
):  # fmt: skip
    """Every output row of every plane, from its window rows in code order, into the
    flat ``values`` and ``indices``.

    With ``paired`` (every output row has two window rows, and the input is
    small), one pass per output row reads both window rows and writes the
    outputs. Otherwise the passes read one window row each, in address order:
    the first starts the maxima (`_start_row`), each later one folds its row
    in (`_fold_row`), and the last turns the steps into indices (or
    `_finish_row`, after a single window row). The maxima so far live in the
    outputs themselves, steps in place of indices: each pass's loop then
    touches the input and two arrays, where it touched four with scratch
    arrays beside the outputs, and LLVM's set-up of a loop (checks that the
    arrays do not overlap) shrinks with them: C3D's rows of 28 outputs 1.3x
    faster, audio's single window row 1.35x (one thread, measured). On inputs
    far larger than the caches, reading one
    row at a time is what the hardware prefetchers follow: VGG-16's first
    pool 1.7x faster than in pairs, C3D's 1.3x (one thread, measured); on a
    small input, read from cache, pairs save the loads and stores of the
    maxima (VGG-16's planes 1.15x, LeNet-5's 1.4x faster). Each pass is one
    inlined copy with constant flags: a copy whose flags vary per pass kept
    LLVM from vectorising it (C3D 3.9x slower, measured). Short input rows are
    fetched ahead (see `PREFETCH_AHEAD`), but for pairs, whose inputs are small.
    """
    flat = x.reshape(x.size)
    prefetching = not paired and x.shape[3] * x.itemsize <= PREFETCH_ROW_BYTES
    out = 0
    for p in range(x.shape[0]):
        plane = np.uint64(p)
        for row in range(heads.shape[0]):
            if prefetching and row % PREFETCH_AHEAD == 0:  # the next rows but these
                _prefetch_rows(x, flat, plane, rows_of, heads, row + PREFETCH_AHEAD)
            count, base = heads[row, 0], heads[row, 1]
            if paired:  # the second row its step after the first (see `_pair_pass`)
                first_row = _row_start(x, plane, rows_of, row, 0)
                last_row = first_row + np.uint64(rows_of[row, 1, 2])
            else:
                last_row = _row_start(x, plane, rows_of, row, count - 1)
            run = _run(x, last_row, split, begin, width, low, high, out, values.size)
            if paired:
                _pair_pass(
                    flat, first_row, rows_of, row, width, split, begin, low, run, values,
                    indices, out, base,
                )  # fmt: skip
            else:
                _start_row(
                    x, flat, plane, rows_of, row, width, split, begin, low, run, values,
                    indices, out,
                )  # fmt: skip
                for r in range(1, count - 1):
                    _fold_row(
                        x, flat, plane, rows_of, row, r, width, split, begin, low, run, values,
                        indices, out, base, False,
                    )  # fmt: skip
                if count > 1:
                    _fold_row(
                        x, flat, plane, rows_of, row, count - 1, width, split, begin, low, run,
                        values, indices, out, base, True,
                    )  # fmt: skip
                else:
                    _finish_row(indices, split, low, high, out, base)
            if high - low < outputs:
                _edge_outputs(
                    x, flat, plane, rows_of, row, count, width, split, begin, low, high,
                    outputs, values, indices, out, base,
                )  # fmt: skip
            out += outputs


@_inline
def _row_span(rows_of, heads, height):
    """The most input rows (numbered ``i0 * height + i1``) any output row's window rows
    span, first to last."""
    span = 0
    for row in range(heads.shape[0]):
        first = _row_number(rows_of, row, 0, height)
        span = max(span, _row_number(rows_of, row, heads[row, 0] - 1, height) - first + 1)
    return span


@_inline
def _planes_of_staged_rows(
    x, values, indices, rows_of, heads, width, split, begin, low, high, outputs, groups, steps,
    tags, room,
):  # fmt: skip
    """Every output row of every plane, from the group maxima of its window rows (see
    `_staged_row`), into the flat ``values`` and ``indices``."""
    flat = x.reshape(x.size)
    out = 0
    for p in range(x.shape[0]):
        tags[:] = -1  # nothing of this plane staged yet
        for row in range(heads.shape[0]):
            _staged_row(
                x, flat, np.uint64(p), rows_of, row, heads[row, 0], width, split, begin, low,
                high, outputs, values, indices, out, heads[row, 1], groups, steps, tags, room,
            )  # fmt: skip
            out += outputs


@_inline
def _row_bounds(axes, width, split):
    """The outputs ``low`` to ``high - 1`` of a row whose groups lie inside the input row:
    the loops without bounds checks."""
    length2, outputs2, begin = axes[2, 0], axes[2, 1], axes[2, 5]
    low = min(outputs2, max(0, -(-begin // split)))
    high = max(low, min(outputs2, (length2 - width + begin) // split + 1))
    return low, high


@_inline
def _pool_rows(x, values, indices, axes, rows_of, heads, paired, width, split):
    """`pool_rows_2_2` and the others, for constant ``paired``, ``width`` and ``split``."""
    low, high = _row_bounds(axes, width, split)
    begin = axes[2, 5]
    if paired:
        height, length = x.shape[2], x.shape[3]
        for row in range(heads.shape[0]):
            if heads[row, 0] != 2:
                raise ValueError("an output row of the pair kernel has other than 2 window rows")
            apart = _row_number(rows_of, row, 1, height) - _row_number(rows_of, row, 0, height)
            if rows_of[row, 0, 2] != 0 or rows_of[row, 1, 2] != apart * length:
                raise ValueError("the window rows of the pair kernel are not a window's two rows")
        if begin != 0:
            raise ValueError("the pair kernel reads rows without padding")
        begin = 0  # a constant in its passes: each is shorter (see `_pair_pass`)
    _planes_of_rows(
        x, values.reshape(values.size), indices.reshape(indices.size), rows_of, heads, paired,
        width, split, begin, low, high, axes[2, 1],
    )  # fmt: skip


# One kernel per (kernel, stride) pair along the innermost axis, each compiled
# when first needed: the pair is a constant in its loops, which vectorise.
# Plain module-level functions, not made by a factory: numba caches
# module-level functions on disk, and the bodies are one call each.
# Each max-pools planes ``x`` (``(n, D, H, W)``, native dtype) by rows read in
# place, ``axes`` the row table (see the module docstring). Each output row is
# folded from its window rows (the in-bounds ``(d, h)`` kernel positions, in
# code order), one loop over the outputs per window row: each output's group
# of elements in that row gives its first maximum, folded into the maxima so
# far, kept per output with the selected element's step and written by the
# last pass; in `pool_rows_3_2`, from the group maxima of each input row,
# staged once per plane. `pool_pairs_2_2` is the pass over two window rows at once, for
# small inputs (see `_planes_of_rows`) whose output rows all have two: a
# kernel of its own, as one kernel holding both kinds of passes ran each
# 1.4-2x slower (measured). ``values`` and ``indices`` are ``(n, outputs per
# plane)``.


@_jit_rows
def pool_rows_2_2(x, values, indices, axes, rows_of, heads):
    """`_pool_rows` for groups of 2 elements, 2 apart."""
    _pool_rows(x, values, indices, axes, rows_of, heads, False, 2, 2)


@_jit_rows
def pool_rows_3_3(x, values, indices, axes, rows_of, heads):
    """`_pool_rows` for groups of 3 elements, 3 apart."""
    _pool_rows(x, values, indices, axes, rows_of, heads, False, 3, 3)


@_jit_rows
def pool_rows_4_4(x, values, indices, axes, rows_of, heads):
    """`_pool_rows` for groups of 4 elements, 4 apart."""
    _pool_rows(x, values, indices, axes, rows_of, heads, False, 4, 4)


@_jit_rows
def pool_pairs_2_2(x, values, indices, axes, rows_of, heads):
    """`_pool_rows` for groups of 2 elements, 2 apart, two window rows per pass."""
    _pool_rows(x, values, indices, axes, rows_of, heads, True, 2, 2)


@_jit_rows
def pool_rows_3_2(x, values, indices, axes, rows_of, heads, groups, steps, tags):
    """Groups of 3 elements, 2 apart, from staged rows (see `_staged_row`): ``groups``
    (``x``'s dtype) and ``steps`` (int32) hold ``len(tags) + 1`` slots of at least
    `row_runs.row_room` of the outputs per row each, ``len(tags)`` a power of two
    above the span of any output row's window rows (numbered ``i0 * H + i1``)."""
    low, high = _row_bounds(axes, 3, 2)
    outputs2 = axes[2, 1]
    room = groups.size // (tags.size + 1)
    if steps.size != groups.size or room < outputs2 + ROW_RUN:  # see `_run`
        raise ValueError("the staged rows of the kernel are too short")
    slots = tags.size
    if slots & (slots - 1) or slots < _row_span(rows_of, heads, x.shape[2]):
        raise ValueError("the staged rows of the kernel are too few")
    _planes_of_staged_rows(
        x, values.reshape(values.size), indices.reshape(indices.size), rows_of, heads, 3, 2,
        axes[2, 5], low, high, outputs2, groups, steps, tags, room,
    )  # fmt: skip


@_jit
def pool_whole_planes(x, values, indices, mask, nan, packed):
    """The first maximum of each row of ``x`` (``(n, P)``): its element and index.

    With ``packed`` (signed keys of at most 32 bits, rows under ``2**32 - 1``
    elements), one vectorised pass per row: each element's key and its
    position go into one int64, the key above and the position inverted
    below, so that the largest such number holds the largest key at its
    first position (the global pool 1.19 against 1.86 ms with two passes,
    one thread). Otherwise two vectorised passes: the largest key, then the
    first position holding it (a minimum over positions), found by its bits
    where only one bit pattern has that key. ``values`` and ``indices`` are
    ``(n, 1)``.
    """
    size = x.shape[1]
    if packed:
        below = np.int64(0xFFFFFFFF)
        for row in range(x.shape[0]):
            plane = np.uint64(row)
            best = np.int64(_key(x[plane, 0], mask, nan)) << 32 | below
            for i in range(size):
                key = np.int64(_key(x[plane, np.uint64(i)], mask, nan))
                best = max(best, key << 32 | (below - i))
            first = below - (best & below)
            indices[plane, 0] = first
            values[plane, 0] = x[plane, np.uint64(first)]
        return
    for row in range(x.shape[0]):
        plane = np.uint64(row)
        top = _key(x[plane, 0], mask, nan)
        for i in range(size):
            top = max(top, _key(x[plane, np.uint64(i)], mask, nan))
        first = size
        if mask is None or (top != 0 and top != mask):
            # One bit pattern has this key (only zeros and NaN share theirs):
            # compare the bits themselves, without computing keys again.
            target = _bits(top, mask)
            for i in range(size):
                first = min(first, i if x[plane, np.uint64(i)] == target else size)
        else:
            for i in range(size):
                first = min(first, i if _key(x[plane, np.uint64(i)], mask, nan) == top else size)
        indices[plane, 0] = first
        values[plane, 0] = x[plane, np.uint64(first)]


@_jit
def scatter_planes(grad, indices, grad_in):
    """Zero ``grad_in`` (``(n, plane)``) and add each ``grad`` element at its index.

    Planes are zeroed a few at a time (at least ``SCATTER_ELEMENTS``
    elements) just before their scatter, so that fresh pages are touched by
    the thread that fills them, while in cache. Returns -1, or the flat
    position in ``indices`` of the first index outside its plane (the caller
    then raises; ``grad_in`` is garbage).
    """
    plane = np.uint64(grad_in.shape[1])
    outputs = indices.shape[1]
    total = grad_in.shape[0]
    group = max(1, SCATTER_ELEMENTS // max(grad_in.shape[1], 1))
    flat = grad_in.reshape(grad_in.size)
    for first in range(0, total, group):
        last = min(total, first + group)
        for i in range(np.uint64(first) * plane, np.uint64(last) * plane):
            flat[i] = 0
        for b in range(first, last):
            row = np.uint64(b)
            for o in range(outputs):
                index = np.uint64(indices[row, np.uint64(o)])
                if index >= plane:
                    return b * outputs + o
                grad_in[row, index] += grad[row, np.uint64(o)]
    return -1
