"""trilho.evals (being built)."""
