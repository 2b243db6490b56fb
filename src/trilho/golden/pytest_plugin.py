"""pytest plugin for golden suites (being built)."""
