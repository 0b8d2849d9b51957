"""indexing functions (filled in by the foundation issue)."""

__all__: list[str] = []
