"""The fast implementations, and the machinery they share.

Registered implementations: `view_running_max` (``"sliced"``),
`staged_running_max` (``"reshape"``), `separable`, `numba_pool` (``"numba"``,
with the ``numba`` extra) and `auto`, which dispatches among them and two
private paths, `whole_plane` (global pooling) and `van_herk` (large stride-1
windows).

Their machinery: `blocks` (blocks of planes over threads, the shared
backward, the plans that repeated calls reuse), `threads` (the thread pool and
thread count), `planes` (inputs whose leading axes do not merge),
`window_codes` (the compact argmax codes and their tables), `staging`
(phase-split buffers), `gather` (small calls in four NumPy calls),
`buffers` (large outputs in recycled memory), `table_cache` (the
byte-bounded cache of per-geometry tables, and the plan caches),
`numba_kernels` (compiled loops) and `compiled` (loading them in the
background).
"""
