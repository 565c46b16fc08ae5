"""``python -m examples.company_x serve``: the demo APIs over a store, with two demo-only knobs.

The runtime is :func:`ram_middleware.config.build` with the usual ``RAM_*`` settings. For the story the
walkthrough needs to say *where* and *when* a request comes from, so two knobs exist — for this demo only:

* ``--trusted-proxy 127.0.0.1`` makes the middleware believe ``X-Forwarded-For`` from that address (the
  ordinary trusted-proxy setting; the walkthrough plays the proxy to send requests "from the office");
* ``--clock-file PATH``: ``acs:CurrentTime`` in policy conditions is read from that file (an ISO 8601 time;
  an empty or missing file means the real time). The condition context and the audit events' ``time``
  use it (one reading per request); signature timestamps and STS expiry keep the real clock, so a signed
  request still has to be fresh.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

from ram_middleware.authorizer import Authorizer
from ram_middleware.config import Ram, RamConfig, build
from ram_middleware.context import ContextBuilder

__all__ = ["FileClock", "demo_runtime", "serve"]


class FileClock:
    """Demo only: the time written in a file (re-read when the file changes), else the real time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, datetime | None] = (-1.0, None)

    def __call__(self) -> datetime:
        try:
            stamp = self.path.stat().st_mtime
        except OSError:
            return datetime.now(UTC)
        if stamp != self._seen[0]:
            self._seen = (stamp, self._read())
        fixed = self._seen[1]
        return fixed if fixed is not None else datetime.now(UTC)

    def _read(self) -> datetime | None:
        text = self.path.read_text(encoding="utf-8").strip()
        if not text:
            return None
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def demo_runtime(
    store_url: str,
    *,
    trusted_proxies: tuple[str, ...] = (),
    clock_file: Path | None = None,
    audit: str | None = None,
) -> Ram:
    """The runtime for the demo server: ``build()`` plus the demo knobs described above."""
    config = RamConfig.from_env(store_url=store_url)
    if trusted_proxies:
        config = dataclasses.replace(config, trusted_proxies=trusted_proxies)
    if audit is not None:
        # Written at once (no write-behind): the walkthrough quotes each event right after its request.
        config = dataclasses.replace(config, audit=audit, audit_flush_interval=0)
    ram = build(config)
    if clock_file is None:
        return ram
    # Same wiring as build(), with only the condition context's clock replaced.
    contexts = ContextBuilder(
        trusted_proxies=config.trusted_proxies,
        forwarded_header=config.forwarded_header,
        clock=FileClock(clock_file),
        hook=config.context_hook,
    )
    authorizer = Authorizer(
        ram.authenticator,
        ram.directory,
        contexts=contexts,
        audit=ram.authorizer.audit,
        undeclared=config.undeclared,
        diagnostics=ram.authorizer.diagnostics,
        host_id=config.host_id,
    )
    return dataclasses.replace(ram, authorizer=authorizer)


def serve(
    store_url: str,
    host: str,
    port: int,
    *,
    trusted_proxies: tuple[str, ...] = (),
    clock_file: Path | None = None,
    audit: str | None = None,
) -> None:
    """Run the demo APIs with uvicorn until interrupted."""
    import uvicorn

    from .app import create_app

    ram = demo_runtime(store_url, trusted_proxies=trusted_proxies, clock_file=clock_file, audit=audit)
    if not ram.service.list_accounts():
        print("warning: the store holds no account yet; run `ram init` first.", flush=True)
    print(f"Company X demo APIs on http://{host}:{port}/ (store {store_url})", flush=True)
    try:
        uvicorn.run(
            create_app(ram),
            host=host,
            port=port,
            log_level=os.environ.get("COMPANY_X_LOG_LEVEL", "warning"),
            proxy_headers=False,  # the middleware reads forwarded headers, from trusted proxies only
        )
    finally:
        ram.close()
