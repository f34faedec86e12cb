"""Benchmarks for novaflow (run as modules, e.g. `python -m bench.planner`); never timed tests."""
