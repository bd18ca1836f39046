"""Exitflow's benchmarks: `python -m benchmarks [--quick] [--json FILE]` (docs/performance.md)."""
