"""asv benchmarks for maxpool-impls; see docs/benchmarks.md."""
