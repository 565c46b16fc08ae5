"""ram_middleware.credentials."""
