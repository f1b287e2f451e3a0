"""Measure the fast implementations per kind of case, and check auto's rules.

The candidates are the pure-NumPy fast implementations, and ``numba`` where
it is registered (numba installed).

Run from the repository root::

    python -m scripts.auto_dispatch           # print the table
    python -m scripts.auto_dispatch --write   # also record it in docs/auto-dispatch.md

Each case is timed forward with every candidate, one call per sample,
interleaved over repeated rounds, each round starting with the next candidate
(median, after one warm-up call each; `impls.tools.timing.time_rounds`). The
table names the winner, its margin over the runner-up, and the implementation
`impls.fast.auto` picks, with how much slower than the winner that pick is. The rules in
``impls/fast/auto.py`` are read off this table.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import pathlib
from dataclasses import dataclass

import numpy as np

import impls
import impls.fast.threads
from impls import PoolSpec
from impls.catalogue import names_in
from impls.fast.auto import PRIVATE_PATHS, AutoMaxPool
from impls.fast.van_herk import VanHerkMaxPool, is_unit_stride
from impls.fast.whole_plane import WholePlaneMaxPool, is_whole_plane
from impls.geometry import Geometry
from impls.tools.timing import time_rounds
from impls.tools.workloads import WORKLOADS, random_input

__all__ = ["CASES", "main"]

# Calls wait for their compiled kernels: this script times the steady state.
os.environ.setdefault("MAXPOOL_COMPILE", "wait")

# The registered fast implementations, then auto's private paths (where registered / they apply).
CANDIDATES = (*names_in("fast", "compiled"), *PRIVATE_PATHS)
DOCUMENT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "auto-dispatch.md"


@dataclass(frozen=True)
class TimedCase:
    label: str
    shape: tuple[int, ...]
    spec: PoolSpec
    dtype: str = "float32"


CASES = (
    # the standard workloads
    *(
        TimedCase(w.description, w.input_shape, PoolSpec(**w.spec_kwargs), w.dtype)
        for w in WORKLOADS
    ),
    # around the rules' boundaries
    TimedCase("tiny k2 s2", (1, 3, 8, 8), PoolSpec((2, 2))),
    TimedCase("small k3 s2 p1", (2, 16, 28, 28), PoolSpec((3, 3), 2, 1)),
    TimedCase("k3 s1 p1", (8, 64, 56, 56), PoolSpec((3, 3), 1, 1)),
    TimedCase("k2 s1", (8, 64, 56, 56), PoolSpec((2, 2), 1)),
    TimedCase("k3 s3 disjoint", (16, 64, 111, 111), PoolSpec((3, 3))),
    TimedCase("k3 s2 dilation 2", (16, 64, 56, 56), PoolSpec((3, 3), 2, 2, dilation=2)),
    TimedCase("1-D k3 s2 p1", (32, 64, 8000), PoolSpec((3,), 2, 1)),
    TimedCase("1-D k5 s1 p2", (32, 64, 4000), PoolSpec((5,), 1, 2)),
    TimedCase("3-D k3 s2 p1", (2, 32, 16, 56, 56), PoolSpec((3, 3, 3), 2, 1)),
    TimedCase("3-D k3 s1 p1", (2, 16, 16, 28, 28), PoolSpec((3, 3, 3), 1, 1)),
    TimedCase("ResNet stem, float64", (16, 64, 112, 112), PoolSpec((3, 3), 2, 1), "float64"),
    TimedCase("ResNet stem, int8", (32, 64, 112, 112), PoolSpec((3, 3), 2, 1), "int8"),
    # large stride-1 windows, around the running maximum's and numba's rules
    TimedCase("2-D k7 s1 p3", (8, 64, 56, 56), PoolSpec((7, 7), 1, 3)),
    TimedCase("2-D k13 s1 p6", (8, 64, 56, 56), PoolSpec((13, 13), 1, 6)),
    TimedCase("2-D k17 s1 p8", (8, 64, 56, 56), PoolSpec((17, 17), 1, 8)),
    TimedCase("2-D k21 s1 p10", (8, 64, 56, 56), PoolSpec((21, 21), 1, 10)),
    TimedCase("2-D k25 s1 p12", (8, 64, 56, 56), PoolSpec((25, 25), 1, 12)),
    TimedCase("2-D k33 s1 p16", (2, 32, 64, 64), PoolSpec((33, 33), 1, 16)),
    TimedCase("1-D k17 s1 p8", (8, 64, 4000), PoolSpec((17,), 1, 8)),
    TimedCase("1-D k33 s1 p16", (8, 64, 4000), PoolSpec((33,), 1, 16)),
    TimedCase("1-D k65 s1 p32", (8, 64, 4000), PoolSpec((65,), 1, 32)),
    TimedCase("1-D k129 s1 p64", (8, 64, 4000), PoolSpec((129,), 1, 64)),
    TimedCase("1-D k257 s1 p128", (8, 64, 4000), PoolSpec((257,), 1, 128)),
)


def _candidates(case: TimedCase) -> dict[str, object]:
    """The candidates that apply: auto's private paths only where they do."""
    found = {name: impls.get(name) for name in CANDIDATES if name in impls.names()}
    geometry = Geometry.of(case.shape, case.spec).compact
    if is_unit_stride(geometry):
        found["vanherk"] = VanHerkMaxPool()
    if is_whole_plane(geometry):
        found["wholeplane"] = WholePlaneMaxPool()
    return found


def measure(case: TimedCase, repeats: int) -> dict[str, float]:
    """Median forward milliseconds per candidate that applies, single calls timed."""
    x = random_input(case.shape, case.dtype)
    calls = {
        name: [functools.partial(impl.forward, x, case.spec)]
        for name, impl in _candidates(case).items()
    }
    timings = time_rounds(calls, rounds=repeats, min_sample_seconds=0)
    return {name: forward.median * 1e3 for name, (forward,) in timings.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.auto_dispatch", description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (default: 7)")
    parser.add_argument("--write", action="store_true", help=f"record the table in {DOCUMENT}")
    args = parser.parse_args(argv)

    lines = [
        f"Measured {datetime.date.today()} on {os.cpu_count()} CPUs, NumPy {np.__version__}, "
        f"{impls.fast.threads.get_num_threads()} threads; forward only, median of "
        f"{args.repeats} interleaved rounds.",
        "",
        "| case | "
        + " | ".join(f"{name} ms" for name in CANDIDATES)
        + " | winner (margin) | auto picks (vs winner) |",
        "|---|" + "---|" * len(CANDIDATES) + "---|---|",
    ]
    print("\n".join(lines), flush=True)
    auto = AutoMaxPool()
    for case in CASES:
        times = measure(case, args.repeats)
        ranked = sorted(times, key=times.__getitem__)
        winner, runner_up = ranked[0], ranked[1]
        pick = auto.choose(case.shape, case.spec)
        row = (
            f"| {case.label} | "
            + " | ".join(f"{times[name]:.2f}" if name in times else "-" for name in CANDIDATES)
            + f" | {winner} ({times[runner_up] / times[winner]:.2f}x) | "
            f"{pick} ({times[pick] / times[winner]:.2f}x) |"
        )
        lines.append(row)
        print(row, flush=True)
    if args.write:
        body = DOCUMENT.read_text().split("<!-- table -->")
        DOCUMENT.write_text(body[0] + "<!-- table -->\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
