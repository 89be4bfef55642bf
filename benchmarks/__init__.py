"""Benchmarks: time the full nightly pipeline at a given scale (see docs/performance.md)."""
