"""``python -m examples.flask_app [--seed]``: serve the notes API on http://127.0.0.1:5000.

``--seed`` first creates an account with a user ``reader`` allowed ``notes:GetNote`` and prints the
user's AccessKey (the secret is shown once).
"""

from __future__ import annotations

import sys

from examples.starlette_app.seed import seed

from .app import app, ram

if __name__ == "__main__":
    if "--seed" in sys.argv:
        seed(ram.runtime(app).service)
    app.run(host="127.0.0.1", port=5000)
