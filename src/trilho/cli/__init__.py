"""The ``trilho`` command: a thin typer + rich layer over the Python API (no business logic here)."""
