"""unified.data (issue 3: being built)."""
