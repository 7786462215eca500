"""Benchmarks: `make bench` runs every bench/bench_*.py module (see bench/__main__.py)."""
