"""Benchmarks: `python -m bench`. Each row compares darkroom against a baseline measured in the
same run, because the machines are noisy."""
