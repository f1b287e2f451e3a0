"""Loading the compiled kernels in the background, so that no call waits for numba.

Importing numba and loading (or, in a fresh environment, compiling) the kernels of
`impls.fast.numba_kernels` takes from a tenth of a second (numba's on-disk cache warm)
to seconds per dtype (cold). A call that needs a kernel which is not ready
(`kernels_for`) is served by the pure-NumPy path, then asks for it (`request`):
the implementations agree bit for bit, so only the time differs. One loader thread
imports numba and warms each requested kernel, one at a time, then exits; calls
made once a kernel is ready run it. A call asks for its kernel after it is
served, so that the loader does not compete with it for the GIL.

Compiling holds the GIL for seconds (numba types and lowers in Python), which
slowed every other thread of the process by as much. So in ``background`` mode
the loader first has the kernels asked for compiled by a child process
(`child_main`), which writes them to numba's disk cache, while the loader
thread waits without the GIL; then it loads them from that cache (a fraction of
a second). Where the child cannot run or fails (no interpreter to start, an
unwritable cache), the loader compiles in-process as before. The child exits
when its parent does (it watches the pipe on its standard input), and is
stopped after `CHILD_SECONDS`.

The environment variable ``MAXPOOL_COMPILE`` chooses (read whenever a kernel is
not ready, and by `impls.fast.numba_pool` when it plans a call: a change applies
to calls planned afterwards, or to all after `impls.fast.table_cache.clear`):

* ``background`` (the default): as above;
* ``wait``: a call waits for its kernel, as a plain ``numba.njit`` function would,
  and every call runs the kernels, the smallest too (which otherwise take a
  NumPy gather): what verifying or timing the kernels themselves needs;
* ``off``: never load numba; every call planned then takes the NumPy path, even
  where kernels were loaded before.

Processes and threads: any number of threads may ask at once; a kernel is warmed
once. A child forked while the loader was idle starts its own loader when asked;
one forked while the loader was importing or compiling (numba's locks may be held
by a thread that does not exist in the child) keeps the kernels that were ready
and serves NumPy for the others, for its whole life (`status` says so).

Examples
--------
>>> mode() in MODES
True
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from types import ModuleType

__all__ = [
    "CHILD_SECONDS",
    "ENV_VARIABLE",
    "KERNELS_MODULE",
    "MODES",
    "child_main",
    "kernels_for",
    "mode",
    "ready",
    "request",
    "status",
    "wait_until_ready",
]

ENV_VARIABLE = "MAXPOOL_COMPILE"
MODES = ("background", "wait", "off")
KERNELS_MODULE = "impls.fast.numba_kernels"
THREAD_NAME = "maxpool-compiler"
# The child process compiling ahead of the loader: the function that warms one
# key there (``warm_key(key, kernels)``, keys being tuples of strings).
CHILD_WARMER = ("impls.fast.numba_pool", "warm_key")
CHILD_SECONDS = 900.0  # a child still compiling then is stopped: the loader compiles
# Before starting a child, the loader waits this long for other requests, so that
# one child compiles the kernels of a step (forward, then backward) together: a
# child costs about 0.7 s to start even where the cache is warm.
CHILD_GATHER_SECONDS = 0.05
# The child's niceness increment: the lowest priority (Unix caps it at 19).
CHILD_NICENESS = 19

# A warm-up: called on the loader thread with the kernels module; it calls the
# kernels on tiny arrays of exactly the types the real calls pass, so that
# numba compiles (or loads from its cache) the very versions those calls use.
Warm = Callable[[ModuleType], None]


def mode() -> str:
    """The loading mode ``MAXPOOL_COMPILE`` selects (see the module docstring)."""
    chosen = os.environ.get(ENV_VARIABLE) or "background"
    if chosen not in MODES:
        raise ValueError(f"{ENV_VARIABLE} must be one of {MODES}, got {chosen!r}")
    return chosen


class _Loader:
    """The requests, the ready kernels and the one loader thread; see the module docstring."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.module: ModuleType | None = None
        self.ready: set[Hashable] = set()  # read without the lock: one set lookup
        self.pending: dict[Hashable, Warm] = {}
        self.failed: dict[Hashable, str] = {}
        self.thread: threading.Thread | None = None
        self.busy = False  # importing or compiling right now
        self.warming: Hashable | None = None  # the key being warmed
        self.broken: str | None = None  # why this process loads nothing more
        self.compiled_by_child: set[Hashable] = set()  # keys a child was asked for

    def request(self, key: Hashable, warm: Warm) -> None:
        """Queue ``key`` (once) and make sure the loader thread runs."""
        with self.lock:
            known = key in self.ready or key in self.pending or key in self.failed
            if known or (self.busy and key == self.warming) or self.broken:
                return
            self.pending[key] = warm
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self.thread.start()

    def _run(self) -> None:
        if mode() == "background":
            time.sleep(CHILD_GATHER_SECONDS)
        while True:
            with self.lock:
                if not self.pending:
                    self.thread = None
                    self.changed.notify_all()
                    return
                key = next(iter(self.pending))
                warm = self.pending.pop(key)
                self.busy, self.warming = True, key
                batch = []
                if key not in self.compiled_by_child and mode() == "background":
                    batch = [key, *(k for k in self.pending if k not in self.compiled_by_child)]
                    self.compiled_by_child.update(batch)
            if batch:
                _compile_in_child(batch)  # the loading below then finds them cached
            error = broken = None
            try:
                if self.module is None:
                    try:
                        self.module = importlib.import_module(KERNELS_MODULE)
                    except BaseException as err:  # a broken install may raise anything
                        broken = f"the compiled kernels cannot be imported: {_describe(err)}"
                        raise
                warm(self.module)
            except BaseException as err:
                error = _describe(err)
            with self.lock:
                self.busy, self.warming = False, None
                if broken is not None:
                    self.broken = broken
                    self.failed.update(dict.fromkeys(self.pending, broken))
                    self.pending.clear()
                if error is None:
                    self.ready.add(key)
                else:
                    self.failed[key] = error
                self.changed.notify_all()

    def wait(self, keys: Iterable[Hashable] | None, timeout: float | None) -> bool:
        """Wait until ``keys`` (all requests with None) are settled; whether they are ready."""
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted = None if keys is None else set(keys)
        with self.lock:
            while True:
                if self.thread is None:  # nothing will change any more
                    break
                if wanted is not None and not wanted - self.ready - self.failed.keys():
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.changed.wait(left)
            return not self.failed if wanted is None else wanted <= self.ready


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# The child runs the same package, from the same place: the path that holds it.
_CHILD_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from impls.fast.compiled import child_main; child_main(sys.argv[2])"
)


