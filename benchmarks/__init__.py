"""Benchmarks named in the project targets; `bench.py` runs them all and writes results/bench.md."""
