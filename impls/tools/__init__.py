"""The ``maxpool`` command and what it measures with.

`cli` parses the command line; `bench` measures implementations on
`workloads` (each candidate in a child process, `isolation`), `timing` holds
the timing loop and environment description, `references` the reference
rows (PyTorch, SciPy), `recommend` ranks candidates, `report` prints tables
and JSON, `quickcheck` is the quick correctness check behind each row, and
`verify_command` is ``maxpool verify``. Around code they did not write:
`loadcheck` loads a target in a child first, `processes` ends every process a
command started (signals, parent death, orphans), and `outputs` checks report
paths before the run and writes files whole.
"""
