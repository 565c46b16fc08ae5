"""``python -m examples.flask_app [--seed]``: serve the notes API on http://127.0.0.1:5000.

``--seed`` first creates an account with a user ``reader`` allowed ``notes:GetNote`` and prints the
user's AccessKey (the secret is shown once).
"""

from __future__ import annotations

from examples.starlette_app.seed import parse_options, seed

if __name__ == "__main__":
    options = parse_options("python -m examples.flask_app", port=5000)
    from .app import app, ram  # after the options: --help or a mistyped option opens no store

    if options.seed:
        seed(ram.runtime(app).service)
    app.run(host="127.0.0.1", port=5000)
