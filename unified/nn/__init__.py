"""unified.nn (issue 3: being built)."""
