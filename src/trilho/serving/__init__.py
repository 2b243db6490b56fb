"""trilho.serving (being built)."""
