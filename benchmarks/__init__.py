"""asv benchmarks for maxpool-impls; see the README's "Benchmarks" section."""
