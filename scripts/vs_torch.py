"""This project against PyTorch's and ONNX Runtime's CPU kernels and the memory-bandwidth floor.

Run from the repository root, with ``torch==2.13.0`` installed::

    python -m scripts.vs_torch              # the standard workloads
    python -m scripts.vs_torch --impls auto,reshape --repeats 15

For each workload (float32, NCHW, as given) it times PyTorch's
``max_poolNd(..., return_indices=True)`` and its backward from indices (through
the project's adapter, `impls.frameworks.pytorch`) against
this project's implementations (forward returning int64 indices, backward from
them), and prints medians and ratios. A sample runs one call back to back
until it lasts 20 ms (one warm-up call first); rounds interleave the
candidates, each round starting with the next one, with a pause of
`SETTLE_SECONDS` after each (torch's OpenMP
threads keep spinning for a few milliseconds after each call, and on a
machine with few cores they slow whatever runs next: without the pause, the
candidate timed right after torch pays for it), and `WARMUP_SECONDS` of
untimed calls before each candidate's samples (after such a pause, the
scheduler of the 2-CPU virtual machines this was measured on keeps both
threads of a call on one CPU for the next 40-50 ms of load: a 0.35 ms call
split over two threads took 0.62 ms there, and 0.35 ms once spread); each
figure is the median over the rounds. The floor is the
time to read the input and write values and int64 indices at the copy
bandwidth measured on this machine (`impls.tools.timing.copy_bandwidth`: one
`numpy.copyto`), and for backward the time to read the gradient and the indices
and write the input's gradient. Peak extra memory of forward is measured
with tracemalloc, which sees every NumPy allocation.

Where ``onnx`` and ``onnxruntime`` are installed, ONNX Runtime's forward is
timed too: the one-node ``MaxPool`` model with both outputs that
`impls.frameworks.onnx_runtime` builds, ``session.run`` alone (its own index
format, not converted), on its default threads. It has no backward.

The compiled kernels are loaded before anything is timed (``MAXPOOL_COMPILE=wait``
unless set): the steady state is what is measured.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import os
from collections.abc import Callable, Sequence

import numpy as np

import impls
import impls.fast.threads
from impls import PoolSpec
from impls.frameworks.pytorch import TorchMaxPool
from impls.tools.timing import (
    MIN_SAMPLE_SECONDS,
    Timing,
    copy_bandwidth,
    environment,
    peak_extra_bytes,
    time_rounds,
)
from impls.tools.workloads import WORKLOADS, Workload, by_name, random_input

__all__ = ["main"]

# Calls wait for their compiled kernels: this script times the steady state.
os.environ.setdefault("MAXPOOL_COMPILE", "wait")


def _spec(workload: Workload) -> PoolSpec:
    return PoolSpec(**workload.spec_kwargs)


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


# Seconds to wait after each candidate's samples in a round (see the module docstring).
SETTLE_SECONDS = 0.05
# Seconds of untimed calls before each candidate's samples in a round (see the module docstring).
WARMUP_SECONDS = 0.05


def onnxruntime_forward(x: np.ndarray, spec: PoolSpec) -> Callable[[], object] | None:
    """ONNX Runtime's session run on ``x``, or None where it is not installed or declines."""
    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime")):
        return None
    from impls.frameworks.onnx_runtime import OnnxRuntimeMaxPool

    pool = OnnxRuntimeMaxPool()
    if pool.capabilities.unsupported(spec, x.dtype, x.shape):
        return None
    pool.forward(x, spec)  # builds (and caches) the session
    split = x.ndim - spec.ndim
    pairs = spec.pads(x.shape[split:])
    pads = tuple(begin for begin, _ in pairs) + tuple(end for _, end in pairs)
    session = pool._session(
        x.dtype.name, spec.kernel_size, spec.stride, pads, spec.dilation, spec.ceil_mode
    )
    planes = x.reshape((math.prod(x.shape[:split]), 1) + x.shape[split:])
    return lambda: session.run(None, {"X": planes})


