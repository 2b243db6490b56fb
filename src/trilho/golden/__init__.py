"""trilho.golden (being built)."""
