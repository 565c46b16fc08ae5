"""A tiny notes API on Flask, protected by ram-middleware (see app.py)."""
