"""Helpers for ``bench_serving``: the shared model, the bare and BentoML servers, the load generators."""
