"""Small calls, first calls and imports: the fixed costs a from-scratch framework pays.

Run from the repository root (numba installed for the compiled figures)::

    python -m scripts.small_calls                  # everything
    python -m scripts.small_calls --parts per-call # one part: per-call, lenet, first-call, cold

Four parts, each printed as a Markdown table:

``per-call``
    In this process, on a (1, 1, 4, 4) float32 input, k2 s2: NumPy's own
    ``x.reshape(1, 1, 2, 2, 2, 2).max(axis=(3, 5))`` against a held
    implementation and spec (``impls.get(name).forward(x, spec)``),
    ``impls.max_pool(x, (2, 2), stride=2)`` and ``MaxPool.forward``, and torch's
    ``max_pool2d`` where installed. Rounds interleave the candidates
    (`impls.tools.timing.time_rounds`); each sample repeats a call for at least
    20 ms; the ratio is of the medians, with the smallest and largest ratio of
    one round beside it (the noise). The compiled kernels are loaded first.
``lenet``
    LeNet-5's pool (64x6x28x28 float32, k2 s2), forward and backward of
    ``auto`` and ``numba``, against the copy floor: the bytes read and written
    (input, values and int64 indices; gradient, indices and input gradient) at
    the bandwidth of one `numpy.copyto` (`impls.tools.timing.copy_bandwidth`).
``first-call``
    Fresh processes, numba's on-disk cache warm: ``import numpy``, then
    ``import impls``, then the first ``impls.max_pool`` (or
    ``impls.get("numba").forward``) on LeNet-5's input, each timed with
    `time.perf_counter` inside the child; and the same first call with
    ``MAXPOOL_COMPILE=off`` (the pure-NumPy path). Median and range over
    ``--processes`` children, after one child that fills the caches.
``cold``
    Fresh processes with an empty numba cache (``NUMBA_CACHE_DIR`` a new
    temporary directory): the first call of a dtype, against the pure-NumPy
    path's first call; the seconds until the compiled kernels that call runs were
    ready; and a
    first float64 call made while another thread keeps calling on float32.

Children run without ``PYTHONDONTWRITEBYTECODE``, as an installed package
runs (its modules compiled once, to ``__pycache__``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence

import numpy as np

import impls
from impls.fast import numba_pool
from impls.tools.timing import MIN_SAMPLE_SECONDS, copy_bandwidth, environment, time_rounds
from impls.tools.workloads import by_name, random_input

__all__ = ["main"]

PARTS = ("per-call", "lenet", "first-call", "cold")
LENET = by_name("lenet5")


def _compiled() -> bool:
    return "numba" in impls.names() and numba_pool.wait_until_compiled(["float32", "float64"])


def per_call(rounds: int) -> None:
    """The per-call table (see the module docstring)."""
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4), dtype=np.float32)
    spec = impls.PoolSpec((2, 2), stride=2)
    layer = impls.MaxPool((2, 2), stride=2)
    calls: dict[str, Callable[[], object]] = {
        "NumPy x.reshape(1, 1, 2, 2, 2, 2).max(axis=(3, 5))": lambda: x.reshape(
            1, 1, 2, 2, 2, 2
        ).max(axis=(3, 5)),
    }
    for name in ("numba", "auto", "sliced"):
        if name in impls.names():
            impl = impls.get(name)
            calls[f'impls.get("{name}").forward(x, spec)'] = (
                lambda impl=impl: impl.forward(x, spec)  # type: ignore[misc]
            )
    calls["impls.max_pool(x, (2, 2), stride=2)"] = lambda: impls.max_pool(x, (2, 2), stride=2)
    calls["MaxPool((2, 2), stride=2).forward(x)"] = lambda: layer.forward(x)
    try:
        import torch

        tensor = torch.from_numpy(x)
        calls["torch max_pool2d(tensor, 2, 2, return_indices=True)"] = lambda: (
            torch.nn.functional.max_pool2d(tensor, 2, 2, return_indices=True)
        )
    except ImportError:
        pass
    timings = time_rounds(
        {label: [call] for label, call in calls.items()},
        rounds=rounds,
        min_sample_seconds=MIN_SAMPLE_SECONDS,
    )
    reference = next(iter(calls))
    base = timings[reference][0]
    print(f"per call, (1, 1, 4, 4) float32 k2 s2; compiled kernels ready: {_compiled()}")
    print()
    print("| call | µs per call | ratio to NumPy | per-round ratio, min-max |")
    print("|---|---|---|---|")
    for label in calls:
        timing = timings[label][0]
        ratios = [a / b for a, b in zip(timing.samples, base.samples, strict=True)]
        print(
            f"| `{label}` | {timing.median * 1e6:.2f} | {timing.median / base.median:.1f} | "
            f"{min(ratios):.1f}-{max(ratios):.1f} |"
        )
    print()


def lenet(rounds: int) -> None:
    """The LeNet-5 table: forward and backward against the copy floor."""
    compiled = _compiled()
    bandwidth = copy_bandwidth()
    x = random_input(LENET.input_shape, LENET.dtype)
    spec = impls.PoolSpec(**LENET.spec_kwargs)
    names = [name for name in ("auto", "numba") if name in impls.names()]
    calls: dict[str, list[Callable[[], object]]] = {}
    floors = {}
    for name in names:
        impl = impls.get(name)
        values, indices = impl.forward(x, spec)
        grad = np.ones_like(values)
        calls[name] = [
            functools.partial(impl.forward, x, spec),
            functools.partial(impl.backward, grad, indices, x.shape, spec),
        ]
        floors["forward"] = (x.nbytes + values.nbytes + indices.nbytes) / bandwidth
        floors["backward"] = (grad.nbytes + indices.nbytes + x.nbytes) / bandwidth
    timings = time_rounds(calls, rounds=rounds, min_sample_seconds=MIN_SAMPLE_SECONDS)
    print(
        f"LeNet-5 {LENET.input_shape} {LENET.dtype} k2 s2; copy bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s; {impls.get_num_threads()} threads; "
        f"compiled kernels ready: {compiled}"
    )
    print()
    print("| impl | forward ms | forward / floor | backward ms | backward / floor |")
    print("|---|---|---|---|---|")
    for name in names:
        forward, backward = (timing.median for timing in timings[name])
        print(
            f"| {name} | {forward * 1e3:.3f} | {forward / floors['forward']:.2f} | "
            f"{backward * 1e3:.3f} | {backward / floors['backward']:.2f} |"
        )
    print(
        f"\nfloors: forward {floors['forward'] * 1e3:.3f} ms, "
        f"backward {floors['backward'] * 1e3:.3f} ms\n"
    )


# A fresh process: times its imports and first calls, prints them as JSON.
CHILD = """
import json, sys, threading, time
start = time.perf_counter()
import numpy as np
numpy_done = time.perf_counter()
import impls
impls_done = time.perf_counter()
call, shape, dtype, busy = sys.argv[1], tuple(json.loads(sys.argv[2])), sys.argv[3], sys.argv[4]
x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
spec = impls.PoolSpec((2, 2), stride=2)
if busy == "busy":  # another thread keeps pooling float32 meanwhile
    other = x.astype(np.float32)
    stop = threading.Event()
    def work():
        while not stop.is_set():
            impls.max_pool(other, (2, 2), stride=2)
    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(0.5)