def measure(
    workload: Workload, names: list[str], repeats: int, torch_pool: TorchMaxPool
) -> dict[str, tuple[Timing, ...]]:
    """Per candidate, the forward and backward timings, one sample per round.

    Rounds interleave the candidates (`impls.tools.timing.time_rounds`), so
    that drifts of the machine (frequency, other load) hit them alike.
    ONNX Runtime, where installed, has a forward timing only.
    """
    x = random_input(workload.input_shape, workload.dtype)
    spec = _spec(workload)
    candidates: dict[str, Sequence[Callable[[], object]]] = {
        "torch": torch_pool.timed_calls(x, spec)
    }
    onnx_forward = onnxruntime_forward(x, spec)
    if onnx_forward is not None:
        candidates["onnxruntime"] = [onnx_forward]
    candidates.update({name: _impl_pair(name, spec, x) for name in names})
    return time_rounds(
        candidates,
        rounds=repeats,
        min_sample_seconds=MIN_SAMPLE_SECONDS,
        pause_seconds=SETTLE_SECONDS,
        warmup_seconds=WARMUP_SECONDS,
    )


def _onnxruntime_version() -> str:
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime not installed"
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.vs_torch", description=__doc__)
    parser.add_argument("--impls", default="auto", help="comma-separated names (default: auto)")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default: 9)")
    parser.add_argument(
        "--workloads", default=",".join(w.name for w in WORKLOADS), help="comma-separated"
    )
    args = parser.parse_args(argv)
    names = args.impls.split(",")

    torch_pool = TorchMaxPool()
    bandwidth = copy_bandwidth()
    print(
        f"{datetime.date.today()} | {environment()['cpu']} | {os.cpu_count()} CPUs | NumPy "
        f"{np.__version__} | {torch_pool.describe()} | {_onnxruntime_version()} | "
        f"maxpool-impls {impls.__version__} ({impls.fast.threads.get_num_threads()} threads) | "
        f"copy bandwidth {bandwidth / 1e9:.1f} GB/s | median of {args.repeats} interleaved "
        f"rounds; each sample repeats the call for at least {MIN_SAMPLE_SECONDS * 1e3:g} ms"
    )
    print()
    print(
        "| workload | impl | forward ms (torch) | torch/impl | forward ms (onnxruntime) | "
        "onnxruntime/impl | backward ms (torch) | torch/impl | floor ms | impl/floor | "
        "backward floor ms | impl/floor | peak extra / (values+indices) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in args.workloads.split(","):
        workload = by_name(key)
        spec = _spec(workload)
        timings = measure(workload, names, args.repeats, torch_pool)
        torch_forward, torch_backward = (timing.median * 1e3 for timing in timings["torch"])
        onnx = timings.get("onnxruntime")
        onnx_forward = None if onnx is None else onnx[0].median * 1e3
        x = random_input(workload.input_shape, workload.dtype)
        ndim = spec.ndim
        out_shape = x.shape[:-ndim] + spec.output_shape(x.shape[-ndim:])
        outputs = int(np.prod(out_shape)) * (x.itemsize + 8)  # values and int64 indices
        floor = (x.nbytes + outputs) / bandwidth * 1e3
        # backward reads the gradient (of the input's dtype) and the indices and writes the
        # input's gradient: the same bytes as forward
        backward_floor = floor
        for name in names:
            forward, backward = (timing.median * 1e3 for timing in timings[name])
            peak = forward_peak_bytes(name, spec, x)
            onnx_cells = (
                "- | -"
                if onnx_forward is None
                else f"{onnx_forward:.2f} | {onnx_forward / forward:.2f}"
            )
            print(
                f"| {workload.name} | {name} | {forward:.2f} ({torch_forward:.2f}) | "
                f"{torch_forward / forward:.2f} | {onnx_cells} | "
                f"{backward:.2f} ({torch_backward:.2f}) | "
                f"{torch_backward / backward:.2f} | {floor:.2f} | {forward / floor:.2f} | "
                f"{backward_floor:.2f} | {backward / backward_floor:.2f} | "
                f"{peak / outputs:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
