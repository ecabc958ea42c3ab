"""Benchmarks: ``python -m bench NAME [args]``. Timings live here, never in tests."""