def first():
    if call == "max_pool":
        return impls.max_pool(x, (2, 2), stride=2)
    return impls.get(call).forward(x, spec)
before = time.perf_counter()
first()
after = time.perf_counter()
if busy == "busy":
    stop.set()
    worker.join()
ready = None
if "numba" in impls.names():
    from impls.fast.numba_pool import wait_until_compiled
    if wait_until_compiled([dtype], shape=x.shape, spec=spec):
        ready = time.perf_counter() - before
print(json.dumps({
    "numpy_import": numpy_done - start,
    "impls_import": impls_done - numpy_done,
    "first_call": after - before,
    "ready_after": ready,
}))
"""


def _child(
    call: str,
    *,
    dtype: str = "float32",
    env: dict[str, str] | None = None,
    busy: bool = False,
) -> dict[str, float | None]:
    environment = {
        key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"
    }
    environment.update(env or {})
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            call,
            json.dumps(LENET.input_shape),
            dtype,
            "busy" if busy else "quiet",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    result: dict[str, float | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _spread(values: Sequence[float]) -> str:
    ms = sorted(value * 1e3 for value in values)
    return f"{statistics.median(ms):.1f} ({ms[0]:.1f}-{ms[-1]:.1f})"


def first_call(processes: int) -> None:
    """The first-call table: fresh processes, numba's cache warm."""
    _child("max_pool")  # fills numba's cache and __pycache__
    rows = {
        "impls.max_pool, numba's cache warm": ("max_pool", {}),
        'impls.get("numba").forward, numba\'s cache warm': ("numba", {}),
        "impls.max_pool, MAXPOOL_COMPILE=off (NumPy only)": (
            "max_pool",
            {"MAXPOOL_COMPILE": "off"},
        ),
    }
    print(
        f"fresh processes ({processes} each), LeNet-5 input; ms, median (min-max); "
        f"numba {'registered' if 'numba' in impls.names() else 'not registered'}"
    )
    print()
    print("| first call | import numpy | import impls | first call | compiled ready after |")
    print("|---|---|---|---|---|")
    for label, (call, env) in rows.items():
        if call == "numba" and "numba" not in impls.names():
            continue
        results = [_child(call, env=env) for _ in range(processes)]
        ready = [r["ready_after"] for r in results if r["ready_after"] is not None]
        print(
            f"| {label} | {_spread([r['numpy_import'] for r in results])} | "  # type: ignore[misc]
            f"{_spread([r['impls_import'] for r in results])} | "  # type: ignore[misc]
            f"{_spread([r['first_call'] for r in results])} | "  # type: ignore[misc]
            f"{_spread(ready) if ready else '-'} |"
        )
    print()


