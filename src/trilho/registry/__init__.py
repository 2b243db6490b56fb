"""trilho.registry (being built)."""
