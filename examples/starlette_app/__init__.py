"""A tiny notes API on Starlette, protected by ram-middleware (see app.py)."""