def cold(processes: int) -> None:
    """The cold table: an empty numba cache in every child."""
    print(f"fresh processes ({processes} each), empty numba cache, LeNet-5 input; ms")
    print()
    print("| first call | first call | compiled ready after |")
    print("|---|---|---|")
    for label, dtype, busy in [
        ("impls.max_pool, float32", "float32", False),
        ("impls.max_pool, float64 while a thread pools float32", "float64", True),
    ]:
        for mode in ("background", "off"):
            results = []
            for _ in range(processes):
                with tempfile.TemporaryDirectory() as cache:
                    env = {"NUMBA_CACHE_DIR": cache, "MAXPOOL_COMPILE": mode}
                    results.append(_child("max_pool", dtype=dtype, env=env, busy=busy))
            ready = [r["ready_after"] for r in results if r["ready_after"] is not None]
            print(
                f"| {label}, MAXPOOL_COMPILE={mode} | "
                f"{_spread([r['first_call'] for r in results])} | "  # type: ignore[misc]
                f"{_spread(ready) if ready else '-'} |"
            )
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.small_calls", description=__doc__)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default: 15)")
    parser.add_argument("--processes", type=int, default=7, help="fresh processes per row")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; the parts are {', '.join(PARTS)}")
    env = environment()
    print(
        f"{env['date']} | {env['cpu']} | {env['usable_cpus']} usable CPUs | Python "
        f"{env['python']} | NumPy {env['numpy']} | maxpool-impls {impls.__version__}\n"
    )
    if "per-call" in parts:
        per_call(args.rounds)
    if "lenet" in parts:
        lenet(args.rounds)
    if "first-call" in parts:
        first_call(args.processes)
    if "cold" in parts:
        cold(max(1, args.processes // 2))


if __name__ == "__main__":
    main()
