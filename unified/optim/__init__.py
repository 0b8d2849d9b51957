"""unified.optim (issue 3: being built)."""
