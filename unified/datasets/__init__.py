"""unified.datasets (issue 3: being built)."""
