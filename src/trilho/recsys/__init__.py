"""trilho.recsys (being built)."""
