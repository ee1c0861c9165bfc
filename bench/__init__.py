"""Benchmark scripts (see bench/README.md); results in bench/results/."""
