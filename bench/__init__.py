"""Benchmarks of proletarian beside its peers: `python bench/run.py --help`. Not a test suite."""
