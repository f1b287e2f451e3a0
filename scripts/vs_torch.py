"""This project against PyTorch's CPU kernel and the memory-bandwidth floor.

Run from the repository root, with ``torch==2.13.0`` installed::

    python -m scripts.vs_torch              # the standard workloads
    python -m scripts.vs_torch --impls auto,reshape --repeats 15

For each workload (float32, NCHW, as given) it times PyTorch's
``max_poolNd(..., return_indices=True)`` and its backward from indices against
this project's implementations (forward returning int64 indices, backward from
them), and prints medians and ratios. A sample runs one call back to back
until it lasts 20 ms (one warm-up call first); rounds interleave the
candidates, each round starting with the next one, with a pause of
`SETTLE_SECONDS` after each (torch's OpenMP
threads keep spinning for a few milliseconds after each call, and on a
machine with few cores they slow whatever runs next: without the pause, the
candidate timed right after torch pays for it); each figure is the median
over the rounds. The floor is the
time to read the input and write values and int64 indices at the copy
bandwidth measured on this machine. Peak extra memory of forward is measured
with tracemalloc, which sees every NumPy allocation.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import impls
import impls.fast.threads
from impls import PoolSpec
from impls.tools.timing import MIN_SAMPLE_SECONDS, environment, peak_extra_bytes
from impls.tools.workloads import WORKLOADS, Workload, by_name, random_input

__all__ = ["main"]


def copy_bandwidth(megabytes: int = 256, repeats: int = 7) -> float:
    """Bytes per second moved by `numpy.copyto` (read plus write), median of runs."""
    source = np.ones(megabytes << 18, dtype=np.float32)
    target = np.zeros_like(source)  # touched below, before timing
    np.copyto(target, source)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - start)
    return 2 * source.nbytes / statistics.median(times)


@dataclass
class Timings:
    forward: list[float]
    backward: list[float]


def _spec(workload: Workload) -> PoolSpec:
    return PoolSpec(**workload.spec_kwargs)


def _torch_pair(workload: Workload, x: np.ndarray) -> tuple[Callable, Callable]:
    import torch
    import torch.nn.functional as F

    xt = torch.from_numpy(x)
    k = workload.kernel_size
    s, p = (workload.stride,) * len(k), (workload.padding,) * len(k)
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(k)]
    values, indices = pool(xt, k, s, p, return_indices=True)
    grad = torch.ones_like(values)
    aten = torch.ops.aten
    if len(k) == 3:

        def backward() -> object:
            return aten.max_pool3d_with_indices_backward(
                grad, xt, k, s, p, (1, 1, 1), False, indices
            )
    else:  # 1-D pools go through the 2-D kernel, as torch itself does
        lift = (lambda t: t.unsqueeze(-2)) if len(k) == 1 else (lambda t: t)
        k2, s2, p2 = ((1, *k), (1, *s), (0, *p)) if len(k) == 1 else (k, s, p)

        def backward() -> object:
            return aten.max_pool2d_with_indices_backward(
                lift(grad), lift(xt), k2, s2, p2, (1, 1), False, lift(indices)
            )

    return (lambda: pool(xt, k, s, p, return_indices=True)), backward


def _impl_pair(name: str, spec: PoolSpec, x: np.ndarray) -> tuple[Callable, Callable]:
    impl = impls.get(name)
    values, indices = impl.forward(x, spec)
    grad = np.ones_like(values)
    return (lambda: impl.forward(x, spec)), (lambda: impl.backward(grad, indices, x.shape, spec))


def forward_peak_bytes(name: str, spec: PoolSpec, x: np.ndarray) -> int:
    """Peak memory a forward call allocates, outputs included.

    Measured by `impls.tools.timing.peak_extra_bytes`.
    """
    impl = impls.get(name)
    return peak_extra_bytes(lambda: impl.forward(x, spec))[1]


def _calls_per_sample(call: Callable[[], object]) -> int:
    """Calls per sample, so that a sample lasts `MIN_SAMPLE_SECONDS`: short calls are
    timed as a training loop runs them, back to back."""
    call()  # warm-up
    start = time.perf_counter()
    call()
    return max(1, math.ceil(MIN_SAMPLE_SECONDS / max(time.perf_counter() - start, 1e-9)))


def _sample(call: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


# Seconds to wait after each candidate's samples in a round (see the module docstring).
SETTLE_SECONDS = 0.05


def measure(workload: Workload, names: list[str], repeats: int) -> dict[str, Timings]:
    """Per candidate, forward and backward seconds per call, one sample per round.

    Rounds interleave the candidates, so that drifts of the machine (frequency,
    other load) hit them alike.
    """
    x = random_input(workload.input_shape, workload.dtype)
    spec = _spec(workload)
    candidates = {"torch": _torch_pair(workload, x)}
    candidates.update({name: _impl_pair(name, spec, x) for name in names})
    numbers = {
        name: (_calls_per_sample(forward), _calls_per_sample(backward))
        for name, (forward, backward) in candidates.items()
    }
    timings = {name: Timings([], []) for name in candidates}
    order = list(candidates)
    for round_number in range(repeats):
        # Each round starts with the next candidate: no one is always timed
        # right after the same other one.
        shift = round_number % len(order)
        for name in order[shift:] + order[:shift]:
            forward, backward = candidates[name]
            forward_number, backward_number = numbers[name]
            timings[name].forward.append(_sample(forward, forward_number))
            timings[name].backward.append(_sample(backward, backward_number))
            time.sleep(SETTLE_SECONDS)
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.vs_torch", description=__doc__)
    parser.add_argument("--impls", default="auto", help="comma-separated names (default: auto)")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default: 9)")
    parser.add_argument(
        "--workloads", default=",".join(w.name for w in WORKLOADS), help="comma-separated"
    )
    args = parser.parse_args(argv)
    names = args.impls.split(",")

    import torch

    bandwidth = copy_bandwidth()
    print(
        f"{datetime.date.today()} | {environment()['cpu']} | {os.cpu_count()} CPUs | NumPy "
        f"{np.__version__} | torch {torch.__version__} ({torch.get_num_threads()} threads) | "
        f"maxpool-impls {impls.__version__} ({impls.fast.threads.get_num_threads()} threads) | "
        f"copy bandwidth {bandwidth / 1e9:.1f} GB/s | median of {args.repeats} interleaved "
        f"rounds; each sample repeats the call for at least {MIN_SAMPLE_SECONDS * 1e3:g} ms"
    )
    print()
    print(
        "| workload | impl | forward ms (torch) | torch/impl | backward ms (torch) | "
        "torch/impl | floor ms | impl/floor | peak extra / (values+indices) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key in args.workloads.split(","):
        workload = by_name(key)
        spec = _spec(workload)
        timings = measure(workload, names, args.repeats)
        torch_forward = statistics.median(timings["torch"].forward) * 1e3
        torch_backward = statistics.median(timings["torch"].backward) * 1e3
        x = random_input(workload.input_shape, workload.dtype)
        ndim = spec.ndim
        out_shape = x.shape[:-ndim] + spec.output_shape(x.shape[-ndim:])
        outputs = int(np.prod(out_shape)) * (x.itemsize + 8)  # values and int64 indices
        floor = (x.nbytes + outputs) / bandwidth * 1e3
        for name in names:
            forward = statistics.median(timings[name].forward) * 1e3
            backward = statistics.median(timings[name].backward) * 1e3
            peak = forward_peak_bytes(name, spec, x)
            print(
                f"| {workload.name} | {name} | {forward:.2f} ({torch_forward:.2f}) | "
                f"{torch_forward / forward:.2f} | {backward:.2f} ({torch_backward:.2f}) | "
                f"{torch_backward / backward:.2f} | {floor:.2f} | {forward / floor:.1f} | "
                f"{peak / outputs:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
