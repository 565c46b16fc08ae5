"""ram-middleware."""
