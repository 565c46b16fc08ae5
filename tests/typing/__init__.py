"""A user's app under ``mypy --strict``: checked by the project's bare ``mypy`` run, never imported."""
