"""Benchmarks: each runs as ``make bench-<name>`` (``QUICK=1``: smoke run), prints a table, writes JSON."""
