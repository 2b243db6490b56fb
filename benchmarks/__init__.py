"""Benchmarks: each runs as ``make bench-<name>`` (``QUICK=1`` for a smoke run), prints a table, writes results."""
