"""Benchmarks (`make bench`): figures printed, never asserted. Each `bench_*.py` module has `main()`."""
