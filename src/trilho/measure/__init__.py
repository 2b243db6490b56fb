"""trilho.measure (being built)."""
