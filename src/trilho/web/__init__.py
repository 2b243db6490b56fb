"""trilho.web (being built)."""
