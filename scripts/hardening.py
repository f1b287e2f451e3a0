"""Measure the targets of issue 9: global pooling, huge kernels, padding and dilation.

Run from the repository root (it times things: hold the benchmark lock if the
machine is shared)::

    python -m scripts.hardening

Prints, for each case, the wall time (median of a few calls after one warm-up
call, side by side in one process) and the tracemalloc peak of one call:

- global pooling of ``(8, 64, 128, 128)`` with kernel ``(128, 128)`` by
  ``impls.max_pool`` (auto), against ``x.reshape(8, 64, -1).argmax(-1)``
  (target: within 3x);
- a 1-D kernel of ``2**20`` on ``(1, 2**20)`` (target: under 1 s and 200 MB);
- ``(2**19, 3)`` with kernel 3, stride 2, dilation = padding = ``10**7`` in
  every implementation but naive (target: under 2 s), and ``np.ones(3)`` with
  ``10**9`` (peak memory);
- large stride-1 windows, auto (the running maximum of `impls.fast.van_herk`)
  against separable, which auto chose before: a 1-D kernel of ``2**18`` on
  ``(1, 2**20)`` and a ``(64, 64)`` kernel on ``(8, 16, 256, 256)``. Separable
  costs O(outputs x kernel) there, minutes for the 1-D case, so it is timed on
  ``2**13`` outputs of that kernel and scaled to the full ``3 * 2**18 + 1``
  (its time is linear in the outputs);
- windows far apart: stride and padding wider than the input, in every
  implementation (peak memory).

``--only NAME`` runs one group: global, long, head, padded, large, far.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable

import numpy as np

import impls
from impls.catalogue import names_in
from impls.tools.timing import peak_extra_bytes, time_rounds

__all__ = ["main"]

# Calls wait for their compiled kernels: this script times the steady state.
os.environ.setdefault("MAXPOOL_COMPILE", "wait")


def _seconds(func: Callable[[], object], repeats: int = 5) -> float:
    """Median seconds of ``repeats`` single calls, after one warm-up call."""
    (timing,) = time_rounds({"case": [func]}, rounds=repeats, min_sample_seconds=0)["case"]
    return timing.median


def _row(label: str, func: Callable[[], object], repeats: int = 5) -> float:
    seconds = _seconds(func, repeats)
    peak = peak_extra_bytes(func)[1]
    print(f"{label:<58} {seconds * 1e3:10.2f} ms {peak / 2**20:10.1f} MiB", flush=True)
    return seconds


def _global() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 128, 128), dtype=np.float32)
    auto = _row(
        "global (8,64,128,128) k128x128: impls.max_pool (auto)",
        lambda: impls.max_pool(x, (128, 128)),
    )
    argmax = _row(
        "global (8,64,128,128): x.reshape(8, 64, -1).argmax(-1)",
        lambda: x.reshape(8, 64, -1).argmax(-1),
    )
    print(f"  auto / argmax: {auto / argmax:.2f}x (target <= 3)")


def _long() -> None:
    long = np.zeros((1, 2**20), np.float32)
    _row(
        "1-D kernel 2**20 on (1, 2**20): impls.max_pool (auto)",
        lambda: impls.max_pool(long, (2**20,)),
    )


def _head() -> None:
    head = np.random.default_rng(0).standard_normal((32, 2048, 7, 7), dtype=np.float32)
    spec = impls.PoolSpec((7, 7))
    for name in names_in("fast", "dispatch"):
        _row(
            f"ResNet-50 head (32,2048,7,7) k7x7: {name}",
            functools.partial(impls.get(name).forward, head, spec),
        )


def _padded() -> None:
    wide = np.random.default_rng(0).standard_normal((2**19, 3), dtype=np.float32)
    far = impls.PoolSpec((3,), stride=2, padding=10**7, dilation=10**7)
    for name in impls.names():
        if name != "naive":
            _row(
                f"(2**19, 3) k3 s2 d=p=10**7: {name}",
                functools.partial(impls.get(name).forward, wide, far),
                3,
            )
    farther = impls.PoolSpec((3,), stride=2, padding=10**9, dilation=10**9)
    for name in impls.names():
        _row(
            f"ones(3) k3 s2 d=p=10**9: {name}",
            functools.partial(impls.get(name).forward, np.ones(3), farther),
        )


def _large() -> None:
    rng = np.random.default_rng(0)
    separable = impls.get("separable")
    signal = rng.standard_normal((1, 2**20), dtype=np.float32)
    spec = impls.PoolSpec((2**18,), stride=1)
    auto = _row("1-D k2**18 s1 on (1, 2**20): auto", lambda: impls.max_pool(signal, (2**18,), 1))
    part = signal[:, : 2**18 + 2**13 - 1]  # 2**13 outputs
    before = _row(
        "  same kernel, 2**13 outputs: separable (auto before)",
        functools.partial(separable.forward, part, spec),
        1,
    )
    outputs = 2**20 - 2**18 + 1
    print(f"  separable scaled to {outputs} outputs: {before * outputs / 2**13:.0f} s")
    print(f"  separable (scaled) / auto: {before * outputs / 2**13 / auto:.0f}x")
    planes = rng.standard_normal((8, 16, 256, 256), dtype=np.float32)
    square = impls.PoolSpec((64, 64), stride=1)
    auto = _row(
        "2-D k64x64 s1 on (8,16,256,256): auto",
        functools.partial(impls.get("auto").forward, planes, square),
        3,
    )
    before = _row(
        "2-D k64x64 s1 on (8,16,256,256): separable (auto before)",
        functools.partial(separable.forward, planes, square),
        1,
    )
    print(f"  separable / auto: {before / auto:.1f}x")


def _far() -> None:
    x = np.random.default_rng(0).standard_normal((64, 3), dtype=np.float32)
    d = 10**7
    spec = impls.PoolSpec((2,), stride=d + 1, padding=d, dilation=d)
    for name in impls.names():
        _row(
            f"(64, 3) k2 s=10**7+1 d=p=10**7: {name}",
            functools.partial(impls.get(name).forward, x, spec),
            3,
        )


GROUPS = {
    "global": _global,
    "long": _long,
    "head": _head,
    "padded": _padded,
    "large": _large,
    "far": _far,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.hardening", description=__doc__)
    parser.add_argument("--only", choices=sorted(GROUPS), help="run one group of cases")
    args = parser.parse_args(argv)
    print(f"{'case':<58} {'time':>13} {'peak':>14}")
    for name, group in GROUPS.items():
        if args.only in (None, name):
            group()


if __name__ == "__main__":
    main()
