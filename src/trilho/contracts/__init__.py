"""trilho.contracts (being built)."""
