"""trilho.rollout (being built)."""
