"""``python -m examples.starlette_app [--seed]``: serve the notes API on http://127.0.0.1:8000.

``--seed`` first creates an account with a user ``reader`` allowed ``notes:GetNote`` and prints the
user's AccessKey (the secret is shown once).
"""

from __future__ import annotations

from .seed import parse_options, seed

if __name__ == "__main__":
    options = parse_options("python -m examples.starlette_app", port=8000)
    import uvicorn  # after the options: --help or a mistyped option opens no store and serves nothing

    from .app import app, ram

    if options.seed:
        seed(ram.service)
    # proxy_headers=False: forwarded headers are the middleware's to read (RAM_TRUSTED_PROXIES).
    uvicorn.run(app, host="127.0.0.1", port=8000, proxy_headers=False)