def _package_root() -> Path:
    root = Path(__file__).resolve().parent
    for _ in (__package__ or "").split("."):
        root = root.parent
    return root


def _compile_in_child(keys: list[Hashable]) -> bool:
    """Have a child process compile ``keys`` into numba's disk cache; whether it succeeded.

    Blocks until the child exits, without the GIL. On any failure nothing is
    lost: loading the kernels then compiles them in this process.
    """
    if not sys.executable:  # an embedded interpreter: no way to start another
        return False
    import json  # here, not at the top: 1 ms of the first call of every process
    import subprocess

    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, str(_package_root()), json.dumps(keys)],
            stdin=subprocess.PIPE,  # held open until the child exits: see child_main
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        return child.wait(CHILD_SECONDS) == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdin is not None:
            child.stdin.close()


def child_main(keys: str) -> None:
    """Compile the kernels ``keys`` (a JSON list of keys), in a child of `_compile_in_child`.

    Exits at once, with status 3, when its standard input reaches its end:
    the parent holds that pipe open until the child exits, so the end means
    the parent is gone (killed, or exited), and nobody wants the kernels.
    """

    def exit_with_the_parent() -> None:
        # The file descriptor, not sys.stdin: a daemon thread blocked in a
        # buffered read makes the interpreter abort at shutdown.
        while os.read(0, 4096):
            pass
        os._exit(3)

    threading.Thread(target=exit_with_the_parent, daemon=True).start()
    if hasattr(os, "nice"):  # not on Windows
        # Compiling ahead is never urgent: the parent's calls are served meanwhile, and on
        # a machine with few cores they must not wait for the compiler's CPU.
        os.nice(CHILD_NICENESS)
    import json

    kernels = importlib.import_module(KERNELS_MODULE)
    module, function = CHILD_WARMER
    warm_key = getattr(importlib.import_module(module), function)
    for key in json.loads(keys):
        warm_key(tuple(key), kernels)


_loader = _Loader()


def _after_fork_in_child() -> None:
    global _loader
    parent = _loader
    child = _Loader()
    child.module = parent.module
    child.ready = set(parent.ready)
    child.failed = dict(parent.failed)
    child.broken = parent.broken
    if parent.thread is not None and parent.busy:
        child.broken = (
            "this process was forked while the compiled kernels were loading; it serves "
            "the pure-NumPy path for the kernels that were not ready"
        )
    else:  # idle or between kernels: the queued ones are asked for again on use
        child.pending = {}
    _loader = child


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def kernels_for(key: Hashable, warm: Warm) -> ModuleType | None:
    """The kernels module if the kernel ``key`` is ready, else ``None`` (NumPy serves).

    In ``wait`` mode, asks for the kernel (warmed by ``warm``) and waits for it.
    Otherwise it only looks: a call served by NumPy then asks with `request`,
    once it is done, so that loading does not compete with it for the GIL.
    """
    loader = _loader
    if key in loader.ready:  # the fast path of every compiled call: one set lookup
        return loader.module
    if mode() == "wait":
        loader.request(key, warm)
        loader.wait([key], None)
    return loader.module if key in loader.ready else None


def request(key: Hashable, warm: Warm) -> None:
    """Ask for the kernel ``key`` (once), warmed by ``warm`` on the loader thread.

    Returns at once; nothing happens with ``MAXPOOL_COMPILE=off``.
    """
    if key not in _loader.ready and mode() != "off":
        _loader.request(key, warm)


def ready(key: Hashable) -> bool:
    """Whether the kernel ``key`` is loaded in this process."""
    return key in _loader.ready


def wait_until_ready(
    requests: Iterable[tuple[Hashable, Warm]], timeout: float | None = None
) -> bool:
    """Ask for each ``(key, warm)`` and wait until all are ready; whether they are.

    False if one failed, the process cannot load them (``status``), ``MAXPOOL_COMPILE``
    is ``off``, or ``timeout`` seconds passed first.
    """
    keys = []
    for key, warm in requests:
        keys.append(key)
        request(key, warm)
    return mode() != "off" and _loader.wait(keys, timeout)


def status() -> str:
    """What the loader has done in this process, in one line for reports."""
    loader = _loader
    parts = [f"{len(loader.ready)} kernel(s) ready"]
    if loader.pending or loader.busy:
        parts.append(f"{len(loader.pending) + int(loader.busy)} loading")
    if loader.failed:
        key, error = next(iter(loader.failed.items()))
        parts.append(f"{len(loader.failed)} failed (first: {key}: {error})")
    if loader.broken:
        parts.append(loader.broken)
    return "; ".join(parts)
